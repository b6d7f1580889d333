"""This process's background flusher: the usage flush and the request log, written by a daemon thread, not requests.

A request only appends to in-process buffers (vendors/limits/request_log.py, last_used.py, the local counts) and calls
`after_request()`, which at most starts the thread (once per process, checked by pid so that a forked worker starts
its own) and sets an Event. The thread runs `usage_flush()` every USAGE_FLUSH_INTERVAL seconds (the first right
away, as the first request of a worker used to), and `request_log.flush()` as soon as it is woken because half of
REQUEST_LOG_BUFFER waits. USAGE_FLUSH_INTERVAL=0 still means no periodic usage flush (cron runs `manage.py
flushusage`); the thread then wakes only for the request log. Each turn runs on the thread's own database connection,
closed after the turn: no connection kept per worker beyond the request path's own, no transaction left open.

`flush_at_exit()` (gunicorn's worker_exit hook, gunicorn.conf.py) writes what the process still holds when it stops,
within a time bound and never raising.
"""

import logging
import os
import threading
import time

from django.conf import settings
from django.db import connection

from vendors.limits import metering, request_log

logger = logging.getLogger(__name__)


class Flusher:
    """One per process: the thread, the Event that wakes it, and the lock that keeps two flushes from overlapping."""

    def __init__(self):
        self._pid: int | None = None
        self._start_lock = threading.Lock()
        self.turn_lock = threading.Lock()  # held for the whole of each flush: the thread's or the exit hook's
        self.woken = threading.Event()
        self.next_usage_flush = 0.0  # time.monotonic() of the next periodic usage flush: the first is due at once

    def running(self) -> bool:
        return self._pid == os.getpid()

    def ensure_running(self) -> None:
        if not self.running():
            self._start()

    def wake(self) -> None:
        """Have the thread write the request log now (starting it if this process has none yet)."""
        self.ensure_running()
        self.woken.set()

    def _start(self) -> None:
        with self._start_lock:
            if self.running():
                return
            # A fork copies the parent's state but not its thread: everything starts afresh in this process.
            self._pid, self.woken, self.next_usage_flush = os.getpid(), threading.Event(), 0.0
            threading.Thread(target=self._run, daemon=True, name="usage-flush").start()

    def stop(self) -> None:
        """End the thread after its current turn (tests: one that outlived its test would flush in the next)."""
        self._pid = None
        self.woken.set()

    def _run(self) -> None:
        woken = self.woken
        while True:
            woken.wait(self.seconds_to_wait())
            if not self.running():
                return
            woken.clear()
            try:
                with self.turn_lock:
                    flushed = self.turn()
            finally:
                connection.close()  # this thread's own connection: reopened by the next turn
            if not flushed:
                time.sleep(1)  # while the database is down, busy requests would wake the thread into a tight loop

    def seconds_to_wait(self) -> float | None:
        """Until the next periodic usage flush; None (until woken) when cron does it."""
        if not settings.USAGE_FLUSH_INTERVAL:
            return None
        return max(0.0, self.next_usage_flush - time.monotonic())

    def turn(self) -> bool:
        """One turn of the thread, also called directly by tests: the usage flush when it is due, else the request log
        when half of its buffer waits. Never raises (what failed stays pending for the next turn); returns whether
        nothing failed."""
        interval = settings.USAGE_FLUSH_INTERVAL
        try:
            if interval and time.monotonic() >= self.next_usage_flush:
                self.next_usage_flush = time.monotonic() + interval
                metering.usage_flush()
            elif request_log.filling():
                request_log.flush()
        except Exception:
            logger.exception("Usage or request log flush failed; will retry.")
            return False
        return True


FLUSHER = Flusher()


def after_request() -> None:
    """The request path's whole part in flushing: no database or Redis work, at most a thread start or an Event set."""
    if request_log.filling():
        FLUSHER.wake()
    elif settings.USAGE_FLUSH_INTERVAL:
        FLUSHER.ensure_running()


def flush_at_exit(seconds: float) -> bool:
    """Write what this process holds (its local counts, last uses and request log; not the counts shared in Redis),
    waiting at most `seconds` for it, a flush of the thread under way included. Never raises; returns whether the
    flush finished. Run on a daemon thread of its own, so that a database that does not answer cannot hold up the exit.
    """
    done = threading.Event()

    def flush() -> None:
        try:
            if not FLUSHER.turn_lock.acquire(timeout=seconds):
                return
            try:
                metering.usage_flush(shared=False)
                done.set()
            finally:
                FLUSHER.turn_lock.release()
        except Exception:
            logger.exception("The exit flush failed; what this process held is lost.")
        finally:
            connection.close()

    try:
        writer = threading.Thread(target=flush, daemon=True, name="usage-flush-at-exit")
        writer.start()
        writer.join(seconds)
    except Exception:
        logger.exception("The exit flush could not run.")
    if not done.is_set():
        logger.warning("The exit flush did not finish within %s s; what this process held may be lost.", seconds)
    return done.is_set()
