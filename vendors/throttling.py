"""Plan rate limits and monthly quotas on the resource APIs, and the failed-authentication throttle of /auth/*.

Resource responses carry the fields of draft-ietf-httpapi-ratelimit-headers-11: `RateLimit-Policy` ("minute" and,
when the plan has a quota, "month", each with q and w) and `RateLimit` (r remaining, t seconds to reset).
"""

import base64
import binascii
import hashlib
import ipaddress
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote_plus

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
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


def presented_client_id(request, params: dict[str, str]) -> str:
    """The client ID the caller claims, from HTTP Basic (RFC 6749 §2.3.1) or the body; '' when none."""
    scheme, _, credentials = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            return unquote_plus(base64.b64decode(credentials.strip(), validate=True).decode().split(":", 1)[0])
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return ""
    return params.get("client_id", "")


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class AuthGuard:
    """Failed client authentications in the last AUTH_FAILURE_WINDOW seconds, per source address and per
    (client ID, source address).

    Never per client ID alone: then anyone could lock a vendor out by sending wrong secrets for its public client ID.
    Keyed with the address, a flood from one address blocks only that address, and the vendor keeps working from
    its own. Requests refused here are not counted, so a blocked address regains attempts as old failures age.
    """

    keys: tuple[str, ...]
    limits: tuple[int, ...]
    # Seconds over which failures count; AUTH_FAILURE_WINDOW when None (the staff login has its own window).
    window: int | None = None

    def retry_after(self) -> int:
        """Seconds until this caller may try again; 0 when it may now (also when the counters are unavailable)."""
        return self.check()[0]

    def check(self, client_id: str = "") -> tuple[int, ratelimit.Tags | None]:
        """retry_after(), and in the same round trip the cache tags of the client ID presented (if any)."""
        if not settings.RATELIMIT_ENABLED:
            return 0, None
        arguments = {
            "keys": list(self.keys),
            "limits": list(self.limits),
            "window_ms": self._window_ms(),
            "now_ms": None,
        }
        if client_id:
            found = ratelimit.call("check_and_tags", **arguments, version_keys=ratelimit.version_keys(client_id))
            wait, tags = found or (0, None)
        else:
            wait, tags = ratelimit.call("check", **arguments), None
        return (math.ceil(wait / 1000) if wait else 0), tags

    def record_failure(self) -> None:
        if settings.RATELIMIT_ENABLED:
            ratelimit.call("record", keys=list(self.keys), window_ms=self._window_ms(), now_ms=None)

    def _window_ms(self) -> int:
        return (self.window or settings.AUTH_FAILURE_WINDOW) * 1000


def auth_guard(request, params: dict[str, str]) -> AuthGuard:
    prefix = settings.RATELIMIT_KEY_PREFIX
    ip = _digest(client_ip(request))
    keys = [f"{prefix}authfail:ip:{ip}"]
    limits = [settings.AUTH_FAILURES_PER_IP]
    client_id = presented_client_id(request, params)
    if client_id:
        keys.append(f"{prefix}authfail:client:{_digest(client_id)}:{ip}")
        limits.append(settings.AUTH_FAILURES_PER_CLIENT)
    return AuthGuard(keys=tuple(keys), limits=tuple(limits))
