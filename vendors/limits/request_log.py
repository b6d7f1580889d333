"""Each vendor's request log: its API and /auth/* requests, kept in the worker's memory, written with the usage flush.

A request is logged once its vendor is known for sure: the gate has verified its Bearer token (vendors/access/gate.py),
or /auth/token, /auth/refresh or /auth/revoke has authenticated its client (vendors/oauth/server.py). Those call
`identify()`; a request nobody identified (a wrong secret, an unknown or revoked token, the staff portal) is not
logged, since its vendor would be the caller's claim. The middleware then appends one small tuple to a bounded
per-process list (no database write, no Redis round trip); the request never writes it. `flush()` runs on the
worker's background flusher thread (vendors/limits/flusher.py): inside `usage_flush()` every USAGE_FLUSH_INTERVAL
seconds, so a request is on the vendor's page one interval later at most, and sooner in a busy worker, whose requests
wake the thread once half of REQUEST_LOG_BUFFER waits (`filling()`). On PostgreSQL the batch is one COPY (a few µs a
row in the worker, where bulk_create took ~50); SQLite keeps bulk_create. Beyond REQUEST_LOG_BUFFER pending
entries new ones are dropped and counted, so a database outage costs memory that is bounded. A gunicorn worker that
exits (SIGTERM, max_requests) writes its entries first, within a few seconds; one that is killed loses them (it is a
log, not a bill).

Nothing sensitive is kept: the path as the access log redacts it, the query string's keys without their values, the
error code of the documented error shape, and no header, token, secret or body.
"""

import contextvars
import json
import logging
import threading
from datetime import UTC, datetime
from typing import NamedTuple

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.utils.encoding import escape_uri_path, iri_to_uri

from charp.http import metrics
from charp.http.client import client_address
from charp.http.logs import redact_path, redact_raw_text
from vendors.models import RequestLogEntry, Vendor

logger = logging.getLogger(__name__)

REDACTED = "[redacted]"
_PATH_LENGTH = RequestLogEntry._meta.get_field("path").max_length
_ERROR_LENGTH = RequestLogEntry._meta.get_field("error").max_length

# The primary key of the vendor the current request is known to come from; None until it is known.
vendor_var: contextvars.ContextVar[int | None] = contextvars.ContextVar("request_log_vendor", default=None)


class Entry(NamedTuple):
    vendor_id: int
    started: float  # Unix time
    method: str
    path: str
    status: int
    error: str
    latency_ms: float
    request_id: str
    source_address: str | None


_pending: list[Entry] = []
_lock = threading.Lock()


def identify(vendor_id: int) -> None:
    """Note that the current request is the vendor's: it will be in its request log."""
    vendor_var.set(vendor_id)


def logged_path(request) -> str:
    """The path as the access log redacts it, then the query string's keys with every value replaced:
    `/campaigns?cursor=abc&status=active` → `/campaigns?cursor=[redacted]&status=[redacted]`."""
    # Escaped first: the decoded path may hold control characters (a %00), which PostgreSQL cannot store.
    path = redact_path(escape_uri_path(request.path))
    query = request.META.get("QUERY_STRING", "")
    if query:
        parts = []
        for part in iri_to_uri(query).split("&"):
            if part:
                key, has_value, _value = part.partition("=")
                # A key is client input too: one long random run pasted as a key goes like a secret in the path.
                parts.append(f"{redact_raw_text(key)}={REDACTED}" if has_value else redact_raw_text(key))
        path = f"{path}?{'&'.join(parts)}" if parts else path
    return path if len(path) <= _PATH_LENGTH else path[: _PATH_LENGTH - 1] + "…"


def error_code(response) -> str:
    """The `error` member of a JSON error response ({"error": code, "error_description": …}), else ""."""
    if response.status_code < 400 or response.streaming:
        return ""
    if not response.get("Content-Type", "").startswith("application/json"):
        return ""
    try:
        body = json.loads(response.content)
    except ValueError:
        return ""
    code = body.get("error") if isinstance(body, dict) else None
    return code[:_ERROR_LENGTH] if isinstance(code, str) else ""


def record(vendor_id: int, request, response, *, started: float, seconds: float) -> None:
    """Keep one entry for the next flush, or count it dropped when this worker's buffer is full."""
    limit = settings.REQUEST_LOG_BUFFER
    if not limit:
        return
    if len(_pending) >= limit:  # full: not even worth building the entry
        metrics.REQUEST_LOG_DROPPED.labels("buffer_full").inc()
        return
    address = client_address(request)
    entry = Entry(
        vendor_id=vendor_id,
        started=started,
        method=(request.method or "")[:16],
        path=logged_path(request),
        status=response.status_code,
        error=error_code(response),
        latency_ms=round(seconds * 1000, 2),
        request_id=getattr(request, "request_id", ""),
        source_address=str(address) if address is not None else None,
    )
    with _lock:
        kept = len(_pending) < limit
        if kept:
            _pending.append(entry)
    if not kept:
        metrics.REQUEST_LOG_DROPPED.labels("buffer_full").inc()


def take() -> list[Entry]:
    global _pending
    with _lock:
        taken, _pending = _pending, []
    return taken


def restore(taken: list[Entry]) -> None:
    """Put entries whose write failed back in front of the newer ones, within the bound; the rest are dropped."""
    global _pending
    with _lock:
        kept = (taken + _pending)[: settings.REQUEST_LOG_BUFFER]
        dropped = len(taken) + len(_pending) - len(kept)
        _pending = kept
    if dropped:
        metrics.REQUEST_LOG_DROPPED.labels("buffer_full").inc(dropped)


_COLUMNS = ("vendor", "time", "method", "path", "status", "error", "latency_ms", "request_id", "source_address")


def _rows(entries: list[Entry]) -> list[tuple]:
    """The entries as RequestLogEntry rows, in the order of _COLUMNS."""
    return [
        (
            entry.vendor_id,
            datetime.fromtimestamp(entry.started, UTC),
            entry.method,
            entry.path,
            entry.status,
            entry.error,
            entry.latency_ms,
            entry.request_id,
            entry.source_address,
        )
        for entry in entries
    ]


def _copy(rows: list[tuple]) -> None:
    """PostgreSQL: one COPY … FROM STDIN through Django's connection (psycopg 3): ~3 µs of the worker's CPU a row,
    where bulk_create spent ~50 µs building model instances and multi-row INSERTs."""
    meta = RequestLogEntry._meta
    columns = ", ".join(connection.ops.quote_name(meta.get_field(name).column) for name in _COLUMNS)
    with connection.cursor() as cursor:
        # Django's cursor wrapper hands anything it does not wrap (here `copy`) to psycopg's own cursor.
        with cursor.copy(f"COPY {connection.ops.quote_name(meta.db_table)} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def _insert(rows: list[tuple]) -> None:
    if connection.vendor == "postgresql":
        _copy(rows)
    else:
        fields = [f"{name}_id" if name == "vendor" else name for name in _COLUMNS]
        objects = [RequestLogEntry(**dict(zip(fields, row, strict=True))) for row in rows]
        RequestLogEntry.objects.bulk_create(objects, batch_size=1000)


def _write(entries: list[Entry]) -> int:
    """Insert the entries whose vendor still exists, all or none; the others are counted dropped."""
    existing = set(Vendor.objects.filter(pk__in={entry.vendor_id for entry in entries}).values_list("pk", flat=True))
    kept = [entry for entry in entries if entry.vendor_id in existing]
    if kept:
        with transaction.atomic():  # never half a batch written, then the whole of it again
            _insert(_rows(kept))
    if len(kept) < len(entries):
        metrics.REQUEST_LOG_DROPPED.labels("vendor_gone").inc(len(entries) - len(kept))
    return len(kept)


def flush() -> int:
    """Write this worker's pending entries in one transaction (one COPY on PostgreSQL); returns how many were written.

    While the database is unreachable the entries wait for the next flush. Nothing else may block every later flush:
    a vendor deleted between the check and the insert is checked for once more, and a batch refused even then is
    dropped, counted and logged.
    """
    taken = take()
    if not taken:
        return 0
    try:
        try:
            return _write(taken)
        except IntegrityError:  # a vendor deleted meanwhile (PostgreSQL checks the foreign key at the commit)
            return _write(taken)
    except (OperationalError, InterfaceError):
        restore(taken)
        raise
    except Exception:
        metrics.REQUEST_LOG_DROPPED.labels("unwritable").inc(len(taken))
        logger.exception("The database refused %d request log entries; they are dropped.", len(taken))
        return 0


def filling() -> bool:
    """Whether half of REQUEST_LOG_BUFFER waits: time to write it ahead of the usage flush, since a busy worker
    (hundreds of requests a second) would otherwise fill it within one USAGE_FLUSH_INTERVAL and drop the rest."""
    limit = settings.REQUEST_LOG_BUFFER
    return bool(limit) and len(_pending) >= max(1, limit // 2)


def reset() -> None:
    take()
