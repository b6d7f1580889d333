"""Plan rate limits and monthly quotas on the resource APIs, and the failed-authentication throttle of /auth/*.

Resource responses carry the fields of draft-ietf-httpapi-ratelimit-headers-11: `RateLimit-Policy` ("minute" and,
when the plan has a quota, "month", each with q and w) and `RateLimit` (r remaining, t seconds to reset).
"""

import hashlib
import ipaddress
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from oauthlib.oauth2.rfc6749 import errors
from rest_framework import exceptions
from rest_framework.throttling import BaseThrottle

from . import cache, metering, ratelimit
from .authentication import load
from .models import Plan

WINDOW_SECONDS = 60
# Month counters outlive their month by a day so that late requests near midnight still find them.
MONTH_COUNTER_GRACE = 86400


class RateLimited(exceptions.Throttled):
    """429 in the API error shape; `extra` names the plan and the limit that was hit."""

    def __init__(self, description: str, wait: float, extra: dict):
        super().__init__(detail=description)
        self.wait = wait
        self.extra = extra


def month_bounds(now: datetime) -> tuple[datetime, datetime]:
    """The start of this calendar month and of the next one, in UTC: quotas reset at the latter."""
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (start + timedelta(days=32)).replace(day=1)
    return start, following


@dataclass(frozen=True)
class Decision:
    """One request's standing against its plan; `outcome` is None while the counters are unavailable."""

    plan: Plan
    outcome: ratelimit.Outcome | None
    now: datetime

    @property
    def limit(self) -> int:
        return self.plan.requests_per_minute

    @property
    def quota(self) -> int | None:
        return self.plan.monthly_quota

    def remaining(self) -> int:
        outcome = self.outcome
        if outcome.status == ratelimit.STATUS_RATE_LIMITED:
            return 0
        return max(0, self.limit - outcome.count)

    def reset(self) -> int:
        """Seconds until the window next gains room: when its oldest counted request (or, when full, the one
        whose departure brings the count under the limit) is a minute old."""
        outcome = self.outcome
        if outcome.count == 0:
            return 0
        return max(0, math.ceil((outcome.marker_ms + WINDOW_SECONDS * 1000 - outcome.now_ms) / 1000))

    def month_reset(self) -> int:
        return math.ceil((month_bounds(self.now)[1] - self.now).total_seconds())

    def month_remaining(self) -> int:
        return max(0, self.quota - self.outcome.used)

    def headers(self) -> dict[str, str]:
        policies = [f'"minute";q={self.limit};w={WINDOW_SECONDS}']
        start, following = month_bounds(self.now)
        if self.quota is not None:
            policies.append(f'"month";q={self.quota};w={int((following - start).total_seconds())}')
        headers = {"RateLimit-Policy": ", ".join(policies)}
        if self.outcome is not None:
            current = [f'"minute";r={self.remaining()};t={self.reset()}']
            if self.quota is not None:
                current.append(f'"month";r={self.month_remaining()};t={self.month_reset()}')
            headers["RateLimit"] = ", ".join(current)
        return headers

    def error(self) -> RateLimited | None:
        outcome = self.outcome
        if outcome is None or outcome.status == ratelimit.STATUS_OK:
            return None
        plan = self.plan
        if outcome.status == ratelimit.STATUS_QUOTA_EXCEEDED:
            resets_at = month_bounds(self.now)[1]
            return RateLimited(
                f"Your {plan.name} plan's monthly quota of {plan.monthly_quota:,} requests is used up. "
                f"It resets at {resets_at:%Y-%m-%d %H:%M} UTC.",
                wait=self.month_reset(),
                # The handler's code for any Throttled is rate_limited; this one is more precise.
                extra={
                    "error": "quota_exceeded",
                    "plan": plan.code,
                    "monthly_quota": plan.monthly_quota,
                    "resets_at": resets_at.isoformat().replace("+00:00", "Z"),
                },
            )
        wait = max(1, self.reset())
        return RateLimited(
            f"Your {plan.name} plan allows {plan.requests_per_minute:,} requests per minute. "
            f"Retry in {wait} second{'s' if wait != 1 else ''}.",
            wait=wait,
            extra={"plan": plan.code, "requests_per_minute": plan.requests_per_minute, "retry_after": wait},
        )


def _vendor(request):
    application = getattr(request.auth, "application", None)
    try:
        return application.vendor if application is not None else None
    except ObjectDoesNotExist:
        return None


def enforce_plan_limits(request, view) -> None:
    """Count a vendor's request on a resource API (any view with `api_family`) once, raising 429 over a limit.

    Idempotent per request: PlanAllowsAPI calls it before the plan check, so that refused requests are counted and
    carry the headers too, and the global throttle calls it again for views that do not use PlanAllowsAPI.

    A token that authentication took from this worker's cache is verified here, in the same round trip: if its tag is
    stale nothing is counted, the token is read again from the database (which may refuse it) and counted then.
    """
    django_request = request._request
    if getattr(view, "api_family", None) is None or hasattr(django_request, "charp_ratelimit"):
        return
    vendor = _vendor(request)
    if vendor is None or not settings.RATELIMIT_ENABLED:
        return
    expected = getattr(django_request, "charp_unverified_tag", None)
    now = datetime.now(UTC)
    outcome = _hit(vendor, expected, now)
    if expected is not None and (outcome is None or outcome.status == ratelimit.STATUS_STALE):
        checksum, client_id, expires_at = django_request.charp_token
        cache.tokens.discard(checksum)
        access_token = load(checksum, client_id, expires_at, tags=outcome.tags if outcome is not None else None)
        request.user, request.auth = access_token.user, access_token
        vendor = access_token.application.vendor
        outcome = outcome and _hit(vendor, None, now)
    decision = Decision(plan=vendor.plan, outcome=outcome, now=now)
    django_request.charp_ratelimit = decision
    error = decision.error()
    if error is not None:
        raise error


def _hit(vendor, expected_auth: str | None, now: datetime) -> ratelimit.Outcome | None:
    plan = vendor.plan
    start, following = month_bounds(now)
    return ratelimit.hit(
        client_id=vendor.client_id,
        limit=plan.requests_per_minute,
        quota=plan.monthly_quota,
        month=f"{start:%Y%m}",
        month_ttl=int((following - now).total_seconds()) + MONTH_COUNTER_GRACE,
        day=now.date().isoformat(),
        expected_auth=expected_auth,
    )


class PlanRateThrottle(BaseThrottle):
    """The global DRF throttle: every view with an `api_family` is limited by the calling vendor's plan."""

    def allow_request(self, request, view) -> bool:
        enforce_plan_limits(request, view)
        return True


class RateLimitMiddleware:
    """Writes the rate-limit fields on every response of a limited request (429 and other errors included), and
    gives this worker its turn at flushing usage counts to the database."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        decision = getattr(request, "charp_ratelimit", None)
        if decision is not None:
            for name, value in decision.headers().items():
                response[name] = value
        metering.flush_if_due()
        return response


# --- Failed client authentication at /auth/* --------------------------------------------------------------------


def client_ip(request) -> str:
    """The caller's address: REMOTE_ADDR, or the X-Forwarded-For entry added by the outermost of
    TRUSTED_PROXY_COUNT proxies (entries further left are client-supplied and can be forged).

    IPv6 callers are keyed by their /64, which one host usually controls whole.
    """
    address = request.META.get("REMOTE_ADDR", "")
    hops = settings.TRUSTED_PROXY_COUNT
    if hops:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= hops:
            address = forwarded[-hops]
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64] or "unknown"
    if ip.version == 6:
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class GuardCheck:
    """The failure budget's answer (seconds to wait, 0 while within it), the presented client's cache tags, and its
    issuance this hour with this request counted (None when not counted), all from one round trip."""

    wait: int = 0
    tags: ratelimit.Tags | None = None
    issued: ratelimit.Issued | None = None


@dataclass(frozen=True)
class AuthGuard:
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

    def check(self, client_id: str = "", count_issuance: bool = False) -> GuardCheck:
        """retry_after(), and in the same round trip the cache tags of the client ID presented (if any) and, with
        `count_issuance`, one more token counted against its hourly issuance."""
        if not settings.RATELIMIT_ENABLED:
            return GuardCheck()
        arguments = {
            "keys": list(self.keys),
            "limits": list(self.limits),
            "window_ms": self._window_ms(),
            "now_ms": None,
        }
        if client_id:
            base = ratelimit.issuance_base(client_id) if count_issuance else None
            found = ratelimit.call(
                "check_and_tags", **arguments, version_keys=ratelimit.version_keys(client_id), issuance_base=base
            )
            wait, tags, issued = found or (0, None, None)
        else:
            wait, tags, issued = ratelimit.call("check", **arguments), None, None
        return GuardCheck(math.ceil(wait / 1000) if wait else 0, tags, issued)

    def record_failure(self, give_back: ratelimit.Issued | None = None) -> None:
        """Count a failure; and give back the issuance count of a request that got no token, in the same call."""
        if settings.RATELIMIT_ENABLED:
            key = give_back.key if give_back is not None else None
            ratelimit.call("record", keys=list(self.keys), window_ms=self._window_ms(), now_ms=None, give_back=key)

    @staticmethod
    def give_back(issued: ratelimit.Issued | None) -> None:
        """Give back the issuance count of a request that got no token (refused for another reason than failure)."""
        if issued is not None and settings.RATELIMIT_ENABLED:
            ratelimit.call("record", keys=[], window_ms=1, now_ms=None, give_back=issued.key)

    def _window_ms(self) -> int:
        return (self.window or settings.AUTH_FAILURE_WINDOW) * 1000


def auth_guard(request, client_id: str) -> AuthGuard:
    """The failure budget of a request at /auth/* presenting `client_id` (see vendors/client_auth.py)."""
    prefix = settings.RATELIMIT_KEY_PREFIX
    ip = _digest(client_ip(request))
    keys = [f"{prefix}authfail:ip:{ip}"]
    limits = [settings.AUTH_FAILURES_PER_IP]
    if client_id:
        keys.append(f"{prefix}authfail:client:{_digest(client_id)}:{ip}")
        limits.append(settings.AUTH_FAILURES_PER_CLIENT)
    return AuthGuard(keys=tuple(keys), limits=tuple(limits))


# --- Token issuance per plan at /auth/* -------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuanceDecision:
    """A vendor's access-token issuance this clock hour against its plan's `tokens_per_hour` (None: unlimited)."""

    plan: Plan
    issued: ratelimit.Issued

    @property
    def limit(self) -> int | None:
        return self.plan.tokens_per_hour

    @property
    def exceeded(self) -> bool:
        """Whether this request's token would be one too many (its count is already included)."""
        return self.limit is not None and self.issued.count > self.limit

    def headers(self) -> dict[str, str]:
        """The hourly window in the fields of draft-ietf-httpapi-ratelimit-headers, as on the resource APIs."""
        if self.limit is None:
            return {}
        remaining = max(0, self.limit - self.issued.count)
        return {
            "RateLimit-Policy": f'"hour";q={self.limit};w=3600',
            "RateLimit": f'"hour";r={remaining};t={self.issued.reset}',
        }


class IssuanceLimited(errors.OAuth2Error):
    """429 in the RFC 6749 §5.2 shape, naming the plan's hourly token limit and when it resets."""

    error = "token_quota_exceeded"
    status_code = 429

    def __init__(self, decision: IssuanceDecision, request=None):
        plan, wait = decision.plan, max(1, decision.issued.reset)
        super().__init__(
            description=f"Your {plan.name} plan allows {decision.limit:,} access tokens per hour (token and refresh "
            f"requests together) and this hour's are used up. Retry in {wait} s; meanwhile keep using the token you "
            "have: each one is valid for its whole expires_in.",
            request=request,
        )
        self.decision = decision
        self.wait = wait

    @property
    def twotuples(self):
        plan = self.decision.plan
        return [
            *super().twotuples,
            ("plan", plan.code),
            ("tokens_per_hour", self.decision.limit),
            ("retry_after", self.wait),
        ]

    @property
    def headers(self):
        return {"Retry-After": str(self.wait), **self.decision.headers()}


def issuance_for_refresh(plan: Plan, client_id: str) -> IssuanceDecision | None:
    """Count the token a refresh is about to issue against the vendor's hourly limit (one round trip), raising
    IssuanceLimited over it; None while the counters are unavailable (fail open) or limits are off."""
    if not settings.RATELIMIT_ENABLED:
        return None
    limit = -1 if plan.tokens_per_hour is None else plan.tokens_per_hour
    found = ratelimit.call("issue", base=ratelimit.issuance_base(client_id), limit=limit, now_ms=None)
    if found is None:
        return None
    allowed, issued = found
    decision = IssuanceDecision(plan, issued)
    if not allowed:
        raise IssuanceLimited(decision)
    return decision
