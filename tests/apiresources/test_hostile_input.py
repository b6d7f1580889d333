"""Malformed and hostile input to the resource APIs: always a 4xx in the one error shape, never a 500."""

import json

import pytest
from django.test import override_settings

from apiresources.models import Brand, Campaign


@pytest.fixture
def client(as_vendor, enterprise_vendor):
    return as_vendor(enterprise_vendor)


@pytest.fixture
def brand(enterprise_vendor):
    return Brand.objects.create(vendor=enterprise_vendor.vendor, name="Acme")


def post_raw(client, path, raw, content_type="application/json"):
    return client.generic("POST", path, raw, content_type=content_type)


@pytest.mark.parametrize(
    ("raw", "status", "error"),
    [
        (b"{", 400, "invalid_request"),
        (b'{"name": NaN}', 400, "invalid_request"),
        (b"\xff\xfe\x00", 400, "invalid_request"),
        (b"[" * 50000 + b"]" * 50000, 400, "invalid_request"),
        (b"[]", 400, "validation_error"),
        (b"null", 400, "validation_error"),
        (b'"Acme"', 400, "validation_error"),
        (b'{"name": {"nested": ["deep"]}}', 400, "validation_error"),
        (b'{"name": 12345678901234567890123}', 400, "validation_error"),  # a number is not a name: no coercion
    ],
)
def test_malformed_bodies_are_4xx(client, raw, status, error):
    response = post_raw(client, "/brands", raw)
    assert response.status_code == status, response.content
    if error:
        assert response.json()["error"] == error
        assert response.json()["error_description"]


def test_a_body_that_is_not_json_is_415(client):
    response = post_raw(client, "/brands", b"name=Acme", "application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024)
def test_a_huge_body_is_413_and_nothing_is_stored(client):
    response = client.post("/brands", {"name": "Acme", "description": "x" * 5000}, format="json")
    assert response.status_code == 413
    assert response.json()["error"] == "request_too_large"
    assert not Brand.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"brand": "BRAND", "name": "S", "status": "\ud800"},
        {"brand": "BRAND", "name": "S", "objective": "\udfff" * 10},
        {"brand": "\ud800", "name": "S"},
        {"brand": "BRAND", "name": "\ud800"},
        {"brand": "BRAND", "name": "S", "\ud800": 1},
        {"brand": "BRAND", "name": "S", "k" * 10000: 1},
        {"brand": "BRAND", "name": "S", "currency": "\ud800" * 2},
        {"brand": "BRAND", "name": "S", "budget": "9" * 5000},
        {"brand": "BRAND", "name": "S", "start_date": "9" * 5000},
        {"brand": "BRAND", "name": "S", "start_date": "99999-01-01"},
        {"brand": [1], "name": "S"},
        {"brand": {"id": 1}, "name": "S"},
        {"brand": "9" * 5000, "name": "S"},
        {"brand": -(2**80), "name": "S"},
    ],
)
def test_hostile_values_are_a_validation_error(client, brand, body):
    body = {key: brand.pk if value == "BRAND" else value for key, value in body.items()}
    # json.dumps escapes lone surrogates as \\ud800, exactly as a hostile client would send them.
    response = post_raw(client, "/campaigns", json.dumps(body))
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "validation_error"
    assert len(response.content) < 2000
    assert not Campaign.objects.exists()


@pytest.mark.parametrize(
    "path",
    [
        "/campaigns?brand=%00",
        "/campaigns?brand=9999999999999999999999",
        "/campaigns?status=%ED%A0%80",
        "/brands?cursor=%00",
    ],
)
def test_hostile_query_parameters_are_4xx(client, path):
    response = client.get(path)
    assert 400 <= response.status_code < 500
    assert response.json()["error"] == "validation_error"


@pytest.mark.parametrize("path", ["/brands/%00", "/brands/1%2F2", "/campaigns/١", "/brands/1e3", "/nowhere"])
def test_unknown_paths_are_a_json_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_an_unsupported_method_is_405_in_the_error_shape(client):
    response = client.delete("/brands")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


@pytest.mark.parametrize("path", ["/brands", "/campaigns/1", "/tools", "/tools/keywords"])
def test_options_is_not_a_self_description(client, path):
    response = client.options(path)
    assert response.status_code == 204 and response.content == b""
    assert "OPTIONS" in response["Allow"]
