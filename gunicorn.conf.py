"""gunicorn's production settings, read from the working directory: run `gunicorn charp.wsgi:application` from the
project root (or pass `-c gunicorn.conf.py`). Command-line flags and GUNICORN_CMD_ARGS override every value here.

Environment: WEB_CONCURRENCY (workers), PORT, LOG_LEVEL (shared with the app), FORWARDED_ALLOW_IPS (read by gunicorn),
PROMETHEUS_MULTIPROC_DIR (where workers keep their metrics; a fresh temporary directory by default).
"""

import gc
import math
import os
import shutil
import tempfile
from pathlib import Path


def _cpus() -> int:
    """CPUs this process may run on: its affinity set, capped by a cgroup v2 quota (a container's `--cpus`)."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max") as limits:
            quota, period = limits.read().split()
        if quota != "max":
            count = min(count, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass  # no cgroup v2 limit
    return count


wsgi_app = "charp.wsgi:application"
proc_name = "charp"

# Sync workers: a request is about a millisecond of CPU plus PostgreSQL and Redis round trips, so twice the CPUs plus
# one (gunicorn's rule of thumb) keeps every CPU busy while some workers wait. The CPU count honours a container's
# limit, not the host's cores. Each worker keeps one PostgreSQL connection (CONN_MAX_AGE): workers × app servers
# must fit the database's max_connections; set WEB_CONCURRENCY when that binds.
workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * _cpus() + 1)
# Every interface: the HTTPS-terminating proxy reaches the app from another host or container.
bind = [f"0.0.0.0:{int(os.environ.get('PORT', '8000'))}"]

# A request takes milliseconds; the slowest legitimate one waits DB_CONNECT_TIMEOUT (5 s) before its 503. A worker
# silent for 30 s is stuck: the master kills and replaces it.
timeout = 30
# On SIGTERM (deploys), in-flight requests get 8 s to finish: more than the slowest one, and less than the 10 s
# `docker stop` and the 30 s Kubernetes wait before SIGKILL, so gunicorn ends stragglers itself and logs it.
graceful_timeout = 8
# Sync workers close the connection after each response and ignore this. With a gthread or gevent worker it must
# exceed the proxy's idle timeout for upstream connections (60 s for nginx and AWS ALB), or the proxy reuses a
# connection gunicorn has just closed and answers 502.
keepalive = 75
# A backstop against slow memory growth, not a routine: at ~700 requests/s per worker (make bench) a worker is
# replaced every 2-3 minutes, costing its boot and its caches (vendors/caching/); the jitter keeps workers that
# started together from restarting together.
max_requests = 100_000
max_requests_jitter = 10_000
# The heartbeat file on tmpfs: a slow container disk must not make healthy workers look stuck. gunicorn creates it
# unlinked, with a random name, as it does in /tmp.
if os.path.isdir("/dev/shm"):  # noqa: S108
    worker_tmp_dir = "/dev/shm"  # noqa: S108

# forwarded_allow_ips is left to gunicorn, which reads FORWARDED_ALLOW_IPS (default 127.0.0.1,::1): set it to the
# proxy's addresses so that its X-Forwarded-Proto is believed. TRUSTED_PROXY_COUNT is the app's own setting for
# X-Forwarded-For.

# gunicorn's error log (and access log, when enabled) as JSON lines through the app's redaction, to the same streams
# and files the flags choose (charp/http/gunicorn_logging.py).
logger_class = "charp.http.gunicorn_logging.JsonLogger"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# gunicorn's access log stays off (no accesslog): the app writes one access line per request (charp.access), and
# gunicorn's would be a second line and extra work on every request. With --access-logfile: path without the
# query string, as in the app's line, and the request ID that ties the two together.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms %({x-request-id}o)s'

# Prometheus metrics (/metrics, charp/http/metrics.py): each worker writes its values to files in one directory, and
# a scrape answered by any worker adds them all up. Set here, before anything imports prometheus_client (the logger
# class above is imported right after this file runs, and workers are forked from this process). Without
# PROMETHEUS_MULTIPROC_DIR in the environment each server gets a fresh directory of its own, on tmpfs when there is
# one, removed when it stops; a directory given explicitly must belong to this server alone, and is emptied at start.
# The creator's pid is kept beside it: a reload (HUP) runs this file again in the same master, which still owns it.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(
        prefix="charp-metrics-",
        dir="/dev/shm" if os.path.isdir("/dev/shm") else None,  # noqa: S108
    )
    os.environ["CHARP_METRICS_DIR_OWNER"] = str(os.getpid())


def when_ready(server):
    """Load the keywords tool's data in the master, just before it forks the first workers.

    Each worker would otherwise spend 0.7 s and about 65 MB of private memory on it (its word pattern, langdetect's
    profiles, rjieba's dictionary; apiresources/languages.py), again whenever max_requests replaces it. Forked with the
    data loaded, the workers share its pages; gc.freeze keeps their collectors from writing to them and copying them.
    """
    from apiresources.tools import warm_up

    warm_up()
    gc.freeze()


def on_starting(server):
    """Empty the metrics directory: values left by an earlier run would be added to this one's."""
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


def worker_exit(server, worker):
    """In the worker, as it stops (SIGTERM, max_requests, a reload): write the usage counts, last uses and request log
    entries it still holds (vendors/limits/flusher.py), or they would be lost with it. Bounded well within
    graceful_timeout, after which the master kills the worker anyway; a flush that fails is logged, never raised."""
    from django.apps import apps

    if not apps.ready:  # a worker that never loaded the app holds nothing
        return
    try:
        from vendors.limits import flusher

        flusher.flush_at_exit(seconds=max(1.0, min(5.0, server.cfg.graceful_timeout / 2)))
    except Exception:
        server.log.exception("The exit flush could not start.")


def child_exit(server, worker):
    """A worker is gone: its counters stay in the sum, its live gauges (charp_redis_up) leave it."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if os.environ.get("CHARP_METRICS_DIR_OWNER") == str(os.getpid()):
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
