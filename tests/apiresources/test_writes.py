"""Brand and campaign writes are one statement each (apiresources/services.py): the database's constraints answer
duplicates and brands in use, and a row deleted meanwhile is never written back."""

from datetime import date
from decimal import Decimal

import pytest
from django.utils import timezone

from apiresources import services
from apiresources.models import Brand, Campaign

# Outside a test transaction, as a request runs: in autocommit, where each write is its own transaction.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client(as_vendor, enterprise_vendor):
    authed = as_vendor(enterprise_vendor)
    assert authed.get("/brands").status_code == 200  # the token now in this worker's copy
    return authed


@pytest.fixture
def brand(enterprise_vendor):
    return Brand.objects.create(vendor=enterprise_vendor.vendor, name="Acme")


def test_brand_writes_cost_one_statement_after_the_read(client, brand, django_assert_num_queries):
    with django_assert_num_queries(1):  # INSERT … RETURNING
        created = client.post("/brands", {"name": "Globex"}, format="json")
    assert created.status_code == 201
    with django_assert_num_queries(1):  # the same INSERT, refused by the unique constraint
        duplicate = client.post("/brands", {"name": "Globex"}, format="json")
    assert duplicate.status_code == 400
    assert duplicate.json()["fields"] == {"name": "You already have a brand named 'Globex'."}
    with django_assert_num_queries(2):  # the brand, then UPDATE of the columns sent
        assert client.patch(f"/brands/{brand.pk}", {"description": "Rockets"}, format="json").status_code == 200
    with django_assert_num_queries(2):
        renamed = client.patch(f"/brands/{brand.pk}", {"name": "Globex"}, format="json")
    assert renamed.status_code == 400 and "Globex" in renamed.json()["fields"]["name"]
    with django_assert_num_queries(2):  # the brand, then a DELETE that finds no campaign of it
        assert client.delete(f"/brands/{brand.pk}").status_code == 204
    assert not Brand.objects.filter(pk=brand.pk).exists()
    assert client.get(f"/brands/{brand.pk}").status_code == 404


def test_campaign_writes_cost_two_statements(client, brand, django_assert_num_queries):
    with django_assert_num_queries(2):  # the brand, checked to be the caller's, then INSERT
        created = client.post("/campaigns", {"name": "Launch", "brand": brand.pk}, format="json")
    assert created.status_code == 201
    path = f"/campaigns/{created.json()['id']}"
    with django_assert_num_queries(2):
        assert client.patch(path, {"status": "active"}, format="json").json()["status"] == "active"
    with django_assert_num_queries(2):
        assert client.delete(path).status_code == 204
    assert not Campaign.objects.exists()


def _row(model, pk) -> dict:
    """Every column of a stored row but the ones two creates cannot share: the id, the name, the timestamps."""
    values = model.objects.filter(pk=pk).values().get()
    return {key: value for key, value in values.items() if key not in ("id", "name", "created_at", "updated_at")}


def test_a_create_writes_the_row_save_would(brand, enterprise_vendor):
    """The creates' one INSERT (CachedModel.insert) stores what Model.save() stores, timestamps set as save() sets
    them, with its id read back."""
    vendor = enterprise_vendor.vendor
    before = timezone.now()
    inserted = services.brand_create(vendor=vendor, name="Globex", website="https://globex.example", description="x")
    saved = Brand.objects.create(vendor=vendor, name="Saved", website="https://globex.example", description="x")
    assert inserted.pk and not inserted._state.adding
    assert _row(Brand, inserted.pk) == _row(Brand, saved.pk)
    stored = Brand.objects.get(pk=inserted.pk)
    assert (stored.created_at, stored.updated_at) == (inserted.created_at, inserted.updated_at)
    assert before <= stored.created_at <= stored.updated_at <= timezone.now()

    fields = {"objective": "sales", "status": "active", "budget": Decimal("1234.50"), "currency": "EUR"}
    dates = {"start_date": date(2027, 1, 1), "end_date": date(2027, 2, 1)}
    inserted = services.campaign_create(vendor=vendor, brand=brand, name="Launch", **fields, **dates)
    saved = Campaign.objects.create(vendor=vendor, brand=brand, name="Saved", **fields, **dates)
    assert _row(Campaign, inserted.pk) == _row(Campaign, saved.pk)
    assert Campaign.objects.get(pk=inserted.pk).updated_at == inserted.updated_at


def test_a_brand_with_campaigns_is_not_deleted(client, brand, enterprise_vendor):
    Campaign.objects.create(vendor=enterprise_vendor.vendor, brand=brand, name="Launch")
    refused = client.delete(f"/brands/{brand.pk}")
    assert refused.status_code == 409 and "still has 1 campaign" in refused.json()["error_description"]
    assert Brand.objects.filter(pk=brand.pk).exists()


def test_a_brand_deleted_meanwhile_is_not_written_back(brand):
    stale = Brand.objects.get(pk=brand.pk)
    Brand.objects.filter(pk=brand.pk).delete()
    with pytest.raises(services.NotFound):
        services.brand_update(brand=stale, name="Phoenix")
    assert not Brand.objects.exists()
    with pytest.raises(services.NotFound):
        services.brand_delete(brand=stale)


def test_a_campaign_deleted_meanwhile_is_not_written_back(brand, enterprise_vendor):
    campaign = Campaign.objects.create(vendor=enterprise_vendor.vendor, brand=brand, name="Launch")
    Campaign.objects.filter(pk=campaign.pk).delete()
    with pytest.raises(services.NotFound):
        services.campaign_update(campaign=campaign, name="Relaunch")
    assert not Campaign.objects.exists()


def test_a_campaign_for_a_brand_deleted_meanwhile_is_a_validation_error(brand, enterprise_vendor):
    Brand.objects.filter(pk=brand.pk).delete()
    with pytest.raises(services.ValidationError) as refused:
        services.campaign_create(vendor=enterprise_vendor.vendor, brand=brand, name="Launch")
    assert "deleted meanwhile" in str(refused.value)
    assert not Campaign.objects.exists()


def test_a_deleted_brand_is_gone_from_the_cached_list(client, brand):
    assert [b["id"] for b in client.get("/brands").json()["results"]] == [brand.pk]
    assert client.delete(f"/brands/{brand.pk}").status_code == 204
    assert client.get("/brands").json()["results"] == []
