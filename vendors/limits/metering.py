"""Usage metering: requests per vendor per UTC day, counted with the rate limit and written to UsageDay in batches.

Each API request adds one to a counter in Redis (inside the rate-limit script, so it costs no extra round trip) or
in the process when Redis is absent or down. `usage_flush()` moves the counts into the database: `manage.py
flushusage` runs it (cron), and every USAGE_FLUSH_INTERVAL seconds each worker's background flusher thread runs it
(vendors/limits/flusher.py; never a request), holding a Redis lock so that only one process flushes the shared counts
at a time. A worker that exits writes what it holds first (gunicorn's worker_exit hook). The same flush writes when
each client secret last obtained a token (vendors/limits/last_used.py) and this process's request log entries
(vendors/limits/request_log.py). A crash between the database commit and the end of the flush can count one batch
twice; a flush that fails is retried whole.
"""

from collections import defaultdict
from datetime import date

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from charp.http import metrics
from vendors.limits import last_used, request_log, store

FLUSH_LOCK = "usage-flush"


def _parse(counts: dict[str, int]) -> dict[tuple[str, date], dict[str, int]]:
    """{'r|2025-06-01|client': 3, 't|…': 1} → {(client, day): {'requests': 3, 'throttled': 1}}."""
    rows: dict[tuple[str, date], dict[str, int]] = defaultdict(lambda: {"requests": 0, "throttled": 0})
    for field, value in counts.items():
        kind, day, client_id = field.split("|", 2)
        rows[client_id, date.fromisoformat(day)]["requests" if kind == "r" else "throttled"] += int(value)
    return rows


def _write(counts: dict[str, int]) -> int:
    """Add counts to UsageDay rows, creating them as needed; returns how many rows were touched."""
    from vendors.models import UsageDay, Vendor

    rows = _parse(counts)
    if not rows:
        return 0
    vendor_ids = dict(
        Vendor.objects.filter(application__client_id__in={client_id for client_id, _ in rows}).values_list(
            "application__client_id", "pk"
        )
    )
    touched = 0
    with transaction.atomic():
        for (client_id, day), values in rows.items():
            vendor_id = vendor_ids.get(client_id)
            if vendor_id is None:
                continue  # the vendor is gone
            changes = {name: F(name) + value for name, value in values.items()}
            if not UsageDay.objects.filter(vendor_id=vendor_id, date=day).update(**changes):
                try:
                    with transaction.atomic():
                        UsageDay.objects.create(vendor_id=vendor_id, date=day, **values)
                except IntegrityError:  # another flusher created the row first
                    UsageDay.objects.filter(vendor_id=vendor_id, date=day).update(**changes)
            touched += 1
    return touched


def usage_flush(*, shared: bool = True) -> int:
    """Move every pending usage count into UsageDay; returns the number of (vendor, day) rows updated. With
    shared=False (a worker's exit) only what this process holds: not the counts in Redis, which others flush."""
    touched = 0
    # Whether the shared counts reached the database (or there are none): not while Redis is down, nor when another
    # process holds the flush (it records its own).
    flushed = store.backend() is store.LOCAL
    if shared and not flushed:
        interval = max(60, settings.USAGE_FLUSH_INTERVAL)
        if store.call("acquire", name=FLUSH_LOCK, seconds=interval):
            try:
                counts = store.call("usage_take")
                if counts:
                    touched += _write(counts)
                    store.call("usage_done")
                flushed = counts is not None
            finally:
                store.call("release", name=FLUSH_LOCK)
    # This process's own counts: everything without Redis, and what was served while Redis was down.
    local = store.LOCAL.usage_take()
    try:
        touched += _write(local)
    except Exception:
        store.LOCAL.usage_restore(local)
        raise
    # When each secret last obtained a token: always this process's own (vendors/limits/last_used.py).
    last_used.flush()
    # This process's request log entries (vendors/limits/request_log.py): one bulk insert.
    request_log.flush()
    if flushed:
        metrics.usage_flushed()
    return touched
