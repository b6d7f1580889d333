"""The platform behind PgBouncer in transaction-pooling mode: the API flow and the two races, through a private
pgbouncer (its own port and files) in front of this module's own database, with DATABASE_POOLER=transaction.

Transaction pooling hands each transaction to whichever server connection is free, so whatever a client leaves on
a server between transactions is lost to it: server-side cursors break (shown below), and psycopg's prepared
statements would (PgBouncer 1.18 does not track them; Django leaves them off, the setting pins that). Nothing else
outlives a transaction: the token writes' `SET LOCAL synchronous_commit` is part of their own one-string implicit
transaction, the health check polls the socket, and nothing takes an advisory lock or LISTENs. The pool here is
smaller than the number of workers, so one worker's transactions do move between server connections.

Skipped without pgbouncer, PostgreSQL (DATABASE_URL) or Redis (REDIS_URL: the gunicorn fixtures need it).
"""

import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.conftest import on_postgres, on_redis
from tests.ratelimit.test_live_gunicorn import create_vendor, free_port, gunicorn, live_env, manage  # noqa: F401
from tests.vendors import test_revocation_race

# Debian installs it in /usr/sbin, which is not on every user's PATH.
PGBOUNCER = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin")

pytestmark = [on_postgres, on_redis, pytest.mark.skipif(PGBOUNCER is None, reason="needs pgbouncer")]

POOL_SIZE = 2  # fewer server connections than gunicorn workers: one worker's transactions change servers


@contextmanager
def pgbouncer(database_url: str):
    """A private pgbouncer in transaction mode in front of `database_url`'s database; yields its own URL."""
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    port = free_port()
    # Not pytest's tmp_path: pgbouncer refuses to run as root, and its user must read and write these files.
    home = Path(tempfile.mkdtemp(prefix="charp-pgbouncer-"))
    (home / "userlist.txt").write_text(f'"{parts.username}" ""\n')
    (home / "pgbouncer.ini").write_text(
        f"[databases]\n{name} = host={parts.hostname} port={parts.port or 5432} dbname={name}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {home / 'userlist.txt'}\nadmin_users = {parts.username}\n"
        f"pool_mode = transaction\ndefault_pool_size = {POOL_SIZE}\nmax_client_conn = 200\n"
        f"logfile = {home / 'pgbouncer.log'}\n"
    )
    command = [PGBOUNCER, str(home / "pgbouncer.ini")]
    if os.geteuid() == 0:
        shutil.chown(home, "postgres")
        for path in home.iterdir():
            shutil.chown(path, "postgres")
        command[1:1] = ["-u", "postgres"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)  # noqa: S603
    url = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{port}"))
    try:
        import psycopg

        deadline = time.monotonic() + 10
        while True:
            try:
                psycopg.connect(url, connect_timeout=2).close()
                break
            except psycopg.OperationalError:
                assert process.poll() is None, (home / "pgbouncer.log").read_text()
                assert time.monotonic() < deadline, (home / "pgbouncer.log").read_text()
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(home, ignore_errors=True)


def transactions_through(url: str) -> int:
    """How many transactions pgbouncer has passed to the database (its admin console's SHOW STATS)."""
    parts = urlsplit(url)
    result = subprocess.run(  # noqa: S603 - psql with fixed arguments: the admin console speaks the simple protocol only
        [shutil.which("psql") or "psql", "-h", parts.hostname, "-p", str(parts.port), "-U", parts.username,
         "-At", "-F", "\t", "pgbouncer", "-c", "SHOW STATS"],
        capture_output=True, text=True, timeout=10, check=True,
    )  # fmt: skip
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    return next(int(row[1]) for row in rows if row[0] == parts.path.lstrip("/"))


@pytest.fixture(scope="module")
def bouncer(live_env):  # noqa: F811 - the imported fixture
    with pgbouncer(live_env["DATABASE_URL"]) as url:
        yield url


@pytest.fixture(scope="module")
def pooled_server(live_env, bouncer, tmp_path_factory):  # noqa: F811
    """Three gunicorn workers whose database is pgbouncer; persistent connections, as in production."""
    extra = {"DATABASE_URL": bouncer, "DATABASE_POOLER": "transaction", "CONN_MAX_AGE": "60"}
    with gunicorn(live_env, tmp_path_factory.mktemp("pooled"), **extra) as running:
        yield running


def standard_vendor(env: dict) -> dict:
    return create_vendor(env, "standard")


def test_the_api_flow_works_through_pgbouncer(pooled_server, live_env, bouncer):  # noqa: F811
    before = transactions_through(bouncer)
    vendor = standard_vendor(live_env)
    credentials = {"client_id": vendor["client_id"], "client_secret": vendor["client_secret"]}
    # Enough rounds for psycopg to prepare each hot statement (its threshold is 5) on every worker.
    for round_ in range(8):
        tokens = pooled_server.call("POST", "/auth/token", credentials)
        assert tokens.status == 200, tokens.body
        access = tokens.body["access_token"]
        created = pooled_server.call("POST", "/brands", {"name": f"Brand {round_}"}, token=access)
        assert created.status == 201, created.body
        listed = pooled_server.call("GET", "/brands", token=access)
        assert listed.status == 200, listed.body
        assert f"Brand {round_}" in [brand["name"] for brand in listed.body["results"]]
        renewed = pooled_server.call("POST", "/auth/refresh", {"refresh_token": tokens.body["refresh_token"]})
        assert renewed.status == 200, renewed.body
        fetched = pooled_server.call("GET", f"/brands/{created.body['id']}", token=renewed.body["access_token"])
        assert fetched.status == 200, fetched.body
        assert fetched.body["name"] == f"Brand {round_}"
    count = manage(live_env, "shell", "-c", f"from apiresources.models import Brand; print(Brand.objects.filter("
                   f"vendor__application__client_id='{vendor['client_id']}').count())")  # fmt: skip
    assert count.split()[-1] == "8"
    assert transactions_through(bouncer) > before + 8 * 4, "the requests should have gone through pgbouncer"
    assert " 500 " not in pooled_server.log.read_text()


def test_of_concurrent_refreshes_through_pgbouncer_exactly_one_wins(pooled_server, live_env):  # noqa: F811
    vendor = standard_vendor(live_env)
    credentials = {"client_id": vendor["client_id"], "client_secret": vendor["client_secret"]}
    for _ in range(5):
        refresh = pooled_server.call("POST", "/auth/token", credentials).body["refresh_token"]
        barrier, results = threading.Barrier(6), []

        def attempt(token=refresh, barrier=barrier, results=results):
            barrier.wait()
            reply = pooled_server.call("POST", "/auth/refresh", {"refresh_token": token})
            results.append((reply.status, reply.body))

        threads = [threading.Thread(target=attempt) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert Counter(status for status, _ in results) == {200: 1, 400: 5}, results
        assert all(body["error"] == "invalid_grant" for status, body in results if status != 200)
        successors = manage(
            live_env, "shell", "-c",
            "from oauth2_provider.models import RefreshToken; from vendors.oauth.tokens import token_checksum; "
            f"family = RefreshToken.objects.get(token_checksum=token_checksum('{refresh}')).token_family; "
            "print(RefreshToken.objects.filter(token_family=family).count())",
        )  # fmt: skip
        assert successors.split()[-1] == "2"


def test_no_token_issued_before_a_revoke_all_survives_it_through_pgbouncer(pooled_server, live_env):  # noqa: F811
    # One of the race's three actions (about 40 s each here): suspension and the revoking rotation end tokens the
    # same way, under the same row lock, which tests/vendors/test_revocation_race.py runs directly.
    test_revocation_race.test_no_token_issued_before_a_revoking_action_survives_it(
        pooled_server, live_env, "revoke-all"
    )
    assert " 500 " not in pooled_server.log.read_text()


# A chunked read (QuerySet.iterator()) while another client takes the server connection it started on: the
# plan rows are read one FETCH at a time, and in between the second client's open transaction holds that server.
ITERATE_WHILE_ANOTHER_CLIENT_HOLDS_THE_SERVER = """
import os, psycopg
from vendors.models import Plan
rows = Plan.objects.order_by("id").iterator(chunk_size=1)
first = next(rows)
other = psycopg.connect(os.environ["DATABASE_URL"])
other.execute("SELECT 1")  # opens a transaction: pgbouncer gives it the server the read just released
try:
    print("rows", 1 + len(list(rows)))
except Exception as error:
    print("error", type(error).__name__, error)
other.close()
"""


@pytest.mark.parametrize("pooler", ["transaction", ""])
def test_server_side_cursors_are_off_behind_a_transaction_pooler(live_env, bouncer, pooler):  # noqa: F811
    plans = manage(live_env, "shell", "-c", "from vendors.models import Plan; print(Plan.objects.count())")
    env = {**live_env, "DATABASE_URL": bouncer, "DATABASE_POOLER": pooler, "CONN_MAX_AGE": "60"}
    out = manage(env, "shell", "-c", ITERATE_WHILE_ANOTHER_CLIENT_HOLDS_THE_SERVER).splitlines()[-1]
    if pooler:
        assert out == f"rows {plans.split()[-1]}"
    else:
        # What DATABASE_POOLER=transaction prevents: the cursor stayed on a server this client no longer has.
        assert out.startswith("error") and "does not exist" in out, out
