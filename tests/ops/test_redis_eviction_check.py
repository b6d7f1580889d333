"""`check --deploy` warns when the Redis at REDIS_URL may evict the counters (on a private redis-server)."""

import secrets
import shutil

import pytest

from tests.ops.test_deploy_check import check_deploy
from tests.ratelimit.test_live_gunicorn import free_port
from tests.reliability.test_redis_rollback import PrivateRedis
from vendors.checks import redis_never_evicts

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")


@pytest.fixture
def private_redis(tmp_path):
    servers = []

    def start(*options: str) -> PrivateRedis:
        server = PrivateRedis(tmp_path / str(len(servers)), *options)
        server.directory.mkdir()
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()


def test_it_warns_when_redis_may_evict_keys(settings, private_redis):
    server = private_redis()
    server.client.config_set("maxmemory-policy", "allkeys-lru")
    settings.REDIS_URL = server.url

    [warning] = redis_never_evicts(None)

    assert warning.id == "charp.W003"
    assert "maxmemory-policy allkeys-lru" in warning.msg
    assert "Set maxmemory-policy noeviction" in warning.hint and "quota, metering" in warning.hint


@pytest.mark.parametrize("policy", ["volatile-lru", "volatile-ttl"])
def test_volatile_policies_are_not_enough_since_the_counters_carry_ttls(settings, private_redis, policy):
    server = private_redis()
    server.client.config_set("maxmemory-policy", policy)
    settings.REDIS_URL = server.url

    assert [warning.id for warning in redis_never_evicts(None)] == ["charp.W003"]


def test_it_is_silent_on_noeviction(settings, private_redis):
    server = private_redis()
    server.client.config_set("maxmemory-policy", "noeviction")
    settings.REDIS_URL = server.url

    assert redis_never_evicts(None) == []


def test_it_warns_that_it_could_not_verify_when_config_is_disabled(settings, private_redis):
    server = private_redis("--rename-command", "CONFIG", "")
    settings.REDIS_URL = server.url

    [warning] = redis_never_evicts(None)

    assert warning.id == "charp.W004"
    assert "Could not verify" in warning.msg and "noeviction" in warning.hint


def test_it_is_silent_without_redis_or_when_redis_does_not_answer(settings):
    settings.REDIS_URL = ""
    assert redis_never_evicts(None) == []

    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    assert redis_never_evicts(None) == []


def test_check_deploy_reports_the_eviction_policy(tmp_path, private_redis):
    server = private_redis()
    server.client.config_set("maxmemory-policy", "allkeys-lru")
    keys = {
        "CLIENT_SECRET_PEPPER": secrets.token_urlsafe(32),
        "JWT_SIGNING_KEYS": secrets.token_urlsafe(32),
    }

    result = check_deploy(tmp_path, REDIS_URL=server.url, **keys)

    output = result.stdout + result.stderr
    assert result.returncode != 0  # --fail-level WARNING
    assert "(charp.W003) Redis at REDIS_URL has maxmemory-policy allkeys-lru" in output
    assert "identified 1 issue" in output

    server.client.config_set("maxmemory-policy", "noeviction")
    assert check_deploy(tmp_path, REDIS_URL=server.url, **keys).returncode == 0
