"""Usage metering: counted with the rate limit, written to UsageDay in batches, read by `manage.py usage`."""

import json
from datetime import UTC, datetime, timedelta
from io import StringIO
from unittest.mock import Mock

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import OperationalError

from vendors import selectors
from vendors.limits import metering
from vendors.models import Plan, UsageDay

pytestmark = pytest.mark.django_db


def today():
    return datetime.now(UTC).date()


def test_flushusage_writes_the_served_and_refused_requests_of_the_day(make_vendor, as_vendor):
    Plan.objects.filter(code="free").update(requests_per_minute=5)
    first, second = make_vendor("free"), make_vendor("free")
    client = as_vendor(first)
    for _ in range(8):
        client.get("/brands")
    as_vendor(second).get("/brands/12345")
    assert not UsageDay.objects.exists()  # nothing is written per request
    out = StringIO()
    call_command("flushusage", stdout=out)
    assert out.getvalue().strip() == "Flushed usage for 2 vendor-days."
    row = UsageDay.objects.get(vendor=first.vendor)
    assert (row.date, row.requests, row.throttled) == (today(), 5, 3)
    assert UsageDay.objects.get(vendor=second.vendor).requests == 1


def test_flushes_add_up_and_never_count_twice(free_vendor, as_vendor):
    client = as_vendor(free_vendor)
    for _ in range(3):
        client.get("/brands")
    metering.usage_flush()
    metering.usage_flush()
    for _ in range(4):
        client.get("/brands")
    metering.usage_flush()
    assert UsageDay.objects.get(vendor=free_vendor.vendor).requests == 7


def test_the_flusher_not_the_request_flushes_each_interval(
    free_vendor, as_vendor, settings, flusher_without_thread, django_assert_num_queries
):
    client = as_vendor(free_vendor)
    client.get("/brands")
    assert not flusher_without_thread.starts  # USAGE_FLUSH_INTERVAL=0: cron flushes, no thread
    settings.USAGE_FLUSH_INTERVAL = 3600
    client.get("/brands")
    assert flusher_without_thread.starts == 1  # the process's flusher started, and nothing written by the request
    assert not UsageDay.objects.exists()

    flusher_without_thread.turn()  # the thread's first turn: due at once
    assert UsageDay.objects.get(vendor=free_vendor.vendor).requests == 2
    client.get("/brands")
    with django_assert_num_queries(0):
        flusher_without_thread.turn()  # not due again for an hour
    assert 3590 < flusher_without_thread.seconds_to_wait() <= 3600


def test_usage_by_day_fills_missing_days_with_zero(free_vendor):
    vendor = free_vendor.vendor
    UsageDay.objects.create(vendor=vendor, date=today(), requests=40)
    UsageDay.objects.create(vendor=vendor, date=today() - timedelta(days=2), requests=7)
    UsageDay.objects.create(vendor=vendor, date=today() - timedelta(days=30), requests=999)  # outside 30 days
    series = selectors.usage_by_day(vendor=vendor)
    assert len(series) == 30
    assert series[0][0] == today() - timedelta(days=29)
    assert series[-3:] == [(today() - timedelta(days=2), 7), (today() - timedelta(days=1), 0), (today(), 40)]
    assert sum(count for _, count in series) == 47


def test_usage_by_day_is_one_query(free_vendor, django_assert_num_queries):
    with django_assert_num_queries(1):
        selectors.usage_by_day(vendor=free_vendor.vendor, days=7)


def test_the_usage_command_prints_recent_days_including_unflushed_requests(free_vendor, as_vendor):
    client = as_vendor(free_vendor)
    for _ in range(3):
        client.get("/brands")
    UsageDay.objects.create(vendor=free_vendor.vendor, date=today() - timedelta(days=1), requests=1234, throttled=5)
    out = StringIO()
    call_command("usage", free_vendor.vendor.client_id, "--days", "3", stdout=out)
    text = out.getvalue()
    assert f"Free Co ({free_vendor.vendor.client_id}), Free plan, last 3 days (UTC):" in text
    assert f"{today().isoformat()}             3  (0 refused)" in text
    assert "1,234  (5 refused)" in text
    assert text.rstrip().endswith("total              1,237")


def test_the_usage_command_speaks_json(free_vendor, as_vendor):
    as_vendor(free_vendor).get("/brands")
    out = StringIO()
    call_command("usage", free_vendor.vendor.client_id, "--days", "2", "--json", stdout=out)
    payload = json.loads(out.getvalue())
    assert payload["total"] == 1
    assert payload["days"][-1] == {"date": today().isoformat(), "requests": 1, "throttled": 0}
    assert len(payload["days"]) == 2


def test_the_usage_command_rejects_an_unknown_client_and_bad_days(free_vendor):
    with pytest.raises(CommandError, match="No vendor has the client ID 'nope'"):
        call_command("usage", "nope")
    with pytest.raises(CommandError, match="--days"):
        call_command("usage", free_vendor.vendor.client_id, "--days", "0")


@pytest.mark.parametrize("limit", ["requests_per_minute", "monthly_quota"])
def test_requests_answered_5xx_are_neither_metered_nor_counted_against_the_plan(
    free_vendor, as_vendor, monkeypatch, settings, limit
):
    settings.READ_CACHE_SECONDS = 0  # every list reads the database, which is down for four of them
    Plan.objects.filter(code="free").update(**{limit: 5})
    client = as_vendor(free_vendor)
    for _ in range(3):
        assert client.get("/brands").status_code == 200
    with monkeypatch.context() as outage:
        outage.setattr("apiresources.selectors.brand_list", Mock(side_effect=OperationalError("server closed")))
        for _ in range(4):
            assert client.get("/brands").status_code == 503
    assert [client.get("/brands").status_code for _ in range(3)] == [200, 200, 429]
    metering.usage_flush()
    row = UsageDay.objects.get(vendor=free_vendor.vendor)
    assert (row.requests, row.throttled) == (5, 1)
