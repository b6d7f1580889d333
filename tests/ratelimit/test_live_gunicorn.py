"""The limits across processes: three gunicorn workers sharing Redis, against a database of the test's own.

Skipped without REDIS_URL. The database is PostgreSQL when DATABASE_URL says so (a fresh database created and
dropped here), else an SQLite file; the app runs as in production (charp.settings), with DEBUG for a development key.
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.conftest import on_redis

pytestmark = on_redis

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def live_env(tmp_path_factory):
    """Environment for subprocesses: a migrated database of this module's own and a private Redis key prefix (when
    REDIS_URL is set; without it each process keeps its limits in memory)."""
    name = f"charp_live_{uuid.uuid4().hex[:10]}"
    base_url = os.environ.get("DATABASE_URL", "")
    admin = None
    if base_url.startswith("postgres"):
        import psycopg

        parts = urlsplit(base_url)
        admin = psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True)
        admin.execute(f'CREATE DATABASE "{name}"')
        database_url = urlunsplit(parts._replace(path=f"/{name}"))
    else:
        database_url = f"sqlite:///{tmp_path_factory.mktemp('live') / 'db.sqlite3'}"
    prefix = f"charp:live:{uuid.uuid4().hex[:10]}:"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "charp.settings",
        "DEBUG": "true",
        "DATABASE_URL": database_url,
        "CONN_MAX_AGE": "0",
        "RATELIMIT_KEY_PREFIX": prefix,
        "USAGE_FLUSH_INTERVAL": "0",
        "AUTH_FAILURES_PER_CLIENT": "3",
        "AUTH_FAILURES_PER_IP": "6",
        "LOG_LEVEL": "WARNING",
    }
    manage(env, "migrate", "--no-input", "-v0")
    yield env
    if os.environ.get("REDIS_URL"):  # other modules' live servers run without Redis too
        import redis

        client = redis.Redis.from_url(os.environ["REDIS_URL"])
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    if admin is not None:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def manage(env: dict, *args: str) -> str:
    result = subprocess.run(  # noqa: S603 - our own manage.py with fixed arguments
        [sys.executable, "manage.py", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def create_vendor(env: dict, plan: str = "free") -> dict:
    return json.loads(manage(env, "createvendor", f"Live {uuid.uuid4().hex[:6]}", "--plan", plan, "--json"))


@dataclass
class Reply:
    status: int
    headers: dict
    body: dict

    def policies(self, field: str = "ratelimit") -> dict:
        result = {}
        for item in self.headers[field].split(","):
            name, *params = item.strip().split(";")
            result[name.strip('"')] = {k: int(v) for k, v in (p.split("=") for p in params)}
        return result


@dataclass
class Server:
    port: int
    log: Path

    def call(self, method, path, body=None, token=None, source="127.0.0.1", headers=None) -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15, source_address=(source, 0))
        headers = {"Content-Type": "application/json", **(headers or {})}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, json.loads(raw or b"{}"))
        finally:
            conn.close()

    def token(self, vendor: dict, source="127.0.0.1") -> str:
        reply = self.call(
            "POST",
            "/auth/token",
            {"client_id": vendor["client_id"], "client_secret": vendor["client_secret"]},
            source=source,
        )
        assert reply.status == 200, reply.body
        return reply.body["access_token"]

    def worker_pids(self) -> set[str]:
        # gunicorn's access lines are JSON (gunicorn.conf.py); the format below puts "pid=<N> " in their message.
        messages = [
            json.loads(line)["message"] for line in self.log.read_text().splitlines() if '"gunicorn.access"' in line
        ]
        return {match.group(1) for message in messages if (match := re.match(r"pid=<(\d+)> ", message))}


@contextmanager
def gunicorn(env: dict, tmp_path: Path, workers: int = 3, **extra_env):
    port = free_port()
    log = tmp_path / f"gunicorn-{port}.log"
    command = [
        # The project's production config, then what these tests need instead.
        sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "charp.wsgi:application",
        "-w", str(workers), "-b", f"127.0.0.1:{port}",
        "--access-logfile", "-", "--access-logformat", "pid=%(p)s %(s)s %(U)s", "--graceful-timeout", "2",
        # Other gunicorns run on this machine: never share their default control socket.
        "--no-control-socket",
    ]  # fmt: skip
    with log.open("w") as out:
        process = subprocess.Popen(command, env={**env, **extra_env}, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
    server = Server(port, log)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if server.call("GET", "/.well-known/oauth-authorization-server").status == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def server(live_env, tmp_path_factory):
    with gunicorn(live_env, tmp_path_factory.mktemp("gunicorn")) as running:
        yield running


def burst(server: Server, token: str, count: int, path: str = "/brands") -> list[Reply]:
    with ThreadPoolExecutor(max_workers=12) as pool:
        return list(pool.map(lambda _: server.call("GET", path, token=token), range(count)))


def test_a_burst_across_three_workers_gets_exactly_the_allowance(server, live_env):
    vendor = create_vendor(live_env, "free")
    replies = burst(server, server.token(vendor), 75)
    statuses = Counter(reply.status for reply in replies)
    assert statuses == {200: 60, 429: 15}
    assert len(server.worker_pids()) >= 2, "the burst should have been served by several workers"
    # Every remaining count from 59 down to 0 was handed out exactly once: one atomic counter for all workers.
    served = [reply for reply in replies if reply.status == 200]
    assert sorted(reply.policies()["minute"]["r"] for reply in served) == list(range(60))
    for reply in (reply for reply in replies if reply.status == 429):
        assert reply.body["error"] == "rate_limited"
        assert reply.body["plan"] == "free"
        assert reply.body["requests_per_minute"] == 60
        assert 55 <= int(reply.headers["retry-after"]) <= 60
        assert reply.headers["ratelimit-policy"].startswith('"minute";q=60;w=60, "month";q=10000;w=')
        assert reply.policies()["minute"] == {"r": 0, "t": int(reply.headers["retry-after"])}


def test_limits_are_per_vendor_across_workers(server, live_env):
    first, second = create_vendor(live_env), create_vendor(live_env)
    assert Counter(r.status for r in burst(server, server.token(first), 65)) == {200: 60, 429: 5}
    reply = server.call("GET", "/brands", token=server.token(second))
    assert reply.status == 200
    assert reply.policies()["minute"]["r"] == 59


def test_a_plan_change_changes_the_limit_at_once(server, live_env):
    vendor = create_vendor(live_env, "free")
    token = server.token(vendor)
    assert Counter(r.status for r in burst(server, token, 62)) == {200: 60, 429: 2}
    manage(live_env, "setplan", vendor["client_id"], "standard")
    reply = server.call("GET", "/brands", token=token)
    assert reply.status == 200
    assert reply.headers["ratelimit-policy"].startswith('"minute";q=600;w=60, "month";q=1000000;w=')
    assert reply.policies()["minute"]["r"] == 600 - 61


def test_every_worker_drops_cached_tokens_and_pages_at_once(server, live_env):
    """Each worker keeps tokens and pages it has read (vendors/caching/); writes, revocation and suspension, from the
    API or from another process, must reach all three at once."""
    vendor = create_vendor(live_env, "standard")
    token, other = server.token(vendor), server.token(vendor)

    def statuses(replies):
        return Counter(reply.status for reply in replies)

    assert statuses(burst(server, token, 30)) == {200: 30}  # every worker now holds the token and the page
    assert server.call("POST", "/brands", {"name": "Fresh"}, token=token).status == 201
    assert {tuple(b["name"] for b in r.body["results"]) for r in burst(server, token, 30)} == {("Fresh",)}
    manage(
        live_env,
        "shell",
        "-c",
        "from apiresources.models import Brand; Brand.objects.filter(name='Fresh').get().delete()",
    )
    assert {len(r.body["results"]) for r in burst(server, token, 30)} == {0}

    credentials = {"client_id": vendor["client_id"], "client_secret": vendor["client_secret"]}
    assert server.call("POST", "/auth/revoke", {"token": token, **credentials}).status == 200
    assert statuses(burst(server, token, 30)) == {401: 30}
    assert statuses(burst(server, other, 30)) == {200: 30}

    manage(live_env, "suspendvendor", vendor["client_id"])
    assert statuses(burst(server, other, 30)) == {401: 30}
    manage(live_env, "reactivatevendor", vendor["client_id"])
    assert statuses(burst(server, server.token(vendor), 30)) == {200: 30}


def test_the_headers_count_down_request_by_request(server, live_env):
    vendor = create_vendor(live_env, "standard")
    token = server.token(vendor)
    replies = [server.call("GET", "/brands", token=token) for _ in range(6)]
    assert [r.policies()["minute"]["r"] for r in replies] == [599, 598, 597, 596, 595, 594]
    assert [r.policies()["month"]["r"] for r in replies] == [999_999 - i for i in range(6)]
    assert all(55 <= r.policies()["minute"]["t"] <= 60 for r in replies)
    months = [r.policies()["month"]["t"] for r in replies]
    assert months == sorted(months, reverse=True)


def test_an_exhausted_monthly_quota(server, live_env):
    code = f"tiny{uuid.uuid4().hex[:6]}"
    manage(
        live_env,
        "shell",
        "-c",
        f"from vendors.models import Plan; Plan.objects.create(code='{code}', name='Tiny', requests_per_minute=100, "
        "monthly_quota=5)",
    )
    vendor = create_vendor(live_env, code)
    replies = burst(server, server.token(vendor), 8)
    assert Counter(r.status for r in replies) == {200: 5, 429: 3}
    for reply in (r for r in replies if r.status == 429):
        assert reply.body["error"] == "quota_exceeded"
        assert reply.body["monthly_quota"] == 5
        assert reply.policies()["month"]["r"] == 0
        assert abs(int(reply.headers["retry-after"]) - reply.policies()["month"]["t"]) <= 1
        assert int(reply.headers["retry-after"]) > 60


def test_the_auth_endpoint_throttles_one_address_and_not_the_vendor_elsewhere(server, live_env):
    vendor = create_vendor(live_env)
    wrong = {"client_id": vendor["client_id"], "client_secret": "wrong"}
    statuses = [server.call("POST", "/auth/token", wrong, source="127.0.0.3").status for _ in range(5)]
    assert statuses == [401, 401, 401, 429, 429]
    refused = server.call("POST", "/auth/token", wrong, source="127.0.0.3")
    assert refused.body["error"] == "slow_down"
    assert 590 <= int(refused.headers["retry-after"]) <= 600
    # The vendor's own address is unaffected.
    assert server.token(vendor, source="127.0.0.4")
    # The address limit spans client IDs.
    statuses = [
        server.call("POST", "/auth/token", {"client_id": f"guess{i}", "client_secret": "x"}, source="127.0.0.5").status
        for i in range(7)
    ]
    assert statuses == [401] * 6 + [429]


def test_metering_totals_match_the_requests_sent(server, live_env):
    vendor = create_vendor(live_env, "free")
    token = server.token(vendor)
    replies = burst(server, token, 70) + [server.call("GET", "/brands/999999", token=token) for _ in range(3)]
    served = sum(1 for r in replies if r.status != 429)
    assert served == 60
    manage(live_env, "flushusage")
    usage = json.loads(manage(live_env, "usage", vendor["client_id"], "--days", "1", "--json", "--no-flush"))
    assert usage["total"] == 60
    assert usage["days"][0]["throttled"] == 13
    manage(live_env, "flushusage")
    again = json.loads(manage(live_env, "usage", vendor["client_id"], "--days", "1", "--json", "--no-flush"))
    assert again["total"] == 60


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server to start a private Redis")
def test_with_redis_stopped_the_api_keeps_serving_and_recovers(live_env, tmp_path):
    port = free_port()

    import redis

    private_redis = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)

    def start_redis():
        arguments = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        arguments += ["--daemonize", "yes", "--dir", str(tmp_path)]
        subprocess.run([shutil.which("redis-server"), *arguments], check=True, capture_output=True, timeout=10)  # noqa: S603
        deadline = time.monotonic() + 10
        while True:
            try:
                if private_redis.ping():
                    return
            except redis.ConnectionError:
                assert time.monotonic() < deadline
                time.sleep(0.1)

    def stop_redis():
        try:
            private_redis.shutdown(nosave=True)
        except redis.ConnectionError:
            pass  # already stopped, or the connection closed as it stopped

    start_redis()
    try:
        private = {**live_env, "REDIS_URL": f"redis://127.0.0.1:{port}/0"}
        vendor = create_vendor(live_env, "free")
        with gunicorn(private, tmp_path) as server:
            token = server.token(vendor)
            before = server.call("GET", "/brands", token=token)
            assert before.status == 200
            assert before.policies()["minute"]["r"] == 59
            stop_redis()
            during = burst(server, token, 90)
            assert Counter(r.status for r in during) == {200: 90}  # fail open: more than the limit, and no 500
            assert all("ratelimit" not in r.headers for r in during)
            assert all(r.headers["ratelimit-policy"].startswith('"minute";q=60;w=60') for r in during)
            assert server.token(vendor)  # the auth endpoints fail open too
            start_redis()
            time.sleep(2.5)  # each worker retries Redis at most every two seconds
            after = [server.call("GET", "/brands", token=token) for _ in range(6)]
            assert all(r.status == 200 and "ratelimit" in r.headers for r in after)
            assert after[-1].policies()["minute"]["r"] < 59
            log = server.log.read_text()
        warnings = log.count("Rate-limit counters unavailable")
        assert 1 <= warnings <= 3, log  # at most once per worker in the interval
        assert "Rate-limit counters are back" in log
        assert " 500 " not in log
    finally:
        stop_redis()
