"""Plan limits on the resource APIs, through the real token endpoint and the real views (one process)."""

import logging
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.test import override_settings
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from vendors import services
from vendors.limits import metering, store
from vendors.limits.plan import _periods, month_bounds
from vendors.models import Plan, UsageDay

pytestmark = pytest.mark.django_db

DEAD_REDIS = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
    }
}


def parse(field: str) -> dict[str, dict[str, int]]:
    """'"minute";r=5;t=60, "month";r=9;t=99' → {"minute": {"r": 5, "t": 60}, "month": {...}}."""
    policies = {}
    for item in field.split(","):
        name, *params = item.strip().split(";")
        policies[name.strip('"')] = {key: int(value) for key, value in (param.split("=") for param in params)}
    return policies


def seconds_to_next_month() -> int:
    now = datetime.now(UTC)
    return int((month_bounds(now)[1] - now).total_seconds())


def set_plan_limits(code: str, **values) -> None:
    """As staff do in the admin: save() the plan, which tells every worker's token cache."""
    plan = Plan.objects.get(code=code)
    for name, value in values.items():
        setattr(plan, name, value)
    plan.save()


EET = timezone(timedelta(hours=2))


@pytest.mark.parametrize(
    ("now", "month", "day", "start", "following"),
    [
        (datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC), "202612", "2026-12-31", (2026, 12, 1), (2027, 1, 1)),
        (datetime(2027, 2, 28, 12, tzinfo=UTC), "202702", "2027-02-28", (2027, 2, 1), (2027, 3, 1)),
        # 1 March 01:30 at UTC+2 is still February in UTC: counted and reset on UTC's calendar.
        (datetime(2027, 3, 1, 1, 30, tzinfo=EET), "202702", "2027-02-28", (2027, 2, 1), (2027, 3, 1)),
    ],
)  # fmt: skip
def test_months_and_days_are_utc_calendar_ones(now, month, day, start, following):
    expected = (datetime(*start, tzinfo=UTC), datetime(*following, tzinfo=UTC))
    assert month_bounds(now) == expected
    assert _periods(now) == (month, day, expected[1])


def test_every_response_carries_the_policy_and_the_current_standing(free_vendor, as_vendor):
    client = as_vendor(free_vendor)
    response = client.get("/brands")
    assert response.status_code == 200
    month = month_bounds(datetime.now(UTC))
    month_seconds = int((month[1] - month[0]).total_seconds())
    assert response["RateLimit-Policy"] == f'"minute";q=60;w=60, "month";q=10000;w={month_seconds}'
    current = parse(response["RateLimit"])
    assert current["minute"] == {"r": 59, "t": 60}
    assert current["month"]["r"] == 9999
    assert abs(current["month"]["t"] - seconds_to_next_month()) <= 2


def test_the_remaining_count_goes_down_by_one_per_request(free_vendor, as_vendor):
    client = as_vendor(free_vendor)
    remaining = [parse(client.get("/brands")["RateLimit"])["minute"]["r"] for _ in range(5)]
    assert remaining == [59, 58, 57, 56, 55]


def test_errors_after_authentication_carry_the_headers_and_count(free_vendor, as_vendor):
    client = as_vendor(free_vendor)
    not_found = client.get("/brands/999999")
    assert not_found.status_code == 404
    assert parse(not_found["RateLimit"])["minute"]["r"] == 59
    invalid = client.post("/brands", {}, format="json")
    assert invalid.status_code == 400
    assert parse(invalid["RateLimit"])["minute"]["r"] == 58


def test_a_plan_forbidden_call_is_limited_and_carries_the_headers(free_vendor, as_vendor):
    client = as_vendor(free_vendor)
    set_plan_limits("free", includes_brands=False, requests_per_minute=2)
    responses = [client.get("/brands") for _ in range(3)]
    assert [r.status_code for r in responses] == [403, 403, 429]
    assert responses[0].json()["error"] == "plan_forbidden"
    assert parse(responses[0]["RateLimit"])["minute"]["r"] == 1
    assert parse(responses[1]["RateLimit"])["minute"]["r"] == 0


def test_a_request_without_a_valid_token_is_not_counted_and_has_no_headers(api, free_vendor):
    response = api.get("/brands", HTTP_AUTHORIZATION="Bearer nope")
    assert response.status_code == 401
    assert "RateLimit" not in response
    assert "RateLimit-Policy" not in response


def test_over_the_limit_is_429_naming_the_plan_and_limit(free_vendor, as_vendor):
    set_plan_limits("free", requests_per_minute=3)
    client = as_vendor(free_vendor)
    statuses = [client.get("/brands").status_code for _ in range(3)]
    refused = client.get("/brands")
    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    body = refused.json()
    assert body["error"] == "rate_limited"
    assert body["plan"] == "free"
    assert body["requests_per_minute"] == 3
    assert "Free plan allows 3 requests per minute" in body["error_description"]
    assert 59 <= int(refused["Retry-After"]) <= 60
    assert body["retry_after"] == int(refused["Retry-After"])
    current = parse(refused["RateLimit"])["minute"]
    assert current["r"] == 0
    assert current["t"] == int(refused["Retry-After"])


def test_limits_are_per_vendor(make_vendor, as_vendor):
    set_plan_limits("free", requests_per_minute=2)
    first, second = as_vendor(make_vendor("free")), as_vendor(make_vendor("free"))
    assert [first.get("/brands").status_code for _ in range(3)] == [200, 200, 429]
    assert second.get("/brands").status_code == 200


def test_a_plan_change_applies_to_the_next_request(free_vendor, as_vendor):
    set_plan_limits("free", requests_per_minute=2)
    client = as_vendor(free_vendor)
    assert [client.get("/brands").status_code for _ in range(3)] == [200, 200, 429]
    services.vendor_plan_set(vendor=free_vendor.vendor, plan=services.plan_get(code="standard"))
    response = client.get("/brands")
    assert response.status_code == 200
    assert response["RateLimit-Policy"].startswith('"minute";q=600;w=60, "month";q=1000000;')
    assert parse(response["RateLimit"])["minute"]["r"] == 600 - 3


def test_an_unlimited_plan_advertises_no_monthly_policy(enterprise_vendor, as_vendor):
    response = as_vendor(enterprise_vendor).get("/brands")
    assert response["RateLimit-Policy"] == '"minute";q=6000;w=60'
    assert parse(response["RateLimit"]) == {"minute": {"r": 5999, "t": 60}}


def test_an_exhausted_monthly_quota_is_429_quota_exceeded_until_next_month(free_vendor, as_vendor):
    set_plan_limits("free", monthly_quota=2)
    client = as_vendor(free_vendor)
    assert [client.get("/brands").status_code for _ in range(2)] == [200, 200]
    refused = client.get("/brands")
    assert refused.status_code == 429
    body = refused.json()
    assert body["error"] == "quota_exceeded"
    assert body["plan"] == "free"
    assert body["monthly_quota"] == 2
    next_month = month_bounds(datetime.now(UTC))[1]
    assert body["resets_at"] == next_month.isoformat().replace("+00:00", "Z")
    assert abs(int(refused["Retry-After"]) - seconds_to_next_month()) <= 2
    assert parse(refused["RateLimit"])["month"]["r"] == 0
    # Raising the quota (staff edit the plan) lets the vendor in at once.
    set_plan_limits("free", monthly_quota=3)
    assert client.get("/brands").status_code == 200


def test_the_limit_costs_no_sql_query(free_vendor, as_vendor, django_assert_num_queries, settings):
    settings.AUTH_CACHE_SECONDS = settings.READ_CACHE_SECONDS = 0
    client = as_vendor(free_vendor)
    client.get("/brands")
    # One query for the token (with vendor and plan), one for the brands: the limiter adds none.
    with django_assert_num_queries(2):
        assert client.get("/brands").status_code == 200


def test_a_drf_view_without_the_gate_admits_nobody_and_counts_nothing(free_vendor, as_vendor):
    class Plain(APIView):
        def get(self, request):
            return Response({"ok": True})

    set_plan_limits("free", requests_per_minute=1)
    token = as_vendor(free_vendor)._credentials["HTTP_AUTHORIZATION"]
    factory = APIRequestFactory()
    for _ in range(3):
        response = Plain.as_view()(factory.get("/plain", HTTP_AUTHORIZATION=token))
        # Only the gate (vendors/access/gate.py) lets a vendor in: any other DRF view is closed by default.
        assert response.status_code == 403
        assert "RateLimit" not in response
    assert as_vendor(free_vendor).get("/brands").status_code == 200


def test_the_token_endpoint_has_only_the_issuance_headers_and_metadata_none(api, free_vendor):
    response = api.post(
        "/auth/token",
        {"client_id": free_vendor.vendor.client_id, "client_secret": free_vendor.client_secret},
        format="json",
    )
    assert response.status_code == 200
    assert response["RateLimit-Policy"] == '"hour";q=100;w=3600'
    assert response["RateLimit"].startswith('"hour";r=99;t=')
    assert "RateLimit" not in api.get("/.well-known/oauth-authorization-server")


def test_the_off_switch_lifts_every_limit(free_vendor, as_vendor, settings):
    set_plan_limits("free", requests_per_minute=1)
    settings.RATELIMIT_ENABLED = False
    client = as_vendor(free_vendor)
    responses = [client.get("/brands") for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert "RateLimit" not in responses[-1]


def test_with_redis_unreachable_requests_are_served_metered_and_flagged(free_vendor, as_vendor, caplog):
    set_plan_limits("free", requests_per_minute=1)
    client = as_vendor(free_vendor)
    with override_settings(CACHES=DEAD_REDIS), caplog.at_level(logging.WARNING, logger="vendors.limits.store"):
        responses = [client.get("/brands") for _ in range(3)]
        status = store.status()
        warnings = [r for r in caplog.records if r.name == "vendors.limits.store"]
        metering.usage_flush()
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert "RateLimit" not in responses[0]
    # The policy is still known; only the live counters are not.
    assert responses[0]["RateLimit-Policy"].startswith('"minute";q=1;w=60')
    assert status["backend"] == "redis"
    assert status["healthy"] is False
    assert status["failing_since"] is not None
    assert len(warnings) == 1
    assert "serving without limits" in warnings[0].getMessage()
    usage = UsageDay.objects.get(vendor=free_vendor.vendor)
    assert usage.requests == 3
    assert store.status()["healthy"] is True  # the override is gone: the configured store is back


def test_an_outage_does_not_cost_every_request_a_connection_attempt(free_vendor, as_vendor):
    client = as_vendor(free_vendor)
    with override_settings(CACHES=DEAD_REDIS):
        client.get("/brands")
        started = datetime.now(UTC)
        for _ in range(20):
            client.get("/brands")
        elapsed = datetime.now(UTC) - started
        assert store._health.skip()
    assert elapsed < timedelta(seconds=2)
