"""The audit log in the staff portal: append-only, filterable by action and by source."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from vendors import services
from vendors.admin.site import portal
from vendors.models import AuditEvent


class AuditSourceFilter(admin.SimpleListFilter):
    title = "source"
    parameter_name = "source"

    def lookups(self, request, model_admin):
        return [("staff", "Staff"), ("command_line", "Command line")]

    def queryset(self, request, queryset):
        if self.value() == "staff":
            return queryset.exclude(actor_label=services.COMMAND_LINE)
        if self.value() == "command_line":
            return queryset.filter(actor_label=services.COMMAND_LINE)
        return queryset


@admin.register(AuditEvent, site=portal)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "action", "vendor_display", "actor_label", "changes_display"]
    list_filter = ["action", AuditSourceFilter, "created_at"]
    search_fields = ["vendor_name", "actor_label", "vendor__application__client_id"]
    list_select_related = ["vendor", "plan"]
    date_hierarchy = "created_at"
    fields = ["created_at", "action", "vendor_display", "actor_label", "changes_display"]
    readonly_fields = fields

    # An append-only record: nobody edits or deletes history, not even a superuser.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Vendor", ordering="vendor_name")
    def vendor_display(self, event: AuditEvent) -> str:
        if event.plan_id is not None:
            url = reverse("admin:vendors_plan_change", args=[event.plan_id])
            return format_html('plan <a href="{}">{}</a>', url, event.plan.name)
        if event.vendor_id is None:
            return event.vendor_name
        url = reverse("admin:vendors_vendor_change", args=[event.vendor_id])
        return format_html('<a href="{}">{}</a>', url, event.vendor_name)

    @admin.display(description="What changed")
    def changes_display(self, event: AuditEvent) -> str:
        changes = event.changes
        if event.plan_id is not None:
            changes = {key: value for key, value in changes.items() if key != "plan"}
        if event.action == AuditEvent.Action.CHANGE_ALLOW_LIST:
            return f"{_allow_list_text(changes.get('from'))} → {_allow_list_text(changes.get('to'))}"
        if set(changes) == {"from", "to"}:
            return f"{changes['from']} → {changes['to']}"
        # Sorted: PostgreSQL's jsonb does not keep the keys in the order they were written.
        return "; ".join(f"{key}: {_change_text(changes[key])}" for key in sorted(changes)) or "—"


def _allow_list_text(cidrs) -> str:
    return ", ".join(cidrs) if cidrs else "any address"


def _change_text(value) -> str:
    if isinstance(value, list) and len(value) == 2:
        return f"{value[0]!r} → {value[1]!r}"
    return str(value)
