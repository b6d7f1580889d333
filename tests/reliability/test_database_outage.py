"""PostgreSQL restarted under load: requests during the outage get a JSON 503 with Retry-After, never a 500 or an HTML
page, and the same gunicorn workers serve again within seconds of the database's return (connection health checks).

Runs against a private PostgreSQL cluster started here (never the shared server, which other tests use); skipped
without PostgreSQL in DATABASE_URL or without the server binaries.
"""

import http.client
import json
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass

import pytest

from bench.servers import Gunicorn, PrivatePostgres, app_env, manage, postgres_bindir

pytestmark = [
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="needs PostgreSQL (set DATABASE_URL)"
    ),
    pytest.mark.skipif(postgres_bindir() is None, reason="needs the PostgreSQL server binaries (initdb, pg_ctl)"),
]


@dataclass
class Reply:
    at: float
    kind: str
    status: int  # 0: no HTTP answer at all
    headers: dict
    body: object


def call(port: int, kind: str, method: str, path: str, body=None, token=None, cookie=None) -> Reply:
    headers = {"Content-Type": "application/json"}
    if cookie:
        headers["Cookie"] = cookie
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw[:200]
        return Reply(time.monotonic(), kind, response.status, {k.lower(): v for k, v in response.getheaders()}, parsed)
    except OSError as exc:
        return Reply(time.monotonic(), kind, 0, {}, repr(exc))
    finally:
        conn.close()


@pytest.fixture(scope="module")
def database():
    server = PrivatePostgres().start()
    yield server
    server.destroy()


@pytest.fixture(scope="module")
def app(database, tmp_path_factory):
    # CONN_MAX_AGE as in production: persistent connections that the restart breaks under the workers' feet.
    env = app_env(database.url, os.environ.get("REDIS_URL"), CONN_MAX_AGE="60", RATELIMIT_ENABLED="false")
    manage(env, "migrate", "--no-input", "-v0")
    vendor = json.loads(manage(env, "createvendor", "Outage Co", "--plan", "enterprise", "--json"))
    server = Gunicorn(env, workers=3, log=tmp_path_factory.mktemp("outage") / "gunicorn.log")
    yield server, vendor
    server.stop()


def test_a_database_restart_gives_json_503s_and_the_same_workers_recover(database, app):
    server, vendor = app
    credentials = {"client_id": vendor["client_id"], "client_secret": vendor["client_secret"]}
    token = call(server.port, "token", "POST", "/auth/token", credentials)
    assert token.status == 200, token.body
    access = token.body["access_token"]
    assert call(server.port, "list", "GET", "/brands", token=access).status == 200
    workers = server.worker_pids()
    assert len(workers) == 3

    replies: list[Reply] = []
    stop = threading.Event()

    def load(index: int):
        n = 0
        while not stop.is_set():
            n += 1
            kind = ("token", "list", "create", "admin")[n % 4]
            if kind == "token":
                replies.append(call(server.port, kind, "POST", "/auth/token", credentials))
            elif kind == "list":
                replies.append(call(server.port, kind, "GET", "/brands", token=access))
            elif kind == "create":
                replies.append(call(server.port, kind, "POST", "/brands", {"name": f"B {index}-{n}"}, token=access))
            else:
                # A session cookie makes the admin read the session table: a plain Django view on the database.
                cookie = "sessionid=abcdefghijklmnopqrstuvwxyz012345"
                replies.append(call(server.port, kind, "GET", "/admin/", cookie=cookie))
            time.sleep(0.02)

    threads = [threading.Thread(target=load, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.5)
        down_at = time.monotonic()
        database.stop()
        time.sleep(3)
        database.start()
        up_at = time.monotonic()
        # Requests must succeed again within seconds, on the same workers.
        deadline = up_at + 10
        recovered_at = None
        while time.monotonic() < deadline:
            if call(server.port, "probe", "GET", "/brands", token=access).status == 200:
                recovered_at = time.monotonic()
                break
            time.sleep(0.1)
        time.sleep(1.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    assert recovered_at is not None, "the service did not recover within 10 s of the database's return"
    assert server.worker_pids() == workers, "workers were restarted"
    statuses = Counter((reply.kind, reply.status) for reply in replies)
    # Nothing but successes and 503s: no 500, no HTML page, no dropped connection.
    assert {status for _kind, status in statuses} <= {200, 201, 302, 503}, statuses
    outage = [reply for reply in replies if reply.status == 503]
    assert outage, f"no request hit the outage: {statuses}"
    for reply in outage:
        assert reply.headers["content-type"].startswith("application/json"), reply
        assert reply.body["error"] == "service_unavailable" and reply.body["error_description"], reply
        assert reply.headers["retry-after"] == "5"
        assert down_at - 0.5 <= reply.at <= up_at + 10, "a 503 outside the outage"
    # Every kind of view answered the outage the same way: DRF views, the token view and the admin.
    assert {reply.kind for reply in outage} >= {"token", "list", "create", "admin"}, statuses
    after = [reply for reply in replies if reply.at > recovered_at + 0.5]
    assert after and all(reply.status in (200, 201, 302) for reply in after), Counter(r.status for r in after)
    assert "Traceback" not in server.log.read_text()
