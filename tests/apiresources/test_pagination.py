"""Keyset pagination of the lists: results + next, newest first, limit 1-100, malformed cursors are a 400."""

import base64
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from apiresources.models import Brand


@pytest.fixture
def vendor(free_vendor):
    return free_vendor


@pytest.fixture
def client(as_vendor, vendor):
    return as_vendor(vendor)


def make_brands(issued, count):
    return [Brand.objects.create(vendor=issued.vendor, name=f"Brand {index}") for index in range(count)]


def collect(client, url):
    ids, pages = [], 0
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        ids += [item["id"] for item in response.json()["results"]]
        url = response.json()["next"]
        pages += 1
    return ids, pages


def test_pages_of_the_default_size_cover_every_item_once_newest_first(client, vendor):
    brands = make_brands(vendor, 45)
    ids, pages = collect(client, "/brands")
    assert pages == 3
    assert ids == [brand.pk for brand in reversed(brands)]


def test_limit_sets_the_page_size_and_is_kept_in_the_next_link(client, vendor):
    make_brands(vendor, 7)
    response = client.get("/brands?limit=3")
    assert len(response.json()["results"]) == 3
    assert "limit=3" in response.json()["next"]
    assert response.json()["next"].startswith("http://testserver/brands?")
    ids, pages = collect(client, "/brands?limit=3")
    assert (len(ids), pages) == (7, 3)


def test_limit_goes_up_to_one_hundred(client, vendor):
    make_brands(vendor, 101)
    response = client.get("/brands?limit=100")
    assert len(response.json()["results"]) == 100 and response.json()["next"]


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5", "9" * 5000, "٣"])
def test_an_invalid_limit_is_a_validation_error(client, limit):
    response = client.get("/brands", {"limit": limit})
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert "1 to 100" in response.json()["fields"]["limit"]


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "!!!",
        base64.urlsafe_b64encode(b"2026-01-01T00:00:00|1").decode(),  # no time zone
        base64.urlsafe_b64encode(b"2026-01-01T00:00:00+00:00|x").decode(),
        base64.urlsafe_b64encode(b"2026-01-01T00:00:00+00:00|99999999999999999999999").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        "A" * 3000,
    ],
)
def test_a_malformed_cursor_is_a_400_not_a_500(client, cursor):
    response = client.get("/brands", {"cursor": cursor})
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert "cursor" in response.json()["fields"]


def test_items_added_while_paging_do_not_shift_the_pages(client, vendor):
    brands = make_brands(vendor, 5)
    first = client.get("/brands?limit=2").json()
    Brand.objects.create(vendor=vendor.vendor, name="Late arrival")
    ids, _ = collect(client, first["next"])
    assert [item["id"] for item in first["results"]] + ids == [brand.pk for brand in reversed(brands)]


def test_rows_created_in_the_same_instant_are_ordered_by_id(client, vendor):
    brands = make_brands(vendor, 5)
    same = timezone.now() - timedelta(days=1)
    Brand.objects.filter(vendor=vendor.vendor).update(created_at=same)
    ids, pages = collect(client, "/brands?limit=2")
    assert ids == [brand.pk for brand in reversed(brands)] and pages == 3


def test_a_cursor_never_reaches_another_vendors_items(client, vendor, make_vendor):
    other = make_vendor("free")
    make_brands(other, 3)
    mine = make_brands(vendor, 3)
    ids, _ = collect(client, "/brands?limit=1")
    assert ids == [brand.pk for brand in reversed(mine)]


def b64(raw: bytes) -> str:
    """A cursor encoded the way the API encodes its own: URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


STAMP = b"2026-01-01T00:00:00+00:00"
# Cursors a client could forge by editing a real one; each used to be a 500 or a silently accepted near-miss.
TAMPERED_CURSORS = {
    # UTC offsets Python accepts but PostgreSQL's timestamptz does not (its range is under ±16 hours).
    "offset-plus-16h": b64(b"2026-01-01T00:00:00+16:00|1"),
    "offset-minus-16h": b64(b"2026-01-01T00:00:00-16:00|1"),
    "offset-plus-23h59": b64(b"2026-01-01T00:00:00+23:59|1"),
    "offset-with-seconds": b64(b"2026-01-01T00:00:00+05:30:15.5|1"),
    # Instants whose UTC form falls outside datetime's years 1-9999.
    "before-year-1-in-utc": b64(b"0001-01-01T00:00:00+01:00|1"),
    "after-year-9999-in-utc": b64(b"9999-12-31T23:59:59-01:00|1"),
    "year-0": b64(b"0000-01-01T00:00:00+00:00|1"),
    "year-10000": b64(b"10000-01-01T00:00:00+00:00|1"),
    "not-a-time-of-day": b64(b"2026-01-01T24:00:00+00:00|1"),
    "nan-stamp": b64(b"NaN|1"),
    "nan-everything": b64(b"nan|nan"),
    "inf-id": b64(STAMP + b"|inf"),
    "no-id": b64(STAMP + b"|"),
    "no-separator": b64(STAMP),
    "two-separators": b64(STAMP + b"|1|2"),
    "zero-id": b64(STAMP + b"|0"),
    "negative-id": b64(STAMP + b"|-1"),
    "id-past-64-bits": b64(STAMP + b"|9223372036854775808"),
    "id-past-int-digit-limit": b64(STAMP + b"|" + b"9" * 5000),
    "fractional-id": b64(STAMP + b"|1.5"),
    "exponent-id": b64(STAMP + b"|1e3"),
    "signed-id": b64(STAMP + b"|+1"),
    "spaced-id": b64(STAMP + b"| 1 "),
    "underscored-id": b64(STAMP + b"|1_000"),
    "arabic-indic-id": b64(STAMP + "|١".encode()),
    "non-utf8": b64(b"\xff\xfe|1"),
    "non-utf8-in-stamp": b64(b"2026-01-01T00:00:00\xc3+00:00|1"),
    "nul-in-stamp": b64(b"2026-01-01T00:00:00+00:00\x00|1"),
    "nul-in-id": b64(STAMP + b"|1\x00"),
    "raw-nul": "\x00",
    "padded": base64.urlsafe_b64encode(STAMP + b"|1").decode() + "===",
    "bad-padding": "QQ=Q",
    "one-char-too-many": "A" * 4001,
    "standard-alphabet": base64.b64encode(b"2026-01-01T00:00:00+00:00|1>>?").decode(),
    "non-ascii": "é" + b64(STAMP + b"|1"),
}


@pytest.fixture
def enterprise_client(as_vendor, enterprise_vendor):
    """Both lists are reachable on Enterprise; a brand and a campaign make the cursor's query run against rows."""
    from apiresources.models import Campaign

    brand = Brand.objects.create(vendor=enterprise_vendor.vendor, name="Acme")
    Campaign.objects.create(vendor=enterprise_vendor.vendor, brand=brand, name="Launch")
    return as_vendor(enterprise_vendor)


@pytest.mark.parametrize("cursor", TAMPERED_CURSORS.values(), ids=TAMPERED_CURSORS.keys())
@pytest.mark.parametrize("path", ["/brands", "/campaigns"])
def test_a_tampered_cursor_is_a_400_that_says_to_follow_the_next_link(enterprise_client, path, cursor):
    response = enterprise_client.get(path, {"cursor": cursor})
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["error"] == "validation_error" and body["error_description"]
    assert set(body) == {"error", "error_description", "fields"}
    assert "'next' link" in body["fields"]["cursor"]


@pytest.mark.parametrize("path", ["/brands", "/campaigns"])
def test_a_cursor_exactly_as_returned_still_pages(enterprise_client, enterprise_vendor, path):
    from apiresources.models import Campaign

    brand = Brand.objects.get(vendor=enterprise_vendor.vendor)
    Campaign.objects.create(vendor=enterprise_vendor.vendor, brand=brand, name="Second")
    Brand.objects.create(vendor=enterprise_vendor.vendor, name="Second")
    first = enterprise_client.get(path, {"limit": 1}).json()
    second = enterprise_client.get(first["next"])
    assert second.status_code == 200 and len(second.json()["results"]) == 1
    assert second.json()["results"][0]["id"] != first["results"][0]["id"]


def test_an_empty_cursor_is_the_first_page_as_the_schema_says(client, vendor):
    make_brands(vendor, 3)
    assert client.get("/brands?cursor=").json() == client.get("/brands").json()
    pattern = client.get("/api/schema?format=json").json()["paths"]["/brands"]["get"]["parameters"]
    cursor = next(parameter for parameter in pattern if parameter["name"] == "cursor")
    assert re.fullmatch(cursor["schema"]["pattern"].strip("^$"), "")
