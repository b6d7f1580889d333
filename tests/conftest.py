"""Shared personas and helpers: vendors on each plan, real tokens from the real token endpoint."""

import importlib
import json
import os
import uuid

import pytest
from django.core.signals import setting_changed
from django.dispatch import receiver
from rest_framework.test import APIClient

from vendors import services
from vendors.caching import copies, versions
from vendors.limits import flusher, last_used, request_log, store

on_postgres = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="needs PostgreSQL (set DATABASE_URL)"
)
on_redis = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (set REDIS_URL)")


@receiver(setting_changed)
def _settings_changed(*, setting, **kwargs):
    """A process reads these settings once, and changing them takes a restart, which empties every copy; tests
    change them in place, so they do what the restart would."""
    if setting == "CACHES":
        store.forget_backend()
    # A copied token skips its signature check (it was checked when copied): new keys must drop the copies.
    if setting in ("JWT_SIGNING_KEYS", "JWT_ISSUER", "JWT_AUDIENCE"):
        copies.tokens.clear()


@pytest.fixture(autouse=True)
def isolated_rate_limits(request, settings, monkeypatch):
    """Each test counts on fresh rate-limit, quota and auth-failure counters and empty caches, and no worker flushes
    usage by itself."""
    settings.RATELIMIT_KEY_PREFIX = f"charp:test:{uuid.uuid4().hex[:12]}:"
    settings.USAGE_FLUSH_INTERVAL = 0
    store.LOCAL.reset()
    last_used.reset()
    request_log.reset()
    copies.clear()
    marker = request.node.get_closest_marker("django_db")
    if not (marker and marker.kwargs.get("transaction")) and "transactional_db" not in request.fixturenames:
        # The test's transaction never commits, and every read shares it: bump cache versions at once.
        monkeypatch.setattr(versions, "after_commit", lambda callback: callback())
    yield
    if store.backend() is not store.LOCAL:
        client = store.backend().client
        keys = list(client.scan_iter(match=f"{settings.RATELIMIT_KEY_PREFIX}*", count=1000))
        if keys:
            client.delete(*keys)


@pytest.fixture(autouse=True)
def flusher_without_thread(monkeypatch) -> flusher.Flusher:
    """A fresh background flusher (vendors/limits/flusher.py) for each test, whose thread never starts: a test writes
    the buffers by calling `turn()` (what the thread runs) or the flushes themselves, in its own transaction. The
    tests of the thread install a real one (see tests/vendors/test_flusher.py)."""
    fresh = flusher.Flusher()
    fresh.starts = 0

    def start():
        fresh.starts += 1

    monkeypatch.setattr(fresh, "_start", start)
    monkeypatch.setattr(flusher, "FLUSHER", fresh)
    return fresh


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def plans(db):
    """The seeded plans; re-seeded when a transactional test before this one flushed the tables."""
    from django.apps import apps

    from vendors.models import Plan

    if not Plan.objects.exists():
        importlib.import_module("vendors.migrations.0002_seed_plans").seed(apps, None)
        importlib.import_module("vendors.migrations.0004_token_generation_and_issuance_limits").seed(apps, None)
    return {plan.code: plan for plan in Plan.objects.all()}


@pytest.fixture
def make_vendor(plans):
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
    response = client.post("/auth/token", json.dumps(body), content_type="application/json")
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


@pytest.fixture
def make_staff(db):
    """A staff user holding the given permissions ("vendors.view_vendor", …); a password only when a test logs in."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    def make(username: str, *perms: str, password: str | None = None):
        user = get_user_model().objects.create_user(username=username, password=password, is_staff=True)
        for perm in perms:
            app_label, codename = perm.split(".")
            user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        return user

    return make


# The two staff roles of the portal: one may manage credentials, the other may only look.
MANAGER_PERMS = (
    "vendors.view_vendor",
    "vendors.add_vendor",
    "vendors.change_vendor",
    "vendors.manage_credentials",
    "vendors.view_auditevent",
)
VIEWER_PERMS = ("vendors.view_vendor", "vendors.view_auditevent")
