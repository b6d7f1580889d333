#!/usr/bin/env python3
"""`make soak`: minutes of mixed load on gunicorn + PostgreSQL + Redis, then checks that nothing was lost.

Threads play 30 vendors (Free, Standard, Enterprise in turn): token issuance, refresh (and now and then two refreshes
of one token at once), list, retrieve, create, update, delete of brands, and campaigns (refused to Free). Every
response is recorded. Then:
- no 5xx, except JSON 503s with Retry-After while a fault injected here is on (and 10 s after); no dropped connection;
- every brand whose creation returned 201 exists unless its deletion returned 204, and none that returned 204 does;
- no refresh token has two successors (per token family at most one live refresh token; one access token per
  source refresh token; a refresh token the client sent was honoured at most once);
- after `manage.py flushusage`, each vendor's UsageDay requests equal its resource requests that passed the rate
  limit (2xx and 4xx after authentication, 429 excluded) and UsageDay throttled equals its 429s;
- a 429 carries Retry-After and only comes to a vendor over its plan's limit.
Prints requests by kind and status, req/s and p50/p99, and exits 1 on any violation. Not part of `make test`.

Usage: .venv/bin/python bench/soak.py [--seconds 300] [--vendors 30] [--threads 24]
           [--restart-postgres-at S [--postgres-down-for 3]] [--stop-redis-at S [--redis-down-for 10]]
Without faults it uses DATABASE_URL (default: a fresh database on 127.0.0.1:5432) and REDIS_URL (default
127.0.0.1:6379/12) with a key prefix of its own; a fault option starts a private server for that service instead.
"""

import argparse
import http.client
import json
import random
import statistics
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.servers import Gunicorn, PrivatePostgres, PrivateRedis, app_env, manage  # noqa: E402

PLANS = ("free", "standard", "enterprise")
PER_MINUTE = {"free": 60, "standard": 600, "enterprise": 6000}
TOKENS_PER_HOUR = {"free": 100, "standard": 1_000, "enterprise": 10_000}
RECOVERY_SECONDS = 10
WEIGHTS = {
    "token": 4,
    "refresh": 8,
    "race": 1,
    "list": 25,
    "retrieve": 12,
    "create": 20,
    "update": 15,
    "delete": 10,
    "campaigns": 5,
}
RESOURCE_KINDS = {"list", "retrieve", "create", "update", "delete", "campaigns"}


@dataclass
class Vendor:
    index: int
    client_id: str
    secret: str
    plan: str
    access: str | None = None
    refresh: str | None = None
    live: set = field(default_factory=set)
    created: set = field(default_factory=set)
    deleted: set = field(default_factory=set)
    raced: bool = False
    sent_times: list = field(default_factory=list)  # resource requests, for judging a 429
    counted: int = 0  # resource requests the limiter admitted (2xx/4xx after authentication)
    throttled: int = 0
    unavailable: int = 0  # 503s: neither metered nor counted against the plan (vendors/limits/middleware.py)
    issued: int = 0  # access tokens it received (token and refresh), for judging a 429 token_quota_exceeded

    def over_its_hourly_tokens(self, status: int, data: dict) -> bool:
        """A 429 token_quota_exceeded is right only once the vendor has had its plan's tokens this hour (at most:
        the server's count starts again each clock hour)."""
        return (
            status == 429 and data.get("error") == "token_quota_exceeded" and self.issued >= TOKENS_PER_HOUR[self.plan]
        )


@dataclass
class Record:
    at: float
    kind: str
    status: int
    seconds: float


class Soak:
    def __init__(self, args, gunicorn: Gunicorn, vendors: list[Vendor]):
        self.args = args
        self.server = gunicorn
        self.vendors = vendors
        self.records: list[Record] = []
        self.violations: list[str] = []
        self.lock = threading.Lock()
        self.faults: list[tuple[str, float, float]] = []  # (name, start, end)
        self.refresh_wins: Counter = Counter()
        self.races: Counter = Counter()  # winners per race
        self.stop = threading.Event()

    # --- HTTP -----------------------------------------------------------------------------------------------------
    def call(self, kind: str, method: str, path: str, body=None, token=None, vendor: Vendor | None = None):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        started = time.monotonic()
        try:
            conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            status = response.status
            response_headers = {k.lower(): v for k, v in response.getheaders()}
        except OSError as exc:
            status, raw, response_headers = 0, repr(exc).encode(), {}
        finally:
            conn.close()
        now = time.monotonic()
        with self.lock:
            self.records.append(Record(now, kind, status, now - started))
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = None
        self.judge(kind, path, status, response_headers, data, raw, vendor, started)
        return status, data

    def in_fault(self, started: float, finished: float) -> bool:
        """Whether a request's lifetime overlaps a fault (or the recovery allowance after it)."""
        return any(started <= end + RECOVERY_SECONDS and finished >= start for _name, start, end in self.faults)

    def violation(self, message: str) -> None:
        with self.lock:
            self.violations.append(message)

    def judge(self, kind, path, status, headers, data, raw, vendor, started) -> None:
        if status == 0:
            self.violation(f"{kind} {path}: no HTTP answer ({raw[:120]!r})")
            return
        if not headers.get("content-type", "").startswith("application/json") and status != 204:
            self.violation(f"{kind} {path}: {status} not JSON: {raw[:200]!r}")
        if status >= 500:
            ok = (
                status == 503
                and self.in_fault(started, time.monotonic())
                and isinstance(data, dict)
                and data.get("error") == "service_unavailable"
                and headers.get("retry-after", "").isdigit()
            )
            if not ok:
                self.violation(f"{kind} {path}: {status} {raw[:300]!r}")
        if status == 429:
            if not headers.get("retry-after", "").isdigit():
                self.violation(f"{kind} {path}: 429 without Retry-After")
            if vendor is not None and kind in RESOURCE_KINDS:
                recent = sum(1 for t in vendor.sent_times if t > started - 60)
                if recent < PER_MINUTE[vendor.plan] * 0.9:
                    self.violation(f"{kind}: 429 to a {vendor.plan} vendor after {recent} requests in a minute")
        if vendor is not None and kind in RESOURCE_KINDS:
            vendor.sent_times.append(started)
            if len(vendor.sent_times) > 8000:
                del vendor.sent_times[:4000]
            if status == 429:
                vendor.throttled += 1
            elif status == 503:
                vendor.unavailable += 1
            elif status != 401:
                vendor.counted += 1

    # --- Vendor actions -------------------------------------------------------------------------------------------
    def issue(self, vendor: Vendor) -> bool:
        status, data = self.call(
            "token", "POST", "/auth/token", {"client_id": vendor.client_id, "client_secret": vendor.secret}
        )
        if status == 200:
            vendor.issued += 1
            vendor.access, vendor.refresh, vendor.raced = data["access_token"], data["refresh_token"], False
            return True
        if status != 503 and not vendor.over_its_hourly_tokens(status, data):
            self.violation(f"token: {status} {data}")
        return False

    def refresh(self, vendor: Vendor) -> None:
        sent = vendor.refresh
        status, data = self.call("refresh", "POST", "/auth/refresh", {"refresh_token": sent})
        if status == 200:
            with self.lock:
                self.refresh_wins[sent] += 1
            vendor.issued += 1
            vendor.access, vendor.refresh = data["access_token"], data["refresh_token"]
        elif status == 400 and data.get("error") == "invalid_grant" and vendor.raced:
            self.issue(vendor)  # a race's loser revoked the family, as reuse detection must
        elif status != 503 and not vendor.over_its_hourly_tokens(status, data):
            self.violation(f"refresh: {status} {data}")

    def race(self, vendor: Vendor) -> None:
        """Two refreshes of one token at once: at most one may win."""
        sent = vendor.refresh
        results = []
        barrier = threading.Barrier(2)

        def one():
            barrier.wait()
            results.append(self.call("refresh", "POST", "/auth/refresh", {"refresh_token": sent}))

        threads = [threading.Thread(target=one) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners = [data for status, data in results if status == 200]
        vendor.issued += len(winners)
        with self.lock:
            self.refresh_wins[sent] += len(winners)
            self.races[len(winners)] += 1
        for status, data in results:
            if status in (200, 503) or vendor.over_its_hourly_tokens(status, data):
                continue
            if not (status == 400 and data.get("error") == "invalid_grant"):
                self.violation(f"race: {status} {data}")
        vendor.raced = True
        if winners:
            vendor.access, vendor.refresh = winners[0]["access_token"], winners[0]["refresh_token"]

    def resource(self, vendor: Vendor, kind: str, n: int) -> None:
        expected = {"list": 200, "retrieve": 200, "create": 201, "update": 200, "delete": 204, "campaigns": 200}
        if kind == "campaigns" and vendor.plan == "free":
            expected["campaigns"] = 403
        if kind in ("retrieve", "update", "delete") and not vendor.live:
            kind = "create"
        pk = random.choice(sorted(vendor.live)) if kind in ("retrieve", "update", "delete") else None  # noqa: S311
        token = vendor.access
        if kind == "list":
            status, data = self.call(kind, "GET", "/brands", token=token, vendor=vendor)
        elif kind == "campaigns":
            status, data = self.call(kind, "GET", "/campaigns", token=token, vendor=vendor)
        elif kind == "retrieve":
            status, data = self.call(kind, "GET", f"/brands/{pk}", token=token, vendor=vendor)
        elif kind == "create":
            name = f"Soak {vendor.index}-{n}-{uuid.uuid4().hex[:6]}"
            status, data = self.call(kind, "POST", "/brands", {"name": name}, token=token, vendor=vendor)
            if status == 201:
                vendor.created.add(data["id"])
                vendor.live.add(data["id"])
        elif kind == "update":
            body = {"website": f"https://soak{n}.example.com"}
            status, data = self.call(kind, "PATCH", f"/brands/{pk}", body, token=token, vendor=vendor)
        else:
            status, data = self.call(kind, "DELETE", f"/brands/{pk}", token=token, vendor=vendor)
            if status == 204:
                vendor.deleted.add(pk)
                vendor.live.discard(pk)
        if status == 401 and vendor.raced:
            self.issue(vendor)  # the family was revoked after a race: start over, as a client would
        elif status not in (expected[kind], 429, 503):
            self.violation(f"{kind} {pk or ''} ({vendor.plan}): {status} {data}")

    def play(self, own: list[Vendor], seed: int) -> None:
        rng = random.Random(seed)  # noqa: S311 - load shape, not security
        kinds, weights = list(WEIGHTS), list(WEIGHTS.values())
        n = 0
        while not self.stop.is_set():
            n += 1
            vendor = rng.choice(own)
            if vendor.access is None and not self.issue(vendor):
                time.sleep(0.2)
                continue
            kind = rng.choices(kinds, weights)[0]
            if kind == "token":
                self.issue(vendor)
            elif kind == "refresh":
                self.refresh(vendor)
            elif kind == "race":
                self.race(vendor)
            else:
                self.resource(vendor, kind, n)

    # --- Faults ---------------------------------------------------------------------------------------------------
    def inject(self, name: str, at: float, down_for: float, stop, start, t0: float) -> None:
        if self.stop.wait(max(0, t0 + at - time.monotonic())):
            return
        began = time.monotonic()
        print(f"[{began - t0:6.1f}s] {name}: stopping", flush=True)
        self.faults.append((name, began, float("inf")))
        stop()
        time.sleep(down_for)
        start()
        ended = time.monotonic()
        self.faults[self.faults.index((name, began, float("inf")))] = (name, began, ended)
        print(f"[{ended - t0:6.1f}s] {name}: back after {ended - began:.1f} s", flush=True)


VERIFY = """
import json, sys
import django
django.setup()
from django.db import connection
from django.db.models import Sum
from apiresources.models import Brand
from vendors.models import UsageDay, Vendor
ids = json.loads(sys.argv[1])
out = {"brands": {}, "usage": {}}
for client_id in ids:
    vendor = Vendor.objects.get(application__client_id=client_id)
    out["brands"][client_id] = list(Brand.objects.filter(vendor=vendor).values_list("id", flat=True))
    totals = UsageDay.objects.filter(vendor=vendor).aggregate(r=Sum("requests"), t=Sum("throttled"))
    out["usage"][client_id] = [totals["r"] or 0, totals["t"] or 0]
with connection.cursor() as cursor:
    cursor.execute(
        "SELECT source_refresh_token_id, COUNT(*) FROM oauth2_provider_accesstoken "
        "WHERE source_refresh_token_id IS NOT NULL GROUP BY 1 HAVING COUNT(*) > 1"
    )
    out["two_access_tokens_per_source"] = cursor.fetchall()
    cursor.execute(
        "SELECT token_family, COUNT(*) FROM oauth2_provider_refreshtoken "
        "WHERE revoked IS NULL AND token_family IS NOT NULL GROUP BY 1 HAVING COUNT(*) > 1"
    )
    out["families_with_two_live_tokens"] = [[str(f), n] for f, n in cursor.fetchall()]
    cursor.execute("SELECT COUNT(*), COUNT(DISTINCT token_family) FROM oauth2_provider_refreshtoken")
    out["refresh_tokens"], out["families"] = cursor.fetchone()
print(json.dumps(out))
"""

SEED = """
import json, sys
import django
django.setup()
from vendors import services
out = []
for i in range(int(sys.argv[1])):
    plan = ("free", "standard", "enterprise")[i % 3]
    issued = services.vendor_create(name=f"Soak vendor {i}", plan=services.plan_get(code=plan))
    out.append([issued.vendor.client_id, issued.client_secret, plan])
print(json.dumps(out))
"""


def python(env: dict, script: str, *args: str) -> str:
    import subprocess

    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", script, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    if result.returncode:
        raise SystemExit(f"script failed:\n{result.stderr[-3000:]}")
    return result.stdout.strip().splitlines()[-1]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--vendors", type=int, default=30)
    parser.add_argument("--threads", type=int, default=24)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--restart-postgres-at", type=float, help="stop the (private) PostgreSQL at this second")
    parser.add_argument("--postgres-down-for", type=float, default=3.0)
    parser.add_argument("--stop-redis-at", type=float, help="stop the (private) Redis at this second")
    parser.add_argument("--redis-down-for", type=float, default=10.0)
    args = parser.parse_args()

    import os

    cleanup = []
    pg = redis_server = soak = None
    try:
        if args.restart_postgres_at is not None:
            pg = PrivatePostgres(database="charp_soak").start()
            cleanup.append(pg.destroy)
            database_url = pg.url
        elif os.environ.get("DATABASE_URL", "").startswith("postgres"):
            database_url = os.environ["DATABASE_URL"]
        else:
            import psycopg

            name = f"charp_soak_{uuid.uuid4().hex[:8]}"
            admin = psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True)
            admin.execute(f'CREATE DATABASE "{name}"')
            cleanup.append(lambda: admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            database_url = f"postgres://postgres@127.0.0.1:5432/{name}"
        if args.stop_redis_at is not None:
            redis_server = PrivateRedis().start()
            cleanup.append(redis_server.destroy)
            redis_url = redis_server.url
        else:
            redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/12"
        prefix = f"charp:soak:{uuid.uuid4().hex[:10]}:"
        env = app_env(database_url, redis_url, RATELIMIT_KEY_PREFIX=prefix, USAGE_FLUSH_INTERVAL="5")
        if redis_server is None:
            cleanup.append(lambda: _drop_keys(redis_url, prefix))
        manage(env, "migrate", "--no-input", "-v0")
        seeded = json.loads(python(env, SEED, str(args.vendors)))
        vendors = [Vendor(i, c, s, p) for i, (c, s, p) in enumerate(seeded)]
        server = Gunicorn(env, workers=args.workers)
        cleanup.append(server.stop)
        workers_before = server.worker_pids()
        print(f"gunicorn {server.base} workers {sorted(workers_before)}; database {database_url}; redis {redis_url}")

        soak = Soak(args, server, vendors)
        groups = [vendors[i :: args.threads] for i in range(args.threads)]
        threads = [threading.Thread(target=soak.play, args=(g, i)) for i, g in enumerate(groups) if g]
        t0 = time.monotonic()
        injectors = []
        if pg is not None:
            injectors.append(("postgres", args.restart_postgres_at, args.postgres_down_for, pg.stop, pg.start))
        if redis_server is not None:
            injectors.append(
                ("redis", args.stop_redis_at, args.redis_down_for, _redis_stop(redis_server), redis_server.start)
            )
        injector_threads = [threading.Thread(target=soak.inject, args=(*item, t0)) for item in injectors]
        for thread in threads + injector_threads:
            thread.start()
        while time.monotonic() - t0 < args.seconds:
            time.sleep(min(10, max(0.1, args.seconds - (time.monotonic() - t0))))
            done = len(soak.records)
            print(f"[{time.monotonic() - t0:6.1f}s] {done} requests, {len(soak.violations)} violations", flush=True)
        soak.stop.set()
        for thread in threads + injector_threads:
            thread.join()
        elapsed = time.monotonic() - t0

        # Let every worker flush the counts it kept itself while Redis was away, then flush Redis' batch.
        time.sleep(6)
        for _ in range(2):
            for vendor in vendors:
                if vendor.access:
                    soak.resource(vendor, "list", 0)
            time.sleep(6)
        manage(env, "flushusage")
        workers_after = server.worker_pids()
        if workers_after != workers_before:
            soak.violation(f"gunicorn workers changed: {sorted(workers_before)} -> {sorted(workers_after)}")
        state = json.loads(python(env, VERIFY, json.dumps([v.client_id for v in vendors])))
        verify(soak, vendors, state)
        report(soak, vendors, state, elapsed)
    finally:
        for action in reversed(cleanup):
            try:
                action()
            except Exception as exc:  # noqa: BLE001 - best-effort cleanup
                print(f"cleanup: {exc!r}", file=sys.stderr)
    return 1 if soak is None or soak.violations else 0


def _redis_stop(server: PrivateRedis):
    def stop():
        import redis

        # As a production Redis with persistence would: the counters (and pending usage) survive the restart.
        try:
            redis.Redis.from_url(server.url).shutdown(save=True)
        except redis.ConnectionError:
            pass
        server.process.wait(timeout=10)
        server.process = None

    return stop


def _drop_keys(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)


def verify(soak: Soak, vendors: list[Vendor], state: dict) -> None:
    for vendor in vendors:
        existing = set(state["brands"][vendor.client_id])
        lost = (vendor.created - vendor.deleted) - existing
        if lost:
            soak.violation(f"vendor {vendor.index}: {len(lost)} brands created (201) are missing: {sorted(lost)[:10]}")
        resurrected = vendor.deleted & existing
        if resurrected:
            soak.violation(f"vendor {vendor.index}: brands deleted (204) still exist: {sorted(resurrected)[:10]}")
        requests, throttled = state["usage"][vendor.client_id]
        if requests != vendor.counted:
            soak.violation(
                f"vendor {vendor.index} ({vendor.plan}): metered {requests} requests, client counted "
                f"{vendor.counted} served ({vendor.unavailable} 503s, which must not be metered)"
            )
        if throttled != vendor.throttled:
            soak.violation(f"vendor {vendor.index}: metered {throttled} throttled, client saw {vendor.throttled} 429s")
    if state["two_access_tokens_per_source"]:
        soak.violation(f"refresh tokens with two successors: {state['two_access_tokens_per_source'][:5]}")
    if state["families_with_two_live_tokens"]:
        soak.violation(f"token families with two live refresh tokens: {state['families_with_two_live_tokens'][:5]}")
    twice = [token[:8] for token, wins in soak.refresh_wins.items() if wins > 1]
    if twice:
        soak.violation(f"{len(twice)} refresh tokens were honoured twice")


def report(soak: Soak, vendors: list[Vendor], state: dict, elapsed: float) -> None:
    by_kind = defaultdict(Counter)
    latencies = defaultdict(list)
    for record in soak.records:
        by_kind[record.kind][record.status] += 1
        latencies[record.kind].append(record.seconds * 1000)
    total = len(soak.records)
    print(f"\n{'kind':10} {'requests':>9} {'p50 ms':>8} {'p99 ms':>8}  statuses")
    for kind in sorted(by_kind):
        statuses = " ".join(f"{status}:{count}" for status, count in sorted(by_kind[kind].items()))
        p50, p99 = percentile(latencies[kind], 50), percentile(latencies[kind], 99)
        print(f"{kind:10} {sum(by_kind[kind].values()):9d} {p50:8.1f} {p99:8.1f}  {statuses}")
    everything = [r.seconds * 1000 for r in soak.records]
    print(
        f"{'all':10} {total:9d} {percentile(everything, 50):8.1f} {percentile(everything, 99):8.1f}  "
        f"{total / elapsed:.1f} req/s over {elapsed:.0f} s"
    )
    for name, start, end in soak.faults:
        during = Counter(r.status for r in soak.records if start <= r.at <= end + RECOVERY_SECONDS)
        print(f"fault {name}: down {end - start:.1f} s; responses until {RECOVERY_SECONDS} s after: {dict(during)}")
    per_plan = defaultdict(lambda: [0, 0, 0])
    for vendor in vendors:
        row = per_plan[vendor.plan]
        row[0] += vendor.counted
        row[1] += vendor.throttled
        row[2] += state["usage"][vendor.client_id][0]
    for plan in PLANS:
        counted, throttled, metered = per_plan[plan]
        print(f"metering {plan:10}: client counted {counted}, metered {metered}; 429s {throttled}")
    print(
        f"objects: {sum(len(v.created) for v in vendors)} created, {sum(len(v.deleted) for v in vendors)} deleted; "
        f"refresh tokens {state['refresh_tokens']} in {state['families']} families; "
        f"concurrent refresh races by number of winners: {dict(soak.races)}"
    )
    if soak.violations:
        print(f"\nFAILED: {len(soak.violations)} violations")
        for message in soak.violations[:30]:
            print("  -", message)
    else:
        print("\nOK: no violations")


if __name__ == "__main__":
    sys.exit(main())
