"""GET /healthz and /readyz: unauthenticated JSON, never cached, 503 naming the failed check."""

import pytest
from django.db import connection
from django.test import override_settings

from tests.conftest import on_redis


def test_healthz_answers_without_touching_the_database(client):
    # No django_db mark: any query would raise here.
    response = client.get("/healthz", HTTP_AUTHORIZATION="Bearer not-a-token")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"process": "ok"}}
    assert response["Cache-Control"] == "no-store"
    assert response["Content-Type"] == "application/json"


@pytest.mark.django_db
def test_readyz_checks_the_database_with_one_query(client, django_assert_num_queries):
    with django_assert_num_queries(1) as captured:
        response = client.get("/readyz")

    assert captured.captured_queries[0]["sql"] == "SELECT 1"
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_readyz_is_503_naming_the_database_when_it_is_unreachable(client, monkeypatch):
    from django.db import OperationalError

    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    # The one stand-in of this file: stopping the test database would end the test session.
    monkeypatch.setattr(connection, "cursor", refuse)
    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["checks"]["database"] == "unreachable (OperationalError)"
    assert response["Cache-Control"] == "no-store"


@on_redis
@pytest.mark.django_db
def test_readyz_pings_redis(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "redis": "ok"}
    assert response.json()["rate_limits"] == {"backend": "redis", "healthy": True}


@pytest.mark.django_db
def test_readyz_stays_ready_but_degraded_naming_redis_when_it_is_unreachable(client):
    # The API fails open without Redis; pulling every node from the load balancer would turn that into an outage.
    # A real client pointed at a closed port: the same failure as a stopped Redis.
    unreachable = "redis://127.0.0.1:1/0"
    caches = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": unreachable,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }
    with override_settings(REDIS_URL=unreachable, CACHES=caches):
        response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["database"] == "ok"
    assert response.json()["checks"]["redis"] == "unreachable (ConnectionError)"


@pytest.mark.django_db
def test_health_probes_are_not_rate_limited(client, settings):
    settings.AUTH_FAILURES_PER_IP = 1
    for _ in range(50):
        assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
