"""Health endpoints for load balancers and orchestrators: unauthenticated, cheap, JSON, never cached."""

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.http import require_safe

from charp.http import methods
from vendors.limits import store


def _answer(checks: dict[str, str], **details) -> JsonResponse:
    healthy = all(value == "ok" for value in checks.values())
    body = {"status": "ok" if healthy else "unavailable", "checks": checks, **details}
    response = JsonResponse(body, status=200 if healthy else 503)
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
    """Readiness: the database answers `SELECT 1` and, when REDIS_URL is set, Redis answers PING."""
    checks = {"database": _database()}
    if settings.REDIS_URL:
        checks["redis"] = _redis()
    # The limiter's own view (it fails open while its last Redis call failed), for whoever reads the probe.
    limiter = store.status()
    return _answer(checks, rate_limits={"backend": limiter["backend"], "healthy": limiter["healthy"]})
