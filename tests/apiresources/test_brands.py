"""The Brands API: /brands and /brands/{id}, as a vendor calls it with a real token."""

import pytest

from apiresources.models import Brand, Campaign


@pytest.fixture
def vendor(free_vendor):
    return free_vendor


@pytest.fixture
def client(as_vendor, vendor):
    return as_vendor(vendor)


def make_brand(issued, name="Acme", **fields):
    return Brand.objects.create(vendor=issued.vendor, name=name, **fields)


def test_it_creates_a_brand(client, vendor):
    response = client.post(
        "/brands", {"name": "Acme", "website": "https://acme.example", "description": "Rockets."}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response["Location"] == f"http://testserver/brands/{response.json()['id']}"
    body = response.json()
    assert set(body) == {"id", "name", "website", "description", "created_at", "updated_at"}
    brand = Brand.objects.get(pk=body["id"])
    assert (brand.vendor, brand.name, brand.website, brand.description) == (
        vendor.vendor,
        "Acme",
        "https://acme.example",
        "Rockets.",
    )


def test_it_creates_a_brand_with_only_a_name_and_trims_it(client):
    response = client.post("/brands/", {"name": "  Acme  "}, format="json")
    assert response.status_code == 201
    assert response["Location"] == f"http://testserver/brands/{response.json()['id']}"
    assert client.get(response["Location"]).json()["name"] == "Acme"
    assert response.json()["name"] == "Acme"
    assert response.json()["website"] == "" and response.json()["description"] == ""


def test_it_retrieves_updates_and_deletes_a_brand(client, vendor):
    brand = make_brand(vendor)
    assert client.get(f"/brands/{brand.pk}").json()["name"] == "Acme"

    response = client.patch(f"/brands/{brand.pk}", {"description": "New"}, format="json")
    assert response.status_code == 200 and response.json()["description"] == "New"
    brand.refresh_from_db()
    assert (brand.name, brand.description) == ("Acme", "New")

    response = client.put(f"/brands/{brand.pk}/", {"name": "Acme 2", "website": "http://a.example"}, format="json")
    assert response.status_code == 200
    brand.refresh_from_db()
    assert (brand.name, brand.website) == ("Acme 2", "http://a.example")

    response = client.delete(f"/brands/{brand.pk}")
    assert response.status_code == 204 and response.content == b""
    assert "Content-Length" not in response  # RFC 9110 §8.6
    assert not Brand.objects.filter(pk=brand.pk).exists()


def test_a_fetched_brand_can_be_sent_back_unchanged(client, vendor):
    brand = make_brand(vendor)
    body = client.get(f"/brands/{brand.pk}").json()
    response = client.put(f"/brands/{brand.pk}", body, format="json")
    assert response.status_code == 200, response.content


def test_deleting_a_brand_with_campaigns_is_a_conflict(client, vendor):
    brand = make_brand(vendor)
    Campaign.objects.create(vendor=vendor.vendor, brand=brand, name="Spring")
    response = client.delete(f"/brands/{brand.pk}")
    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "conflict"
    assert "still has 1 campaign" in body["error_description"]
    assert Brand.objects.filter(pk=brand.pk).exists()


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({}, "name", "required"),
        ({"name": ""}, "name", "blank"),
        ({"name": "   "}, "name", "blank"),
        ({"name": "x" * 201}, "name", "200"),
        ({"name": None}, "name", "null"),
        ({"name": ["Acme"]}, "name", "must be a string"),
        # No coercion: DRF's CharField would store 123 as "123" and false as "False".
        ({"name": 123}, "name", "must be a string"),
        ({"name": False}, "name", "must be a string"),
        ({"name": "Acme", "description": 0}, "description", "must be a string"),
        ({"name": "Acme", "website": 1}, "website", "must be a string"),
        ({"name": "Acme", "website": "not a url"}, "website", "valid"),
        ({"name": "Acme", "website": "ftp://files.example"}, "website", "http"),
        ({"name": "Acme", "website": "javascript:alert(1)"}, "website", "valid"),
        ({"name": "Acme", "website": "https://e.example/" + "a" * 500}, "website", "500"),
        ({"name": "Acme", "description": "d" * 2001}, "description", "2000"),
        ({"name": "Acme", "descripton": "typo"}, "descripton", "Unknown field"),
        ({"name": "Nul\x00byte"}, "name", "Null characters"),
    ],
)
def test_it_rejects_each_invalid_field(client, body, field, message):
    response = client.post("/brands", body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()
    assert error["error"] == "validation_error"
    assert message.lower() in error["fields"][field].lower()
    assert not Brand.objects.exists()


def test_a_brand_name_is_unique_per_vendor_only(client, vendor, make_vendor):
    make_brand(vendor, name="Acme")
    response = client.post("/brands", {"name": "Acme"}, format="json")
    assert response.status_code == 400
    assert response.json()["fields"]["name"] == "You already have a brand named 'Acme'."

    other = make_vendor("free")
    make_brand(other, name="Taken elsewhere")
    assert client.post("/brands", {"name": "Taken elsewhere"}, format="json").status_code == 201


def test_renaming_onto_another_brand_name_is_refused_but_keeping_ones_own_is_not(client, vendor):
    make_brand(vendor, name="Acme")
    other = make_brand(vendor, name="Globex")
    assert client.patch(f"/brands/{other.pk}", {"name": "Acme"}, format="json").status_code == 400
    assert client.patch(f"/brands/{other.pk}", {"name": "Globex"}, format="json").status_code == 200


def test_read_only_fields_cannot_be_changed(client, vendor):
    brand = make_brand(vendor)
    response = client.patch(f"/brands/{brand.pk}", {"id": 999, "created_at": "2000-01-01T00:00:00Z"}, format="json")
    assert response.status_code == 200
    assert response.json()["id"] == brand.pk
    assert not response.json()["created_at"].startswith("2000")


def test_non_numeric_and_huge_ids_are_not_found(client):
    for path in ("/brands/abc", "/brands/1.5", "/brands/-1", "/brands/99999999999999999999999", "/brands/0"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"] == "not_found"


def test_the_list_is_newest_first(client, vendor):
    first, second = make_brand(vendor, name="First"), make_brand(vendor, name="Second")
    body = client.get("/brands").json()
    assert [brand["id"] for brand in body["results"]] == [second.pk, first.pk]
    assert body["next"] is None


def test_list_and_retrieve_cost_two_queries_including_authentication(
    client, vendor, django_assert_num_queries, settings
):
    settings.AUTH_CACHE_SECONDS = settings.READ_CACHE_SECONDS = 0  # the database path, as on every cache miss
    for index in range(25):
        make_brand(vendor, name=f"Brand {index}")
    with django_assert_num_queries(2):
        response = client.get("/brands")
    assert response.status_code == 200 and len(response.json()["results"]) == 20
    with django_assert_num_queries(2):
        assert client.get(response.json()["next"]).status_code == 200
    brand = Brand.objects.first()
    with django_assert_num_queries(2):
        assert client.get(f"/brands/{brand.pk}").status_code == 200


def test_repeated_reads_cost_no_query_until_something_changes(client, vendor, django_assert_num_queries):
    for index in range(25):
        make_brand(vendor, name=f"Brand {index}")
    with django_assert_num_queries(2):  # the token's row and the page, both kept by this worker
        first = client.get("/brands")
    with django_assert_num_queries(1):  # the token is cached; the second page is not yet
        assert client.get(first.json()["next"]).status_code == 200
    with django_assert_num_queries(0):
        again = client.get("/brands")
    assert again.content == first.content and again.status_code == 200
    assert again["Content-Type"] == first["Content-Type"] and again["RateLimit"] != first["RateLimit"]
    # A write by any route (here the ORM, as the admin does) changes the vendor's data tag: the next read is fresh.
    make_brand(vendor, name="Newest")
    with django_assert_num_queries(1):
        fresh = client.get("/brands")
    assert fresh.json()["results"][0]["name"] == "Newest"
