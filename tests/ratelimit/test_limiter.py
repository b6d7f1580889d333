"""The limiter itself, with a controlled clock, on both backends: the Lua scripts on Redis and on the in-process
fakeredis must agree."""

import os
import threading

import pytest
from django.test import override_settings

from tests.conftest import on_redis
from vendors.limits import store as limits
from vendors.limits.store import STATUS_OK, STATUS_QUOTA_EXCEEDED, STATUS_RATE_LIMITED, STATUS_STALE

T0 = 1_750_000_000_000  # ms
MINUTE = 60_000


@pytest.fixture(params=["local", "redis"])
def store(request, settings):
    if request.param == "local":
        return limits.LOCAL
    if not os.environ.get("REDIS_URL"):
        pytest.skip("needs Redis (set REDIS_URL)")
    return limits.RedisBackend()


def hit(store, now_ms, *, client="c1", limit=5, quota=-1, month="202506", expected=None):
    return store.hit(
        window_key=f"{limits._prefix()}rate:{client}",
        limit=limit,
        window_ms=MINUTE,
        quota_key=f"{limits._prefix()}quota:{month}:{client}",
        quota=quota,
        quota_ttl=3600,
        requests_field=f"r|2025-06-01|{client}",
        throttled_field=f"t|2025-06-01|{client}",
        now_ms=now_ms,
        version_keys=limits.version_keys(client),
        expected_auth=expected,
    )


def test_a_burst_gets_exactly_the_limit(store):
    outcomes = [hit(store, T0 + i) for i in range(8)]
    assert [o.status for o in outcomes] == [STATUS_OK] * 5 + [STATUS_RATE_LIMITED] * 3
    assert [o.count for o in outcomes[:5]] == [1, 2, 3, 4, 5]
    # The first request's departure frees the window: a minute after it.
    assert outcomes[5].marker_ms == T0
    assert outcomes[7].now_ms == T0 + 7


def test_no_double_burst_at_a_window_edge(store):
    # Five requests at the end of one "minute" and none may pass at the start of the next one.
    for i in range(5):
        assert hit(store, T0 + 59_000 + i).status == STATUS_OK
    assert hit(store, T0 + 60_500).status == STATUS_RATE_LIMITED
    assert hit(store, T0 + 59_000 + MINUTE - 1).status == STATUS_RATE_LIMITED
    # Exactly a minute after the first one, one slot frees; the next frees a millisecond later.
    assert hit(store, T0 + 59_000 + MINUTE).status == STATUS_OK
    assert hit(store, T0 + 59_000 + MINUTE).status == STATUS_RATE_LIMITED
    assert hit(store, T0 + 59_001 + MINUTE).status == STATUS_OK


def test_no_sixty_second_span_ever_admits_more_than_the_limit(store):
    admitted = []
    for step in range(0, 300_000, 700):  # a request every 0.7 s for five minutes: 1.4x the limit of 60/min
        if hit(store, T0 + step, limit=60).status == STATUS_OK:
            admitted.append(T0 + step)
    for index, start in enumerate(admitted):
        in_span = [t for t in admitted[index:] if t < start + MINUTE]
        assert len(in_span) <= 60
    assert len(admitted) >= 60 * 5 - 1


def test_refused_requests_use_neither_window_nor_quota(store):
    for i in range(5):
        hit(store, T0 + i, quota=100)
    for i in range(20):
        assert hit(store, T0 + 10 + i, quota=100).status == STATUS_RATE_LIMITED
    later = hit(store, T0 + MINUTE + 10, quota=100)
    assert later.status == STATUS_OK
    assert later.used == 6


def test_the_monthly_quota_stops_requests_and_resets_with_the_month(store):
    outcomes = [hit(store, T0 + i * 20_000, quota=3) for i in range(5)]
    assert [o.status for o in outcomes] == [STATUS_OK] * 3 + [STATUS_QUOTA_EXCEEDED] * 2
    assert [o.used for o in outcomes] == [1, 2, 3, 3, 3]
    assert hit(store, T0 + 200_000, quota=3, month="202507").status == STATUS_OK


def test_a_lowered_limit_waits_for_enough_requests_to_age_out(store):
    for i in range(5):
        hit(store, T0 + i * 1000, limit=5)
    refused = hit(store, T0 + 10_000, limit=2)
    assert refused.status == STATUS_RATE_LIMITED
    assert refused.count == 5
    # Four must leave before a fifth fits under 2: the fourth left at T0 + 3000 + 60 s.
    assert refused.marker_ms == T0 + 3000
    assert hit(store, T0 + 3000 + MINUTE, limit=2).status == STATUS_OK


def test_clients_have_separate_windows(store):
    for i in range(5):
        hit(store, T0 + i, client="a")
    assert hit(store, T0 + 10, client="a").status == STATUS_RATE_LIMITED
    assert hit(store, T0 + 10, client="b").status == STATUS_OK


def test_usage_counts_served_and_refused_requests_for_a_flush(store):
    for i in range(7):
        hit(store, T0 + i)
    assert store.usage_take() == {"r|2025-06-01|c1": 5, "t|2025-06-01|c1": 2}
    store.usage_done()
    hit(store, T0 + MINUTE + 100)
    assert store.usage_take() == {"r|2025-06-01|c1": 1}
    store.usage_done()
    assert store.usage_take() == {}


def test_failure_windows_block_at_the_limit_until_the_oldest_ages_out(store):
    keys = [f"{limits._prefix()}authfail:ip:x", f"{limits._prefix()}authfail:client:y:x"]
    for i in range(3):
        assert store.check(keys=keys, limits=[10, 3], window_ms=MINUTE, now_ms=T0 + i) == 0
        store.record(keys=keys, window_ms=MINUTE, now_ms=T0 + i)
    assert store.check(keys=keys, limits=[10, 3], window_ms=MINUTE, now_ms=T0 + 1000) == MINUTE - 1000
    assert store.check(keys=keys[:1], limits=[10], window_ms=MINUTE, now_ms=T0 + 1000) == 0
    assert store.check(keys=keys, limits=[10, 3], window_ms=MINUTE, now_ms=T0 + MINUTE) == 0


def test_the_local_backend_is_exact_under_threads():
    results = []

    def worker():
        for i in range(50):
            results.append(hit(limits.LOCAL, T0 + i, limit=100).status)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(STATUS_OK) == 100
    assert results.count(STATUS_RATE_LIMITED) == 300


def test_counts_served_while_redis_is_down_need_no_in_process_server():
    """A process with REDIS_URL meters on its own during an outage, and never loads fakeredis for that."""
    local = limits.LocalBackend()
    local.usage_incr("r|2025-06-01|c1")
    local.usage_incr("r|2025-06-01|c1")
    assert local.usage_take() == {"r|2025-06-01|c1": 2}
    local.usage_restore({"t|2025-06-01|c1": 1})  # a flush that failed
    assert local.usage_take() == {"t|2025-06-01|c1": 1}
    assert local.usage_take() == {}
    assert local._fake is None


def test_without_a_redis_cache_the_local_backend_is_used():
    with override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}):
        assert limits.backend() is limits.LOCAL
        assert limits.status() == {"backend": "local", "healthy": True, "failing_since": None}


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (set REDIS_URL)")
def test_the_redis_script_uses_the_redis_clock_when_given_none():
    store = limits.RedisBackend()
    outcome = hit(store, None)
    seconds, micros = store.client.time()
    assert abs(outcome.now_ms - (seconds * 1000 + micros // 1000)) < 1000


# --- Cache versions (vendors/caching/): the tags the hit script hands back -----------------------------------------


def tags(store, client_id="c1"):
    return store.tags(version_keys=limits.version_keys(client_id))


def bump(store, *pairs):
    keys = [key for key, _ in pairs] + [limits.version_keys("")[2]]
    assert store.bump(keys=keys, fields=[field for _, field in pairs])


def vendor_key(client_id):
    return limits.version_keys(client_id)[0]


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
    bump(store, (limits.version_keys("")[1], "a"))  # a plan changed: every vendor's tokens
    assert tags(store).auth != after_revoke.auth and tags(store, "c2").auth != other.auth
    assert tags(store, "c2").data == other.data


def test_ending_a_token_moves_the_auth_tag_but_not_the_clients(store):
    """A refresh's rotation ends one access token (field "t"): copies of tokens go, the copy of the client stays
    good; a change of the client, vendor or plan moves both."""
    first = tags(store)
    assert first.client is not None and hit(store, None).tags == first
    bump(store, (vendor_key("c1"), "t"))
    ended = tags(store)
    assert ended.auth != first.auth and ended.client == first.client
    bump(store, (vendor_key("c1"), "a"))
    assert tags(store).client != ended.client and tags(store).auth != ended.auth
    other = tags(store, "c2")
    bump(store, (limits.version_keys("")[1], "a"))  # a plan changed: every vendor's client
    assert tags(store, "c2").client != other.client


def test_a_stale_tag_counts_nothing_and_hands_back_the_current_one(store):
    current = tags(store)
    assert hit(store, None, expected=current.auth).status == STATUS_OK
    bump(store, (vendor_key("c1"), "a"))
    stale = hit(store, None, expected=current.auth)
    assert stale.status == STATUS_STALE and stale.tags == tags(store)
    counted = hit(store, None)
    assert counted.status == STATUS_OK and counted.count == 2  # the stale call was not counted


def test_a_store_that_lost_its_data_never_matches_an_old_tag(store):
    before = tags(store)
    if store is limits.LOCAL:
        store.reset()
    else:
        keys = list(store.client.scan_iter(match=f"{limits._prefix()}version*"))
        store.client.delete(*keys)
    assert tags(store).auth != before.auth and tags(store).data != before.data


@on_redis
def test_reading_tags_of_unknown_clients_creates_no_redis_key():
    store = limits.RedisBackend()
    tags(store, "made-up-client-id")
    assert not store.client.exists(vendor_key("made-up-client-id"))


def test_the_failed_authentication_check_also_hands_back_the_clients_tags(store):
    windows = [f"{limits._prefix()}authfail:ip:x", f"{limits._prefix()}authfail:client:y"]
    for _ in range(3):
        store.record(keys=windows, window_ms=60_000, now_ms=None)
    wait, found, issued = store.check_and_tags(
        keys=windows, limits=[10, 3], window_ms=60_000, now_ms=None, version_keys=limits.version_keys("c1")
    )
    assert 59_000 <= wait <= 60_000
    assert wait - 1000 <= store.check(keys=windows, limits=[10, 3], window_ms=60_000, now_ms=None) <= wait
    assert found == tags(store)
    assert issued is None


HOUR_MS = 3_600_000


def count_issuance(store, now_ms, client="c1"):
    return store.check_and_tags(
        keys=[],
        limits=[],
        window_ms=60_000,
        now_ms=now_ms,
        version_keys=limits.version_keys(client),
        issuance_base=limits.issuance_base(client),
    )[2]


def test_token_issuance_is_counted_per_clock_hour_in_the_same_round_trip(store):
    start = 1_780_000 * HOUR_MS  # the top of an hour
    counts = [count_issuance(store, start + 1000 * i) for i in range(3)]
    assert [issued.count for issued in counts] == [1, 2, 3]
    assert [issued.reset for issued in counts] == [3600, 3599, 3598]
    assert count_issuance(store, start + HOUR_MS).count == 1  # a new hour, a new count
    assert count_issuance(store, start, client="c2").count == 1  # per vendor


def test_a_count_that_became_no_token_is_given_back_and_the_counter_vanishes_at_zero(store):
    start = 1_780_001 * HOUR_MS
    first = count_issuance(store, start)
    store.record(keys=[], window_ms=1, now_ms=start, give_back=first.key)
    assert count_issuance(store, start).count == 1
    failures = [f"{limits._prefix()}authfail:ip:z"]
    second = count_issuance(store, start)
    assert second.count == 2
    store.record(keys=failures, window_ms=60_000, now_ms=start, give_back=second.key)  # a failure, in one call
    assert store.check(keys=failures, limits=[1], window_ms=60_000, now_ms=start) > 0
    assert count_issuance(store, start).count == 2
    for _ in range(2):
        store.record(keys=[], window_ms=1, now_ms=start, give_back=second.key)
    store.record(keys=[], window_ms=1, now_ms=start, give_back=second.key)
    if store is not limits.LOCAL:  # an unknown client's failures leave no key behind
        assert not store.client.exists(second.key)


def test_a_refresh_counts_only_under_the_limit(store):
    start = 1_780_002 * HOUR_MS
    base = limits.issuance_base("c3")
    results = [store.issue(base=base, limit=2, now_ms=start + i) for i in range(3)]
    assert [(allowed, issued.count) for allowed, issued in results] == [(True, 1), (True, 2), (False, 2)]
    assert results[2][1].reset == 3600
    assert store.issue(base=base, limit=-1, now_ms=start)[0] is True


def test_a_tag_names_the_redis_server_that_answered(store):
    """A restored snapshot or a promoted replica hands back old versions; its run_id keeps their tags from matching
    what workers cached before (vendors/limits.py)."""
    if store is limits.LOCAL:
        pytest.skip("one process: there is no other server")
    run_id = store.client.info("server")["run_id"]
    assert tags(store).auth.startswith(f"{run_id}.")
    assert tags(store).data.startswith(f"{run_id}.")
