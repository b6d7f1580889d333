"""The background flusher (vendors/limits/flusher.py) with its real thread, and the exit flush. The thread has a
database connection of its own: these tests commit (transactional) so that it sees the vendors."""

import threading

import pytest
from django.db import connection

from tests.conftest import get_token
from vendors.limits import flusher, metering, request_log, store
from vendors.models import RequestLogEntry, UsageDay

WAIT = 30  # seconds: a bound on a wait for the thread, never a timing that is asserted


def bearer(api, issued):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {get_token(api, issued)['access_token']}")
    return client


@pytest.fixture
def real_flusher(monkeypatch):
    """This process's flusher with its real thread, stopped at the end of the test."""
    real = flusher.Flusher()
    monkeypatch.setattr(flusher, "FLUSHER", real)
    yield real
    real.stop()


def signalling(monkeypatch, module, name: str) -> tuple[threading.Event, list[str]]:
    """Wrap module.name so that each call notes its thread's name and sets the returned Event once it returns."""
    done, threads = threading.Event(), []
    original = getattr(module, name)

    def wrapper(*args, **kwargs):
        try:
            return original(*args, **kwargs)
        finally:
            threads.append(threading.current_thread().name)
            done.set()

    monkeypatch.setattr(module, name, wrapper)
    return done, threads


class ClosingConnection:
    """django.db.connection as the flusher sees it, noting which thread closed its connection."""

    def __init__(self):
        self.closed, self.threads = threading.Event(), []

    def close(self):
        connection.close()
        self.threads.append(threading.current_thread().name)
        self.closed.set()


@pytest.mark.django_db(transaction=True)
def test_the_thread_writes_the_log_when_a_request_wakes_it(api, free_vendor, settings, real_flusher, monkeypatch):
    settings.REQUEST_LOG_BUFFER = 4
    written, threads = signalling(monkeypatch, request_log, "flush")
    closing = ClosingConnection()
    monkeypatch.setattr(flusher, "connection", closing)

    get_token(api, free_vendor)  # one entry waiting
    assert not written.is_set()
    api.post("/auth/token", {"client_id": free_vendor.vendor.client_id, "client_secret": "wrong" * 10}, format="json")
    assert not written.is_set()  # not the vendor's request: nothing logged, nothing woken
    get_token(api, free_vendor)  # two waiting: wakes the thread

    assert written.wait(WAIT)
    assert threads == ["usage-flush"]
    assert list(RequestLogEntry.objects.values_list("path", flat=True)) == ["/auth/token", "/auth/token"]
    assert closing.closed.wait(WAIT)  # the thread's own connection, closed after its turn
    assert closing.threads == ["usage-flush"]
    assert request_log.take() == []


@pytest.mark.django_db(transaction=True)
def test_the_thread_runs_the_usage_flush_each_interval(api, free_vendor, settings, real_flusher, monkeypatch):
    vendor_api = bearer(api, free_vendor)
    settings.USAGE_FLUSH_INTERVAL = 3600
    flushed, threads = signalling(monkeypatch, metering, "usage_flush")

    vendor_api.get("/brands")  # starts the thread, whose first flush is due at once

    assert flushed.wait(WAIT)
    assert threads == ["usage-flush"]
    assert UsageDay.objects.get(vendor=free_vendor.vendor).requests == 1
    assert RequestLogEntry.objects.filter(path="/brands").exists()  # the request log goes with it


def test_a_forked_process_starts_a_thread_of_its_own(settings, real_flusher, monkeypatch):
    started = []
    monkeypatch.setattr(threading.Thread, "start", lambda thread: started.append(thread.name))
    settings.USAGE_FLUSH_INTERVAL = 60
    flusher.after_request()
    flusher.after_request()
    assert started == ["usage-flush"]
    monkeypatch.setattr(flusher.os, "getpid", lambda: -1)  # as in a child forked after the first start
    flusher.after_request()
    assert started == ["usage-flush", "usage-flush"]


@pytest.mark.django_db(transaction=True)
def test_the_exit_flush_writes_what_the_process_holds(api, free_vendor):
    bearer(api, free_vendor).get("/brands")

    assert flusher.flush_at_exit(seconds=WAIT)

    assert sorted(RequestLogEntry.objects.values_list("path", flat=True)) == ["/auth/token", "/brands"]
    if store.backend() is store.LOCAL:  # the process's own counts; with Redis they are shared, flushed by the others
        assert UsageDay.objects.get(vendor=free_vendor.vendor).requests == 1
    else:
        assert not UsageDay.objects.exists()


def test_the_exit_flush_gives_up_when_a_flush_holds_on_and_never_raises(flusher_without_thread, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("the database refused")

    monkeypatch.setattr(metering, "usage_flush", broken)
    assert flusher.flush_at_exit(seconds=WAIT) is False  # logged, not raised
    with flusher_without_thread.turn_lock:  # the thread's flush that does not end
        assert flusher.flush_at_exit(seconds=0.05) is False
