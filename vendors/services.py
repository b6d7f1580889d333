"""Business actions on vendors. The admin, the management commands and the tests all call these."""

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application, RefreshToken

from vendors.caching import versions
from vendors.models import AuditEvent, Plan, RequestLogEntry, UsageDay, Vendor
from vendors.oauth.client_secrets import hash_secret, new_secret

DEFAULT_GRACE = timedelta(hours=24)
COMMAND_LINE = "command line"


@dataclass(frozen=True)
class IssuedSecret:
    """A freshly issued secret: the only moment its clear value exists."""

    vendor: Vendor
    client_secret: str
    previous_secret_expires_at: datetime | None = None


class StaleAction(ValidationError):
    """A confirmed action whose page showed the vendor in a state it is no longer in: refused, not repeated.

    Every confirmation form carries the `updated_at` it was rendered for (`version`); every staff action saves the
    vendor's row, so a re-sent POST, a double click or a stale second tab finds a newer value under the row lock and
    does nothing. The first of two identical requests wins; the second changes nothing and audits nothing.
    """


NAME_TAKEN = "A vendor named “{name}” already exists (names are compared ignoring case). Choose another name."


def vendor_version(vendor: Vendor) -> str:
    """The value a confirmation form carries to prove which state of the vendor it was shown for."""
    return vendor.updated_at.isoformat()


def _check_version(vendor: Vendor, version: str | None) -> None:
    # None: a caller that confirms nothing (the commands, the tests' direct calls).
    if version is not None and version != vendor_version(vendor):
        raise StaleAction(
            f"{vendor} changed after this page was shown (another tab, a second click or a resent form), "
            "so nothing was done. Check the vendor and try again if it is still needed."
        )


def name_taken(name: str, *, exclude_pk: int | None = None) -> bool:
    others = Vendor.objects.filter(name__iexact=name.strip())
    if exclude_pk is not None:
        others = others.exclude(pk=exclude_pk)
    return others.exists()


def _audit(*, vendor: Vendor, actor: AbstractBaseUser | None, action: str, changes: dict | None = None) -> None:
    AuditEvent.objects.create(
        vendor=vendor,
        vendor_name=vendor.name,
        actor=actor,
        actor_label=actor.get_username() if actor else COMMAND_LINE,
        action=action,
        changes=changes or {},
    )


def plan_get(*, code: str) -> Plan:
    try:
        return Plan.objects.get(code=code)
    except Plan.DoesNotExist:
        codes = ", ".join(Plan.objects.values_list("code", flat=True))
        raise ValidationError(f"Unknown plan '{code}'. Choose one of: {codes}.") from None


def vendor_get(*, client_id: str) -> Vendor:
    try:
        return Vendor.objects.select_related("plan", "application").get(application__client_id=client_id)
    except Vendor.DoesNotExist:
        raise ValidationError(f"No vendor has the client ID '{client_id}'.") from None


def vendor_create(
    *, name: str, plan: Plan, contact_email: str = "", actor: AbstractBaseUser | None = None
) -> IssuedSecret:
    """Register a vendor with a service user and confidential client-credentials OAuth client.

    A name already taken (ignoring case) is refused: a resent "add vendor" form never creates a second vendor.
    """
    name = name.strip()
    if not name or len(name) > 200:
        raise ValidationError("A vendor name is required (at most 200 characters).")
    if contact_email:
        validate_email(contact_email)
    if name_taken(name):
        raise ValidationError(NAME_TAKEN.format(name=name), code="name_taken")
    try:
        return _vendor_create(name=name, plan=plan, contact_email=contact_email, actor=actor)
    except IntegrityError:
        # Two simultaneous requests with the same name: the unique constraint lets one in.
        if name_taken(name):
            raise ValidationError(NAME_TAKEN.format(name=name), code="name_taken") from None
        raise


@transaction.atomic
def _vendor_create(*, name: str, plan: Plan, contact_email: str, actor: AbstractBaseUser | None) -> IssuedSecret:
    secret = new_secret()
    application = Application(
        name=name,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret=hash_secret(secret),
        hash_client_secret=True,
    )
    user = get_user_model().objects.create_user(username=f"vendor-{application.client_id}"[:150])
    application.user = user
    application.save()
    vendor = Vendor.objects.create(
        name=name, contact_email=contact_email, plan=plan, application=application, user=user
    )
    _audit(
        vendor=vendor,
        actor=actor,
        action=AuditEvent.Action.CREATE,
        changes={"plan": plan.code, "client_id": application.client_id},
    )
    return IssuedSecret(vendor=vendor, client_secret=secret)


@transaction.atomic
def vendor_secret_rotate(
    *,
    vendor: Vendor,
    grace: timedelta = DEFAULT_GRACE,
    revoke_tokens: bool = False,
    actor: AbstractBaseUser | None = None,
    version: str | None = None,
) -> IssuedSecret:
    """Issue a new secret; the current one keeps working for `grace`, and any older grace ends now.

    Without a grace period the old secret is treated as leaked: every token issued before the rotation ends with it.
    """
    if grace < timedelta(0):
        raise ValidationError("The grace period cannot be negative.")
    vendor = _locked(vendor)
    _check_version(vendor, version)
    application = vendor.application
    secret = new_secret()
    if grace:
        vendor.previous_secret_hash = application.client_secret
        vendor.previous_secret_expires_at = timezone.now() + grace
        # The current secret's last use moves with it (counts still pending in a worker follow its hash there too).
        vendor.previous_secret_last_used_at = vendor.secret_last_used_at
    else:
        vendor.previous_secret_hash = ""
        vendor.previous_secret_expires_at = None
        vendor.previous_secret_last_used_at = None
        revoke_tokens = True
    vendor.secret_last_used_at = None
    application.client_secret = hash_secret(secret)
    application.save(update_fields=["client_secret", "updated"])
    vendor.save(
        update_fields=[
            "previous_secret_hash",
            "previous_secret_expires_at",
            "secret_last_used_at",
            "previous_secret_last_used_at",
            "updated_at",
        ]
    )
    changes = {"grace_seconds": int(grace.total_seconds()), "revoke_tokens": revoke_tokens}
    _audit(vendor=vendor, actor=actor, action=AuditEvent.Action.ROTATE_SECRET, changes=changes)
    if revoke_tokens:
        _end_every_token(vendor=vendor, actor=actor)
    return IssuedSecret(
        vendor=vendor, client_secret=secret, previous_secret_expires_at=vendor.previous_secret_expires_at
    )


@transaction.atomic
def vendor_update(
    *, vendor: Vendor, name: str, contact_email: str = "", actor: AbstractBaseUser | None = None
) -> Vendor:
    """Change a vendor's name or contact email; the OAuth client's name follows the vendor's."""
    name = name.strip()
    if not name or len(name) > 200:
        raise ValidationError("A vendor name is required (at most 200 characters).")
    if contact_email:
        validate_email(contact_email)
    # Compare with the stored row, not the caller's instance, which a form may already have modified.
    vendor = Vendor.objects.select_for_update().select_related("application").get(pk=vendor.pk)
    if name.lower() != vendor.name.lower() and name_taken(name, exclude_pk=vendor.pk):
        raise ValidationError(NAME_TAKEN.format(name=name), code="name_taken")
    changes = {
        field: [getattr(vendor, field), value]
        for field, value in (("name", name), ("contact_email", contact_email))
        if getattr(vendor, field) != value
    }
    if not changes:
        return vendor
    vendor.name, vendor.contact_email = name, contact_email
    vendor.save(update_fields=["name", "contact_email", "updated_at"])
    if "name" in changes:
        vendor.application.name = name
        vendor.application.save(update_fields=["name", "updated"])
    _audit(vendor=vendor, actor=actor, action=AuditEvent.Action.UPDATE, changes=changes)
    return vendor


@transaction.atomic
def vendor_plan_set(
    *, vendor: Vendor, plan: Plan, actor: AbstractBaseUser | None = None, version: str | None = None
) -> Vendor:
    """Move a vendor to another plan; it applies to tokens already issued, on their next request."""
    vendor = _locked(vendor)
    _check_version(vendor, version)
    previous = vendor.plan
    if previous.pk == plan.pk:
        return vendor
    vendor.plan = plan
    vendor.save(update_fields=["plan", "updated_at"])
    _audit(
        vendor=vendor,
        actor=actor,
        action=AuditEvent.Action.CHANGE_PLAN,
        changes={"from": previous.code, "to": plan.code},
    )
    return vendor


MAX_ALLOWED_CIDRS = 100


def normalized_cidrs(entries: Iterable[str]) -> list[str]:
    """The CIDR ranges of an allow-list as stored: each IPv4 or IPv6 range normalized (a single address becomes a /32
    or /128, host bits are cleared), blanks and repeats dropped, the order kept; a ValidationError names a bad one."""
    cidrs: list[str] = []
    for entry in entries:
        entry = entry.strip()
        if not entry:
            continue
        shown = entry if len(entry) <= 60 else f"{entry[:60]}…"
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ValidationError(
                f"“{shown}” is not an IPv4 or IPv6 address or CIDR range (like 203.0.113.0/24, 198.51.100.7 or "
                "2001:db8::/48).",
                code="invalid_cidr",
            ) from None
        if network.version == 6 and network.network_address.ipv4_mapped is not None:
            # Callers are compared by their IPv4 address (charp/http/client.py), which such a range never matches.
            raise ValidationError(
                f"“{shown}” is an IPv4-mapped IPv6 range: write it as IPv4 ({network.network_address.ipv4_mapped}/"
                f"{network.prefixlen - 96}).",
                code="invalid_cidr",
            )
        if str(network) not in cidrs:
            cidrs.append(str(network))
    if len(cidrs) > MAX_ALLOWED_CIDRS:
        raise ValidationError(
            f"An allow-list holds at most {MAX_ALLOWED_CIDRS} ranges ({len(cidrs)} given): merge neighbouring "
            "addresses into wider ranges.",
            code="too_many_cidrs",
        )
    return cidrs


@transaction.atomic
def vendor_allow_list_set(
    *, vendor: Vendor, cidrs: Iterable[str], actor: AbstractBaseUser | None = None, version: str | None = None
) -> Vendor:
    """Set the address ranges the vendor's credentials and tokens may be used from (empty: any address).

    It applies at once, to tokens already issued too: the save moves the vendor's auth version, so every worker reads
    the row again before it trusts a copied token or client (vendors/caching/versions.py).
    """
    cidrs = normalized_cidrs(cidrs)
    vendor = _locked(vendor)
    _check_version(vendor, version)
    previous = list(vendor.allowed_cidrs)
    if previous == cidrs:
        return vendor
    vendor.allowed_cidrs = cidrs
    vendor.save(update_fields=["allowed_cidrs", "updated_at"])
    _audit(
        vendor=vendor, actor=actor, action=AuditEvent.Action.CHANGE_ALLOW_LIST, changes={"from": previous, "to": cidrs}
    )
    return vendor


@transaction.atomic
def vendor_suspend(*, vendor: Vendor, actor: AbstractBaseUser | None = None, version: str | None = None) -> Vendor:
    """Suspend a vendor: every token dies now and no new one is issued until reactivation."""
    vendor = _locked(vendor)
    _check_version(vendor, version)
    if vendor.status == Vendor.Status.SUSPENDED:
        return vendor
    vendor.status = Vendor.Status.SUSPENDED
    vendor.save(update_fields=["status", "updated_at"])
    _audit(vendor=vendor, actor=actor, action=AuditEvent.Action.SUSPEND)
    _end_every_token(vendor=vendor, actor=actor)
    return vendor


@transaction.atomic
def vendor_reactivate(*, vendor: Vendor, actor: AbstractBaseUser | None = None, version: str | None = None) -> Vendor:
    """Let a suspended vendor authenticate again; the tokens the suspension ended stay dead."""
    vendor = _locked(vendor)
    _check_version(vendor, version)
    if vendor.status == Vendor.Status.ACTIVE:
        return vendor
    vendor.status = Vendor.Status.ACTIVE
    vendor.save(update_fields=["status", "updated_at"])
    _audit(vendor=vendor, actor=actor, action=AuditEvent.Action.REACTIVATE)
    return vendor


@transaction.atomic
def vendor_tokens_revoke(*, vendor: Vendor, actor: AbstractBaseUser | None = None, version: str | None = None) -> int:
    """Revoke every access and refresh token of a vendor; returns how many access tokens died."""
    vendor = _locked(vendor)
    _check_version(vendor, version)
    return _end_every_token(vendor=vendor, actor=actor)


def _locked(vendor: Vendor) -> Vendor:
    """The vendor's row, re-read under its lock: the lock every token issuance takes too (shared), so that staff
    actions and issuance are ordered. Only the vendor's row (`of`), never the client's, whose key a token insert
    locks for its foreign key."""
    return Vendor.objects.select_for_update(of=("self",)).select_related("application", "plan").get(pk=vendor.pk)


def _end_every_token(*, vendor: Vendor, actor: AbstractBaseUser | None) -> int:
    """End every token of a vendor that holds its row lock (`_locked`), including those being issued right now.

    Why this is final (README, "Revocation is final"): issuance writes its rows only while holding a share lock on
    the vendor's row and only if `token_generation` still has the value its request authenticated against
    (vendors/oauth/writes.py). Here the generation moves on under the exclusive lock, so an issuance either committed
    before this transaction took the lock, and its rows are visible to the statements below (each statement reads
    what is committed when it starts), or it waits for this commit, re-reads the row and writes nothing. The token
    rows are DOT's, without a column of ours, which is why the order, not a per-token mark, carries the rule.
    """
    vendor.token_generation += 1
    vendor.save(update_fields=["token_generation", "updated_at"])
    now = timezone.now()
    refreshed = RefreshToken.objects.filter(application_id=vendor.application_id, revoked__isnull=True)
    refresh_count = refreshed.update(revoked=now, updated=now)
    access_count = (
        AccessToken.objects.filter(application_id=vendor.application_id).delete()[1].get(AccessToken._meta.label, 0)
    )
    changes = {"access_tokens": access_count, "refresh_tokens": refresh_count}
    _audit(vendor=vendor, actor=actor, action=AuditEvent.Action.REVOKE_TOKENS, changes=changes)
    return access_count


@transaction.atomic
def access_token_revoke(*, vendor: Vendor, token_id: int, actor: AbstractBaseUser | None = None) -> bool:
    """Revoke one access token of a vendor (and the refresh token bound to it); False if it was no longer active.

    Under the vendor's lock, so two simultaneous confirmations revoke (and audit) it once: the second finds it gone.
    """
    vendor = _locked(vendor)
    token = AccessToken.objects.filter(pk=token_id, application_id=vendor.application_id).first()
    if token is None:
        return False
    bound = RefreshToken.objects.filter(access_token=token).first()
    if bound is not None:
        bound.revoke()
    else:
        token.revoke()
    versions.tokens_ended(vendor.client_id, [token.token_checksum])  # no receiver hears the delete
    _audit(vendor=vendor, actor=actor, action=AuditEvent.Action.REVOKE_TOKENS, changes={"access_token_id": token_id})
    return True


PLAN_FIELDS = (
    "code",
    "name",
    "includes_brands",
    "includes_campaigns",
    "includes_tools",
    "requests_per_minute",
    "monthly_quota",
    "tokens_per_hour",
)


def plan_snapshot(plan: Plan) -> dict:
    return {field: getattr(plan, field) for field in PLAN_FIELDS}


@transaction.atomic
def plan_save(*, plan: Plan, before: dict | None, actor: AbstractBaseUser | None = None) -> Plan:
    """Save a plan edited in the portal and audit it: each changed field from → to (`before` is None for a new plan).

    A plan's limits apply to every vendor on it, so its edits belong in the same log as every other staff action.
    """
    creating = plan.pk is None
    plan.save()
    after = plan_snapshot(plan)
    if creating or before is None:
        changes = {field: [None, value] for field, value in after.items()}
        action = AuditEvent.Action.CREATE_PLAN
    else:
        changes = {field: [before[field], value] for field, value in after.items() if before.get(field) != value}
        action = AuditEvent.Action.EDIT_PLAN
        if not changes:
            return plan
    AuditEvent.objects.create(
        plan=plan,
        vendor_name="",
        actor=actor,
        actor_label=actor.get_username() if actor else COMMAND_LINE,
        action=action,
        changes={"plan": plan.code, **changes},
    )
    return plan


def _delete_in_batches(queryset: models.QuerySet, *, batch_size: int) -> int:
    """Delete the rows of `queryset` by primary key, `batch_size` at a time, each batch one statement.

    One DELETE of a year of rows would hold all their locks until it commits; in autocommit each batch commits on
    its own, so locks stay brief and a purge stopped half-way keeps the batches it finished.
    """
    deleted = 0
    while True:
        batch = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not batch:
            return deleted
        count, _ = queryset.model.objects.filter(pk__in=batch).delete()
        deleted += count


def audit_events_prune(*, older_than: datetime, batch_size: int) -> int:
    """Delete the audit events recorded before `older_than`; returns how many."""
    return _delete_in_batches(AuditEvent.objects.filter(created_at__lt=older_than), batch_size=batch_size)


def usage_days_prune(*, older_than: date, batch_size: int) -> int:
    """Delete the usage counts of the days before `older_than`; returns how many."""
    return _delete_in_batches(UsageDay.objects.filter(date__lt=older_than), batch_size=batch_size)


def request_log_prune(*, older_than: datetime, batch_size: int) -> int:
    """Delete the request log entries of requests before `older_than`; returns how many."""
    return _delete_in_batches(RequestLogEntry.objects.filter(time__lt=older_than), batch_size=batch_size)


# Rows of the apps above the vendor domain that `prune` deletes once expired: each app registers a label and a
# function giving its expired rows at a moment from its AppConfig.ready(), as this module may not import them
# (docs/architecture.md). apiresources registers its idempotency keys.
EXPIRING: dict[str, Callable[[datetime], models.QuerySet]] = {}


def expired_rows_prune(*, now: datetime, batch_size: int) -> dict[str, int]:
    """Delete the registered rows past their expiry at `now`; returns how many of each label."""
    return {label: _delete_in_batches(expired(now), batch_size=batch_size) for label, expired in EXPIRING.items()}
