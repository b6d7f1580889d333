"""Start-up configuration: production refuses to start without its secrets."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def start(**env) -> subprocess.CompletedProcess:
    clean = {key: value for key, value in os.environ.items() if key not in {"DEBUG", "SECRET_KEY"}}
    code = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "charp.settings", **env},
        capture_output=True,
        text=True,
    )


def test_production_without_a_secret_key_stops_with_a_clear_message():
    result = start()

    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_production_with_a_secret_key_starts():
    result = start(SECRET_KEY="x" * 50, ALLOWED_HOSTS="api.example")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_development_mode_is_explicit():
    assert start(DEBUG="true").stdout.strip() == "True"


def test_the_retired_per_username_login_budget_stops_start_up_with_the_name_of_its_replacement():
    result = start(DEBUG="true", ADMIN_LOGIN_FAILURES_PER_USER="5")

    assert result.returncode != 0
    assert "ADMIN_LOGIN_FAILURES_PER_USER is gone: set ADMIN_LOGIN_FAILURES_PER_USER_AND_IP" in result.stderr
