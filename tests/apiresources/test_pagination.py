"""Keyset pagination of the lists: results + next, newest first, limit 1-100, malformed cursors are a 400."""

import base64
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
