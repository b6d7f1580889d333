"""The counters' scripts run as EVALSHA straight on each thread's Redis connection (vendors/limits/store.py): what
redis-py's client did around them must still hold. On a private redis-server, as SCRIPT FLUSH, CLIENT KILL and
CLIENT PAUSE reach every client of the server."""

import shutil

import pytest
import redis
from django.test import override_settings

from tests.reliability.test_redis_rollback import PrivateRedis
from vendors.limits import store as limits

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")


@pytest.fixture
def server(tmp_path, monkeypatch):
    server = PrivateRedis(tmp_path)
    server.start()
    monkeypatch.setattr(limits, "REDIS_RETRY_SECONDS", 0)  # every call below tries Redis
    caches = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": server.url,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }
    try:
        with override_settings(CACHES=caches):
            assert isinstance(limits.backend(), limits.RedisBackend)
            yield server
    finally:
        server.stop()


def tags(client_id="c1"):
    return limits.call("tags", version_keys=limits.version_keys(client_id))


def test_scripts_the_server_lost_are_loaded_again(server):
    first = tags()
    connection = limits.backend().client.client_id()
    server.client.script_flush()

    assert tags() == first
    assert server.client.script_exists(limits.backend()._tags.sha) == [True]
    assert limits.backend().client.client_id() == connection  # on the same connection: no failure in between


def test_after_a_restart_one_call_fails_open_and_the_next_reconnects_and_loads_the_scripts(server):
    assert tags() is not None
    server.stop()
    server.start()

    assert tags() is None  # the held connection was closed by the old server
    assert limits.status()["healthy"] is False
    assert isinstance(tags(), limits.Tags)
    assert limits.status()["healthy"] is True


def test_a_killed_connection_fails_open_once(server):
    assert tags() is not None
    server.client.client_kill_filter(_id=limits.backend().client.client_id())

    assert tags() is None
    assert isinstance(tags(), limits.Tags)
    assert limits.status()["healthy"] is True


def test_an_error_reply_raises_and_the_connection_stays_in_step(server):
    store = limits.backend()
    server.client.set(limits.version_keys("c1")[2], "not a hash")  # HGET on it is a WRONGTYPE error in the script
    connection = store.client.client_id()

    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        store.tags(version_keys=limits.version_keys("c1"))
    assert tags("c1") is None  # through call(): an error reply fails open, never comes back as data

    server.client.delete(limits.version_keys("c1")[2])
    assert isinstance(tags("c1"), limits.Tags)
    assert store.client.client_id() == connection


def test_a_reply_that_came_too_late_is_never_read_by_the_next_call(server):
    """A timeout mid-call: the reply arrives after it, and the next call, a different script, must get its own."""
    keys = [f"{limits._prefix()}authfail:ip:x"]
    server.client.client_pause(2000)  # every client's commands wait, longer than the 0.5 s socket timeout

    assert tags() is None
    server.client.client_unpause()

    assert limits.call("check", keys=keys, limits=[1], window_ms=60_000, now_ms=None) == 0
    assert isinstance(tags(), limits.Tags)
