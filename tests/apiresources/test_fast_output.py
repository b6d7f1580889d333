"""The serializers' fast output path gives exactly what DRF's generic to_representation gives."""

from datetime import date
from decimal import Decimal

import pytest
from rest_framework import serializers

from apiresources.models import Brand, Campaign
from apiresources.serializers import BrandSerializer, CampaignSerializer

pytestmark = pytest.mark.django_db


def drf_output(serializer_class, instance) -> dict:
    return serializers.Serializer.to_representation(serializer_class(), instance)


def test_brand_output_is_identical(free_vendor):
    brand = Brand.objects.create(vendor=free_vendor.vendor, name="Acme", website="https://acme.example")
    brand.refresh_from_db()

    assert BrandSerializer(brand).data == drf_output(BrandSerializer, brand)
    assert BrandSerializer(brand).data["created_at"].endswith("Z")


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {
            "budget": Decimal("1234.5"),
            "start_date": date(2026, 1, 1),
            "end_date": date(2026, 2, 1),
            "objective": "sales",
        },
        {"budget": Decimal("0"), "currency": "EUR", "status": "active"},
    ],
)
def test_campaign_output_is_identical(standard_vendor, fields):
    brand = Brand.objects.create(vendor=standard_vendor.vendor, name="Acme")
    campaign = Campaign.objects.create(vendor=standard_vendor.vendor, brand=brand, name="Spring", **fields)
    campaign.refresh_from_db()

    fast = CampaignSerializer(campaign).data
    assert fast == drf_output(CampaignSerializer, campaign)
    assert list(fast) == list(drf_output(CampaignSerializer, campaign))
