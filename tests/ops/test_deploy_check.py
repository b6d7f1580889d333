"""`manage.py check --deploy` in a production-like environment: nothing to report when the keys are set."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def check_deploy(tmp_path, **env) -> subprocess.CompletedProcess:
    clean = {
        key: value
        for key, value in os.environ.items()
        # (the browser tests set DJANGO_ALLOW_ASYNC_UNSAFE in this process; a deployment never would)
        if key not in {"DEBUG", "SECRET_KEY", "CLIENT_SECRET_PEPPER", "JWT_SIGNING_KEYS", "DJANGO_ALLOW_ASYNC_UNSAFE"}
        and key not in {"REDIS_URL", "DATABASE_URL"}
    }
    production = {
        "DJANGO_SETTINGS_MODULE": "charp.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "api.example",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'deploy.sqlite3'}",
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**clean, **production, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_reports_nothing_in_production_with_every_key_set(tmp_path):
    result = check_deploy(
        tmp_path,
        CLIENT_SECRET_PEPPER=secrets.token_urlsafe(32),
        JWT_SIGNING_KEYS=f"{secrets.token_urlsafe(32)},{secrets.token_urlsafe(32)}",
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout + result.stderr
    assert "WARNINGS" not in result.stdout + result.stderr


def test_check_deploy_warns_when_the_pepper_and_signing_keys_come_from_secret_key(tmp_path):
    result = check_deploy(tmp_path)

    output = result.stdout + result.stderr
    assert result.returncode != 0  # --fail-level WARNING
    assert "(charp.W001) CLIENT_SECRET_PEPPER is derived from SECRET_KEY." in output
    assert "(charp.W002) JWT_SIGNING_KEYS is derived from SECRET_KEY." in output
    assert "identified 2 issues" in output


def test_only_the_missing_key_is_reported(tmp_path):
    result = check_deploy(tmp_path, CLIENT_SECRET_PEPPER=secrets.token_urlsafe(32))

    output = result.stdout + result.stderr
    assert "charp.W001" not in output
    assert "(charp.W002) JWT_SIGNING_KEYS is derived from SECRET_KEY." in output


def test_production_cookies_and_headers_are_secure(tmp_path):
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.SESSION_COOKIE_AGE, "
        "s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SECURE_PROXY_SSL_HEADER, s.SECURE_REDIRECT_EXEMPT)"
    )
    env = {key: value for key, value in os.environ.items() if key not in {"DEBUG"}}
    env.update(DJANGO_SETTINGS_MODULE="charp.settings", SECRET_KEY="x" * 50, ALLOWED_HOSTS="api.example")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "True True True 28800 True 31536000 ('HTTP_X_FORWARDED_PROTO', 'https') ['^healthz/?$', '^readyz/?$']"
    )
