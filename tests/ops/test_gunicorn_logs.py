"""Real gunicorn with the project's gunicorn.conf.py at LOG_LEVEL=DEBUG, fed malformed requests that carry secrets and
tokens in odd places: nothing it or the app prints, up to the workers' exit, contains them or a "Logging error".

Runs on an SQLite file of its own, without Redis.
"""

import base64
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(env: dict, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def app_env(tmp_path_factory):
    """Production settings module on a migrated SQLite file, every logger at DEBUG, no Redis."""
    env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "LOG_FORMAT")}
    env.update(
        DJANGO_SETTINGS_MODULE="charp.settings",
        DEBUG="true",  # a development SECRET_KEY; everything else as in production
        DATABASE_URL=f"sqlite:///{tmp_path_factory.mktemp('gunicorn-logs') / 'db.sqlite3'}",
        CONN_MAX_AGE="0",
        USAGE_FLUSH_INTERVAL="0",
        LOG_LEVEL="DEBUG",
    )
    manage(env, "migrate", "--no-input", "-v0")
    return env


@pytest.fixture(scope="module")
def vendor(app_env) -> dict:
    return json.loads(manage(app_env, "createvendor", f"Logs {uuid.uuid4().hex[:6]}", "--plan", "free", "--json"))


@contextmanager
def gunicorn(env: dict, tmp_path: Path, *flags: str):
    """gunicorn with the project's config, stopped with SIGTERM at the end; yields (port, captured output files)."""
    port = free_port()
    stdout, stderr = tmp_path / f"stdout-{port}.log", tmp_path / f"stderr-{port}.log"
    command = [
        sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "charp.wsgi:application",
        "-w", str(WORKERS), "-b", f"127.0.0.1:{port}", "--graceful-timeout", "5",
        "--no-control-socket", *flags,
    ]  # fmt: skip
    with stdout.open("w") as out, stderr.open("w") as err:
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=err)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert process.poll() is None, stderr.read_text()
                assert time.monotonic() < deadline, stderr.read_text()
                time.sleep(0.1)
        yield port, (stdout, stderr)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def tokens(port: int, vendor: dict) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    body = json.dumps({"client_id": vendor["client_id"], "client_secret": vendor["client_secret"]})
    conn.request("POST", "/auth/token", body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    issued = json.loads(response.read())
    conn.close()
    assert response.status == 200, issued
    return issued


def send_raw(port: int, data: bytes) -> bytes:
    """Send bytes as they are, half-close, and read whatever comes back."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
            return answer
        except (ConnectionResetError, BrokenPipeError):
            return b""  # gunicorn may close before reading everything of an oversized request


def malformed_requests(client_id: str, secret: str, access: str, refresh: str) -> list[tuple[bytes, bool]]:
    """(raw request, whether gunicorn itself rejects it) pairs carrying the credentials and tokens in odd places."""
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    host = "Host: 127.0.0.1\r\n"
    requests = [
        # The Authorization header with garbage around the Basic credentials, or none of the expected spacing.
        (f"GET /brands HTTP/1.1\r\n{host}Authorization: Basic !!{basic}!!\r\n\r\n", False),
        (f"GET /brands HTTP/1.1\r\n{host}Authorization: Basic{basic}\r\n\r\n", False),
        (f"GET /brands HTTP/1.1\r\n{host}Authorization: Bearer\t\t{access}\r\n\r\n", False),
        (
            f"POST /auth/token HTTP/1.1\r\n{host}Authorization: Basic {basic}, Basic {basic}\r\n"
            "Content-Length: 0\r\n\r\n",
            False,
        ),  # fmt: skip
        # Secrets in the query string and in the path.
        (f"GET /auth/token?client_secret={secret}&client_id={client_id} HTTP/1.1\r\n{host}\r\n", False),
        (f"GET /brands?{secret}&access_token={access} HTTP/1.1\r\n{host}\r\n", False),
        (f"GET /brands/{secret}/{refresh} HTTP/1.1\r\n{host}\r\n", False),
        # A body gunicorn passes on, malformed for the app.
        (
            f"POST /auth/refresh HTTP/1.1\r\n{host}Content-Type: application/json\r\nContent-Length: 60\r\n\r\n"
            f'{{"refresh_token": "{refresh}"',
            False,
        ),  # fmt: skip
        # Invalid HTTP that gunicorn rejects before the app sees it, echoing what it read.
        (f"GET /brands Bearer {access} HTTP/1.1\r\n{host}\r\n", True),
        (f"GARBAGE{basic}\r\n\r\n", True),
        (f"{secret} /brands HTTP/1.1\r\n{host}\r\n", True),
        (f"GET /brands HTTP/{refresh}\r\n{host}\r\n", True),
        (f"GET /brands HTTP/1.1\r\n{host}Authorization Basic {basic}\r\n\r\n", True),
        (f"GET /brands HTTP/1.1\r\n{host}Authorization\x00: Basic {basic}\r\n\r\n", True),
        (f"GET /brands HTTP/1.1\r\n{host}Authorization: Basic {basic}\x00{secret}\r\n\r\n", True),
        (f"GET /brands HTTP/1.1\r\n{host}Basic{basic}: x\r\n\r\n", True),
        (f"GET /brands HTTP/1.1\r\n{host}Authorization: Basic\r\n {basic}\r\n\r\n", True),
        (f"GET /brands HTTP/1.1\r\n{host}X-Big: {'a' * 9000}\r\nAuthorization: Basic {basic}\r\n\r\n", True),
        (f"GET /auth/token?client_secret={secret}&pad={'b' * 5000} HTTP/1.1\r\n{host}\r\n", True),
        (f"POST /auth/token HTTP/1.1\r\n{host}Transfer-Encoding: chunked\r\n\r\n{secret}\r\n{basic}\r\n\r\n", True),
        (f"POST /auth/token HTTP/1.1\r\n{host}Transfer-Encoding: {secret}\r\n\r\n", True),
        (f"GET /{access}\r\n\r\n", True),
    ]
    # Bytes that are not UTF-8 around a token, and a client that hangs up mid-headers.
    raw = [(request.encode("latin-1"), rejected) for request, rejected in requests]
    raw.append((f"GET /brands HTTP/1.1\r\n{host}Authorization: Basic \xff{basic}\xfe\r\n\r\n".encode("latin-1"), False))
    raw.append((f"GET /brands HTTP/1.1\r\n{host}Authorization: Basic {basic}".encode(), False))
    return raw


def forbidden_values(client_id: str, secret: str, issued: list[dict]) -> list[str]:
    """Every secret and token, their base64 and URL-encoded forms, and each part of each JWT."""
    values = {secret, quote(secret, safe="")}
    for value in (secret, f"{client_id}:{secret}"):
        encoded = base64.b64encode(value.encode()).decode()
        values |= {encoded, encoded.rstrip("="), base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")}
    for pair in issued:
        values |= {pair["access_token"], pair["refresh_token"], *pair["access_token"].split(".")[1:]}
    return sorted(values)


@pytest.mark.parametrize(
    "flags",
    [
        pytest.param((), id="app-imported-by-each-worker"),
        pytest.param(("--preload",), id="preload"),
        pytest.param(
            (
                "--preload",
                "--access-logfile",
                "-",
                "--access-logformat",
                '%(h)s "%(r)s" %(s)s %(q)s %(u)s "%({authorization}i)s" %({http_authorization}e)s',
            ),
            id="preload-with-gunicorn-access-log",
        ),
    ],
)
def test_nothing_gunicorn_or_the_app_prints_holds_a_secret(app_env, vendor, tmp_path, flags):
    client_id, secret = vendor["client_id"], vendor["client_secret"]
    issued = []
    with gunicorn(app_env, tmp_path, *flags) as (port, outputs):
        issued.append(tokens(port, vendor))
        issued.append(tokens(port, vendor))
        requests = malformed_requests(client_id, secret, issued[0]["access_token"], issued[0]["refresh_token"])
        answers = [send_raw(port, request) for request, _ in requests]
        rejected = sum(1 for _, by_gunicorn in requests if by_gunicorn)
        assert sum(1 for answer in answers if answer.startswith(b"HTTP/1.1 4")) >= len(requests) - 2
    output = "\n".join(path.read_text(errors="replace") for path in outputs)

    assert "Logging error" not in output, output[-5000:]
    for value in forbidden_values(client_id, secret, issued):
        assert value not in output, f"{value[:12]}… is in the output:\n{output[-5000:]}"

    # What gunicorn said, as JSON lines through the app's formatter: the rejected requests and every worker's exit.
    entries = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    gunicorn_lines = [entry for entry in entries if entry["logger"] == "gunicorn.error"]
    invalid = [entry for entry in gunicorn_lines if entry["message"].startswith("Invalid request from ip=127.0.0.1")]
    assert len(invalid) >= rejected - 2, [entry["message"] for entry in gunicorn_lines]
    assert "[REDACTED]" in " ".join(entry["message"] for entry in invalid)
    exits = [entry for entry in gunicorn_lines if entry["message"].startswith("Worker exiting")]
    assert len(exits) == WORKERS and all(isinstance(entry["pid"], int) for entry in exits)
    assert any(entry["message"] == "Shutting down: Master" for entry in gunicorn_lines)
    assert any(entry["level"] == "DEBUG" for entry in gunicorn_lines)  # LOG_LEVEL reached gunicorn too
    access = [entry for entry in entries if entry["logger"] == "charp.access"]
    assert any(entry["status"] == 401 and entry["path"] == "/brands" for entry in access)
    if "--access-logfile" in flags:
        gunicorn_access = [entry for entry in entries if entry["logger"] == "gunicorn.access"]
        assert any('"POST /auth/token HTTP/1.1" 200' in entry["message"] for entry in gunicorn_access)
        assert any("[REDACTED]" in entry["message"] for entry in gunicorn_access)
