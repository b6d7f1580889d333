"""Business actions on brands and campaigns; the viewsets call these after their serializers have validated input.

Each write is one statement: the database's constraints answer what a read before it would have asked (a duplicate
name, a brand still in use), which also settles the race of two requests that both read first.
"""

import contextlib
from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef
from rest_framework.exceptions import NotFound

from charp.http.errors import Conflict
from vendors.models import Vendor, rows_changed

from .models import Brand, Campaign


def _one_statement():
    """Where a statement that a constraint refuses must not end the enclosing transaction: inside one, a savepoint;
    in autocommit (a request) nothing, as the statement is its own transaction and atomic() would add a BEGIN and a
    COMMIT round trip."""
    return transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()


def _save(instance: Brand | Campaign, changed) -> None:
    """UPDATE the changed columns only; a row deleted meanwhile is a 404, never inserted again (as save() would)."""
    try:
        instance.save(update_fields=[*changed, "updated_at"])
    except DatabaseError as error:
        if type(error) is not DatabaseError:  # Django's own "did not affect any rows" is the bare class
            raise
        noun = type(instance).__name__.lower()
        raise NotFound(f"This {noun} was deleted meanwhile; list your {noun}s to see what is left.") from None


def _duplicate_name(name: str) -> ValidationError:
    return ValidationError({"name": f"You already have a brand named '{name}'."})


def brand_create(*, vendor: Vendor, name: str, website: str = "", description: str = "") -> Brand:
    try:
        with _one_statement():
            return Brand.objects.create(vendor=vendor, name=name, website=website, description=description)
    except IntegrityError:  # brand_name_unique_per_vendor
        raise _duplicate_name(name) from None


def brand_update(*, brand: Brand, **changes: str) -> Brand:
    for field, value in changes.items():
        setattr(brand, field, value)
    try:
        with _one_statement():
            _save(brand, changes)
    except IntegrityError:
        raise _duplicate_name(brand.name) from None
    return brand


def brand_delete(*, brand: Brand) -> None:
    """Delete a brand; refused with 409 while campaigns still belong to it.

    One DELETE that finds no row while a campaign refers to the brand; the foreign key refuses it if a campaign was
    added meanwhile. Django's delete() would read the campaigns first (RESTRICT) inside its own transaction."""
    unused = Brand.objects.filter(pk=brand.pk).exclude(Exists(Campaign.objects.filter(brand=OuterRef("pk"))))
    try:
        with _one_statement():
            deleted = unused._raw_delete(unused.db)
    except IntegrityError:
        deleted = 0
    if not deleted:
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
    try:
        with _one_statement():
            return Campaign.objects.create(
                vendor=vendor, brand=brand, start_date=start_date, end_date=end_date, **fields
            )
    except IntegrityError:  # the serializer checked the other constraints: the brand was deleted meanwhile
        raise _brand_gone() from None


def _brand_gone() -> ValidationError:
    return ValidationError({"brand": "This brand was deleted meanwhile; list your brands and pick another."})


def campaign_update(*, campaign: Campaign, **changes) -> Campaign:
    """Apply validated changes; the status moves only along Campaign.TRANSITIONS."""
    status = changes.get("status", campaign.status)
    if not campaign.can_move_to(status):
        raise ValidationError({"status": transition_error(campaign.status, status)})
    if "brand" in changes and changes["brand"].vendor_id != campaign.vendor_id:
        raise ValidationError({"brand": "No such brand among yours."})
    for field, value in changes.items():
        setattr(campaign, field, value)
    try:
        with _one_statement():
            _save(campaign, changes)
    except IntegrityError:
        raise _brand_gone() from None
    return campaign


def campaign_delete(*, campaign: Campaign) -> None:
    campaign.delete()


def transition_error(current: str, requested: str) -> str:
    allowed = Campaign.TRANSITIONS[current]
    if not allowed:
        return f"A {current} campaign cannot change status; it is final. Create a new campaign instead."
    options = " or ".join(f"'{status}'" for status in allowed)
    return f"A campaign cannot go from '{current}' to '{requested}'; from '{current}' it can move to {options}."
