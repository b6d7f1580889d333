#!/usr/bin/env python3
"""`make scale`: token issuance and validation with 1,000,000 rows in each token table, then DOT's `cleartokens`.

1. A fresh database (`charp_scale` unless DATABASE_URL is set; Redis 127.0.0.1:6379/12 unless REDIS_URL is set),
   migrated and seeded with vendors and brands as `make bench` does; gunicorn (3 sync workers) serves it.
2. BEFORE: wrk drives token issuance, refresh (each refresh token of a fresh pool sent once) and an authenticated
   list; in-process, the hot SQL statements are timed one by
   one: the access-token lookup by checksum (the statement the app runs for GET /brands, captured and replayed), the
   refresh-token lookup by checksum (likewise from POST /auth/refresh; a refresh token that names its client is found
   inside the rotation statement, so its ORM equivalent is timed) and the two INSERTs of a token issuance
   (timed inside real POST /auth/token requests through Django's test client). EXPLAIN (ANALYZE, BUFFERS) shows the
   plans of both lookups.
3. --rows expired rows are inserted into each token table with set-based SQL, shaped so that every one of them is
   purged by django-oauth-toolkit's clear_expired(): token families of two, issued more than 31 days ago, where the
   first refresh token was rotated (revoked, its access-token link cleared, the successor access token pointing back
   at it) and the second was left idle past REFRESH_TOKEN_EXPIRE_SECONDS. Then VACUUM ANALYZE.
4. AFTER: the same measurements with the rows present, and the ratios after/before.
5. `manage.py cleartokens` under /usr/bin/time -v (max RSS) while wrk keeps issuing tokens and a sampler polls
   pg_stat_activity / pg_locks every 100 ms for the purge's longest transaction (its locks are held that long), its
   longest statement and any backend it blocks. Then it counts the purgeable rows left and the other rows lost (0).

A benchmark, not a test: nothing in `make test` depends on it. Needs wrk and PostgreSQL; takes about 8 minutes.
Usage: .venv/bin/python bench/scale.py [--rows 1000000] [--seconds 5] [--repeat 2] [--workers 3]
Environment variables (AUTH_CACHE_SECONDS, ...) pass through to gunicorn, cleartokens and the in-process client.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import PY, SEED, environment, lua, post_json, sh, wrk  # noqa: E402
from bench.servers import Gunicorn  # noqa: E402

APP_NAME = "charp-cleartokens"  # application_name of the purge's connection, for the sampler

# Families of two token pairs (see the docstring), spread over the seeded applications. Ids are reserved from the
# identity sequences so that the rows can point at each other; the foreign keys are deferred and checked at commit.
EXPIRED_ROWS = """
WITH apps AS (
    SELECT array_agg(id ORDER BY id) AS ids, array_agg(user_id ORDER BY id) AS users, count(*) AS n
    FROM oauth2_provider_application WHERE user_id IS NOT NULL
), series AS (
    SELECT mod(i, 2) = 0 AS rotated, %(at0)s + i AS at_id, %(rt0)s + i AS rt_id,
           md5('scale-family-' || %(rt0)s || '-' || i / 2)::uuid AS family,
           apps.ids[1 + mod(i / 2, apps.n)] AS application_id, apps.users[1 + mod(i / 2, apps.n)] AS user_id,
           -- A family's second access token expired 31 days (and up to rows/2 seconds) ago, its first one an hour
           -- earlier, when the first refresh token was rotated. Each token was issued an hour before it expired.
           now() - interval '31 days' - (i / 2) * interval '1 second' - mod(i + 1, 2) * interval '1 hour' AS expires
    FROM apps, generate_series(0, %(rows)s - 1) AS i
), access AS (
    INSERT INTO oauth2_provider_accesstoken (id, token, token_checksum, expires, scope, resource, application_id,
        user_id, source_refresh_token_id, id_token_id, created, updated)
    SELECT at_id, '', encode(sha256(convert_to('scale-access-' || at_id, 'UTF8')), 'hex'), expires,
           'brands campaigns tools', '[]', application_id, user_id, CASE WHEN NOT rotated THEN rt_id - 1 END, NULL,
           expires - interval '1 hour', expires - interval '1 hour'
    FROM series
)
INSERT INTO oauth2_provider_refreshtoken (id, token, token_checksum, access_token_id, token_family, revoked,
    resource, application_id, user_id, created, updated)
SELECT rt_id, '', encode(sha256(convert_to('scale-refresh-' || rt_id, 'UTF8')), 'hex'),
       CASE WHEN NOT rotated THEN at_id END, family, CASE WHEN rotated THEN expires END, '[]', application_id,
       user_id, expires - interval '1 hour', CASE WHEN rotated THEN expires ELSE expires - interval '1 hour' END
FROM series
"""

COUNTS = """
SELECT count(*) FILTER (WHERE id >= %(first)s AND id < %(first)s + %(rows)s),
       count(*) FILTER (WHERE id <= %(last)s AND NOT (id >= %(first)s AND id < %(first)s + %(rows)s)),
       count(*) FILTER (WHERE id > %(last)s)
FROM {table}
"""

SAMPLE = """
SELECT a.pid, extract(epoch FROM now() - a.xact_start), extract(epoch FROM now() - a.query_start),
       a.state, left(regexp_replace(a.query, '\\s+', ' ', 'g'), 110),
       (SELECT count(*) FROM pg_locks l WHERE l.pid = a.pid AND l.granted),
       EXISTS (SELECT FROM pg_locks l WHERE l.pid = a.pid AND l.mode = 'RowExclusiveLock'),
       (SELECT count(*) FROM pg_stat_activity w WHERE a.pid = ANY(pg_blocking_pids(w.pid)))
FROM pg_stat_activity a WHERE a.application_name = %s
"""


def rps(run: dict) -> float:
    return run["rps"]


def stats(ms: list[float]) -> dict:
    ordered = sorted(ms)
    return {
        "n": len(ordered),
        "p50": statistics.median(ordered),
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "max": ordered[-1],
    }


def purge_sets():
    """The four sets that clear_expired() deletes from the token tables, with its own predicates (DOT 3.4.1 with
    REFRESH_TOKEN_REUSE_PROTECTION: revoked refresh tokens are kept until REFRESH_TOKEN_EXPIRE_SECONDS)."""
    from django.utils import timezone
    from oauth2_provider.models import AccessToken, RefreshToken, refresh_token_expire_timedelta

    now = timezone.now()
    cutoff = now - refresh_token_expire_timedelta()
    return {
        "refresh revoked": RefreshToken.objects.filter(revoked__lte=cutoff),
        "refresh orphaned": RefreshToken.objects.filter(revoked__isnull=True, access_token__isnull=True),
        "refresh idle": RefreshToken.objects.filter(revoked__isnull=True, access_token__expires__lte=cutoff),
        "access expired": AccessToken.objects.filter(refresh_token__isnull=True, expires__lt=now),
    }


def in_process(creds: list, n_issue: int, n_lookup: int) -> dict:
    """Statement timings through the real code paths (Django's test client) on the same database."""
    from django.db import connection
    from django.test import Client

    from vendors.oauth.tokens import token_checksum

    client = Client()
    # DOT's two INSERTs, or on PostgreSQL the one statement writing both (vendors/oauth/writes.py).
    inserts = {"insert access": [], "insert refresh": [], "insert token pair": []}
    issue_ms = []

    def timed(execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            for kind, table in (("insert access", "accesstoken"), ("insert refresh", "refreshtoken")):
                if sql.startswith(f'INSERT INTO "oauth2_provider_{table}"'):
                    inserts[kind].append((time.perf_counter() - start) * 1000)
            if "WITH access AS (INSERT INTO" in sql:
                inserts["insert token pair"].append((time.perf_counter() - start) * 1000)

    issued = []
    warm = json.dumps({"client_id": creds[0][0], "client_secret": creds[0][1]})
    client.post("/auth/token", warm, content_type="application/json")  # imports and first-request set-up: not timed
    with connection.execute_wrapper(timed):
        for i in range(n_issue):
            client_id, secret = creds[i % len(creds)]
            body = json.dumps({"client_id": client_id, "client_secret": secret})
            start = time.perf_counter()
            response = client.post("/auth/token", body, content_type="application/json")
            issue_ms.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, response.content[:300]
            issued.append(response.json())

    # The lookups exactly as the app sends them: captured from one real request each, then replayed.
    captured = []

    def capture(execute, sql, params, many, context):
        captured.append((sql, params))
        return execute(sql, params, many, context)

    last = issued.pop()  # refreshed below, which deletes its access token: not among the samples
    with connection.execute_wrapper(capture):
        listing = client.get("/brands", HTTP_AUTHORIZATION=f"Bearer {last['access_token']}")
        refresh = client.post(
            "/auth/refresh", json.dumps({"refresh_token": last["refresh_token"]}), content_type="application/json"
        )
    assert listing.status_code == 200 and refresh.status_code == 200, (listing.content, refresh.content)

    def statement(table: str, token: str, fallback) -> tuple[str, list, str, str]:
        checksum = token_checksum(token)
        for sql, params in captured:
            if sql.lstrip().startswith("SELECT") and f'FROM "{table}"' in sql and checksum in (params or ()):
                return sql, list(params), checksum, "as the app ran it"
        sql, params = fallback.filter(token_checksum=checksum).query.sql_with_params()
        # The access token came from the worker's cache; a refresh found its row inside the rotation statement.
        return sql, list(params), checksum, "ORM equivalent (the app ran no such SELECT)"

    from oauth2_provider.models import AccessToken, RefreshToken

    lookups = {
        "access lookup": statement(
            "oauth2_provider_accesstoken",
            last["access_token"],
            AccessToken.objects.select_related("application__vendor__plan", "user"),
        ),
        "refresh lookup": statement(
            "oauth2_provider_refreshtoken", last["refresh_token"], RefreshToken.objects.values("application__client_id")
        ),
    }
    samples = {
        "access lookup": [token_checksum(t["access_token"]) for t in issued],
        "refresh lookup": [token_checksum(t["refresh_token"]) for t in issued],
    }
    result, plans = {}, {}
    with connection.cursor() as cursor:
        for name, (sql, params, checksum, source) in lookups.items():
            times = []
            for i in range(n_lookup):
                bound = [samples[name][i % len(issued)] if p == checksum else p for p in params]
                start = time.perf_counter()
                cursor.execute(sql, bound)
                rows = cursor.fetchall()
                times.append((time.perf_counter() - start) * 1000)
                assert rows, name
            result[name] = stats(times)
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", bound)  # the last token looked up: a hit
            plan = "\n".join(row[0] for row in cursor.fetchall())
            # An index scan of the token table on the checksum (Index Cond), never a Seq Scan of it nor a walk of
            # another index filtering on the checksum.
            table = sql.split(" FROM ", 1)[1].split()[0].strip('"')
            on_table = [line for line in plan.splitlines() if "Scan" in line and f" on {table}" in line]
            by_checksum = "Index Cond: ((token_checksum)" in plan and "Filter: ((token_checksum)" not in plan
            indexed = by_checksum and bool(on_table) and "Seq Scan" not in str(on_table)
            plans[name] = {"source": source, "plan": plan, "index": indexed}
    for name, times in inserts.items():
        if times:
            result[name] = stats(times)
    result["issue (in-process)"] = stats(issue_ms)
    return {"statements": result, "plans": plans}


def refresh_run(base: str, creds: list, args) -> dict:
    """wrk on POST /auth/refresh, each refresh token of a fresh pool sent once (they are single-use), for at most
    3 s so that the run stays inside the pool, as in `make bench`."""
    as_json = {"Content-Type": "application/json"}
    pool = [
        post_json(f"{base}/auth/token", {"client_id": c, "client_secret": s})["refresh_token"]
        for c, s in (creds * (args.refresh_pool // len(creds) + 1))[: args.refresh_pool]
    ]
    items = [("/auth/refresh", as_json, json.dumps({"refresh_token": token})) for token in pool]
    return wrk(base, lua("POST", items, single_use=True), min(args.seconds, 3), 8)


def measure(label: str, base: str, creds: list, args) -> dict:
    print(f"\n== {label}: wrk best of {args.repeat} x {args.seconds} s, {args.issue} issuances, {args.lookups} lookups")
    as_json = {"Content-Type": "application/json"}
    access = [post_json(f"{base}/auth/token", {"client_id": c, "client_secret": s})["access_token"] for c, s in creds]
    token_items = [("/auth/token", as_json, json.dumps({"client_id": c, "client_secret": s})) for c, s in creds]
    list_items = [("/brands", {"Authorization": f"Bearer {t}"}, "") for t in access]
    # The connections of `make bench`: 8 for issuance and refresh, 16 for the list. The best of --repeat runs: this
    # machine's throughput drifts with its neighbours' load, which a single short run mistakes for a change.
    http = {
        "token": max((wrk(base, lua("POST", token_items), args.seconds, 8) for _ in range(args.repeat)), key=rps),
        "refresh": max((refresh_run(base, creds, args) for _ in range(args.repeat)), key=rps),
        "list": max((wrk(base, lua("GET", list_items), args.seconds, 16) for _ in range(args.repeat)), key=rps),
    }
    measured = {"http": http, **in_process(creds, args.issue, args.lookups)}
    for name, row in http.items():
        print(f"  wrk {name:6} {row['rps']:8.1f} req/s  p50 {row['p50']:.1f} ms  p99 {row['p99']:.1f} ms", end="")
        print(f"  max {row['max']:.1f} ms  non-2xx {row['non2xx']}")
    for name, row in measured["statements"].items():
        print(f"  {name:20} p50 {row['p50']:.3f} ms  p99 {row['p99']:.3f} ms  (n={row['n']})")
    for name, plan in measured["plans"].items():
        print(f"\n  EXPLAIN (ANALYZE, BUFFERS) {name} ({plan['source']}): index scan on the checksum: {plan['index']}")
        print("    " + plan["plan"].replace("\n", "\n    "))
    return measured


def insert_expired(rows: int) -> dict:
    from django.db import connection, transaction

    start = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        ids = {}
        for key, table in (("at0", "oauth2_provider_accesstoken"), ("rt0", "oauth2_provider_refreshtoken")):
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id'))", [table])
            ids[key] = cursor.fetchone()[0]
            cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)", [table, ids[key] + rows])
        cursor.execute(EXPIRED_ROWS, {**ids, "rows": rows})
    inserted = time.perf_counter() - start
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE oauth2_provider_accesstoken, oauth2_provider_refreshtoken")
        cursor.execute("CHECKPOINT")
        cursor.execute(
            "SELECT pg_size_pretty(pg_total_relation_size('oauth2_provider_accesstoken')),"
            " pg_size_pretty(pg_total_relation_size('oauth2_provider_refreshtoken'))"
        )
        sizes = cursor.fetchone()
    done = {"rows": rows, "insert_s": inserted, "vacuum_s": time.perf_counter() - start - inserted, **ids}
    print(f"\n== inserted {rows} expired rows into each token table in {inserted:.1f} s", end="")
    print(f" (VACUUM ANALYZE + CHECKPOINT {done['vacuum_s']:.1f} s); sizes: access {sizes[0]}, refresh {sizes[1]}")
    return done


def explain_purge(batch: int) -> dict:
    """What each of cleartokens' loops costs per batch: the count() it repeats and the batch select it deletes by."""
    print(f"\n== cleartokens' queries with the rows present (batch of {batch})")
    found = {}
    for name, queryset in purge_sets().items():
        start = time.perf_counter()
        rows = queryset.count()
        count_ms = (time.perf_counter() - start) * 1000
        plan = queryset.values_list("pk", flat=True)[:batch].explain(analyze=True, buffers=True)
        scans = sorted({line.strip().split(" on ")[0].lstrip("-> ") for line in plan.splitlines() if " on " in line})
        select_ms = float(plan.rsplit("Execution Time: ", 1)[1].split()[0])
        found[name] = {"rows": rows, "count_ms": count_ms, "batch_select_ms": select_ms, "scans": scans}
        print(f"  {name:17} {rows:9d} rows  count() {count_ms:7.1f} ms  batch select {select_ms:7.1f} ms  {scans}")
    return found


def token_counts(bulk: dict, last_ids: dict) -> dict:
    """Per table: rows of the bulk insert left, other rows that existed at the purge's start (`last_ids`: the highest
    ids then; none of them is purgeable, so none may go) and rows added since; then the rows in each purge set."""
    from django.db import connection

    counts = {}
    with connection.cursor() as cursor:
        for kind, first in (("access", bulk["at0"]), ("refresh", bulk["rt0"])):
            table = f"oauth2_provider_{kind}token"
            cursor.execute(
                COUNTS.replace("{table}", table), {"first": first, "rows": bulk["rows"], "last": last_ids[kind]}
            )
            counts[f"{kind}: bulk"], counts[f"{kind}: kept"], counts[f"{kind}: new"] = cursor.fetchone()
    return {**counts, **{name: queryset.count() for name, queryset in purge_sets().items()}}


class Sampler(threading.Thread):
    """Every ~100 ms: the purge backend's transaction age (its locks are held that long; a write transaction holds
    RowExclusiveLock and row locks), the age of its running statement, its granted locks, and the backends waiting
    on it."""

    def __init__(self):
        super().__init__(daemon=True)
        self.done = threading.Event()
        self.worst = {"xact_s": 0.0, "xact_query": "", "write_xact_s": 0.0, "write_xact_query": ""}
        self.worst |= {"statement_s": 0.0, "statement_query": "", "locks": 0, "blocked_backends": 0}
        self.samples = 0

    def run(self):
        from django.db import connection

        try:
            with connection.cursor() as cursor:
                while not self.done.wait(0.1):
                    cursor.execute(SAMPLE, [APP_NAME])
                    for _pid, xact_s, query_s, state, query, locks, writing, blocked in cursor.fetchall():
                        self.samples += 1
                        worst = self.worst
                        if xact_s is not None and xact_s > worst["xact_s"]:
                            worst["xact_s"], worst["xact_query"] = float(xact_s), query
                        if writing and xact_s is not None and xact_s > worst["write_xact_s"]:
                            worst["write_xact_s"], worst["write_xact_query"] = float(xact_s), query
                        if state == "active" and query_s is not None and query_s > worst["statement_s"]:
                            worst["statement_s"], worst["statement_query"] = float(query_s), query
                        worst["locks"] = max(worst["locks"], locks)
                        worst["blocked_backends"] = max(worst["blocked_backends"], blocked)
        finally:
            connection.close()


def timed_v(env: dict, command: str) -> int:
    """Run a management command under /usr/bin/time -v; its maximum resident set size in KiB."""
    result = subprocess.run(
        ["/usr/bin/time", "-v", PY, "manage.py", command], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if result.returncode:
        raise SystemExit(f"manage.py {command} failed:\n{result.stderr[-3000:]}")
    return int(result.stderr.split("Maximum resident set size (kbytes):")[1].split()[0])


def purge(env: dict, base: str, creds: list, bulk: dict, args) -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT max(id) FROM oauth2_provider_accesstoken),"
            " (SELECT max(id) FROM oauth2_provider_refreshtoken)"
        )
        last_ids = dict(zip(("access", "refresh"), cursor.fetchone(), strict=True))
    before = token_counts(bulk, last_ids)
    print(f"\n== cleartokens: {before}")

    # Issuance keeps running in short wrk segments until the purge ends.
    as_json = {"Content-Type": "application/json"}
    items = [("/auth/token", as_json, json.dumps({"client_id": c, "client_secret": s})) for c, s in creds]
    script, segments, finished = lua("POST", items), [], threading.Event()

    def drive():
        while not finished.is_set():
            segments.append(wrk(base, script, args.segment, 8))

    driver, sampler = threading.Thread(target=drive, daemon=True), Sampler()
    driver.start()
    sampler.start()
    time.sleep(1)  # issuance is under way before the purge starts
    start = time.perf_counter()
    rss_kb = timed_v(env | {"PGAPPNAME": APP_NAME}, "cleartokens")
    seconds = time.perf_counter() - start
    finished.set()
    sampler.done.set()
    driver.join()
    sampler.join()
    time.sleep(1)  # the requests wrk left in flight finish before the rows are counted
    after = token_counts(bulk, last_ids)
    total = sum(row["rps"] * args.segment for row in segments)
    during = {
        "segments": len(segments),
        "rps": total / (len(segments) * args.segment),
        "p50": statistics.median(row["p50"] for row in segments),
        "p99": max(row["p99"] for row in segments),
        "max": max(row["max"] for row in segments),
        "non2xx": sum(row["non2xx"] for row in segments),
    }
    idle_rss_kb = timed_v(env, "check")  # the baseline: Django loaded, nothing else
    print(f"  took {seconds:.1f} s, max RSS {rss_kb / 1024:.0f} MiB (manage.py check: {idle_rss_kb / 1024:.0f} MiB)")
    print(f"  after: {after}")
    print(f"  sampler ({sampler.samples} samples): {sampler.worst}")
    print(f"  issuance during the purge ({len(segments)} wrk segments of {args.segment} s): {during}")
    return {
        "seconds": seconds,
        "max_rss_mib": rss_kb / 1024,
        "idle_rss_mib": idle_rss_kb / 1024,
        "before": before,
        "after": after,
        "locks": sampler.worst,
        "samples": sampler.samples,
        "issuance": during,
    }


def summary(before: dict, after: dict, purged: dict, bulk: dict) -> None:
    rows = []
    for name in ("token", "refresh", "list"):
        rows.append((f"wrk {name} req/s", before["http"][name]["rps"], after["http"][name]["rps"]))
        rows.append((f"wrk {name} p99 ms", before["http"][name]["p99"], after["http"][name]["p99"]))
    ratios = [measured["http"]["refresh"]["rps"] / measured["http"]["token"]["rps"] for measured in (before, after)]
    rows.append(("wrk refresh / token req/s", *ratios))
    for name in before["statements"]:
        for key in ("p50", "p99"):
            rows.append((f"{name} {key} ms", before["statements"][name][key], after["statements"][name][key]))
    title = f"with {bulk['rows']} expired rows per token table"
    print(f"\n{title:40} {'before':>9} {'after':>9} {'after/before':>12}")
    for label, old, new in rows:
        print(f"{label:40} {old:9.3f} {new:9.3f} {new / old:12.2f}")
    for name in ("access lookup", "refresh lookup"):
        uses = [str(measured["plans"][name]["index"]) for measured in (before, after)]
        print(f"{name + ': checksum index scan':40} {uses[0]:>9} {uses[1]:>9}")

    start, end, locks = purged["before"], purged["after"], purged["locks"]
    lines = [
        ("cleartokens wall time s", purged["seconds"]),
        (f"max RSS MiB (manage.py check: {purged['idle_rss_mib']:.0f})", purged["max_rss_mib"]),
        ("bulk rows deleted: access", start["access: bulk"] - end["access: bulk"]),
        ("bulk rows deleted: refresh", start["refresh: bulk"] - end["refresh: bulk"]),
        ("purgeable rows left (all four sets)", sum(end[name] for name in purge_sets())),
        ("other rows lost (must be 0)", start["access: kept"] + start["refresh: kept"] - end["access: kept"]
         - end["refresh: kept"]),
        ("tokens issued during the purge", end["access: new"]),
        ("longest purge transaction s", locks["xact_s"]),
        ("longest purge write transaction s", locks["write_xact_s"]),
        ("longest purge statement s", locks["statement_s"]),
        ("backends blocked by the purge (max)", locks["blocked_backends"]),
    ]  # fmt: skip
    print()
    for label, value in lines:
        print(f"{label:40} {value:9.2f}" if isinstance(value, float) else f"{label:40} {value:9d}")

    runs = (before["http"]["token"], after["http"]["token"], purged["issuance"])
    print(f"\n{'token issuance (wrk)':40} {'before':>9} {'after':>9} {'purging':>9} {'purging/before':>15}")
    for key, label in (
        ("rps", "req/s"),
        ("p50", "p50 ms"),
        ("p99", "p99 ms (purging: worst segment)"),
        ("max", "max ms"),
    ):
        print(f"{label:40} " + " ".join(f"{run[key]:9.1f}" for run in runs) + f" {runs[2][key] / runs[0][key]:15.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="expired rows per token table (even)")
    parser.add_argument("--seconds", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--repeat", type=int, default=2, help="wrk runs per scenario, the best kept")
    parser.add_argument("--segment", type=int, default=2, help="seconds per wrk segment during the purge")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--issue", type=int, default=500, help="in-process token issuances timed")
    parser.add_argument("--refresh-pool", type=int, default=4000, help="refresh tokens issued for each refresh run")
    parser.add_argument("--lookups", type=int, default=2000, help="replays of each lookup statement")
    args = parser.parse_args()
    args.rows -= args.rows % 2

    env = environment(database="charp_scale", redis_db=12)
    env.setdefault("LOG_LEVEL", "WARNING")
    if not env["DATABASE_URL"].startswith("postgres"):
        raise SystemExit("make scale needs PostgreSQL: unset DATABASE_URL or point it at PostgreSQL")
    sh(PY, "manage.py", "migrate", "-v0", env=env)
    creds = json.loads(sh(PY, "-c", SEED, env=env).strip().splitlines()[-1])
    os.environ.update(env)
    warnings.filterwarnings("ignore", message="No directory at")  # whitenoise: no collectstatic for a benchmark
    import django

    django.setup()
    from oauth2_provider.settings import oauth2_settings

    server = Gunicorn(env, workers=args.workers)
    try:
        before = measure("BEFORE", server.base, creds, args)
        bulk = insert_expired(args.rows)
        after = measure(f"AFTER ({args.rows} expired rows per token table)", server.base, creds, args)
        after["purge_queries"] = explain_purge(oauth2_settings.CLEAR_EXPIRED_TOKENS_BATCH_SIZE)
        purged = purge(env, server.base, creds, bulk, args)
    finally:
        server.stop()
    summary(before, after, purged, bulk)
    for measured in (before, after):
        for plan in measured["plans"].values():
            plan.pop("plan")
    print(json.dumps({"rows": args.rows, "bulk": bulk, "before": before, "after": after, "purge": purged}))


if __name__ == "__main__":
    main()
