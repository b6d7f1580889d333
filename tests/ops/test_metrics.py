"""GET /metrics: off without METRICS_TOKEN, a Bearer token compared in constant time, and values that follow real
requests, labelled by URL pattern and plan, never by client ID or secret; under gunicorn the workers add up."""

import http.client
import json
import os
import signal
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from charp.http import metrics as exported
from tests.conftest import get_token, on_redis
from tests.ratelimit.test_live_gunicorn import (  # noqa: F401 - live_env is a fixture
    burst,
    create_vendor,
    gunicorn,
    live_env,
)
from tests.test_settings import start
from vendors.limits import metering, store
from vendors.models import Plan

TOKEN = "metrics-token-for-tests-0123456789abcdef"


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_TOKEN = TOKEN


def parse(text: str) -> dict[tuple, float]:
    """{(sample name, (label, value) pairs sorted): value} of an exposition."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client) -> dict[tuple, float]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    return parse(response.content.decode())


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def moved(before: dict, after: dict, name: str, **labels) -> float:
    """How much a sample grew between two scrapes."""
    return value(after, name, **labels) - value(before, name, **labels)


def requests_total(samples, route, status, plan="none", method="GET") -> float:
    return value(samples, "charp_requests_total", route=route, method=method, status=str(status), plan=plan)


def test_without_metrics_token_it_is_the_404_of_any_unknown_path(api, settings):
    settings.METRICS_TOKEN = ""
    for method in ("get", "post", "options"):
        response = getattr(api, method)("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        unknown = getattr(api, method)("/nothing-here")
        assert response.status_code == unknown.status_code == 404
        assert response.json() == {
            "error": "not_found",
            "error_description": "No endpoint at /metrics. See /docs for the API reference.",
        }
        assert response.json()["error_description"] == unknown.json()["error_description"].replace(
            "/nothing-here", "/metrics"
        )


def test_when_on_it_takes_get_and_head_only(api, metrics_on):
    assert api.options("/metrics").status_code == 204
    assert api.options("/metrics")["Allow"] == "GET, HEAD, OPTIONS"
    refused = api.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert refused.status_code == 405
    assert refused.json()["error"] == "method_not_allowed"


def test_without_a_token_it_is_401_with_a_challenge(api, metrics_on):
    response = api.get("/metrics")
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert "Authorization: Bearer" in response.json()["error_description"]
    assert response["WWW-Authenticate"] == 'Bearer realm="charp-metrics"'
    # Another scheme is no token either.
    assert api.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 401


def test_a_wrong_token_is_401_invalid_token(api, metrics_on):
    for wrong in (TOKEN[:-1], TOKEN + "x", "x", TOKEN.upper()):
        response = api.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {wrong}")
        assert response.status_code == 401
        assert response.json() == {
            "error": "invalid_token",
            "error_description": "The metrics token is wrong: send the server's METRICS_TOKEN.",
        }
        assert response["WWW-Authenticate"] == 'Bearer realm="charp-metrics", error="invalid_token"'


def test_the_right_token_gets_the_prometheus_text_exposition(api, metrics_on):
    response = api.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert response["Cache-Control"] == "no-store"
    text = response.content.decode()
    for line in (
        "# TYPE charp_requests_total counter",
        "# TYPE charp_request_duration_seconds histogram",
        "# TYPE charp_redis_up gauge",
        "# TYPE charp_usage_flush_lag_seconds gauge",
    ):
        assert line in text
    samples = parse(text)
    assert value(samples, "charp_redis_up") == 1
    # A scrape is neither counted nor metered.
    assert not any(labels and dict(labels).get("route") == "metrics" for _name, labels in scrape(api))


def test_metrics_are_not_in_the_api_schema(api):
    assert "/metrics" not in api.get("/api/schema", HTTP_ACCEPT="application/json").json()["paths"]


def test_values_follow_a_token_request_a_list_and_a_429(api, metrics_on, free_vendor):
    plan = Plan.objects.get(code="free")
    plan.requests_per_minute = 1
    plan.save()
    before = scrape(api)
    access_token = get_token(api, free_vendor)["access_token"]
    listed = api.get("/brands", HTTP_AUTHORIZATION=f"Bearer {access_token}")
    refused = api.get("/brands", HTTP_AUTHORIZATION=f"Bearer {access_token}")
    assert (listed.status_code, refused.status_code) == (200, 429)
    after = scrape(api)

    assert moved(before, after, "charp_tokens_issued_total", grant="client_credentials") == 1
    assert (
        requests_total(after, "auth/token", 200, "free", "POST")
        - requests_total(before, "auth/token", 200, "free", "POST")
        == 1
    )
    assert requests_total(after, "brands", 200, "free") - requests_total(before, "brands", 200, "free") == 1
    assert requests_total(after, "brands", 429, "free") - requests_total(before, "brands", 429, "free") == 1
    assert moved(before, after, "charp_throttled_total", reason="rate_limited") == 1
    assert moved(before, after, "charp_request_duration_seconds_count", route="brands") == 2
    # The second request found the token in this worker's copy.
    assert moved(before, after, "charp_cache_hits_total", cache="tokens") == 1
    assert moved(before, after, "charp_cache_misses_total", cache="tokens") == 1
    text = api.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()
    for secret in (free_vendor.vendor.client_id, free_vendor.client_secret, access_token):
        assert secret not in text


def test_route_labels_are_url_patterns_not_paths(api, metrics_on, free_vendor):
    authorization = f"Bearer {get_token(api, free_vendor)['access_token']}"
    before = scrape(api)
    assert api.get("/brands/424242", HTTP_AUTHORIZATION=authorization).status_code == 404
    assert api.get("/brands/424243/", HTTP_AUTHORIZATION=authorization).status_code == 404
    assert api.get("/no/such/path/31337").status_code == 404
    assert api.get("/healthz/").status_code == 200
    after = scrape(api)
    assert requests_total(after, "brands/<pk>", 404, "free") - requests_total(before, "brands/<pk>", 404, "free") == 2
    assert requests_total(after, "unmatched", 404) - requests_total(before, "unmatched", 404) == 1
    assert requests_total(after, "healthz", 200) - requests_total(before, "healthz", 200) == 1
    routes = {dict(labels)["route"] for _name, labels in after if "route" in dict(labels)}
    assert not [route for route in routes if any(part in route for part in ("4242", "31337", "^", "?", "$"))]


def test_failed_authentications_and_their_429_are_counted(api, metrics_on, settings, free_vendor):
    settings.AUTH_FAILURES_PER_CLIENT = 1
    wrong = json.dumps({"client_id": free_vendor.vendor.client_id, "client_secret": "wrong"})
    before = scrape(api)
    statuses = [api.post("/auth/token", wrong, content_type="application/json").status_code for _ in range(2)]
    assert statuses == [401, 429]
    assert api.get("/brands", HTTP_AUTHORIZATION="Bearer not-a-token").status_code == 401
    after = scrape(api)

    assert moved(before, after, "charp_auth_failures_total", endpoint="token") == 2
    assert moved(before, after, "charp_auth_failures_total", endpoint="api") == 1
    assert moved(before, after, "charp_throttled_total", reason="failures") == 1
    assert (
        requests_total(after, "auth/token", 401, "none", "POST")
        - requests_total(before, "auth/token", 401, "none", "POST")
        == 1
    )


def test_the_hourly_token_limit_and_refreshes_are_counted(api, metrics_on, free_vendor):
    plan = Plan.objects.get(code="free")
    plan.tokens_per_hour = 2
    plan.save()
    before = scrape(api)
    issued = get_token(api, free_vendor)
    refreshed = api.post(
        "/auth/refresh", json.dumps({"refresh_token": issued["refresh_token"]}), content_type="application/json"
    )
    assert refreshed.status_code == 200
    body = json.dumps({"client_id": free_vendor.vendor.client_id, "client_secret": free_vendor.client_secret})
    assert api.post("/auth/token", body, content_type="application/json").status_code == 429
    after = scrape(api)

    assert moved(before, after, "charp_tokens_issued_total", grant="client_credentials") == 1
    assert moved(before, after, "charp_tokens_issued_total", grant="refresh_token") == 1
    assert moved(before, after, "charp_throttled_total", reason="issuance") == 1
    assert (
        requests_total(after, "auth/refresh", 200, "free", "POST")
        - requests_total(before, "auth/refresh", 200, "free", "POST")
        == 1
    )


def test_redis_up_follows_the_fail_open_state(api, metrics_on):
    health = store._health
    try:
        health.failed(ConnectionError("refused"))
        assert value(scrape(api), "charp_redis_up") == 0
        health.succeeded()
        assert value(scrape(api), "charp_redis_up") == 1
    finally:
        health.reset()


def test_the_flush_lag_starts_again_at_each_successful_flush(api, metrics_on, db):
    exported.LAST_FLUSH.set(time.time() - 1000)
    assert value(scrape(api), "charp_usage_flush_lag_seconds") >= 1000
    metering.usage_flush()
    assert 0 <= value(scrape(api), "charp_usage_flush_lag_seconds") < 5
    time.sleep(1.1)
    assert value(scrape(api), "charp_usage_flush_lag_seconds") >= 1


def test_a_blank_or_short_metrics_token_stops_start_up():
    assert "METRICS_TOKEN must be at least 32 bytes" in start(DEBUG="true", METRICS_TOKEN=" ").stderr
    short = start(SECRET_KEY="x" * 50, ALLOWED_HOSTS="api.example", METRICS_TOKEN="short")
    assert "METRICS_TOKEN must be at least 32 bytes" in short.stderr
    assert start(SECRET_KEY="x" * 50, ALLOWED_HOSTS="api.example", METRICS_TOKEN=TOKEN).returncode == 0


# --- Under gunicorn ---------------------------------------------------------------------------------------------


def _get(port: int, path: str, token: str | None = None) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


@on_redis
def test_two_gunicorn_workers_add_up(live_env, tmp_path):  # noqa: F811 - the fixture imported above
    vendor = create_vendor(live_env, "enterprise")
    with gunicorn(live_env, tmp_path, workers=2, METRICS_TOKEN=TOKEN) as server:
        token = server.token(vendor)
        sent, served_by = 0, set()
        # Batches until both workers have served some (one fast worker can take a whole batch).
        while len(served_by) < 2:
            assert sent < 300, "both workers should have served some of the requests"
            assert {reply.status for reply in burst(server, token, 30)} == {200}
            sent += 30
            served_by = {
                json.loads(line)["message"].split()[0]
                for line in server.log.read_text().splitlines()
                if '"gunicorn.access"' in line and " /brands" in line
            }

        def brands_count() -> float:
            status, text = _get(server.port, "/metrics", TOKEN)
            assert status == 200, text
            samples = parse(text)
            assert value(samples, "charp_redis_up") == 1
            assert value(samples, "charp_request_duration_seconds_count", route="brands") == sent
            return requests_total(samples, "brands", 200, "enterprise")

        # Whichever worker answers the scrape reports both.
        assert [brands_count() for _ in range(4)] == [sent] * 4
        # A worker that exits leaves its counts in the sum (gunicorn.conf.py's child_exit drops only its gauges).
        pid = int(next(iter(served_by)).removeprefix("pid=<").removesuffix(">"))
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while _alive(pid):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert brands_count() == sent


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
