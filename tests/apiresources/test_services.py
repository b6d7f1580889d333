"""The brand and campaign services enforce their rules themselves, whoever calls them."""

import pytest
from django.core.exceptions import ValidationError

from apiresources import services
from apiresources.models import Brand, Campaign
from charp.http.errors import Conflict


@pytest.fixture
def vendor(standard_vendor):
    return standard_vendor.vendor


def test_brand_create_turns_the_unique_name_race_into_a_field_error(vendor):
    services.brand_create(vendor=vendor, name="Acme")
    with pytest.raises(ValidationError) as error:
        services.brand_create(vendor=vendor, name="Acme")
    assert error.value.message_dict == {"name": ["You already have a brand named 'Acme'."]}
    assert Brand.objects.count() == 1


def test_brand_update_onto_a_taken_name_is_a_field_error(vendor):
    services.brand_create(vendor=vendor, name="Acme")
    other = services.brand_create(vendor=vendor, name="Globex")
    with pytest.raises(ValidationError):
        services.brand_update(brand=other, name="Acme")
    assert Brand.objects.get(pk=other.pk).name == "Globex"


def test_brand_delete_refuses_a_brand_with_campaigns(vendor):
    brand = services.brand_create(vendor=vendor, name="Acme")
    services.campaign_create(vendor=vendor, brand=brand, name="One")
    services.campaign_create(vendor=vendor, brand=brand, name="Two")
    with pytest.raises(Conflict) as error:
        services.brand_delete(brand=brand)
    assert "still has 2 campaigns" in str(error.value.detail)
    assert Brand.objects.filter(pk=brand.pk).exists()


def test_campaign_services_refuse_another_vendors_brand(vendor, make_vendor):
    theirs = services.brand_create(vendor=make_vendor("standard").vendor, name="Theirs")
    with pytest.raises(ValidationError):
        services.campaign_create(vendor=vendor, brand=theirs, name="Sneaky")
    mine = services.campaign_create(vendor=vendor, brand=services.brand_create(vendor=vendor, name="Mine"), name="C")
    with pytest.raises(ValidationError):
        services.campaign_update(campaign=mine, brand=theirs)
    assert not Campaign.objects.filter(brand=theirs).exists()


def test_campaign_update_refuses_an_illegal_status_move(vendor):
    brand = services.brand_create(vendor=vendor, name="Acme")
    campaign = services.campaign_create(vendor=vendor, brand=brand, name="C", status="completed")
    with pytest.raises(ValidationError) as error:
        services.campaign_update(campaign=campaign, status="active")
    assert "final" in error.value.message_dict["status"][0]
    assert Campaign.objects.get(pk=campaign.pk).status == "completed"


def test_deleting_a_vendor_takes_its_brands_and_campaigns_with_it(vendor):
    brand = services.brand_create(vendor=vendor, name="Acme")
    services.campaign_create(vendor=vendor, brand=brand, name="C")
    # RESTRICT (not PROTECT) on Campaign.brand lets the cascade from the vendor through.
    vendor.delete()
    assert not Brand.objects.exists() and not Campaign.objects.exists()
