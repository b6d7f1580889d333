"""Access tokens issued per vendor per clock hour, against its plan's `tokens_per_hour` (Auth0's M2M token quotas).

A client-credentials request is counted in the token endpoint's first round trip (vendors/limits/failures.py, before
the client is known) and judged once the validator knows the plan; a refresh is counted where the refresh token
names the vendor. A request that gets no token gives its count back.
"""

from dataclasses import dataclass

from django.conf import settings
from oauthlib.oauth2.rfc6749 import errors

from vendors.limits import store
from vendors.models import Plan


@dataclass(frozen=True)
class Issuance:
    """A vendor's access-token issuance this clock hour against its plan's `tokens_per_hour` (None: unlimited)."""

    plan: Plan
    issued: store.Issued

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

    def __init__(self, decision: Issuance, request=None):
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


def count_refresh(plan: Plan, client_id: str) -> Issuance | None:
    """Count the token a refresh is about to issue against the vendor's hourly limit (one round trip), raising
    IssuanceLimited over it; None while the counters are unavailable (fail open) or limits are off."""
    if not settings.RATELIMIT_ENABLED:
        return None
    limit = -1 if plan.tokens_per_hour is None else plan.tokens_per_hour
    found = store.call("issue", base=store.issuance_base(client_id), limit=limit, now_ms=None)
    if found is None:
        return None
    allowed, issued = found
    decision = Issuance(plan, issued)
    if not allowed:
        raise IssuanceLimited(decision)
    return decision
