"""Shared personas and helpers: vendors on each plan, real tokens from the real token endpoint."""

import os
import uuid

import pytest
from rest_framework.test import APIClient

from vendors import ratelimit, services

on_postgres = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="needs PostgreSQL (set DATABASE_URL)"
)
on_redis = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (set REDIS_URL)")


@pytest.fixture(autouse=True)
def isolated_rate_limits(settings):
    """Each test counts on fresh rate-limit, quota and auth-failure counters, and no worker flushes usage by itself."""
    settings.RATELIMIT_KEY_PREFIX = f"charp:test:{uuid.uuid4().hex[:12]}:"
    settings.USAGE_FLUSH_INTERVAL = 0
    ratelimit.LOCAL.reset()
    yield
    if ratelimit.backend() is not ratelimit.LOCAL:
        client = ratelimit.backend().client
        keys = list(client.scan_iter(match=f"{settings.RATELIMIT_KEY_PREFIX}*", count=1000))
        if keys:
            client.delete(*keys)


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def make_vendor(db):
    """Create a vendor on a plan; returns the IssuedSecret (vendor + its clear secret)."""

    def make(plan: str = "free", name: str | None = None, **kwargs):
        make.count += 1
        return services.vendor_create(name=name or f"Vendor {make.count}", plan=services.plan_get(code=plan), **kwargs)

    make.count = 0
    return make


@pytest.fixture
def free_vendor(make_vendor):
    return make_vendor("free", name="Free Co")


@pytest.fixture
def standard_vendor(make_vendor):
    return make_vendor("standard", name="Standard Co")


@pytest.fixture
def enterprise_vendor(make_vendor):
    return make_vendor("enterprise", name="Enterprise Co")


def get_token(client, issued, **extra) -> dict:
    """Exchange a vendor's credentials at /auth/token exactly as the spec's curl example does."""
    body = {"client_id": issued.vendor.client_id, "client_secret": issued.client_secret, **extra}
    response = client.post("/auth/token", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def token_for(api):
    """A real access token for a vendor, from the real token endpoint."""

    def token(issued, **extra) -> str:
        return get_token(api, issued, **extra)["access_token"]

    return token


@pytest.fixture
def as_vendor(token_for):
    """An APIClient authenticated with a real Bearer token of the given vendor."""

    def client(issued, **extra) -> APIClient:
        authed = APIClient()
        authed.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(issued, **extra)}")
        return authed

    return client
