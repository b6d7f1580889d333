"""The Campaigns API: /campaigns and /campaigns/{id}, with field rules, status transitions and filters."""

from decimal import Decimal

import pytest

from apiresources.models import Brand, Campaign


@pytest.fixture
def vendor(standard_vendor):
    return standard_vendor


@pytest.fixture
def client(as_vendor, vendor):
    return as_vendor(vendor)


@pytest.fixture
def brand(vendor):
    return Brand.objects.create(vendor=vendor.vendor, name="Acme")


def make_campaign(brand, name="Spring", **fields):
    return Campaign.objects.create(vendor=brand.vendor, brand=brand, name=name, **fields)


def test_it_creates_a_campaign_with_defaults(client, brand):
    response = client.post("/campaigns", {"brand": brand.pk, "name": "Spring"}, format="json")
    assert response.status_code == 201, response.content
    assert response["Location"] == f"http://testserver/campaigns/{response.json()['id']}"
    body = response.json()
    assert body["status"] == "draft" and body["currency"] == "USD" and body["budget"] is None
    assert body["brand"] == brand.pk
    campaign = Campaign.objects.get(pk=body["id"])
    assert (campaign.vendor_id, campaign.brand_id, campaign.status) == (brand.vendor_id, brand.pk, "draft")


def test_it_creates_a_campaign_with_every_field(client, brand):
    body = {
        "brand": brand.pk,
        "name": "Spring",
        "objective": "sales",
        "status": "active",
        "budget": "1500.50",
        "currency": "eur",
        "start_date": "2026-03-01",
        "end_date": "2026-03-31",
    }
    response = client.post("/campaigns/", body, format="json")
    assert response.status_code == 201, response.content
    assert response["Location"] == f"http://testserver/campaigns/{response.json()['id']}"
    assert response.json()["budget"] == "1500.50" and response.json()["currency"] == "EUR"
    campaign = Campaign.objects.get()
    assert (campaign.objective, campaign.budget, campaign.currency) == ("sales", Decimal("1500.50"), "EUR")
    assert str(campaign.end_date) == "2026-03-31"


def test_it_retrieves_updates_and_deletes_a_campaign(client, brand):
    campaign = make_campaign(brand)
    assert client.get(f"/campaigns/{campaign.pk}").json()["name"] == "Spring"
    other_brand = Brand.objects.create(vendor=brand.vendor, name="Globex")
    response = client.patch(f"/campaigns/{campaign.pk}", {"brand": other_brand.pk, "budget": 10}, format="json")
    assert response.status_code == 200, response.content
    campaign.refresh_from_db()
    assert (campaign.brand_id, campaign.budget) == (other_brand.pk, Decimal("10"))

    response = client.put(f"/campaigns/{campaign.pk}", {"brand": brand.pk, "name": "Summer"}, format="json")
    assert response.status_code == 200, response.content
    campaign.refresh_from_db()
    assert (campaign.name, campaign.brand_id) == ("Summer", brand.pk)

    assert client.delete(f"/campaigns/{campaign.pk}").status_code == 204
    assert not Campaign.objects.exists()


def test_put_without_status_keeps_the_status(client, brand):
    campaign = make_campaign(brand, status="completed", currency="EUR")
    response = client.put(f"/campaigns/{campaign.pk}", {"brand": brand.pk, "name": "Renamed"}, format="json")
    assert response.status_code == 200, response.content
    campaign.refresh_from_db()
    assert (campaign.status, campaign.currency, campaign.name) == ("completed", "EUR", "Renamed")


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"name": "Spring"}, "brand", "required"),
        ({"brand": None, "name": "Spring"}, "brand", "null"),
        ({"brand": "abc", "name": "Spring"}, "brand", "integer id"),
        ({"brand": True, "name": "Spring"}, "brand", "integer id"),
        ({"brand": 1.5, "name": "Spring"}, "brand", "integer id"),
        ({"brand": 2**70, "name": "Spring"}, "brand", "no brand"),
        ({"brand": 0, "name": "Spring"}, "brand", "no brand"),
        ({"brand": 987654, "name": "Spring"}, "brand", "no brand"),
        ({"brand": "BRAND"}, "name", "required"),
        ({"brand": "BRAND", "name": ""}, "name", "blank"),
        ({"brand": "BRAND", "name": "n" * 201}, "name", "200"),
        ({"brand": "BRAND", "name": "S", "objective": "fame"}, "objective", "not a valid choice"),
        ({"brand": "BRAND", "name": "S", "status": "archived"}, "status", "not a valid choice"),
        ({"brand": "BRAND", "name": "S", "budget": -1}, "budget", "greater than or equal to 0"),
        ({"brand": "BRAND", "name": "S", "budget": "1.234"}, "budget", "2 decimal places"),
        ({"brand": "BRAND", "name": "S", "budget": "1e30"}, "budget", "digits"),
        ({"brand": "BRAND", "name": "S", "budget": "NaN"}, "budget", "valid number"),
        ({"brand": "BRAND", "name": "S", "budget": "lots"}, "budget", "valid number"),
        ({"brand": "BRAND", "name": "S", "currency": "XYZ"}, "currency", "ISO 4217"),
        ({"brand": "BRAND", "name": 7}, "name", "must be a string"),
        ({"brand": "BRAND", "name": "S", "currency": 978}, "currency", "must be a string"),
        ({"brand": "BRAND", "name": "S", "currency": "DOLLARS"}, "currency", "not an ISO 4217"),
        ({"brand": "BRAND", "name": "S", "start_date": "2026-02-30"}, "start_date", "wrong format"),
        ({"brand": "BRAND", "name": "S", "end_date": 20260101}, "end_date", "wrong format"),
        (
            {"brand": "BRAND", "name": "S", "start_date": "2026-03-02", "end_date": "2026-03-01"},
            "end_date",
            "cannot be before the start date",
        ),
        ({"brand": "BRAND", "name": "S", "budjet": 5}, "budjet", "Unknown field"),
    ],
)
def test_it_rejects_each_invalid_field(client, brand, body, field, message):
    body = {key: brand.pk if value == "BRAND" else value for key, value in body.items()}
    response = client.post("/campaigns", body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()
    assert error["error"] == "validation_error"
    assert message.lower() in error["fields"][field].lower()
    assert not Campaign.objects.exists()


def test_end_date_is_checked_against_the_stored_start_date_on_patch(client, brand):
    campaign = make_campaign(brand, start_date="2026-03-10")
    response = client.patch(f"/campaigns/{campaign.pk}", {"end_date": "2026-03-01"}, format="json")
    assert response.status_code == 400
    assert "end_date" in response.json()["fields"]
    response = client.patch(f"/campaigns/{campaign.pk}", {"end_date": "2026-03-10"}, format="json")
    assert response.status_code == 200


ALLOWED = {
    ("draft", "active"),
    ("active", "paused"),
    ("active", "completed"),
    ("paused", "active"),
    ("paused", "completed"),
}
STATUSES = ["draft", "active", "paused", "completed"]


@pytest.mark.parametrize("current", STATUSES)
@pytest.mark.parametrize("requested", STATUSES)
def test_status_moves_only_along_the_allowed_transitions(client, brand, current, requested):
    campaign = make_campaign(brand, status=current)
    response = client.patch(f"/campaigns/{campaign.pk}", {"status": requested}, format="json")
    campaign.refresh_from_db()
    if current == requested or (current, requested) in ALLOWED:
        assert response.status_code == 200, response.content
        assert campaign.status == requested
    else:
        assert response.status_code == 400
        message = response.json()["fields"]["status"]
        assert current in message
        assert campaign.status == current


def test_a_completed_campaign_cannot_go_back_to_draft_and_the_error_says_why(client, brand):
    campaign = make_campaign(brand, status="completed")
    response = client.patch(f"/campaigns/{campaign.pk}", {"status": "draft"}, format="json")
    assert response.status_code == 400
    assert response.json()["fields"]["status"] == (
        "A completed campaign cannot change status; it is final. Create a new campaign instead."
    )


def test_an_illegal_move_names_the_possible_ones(client, brand):
    campaign = make_campaign(brand, status="draft")
    response = client.patch(f"/campaigns/{campaign.pk}", {"status": "paused"}, format="json")
    assert response.json()["fields"]["status"] == (
        "A campaign cannot go from 'draft' to 'paused'; from 'draft' it can move to 'active'."
    )


def test_it_filters_by_brand_and_status(client, brand):
    other = Brand.objects.create(vendor=brand.vendor, name="Globex")
    a = make_campaign(brand, name="A", status="active")
    b = make_campaign(brand, name="B", status="draft")
    c = make_campaign(other, name="C", status="active")

    def ids(query):
        response = client.get(f"/campaigns{query}")
        assert response.status_code == 200, response.content
        return [item["id"] for item in response.json()["results"]]

    assert ids("") == [c.pk, b.pk, a.pk]
    assert ids(f"?brand={brand.pk}") == [b.pk, a.pk]
    assert ids("?status=active") == [c.pk, a.pk]
    assert ids(f"?brand={brand.pk}&status=active") == [a.pk]
    assert ids("?brand=987654") == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?brand=abc", "brand"),
        ("?brand=0", "brand"),
        ("?status=archived", "status"),
        # Blank is not absent: the document's enum and integer have no empty value.
        ("?status=", "status"),
        ("?brand=", "brand"),
    ],
)
def test_invalid_filters_are_a_validation_error(client, query, field):
    response = client.get(f"/campaigns{query}")
    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_filtered_lists_and_retrieve_cost_two_queries(client, brand, django_assert_num_queries, settings):
    settings.AUTH_CACHE_SECONDS = settings.READ_CACHE_SECONDS = 0  # the database path, as on every cache miss
    for index in range(25):
        make_campaign(brand, name=f"C{index}", status="active")
    with django_assert_num_queries(2):
        response = client.get(f"/campaigns?brand={brand.pk}&status=active&limit=10")
    assert len(response.json()["results"]) == 10
    with django_assert_num_queries(2):
        assert client.get(response.json()["next"]).status_code == 200
    campaign = Campaign.objects.first()
    with django_assert_num_queries(2):
        assert client.get(f"/campaigns/{campaign.pk}").status_code == 200
