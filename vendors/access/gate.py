"""The one gate of every resource request: authenticated, counted against the plan, plan- and scope-checked, once.

`admit()` runs in `AdmittedView.initial()`, after DRF's content negotiation and before the handler, and everything
the rest of the request needs is on the one `Admission` it returns. The order matters:

1. the Bearer token is read from this worker's copy, or verified (signature, then its row) from the database;
2. one round trip to the shared store counts the request against the minute window and the monthly quota, and
   hands back the vendor's cache tags: a copied token whose tag is stale is read again from the database, which
   may refuse it, before it is counted (so revocation bites at once in every worker, without SQL on a warm path);
3. the standing is kept on the request before the plan is judged, so that refused calls carry the RateLimit
   headers too (vendors/limits/middleware.py);
4. the caller's address must be in the vendor's allow-list, if it has one: judged on the row verified in step 2,
   and before a 429, so that a caller from another address is told why whatever its count;
5. the plan and the token's scope must include the view's API family.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.http import HttpRequest
from django.utils.cache import patch_vary_headers
from oauth2_provider.models import AccessToken
from rest_framework import exceptions
from rest_framework.views import APIView

from charp.http import metrics
from charp.http.logs import client_id_var
from vendors.access import authentication
from vendors.access.permissions import check_address, check_plan_and_scope
from vendors.caching import copies
from vendors.limits import plan, request_log, store
from vendors.models import Vendor


@dataclass(frozen=True)
class Admission:
    """A resource request let through: its access token (with client, vendor, plan and service user) and its standing
    against the plan (None when limits are off or the store is unreachable)."""

    access_token: AccessToken
    standing: plan.Standing | None

    @property
    def vendor(self) -> Vendor:
        return self.access_token.application.vendor

    @property
    def data_tag(self) -> str | None:
        """The vendor's data version this request read, under which its GET pages may be copied."""
        outcome = self.standing.outcome if self.standing is not None else None
        return outcome.tags.data if outcome is not None else None


def admit(request: HttpRequest, api_family: str) -> Admission:
    """Let `request` into `api_family`, or raise the API error that says why not (401, 403 or 429)."""
    try:
        return _admit(request, api_family)
    except exceptions.AuthenticationFailed:  # a token sent that cannot be used (not a missing one)
        metrics.AUTH_FAILURES.labels("api").inc()
        raise


def _admit(request: HttpRequest, api_family: str) -> Admission:
    token = authentication.presented_token(request)
    if token is None:
        raise exceptions.NotAuthenticated()
    limited = settings.RATELIMIT_ENABLED
    bearer = authentication.authenticate(token, use_copy=limited and settings.AUTH_CACHE_SECONDS > 0)
    access_token = bearer.access_token
    client_id_var.set(bearer.client_id)  # for the access log
    standing = None
    if limited:
        now = datetime.now(UTC)
        expected = bearer.unverified_tag
        outcome = plan.count(access_token.application.vendor, expected, now)
        if expected is not None and (outcome is None or outcome.status == store.STATUS_STALE):
            copies.tokens.discard(bearer.checksum)
            tags = outcome.tags if outcome is not None else None
            access_token = authentication.from_database(bearer.checksum, bearer.client_id, bearer.expires_at, tags=tags)
            outcome = outcome and plan.count(access_token.application.vendor, None, now)
        vendor = access_token.application.vendor
        request_log.identify(vendor.pk)  # the token verified against the vendor's tag: the vendor's request
        metrics.plan_var.set(vendor.plan.code)
        standing = plan.Standing(plan=vendor.plan, outcome=outcome, now=now, client_id=vendor.client_id)
        request.plan_standing = standing
        # On the row just verified against the vendor's tag (or re-read): an allow-list change bites at once.
        check_address(vendor, request)
        if (error := standing.error()) is not None:
            quota = outcome.status == store.STATUS_QUOTA_EXCEEDED
            metrics.THROTTLED.labels("quota_exceeded" if quota else "rate_limited").inc()
            raise error
    else:
        request_log.identify(access_token.application.vendor.pk)
        metrics.plan_var.set(access_token.application.vendor.plan.code)
        check_address(access_token.application.vendor, request)
    check_plan_and_scope(access_token, api_family)
    return Admission(access_token, standing)


class AdmittedView(APIView):
    """A resource API view: DRF's authentication, permission and throttle hooks are left empty, because the gate does
    all three, once, in this order, before the handler runs."""

    api_family: str
    authentication_classes = ()
    permission_classes = ()
    throttle_classes = ()
    # No OPTIONS self-description: /docs is the reference, and DRF's would expose internal docstrings.
    metadata_class = None
    admission: Admission

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # content negotiation and versioning; nothing to authenticate
        self.admission = admit(request._request, self.api_family)
        request.user, request.auth = self.admission.access_token.user, self.admission.access_token

    def get_authenticate_header(self, request) -> str:
        return authentication.CHALLENGE

    def finalize_response(self, request, response, *args, **kwargs):
        """Every answer, errors included, is one vendor's: no shared cache may keep it, and a private cache must
        revalidate it. A stricter `no-store` (a database outage's 503) is kept."""
        response = super().finalize_response(request, response, *args, **kwargs)
        if "Cache-Control" not in response:
            response["Cache-Control"] = "private, no-cache"
        patch_vary_headers(response, ("Authorization",))
        return response
