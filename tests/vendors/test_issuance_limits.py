"""Access tokens issued per vendor per clock hour, by plan (token and refresh requests together), and RFC 8707
resource indicators at the token endpoint."""

import base64
import json
from unittest.mock import Mock

import pytest
from django.db import OperationalError

from tests.ratelimit.test_plan_limits import set_plan_limits
from vendors import services
from vendors.models import Plan
from vendors.oauth import writes

pytestmark = pytest.mark.django_db


def token_request(api, issued, **extra):
    body = {"client_id": issued.vendor.client_id, "client_secret": issued.client_secret, **extra}
    return api.post("/auth/token", json.dumps(body), content_type="application/json")


def refresh_request(api, refresh_token):
    return api.post("/auth/refresh", json.dumps({"refresh_token": refresh_token}), content_type="application/json")


def test_the_plans_default_limits(plans):
    assert {code: plan.tokens_per_hour for code, plan in plans.items()} == {
        "free": 100,
        "standard": 1_000,
        "enterprise": 10_000,
    }


def test_over_the_hourly_limit_a_token_request_is_a_429_that_names_the_limit(api, free_vendor):
    set_plan_limits("free", tokens_per_hour=3)
    answers = [token_request(api, free_vendor) for _ in range(5)]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429, 429]
    assert [answer["RateLimit"].split(";")[1] for answer in answers[:3]] == ["r=2", "r=1", "r=0"]
    refused = answers[3]
    body = refused.json()
    assert body["error"] == "token_quota_exceeded"
    assert "Free plan allows 3 access tokens per hour" in body["error_description"]
    assert "keep using the token you have" in body["error_description"]
    assert (body["plan"], body["tokens_per_hour"]) == ("free", 3)
    assert 1 <= int(refused["Retry-After"]) <= 3600 and body["retry_after"] == int(refused["Retry-After"])
    assert refused["RateLimit-Policy"] == '"hour";q=3;w=3600'
    assert refused["RateLimit"] == f'"hour";r=0;t={refused["Retry-After"]}'
    assert refused["Cache-Control"] == "no-store"
    # Only tokens were counted: the refused requests did not spend the next hour's allowance, and the tokens issued
    # work as before.
    assert api.get("/brands", HTTP_AUTHORIZATION=f"Bearer {answers[0].json()['access_token']}").status_code == 200


def test_refreshes_count_too(api, free_vendor):
    set_plan_limits("free", tokens_per_hour=2)
    first = token_request(api, free_vendor).json()
    refreshed = refresh_request(api, first["refresh_token"])
    assert refreshed.status_code == 200
    assert refreshed["RateLimit"].startswith('"hour";r=0;')
    again = refresh_request(api, refreshed.json()["refresh_token"])
    assert again.status_code == 429 and again.json()["error"] == "token_quota_exceeded"
    assert token_request(api, free_vendor).status_code == 429
    # A refused refresh leaves its refresh token usable once the hour allows again.
    set_plan_limits("free", tokens_per_hour=3)
    assert refresh_request(api, refreshed.json()["refresh_token"]).status_code == 200


def test_a_plan_change_applies_to_the_next_request(api, free_vendor):
    set_plan_limits("free", tokens_per_hour=1)
    assert token_request(api, free_vendor).status_code == 200
    assert token_request(api, free_vendor).status_code == 429
    services.vendor_plan_set(vendor=free_vendor.vendor, plan=Plan.objects.get(code="standard"))
    answer = token_request(api, free_vendor)
    assert answer.status_code == 200
    assert answer["RateLimit-Policy"] == '"hour";q=1000;w=3600'
    set_plan_limits("standard", tokens_per_hour=None)  # empty: unlimited
    answer = token_request(api, free_vendor)
    assert answer.status_code == 200 and "RateLimit" not in answer


def test_failed_and_refused_requests_are_not_counted(api, free_vendor, settings):
    set_plan_limits("free", tokens_per_hour=2)
    wrong = {"client_id": free_vendor.vendor.client_id, "client_secret": "wrong"}
    for _ in range(4):
        assert api.post("/auth/token", json.dumps(wrong), content_type="application/json").status_code == 401
    assert token_request(api, free_vendor, scope="tools").status_code == 400  # invalid_scope for a Free plan
    assert [token_request(api, free_vendor).status_code for _ in range(3)] == [200, 200, 429]


def test_vendors_are_counted_apart(api, make_vendor):
    set_plan_limits("free", tokens_per_hour=1)
    first, second = make_vendor("free"), make_vendor("free")
    assert token_request(api, first).status_code == 200
    assert token_request(api, first).status_code == 429
    assert token_request(api, second).status_code == 200


def test_the_form_encoded_request_is_limited_alike(api, free_vendor):
    set_plan_limits("free", tokens_per_hour=1)
    basic = base64.b64encode(f"{free_vendor.vendor.client_id}:{free_vendor.client_secret}".encode()).decode()

    def form():
        return api.post(
            "/auth/token",
            "grant_type=client_credentials",
            content_type="application/x-www-form-urlencoded",
            HTTP_AUTHORIZATION=f"Basic {basic}",
        )

    assert [form().status_code, form().status_code] == [200, 429]


def test_a_resource_other_than_this_platform_is_invalid_target(api, free_vendor, settings):
    refused = token_request(api, free_vendor, resource="https://evil.example")
    assert refused.status_code == 400
    body = refused.json()
    assert body["error"] == "invalid_target"
    assert settings.JWT_AUDIENCE in body["error_description"]
    assert token_request(api, free_vendor, resource=settings.JWT_AUDIENCE).status_code == 200
    first = token_request(api, free_vendor).json()
    answer = api.post(
        "/auth/refresh",
        json.dumps({"refresh_token": first["refresh_token"], "resource": "https://other.example/api"}),
        content_type="application/json",
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_target"
    assert refresh_request(api, first["refresh_token"]).status_code == 200  # the refused refresh spent nothing


def test_revocations_are_not_counted(api, free_vendor):
    set_plan_limits("free", tokens_per_hour=1)
    body = {
        "client_id": free_vendor.vendor.client_id,
        "client_secret": free_vendor.client_secret,
        "grant_type": "client_credentials",
        "token": "not-a-token",
    }
    for _ in range(3):
        assert api.post("/auth/revoke", json.dumps(body), content_type="application/json").status_code == 200
    assert token_request(api, free_vendor).status_code == 200


def test_token_requests_and_refreshes_answered_503_give_their_count_back(api, free_vendor, monkeypatch):
    """The database down at the write: no token came of the request, so the hour's allowance is as before."""
    set_plan_limits("free", tokens_per_hour=2)
    first = token_request(api, free_vendor)
    assert first["RateLimit"].startswith('"hour";r=1;')
    with monkeypatch.context() as outage:
        down = Mock(side_effect=OperationalError("server closed the connection"))
        outage.setattr(writes, "insert_token_pair", down)
        outage.setattr(writes, "rotate_token_pair", down)
        outage.setattr(writes, "rotate_presented", down)
        assert token_request(api, free_vendor).status_code == 503
        assert refresh_request(api, first.json()["refresh_token"]).status_code == 503
    refreshed = refresh_request(api, first.json()["refresh_token"])
    assert refreshed.status_code == 200 and refreshed["RateLimit"].startswith('"hour";r=0;')


def test_a_refresh_that_lost_its_race_gives_its_count_back(api, free_vendor, monkeypatch):
    set_plan_limits("free", tokens_per_hour=2)
    first = token_request(api, free_vendor)
    with monkeypatch.context() as race:
        race.setattr(writes, "rotate_token_pair", lambda *args: writes.Rotation.ALREADY_USED)
        race.setattr(writes, "rotate_presented", lambda *args: (writes.Rotation.ALREADY_USED, None))
        lost = refresh_request(api, first.json()["refresh_token"])
    assert lost.status_code == 400 and lost.json()["error"] == "invalid_grant"
    second = token_request(api, free_vendor)
    assert second.status_code == 200 and second["RateLimit"].startswith('"hour";r=0;')
