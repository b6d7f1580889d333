"""Health endpoints for load balancers and orchestrators: unauthenticated, cheap, JSON, never cached."""

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.http import require_safe

from charp.http import methods
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
