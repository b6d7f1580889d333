"""`Idempotency-Key` on the writes of the Brand, Campaign and Tools APIs: a retry gets the first answer again, once
stored in the database, and the same key with another request is refused."""

import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection
from django.utils import timezone

from apiresources import services
from apiresources.models import Brand, Campaign, IdempotencyKey
from tests.conftest import on_postgres
from vendors.caching import copies

pytestmark = pytest.mark.django_db


def post(client, path, body, key, **extra):
    return client.post(path, json.dumps(body), content_type="application/json", HTTP_IDEMPOTENCY_KEY=key, **extra)


@pytest.fixture
def client(as_vendor, enterprise_vendor):
    return as_vendor(enterprise_vendor)


def test_a_retry_replays_the_first_answer_and_creates_one_brand(client, enterprise_vendor):
    first = post(client, "/brands", {"name": "Acme"}, "order-1")
    assert first.status_code == 201 and "Idempotent-Replayed" not in first

    retry = post(client, "/brands", {"name": "Acme"}, "order-1")

    assert retry.status_code == 201
    assert retry.content == first.content and retry.json()["name"] == "Acme"
    assert retry["Location"] == first["Location"] and retry["Location"].endswith(f"/brands/{first.json()['id']}")
    assert retry["Content-Type"] == first["Content-Type"] == "application/json"
    assert retry["Idempotent-Replayed"] == "true"
    assert retry["RateLimit"]  # counted like any request
    assert Brand.objects.filter(vendor=enterprise_vendor.vendor).count() == 1
    assert IdempotencyKey.objects.get(key="order-1").status == 201


def test_without_the_header_a_write_runs_each_time(client):
    assert client.post("/brands", {"name": "Acme"}, format="json").status_code == 201
    assert client.post("/brands", {"name": "Acme"}, format="json").status_code == 400
    assert not IdempotencyKey.objects.exists()


def test_the_same_key_with_another_request_is_refused_with_422(client):
    created = post(client, "/brands", {"name": "Acme"}, "k")
    assert created.status_code == 201

    others = (("post", "/brands", {"name": "Globex"}), ("put", f"/brands/{created.json()['id']}", {"name": "Acme"}))
    for method, path, body in others:
        send = getattr(client, method)
        refused = send(path, json.dumps(body), content_type="application/json", HTTP_IDEMPOTENCY_KEY="k")
        assert refused.status_code == 422, refused.content
        assert refused.json() == {"error": "idempotency_key_reused", "error_description": services.reused_message()}
        assert "Send a new key" in refused.json()["error_description"]
    assert list(Brand.objects.values_list("name", flat=True)) == ["Acme"]


def claimed_row(vendor, key, *, age, body=b'{"name": "Acme"}', **fields):
    claimed_at = timezone.now() - age
    return IdempotencyKey.objects.create(
        vendor=vendor,
        key=key,
        method="POST",
        path="/brands",
        body_sha256=hashlib.sha256(body).hexdigest(),
        claimed_at=claimed_at,
        expires_at=claimed_at + timedelta(hours=24),
        **fields,
    )


def test_a_retry_while_the_first_still_runs_is_409(client, enterprise_vendor):
    claimed_row(enterprise_vendor.vendor, "busy", age=timedelta(seconds=5))  # the first request's claim, running

    refused = client.post("/brands", b'{"name": "Acme"}', content_type="application/json", HTTP_IDEMPOTENCY_KEY="busy")

    assert refused.status_code == 409
    assert refused.json() == {
        "error": "idempotency_key_in_use",
        "error_description": "A request with this Idempotency-Key is still being processed. Retry after the first "
        "request finishes.",
    }
    assert not Brand.objects.exists()
    assert IdempotencyKey.objects.get(key="busy").status is None  # the first request's claim is untouched


def test_an_abandoned_claim_is_taken_over_by_a_retry(client, enterprise_vendor):
    claimed_row(enterprise_vendor.vendor, "crashed", age=services.CLAIM_TIMEOUT + timedelta(seconds=1))

    retry = client.post("/brands", b'{"name": "Acme"}', content_type="application/json", HTTP_IDEMPOTENCY_KEY="crashed")

    assert retry.status_code == 201 and "Idempotent-Replayed" not in retry
    assert Brand.objects.count() == 1
    row = IdempotencyKey.objects.get(key="crashed")
    assert row.status == 201 and timezone.now() - row.claimed_at < timedelta(seconds=30)
    again = client.post("/brands", b'{"name": "Acme"}', content_type="application/json", HTTP_IDEMPOTENCY_KEY="crashed")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"


def test_an_expired_key_runs_as_new(client, enterprise_vendor, settings):
    claimed_row(enterprise_vendor.vendor, "old", age=timedelta(hours=25), status=201, body=b'{"name": "Old"}')

    fresh = post(client, "/brands", {"name": "New"}, "old")

    assert fresh.status_code == 201 and "Idempotent-Replayed" not in fresh
    assert IdempotencyKey.objects.get(key="old").expires_at > timezone.now() + timedelta(hours=23)


def test_the_replay_comes_from_the_database_after_a_worker_restart(client):
    first = post(client, "/brands", {"name": "Acme"}, "restart")
    copies.clear()  # what a new worker starts with

    retry = post(client, "/brands", {"name": "Acme"}, "restart")

    assert retry.status_code == 201 and retry["Idempotent-Replayed"] == "true"
    assert retry.content == first.content and retry["Location"] == first["Location"]
    assert Brand.objects.count() == 1


def test_a_key_belongs_to_one_vendor(client, as_vendor, standard_vendor, enterprise_vendor):
    mine = post(client, "/brands", {"name": "Acme"}, "shared")
    theirs = post(as_vendor(standard_vendor), "/brands", {"name": "Acme"}, "shared")

    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs
    assert theirs.json()["id"] != mine.json()["id"]
    assert Brand.objects.filter(vendor=standard_vendor.vendor).count() == 1
    assert Brand.objects.filter(vendor=enterprise_vendor.vendor).count() == 1
    assert IdempotencyKey.objects.filter(key="shared").count() == 2


def test_a_validation_error_is_replayed(client):
    first = post(client, "/brands", {}, "invalid")
    assert first.status_code == 400 and first.json()["error"] == "validation_error"

    retry = post(client, "/brands", {}, "invalid")

    assert retry.status_code == 400 and retry.content == first.content
    assert retry["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize("key", ["x" * 256, "", "caf\u00e9", "tab\there"])
def test_a_key_that_cannot_be_one_is_400_naming_the_header(client, key):
    refused = client.post(
        "/brands", {"name": "Acme"}, format="json", HTTP_IDEMPOTENCY_KEY=key.encode().decode("latin-1")
    )

    assert refused.status_code == 400
    body = refused.json()
    assert body["error"] == "invalid_idempotency_key" and "Idempotency-Key" in body["error_description"]
    assert not Brand.objects.exists() and not IdempotencyKey.objects.exists()


def test_a_key_of_255_characters_is_accepted(client):
    assert post(client, "/brands", {"name": "Acme"}, "k" * 255).status_code == 201


def test_refusals_that_say_nothing_about_the_write_keep_nothing(api, client, as_vendor, free_vendor):
    refused = post(as_vendor(free_vendor), "/campaigns", {"name": "Launch", "brand": 1}, "plan")
    assert refused.status_code == 403
    assert post(api, "/brands", {"name": "Acme"}, "anonymous").status_code == 401
    assert not IdempotencyKey.objects.exists()


def test_a_server_error_releases_the_key_so_a_retry_runs_again(client, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(services, "brand_create", broken)
    client.raise_request_exception = False
    assert post(client, "/brands", {"name": "Acme"}, "flaky").status_code == 500
    assert not IdempotencyKey.objects.exists()
    monkeypatch.undo()

    assert post(client, "/brands", {"name": "Acme"}, "flaky").status_code == 201
    assert Brand.objects.count() == 1


def test_updates_deletes_and_tools_are_replayed_too(client, enterprise_vendor):
    brand = Brand.objects.create(vendor=enterprise_vendor.vendor, name="Acme")
    campaign = Campaign.objects.create(vendor=enterprise_vendor.vendor, brand=brand, name="Launch")
    path = f"/campaigns/{campaign.pk}"
    for _ in range(2):
        moved = client.patch(path, {"status": "active"}, format="json", HTTP_IDEMPOTENCY_KEY="move")
        assert moved.status_code == 200 and moved.json()["status"] == "active"
    assert moved["Idempotent-Replayed"] == "true"
    deleted = [client.delete(path, HTTP_IDEMPOTENCY_KEY="delete") for _ in range(2)]
    assert [answer.status_code for answer in deleted] == [204, 204]
    assert deleted[1]["Idempotent-Replayed"] == "true" and not Campaign.objects.exists()
    body = {"text": "coffee beans and coffee cups"}
    runs = [post(client, "/tools/keywords", body, "tool") for _ in range(2)]
    assert runs[0].status_code == 200 and runs[1].content == runs[0].content
    assert runs[1]["Idempotent-Replayed"] == "true"


def test_reads_ignore_the_header(client):
    assert client.get("/brands", HTTP_IDEMPOTENCY_KEY="x" * 300).status_code == 200
    assert not IdempotencyKey.objects.exists()


def test_when_the_answer_cannot_be_kept_the_caller_still_gets_it_and_a_retry_waits(client, monkeypatch):
    def database_gone(**kwargs):
        raise DatabaseError("connection lost")

    monkeypatch.setattr(services, "idempotency_key_finish", database_gone)
    created = post(client, "/brands", {"name": "Acme"}, "unkept")
    monkeypatch.undo()

    assert created.status_code == 201 and created.json()["name"] == "Acme"  # the write happened: say so
    assert IdempotencyKey.objects.get(key="unkept").status is None  # still claimed, never released
    assert post(client, "/brands", {"name": "Acme"}, "unkept").status_code == 409  # so a retry cannot write again
    assert Brand.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_key_costs_one_statement_before_the_write_and_one_after(client, django_assert_num_queries):
    assert client.get("/brands").status_code == 200  # the token now in this worker's copy
    with django_assert_num_queries(3):  # INSERT of the claim, INSERT of the brand, UPDATE of the claim
        assert post(client, "/brands", {"name": "Acme"}, "counted").status_code == 201
    with django_assert_num_queries(2):  # the claim's INSERT refused, then the kept row
        assert post(client, "/brands", {"name": "Acme"}, "counted")["Idempotent-Replayed"] == "true"
    with django_assert_num_queries(1):  # no key, no new statement
        assert client.post("/brands", {"name": "Globex"}, format="json").status_code == 201


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_write_once(client):
    """Real concurrency: the unique constraint lets one request run; the others wait for it (409) or replay it."""
    start = threading.Barrier(4)

    def send(_):
        start.wait()
        try:
            return post(client, "/brands", {"name": "Acme"}, "raced")
        finally:
            connection.close()

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(send, range(4)))

    statuses = sorted(answer.status_code for answer in answers)
    assert Brand.objects.count() == 1
    assert statuses.count(201) >= 1 and set(statuses) <= {201, 409}, statuses
    assert sum(1 for answer in answers if answer.status_code == 201 and "Idempotent-Replayed" not in answer) == 1


def test_a_key_is_kept_for_idempotency_key_hours(client, settings):
    settings.IDEMPOTENCY_KEY_HOURS = 2
    assert post(client, "/brands", {"name": "Acme"}, "short").status_code == 201

    row = IdempotencyKey.objects.get(key="short")
    assert row.expires_at - row.claimed_at == timedelta(hours=2)
    assert "last 2 hours" in post(client, "/brands", {"name": "Other"}, "short").json()["error_description"]
