"""Vendors in the staff portal: onboarding, credentials, suspension, plans and tokens, each through vendors.services."""

import re
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince, timeuntil
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

from vendors import reveals, selectors, services
from vendors.admin import request_log
from vendors.admin.site import portal
from vendors.admin.usage_chart import USAGE_DAYS, usage_chart
from vendors.models import Plan, Vendor

MANAGE_CREDENTIALS = "vendors.manage_credentials"

GRACE_CHOICES = [
    (0, "None: the current secret stops working now"),
    (3600, "1 hour"),
    (24 * 3600, "24 hours"),
    (7 * 24 * 3600, "7 days"),
]


def _see_other(url: str) -> HttpResponseRedirect:
    """The answer to every POST that did something (Post/Redirect/Get): 303, so the browser GETs the next page and a
    reload, or the back button, repeats a harmless GET, never the action."""
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


class VersionedForm(forms.Form):
    """A confirmation: carries the vendor's version the page was rendered for (services.StaleAction)."""

    version = forms.CharField(widget=forms.HiddenInput)


class ConfirmForm(VersionedForm):
    pass


class RotateSecretForm(VersionedForm):
    grace = forms.TypedChoiceField(
        label="Keep the current secret working for",
        choices=GRACE_CHOICES,
        coerce=int,
        initial=int(services.DEFAULT_GRACE.total_seconds()),
        widget=forms.RadioSelect,
    )
    revoke_tokens = forms.BooleanField(
        label="Also revoke every current access and refresh token now",
        required=False,
    )


class PlanForm(VersionedForm):
    plan = forms.ModelChoiceField(queryset=Plan.objects.all(), empty_label=None)


class AllowListForm(VersionedForm):
    cidrs = forms.CharField(
        label="Allowed addresses",
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "cols": 44, "spellcheck": "false"}),
        help_text=f"One IPv4 or IPv6 address or CIDR range per line (203.0.113.0/24, 198.51.100.7, 2001:db8::/48), at "
        f"most {services.MAX_ALLOWED_CIDRS}. Empty: any address.",
    )

    def clean_cidrs(self) -> list[str]:
        # Lines, but a pasted comma- or space-separated list is read the same way.
        return services.normalized_cidrs(re.split(r"[\s,]+", self.cleaned_data["cidrs"]))


class VendorForm(forms.ModelForm):
    """The add and change form: a clear error on the name field when the name is taken, ignoring case."""

    def clean_name(self):
        name = (self.cleaned_data.get("name") or "").strip()
        if name and services.name_taken(name, exclude_pk=self.instance.pk):
            raise ValidationError(services.NAME_TAKEN.format(name=name), code="name_taken")
        return name


def _local(moment) -> str:
    return date_format(timezone.localtime(moment), "DATETIME_FORMAT")


def _last_used(moment) -> str:
    # Written with the usage flush, so "never" can also mean "in the last USAGE_FLUSH_INTERVAL seconds".
    if moment is None:
        return "never used to obtain a token"
    return format_html('last obtained a token <span title="{}">{} ago</span>', _local(moment), timesince(moment))


@admin.register(Vendor, site=portal)
class VendorAdmin(admin.ModelAdmin):
    list_display = ["name", "client_id_short", "plan", "status_display", "created_at", "recent_requests_display"]
    list_filter = ["plan", "status", "created_at"]
    list_select_related = ["plan", "application"]
    search_fields = ["name", "contact_email", "application__client_id"]
    date_hierarchy = "created_at"
    form = VendorForm

    # --- Permissions: viewing vendors and managing their credentials are separate ---------------------------------

    def can_manage(self, request) -> bool:
        return request.user.has_perm(MANAGE_CREDENTIALS)

    def has_add_permission(self, request) -> bool:
        # Adding a vendor issues credentials.
        return super().has_add_permission(request) and self.can_manage(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        # A vendor is suspended, never deleted: its audit trail and tokens' history must stay attached.
        return False

    def get_queryset(self, request):
        # The list's usage column, and its sorting, come from this annotation: one query for the whole page.
        return selectors.vendors_with_recent_requests(super().get_queryset(request), days=USAGE_DAYS)

    def _forbidden(self, request, action: str) -> TemplateResponse:
        context = {**self.admin_site.each_context(request), "title": "Permission required", "action": action}
        return TemplateResponse(request, "admin/vendors/forbidden.html", context, status=403)

    # --- Forms ----------------------------------------------------------------------------------------------------

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            description = "Saving creates the vendor's OAuth client and shows its client secret once."
            return [(None, {"fields": ["name", "contact_email", "plan"], "description": description})]
        return [
            (None, {"fields": ["name", "contact_email"]}),
            ("Plan and status", {"fields": ["plan", "status_display"]}),
            ("Access", {"fields": ["allow_list_display"]}),
            (f"Usage, last {USAGE_DAYS} days", {"fields": ["usage_chart"]}),
            ("Credentials", {"fields": ["client_id_display", "secret_status", "token_summary"]}),
            ("Dates", {"fields": ["created_at", "updated_at"]}),
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        # The plan and status change only through their own confirmed, audited actions.
        return [
            "plan",
            "status_display",
            "allow_list_display",
            "usage_chart",
            "client_id_display",
            "secret_status",
            "token_summary",
            "created_at",
            "updated_at",
        ]

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            services.vendor_update(
                vendor=obj, name=data["name"], contact_email=data["contact_email"], actor=request.user
            )
            return
        issued = services.vendor_create(
            name=data["name"], contact_email=data["contact_email"], plan=data["plan"], actor=request.user
        )
        created = issued.vendor
        # The admin logs the addition and answers with `obj`: give it the created row's identity.
        obj.pk, obj.application, obj.user = created.pk, created.application, created.user
        obj.status, obj.created_at, obj.updated_at = created.status, created.created_at, created.updated_at
        obj._state.adding, obj._state.db = False, created._state.db
        # Kept on this request's object only, for response_add: never in the session, a message or a log.
        obj._issued_secret = issued

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            return self._forbidden(request, "add vendors")
        try:
            return super().add_view(request, form_url, extra_context)
        except ValidationError as error:
            # The form said the name was free, but a simultaneous request (a double click) took it first: the
            # admin's transaction is rolled back and nothing of this request was created.
            self.message_user(request, " ".join(error.messages), messages.ERROR)
            return _see_other(reverse("admin:vendors_vendor_add"))

    def response_add(self, request, obj, post_url_continue=None):
        issued = getattr(obj, "_issued_secret", None)
        if issued is None:
            return super().response_add(request, obj, post_url_continue)
        # Still inside the admin's transaction: the reveal exists exactly when the vendor does.
        return self._reveal_redirect(request, issued, reveals_kind="created")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "can_manage": self.can_manage(request)}
        return super().change_view(request, object_id, form_url, extra_context)

    # --- Read-only displays ---------------------------------------------------------------------------------------

    @admin.display(description="Client ID", ordering="application__client_id")
    def client_id_display(self, vendor: Vendor) -> str:
        return format_html("<code>{}</code>", vendor.client_id)

    @admin.display(description="Client ID", ordering="application__client_id")
    def client_id_short(self, vendor: Vendor) -> str:
        # The full 40 characters push the list's last columns off a laptop screen; the title and search keep it whole.
        return format_html('<code title="{}">{}…</code>', vendor.client_id, vendor.client_id[:12])

    @admin.display(description="Status", ordering="status")
    def status_display(self, vendor: Vendor) -> str:
        return format_html(
            '<span class="charp-status charp-status-{}">{}</span>', vendor.status, vendor.get_status_display()
        )

    @admin.display(description="Allowed addresses")
    def allow_list_display(self, vendor: Vendor) -> str:
        if not vendor.allowed_cidrs:
            return "Any address."
        return format_html_join(", ", "<code>{}</code>", ((cidr,) for cidr in vendor.allowed_cidrs))

    @admin.display(description=f"Requests ({USAGE_DAYS} days)", ordering="recent_requests")
    def recent_requests_display(self, vendor: Vendor) -> str:
        return f"{vendor.recent_requests:,}"

    @admin.display(description="Requests per day")
    def usage_chart(self, vendor: Vendor) -> str:
        chart = usage_chart(selectors.usage_by_day(vendor=vendor, days=USAGE_DAYS))
        return render_to_string("admin/vendors/vendor/_usage_chart.html", {"chart": chart, "days": USAGE_DAYS})

    @admin.display(description="Client secret")
    def secret_status(self, vendor: Vendor) -> str:
        current = format_html(
            '<span class="charp-last-used" id="current-secret-last-used">Current secret: {}.</span>',
            _last_used(vendor.secret_last_used_at),
        )
        if vendor.previous_secret_live:
            expires = vendor.previous_secret_expires_at
            return format_html(
                "Two live secrets: the previous one still works until <strong>{}</strong> (in {}).<br>{}<br>"
                '<span class="charp-last-used" id="previous-secret-last-used">Previous secret: {}.</span>',
                _local(expires),
                timeuntil(expires),
                current,
                _last_used(vendor.previous_secret_last_used_at),
            )
        return format_html(
            "One live secret. Charp keeps only its hash; it cannot be shown again.<br>{}",
            current,
        )

    @admin.display(description="Tokens")
    def token_summary(self, vendor: Vendor) -> str:
        count = self._active_tokens(vendor).count()
        url = reverse("admin:vendors_vendor_tokens", args=[vendor.pk])
        label = "1 active access token" if count == 1 else f"{count} active access tokens"
        return format_html('{} · <a href="{}">View tokens</a>', label, url)

    # --- Credential actions ---------------------------------------------------------------------------------------

    def get_urls(self):
        def route(suffix: str, view, name: str, *, manage: bool):
            return path(
                f"<int:object_id>/{suffix}",
                self.admin_site.admin_view(self._vendor_view(view, manage=manage)),
                name=f"vendors_vendor_{name}",
            )

        # Ours come first: the admin's own "<path:object_id>/" catch-all would swallow them.
        return [
            route("rotate-secret/", self.rotate_secret_view, "rotate_secret", manage=True),
            route("secret/<str:reveal_id>/", self.reveal_view, "secret", manage=True),
            route("suspend/", self.suspend_view, "suspend", manage=True),
            route("reactivate/", self.reactivate_view, "reactivate", manage=True),
            route("plan/", self.plan_view, "plan", manage=True),
            route("allow-list/", self.allow_list_view, "allow_list", manage=True),
            route("tokens/", self.tokens_view, "tokens", manage=False),
            route("requests/", self.request_log_view, "request_log", manage=False),
            route("tokens/revoke-all/", self.tokens_revoke_all_view, "tokens_revoke_all", manage=True),
            route("tokens/<int:token_id>/revoke/", self.token_revoke_view, "token_revoke", manage=True),
            *super().get_urls(),
        ]

    def _vendor_view(self, view, *, manage: bool):
        """Check the permissions, then load the vendor, then call `view(request, vendor, **kwargs)`."""

        def checked(request, object_id, **kwargs):
            if not self.has_view_permission(request):
                return self._forbidden(request, "view vendors")
            if manage and not self.can_manage(request):
                return self._forbidden(request, "manage vendor credentials")
            vendor = self.get_object(request, str(object_id))
            if vendor is None:
                return self._get_obj_does_not_exist_redirect(request, self.opts, str(object_id))
            return view(request, vendor, **kwargs)

        return checked

    def _render(self, request, template: str, vendor: Vendor, **context) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": vendor,
            "vendor": vendor,
            "can_manage": self.can_manage(request),
            **context,
        }
        return TemplateResponse(request, f"admin/vendors/vendor/{template}", context)

    def _confirm(
        self,
        request,
        vendor: Vendor,
        *,
        title: str,
        consequences: list[str],
        button: str,
        danger=False,
        form: forms.Form | None = None,
    ):
        form = form or ConfirmForm(initial={"version": services.vendor_version(vendor)})
        return self._render(
            request,
            "confirm.html",
            vendor,
            title=title,
            consequences=consequences,
            button=button,
            danger=danger,
            form=form,
        )

    def _confirmed(self, request, vendor: Vendor) -> str | None:
        """The version a POSTed confirmation was rendered for, or None (and a message) when it carries none."""
        form = ConfirmForm(request.POST)
        if form.is_valid():
            return form.cleaned_data["version"]
        self.message_user(request, "That confirmation was incomplete, so nothing was done.", messages.ERROR)
        return None

    def _act(self, request, vendor: Vendor, act, *, log: str, done, url: str | None = None) -> HttpResponseRedirect:
        """Run a POSTed confirmation's action once, for the version it was rendered for, then back to `url` (the vendor
        page): an incomplete confirmation does nothing, a stale one is refused (services.StaleAction)."""
        url = url or self._change_url(vendor)
        version = self._confirmed(request, vendor)
        if version is None:
            return _see_other(url)
        try:
            result = act(version)
        except services.StaleAction as error:
            return self._stale(request, vendor, error, url)
        self.log_change(request, vendor, log)
        self.message_user(request, done(result), messages.SUCCESS)
        return _see_other(url)

    def _stale(self, request, vendor: Vendor, error: services.StaleAction, url: str | None = None):
        self.message_user(request, " ".join(error.messages), messages.WARNING)
        return _see_other(url or self._change_url(vendor))

    def _reveal_redirect(self, request, issued: services.IssuedSecret, *, reveals_kind: str) -> HttpResponseRedirect:
        """Keep the new secret for one view and send the browser there (Post/Redirect/Get)."""
        reveal_id = reveals.store(
            vendor=issued.vendor,
            client_secret=issued.client_secret,
            kind=reveals_kind,
            user=request.user,
            session_key=request.session.session_key,
            previous_secret_expires_at=issued.previous_secret_expires_at,
        )
        return _see_other(reverse("admin:vendors_vendor_secret", args=[issued.vendor.pk, reveal_id]))

    def reveal_view(self, request, vendor: Vendor, reveal_id: str):
        if request.method != "GET":
            return HttpResponseNotAllowed(["GET"])
        revealed = reveals.take(
            reveal_id=reveal_id, vendor=vendor, user=request.user, session_key=request.session.session_key
        )
        if revealed is None:
            # A reload, the back button, a second tab, or a link older than REVEAL_SECONDS: the secret is gone.
            response = self._render(
                request, "secret_gone.html", vendor, title=f"This secret of {vendor} was already shown"
            )
            response.status_code = 410
        else:
            rotated = revealed.kind == "rotated"
            title = f"New secret for {vendor}: copy it now" if rotated else f"{vendor} is ready: copy its credentials"
            context = {
                "title": title,
                "rotated": rotated,
                "client_id": vendor.client_id,
                "client_secret": revealed.client_secret,
                "previous_secret_expires_at": revealed.previous_secret_expires_at,
            }
            response = self._render(request, "secret_issued.html", vendor, **context)
        # Neither the page with the secret nor its successor may be kept by any cache or restored from history.
        response["Cache-Control"] = "no-store"
        response["Pragma"] = "no-cache"
        return response

    def _change_url(self, vendor: Vendor) -> str:
        return reverse("admin:vendors_vendor_change", args=[vendor.pk])

    def _active_tokens(self, vendor: Vendor):
        # Only the columns shown: the token value's checksum is never even loaded.
        return (
            get_access_token_model()
            .objects.filter(application_id=vendor.application_id, expires__gt=timezone.now())
            .only("id", "created", "expires", "scope", "source_refresh_token_id")
            .order_by("-created", "-id")
        )

    @transaction.atomic
    def rotate_secret_view(self, request, vendor: Vendor):
        # One transaction for the rotation and its reveal: no rotation whose secret nobody could ever see.
        initial = {"version": services.vendor_version(vendor)}
        form = RotateSecretForm(request.POST if request.method == "POST" else None, initial=initial)
        if form.is_valid():
            grace = timedelta(seconds=form.cleaned_data["grace"])
            revoke_tokens = form.cleaned_data["revoke_tokens"]
            try:
                issued = services.vendor_secret_rotate(
                    vendor=vendor,
                    grace=grace,
                    revoke_tokens=revoke_tokens,
                    actor=request.user,
                    version=form.cleaned_data["version"],
                )
            except services.StaleAction as error:
                return self._stale(request, vendor, error)
            self.log_change(request, vendor, "Rotated the client secret.")
            return self._reveal_redirect(request, issued, reveals_kind="rotated")
        return self._render(request, "rotate_secret.html", vendor, title=f"Rotate the secret of {vendor}", form=form)

    def suspend_view(self, request, vendor: Vendor):
        if not vendor.is_active:
            self.message_user(request, f"{vendor} is already suspended.", messages.INFO)
            return _see_other(self._change_url(vendor))
        if request.method == "POST":
            count = self._active_tokens(vendor).count()
            return self._act(
                request,
                vendor,
                lambda version: services.vendor_suspend(vendor=vendor, actor=request.user, version=version),
                log="Suspended the vendor.",
                done=lambda _: f"{vendor} is suspended; {count} active access token(s) were revoked.",
            )
        return self._confirm(
            request,
            vendor,
            title=f"Suspend {vendor}?",
            consequences=[
                "Every access and refresh token of this vendor stops working immediately.",
                "No new token is issued until the vendor is reactivated; its secret is kept.",
            ],
            button="Yes, suspend",
            danger=True,
        )

    def reactivate_view(self, request, vendor: Vendor):
        if vendor.is_active:
            self.message_user(request, f"{vendor} is already active.", messages.INFO)
            return _see_other(self._change_url(vendor))
        if request.method == "POST":
            return self._act(
                request,
                vendor,
                lambda version: services.vendor_reactivate(vendor=vendor, actor=request.user, version=version),
                log="Reactivated the vendor.",
                done=lambda _: f"{vendor} is active again and can get new tokens.",
            )
        return self._confirm(
            request,
            vendor,
            title=f"Reactivate {vendor}?",
            consequences=[
                "The vendor can get new tokens with its current secret.",
                "Tokens revoked by the suspension stay revoked.",
            ],
            button="Yes, reactivate",
        )

    def plan_view(self, request, vendor: Vendor):
        initial = {"plan": vendor.plan, "version": services.vendor_version(vendor)}
        form = PlanForm(request.POST if request.method == "POST" else None, initial=initial)
        if form.is_valid():
            plan = form.cleaned_data["plan"]
            if plan.pk == vendor.plan_id:
                self.message_user(request, f"{vendor} is already on the {plan} plan.", messages.INFO)
                return _see_other(self._change_url(vendor))
            try:
                services.vendor_plan_set(
                    vendor=vendor, plan=plan, actor=request.user, version=form.cleaned_data["version"]
                )
            except services.StaleAction as error:
                return self._stale(request, vendor, error)
            self.log_change(request, vendor, f"Changed the plan to {plan}.")
            self.message_user(
                request,
                f"{vendor} is now on the {plan} plan; it applies now, to tokens already issued too.",
                messages.SUCCESS,
            )
            return _see_other(self._change_url(vendor))
        plans = Plan.objects.all()
        return self._render(request, "plan.html", vendor, title=f"Change the plan of {vendor}", form=form, plans=plans)

    def allow_list_view(self, request, vendor: Vendor):
        initial = {"cidrs": "\n".join(vendor.allowed_cidrs), "version": services.vendor_version(vendor)}
        form = AllowListForm(request.POST if request.method == "POST" else None, initial=initial)
        if form.is_valid():
            cidrs = form.cleaned_data["cidrs"]
            if cidrs == vendor.allowed_cidrs:
                self.message_user(request, f"The allow-list of {vendor} is unchanged.", messages.INFO)
                return _see_other(self._change_url(vendor))
            try:
                services.vendor_allow_list_set(
                    vendor=vendor, cidrs=cidrs, actor=request.user, version=form.cleaned_data["version"]
                )
            except services.StaleAction as error:
                return self._stale(request, vendor, error)
            allowed = ", ".join(cidrs) if cidrs else "any address"
            self.log_change(request, vendor, f"Changed the allow-list to {allowed}.")
            self.message_user(
                request,
                f"{vendor} now accepts requests from {allowed}; it applies now, to tokens already issued too.",
                messages.SUCCESS,
            )
            return _see_other(self._change_url(vendor))
        return self._render(request, "allow_list.html", vendor, title=f"Allowed addresses of {vendor}", form=form)

    def tokens_view(self, request, vendor: Vendor):
        refresh_tokens = get_refresh_token_model().objects.filter(
            application_id=vendor.application_id, revoked__isnull=True
        )
        return self._render(
            request,
            "tokens.html",
            vendor,
            title=f"Tokens of {vendor}",
            tokens=list(self._active_tokens(vendor)),
            live_refresh_tokens=refresh_tokens.count(),
        )

    def request_log_view(self, request, vendor: Vendor):
        # Read-only: nothing to post.
        if request.method != "GET":
            return HttpResponseNotAllowed(["GET"])
        context = request_log.page_context(request, vendor)
        return self._render(request, "request_log.html", vendor, title=f"Request log of {vendor}", **context)

    def tokens_revoke_all_view(self, request, vendor: Vendor):
        tokens_url = reverse("admin:vendors_vendor_tokens", args=[vendor.pk])
        if request.method == "POST":
            return self._act(
                request,
                vendor,
                lambda version: services.vendor_tokens_revoke(vendor=vendor, actor=request.user, version=version),
                log="Revoked every token.",
                done=lambda count: f"Revoked {count} access token(s) and every refresh token.",
                url=tokens_url,
            )
        return self._confirm(
            request,
            vendor,
            title=f"Revoke every token of {vendor}?",
            consequences=[
                "Every access and refresh token of this vendor stops working immediately.",
                "The vendor can get new tokens with its client secret.",
            ],
            button="Yes, revoke all",
            danger=True,
        )

    def token_revoke_view(self, request, vendor: Vendor, token_id: int):
        tokens_url = reverse("admin:vendors_vendor_tokens", args=[vendor.pk])
        token = self._active_tokens(vendor).filter(pk=token_id).first()
        if token is None:
            self.message_user(request, f"Access token {token_id} is not active (already revoked or expired).")
            return _see_other(tokens_url)
        if request.method == "POST":
            # The token is the state this confirmation is about: a second POST finds it revoked and does nothing.
            if not services.access_token_revoke(vendor=vendor, token_id=token.pk, actor=request.user):
                self.message_user(request, f"Access token {token_id} is not active (already revoked or expired).")
                return _see_other(tokens_url)
            self.log_change(request, vendor, f"Revoked access token {token.pk}.")
            self.message_user(request, f"Revoked access token {token.pk} and its refresh token.", messages.SUCCESS)
            return _see_other(tokens_url)
        return self._confirm(
            request,
            vendor,
            title=f"Revoke access token {token.pk}?",
            consequences=[
                f"Issued {_local(token.created)}, expires {_local(token.expires)}, scope “{token.scope}”.",
                "It and the refresh token issued with it stop working immediately.",
            ],
            button="Yes, revoke",
            danger=True,
        )
