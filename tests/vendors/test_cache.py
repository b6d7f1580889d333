"""The per-worker caches of tokens and pages (vendors/cache.py) and the versions that keep them exact.

The cross-process behaviour (three gunicorn workers, changes from other processes) is in
tests/ratelimit/test_live_gunicorn.py; here are the rules, on both stores."""

import os
import time

import pytest
from oauth2_provider.models import AccessToken

from tests.conftest import on_redis
from vendors import cache, ratelimit
from vendors.models import Vendor
from vendors.ratelimit import STATUS_OK, STATUS_STALE


@pytest.fixture(params=["local", "redis"])
def store(request):
    if request.param == "local":
        return ratelimit.LOCAL
    if not os.environ.get("REDIS_URL"):
        pytest.skip("needs Redis (set REDIS_URL)")
    return ratelimit.RedisBackend()


def tags(store, client_id="c1"):
    return store.tags(version_keys=ratelimit.version_keys(client_id))


def bump(store, *pairs):
    keys = [key for key, _ in pairs] + [ratelimit.version_keys("")[2]]
    assert store.bump(keys=keys, fields=[field for _, field in pairs])


def vendor_key(client_id):
    return ratelimit.version_keys(client_id)[0]


def hit(store, expected, client="c1"):
    return store.hit(
        window_key=f"{ratelimit._prefix()}rate:{client}",
        limit=5,
        window_ms=60_000,
        quota_key=f"{ratelimit._prefix()}quota:202601:{client}",
        quota=-1,
        quota_ttl=3600,
        requests_field=f"r|2026-01-01|{client}",
        throttled_field=f"t|2026-01-01|{client}",
        now_ms=None,
        version_keys=ratelimit.version_keys(client),
        expected_auth=expected,
    )


def test_tags_change_only_with_what_they_cover(store):
    first = tags(store)
    assert tags(store) == first
    bump(store, (vendor_key("c1"), "d"))
    after_write = tags(store)
    assert after_write.auth == first.auth and after_write.data != first.data
    bump(store, (vendor_key("c1"), "a"))
    after_revoke = tags(store)
    assert after_revoke.auth != first.auth and after_revoke.data == after_write.data
    other = tags(store, "c2")
    bump(store, (ratelimit.version_keys("")[1], "a"))  # a plan changed: every vendor's tokens
    assert tags(store).auth != after_revoke.auth and tags(store, "c2").auth != other.auth
    assert tags(store, "c2").data == other.data


def test_a_stale_tag_counts_nothing_and_hands_back_the_current_one(store):
    current = tags(store)
    assert hit(store, current.auth).status == STATUS_OK
    bump(store, (vendor_key("c1"), "a"))
    stale = hit(store, current.auth)
    assert stale.status == STATUS_STALE and stale.tags == tags(store)
    counted = hit(store, None)
    assert counted.status == STATUS_OK and counted.count == 2  # the stale call was not counted


def test_a_store_that_lost_its_data_never_matches_an_old_tag(store):
    before = tags(store)
    if store is ratelimit.LOCAL:
        store.reset()
    else:
        keys = list(store.client.scan_iter(match=f"{ratelimit._prefix()}version*"))
        store.client.delete(*keys)
    assert tags(store).auth != before.auth and tags(store).data != before.data


@on_redis
def test_reading_tags_of_unknown_clients_creates_no_redis_key():
    store = ratelimit.RedisBackend()
    tags(store, "made-up-client-id")
    assert not store.client.exists(vendor_key("made-up-client-id"))


def test_entries_expire_and_the_cache_stays_within_its_budget(settings):
    lru = cache.LRU("READ_CACHE_SECONDS", max_cost=10)
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
    # A change that bypasses model signals must say so, as the module's docstring asks.
    Vendor.objects.filter(pk=standard_vendor.vendor.pk).update(status=Vendor.Status.SUSPENDED)
    assert api.get("/brands").status_code == 200  # (stale, as documented, until invalidated)
    cache.invalidate(standard_vendor.vendor.client_id, auth=True)
    refused = api.get("/brands")
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_token"


@pytest.mark.django_db
def test_without_the_store_a_cached_token_is_not_trusted(api, free_vendor, token_for, monkeypatch):
    token = token_for(free_vendor)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/brands").status_code == 200  # cached
    AccessToken.objects.update(scope="brands campaigns")  # bypasses signals: only the database knows
    AccessToken.objects.filter(application=free_vendor.vendor.application).update(expires="2000-01-01T00:00Z")
    monkeypatch.setattr(ratelimit, "call", lambda method, /, **kwargs: None)  # the store is unreachable
    monkeypatch.setattr(ratelimit, "hit", lambda **kwargs: None)
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

    writes = 1 if connection.vendor == "postgresql" else 4  # the token rows (vendors/writes.py)
    with django_assert_num_queries(1 + writes):
        assert as_json(client, "/auth/token", credentials(standard_vendor)).status_code == 200
    with django_assert_num_queries(writes):  # the client, vendor and plan come from this worker's copy
        assert as_json(client, "/auth/token", credentials(standard_vendor)).status_code == 200
    rotated = services.vendor_secret_rotate(vendor=standard_vendor.vendor, grace=timedelta(0))
    refused = as_json(client, "/auth/token", credentials(standard_vendor))
    assert refused.status_code == 401
    assert as_json(client, "/auth/token", credentials(rotated)).status_code == 200


def test_the_failed_authentication_check_also_hands_back_the_clients_tags(store):
    windows = [f"{ratelimit._prefix()}authfail:ip:x", f"{ratelimit._prefix()}authfail:client:y"]
    for _ in range(3):
        store.record(keys=windows, window_ms=60_000, now_ms=None)
    wait, found = store.check_and_tags(
        keys=windows, limits=[10, 3], window_ms=60_000, now_ms=None, version_keys=ratelimit.version_keys("c1")
    )
    assert 59_000 <= wait <= 60_000
    assert wait - 1000 <= store.check(keys=windows, limits=[10, 3], window_ms=60_000, now_ms=None) <= wait
    assert found == tags(store)
