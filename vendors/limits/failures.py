"""The failure budgets that slow password and secret guessing: failed client authentications at /auth/* and failed
staff sign-ins, counted per source address and per (name, address) on the shared store."""

import hashlib
import math
from dataclasses import dataclass

from django.conf import settings

from charp.http.client import client_ip
from vendors.limits import store


def digest(value: str) -> str:
    """A short, stable stand-in for an address or a name in a store key (the store never holds them in clear)."""
    return hashlib.sha256(value.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class BudgetCheck:
    """The failure budget's answer (seconds to wait, 0 while within it), the presented client's cache tags, and its
    issuance this hour with this request counted (None when not counted), all from one round trip."""

    wait: int = 0
    tags: store.Tags | None = None
    issued: store.Issued | None = None


@dataclass(frozen=True)
class FailureBudget:
    """Failed client authentications in the last AUTH_FAILURE_WINDOW seconds, per source address and per
    (client ID, source address).

    Never per client ID alone: then anyone could lock a vendor out by sending wrong secrets for its public client ID.
    Keyed with the address, a flood from one address is slowed only at that address, and the vendor keeps working
    from its own. Failures over the budget are not counted, so a blocked address regains attempts as old failures
    age. At /auth/* the budget refuses only failures: a request whose credentials are right is served however many
    failures its address has (generated secrets carry 256 bits, so answering a correct guess costs nothing,
    and many vendors share one egress address).
    """

    keys: tuple[str, ...]
    limits: tuple[int, ...]
    # Seconds over which failures count; AUTH_FAILURE_WINDOW when None (the staff login has its own window).
    window: int | None = None

    def retry_after(self) -> int:
        """Seconds until this caller may try again; 0 when it may now (also when the counters are unavailable)."""
        return self.check().wait

    def check(self, client_id: str = "", count_issuance: bool = False) -> BudgetCheck:
        """retry_after(), and in the same round trip the cache tags of the client ID presented (if any) and, with
        `count_issuance`, one more token counted against its hourly issuance."""
        if not settings.RATELIMIT_ENABLED:
            return BudgetCheck()
        arguments = {
            "keys": list(self.keys),
            "limits": list(self.limits),
            "window_ms": self._window_ms(),
            "now_ms": None,
        }
        if client_id:
            base = store.issuance_base(client_id) if count_issuance else None
            found = store.call(
                "check_and_tags", **arguments, version_keys=store.version_keys(client_id), issuance_base=base
            )
            wait, tags, issued = found or (0, None, None)
        else:
            wait, tags, issued = store.call("check", **arguments), None, None
        return BudgetCheck(math.ceil(wait / 1000) if wait else 0, tags, issued)

    def record_failure(self, give_back: store.Issued | None = None) -> None:
        """Count a failure; and give back the issuance count of a request that got no token, in the same call."""
        if settings.RATELIMIT_ENABLED:
            key = give_back.key if give_back is not None else None
            store.call("record", keys=list(self.keys), window_ms=self._window_ms(), now_ms=None, give_back=key)

    @staticmethod
    def give_back(issued: store.Issued | None) -> None:
        """Give back the issuance count of a request that got no token (refused for another reason than failure)."""
        if issued is not None and settings.RATELIMIT_ENABLED:
            store.call("record", keys=[], window_ms=1, now_ms=None, give_back=issued.key)

    def _window_ms(self) -> int:
        return (self.window or settings.AUTH_FAILURE_WINDOW) * 1000


def token_endpoint_budget(request, client_id: str) -> FailureBudget:
    """The failure budget of a request at /auth/* presenting `client_id` (see vendors/oauth/client_auth.py)."""
    prefix = settings.RATELIMIT_KEY_PREFIX
    ip = digest(client_ip(request))
    keys = [f"{prefix}authfail:ip:{ip}"]
    limits = [settings.AUTH_FAILURES_PER_IP]
    if client_id:
        keys.append(f"{prefix}authfail:client:{digest(client_id)}:{ip}")
        limits.append(settings.AUTH_FAILURES_PER_CLIENT)
    return FailureBudget(keys=tuple(keys), limits=tuple(limits))
