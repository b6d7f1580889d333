"""Prometheus metrics: every metric the platform exports, in one place (charp/health.py serves them at /metrics).

Under gunicorn each worker writes its values to files in PROMETHEUS_MULTIPROC_DIR (set by gunicorn.conf.py) and a
scrape adds every worker's up, so whichever worker answers reports the whole server. Without that variable
(`make run`, the tests, management commands) the process's own registry is exported.

Labels are bounded: routes are URL patterns, not paths; methods outside the HTTP set are "other"; a vendor appears
only through its plan's code, never its client ID, and no secret or token is ever a label value.
"""

import contextvars
import functools
import os
import re
import time

from django.urls import Resolver404, resolve
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily

# A request takes about a millisecond when warm; a database outage's answer waits DB_CONNECT_TIMEOUT (5 s).
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter(
    "charp_requests", "Requests answered, by URL pattern, method, status and the caller's plan.",
    ["route", "method", "status", "plan"],
)  # fmt: skip
DURATION = Histogram(
    "charp_request_duration_seconds", "Time to answer a request, by URL pattern.", ["route"], buckets=DURATION_BUCKETS
)
TOKENS_ISSUED = Counter("charp_tokens_issued", "Access tokens issued, by grant type.", ["grant"])
AUTH_FAILURES = Counter(
    "charp_auth_failures",
    "Failed authentications: client credentials or refresh tokens at /auth/* (token, refresh, revoke), bearer "
    "tokens at the APIs (api).",
    ["endpoint"],
)
THROTTLED = Counter(
    "charp_throttled",
    "Requests answered 429: rate_limited, quota_exceeded (plan), issuance (tokens per hour), failures (slow_down).",
    ["reason"],
)
REQUEST_LOG_DROPPED = Counter(
    "charp_request_log_dropped",
    "Request log entries never written: buffer_full (the worker's REQUEST_LOG_BUFFER was full), vendor_gone (the "
    "vendor was deleted before the flush), unwritable (the database refused the batch).",
    ["reason"],
)
# Per worker; the lowest live worker's value is exported: 0 while any worker serves without limits (fail open).
REDIS_UP = Gauge(
    "charp_redis_up", "1 while the shared counters answer, 0 while limits fail open.", multiprocess_mode="livemin"
)
CACHE_HITS = Counter("charp_cache_hits", "Lookups that found a live copy in the worker's cache.", ["cache"])
CACHE_MISSES = Counter("charp_cache_misses", "Lookups that found no usable copy in the worker's cache.", ["cache"])
LAST_FLUSH = Gauge(
    "charp_usage_last_flush_timestamp_seconds",
    "When usage counts were last written to the database (Unix time).",
    multiprocess_mode="max",
)
STARTED = Gauge(
    "charp_started_timestamp_seconds", "When the first worker started (Unix time).", multiprocess_mode="min"
)
STARTED.set(time.time())

FLUSH_LAG = "charp_usage_flush_lag_seconds"

# The plan of the request's caller once it is known (the gate, the token endpoint's validator); "none" before.
plan_var: contextvars.ContextVar[str] = contextvars.ContextVar("plan", default="none")

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_UNMATCHED = "unmatched"
_NAMED_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")
_CONVERTER = re.compile(r"<\w+:(\w+)>")
# The pattern named so in charp/urls.py answers every unknown path (its JSON 404).
_NO_ENDPOINT = "no-endpoint"
METRICS_ROUTE = "metrics"


@functools.lru_cache(maxsize=512)
def _readable(route: str) -> str:
    """A URL pattern as people write it: `^brands/(?P<pk>[^/.]+)/?$` → `brands/<pk>`, `<int:id>` → `<id>`."""
    route = _NAMED_GROUP.sub(r"<\1>", route).replace("/?", "").replace("^", "").replace("$", "").replace("\\", "")
    return _CONVERTER.sub(r"<\1>", route) or "/"


def route_of(request) -> str:
    """The URL pattern that served `request`; "unmatched" for a path no endpoint serves."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        # Answered before the view was resolved (a 413 body, a static file): rare, so resolving again is affordable.
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return _UNMATCHED
    if match.url_name == _NO_ENDPOINT or match.route is None:
        return _UNMATCHED
    return _readable(match.route)


def observe(request, status: int, seconds: float) -> None:
    """One counter and one histogram per request (charp.http.logs.RequestLogMiddleware); scrapes are not counted."""
    route = route_of(request)
    if route == METRICS_ROUTE:
        return
    key = (route, request.method if request.method in _METHODS else "other", status, plan_var.get())
    children = _children.get(key)
    if children is None:
        # labels() takes a lock and builds its key each time; the pairs are as bounded as the labels themselves.
        children = _children[key] = (REQUESTS.labels(*key[:2], str(status), key[3]), DURATION.labels(route))
    children[0].inc()
    children[1].observe(seconds)


_children: dict[tuple, tuple] = {}


def usage_flushed() -> None:
    LAST_FLUSH.set(time.time())


class _Exposition:
    """Every metric of `source`, plus the usage flush lag computed at scrape time from the last flush (or, before
    the first one, the start) of any worker."""

    def __init__(self, source):
        self.source = source

    def collect(self):
        last_flush = started = None
        for family in self.source.collect():
            values = [sample.value for sample in family.samples]
            if family.name == LAST_FLUSH._name and values:
                last_flush = max(values)
            elif family.name == STARTED._name and values:
                started = min(values)
            yield family
        since = last_flush or started
        if since:
            yield GaugeMetricFamily(
                FLUSH_LAG,
                "Seconds since usage counts were last written to the database (since the start before the first time).",
                value=max(0.0, time.time() - since),
            )


def exposition() -> bytes:
    """The text exposition of every metric: every worker's under gunicorn (multiprocess mode), else this process's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        source = multiprocess.MultiProcessCollector(None)
    else:
        source = REGISTRY
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Exposition(source))
    return generate_latest(registry)
