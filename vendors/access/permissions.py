"""Plan-based access to the API families, and the vendor's address allow-list, judged live on every request by the
gate (vendors/access/gate.py)."""

from django.http import HttpRequest
from oauth2_provider.models import AccessToken
from rest_framework import exceptions

from charp.http.client import client_address
from vendors.models import Plan, Vendor
from vendors.oauth import addresses


class PlanForbidden(exceptions.PermissionDenied):
    default_code = "plan_forbidden"

    def __init__(self, detail: str, extra: dict):
        super().__init__(detail)
        self.extra = extra


class InsufficientScope(exceptions.PermissionDenied):
    default_code = "insufficient_scope"


class AddressNotAllowed(exceptions.PermissionDenied):
    default_code = addresses.CODE


def check_address(vendor: Vendor, request: HttpRequest) -> None:
    """The caller's address must be in the vendor's allow-list, when it has one (vendors/oauth/addresses.py)."""
    if vendor.allowed_cidrs:
        address = client_address(request)
        if not vendor.admits(address):
            raise AddressNotAllowed(addresses.refusal(address))


def check_plan_and_scope(access_token: AccessToken, api_family: str) -> None:
    """The vendor's current plan, and the token's scope, must include `api_family`."""
    vendor = access_token.application.vendor
    if not vendor.plan.allows(api_family):
        plans = [plan for plan in Plan.objects.all() if plan.allows(api_family)]
        raise PlanForbidden(
            f"Your {vendor.plan.name} plan does not include the {api_family.title()} API. "
            f"It is included in: {', '.join(plan.name for plan in plans) or 'no plan'}.",
            extra={"plan": vendor.plan.code, "api": api_family, "plans_including": [plan.code for plan in plans]},
        )
    if api_family not in access_token.scope.split():
        # Only a token narrowed with `scope` lacks a family its plan includes: one granted by default has them all, and
        # the live plan check above decides (vendors/oauth/server.py, validate_scopes).
        raise InsufficientScope(
            f"This access token was issued with scope '{access_token.scope}', which does not include '{api_family}' "
            f"(a refresh keeps a token's scope). Get a new token at /auth/token without scope, or with one that "
            f"includes '{api_family}'."
        )
