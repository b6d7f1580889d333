"""Plans in the staff portal: listed and edited, never deleted (vendors are on them)."""

from django.contrib import admin

from vendors import services
from vendors.admin.site import portal
from vendors.models import Plan


@admin.register(Plan, site=portal)
class PlanAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "apis_display", "requests_per_minute", "quota_display"]
    ordering = ["requests_per_minute", "code"]

    @admin.display(description="APIs")
    def apis_display(self, plan: Plan) -> str:
        return ", ".join(api.capitalize() for api in plan.apis) or "none"

    @admin.display(description="Monthly quota")
    def quota_display(self, plan: Plan) -> str:
        return "unlimited" if plan.monthly_quota is None else f"{plan.monthly_quota:,}"

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        # The form has already written the new values onto `obj`: the stored row is what it changes from.
        before = services.plan_snapshot(Plan.objects.get(pk=obj.pk)) if change else None
        services.plan_save(plan=obj, before=before, actor=request.user)
