"""Retention: `prune` deletes old audit events, usage days, request log entries and expired idempotency keys in
batches, `cleartokens` says what it purged."""

import io
import re
from datetime import UTC, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from oauth2_provider.models import AccessToken, RefreshToken

from apiresources.models import IdempotencyKey
from vendors.models import AuditEvent, UsageDay

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def audit_event(vendor, *, age: timedelta) -> AuditEvent:
    return AuditEvent.objects.create(
        vendor=vendor,
        vendor_name=vendor.name,
        actor_label="command line",
        action="update",
        created_at=timezone.now() - age,
    )


def idempotency_key(vendor, key: str, *, expires_in: timedelta) -> IdempotencyKey:
    now = timezone.now()
    return IdempotencyKey.objects.create(
        vendor=vendor,
        key=key,
        method="POST",
        path="/brands",
        body_sha256="0" * 64,
        claimed_at=now - timedelta(hours=24) + expires_in,
        expires_at=now + expires_in,
        status=201,
    )


def test_prune_deletes_only_the_rows_older_than_the_retention(free_vendor):
    vendor = free_vendor.vendor
    AuditEvent.objects.all().delete()
    old_events = [audit_event(vendor, age=timedelta(days=401 + n)) for n in range(5)]
    recent = audit_event(vendor, age=timedelta(days=399))
    today = timezone.now().astimezone(UTC).date()
    UsageDay.objects.create(vendor=vendor, date=today - timedelta(days=801), requests=7)
    kept_day = UsageDay.objects.create(vendor=vendor, date=today - timedelta(days=799), requests=3)
    for key, expires_in in (("gone", -timedelta(seconds=1)), ("also gone", -timedelta(hours=1))):
        idempotency_key(vendor, key, expires_in=expires_in)
    kept_key = idempotency_key(vendor, "live", expires_in=timedelta(minutes=1))

    output = run("prune")

    audit_cutoff, usage_cutoff = today - timedelta(days=400), today - timedelta(days=800)
    log_cutoff = today - timedelta(days=7)
    assert output.strip() == (
        f"Deleted 5 audit events older than {audit_cutoff}, 1 usage day older than {usage_cutoff}, "
        f"0 request log entries older than {log_cutoff} and 2 expired idempotency keys."
    )
    assert list(AuditEvent.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not AuditEvent.objects.filter(pk__in=[event.pk for event in old_events]).exists()
    assert list(UsageDay.objects.values_list("pk", flat=True)) == [kept_day.pk]
    assert list(IdempotencyKey.objects.values_list("pk", flat=True)) == [kept_key.pk]
    assert run("prune").strip() == (
        f"Deleted 0 audit events older than {audit_cutoff}, 0 usage days older than {usage_cutoff}, "
        f"0 request log entries older than {log_cutoff} and 0 expired idempotency keys."
    )


def test_prune_deletes_in_batches_of_the_batch_size(settings, free_vendor):
    settings.RETENTION_BATCH_SIZE = 2
    AuditEvent.objects.all().delete()
    for n in range(5):
        audit_event(free_vendor.vendor, age=timedelta(days=401 + n))

    with CaptureQueriesContext(connection) as queries:
        output = run("prune")

    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('DELETE FROM "vendors_auditevent"')]
    assert [len(re.search(r"IN \(([^)]*)\)", sql).group(1).split(",")) for sql in deletes] == [2, 2, 1]
    assert output.startswith("Deleted 5 audit events older than ")
    assert not AuditEvent.objects.exists()


def test_cleartokens_says_how_many_tokens_it_deleted(free_vendor, standard_vendor, token_for):
    token_for(free_vendor)
    token_for(free_vendor)
    token_for(standard_vendor)
    # Both of the free vendor's pairs unused for longer than the refresh token's lifetime: purged, refresh tokens first.
    AccessToken.objects.filter(application__vendor=free_vendor.vendor).update(
        expires=timezone.now() - timedelta(days=31)
    )

    output = run("cleartokens")

    assert output.strip() == "Deleted 2 access tokens, 2 refresh tokens, 0 ID tokens, 0 grants."
    assert not AccessToken.objects.filter(application__vendor=free_vendor.vendor).exists()
    assert not RefreshToken.objects.filter(application__vendor=free_vendor.vendor).exists()
    assert AccessToken.objects.filter(application__vendor=standard_vendor.vendor).count() == 1  # live: kept
    assert RefreshToken.objects.filter(application__vendor=standard_vendor.vendor).count() == 1
    assert run("cleartokens").strip() == "Deleted 0 access tokens, 0 refresh tokens, 0 ID tokens, 0 grants."
