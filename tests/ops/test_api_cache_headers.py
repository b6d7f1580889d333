"""Every answer of the Brand, Campaign and Tools APIs belongs to one vendor: `Cache-Control: private, no-cache` and
`Vary: Authorization`, on success and on error, so no shared cache ever keeps one vendor's data."""

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def vendor_client(as_vendor, free_vendor):
    return as_vendor(free_vendor)


def _assert_private(response):
    assert response["Cache-Control"] == "private, no-cache"
    assert "Authorization" in [value.strip() for value in response["Vary"].split(",")]


def test_a_list_and_an_item_are_private_to_the_caller(vendor_client):
    created = vendor_client.post("/brands", {"name": "Cache headers"}, format="json")
    assert created.status_code == 201
    _assert_private(created)
    _assert_private(vendor_client.get("/brands"))
    _assert_private(vendor_client.get(created["Location"]))


def test_errors_of_the_api_are_private_too(vendor_client):
    _assert_private(vendor_client.post("/brands", {"name": ""}, format="json"))  # 400
    _assert_private(vendor_client.get("/brands/999999999"))  # 404
    _assert_private(vendor_client.get("/campaigns"))  # 403: a Free plan has no Campaign API
    unauthenticated = APIClient().get("/brands")
    assert unauthenticated.status_code == 401
    _assert_private(unauthenticated)
