"""Reads of brands and campaigns, always scoped to one vendor."""

from django.db.models import QuerySet

from vendors.models import Vendor

from .models import Brand, Campaign


def brand_list(*, vendor: Vendor) -> QuerySet[Brand]:
    return Brand.objects.filter(vendor=vendor)


def campaign_list(*, vendor: Vendor, brand_id: int | None = None, status: str | None = None) -> QuerySet[Campaign]:
    campaigns = Campaign.objects.filter(vendor=vendor)
    if brand_id is not None:
        campaigns = campaigns.filter(brand_id=brand_id)
    if status is not None:
        campaigns = campaigns.filter(status=status)
    return campaigns
