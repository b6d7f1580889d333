"""Operational endpoints: health for load balancers and orchestrators (unauthenticated, cheap, JSON, never cached)
and Prometheus metrics for a scraper holding METRICS_TOKEN."""

import hmac

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST

from charp.http import errors, methods
from charp.http import metrics as exported
from vendors.limits import store


def _answer(checks: dict[str, str], *, optional: frozenset[str] = frozenset(), **details) -> JsonResponse:
    """200 while every required check is ok; a failed optional check only makes the status `degraded`."""
    failed = {name for name, value in checks.items() if value != "ok"}
    if failed - optional:
        status, code = "unavailable", 503
    else:
        status, code = ("degraded" if failed else "ok"), 200
    response = JsonResponse({"status": status, "checks": checks, **details}, status=code)
    response["Cache-Control"] = "no-store"
    return response


@methods.allow("GET")
@require_safe
def healthz(request) -> JsonResponse:
    """Liveness: the process answers HTTP; touches neither the database nor Redis."""
    return _answer({"process": "ok"})


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return f"unreachable ({type(exc).__name__})"
    return "ok"


def _redis() -> str:
    from django_redis import get_redis_connection
    from redis.exceptions import RedisError

    try:
        get_redis_connection("default").ping()
    except (RedisError, OSError) as exc:
        return f"unreachable ({type(exc).__name__})"
    return "ok"


@methods.allow("GET")
@require_safe
def readyz(request) -> JsonResponse:
    """Readiness: the database answers `SELECT 1`. Redis is reported but not required.

    Without Redis the API fails open (limits and metering pause, the worker caches keep serving), so a Redis outage
    must not take every node out of the load balancer at once: it answers 200 with status `degraded`.
    """
    checks = {"database": _database()}
    if settings.REDIS_URL:
        checks["redis"] = _redis()
    # The limiter's own view (it fails open while its last Redis call failed), for whoever reads the probe.
    limiter = store.status()
    return _answer(
        checks,
        optional=frozenset({"redis"}),
        rate_limits={"backend": limiter["backend"], "healthy": limiter["healthy"]},
    )


def _metrics_refused(error: str, description: str) -> JsonResponse:
    response = JsonResponse({"error": error, "error_description": description}, status=401)
    challenge = 'Bearer realm="charp-metrics"'
    response["WWW-Authenticate"] = f'{challenge}, error="invalid_token"' if error == "invalid_token" else challenge
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt  # off, every method is the unknown path's 404; on, only GET and HEAD are served
def metrics(request) -> HttpResponse:
    """The Prometheus text exposition (charp/http/metrics.py) for `Authorization: Bearer <METRICS_TOKEN>`; without
    METRICS_TOKEN the path does not exist (the JSON 404 of any unknown path)."""
    expected = settings.METRICS_TOKEN
    if not expected:
        return errors.page_not_found(request)
    if request.method == "OPTIONS":  # as MethodMiddleware answers every other path
        response = HttpResponse(status=204)
        del response["Content-Type"]
        response["Allow"] = "GET, HEAD, OPTIONS"
        return response
    if request.method not in ("GET", "HEAD"):
        response = JsonResponse(
            {"error": "method_not_allowed", "error_description": f"{request.path} does not take {request.method}: "
             "use GET."},
            status=405,
        )  # fmt: skip
        response["Allow"] = "GET, HEAD, OPTIONS"
        return response
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    presented = presented.strip()
    if scheme.lower() != "bearer" or not presented:
        return _metrics_refused(
            "unauthorized",
            "Metrics need the header 'Authorization: Bearer <token>' with the server's METRICS_TOKEN.",
        )
    if not hmac.compare_digest(presented.encode(), expected.encode()):
        return _metrics_refused("invalid_token", "The metrics token is wrong: send the server's METRICS_TOKEN.")
    response = HttpResponse(exported.exposition(), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
