"""Structured logs: JSON lines with request ID, vendor and status; no secret or token in any captured output."""

import base64
import io
import json
import logging
import os
import sys

import pytest
from django.test import Client

from charp.http import logs
from charp.http.logs import REDACTED, JsonFormatter, RedactingFilter, incoming_request_id
from tests.conftest import get_token

STAFF_PASSWORD = "staff-Passw0rd-never-logged-7391"


@pytest.fixture
def log_output():
    """Every logger at DEBUG (oauthlib too, which logs token values there), and a copy of the real console
    handler's output: same filters, same JSON formatter."""
    console = next(h for h in logging.getLogger().handlers if any(isinstance(f, RedactingFilter) for f in h.filters))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(console.formatter)
    for log_filter in console.filters:
        handler.addFilter(log_filter)
    loggers = [logging.getLogger()] + [
        logger for logger in logging.Logger.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    levels = {logger: logger.level for logger in loggers}
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    logging.getLogger("django.server").addHandler(handler)
    yield stream
    logging.getLogger().removeHandler(handler)
    logging.getLogger("django.server").removeHandler(handler)
    for logger, level in levels.items():
        logger.setLevel(level)


def lines(stream) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.mark.django_db
def test_a_full_flow_logs_no_secret_and_no_token(log_output, caplog, make_vendor, make_staff, settings):
    caplog.set_level(logging.DEBUG)
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "vendors.oauth.hashers.ClientSecretHasher",
    ]
    issued = make_vendor("enterprise")
    client_id, secret = issued.vendor.client_id, issued.client_secret
    api = Client(REMOTE_ADDR="198.51.100.20")
    secrets = [secret, STAFF_PASSWORD]

    tokens = get_token(api, issued)
    secrets += [tokens["access_token"], tokens["refresh_token"]]
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    form = api.post(
        "/auth/token",
        "grant_type=client_credentials",
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=f"Basic {basic}",
        HTTP_X_REQUEST_ID="r-1",
    )
    assert form.status_code == 200 and form["X-Request-ID"] == "r-1"
    secrets += [form.json()["access_token"], form.json()["refresh_token"], basic]
    refreshed = api.post("/auth/refresh", {"refresh_token": tokens["refresh_token"]}, content_type="application/json")
    assert refreshed.status_code == 200
    secrets += [refreshed.json()["access_token"], refreshed.json()["refresh_token"]]
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {refreshed.json()['access_token']}"}
    assert api.get("/brands", **bearer).status_code == 200
    created = api.post("/brands", {"name": "Logged brand"}, content_type="application/json", **bearer)
    assert created.status_code == 201
    assert api.get(f"/brands?access_token={tokens['access_token']}&token={secret}", **bearer).status_code == 200
    assert api.get("/brands", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}x").status_code == 401
    revoked = api.post(
        "/auth/revoke",
        {"token": refreshed.json()["access_token"], "client_id": client_id, "client_secret": secret},
        content_type="application/json",
    )
    assert revoked.status_code == 200
    # Reusing a rotated refresh token: refused, and the family is revoked.
    reused = api.post("/auth/refresh", {"refresh_token": tokens["refresh_token"]}, content_type="application/json")
    assert reused.status_code == 400
    for attempt in range(3):
        wrong = f"wrong-secret-{attempt}-{'x' * 30}"
        secrets.append(wrong)
        failed = api.post(
            "/auth/token", {"client_id": client_id, "client_secret": wrong}, content_type="application/json"
        )
        assert failed.status_code == 401
    failed = api.post(
        "/auth/token", {"client_id": "no-such-client", "client_secret": secret}, content_type="application/json"
    )
    assert failed.status_code == 401
    make_staff("carol", "vendors.view_vendor", password=STAFF_PASSWORD)
    staff = Client(REMOTE_ADDR="198.51.100.21")
    secrets.append("Wrong-staff-password-1234")
    assert (
        staff.post("/admin/login/", {"username": "carol", "password": "Wrong-staff-password-1234"}).status_code == 200
    )
    assert (
        staff.post("/admin/login/?next=/admin/", {"username": "carol", "password": STAFF_PASSWORD}).status_code == 302
    )
    # Anything that logs a body or a header is redacted too.
    logging.getLogger("charp.test").debug(
        "body %s", json.dumps({"client_secret": secret, "token": tokens["refresh_token"]})
    )
    logging.getLogger("charp.test").info("header", extra={"authorization": f"Basic {basic}"})
    logging.getLogger("oauthlib.test").debug(
        "Validating refresh token %s for client %r.", tokens["refresh_token"], client_id
    )

    handler_output = log_output.getvalue()
    captured = caplog.text + "\n".join(repr(vars(record)) for record in caplog.records)
    for value in secrets:
        assert value not in handler_output
        assert value not in captured
    assert REDACTED in handler_output

    entries = lines(log_output)
    access = [entry for entry in entries if entry["logger"] == "charp.access"]
    assert {
        "timestamp",
        "level",
        "logger",
        "request_id",
        "method",
        "path",
        "status",
        "duration_ms",
        "remote_addr",
    } <= set(access[0])
    by_request = {entry["request_id"]: entry for entry in access}
    assert by_request["r-1"]["path"] == "/auth/token" and by_request["r-1"]["client_id"] == client_id
    brands = [entry for entry in access if entry["path"] == "/brands" and entry["status"] == 200]
    assert brands and all(entry["client_id"] == client_id for entry in brands)
    assert all("?" not in entry["path"] for entry in access)
    failures = [entry for entry in access if entry["path"] == "/auth/token" and entry["status"] == 401]
    # A failure names the client ID presented when it has the shape of an issued one (not a secret pasted there).
    assert [entry["client_id"] for entry in failures] == [client_id] * 3 + [None]
    assert all(entry["remote_addr"] == "198.51.100.20" for entry in access if entry["path"] != "/admin/login/")
    # The access line is the one line of a 4xx: no "Unauthorized: /auth/token" from django.request besides it.
    assert not [entry for entry in entries if entry["logger"] == "django.request"]


@pytest.mark.django_db
def test_every_response_carries_a_request_id_and_a_valid_incoming_one_is_kept(client):
    kept = client.get("/healthz", HTTP_X_REQUEST_ID="lb-2f9c.01_A")
    assert kept["X-Request-ID"] == "lb-2f9c.01_A"
    for bad in ("x" * 129, "has space", "semi;colon", "ünïcode", ""):
        response = client.get("/brands", HTTP_X_REQUEST_ID=bad)
        assert response.status_code == 401
        assert response["X-Request-ID"] != bad and len(response["X-Request-ID"]) == 32
    assert client.get("/no-such-page")["X-Request-ID"]
    assert incoming_request_id("a" * 128) == "a" * 128


def test_the_filter_redacts_json_bodies_query_strings_headers_and_reprs():
    log_filter = RedactingFilter()
    cases = [
        ('{"client_secret": "s3cr3t-value", "name": "ok"}', "s3cr3t-value"),
        ("GET /x?access_token=abc123def&page=2", "abc123def"),
        ("Authorization: Bearer abcdefghijklmnop", "abcdefghijklmnop"),
        ("{'refresh_token': 'rt-secret-1234', 'scope': 'brands'}", "rt-secret-1234"),
        ("password=hunter2hunter2", "hunter2hunter2"),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "eyJhbGci",
        ),
    ]
    for message, secret in cases:
        record = logging.LogRecord("t", logging.INFO, __file__, 1, message, None, None)
        log_filter.filter(record)
        assert secret not in record.getMessage(), message
        assert REDACTED in record.getMessage()
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "token %s", ({"password": "p4ss", "user": "u"},), None)
    log_filter.filter(record)
    assert record.getMessage() == "token {'password': '[REDACTED]', 'user': 'u'}"
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "page %s of %s", (2, 9), None)
    log_filter.filter(record)
    assert record.getMessage() == "page 2 of 9"


def test_a_line_is_exactly_the_documented_shape():
    """Field names, their order, the timestamp's milliseconds and UTC offset, extras that are not simple as text, the
    request's method and path, and the (redacted) exception last."""
    record = logging.LogRecord("charp.test", logging.ERROR, __file__, 1, "%s of %s", ("page 2", 9), None)
    record.created = 1764650123.4567
    record.status, record.items, record.flag, record.request_id = 200, [1, 2], None, "r-1"
    record.request = type("Request", (), {"method": "GET", "path": "/brands/token=abcdefgh12345678"})()
    record.exc_text = 'Traceback: client_secret="s3cr3t-value"'
    RedactingFilter().filter(record)

    assert JsonFormatter().format(record) == json.dumps(
        {
            "timestamp": "2025-12-02T04:35:23.456+00:00",
            "level": "ERROR",
            "logger": "charp.test",
            "message": "page 2 of 9",
            "status": 200,
            "items": "[1, 2]",
            "flag": None,
            "request_id": "r-1",
            "method": "GET",
            "path": f"/brands/token={REDACTED}",
            "exception": f'Traceback: client_secret="{REDACTED}"',
        }
    )


@pytest.mark.django_db
def test_log_lines_redact_a_token_pasted_into_the_path(log_output, client, settings):
    jwt_like = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4eHh4eHh4In0.c2lnbmF0dXJlLXZhbHVl"
    client.get(f"/brands/{jwt_like}")
    client.generic(f"GET_{jwt_like}", "/brands")
    access = [line for line in lines(log_output) if line["logger"] == "charp.access"]
    assert len(access) == 2
    assert jwt_like not in log_output.getvalue()
    assert access[0]["path"] == f"/brands/{REDACTED}" and access[0]["message"] == f"GET /brands/{REDACTED} 404"


@pytest.mark.django_db
def test_a_4xx_is_logged_once_and_a_5xx_keeps_its_error_and_traceback(log_output, api, client, monkeypatch):
    """Each client error: the access line alone. A server error: the access line and django.request's error with
    the traceback, both with the request's ID."""
    token = {"HTTP_AUTHORIZATION": "Bearer not-a-real-token-0123456789"}
    assert api.get("/brands", HTTP_X_REQUEST_ID="r-401").status_code == 401
    assert api.get("/brands", HTTP_X_REQUEST_ID="r-401b", **token).status_code == 401
    assert api.get("/no-such-page", HTTP_X_REQUEST_ID="r-404").status_code == 404
    assert api.post("/healthz", HTTP_X_REQUEST_ID="r-405").status_code == 405
    bad_json = api.post("/auth/token", "{", content_type="application/json", HTTP_X_REQUEST_ID="r-400")
    assert bad_json.status_code in (400, 401)
    too_large = api.post("/brands", "x", content_type="application/json", HTTP_X_REQUEST_ID="r-413",
                         CONTENT_LENGTH=str(10**9))  # fmt: skip
    assert too_large.status_code == 413

    def broken():
        raise RuntimeError("health check crashed")

    monkeypatch.setattr("charp.health._database", broken)
    crashing = Client(raise_request_exception=False)
    assert crashing.get("/readyz", HTTP_X_REQUEST_ID="r-500").status_code == 500

    entries = lines(log_output)
    by_request = {}
    for entry in entries:
        by_request.setdefault(entry.get("request_id"), []).append(entry)
    for request_id in ("r-401", "r-401b", "r-404", "r-405", "r-400", "r-413"):
        assert [entry["logger"] for entry in by_request[request_id]] == ["charp.access"], by_request[request_id]
        assert by_request[request_id][0]["level"] == "INFO"
    crash = by_request["r-500"]
    assert sorted(entry["logger"] for entry in crash) == ["charp.access", "django.request"], crash
    error = next(entry for entry in crash if entry["logger"] == "django.request")
    assert error["level"] == "ERROR" and error["message"] == "Internal Server Error: /readyz"
    assert "RuntimeError: health check crashed" in error["exception"]
    assert next(entry for entry in crash if entry["logger"] == "charp.access")["status"] == 500


def test_other_libraries_records_keep_their_process_thread_and_caller():
    """charp.http.logs is imported (settings, middleware): it must not switch off what the logging module collects for
    every record, which gunicorn's "[%(process)d]" format and any other library's formats print."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("[%(process)d] %(threadName)s %(funcName)s:%(lineno)d %(message)s"))
    other = logging.getLogger("some.library")
    other.addHandler(handler)
    other.propagate = False
    try:
        other.warning("Worker exiting")
        line = sys._getframe().f_lineno - 1
    finally:
        other.removeHandler(handler)
        other.propagate = True
    function = "test_other_libraries_records_keep_their_process_thread_and_caller"
    assert stream.getvalue() == f"[{os.getpid()}] MainThread {function}:{line} Worker exiting\n"


@pytest.mark.django_db
def test_the_access_line_keeps_paths_readable_and_redacts_only_a_secret_segment(log_output, client):
    reveal_id = "Zq3_xY8-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789a"
    for path in ("/campaigns/12345", "/admin/vendors/vendor/1/change/", f"/admin/vendors/vendor/1/secret/{reveal_id}/"):
        client.get(path)
    paths = [line["path"] for line in lines(log_output) if line["logger"] == "charp.access"]
    assert paths[:2] == ["/campaigns/12345", "/admin/vendors/vendor/1/change/"]
    assert paths[2] == f"/admin/vendors/vendor/1/secret/{REDACTED}/"
    assert reveal_id not in log_output.getvalue()


def test_paths_left_whole_are_remembered_and_no_redacted_one_is(log_output, client):
    """redact_path remembers the paths it leaves whole (asked twice a request), never one it redacted: a secret pasted
    into a path is neither in the lines nor kept in the worker's memory, however often it comes."""
    reveal_id = "Zq3_xY8-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789a"
    for _ in range(2):
        client.get("/campaigns/12345")
        client.get(f"/brands/{reveal_id}")
    paths = [line["path"] for line in lines(log_output) if line["logger"] == "charp.access"]
    assert paths == ["/campaigns/12345", f"/brands/{REDACTED}"] * 2
    assert "/campaigns/12345" in logs._UNCHANGED_PATHS
    assert not any(reveal_id in path for path in logs._UNCHANGED_PATHS)
