"""Plan-based access to the API families, checked live on every request."""

from rest_framework import exceptions
from rest_framework.permissions import BasePermission

from .models import Plan
from .throttling import enforce_plan_limits


class PlanForbidden(exceptions.PermissionDenied):
    default_code = "plan_forbidden"

    def __init__(self, detail: str, extra: dict):
        super().__init__(detail)
        self.extra = extra


class InsufficientScope(exceptions.PermissionDenied):
    default_code = "insufficient_scope"


class PlanAllowsAPI(BasePermission):
    """The vendor's current plan, and the token's scope, must include the view's `api_family`."""

    def has_permission(self, request, view) -> bool:
        # Count the request before judging it, so that refused calls are limited and carry the headers too.
        enforce_plan_limits(request, view)
        api = view.api_family
        vendor = request.auth.application.vendor
        if not vendor.plan.allows(api):
            plans = [plan for plan in Plan.objects.all() if plan.allows(api)]
            raise PlanForbidden(
                f"Your {vendor.plan.name} plan does not include the {api.title()} API. "
                f"It is included in: {', '.join(plan.name for plan in plans) or 'no plan'}.",
                extra={"plan": vendor.plan.code, "api": api, "plans_including": [plan.code for plan in plans]},
            )
        if api not in request.auth.scope.split():
            raise InsufficientScope(f"This access token's scope does not include '{api}'. Request a token with it.")
        return True
