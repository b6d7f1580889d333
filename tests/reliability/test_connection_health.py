"""The PostgreSQL health check polls the socket: no round trip per request, yet a dropped connection is noticed."""

import os
import time

import psycopg
import pytest
from django.db import connection

pytestmark = [
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="needs PostgreSQL (set DATABASE_URL)"
    ),
    pytest.mark.django_db(transaction=True),
]


def _server_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_a_live_idle_connection_is_usable_without_a_query(monkeypatch):
    _server_pid()
    monkeypatch.setattr(connection.connection, "execute", lambda *a, **k: pytest.fail("a query was sent"))
    assert connection.is_usable()


def test_a_connection_the_server_dropped_is_not_usable_and_is_replaced():
    pid = _server_pid()
    dsn = connection.get_connection_params()
    params = {k: v for k, v in dsn.items() if k in ("host", "port", "user", "password")}
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    for _ in range(50):  # the server's goodbye arrives asynchronously
        if not connection.is_usable():
            break
        time.sleep(0.02)
    assert not connection.is_usable()
    connection.health_check_done = False  # as at the start of the next request
    connection.close_if_health_check_failed()
    assert _server_pid() != pid
