"""When each live client secret last obtained a token: noted in the process, written with the usage flush.

The token path only sets an entry of an in-process dict (no Redis round trip, no database write): the secret is
known by the stored hash it matched, so a rotation between the request and the flush cannot credit the wrong secret
(the flush compares the hash with the vendor's current and previous ones). `flush()` runs inside `usage_flush()`,
in every process on its own schedule, so a last use is on the vendor page one USAGE_FLUSH_INTERVAL later at most.
The columns are written with `update_unannounced()`: nothing on the hot paths reads them, so no cache version moves
(an announced update would make every worker drop its copies of the vendor at each flush).
"""

import threading
from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from vendors.models import Vendor

_pending: dict[tuple[int, str], datetime] = {}
_lock = threading.Lock()


def record(vendor_id: int, secret_hash: str) -> None:
    """Note that the vendor's secret stored as `secret_hash` just obtained a token (one dict write)."""
    moment = timezone.now()
    with _lock:  # the flusher thread may be taking the dict this very moment
        _pending[(vendor_id, secret_hash)] = moment


def take() -> dict[tuple[int, str], datetime]:
    global _pending
    with _lock:
        taken, _pending = _pending, {}
    return taken


def restore(taken: dict[tuple[int, str], datetime]) -> None:
    with _lock:
        for key, moment in taken.items():
            if key not in _pending or _pending[key] < moment:
                _pending[key] = moment


def flush() -> int:
    """Write this process's pending last uses; returns how many vendor rows were touched."""
    taken = take()
    if not taken:
        return 0
    try:
        vendors = {
            row["pk"]: row
            for row in Vendor.objects.filter(pk__in={vendor_id for vendor_id, _ in taken}).values(
                "pk", "application__client_secret", "previous_secret_hash"
            )
        }
        touched = 0
        for (vendor_id, secret_hash), moment in taken.items():
            row = vendors.get(vendor_id)
            if row is None:
                continue
            if secret_hash == row["application__client_secret"]:
                field = "secret_last_used_at"
            elif secret_hash and secret_hash == row["previous_secret_hash"]:
                field = "previous_secret_last_used_at"
            else:
                continue  # a secret no longer stored: nothing to show it against
            # Only ever forward: a slower worker's older timestamp never overwrites a newer one.
            newer = Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__lt": moment})
            touched += Vendor.objects.filter(newer, pk=vendor_id).update_unannounced(**{field: moment})
        return touched
    except Exception:
        restore(taken)
        raise


def reset() -> None:
    take()
