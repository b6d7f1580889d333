"""Start-up configuration: production refuses to start without its secrets."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

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


def print_keys(**env) -> subprocess.CompletedProcess:
    clean = {key: value for key, value in os.environ.items() if key not in {"DEBUG", "SECRET_KEY"}}
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        "print(json.dumps([settings.JWT_SIGNING_KEYS, settings.CLIENT_SECRET_PEPPER, "
        "settings.KEYS_DERIVED_FROM_SECRET_KEY]))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "charp.settings", "SECRET_KEY": "s" * 50, **env},
        capture_output=True,
        text=True,
    )


KEY_A, KEY_B, PEPPER = "a" * 32, "b" * 40, "p" * 32


def test_key_entries_are_trimmed():
    result = print_keys(JWT_SIGNING_KEYS=f" {KEY_A} , {KEY_B} ", CLIENT_SECRET_PEPPER=f"  {PEPPER}\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f'[["{KEY_A}", "{KEY_B}"], "{PEPPER}", []]'


def test_unset_keys_are_derived_from_secret_key_and_reported():
    result = print_keys()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith('["CLIENT_SECRET_PEPPER", "JWT_SIGNING_KEYS"]]')


@pytest.mark.parametrize(
    "name, value",
    [
        ("JWT_SIGNING_KEYS", ""),
        ("JWT_SIGNING_KEYS", f"{KEY_A},"),
        ("JWT_SIGNING_KEYS", f"{KEY_A}, ,{KEY_B}"),
        ("CLIENT_SECRET_PEPPER", "   "),
    ],
)
def test_a_blank_key_entry_stops_start_up_naming_the_setting(name, value):
    result = print_keys(**{name: value})
    assert result.returncode != 0
    assert f"ImproperlyConfigured: {name} has a blank" in result.stderr


@pytest.mark.parametrize("name, value", [("JWT_SIGNING_KEYS", f"{KEY_A},short"), ("CLIENT_SECRET_PEPPER", "short")])
def test_outside_debug_a_short_key_stops_start_up_naming_the_setting(name, value):
    result = print_keys(**{name: value})
    assert result.returncode != 0
    assert f"ImproperlyConfigured: {name}: every key must be at least 32 bytes" in result.stderr
    assert print_keys(DEBUG="true", **{name: value}).returncode == 0  # development keys may be anything


def test_a_dotenv_file_is_read_and_the_real_environment_wins(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("# development\nDEBUG=true\n")

    assert start(CHARP_ENV_FILE=str(dotenv)).stdout.strip() == "True"
    production = start(CHARP_ENV_FILE=str(dotenv), DEBUG="false", SECRET_KEY="x" * 50, ALLOWED_HOSTS="api.example")
    assert production.returncode == 0, production.stderr
    assert production.stdout.strip() == "False"


def test_without_a_dotenv_file_nothing_changes(tmp_path):
    result = start(CHARP_ENV_FILE=str(tmp_path / "absent.env"))

    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_the_checkout_dotenv_is_the_default(tmp_path):
    # Without CHARP_ENV_FILE the project's own .env is the one read; it is git-ignored, never shipped.
    code = "import django; django.setup(); from django.conf import settings; print(settings.ENV_FILE)"
    env = {key: value for key, value in os.environ.items() if key != "CHARP_ENV_FILE"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "charp.settings", "DEBUG": "true"},
        capture_output=True,
        text=True,
    )
    assert result.stdout.strip() == str(ROOT / ".env"), result.stderr
    assert (ROOT / ".gitignore").read_text().count("/.env") == 1


def database_settings(**env) -> subprocess.CompletedProcess:
    clean = {key: value for key, value in os.environ.items() if key not in {"DEBUG", "SECRET_KEY", "DATABASE_POOLER"}}
    code = (
        "import json, django; django.setup(); from django.conf import settings; db = settings.DATABASES['default']; "
        "print(json.dumps([db['OPTIONS'].get('prepare_threshold', 'unset'), db['OPTIONS'].get('server_side_binding'), "
        "db.get('DISABLE_SERVER_SIDE_CURSORS')]))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "charp.settings", "DEBUG": "true", **env},
        capture_output=True,
        text=True,
    )


POSTGRES_URL = "postgres://postgres@127.0.0.1:6432/charp"


def test_behind_a_transaction_pooler_nothing_outlives_a_transaction():
    result = database_settings(DATABASE_URL=POSTGRES_URL, DATABASE_POOLER="transaction")

    assert result.returncode == 0, result.stderr
    # No prepared statements, no server-side cursors; parameters still bound by the server (one statement each).
    assert result.stdout.strip() == "[null, true, true]"


def test_without_a_pooler_psycopg_prepares_hot_statements():
    """Django leaves both off (its default prepare_threshold is None, not psycopg's 5): we turn them on."""
    result = database_settings(DATABASE_URL=POSTGRES_URL)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[5, true, null]"


@pytest.mark.parametrize(
    ("url", "pooler", "message"),
    [
        (POSTGRES_URL, "session", 'DATABASE_POOLER must be "transaction" or empty'),
        ("sqlite:///x.sqlite3", "transaction", "DATABASE_POOLER=transaction needs a PostgreSQL DATABASE_URL"),
    ],
)
def test_a_wrong_pooler_setting_stops_start_up(url, pooler, message):
    result = database_settings(DATABASE_URL=url, DATABASE_POOLER=pooler)

    assert result.returncode != 0
    assert message in result.stderr


def test_behind_a_transaction_pooler_prepared_statements_stay_off_whatever_the_url_asks():
    result = database_settings(DATABASE_URL=f"{POSTGRES_URL}?prepare_threshold=5", DATABASE_POOLER="transaction")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[null, true, true]"
    assert database_settings(DATABASE_URL=f"{POSTGRES_URL}?prepare_threshold=2").stdout.strip() == "[2, true, null]"


def test_idempotency_keys_are_kept_at_least_an_hour():
    result = start(DEBUG="true", IDEMPOTENCY_KEY_HOURS="0")

    assert result.returncode != 0
    assert "IDEMPOTENCY_KEY_HOURS must be an integer of at least 1" in result.stderr
