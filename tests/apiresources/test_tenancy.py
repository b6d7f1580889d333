"""Tenancy: every operation sees only the caller's objects; another vendor's object is a 404, never a 403."""

import pytest

from apiresources.models import Brand, Campaign


@pytest.fixture
def mine(make_vendor):
    return make_vendor("enterprise", name="Mine Inc")


@pytest.fixture
def theirs(make_vendor):
    return make_vendor("enterprise", name="Theirs Inc")


@pytest.fixture
def client(as_vendor, mine):
    return as_vendor(mine)


@pytest.fixture
def their_brand(theirs):
    return Brand.objects.create(vendor=theirs.vendor, name="Their brand", description="theirs")


@pytest.fixture
def their_campaign(their_brand):
    return Campaign.objects.create(vendor=their_brand.vendor, brand=their_brand, name="Their campaign")


@pytest.fixture
def my_brand(mine):
    return Brand.objects.create(vendor=mine.vendor, name="My brand")


OPERATIONS = [
    ("get", None),
    ("put", {"name": "Hijacked"}),
    ("patch", {"name": "Hijacked"}),
    ("delete", None),
]


@pytest.mark.parametrize(("method", "body"), OPERATIONS)
def test_another_vendors_brand_is_not_found_for_every_operation(client, their_brand, method, body):
    response = getattr(client, method)(f"/brands/{their_brand.pk}", body, format="json")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "error_description": "Not found."}
    their_brand.refresh_from_db()
    assert their_brand.name == "Their brand"


@pytest.mark.parametrize(("method", "body"), OPERATIONS)
def test_another_vendors_campaign_is_not_found_for_every_operation(client, their_campaign, my_brand, method, body):
    if body:
        body = {**body, "brand": my_brand.pk}
    response = getattr(client, method)(f"/campaigns/{their_campaign.pk}", body, format="json")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    their_campaign.refresh_from_db()
    assert (their_campaign.name, their_campaign.brand_id) == ("Their campaign", their_campaign.brand_id)


def test_lists_show_only_the_callers_objects(client, their_campaign, my_brand):
    mine = Campaign.objects.create(vendor=my_brand.vendor, brand=my_brand, name="Mine")
    assert [item["id"] for item in client.get("/brands").json()["results"]] == [my_brand.pk]
    assert [item["id"] for item in client.get("/campaigns").json()["results"]] == [mine.pk]
    assert client.get(f"/campaigns?brand={their_campaign.brand_id}").json()["results"] == []


def test_a_campaign_cannot_reference_another_vendors_brand(client, their_brand, my_brand):
    response = client.post("/campaigns", {"brand": their_brand.pk, "name": "Sneaky"}, format="json")
    assert response.status_code == 400
    assert response.json()["fields"]["brand"] == f"You have no brand with id {their_brand.pk}."
    assert not Campaign.objects.filter(name="Sneaky").exists()


def test_a_campaign_cannot_be_moved_to_another_vendors_brand(client, their_brand, my_brand):
    campaign = Campaign.objects.create(vendor=my_brand.vendor, brand=my_brand, name="Mine")
    for method in ("patch", "put"):
        response = getattr(client, method)(
            f"/campaigns/{campaign.pk}", {"brand": their_brand.pk, "name": "Mine"}, format="json"
        )
        assert response.status_code == 400
        assert "brand" in response.json()["fields"]
    campaign.refresh_from_db()
    assert campaign.brand_id == my_brand.pk


def test_same_brand_names_live_side_by_side_across_vendors(client, their_brand):
    response = client.post("/brands", {"name": their_brand.name}, format="json")
    assert response.status_code == 201
    assert Brand.objects.filter(name=their_brand.name).count() == 2


def test_a_not_found_for_another_vendors_id_equals_one_for_a_missing_id(client, their_brand):
    missing = client.get("/brands/987654321")
    theirs = client.get(f"/brands/{their_brand.pk}")
    assert (missing.status_code, missing.json()) == (theirs.status_code, theirs.json())
