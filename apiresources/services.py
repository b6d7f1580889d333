"""Business actions on brands and campaigns; the viewsets call these after their serializers have validated input.

Each write is one statement: the database's constraints answer what a read before it would have asked (a duplicate
name, a brand still in use), which also settles the race of two requests that both read first.
"""

import contextlib
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from rest_framework.exceptions import APIException, NotFound

from charp.http.errors import Conflict, PreconditionFailed
from vendors.models import Vendor, rows_changed

from .models import Brand, Campaign, IdempotencyKey


def _one_statement():
    """Where a statement that a constraint refuses must not end the enclosing transaction: inside one, a savepoint;
    in autocommit (a request) nothing, as the statement is its own transaction and atomic() would add a BEGIN and a
    COMMIT round trip."""
    return transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()


def _save(instance: Brand | Campaign, changed, if_updated_at: datetime | None = None) -> None:
    """UPDATE the changed columns only, as save(update_fields=...) would, and only while the row is still there and,
    with `if_updated_at`, still that version (If-Match): one statement, so of two writes of one version exactly one
    wins. A row deleted meanwhile is a 404, never inserted again (as save() would); a version gone is a 412."""
    model = type(instance)
    rows = model.objects.filter(pk=instance.pk)
    if if_updated_at is not None:
        rows = rows.filter(updated_at=if_updated_at)
    fields = [model._meta.get_field(name) for name in [*changed, "updated_at"]]
    # pre_save() is what save() reads each value through: for updated_at (auto_now) it sets the time now.
    written = rows._update([(field, None, field.pre_save(instance, False)) for field in fields])
    if not written:
        _raise_not_written(instance)
    # After the UPDATE, once, as post_save would: the private _update() announces nothing (CachedQuerySet.update()
    # would, with a query for the client IDs and a transaction of its own).
    rows_changed.send(sender=model, rows=[instance])


def _raise_not_written(instance: Brand | Campaign) -> None:
    """Why a conditional write found no row: deleted meanwhile (404), or written meanwhile (412)."""
    noun = type(instance).__name__.lower()
    if type(instance).objects.filter(pk=instance.pk).exists():
        raise PreconditionFailed()
    raise NotFound(f"This {noun} was deleted meanwhile; list your {noun}s to see what is left.")


def _duplicate_name(name: str) -> ValidationError:
    return ValidationError({"name": f"You already have a brand named '{name}'."})


def brand_create(*, vendor: Vendor, name: str, website: str = "", description: str = "") -> Brand:
    brand = Brand(vendor=vendor, name=name, website=website, description=description)
    try:
        with _one_statement():
            brand.insert()
    except IntegrityError:  # brand_name_unique_per_vendor
        raise _duplicate_name(name) from None
    return brand


def brand_update(*, brand: Brand, if_updated_at: datetime | None = None, **changes: str) -> Brand:
    """Apply validated changes; with `if_updated_at`, only to that version of the brand (else 412)."""
    for field, value in changes.items():
        setattr(brand, field, value)
    try:
        with _one_statement():
            _save(brand, changes, if_updated_at)
    except IntegrityError:
        raise _duplicate_name(brand.name) from None
    return brand


def brand_delete(*, brand: Brand, if_updated_at: datetime | None = None) -> None:
    """Delete a brand; refused with 409 while campaigns still belong to it, and with 412 if `if_updated_at` is given
    and the brand is no longer that version.

    One DELETE that finds no row while a campaign refers to the brand; the foreign key refuses it if a campaign was
    added meanwhile. Django's delete() would read the campaigns first (RESTRICT) inside its own transaction."""
    unused = Brand.objects.filter(pk=brand.pk).exclude(Exists(Campaign.objects.filter(brand=OuterRef("pk"))))
    if if_updated_at is not None:
        unused = unused.filter(updated_at=if_updated_at)
    try:
        with _one_statement():
            deleted = unused._raw_delete(unused.db)
    except IntegrityError:
        deleted = 0
    if not deleted:
        if if_updated_at is not None and not Brand.objects.filter(pk=brand.pk, updated_at=if_updated_at).exists():
            _raise_not_written(brand)
        count = brand.campaigns.count()
        if not count:
            raise NotFound("This brand was deleted meanwhile; list your brands to see what is left.")
        raise Conflict(_in_use_message(brand, count))
    # After the DELETE: in autocommit the bump goes out at once, and must not precede it (vendors/caching/versions.py).
    rows_changed.send(sender=Brand, rows=[brand])


def _in_use_message(brand: Brand, count: int) -> str:
    noun = "campaign" if count == 1 else "campaigns"
    return (
        f"The brand '{brand.name}' still has {count} {noun}. "
        "Delete them or move them to another brand first, then delete the brand."
    )


def campaign_create(
    *,
    vendor: Vendor,
    brand: Brand,
    name: str,
    objective: str = "",
    status: str = Campaign.Status.DRAFT,
    budget: Decimal | None = None,
    currency: str = "USD",
    start_date: date | None = None,
    end_date: date | None = None,
) -> Campaign:
    if brand.vendor_id != vendor.pk:
        raise ValidationError({"brand": "No such brand among yours."})
    fields = {"name": name, "objective": objective, "status": status, "budget": budget, "currency": currency}
    campaign = Campaign(vendor=vendor, brand=brand, start_date=start_date, end_date=end_date, **fields)
    try:
        with _one_statement():
            campaign.insert()
    except IntegrityError:  # the serializer checked the other constraints: the brand was deleted meanwhile
        raise _brand_gone() from None
    return campaign


def _brand_gone() -> ValidationError:
    return ValidationError({"brand": "This brand was deleted meanwhile; list your brands and pick another."})


def campaign_update(*, campaign: Campaign, if_updated_at: datetime | None = None, **changes) -> Campaign:
    """Apply validated changes; the status moves only along Campaign.TRANSITIONS; with `if_updated_at`, only to that
    version of the campaign (else 412)."""
    status = changes.get("status", campaign.status)
    if not campaign.can_move_to(status):
        raise ValidationError({"status": transition_error(campaign.status, status)})
    if "brand" in changes and changes["brand"].vendor_id != campaign.vendor_id:
        raise ValidationError({"brand": "No such brand among yours."})
    for field, value in changes.items():
        setattr(campaign, field, value)
    try:
        with _one_statement():
            _save(campaign, changes, if_updated_at)
    except IntegrityError:
        raise _brand_gone() from None
    return campaign


def campaign_delete(*, campaign: Campaign, if_updated_at: datetime | None = None) -> None:
    """Delete a campaign; with `if_updated_at`, only that version of it (else 412), in the same one DELETE."""
    if if_updated_at is None:
        campaign.delete()
        return
    rows = Campaign.objects.filter(pk=campaign.pk, updated_at=if_updated_at)
    if not rows._raw_delete(rows.db):
        _raise_not_written(campaign)
    # After the DELETE, as CachedModel.delete() announces it.
    rows_changed.send(sender=Campaign, rows=[campaign])


def transition_error(current: str, requested: str) -> str:
    allowed = Campaign.TRANSITIONS[current]
    if not allowed:
        return f"A {current} campaign cannot change status; it is final. Create a new campaign instead."
    options = " or ".join(f"'{status}'" for status in allowed)
    return f"A campaign cannot go from '{current}' to '{requested}'; from '{current}' it can move to {options}."


# --- Idempotency keys ---------------------------------------------------------------------------------------------
# A claim still unfinished after this long belongs to a request that will never finish (its worker was killed: the
# gunicorn timeout is 30 s), and a retry may take it over.
CLAIM_TIMEOUT = timedelta(seconds=60)


class InvalidIdempotencyKey(APIException):
    status_code = 400
    default_code = "invalid_idempotency_key"
    default_detail = (
        "The Idempotency-Key header must be 1 to 255 printable ASCII characters. Send a new unique value (a UUID, "
        "say) with each new request, and the same value only to retry it."
    )


class IdempotencyKeyInUse(APIException):
    status_code = 409
    default_code = "idempotency_key_in_use"
    default_detail = (
        "A request with this Idempotency-Key is still being processed. Retry after the first request finishes."
    )


class IdempotencyKeyReused(APIException):
    status_code = 422
    default_code = "idempotency_key_reused"


def reused_message() -> str:
    return (
        f"This Idempotency-Key was already used in the last {settings.IDEMPOTENCY_KEY_HOURS} hours with another "
        "method, path or body. Send a new key with each new request; reuse a key only to retry the same request."
    )


def idempotency_key_claim(*, vendor: Vendor, key: str, method: str, path: str, body_sha256: str) -> IdempotencyKey:
    """The vendor's row for `key`: a new claim (its `status` is None) that this request now runs under, or the
    finished row of the same request, whose response answers this retry.

    Raises IdempotencyKeyReused when the key came with another request, IdempotencyKeyInUse while the first request
    still runs. The INSERT comes first, so that the unique constraint, not a read, decides which of two concurrent
    requests runs.
    """
    now = timezone.now()
    claim = {
        "method": method,
        "path": path,
        "body_sha256": body_sha256,
        "claimed_at": now,
        "expires_at": now + timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS),
        "status": None,
        "content_type": "",
        "location": "",
        "body": b"",
    }
    for _ in range(3):  # a row released or taken over between our INSERT and our read: look again
        try:
            with _one_statement():
                return IdempotencyKey.objects.create(vendor=vendor, key=key, **claim)
        except IntegrityError:  # idempotency_key_unique_per_vendor: the key is known
            pass
        row = IdempotencyKey.objects.filter(vendor=vendor, key=key).first()
        if row is None:
            continue
        expired = row.expires_at <= now
        if not expired and (row.method, row.path, row.body_sha256) != (method, path, body_sha256):
            raise IdempotencyKeyReused(reused_message())
        if not expired and row.status is None and row.claimed_at > now - CLAIM_TIMEOUT:
            raise IdempotencyKeyInUse()
        if not expired and row.status is not None:
            return row
        # Expired, or abandoned: take it over, unless another retry did since we read it (claimed_at tells).
        if IdempotencyKey.objects.filter(pk=row.pk, claimed_at=row.claimed_at).update(**claim):
            for name, value in claim.items():
                setattr(row, name, value)
            return row
    raise IdempotencyKeyInUse()


def _held(claim: IdempotencyKey) -> QuerySet:
    """The claim's row while this request still holds it (not taken over as abandoned meanwhile)."""
    return IdempotencyKey.objects.filter(pk=claim.pk, claimed_at=claim.claimed_at, status__isnull=True)


def idempotency_key_finish(
    *, claim: IdempotencyKey, status: int, content_type: str, location: str, body: bytes
) -> bool:
    """Keep the response of the request run under `claim`, for its retries; False if the claim was lost."""
    return bool(_held(claim).update(status=status, content_type=content_type, location=location, body=body))


def idempotency_key_release(*, claim: IdempotencyKey) -> None:
    """Forget `claim`, so that a retry with its key runs again (the request failed without an answer to keep)."""
    _held(claim).delete()


def idempotency_keys_expired(now: datetime) -> QuerySet:
    """The idempotency keys past their expiry at `now`, which `manage.py prune` deletes."""
    return IdempotencyKey.objects.filter(expires_at__lte=now)
