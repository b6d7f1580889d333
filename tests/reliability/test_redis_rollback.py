"""Redis restored from an old snapshot must not revive a revoked token in any worker's cache.

A private Redis (its own port and directory) serves three gunicorn workers that have cached a token; a snapshot of the
cache-version keys is taken (DUMP), the token is revoked, then the snapshot is restored (RESTORE), as a restore from
backup or a failover to a replica that missed the last writes would leave them: on the running server (no connection
breaks, the run_id stays: only the announcement of the revocation protects the workers) and after a restart.
"""

import shutil
import subprocess
import time
from collections import Counter

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.conftest import on_redis
from tests.ratelimit.test_live_gunicorn import burst, create_vendor, free_port, gunicorn, live_env, manage  # noqa: F401

pytestmark = [on_redis, pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")]


class PrivateRedis:
    def __init__(self, directory, *options: str):
        self.port = free_port()
        self.directory = directory
        self.options = list(options)  # more redis-server arguments, e.g. "--rename-command", "CONFIG", ""
        self.client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        arguments = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        arguments += ["--daemonize", "yes", "--dir", str(self.directory), *self.options]
        subprocess.run([shutil.which("redis-server"), *arguments], check=True, capture_output=True, timeout=10)  # noqa: S603
        deadline = time.monotonic() + 10
        while True:
            try:
                if self.client.ping():
                    return
            except redis.RedisError:
                pass
            assert time.monotonic() < deadline, "private Redis did not start"
            time.sleep(0.1)

    def stop(self) -> None:
        # Without retries: redis-py would otherwise retry the SHUTDOWN whose answer is a closed connection, with
        # back-off, for about ten seconds.
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2, retry=Retry(NoBackoff(), 0))
        try:
            client.shutdown(nosave=True)
        except redis.RedisError:  # noqa: S110 - already stopped, or the connection closed as it stopped
            pass
        finally:
            client.close()


@pytest.mark.parametrize("restart", [False, True], ids=["restored-in-place", "restarted-and-restored"])
def test_a_restored_snapshot_does_not_revive_a_revoked_token(live_env, tmp_path, restart):  # noqa: F811
    store = PrivateRedis(tmp_path)
    store.start()
    try:
        env = {**live_env, "REDIS_URL": store.url}
        vendor = create_vendor(live_env, "standard")
        with gunicorn(env, tmp_path) as server:
            token = server.token(vendor)
            assert Counter(r.status for r in burst(server, token, 30)) == {200: 30}  # every worker caches it
            prefix = live_env["RATELIMIT_KEY_PREFIX"]
            snapshot = {
                key: (store.client.dump(key), max(store.client.pttl(key), 0))
                for key in store.client.scan_iter(match=f"{prefix}version*")
            }
            assert snapshot, "the version keys exist before the revocation"
            manage(env, "revoketokens", vendor["client_id"])

            if restart:
                store.stop()
                store.start()
            else:  # back to exactly the snapshot: version keys created since are gone too
                store.client.delete(*store.client.scan_iter(match=f"{prefix}version*"))
            for key, (value, ttl) in snapshot.items():
                store.client.restore(key, ttl, value, replace=True)

            replies = burst(server, token, 30)
            assert Counter(r.status for r in replies) == {401: 30}
            assert all(r.body["error"] == "invalid_token" for r in replies)
            # The vendor's credentials still work, and so do the tokens issued after the revocation.
            assert Counter(r.status for r in burst(server, server.token(vendor), 30)) == {200: 30}
    finally:
        store.stop()
