"""A real gunicorn worker stopped with SIGTERM before any flush writes the request log entries (and, without Redis,
the usage counts) it held: gunicorn.conf.py's worker_exit hook. USAGE_FLUSH_INTERVAL=0 and the default buffer, so
nothing else writes them.

PostgreSQL when DATABASE_URL says so (a fresh database), else an SQLite file; Redis when REDIS_URL is set.
"""

import json
import os

from tests.ratelimit.test_live_gunicorn import (  # noqa: F401 - live_env: a fixture
    create_vendor,
    gunicorn,
    live_env,
    manage,
)

READ_BACK = """
import json
from vendors.models import RequestLogEntry, UsageDay
print(json.dumps({
    "entries": sorted(RequestLogEntry.objects.values_list("path", "request_id")),
    "requests": sum(UsageDay.objects.values_list("requests", flat=True)),
}))
"""


def test_a_worker_stopped_with_sigterm_writes_what_it_held(live_env, tmp_path):  # noqa: F811 - the imported fixture
    vendor = create_vendor(live_env)
    with gunicorn(live_env, tmp_path, workers=1) as server:
        token = server.token(vendor)
        for n in range(3):
            server.call("GET", "/brands", token=token, headers={"X-Request-ID": f"exit-{n}"})
        assert json.loads(manage(live_env, "shell", "-v0", "-c", READ_BACK)) == {"entries": [], "requests": 0}
    # Leaving the block sent SIGTERM and waited for gunicorn to stop.

    stored = json.loads(manage(live_env, "shell", "-v0", "-c", READ_BACK))

    assert [path for path, _ in stored["entries"]] == ["/auth/token", "/brands", "/brands", "/brands"]
    assert sorted(request_id for path, request_id in stored["entries"] if path == "/brands") == [
        "exit-0",
        "exit-1",
        "exit-2",
    ]
    # Without Redis the worker counted the requests itself; with Redis they wait there for the next flush.
    assert stored["requests"] == (0 if os.environ.get("REDIS_URL") else 3)
