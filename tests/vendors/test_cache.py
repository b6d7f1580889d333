"""The per-worker caches of tokens and pages (vendors/caching/) and the versions that keep them exact.

The versions themselves are tested on both stores in tests/ratelimit/test_limiter.py, the cross-process behaviour
(three gunicorn workers, changes from other processes) in tests/ratelimit/test_live_gunicorn.py."""

import time

import pytest
from oauth2_provider.models import AccessToken

from vendors.caching import copies
from vendors.limits import store
from vendors.models import Vendor


def test_entries_expire_and_the_cache_stays_within_its_budget(settings):
    lru = copies.LRU("test", "READ_CACHE_SECONDS", max_cost=10)
    settings.READ_CACHE_SECONDS = 0.05
    lru.put("a", "t", "A", cost=4)
    lru.put("b", "t", "B", cost=4)
    assert lru.get("a") == ("t", "A")
    lru.put("c", "t", "C", cost=4)  # over budget: the least recently used ("b") goes
    assert lru.get("b") is None and lru.get("a") == ("t", "A") and lru.get("c") == ("t", "C")
    lru.put("huge", "t", "X", cost=11)
    assert lru.get("huge") is None
    time.sleep(0.06)
    assert lru.get("a") is None
    settings.READ_CACHE_SECONDS = 0
    lru.put("d", "t", "D")
    assert len(lru) == 0 or lru.get("d") is None


@pytest.mark.django_db
def test_a_cached_token_is_checked_on_every_request(api, standard_vendor, token_for, django_assert_num_queries):
    token = token_for(standard_vendor)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/brands").status_code == 200  # the token and the page are now cached
    with django_assert_num_queries(0):
        assert api.get("/brands").status_code == 200
    # A bulk write sends no post_save, but the vendor's QuerySet announces it: no hand call (versions.CONTRACT).
    Vendor.objects.filter(pk=standard_vendor.vendor.pk).update(status=Vendor.Status.SUSPENDED)
    refused = api.get("/brands")
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_token"


@pytest.mark.django_db
def test_without_the_store_a_cached_token_is_not_trusted(api, free_vendor, token_for, monkeypatch):
    token = token_for(free_vendor)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/brands").status_code == 200  # cached
    AccessToken.objects.update(scope="brands campaigns")  # bypasses signals: only the database knows
    AccessToken.objects.filter(application=free_vendor.vendor.application).update(expires="2000-01-01T00:00Z")
    monkeypatch.setattr(store, "call", lambda method, /, **kwargs: None)  # the store is unreachable
    monkeypatch.setattr(store, "hit", lambda **kwargs: None)
    refused = api.get("/brands")
    assert refused.status_code == 401 and "expired" in refused.json()["error_description"]


@pytest.mark.django_db
def test_the_token_endpoint_reuses_the_client_until_its_secret_changes(
    client, standard_vendor, django_assert_num_queries
):
    from datetime import timedelta

    from django.db import connection

    from vendors import services

    from .oauth_helpers import as_json, credentials

    writes = 1 if connection.vendor == "postgresql" else 4  # the token rows (vendors/oauth/writes.py)
    with django_assert_num_queries(1 + writes):
        assert as_json(client, "/auth/token", credentials(standard_vendor)).status_code == 200
    with django_assert_num_queries(writes):  # the client, vendor and plan come from this worker's copy
        assert as_json(client, "/auth/token", credentials(standard_vendor)).status_code == 200
    rotated = services.vendor_secret_rotate(vendor=standard_vendor.vendor, grace=timedelta(0))
    refused = as_json(client, "/auth/token", credentials(standard_vendor))
    assert refused.status_code == 401
    assert as_json(client, "/auth/token", credentials(rotated)).status_code == 200
