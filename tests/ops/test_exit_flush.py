"""A real gunicorn worker stopped before any flush, with SIGTERM or by max_requests, writes the request log entries
(and, without Redis, the usage counts) it held: gunicorn.conf.py's worker_exit hook. USAGE_FLUSH_INTERVAL=0 and the
default buffer, so nothing else writes them.

PostgreSQL when DATABASE_URL says so (a fresh database), else an SQLite file; Redis when REDIS_URL is set.
"""

import json
import os

import pytest

from tests.ratelimit.test_live_gunicorn import (  # noqa: F401 - live_env: a fixture
    create_vendor,
    gunicorn,
    live_env,
    manage,
)

READ_BACK = """
import json
from vendors.models import RequestLogEntry, UsageDay
mine = {{"vendor__application__client_id": {client_id!r}}}
print(json.dumps({{
    "entries": sorted(RequestLogEntry.objects.filter(**mine).values_list("path", "request_id")),
    "requests": sum(UsageDay.objects.filter(**mine).values_list("requests", flat=True)),
}}))
"""


def stored(env: dict, vendor: dict) -> dict:
    """The vendor's request log entries and metered requests, as the database holds them."""
    return json.loads(manage(env, "shell", "-v0", "-c", READ_BACK.format(client_id=vendor["client_id"])))


@pytest.mark.parametrize(
    "recycled",
    [False, True],
    ids=["sigterm", "max_requests"],
)
def test_a_worker_that_stops_writes_what_it_held(live_env, tmp_path, recycled):  # noqa: F811 - the imported fixture
    vendor = create_vendor(live_env)
    # Recycled: the first worker stops after its third request (the readiness probe, the token, one list), its
    # successor serves the rest and is stopped with the server; each writes at its own exit.
    flags = {"GUNICORN_CMD_ARGS": "--max-requests 3 --max-requests-jitter 0"} if recycled else {}
    with gunicorn(live_env, tmp_path, workers=1, **flags) as server:
        token = server.token(vendor)
        for n in range(3):
            server.call("GET", "/brands", token=token, headers={"X-Request-ID": f"exit-{n}"})
        if not recycled:
            assert stored(live_env, vendor) == {"entries": [], "requests": 0}
    # Leaving the block sent SIGTERM and waited for gunicorn to stop.
    assert len(server.worker_pids()) == (2 if recycled else 1)

    written = stored(live_env, vendor)

    assert [path for path, _ in written["entries"]] == ["/auth/token", "/brands", "/brands", "/brands"]
    assert sorted(request_id for path, request_id in written["entries"] if path == "/brands") == [
        "exit-0",
        "exit-1",
        "exit-2",
    ]
    # Without Redis the worker counted the requests itself; with Redis they wait there for the next flush.
    assert written["requests"] == (0 if os.environ.get("REDIS_URL") else 3)
