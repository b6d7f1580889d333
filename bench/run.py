#!/usr/bin/env python3
"""`make bench`: the platform under gunicorn on PostgreSQL + Redis, driven with wrk.

Prints requests/s, p50/p99 latency and non-2xx responses for token issuance, refresh, list, retrieve and create,
and the SQL queries each request costs. A benchmark, not a test: nothing in `make test` depends on it.

Usage: .venv/bin/python bench/run.py [--seconds 8] [--workers 3] [--keep]
Needs wrk (Debian package). DATABASE_URL / REDIS_URL are used when set; otherwise a fresh PostgreSQL database
`charp_bench` is created at 127.0.0.1:5432 (user postgres) and Redis 127.0.0.1:6379/10 is used.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
N_VENDORS = 25  # vendors taken in turn: keeps each well under the Enterprise per-minute limit
N_BRANDS = 20


def sh(*args: str, env: dict, input_text: str | None = None) -> str:
    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, input=input_text)
    if result.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{result.stderr[-2000:]}")
    return result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment(database: str = "charp_bench", redis_db: int = 10) -> dict:
    env = dict(os.environ)
    if not env.get("DATABASE_URL"):
        for sql in (f"DROP DATABASE IF EXISTS {database} WITH (FORCE)", f"CREATE DATABASE {database}"):
            subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-c", sql], check=True)
        env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{database}"
    if not env.get("REDIS_URL"):
        env["REDIS_URL"] = f"redis://127.0.0.1:6379/{redis_db}"
        subprocess.run(["redis-cli", "-n", str(redis_db), "flushdb"], check=True, capture_output=True)
    env.update(
        DEBUG="false",
        SECRET_KEY=env.get("SECRET_KEY") or "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
        ALLOWED_HOSTS="*",
        SECURE_SSL_REDIRECT="false",
        DJANGO_SETTINGS_MODULE="charp.settings",
        PYTHONPATH=str(ROOT),
    )
    return env


SEED = f"""
import json, sys
import django
django.setup()
from apiresources.models import Brand
from vendors import services
plan = services.plan_get(code="enterprise")
out = []
for i in range({N_VENDORS}):
    issued = services.vendor_create(name=f"Bench vendor {{i}}", plan=plan)
    Brand.objects.bulk_create(
        [Brand(vendor=issued.vendor, name=f"Brand {{j}}", website=f"https://b{{j}}.example") for j in range({N_BRANDS})]
    )
    out.append([issued.vendor.client_id, issued.client_secret])
print(json.dumps(out))
"""

# SQL queries per request, measured in-process through Django's test client against the same database: "warm" is a
# repeated request (the worker's caches hold the client, token or page), "cold" the same request with empty caches.
QUERY_COUNT = """
import json, sys
import django
django.setup()
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from vendors.caching import copies
client_id, secret = json.loads(sys.argv[1])
c = Client()
body = json.dumps({"client_id": client_id, "client_secret": secret})
def count(method, path, cold=False, **kw):
    getattr(c, method)(path, **kw)  # warm
    if cold:
        copies.clear()
    with CaptureQueriesContext(connection) as ctx:
        response = getattr(c, method)(path, **kw)
    assert response.status_code < 300, (path, response.status_code, response.content[:300])
    return response, len(ctx.captured_queries)
tok, n_token = count("post", "/auth/token", data=body, content_type="application/json")
_, cold_token = count("post", "/auth/token", cold=True, data=body, content_type="application/json")
tokens = tok.json()
with CaptureQueriesContext(connection) as ctx:
    refresh_body = json.dumps({"refresh_token": tokens["refresh_token"]})
    refreshed = c.post("/auth/refresh", refresh_body, content_type="application/json")
n_refresh = len(ctx.captured_queries)
auth = {"HTTP_AUTHORIZATION": "Bearer " + refreshed.json()["access_token"]}
listing, n_list = count("get", "/brands", **auth)
_, cold_list = count("get", "/brands", cold=True, **auth)
page = listing.json()
brand_id = (page["results"] if isinstance(page, dict) else page)[0]["id"]
_, n_retrieve = count("get", f"/brands/{brand_id}", **auth)
_, cold_retrieve = count("get", f"/brands/{brand_id}", cold=True, **auth)
with CaptureQueriesContext(connection) as ctx:
    c.post("/brands", json.dumps({"name": "Query count brand"}), content_type="application/json", **auth)
n_create = len(ctx.captured_queries)
warm = {"token": n_token, "list": n_list, "retrieve": n_retrieve}
cold = {"token": cold_token, "list": cold_list, "retrieve": cold_retrieve}
shared = {"refresh": n_refresh, "create": n_create}
print(json.dumps({"warm": {**warm, **shared}, "cold": {**cold, **shared}}))
"""


def lua(method: str, items: list[tuple[str, dict, str]], single_use: bool = False) -> str:
    """A wrk script cycling through (path, headers, body) items; `{n}` in a body becomes a unique counter. With
    `single_use` the two wrk threads take alternate items, so that each item (a refresh token) is sent once."""

    def row(path: str, headers: dict, body: str) -> str:
        fields = ", ".join(f"[{json.dumps(key)}] = {json.dumps(value)}" for key, value in headers.items())
        return f"{{{json.dumps(path)}, {{{fields}}}, {json.dumps(body)}}}"

    rows = ",\n".join(row(*item) for item in items)
    step = 2 if single_use else 1
    script = f"""
local items = {{ {rows} }}
local threads = 0
setup = function(thread)
  thread:set("offset", threads)
  threads = threads + 1
end
local i, n = nil, 0
request = function()
  if i == nil then i = offset or 0 end
  local item = items[i % #items + 1]
  i = i + {step}
  n = n + 1
  local body = string.gsub(item[3], "{{n}}", tostring(offset) .. "-" .. tostring(n))
  return wrk.format("{method}", item[1], item[2], body ~= "" and body or nil)
end
"""
    handle = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    handle.write(script)
    handle.close()
    return handle.name


def wrk(url: str, script: str, seconds: int, connections: int) -> dict:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def latency(label: str) -> float:
        match = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out)
        return float(match.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[match.group(2)] if match else float("nan")

    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": latency("50%"),
        "p99": latency("99%"),
        # The Latency line: avg, stdev, max.
        "max": latency(r"Latency\s+[\d.]+(?:us|ms|s)\s+[\d.]+(?:us|ms|s)"),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
    }


def post_json(url: str, body: dict, token: str | None = None) -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our own loopback server
        return json.load(response)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--refresh-pool", type=int, default=4000, help="refresh tokens issued for the refresh run")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("make bench needs wrk: apt-get install wrk")

    env = environment()
    sh(PY, "manage.py", "migrate", "-v0", env=env)
    creds = json.loads(sh(PY, "-c", SEED, env=env).strip().splitlines()[-1])
    queries = json.loads(sh(PY, "-c", QUERY_COUNT, json.dumps(creds[0]), env=env).strip().splitlines()[-1])

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(Path(tempfile.gettempdir()) / "charp-bench-gunicorn.log", "w")  # noqa: SIM115
    server = subprocess.Popen(
        [str(Path(PY).parent / "gunicorn"), "charp.wsgi:application", "-w", str(args.workers), "-b",
         f"127.0.0.1:{port}", "--no-control-socket", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/.well-known/oauth-authorization-server", timeout=10)  # noqa: S310
                break
            except OSError:
                time.sleep(0.2)
        tokens = [post_json(f"{base}/auth/token", {"client_id": c, "client_secret": s}) for c, s in creds]
        access = [t["access_token"] for t in tokens]
        brand_ids = []
        for token in access:
            request = urllib.request.Request(f"{base}/brands", headers={"Authorization": f"Bearer {token}"})
            page = json.load(urllib.request.urlopen(request))  # noqa: S310
            brands = page["results"] if isinstance(page, dict) else page
            assert len(brands) >= N_BRANDS, page
            brand_ids.append(brands[0]["id"])
        pool = [
            post_json(f"{base}/auth/token", {"client_id": c, "client_secret": s})["refresh_token"]
            for c, s in (creds * (args.refresh_pool // len(creds) + 1))[: args.refresh_pool]
        ]
        as_json = {"Content-Type": "application/json"}
        scenarios = {
            "token": (
                "POST",
                [("/auth/token", as_json, json.dumps({"client_id": c, "client_secret": s})) for c, s in creds],
            ),
            "refresh": ("POST", [("/auth/refresh", as_json, json.dumps({"refresh_token": t})) for t in pool]),
            "list": ("GET", [("/brands", {"Authorization": f"Bearer {t}"}, "") for t in access]),
            "retrieve": (
                "GET",
                [
                    (f"/brands/{pk}", {"Authorization": f"Bearer {t}"}, "")
                    for t, pk in zip(access, brand_ids, strict=True)
                ],
            ),
            "create": (
                "POST",
                [("/brands", {**as_json, "Authorization": f"Bearer {t}"}, '{"name": "Bench {n}"}') for t in access],
            ),
        }
        results = {}
        for name, (method, items) in scenarios.items():
            script = lua(method, items, single_use=name == "refresh")
            # Refresh tokens are single-use: a short run keeps within the pool.
            seconds = min(args.seconds, 3) if name == "refresh" else args.seconds
            connections = 8 if name in ("token", "refresh") else 16
            results[name] = wrk(base, script, seconds, connections)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    header = f"{'scenario':10} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'SQL warm':>9} {'SQL cold':>9}"
    print(f"\n{header}")
    for name, row in results.items():
        sql = f"{queries['warm'][name]:9d} {queries['cold'][name]:9d}"
        print(f"{name:10} {row['rps']:9.1f} {row['p50']:8.1f} {row['p99']:8.1f} {row['non2xx']:8d} {sql}")
    print(json.dumps({"results": results, "queries": queries}))


if __name__ == "__main__":
    main()
