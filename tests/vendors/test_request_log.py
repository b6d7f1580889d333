"""Each vendor's request log: real requests noted in the worker, written by the usage flush with one bulk insert,
shown to staff who may view vendors, filtered and paged, pruned after REQUEST_LOG_DAYS."""

import base64
import io
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import IntegrityError, OperationalError, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from tests.conftest import get_token, on_postgres
from vendors import services
from vendors.limits import metering, request_log
from vendors.models import RequestLogEntry

pytestmark = pytest.mark.django_db


def log_url(vendor) -> str:
    return f"/admin/vendors/vendor/{vendor.pk}/requests/"


def dropped(reason: str) -> float:
    return REGISTRY.get_sample_value("charp_request_log_dropped_total", {"reason": reason}) or 0.0


def bearer(access_token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token}")
    return client


def entry(vendor, *, age=timedelta(minutes=1), status=200, error="", path="/brands") -> RequestLogEntry:
    return RequestLogEntry(
        vendor=vendor,
        time=timezone.now() - age,
        method="GET",
        path=path,
        status=status,
        error=error,
        latency_ms=1.5,
        request_id="r",
        source_address="127.0.0.1",
    )


def test_api_and_auth_requests_fill_the_log_only_after_a_flush(api, free_vendor):
    tokens = get_token(api, free_vendor)
    vendor_api = bearer(tokens["access_token"])
    listed = vendor_api.get("/brands?limit=5&status=active", HTTP_X_REQUEST_ID="req-list-1")
    refused = vendor_api.get("/campaigns")  # not on the Free plan
    refreshed = api.post("/auth/refresh", {"refresh_token": tokens["refresh_token"]}, format="json")
    assert (listed.status_code, refused.status_code, refreshed.status_code) == (200, 403, 200)

    assert not RequestLogEntry.objects.exists()  # nothing written by the requests themselves
    metering.usage_flush()

    entries = list(RequestLogEntry.objects.filter(vendor=free_vendor.vendor).order_by("time", "id"))
    assert [(e.method, e.path, e.status, e.error) for e in entries] == [
        ("POST", "/auth/token", 200, ""),
        ("GET", "/brands?limit=[redacted]&status=[redacted]", 200, ""),
        ("GET", "/campaigns", 403, "plan_forbidden"),
        ("POST", "/auth/refresh", 200, ""),
    ]
    assert entries[1].request_id == "req-list-1" == listed["X-Request-ID"]
    assert entries[2].request_id == refused["X-Request-ID"]
    assert {e.source_address for e in entries} == {"127.0.0.1"}
    assert all(e.latency_ms > 0 for e in entries)
    assert timezone.now() - timedelta(minutes=1) < entries[0].time <= entries[-1].time <= timezone.now()
    metering.usage_flush()
    assert RequestLogEntry.objects.count() == 4  # each entry written once


def test_the_source_address_is_the_one_the_allow_lists_see(api, free_vendor, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    access_token = get_token(api, free_vendor)["access_token"]
    bearer(access_token).get("/brands", HTTP_X_FORWARDED_FOR="198.51.100.7, 203.0.113.9")
    metering.usage_flush()
    assert RequestLogEntry.objects.get(path="/brands").source_address == "203.0.113.9"


def test_requests_whose_vendor_is_not_known_are_not_logged(api, free_vendor, make_vendor, viewer_client):
    vendor = free_vendor.vendor
    wrong = {"client_id": vendor.client_id, "client_secret": "wrong" * 10}
    assert api.post("/auth/token", wrong, format="json").status_code == 401
    assert api.post("/auth/refresh", {"refresh_token": "no-such-token"}, format="json").status_code == 400
    assert api.get("/brands").status_code == 401
    assert bearer("not-a-token").get("/brands").status_code == 401
    assert viewer_client.get(f"/admin/vendors/vendor/{vendor.pk}/change/").status_code == 200
    assert api.get("/docs").status_code == 200

    metering.usage_flush()

    assert not RequestLogEntry.objects.exists()


def test_a_suspended_vendor_with_the_right_secret_is_logged_with_its_error(api, free_vendor):
    services.vendor_suspend(vendor=free_vendor.vendor)
    body = {"client_id": free_vendor.vendor.client_id, "client_secret": free_vendor.client_secret}
    assert api.post("/auth/token", body, format="json").json()["error"] == "unauthorized_client"
    metering.usage_flush()
    assert RequestLogEntry.objects.get().error == "unauthorized_client"


def test_a_reused_refresh_token_is_the_vendors_and_logged_with_invalid_grant(api, free_vendor):
    refresh_token = get_token(api, free_vendor)["refresh_token"]
    assert api.post("/auth/refresh", {"refresh_token": refresh_token}, format="json").status_code == 200
    assert api.post("/auth/refresh", {"refresh_token": refresh_token}, format="json").status_code == 400
    metering.usage_flush()
    assert list(RequestLogEntry.objects.order_by("time", "id").values_list("path", "status", "error")) == [
        ("/auth/token", 200, ""),
        ("/auth/refresh", 200, ""),
        ("/auth/refresh", 400, "invalid_grant"),
    ]


def test_nothing_sensitive_is_stored(api, free_vendor):
    tokens = get_token(api, free_vendor)
    access_token = tokens["access_token"]
    vendor_api = bearer(access_token)
    vendor_api.get(f"/brands?access_token={access_token}&q={free_vendor.client_secret}")
    vendor_api.get(f"/brands/{access_token}")  # a token pasted into the path: a 404, logged without it
    credentials = base64.b64encode(f"{free_vendor.vendor.client_id}:{free_vendor.client_secret}".encode()).decode()
    revoked = api.post(
        "/auth/revoke",
        f"token={tokens['refresh_token']}",
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=f"Basic {credentials}",
    )
    assert revoked.status_code == 200
    metering.usage_flush()

    rows = list(RequestLogEntry.objects.values())
    assert {row["path"].split("?")[0] for row in rows} >= {"/auth/token", "/brands", "/auth/revoke"}
    stored = json.dumps(rows, default=str)
    for secret in (access_token, tokens["refresh_token"], free_vendor.client_secret, access_token.split(".")[1]):
        assert secret not in stored
    assert "/brands?access_token=[redacted]&q=[redacted]" in stored


def test_a_request_adds_no_query_and_no_write_before_the_flush(api, free_vendor, settings):
    access_token = get_token(api, free_vendor)["access_token"]
    vendor_api = bearer(access_token)
    vendor_api.get("/brands")  # this worker's copy of the token, from here on
    request_log.reset()

    credentials = {"client_id": free_vendor.vendor.client_id, "client_secret": free_vendor.client_secret}

    def queries_of_a_request() -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            assert vendor_api.get("/brands").status_code == 200
            assert api.post("/auth/token", credentials, format="json").status_code == 200
        return [query["sql"] for query in captured.captured_queries]

    settings.REQUEST_LOG_BUFFER = 0
    without_log = queries_of_a_request()
    settings.REQUEST_LOG_BUFFER = 10000
    with_log = queries_of_a_request()

    assert len(with_log) == len(without_log)
    assert not [sql for sql in with_log if "requestlogentry" in sql.lower()]
    assert len(request_log.take()) == 2  # both waiting in the worker


def test_the_request_that_fills_half_the_buffer_only_wakes_the_flusher(
    api, free_vendor, settings, flusher_without_thread
):
    settings.REQUEST_LOG_BUFFER = 4
    access_token = get_token(api, free_vendor)["access_token"]
    vendor_api = bearer(access_token)
    vendor_api.get("/brands", HTTP_X_REQUEST_ID="req-1")  # this worker's copy of the token from here on
    request_log.reset()
    flusher_without_thread.woken.clear()
    vendor_api.get("/brands", HTTP_X_REQUEST_ID="req-2")
    assert not flusher_without_thread.woken.is_set()  # one entry short of half

    with CaptureQueriesContext(connection) as captured:
        vendor_api.get("/brands", HTTP_X_REQUEST_ID="req-3")  # two waiting now

    assert not [query for query in captured.captured_queries if "requestlogentry" in query["sql"].lower()]
    assert flusher_without_thread.woken.is_set()
    assert not RequestLogEntry.objects.exists()
    flusher_without_thread.turn()  # what the woken thread runs
    assert list(RequestLogEntry.objects.order_by("time").values_list("request_id", flat=True)) == ["req-2", "req-3"]
    assert request_log.take() == []


def test_while_the_database_is_down_the_buffer_is_bounded_and_what_it_drops_is_counted(
    api, free_vendor, settings, monkeypatch, flusher_without_thread
):
    access_token = get_token(api, free_vendor)["access_token"]
    settings.REQUEST_LOG_BUFFER = 3
    before = dropped("buffer_full")

    def unreachable(*args, **kwargs):
        raise OperationalError("the database is down")

    insert = request_log._insert
    monkeypatch.setattr(request_log, "_insert", unreachable)
    vendor_api = bearer(access_token)
    for n in range(5):
        assert vendor_api.get(f"/brands?n={n}", HTTP_X_REQUEST_ID=f"req-{n}").status_code == 200
    assert not flusher_without_thread.turn()  # failed, logged, and kept the buffer
    with pytest.raises(OperationalError):
        metering.usage_flush()

    assert dropped("buffer_full") - before == 3  # the token request and the first two of the five were kept
    monkeypatch.setattr(request_log, "_insert", insert)  # back up (not undo(): that would undo the test's flusher)
    metering.usage_flush()
    assert list(RequestLogEntry.objects.order_by("time", "id").values_list("path", "request_id"))[1:] == [
        ("/brands?n=[redacted]", "req-0"),
        ("/brands?n=[redacted]", "req-1"),
    ]
    # Room again once written.
    vendor_api.get("/brands", HTTP_X_REQUEST_ID="req-after")
    metering.usage_flush()
    assert RequestLogEntry.objects.filter(request_id="req-after").exists()


def test_a_vendor_deleted_before_the_flush_does_not_stop_it(api, free_vendor, standard_vendor):
    doomed = free_vendor.vendor
    for issued in (free_vendor, standard_vendor):
        bearer(get_token(api, issued)["access_token"]).get("/brands")
    before = dropped("vendor_gone")
    doomed.delete()

    assert metering.usage_flush() >= 0  # no error

    assert dropped("vendor_gone") - before == 2
    assert RequestLogEntry.objects.filter(vendor=standard_vendor.vendor).count() == 2
    assert not RequestLogEntry.objects.filter(vendor_id=doomed.pk).exists()
    bearer(get_token(api, standard_vendor)["access_token"]).get("/brands")
    metering.usage_flush()
    assert RequestLogEntry.objects.filter(vendor=standard_vendor.vendor).count() == 4


def test_a_vendor_deleted_between_the_check_and_the_insert_is_checked_for_again(
    free_vendor, standard_vendor, monkeypatch
):
    # The entries name a vendor that the first check still finds but that is gone when the batch is inserted.
    kept, doomed = standard_vendor.vendor, free_vendor.vendor
    now = timezone.now().timestamp()
    request_log.restore([request_log.Entry(v.pk, now, "GET", "/b", 200, "", 1.0, "r", None) for v in (kept, doomed)])
    real_write = request_log._write
    calls = []

    def deleted_meanwhile(entries):
        calls.append(len(entries))
        if len(calls) == 1:
            doomed.delete()
            raise IntegrityError("insert or update violates foreign key constraint")
        return real_write(entries)

    monkeypatch.setattr(request_log, "_write", deleted_meanwhile)
    assert request_log.flush() == 1
    assert list(RequestLogEntry.objects.values_list("vendor_id", flat=True)) == [kept.pk]


@on_postgres
@pytest.mark.django_db
def test_postgresql_writes_the_log_with_one_copy_of_every_field(free_vendor, standard_vendor, monkeypatch):
    import psycopg

    statements = []
    real_copy = psycopg.Cursor.copy

    def copy(cursor, statement, *args, **kwargs):
        statements.append(str(statement))
        return real_copy(cursor, statement, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "copy", copy)
    first, second = free_vendor.vendor.pk, standard_vendor.vendor.pk
    entries = [
        request_log.Entry(first, 1767225600.123456, "GET", "/brands?q=[redacted]", 200, "", 1.25, "req-1", None),
        request_log.Entry(second, 1767225601.5, "POST", "/marques/été/日本…", 403, "plan_forbidden", 0.5, "r2", "::1"),
        request_log.Entry(first, 1767225602.0, "GET", "/brands/%00", 404, "not_found", 12.0, "", "203.0.113.9"),
        request_log.Entry(first, 1767225603.0, "DELETE", "/a\\b\tc\nd", 500, "server_error", 3.0, "x", "10.0.0.1"),
    ]
    request_log.restore(entries)

    with CaptureQueriesContext(connection) as captured:
        assert request_log.flush() == 4

    assert len(statements) == 1 and statements[0].startswith('COPY "vendors_requestlogentry" (')
    assert not [query for query in captured.captured_queries if "INSERT" in query["sql"]]
    rows = RequestLogEntry.objects.order_by("time").values_list(
        "vendor_id", "time", "method", "path", "status", "error", "latency_ms", "request_id", "source_address"
    )
    assert list(rows) == [(e.vendor_id, datetime.fromtimestamp(e.started, UTC), *e[2:]) for e in entries]


def test_staff_see_the_log_newest_first_linked_from_the_vendor_page(api, free_vendor, viewer_client):
    vendor = free_vendor.vendor
    vendor_api = bearer(get_token(api, free_vendor)["access_token"])
    vendor_api.get("/brands?cursor=xyz", HTTP_X_REQUEST_ID="req-shown")
    vendor_api.get("/campaigns")
    metering.usage_flush()

    change_page = viewer_client.get(f"/admin/vendors/vendor/{vendor.pk}/change/").content.decode()
    assert f'href="{log_url(vendor)}">Request log</a>' in change_page

    response = viewer_client.get(log_url(vendor))

    assert response.status_code == 200
    body = response.content.decode()
    assert "3 requests" in body
    assert body.index("/campaigns") < body.index("/brands?cursor=[redacted]") < body.index("/auth/token")
    assert "req-shown" in body and "plan_forbidden" in body and "127.0.0.1" in body


def test_the_log_filters_by_status_class_status_code_and_error_code(api, free_vendor, manager_client):
    vendor = free_vendor.vendor
    vendor_api = bearer(get_token(api, free_vendor)["access_token"])
    vendor_api.get("/brands")
    vendor_api.get("/campaigns")  # 403 plan_forbidden
    vendor_api.get("/brands/999999")  # 404 not_found
    metering.usage_flush()

    def paths(query: str) -> list[str]:
        response = manager_client.get(f"{log_url(vendor)}?{query}")
        assert response.status_code == 200
        return re.findall(r'<code class="charp-path">([^<]*)</code>', response.content.decode())

    assert paths("") == ["/brands/999999", "/campaigns", "/brands", "/auth/token"]
    assert paths("status=4xx") == ["/brands/999999", "/campaigns"]
    assert paths("status=2xx") == ["/brands", "/auth/token"]
    assert paths("status=403") == ["/campaigns"]
    assert paths("error=not_found") == ["/brands/999999"]
    assert paths("status=4xx&error=plan_forbidden") == ["/campaigns"]
    assert paths("status=5xx") == []
    options = manager_client.get(log_url(vendor)).content.decode()
    assert '<option value="plan_forbidden">plan_forbidden</option>' in options
    assert '<option value="404">404</option>' in options


def test_a_malformed_filter_is_explained_not_a_500(free_vendor, manager_client):
    for query in ("status=abc", "status=700", "error=%3Cscript%3E", "page=zzz", "page=-4"):
        response = manager_client.get(f"{log_url(free_vendor.vendor)}?{query}")
        assert response.status_code == 200, query
    body = manager_client.get(f"{log_url(free_vendor.vendor)}?status=abc").content.decode()
    assert "Choose a status class (4xx) or a code (404)." in body
    assert "Fix the filter above" in body


def test_the_log_is_paged_100_at_a_time_and_shows_only_the_last_days(free_vendor, manager_client, settings):
    vendor = free_vendor.vendor
    RequestLogEntry.objects.bulk_create(
        [entry(vendor, age=timedelta(minutes=n), path=f"/brands/{n}", status=404) for n in range(150)]
        + [entry(vendor, age=timedelta(days=8), path="/brands/too-old")]
    )

    first = manager_client.get(log_url(vendor)).content.decode()
    second = manager_client.get(f"{log_url(vendor)}?status=404&page=2").content.decode()

    assert first.count('<tr class="charp-request">') == 100
    assert "150 requests · page 1 of 2" in first and "/brands/0<" in first and "/brands/99<" in first
    assert 'href="?page=2">older</a>' in first
    assert second.count('<tr class="charp-request">') == 50 and "/brands/149<" in second
    assert 'href="?status=404&amp;page=1">newer</a>' in second
    assert "too-old" not in first + second
    settings.REQUEST_LOG_DAYS = 9
    assert "151 requests" in manager_client.get(log_url(vendor)).content.decode()


def test_staff_without_view_vendor_get_403_and_nobody_may_post(free_vendor, make_staff, manager_client):
    auditor = make_staff("auditor", "vendors.view_auditevent")
    client = Client()
    client.force_login(auditor)

    refused = client.get(log_url(free_vendor.vendor))

    assert refused.status_code == 403
    assert "view vendors" in refused.content.decode()
    assert manager_client.post(log_url(free_vendor.vendor)).status_code == 405
    anonymous = Client().get(log_url(free_vendor.vendor))
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]


def test_prune_deletes_the_entries_older_than_request_log_days(free_vendor, settings):
    vendor = free_vendor.vendor
    RequestLogEntry.objects.bulk_create(
        [entry(vendor, age=timedelta(days=9), path="/old"), entry(vendor, age=timedelta(days=8), path="/old")]
        + [entry(vendor, age=timedelta(days=6), path="/kept"), entry(vendor, path="/kept")]
    )
    out = io.StringIO()

    call_command("prune", stdout=out)

    cutoff = timezone.now().astimezone(UTC).date() - timedelta(days=7)
    assert f"2 request log entries older than {cutoff}" in out.getvalue()
    assert list(RequestLogEntry.objects.values_list("path", flat=True)) == ["/kept", "/kept"]
    settings.REQUEST_LOG_DAYS = 1
    call_command("prune", stdout=io.StringIO())
    assert list(RequestLogEntry.objects.values_list("path", flat=True)) == ["/kept"]
