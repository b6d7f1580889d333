"""`schemathesis run --checks all` against a live gunicorn finds nothing: the OpenAPI document tells the truth.

The real CLI, as a vendor's developer or CI would run it, with the project's schemathesis.toml and a valid Bearer
token, on a database of this module's own (SQLite, or PostgreSQL when DATABASE_URL says so). Bounded: 5 examples
per operation and a fixed seed: some 2,000 requests, 10-30 seconds on SQLite, up to twice that on PostgreSQL.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ratelimit.test_live_gunicorn import ROOT, create_vendor, gunicorn, live_env  # noqa: F401 - a fixture


@pytest.fixture(scope="module")
def cli() -> Path:
    path = Path(sys.executable).with_name("schemathesis")
    if not path.exists():
        pytest.skip("the schemathesis CLI is not installed (make test installs it)")
    return path


def test_schemathesis_checks_all_find_no_failure(cli, live_env, tmp_path):  # noqa: F811
    # Fast generated traffic would meet the plan's limits and the failed-authentication throttle, not the API; and
    # the production default of kept database connections makes the 2,000 requests on PostgreSQL five times faster.
    limits_off = {"RATELIMIT_ENABLED": "false", "AUTH_FAILURES_PER_IP": "999999", "AUTH_FAILURES_PER_CLIENT": "999999"}
    with gunicorn(live_env, tmp_path, workers=2, CONN_MAX_AGE="60", **limits_off) as server:
        vendor = create_vendor(live_env, "enterprise")  # every API, so that no operation is only a 403
        token = server.token(vendor)
        run = subprocess.run(  # noqa: S603 - the installed CLI with fixed arguments
            [
                cli,
                "--config-file",
                ROOT / "schemathesis.toml",
                "--no-color",
                "run",
                f"http://127.0.0.1:{server.port}/api/schema?format=json",
                "--checks",
                "all",
                "--max-examples",
                "5",
                "--seed",
                "14",
                "-H",
                f"Authorization: Bearer {token}",
            ],  # fmt: skip
            cwd=tmp_path,  # its cache of failures (.schemathesis/) stays out of the checkout
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        brands = server.call("GET", "/brands?limit=100", token=token)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    selected = re.search(r"Selected: (\d+)/(\d+)", output)
    assert selected and selected[1] == selected[2] and int(selected[1]) >= 20, output
    assert re.search(rf"Tested: {selected[1]}\b", output), output
    assert "failure" not in output.splitlines()[-1], output
    # The token was used: generated brands were created with it.
    assert brands.status == 200 and brands.body["results"], output
