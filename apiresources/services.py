"""Business actions on brands and campaigns; the viewsets call these after their serializers have validated input."""

from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import RestrictedError

from charp.http.errors import Conflict
from vendors.models import Vendor

from .models import Brand, Campaign


def _duplicate_name(name: str) -> ValidationError:
    return ValidationError({"name": f"You already have a brand named '{name}'."})


def brand_create(*, vendor: Vendor, name: str, website: str = "", description: str = "") -> Brand:
    try:
        with transaction.atomic():
            return Brand.objects.create(vendor=vendor, name=name, website=website, description=description)
    except IntegrityError:
        # The serializer checked first; this is the race of two creates with one name.
        raise _duplicate_name(name) from None


def brand_update(*, brand: Brand, **changes: str) -> Brand:
    for field, value in changes.items():
        setattr(brand, field, value)
    try:
        with transaction.atomic():
            brand.save()
    except IntegrityError:
        raise _duplicate_name(brand.name) from None
    return brand


def brand_delete(*, brand: Brand) -> None:
    """Delete a brand; refused with 409 while campaigns still belong to it."""
    count = brand.campaigns.count()
    if count:
        raise Conflict(_in_use_message(brand, count))
    try:
        with transaction.atomic():
            brand.delete()
    except (RestrictedError, IntegrityError):
        # A campaign was attached between the count and the delete.
        raise Conflict(_in_use_message(brand, brand.campaigns.count())) from None


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
    return Campaign.objects.create(
        vendor=vendor,
        brand=brand,
        name=name,
        objective=objective,
        status=status,
        budget=budget,
        currency=currency,
        start_date=start_date,
        end_date=end_date,
    )


def campaign_update(*, campaign: Campaign, **changes) -> Campaign:
    """Apply validated changes; the status moves only along Campaign.TRANSITIONS."""
    status = changes.get("status", campaign.status)
    if not campaign.can_move_to(status):
        raise ValidationError({"status": transition_error(campaign.status, status)})
    brand = changes.get("brand", campaign.brand)
    if brand.vendor_id != campaign.vendor_id:
        raise ValidationError({"brand": "No such brand among yours."})
    for field, value in changes.items():
        setattr(campaign, field, value)
    campaign.save()
    return campaign


def campaign_delete(*, campaign: Campaign) -> None:
    campaign.delete()


def transition_error(current: str, requested: str) -> str:
    allowed = Campaign.TRANSITIONS[current]
    if not allowed:
        return f"A {current} campaign cannot change status; it is final. Create a new campaign instead."
    options = " or ".join(f"'{status}'" for status in allowed)
    return f"A campaign cannot go from '{current}' to '{requested}'; from '{current}' it can move to {options}."
