"""One error shape for the whole API: {"error": code, "error_description": sentence, "fields"?: {...}}."""

import logging
import sys
import time

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler


class Conflict(exceptions.APIException):
    """The request is valid but clashes with the current state of a resource (HTTP 409)."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The request conflicts with the current state of the resource."


class PreconditionFailed(exceptions.APIException):
    """If-Match named another version of the object than the current one (HTTP 412, RFC 9110 §13.1.1)."""

    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_code = "precondition_failed"
    default_detail = (
        "This object changed since the version your If-Match names, and nothing was changed: GET it again for its "
        "current ETag, reapply your change and retry with that ETag in If-Match."
    )


CODES = {
    exceptions.ParseError: "invalid_request",
    exceptions.ValidationError: "validation_error",
    exceptions.NotAuthenticated: "unauthorized",
    exceptions.AuthenticationFailed: "invalid_token",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "rate_limited",
    exceptions.PermissionDenied: "forbidden",
    Conflict: "conflict",
    PreconditionFailed: "precondition_failed",
}


# Codes more precise than their class's (CODES), kept as raised.
OWN_CODES = {"invalid_token", "plan_forbidden", "insufficient_scope", "address_not_allowed"}


def _code(exc: exceptions.APIException) -> str:
    if getattr(exc, "default_code", None) in OWN_CODES:
        return exc.default_code
    for exc_class, code in CODES.items():
        if isinstance(exc, exc_class):
            return code
    return getattr(exc, "default_code", "error")


def _description(exc: exceptions.APIException) -> str:
    if isinstance(exc, exceptions.ValidationError):
        return "The request has invalid fields; see 'fields'."
    if isinstance(exc, exceptions.NotAuthenticated):
        return "Authentication required: send 'Authorization: Bearer <access token>' (get one at /auth/token)."
    if isinstance(exc, exceptions.NotFound) and exc.detail == exc.default_detail:
        return "Not found."
    detail = exc.detail
    return str(detail) if not isinstance(detail, dict | list) else str(exc.default_detail)


def _fields(detail) -> dict:
    """DRF's nested ErrorDetail lists, flattened to one message string per field path."""
    if isinstance(detail, list):
        detail = {"non_field_errors": detail}
    fields = {}
    for name, messages in detail.items():
        if isinstance(messages, dict):
            fields.update({f"{name}.{key}": value for key, value in _fields(messages).items()})
        elif isinstance(messages, list) and messages and isinstance(messages[0], dict):
            for index, item in enumerate(messages):
                fields.update({f"{name}.{index}.{key}": value for key, value in _fields(item).items()})
        else:
            items = messages if isinstance(messages, list) else [messages]
            fields[name] = " ".join(str(message) for message in items)
    return fields


def api_exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: shape every API error the same way."""
    if is_database_unavailable(exc):
        return database_unavailable(exc)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        # Services raise Django's ValidationError (the admin and the CLI understand it); the API shapes it too.
        exc = exceptions.ValidationError(as_serializer_error(exc))
    response = exception_handler(exc, context)
    if response is None:
        return None
    code = _code(exc)
    body = {"error": code, "error_description": _description(exc)}
    if isinstance(exc, exceptions.ValidationError):
        body["fields"] = _fields(exc.detail)
    body.update(getattr(exc, "extra", {}))
    if code == "invalid_token":
        description = body["error_description"].replace('"', "'")
        response["WWW-Authenticate"] = f'Bearer realm="charp", error="invalid_token", error_description="{description}"'
    elif code == "insufficient_scope":
        response["WWW-Authenticate"] = 'Bearer realm="charp", error="insufficient_scope"'
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        response["Retry-After"] = str(max(1, int(exc.wait + 0.999)))
    response.data = _encodable(body)
    return response


def _encodable(value):
    """Error messages can quote the input; a lone surrogate quoted from JSON would make the response unencodable."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_encodable(key): _encodable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_encodable(item) for item in value]
    return value


def _json_error(status: int, error: str, description: str) -> JsonResponse:
    return JsonResponse({"error": error, "error_description": description}, status=status)


# Django's own error views, as JSON, for anything that fails outside DRF (unknown URLs, oversized bodies, crashes).
def bad_request(request, exception=None):
    return _json_error(400, "invalid_request", "The request is malformed.")


def permission_denied(request, exception=None):
    return _json_error(403, "forbidden", "You do not have permission to do this.")


def page_not_found(request, exception=None):
    return _json_error(404, "not_found", f"No endpoint at {request.path}. See /docs for the API reference.")


@csrf_exempt  # any method: a POST to a mistyped path is told so, not refused for a CSRF token
def no_endpoint(request, *args, **kwargs):
    """The last URL pattern: an unknown path answers the JSON 404 whatever DEBUG says (with DEBUG on, as under `make
    run`, Django would render its HTML debug page instead of calling handler404)."""
    return page_not_found(request)


def server_error(request):
    # Django calls this inside its `except` block, so an exception that escaped a middleware is still at hand.
    exc = sys.exc_info()[1]
    if is_database_unavailable(exc):
        return database_unavailable(exc)
    return _json_error(500, "server_error", "Something went wrong on our side. It has been logged; please retry.")


# --- Database outages -------------------------------------------------------------------------------------------
# While PostgreSQL restarts or fails over, connections are refused or dropped mid-query. Those requests get a 503
# the client can retry, not a 500; Django's connection health checks (CONN_HEALTH_CHECKS) replace the broken
# connection at the start of the next request, so the workers recover by themselves.

DATABASE_RETRY_AFTER = 5
# An outage is logged once per this many seconds per process, not once per request.
_DATABASE_WARNING_INTERVAL = 30.0
_database_warned_at = -_DATABASE_WARNING_INTERVAL

logger = logging.getLogger("charp.errors")


def is_database_unavailable(exc: BaseException | None) -> bool:
    """Connection refused, closed by the server, or unusable: the database, not the request, is at fault."""
    return isinstance(exc, OperationalError | InterfaceError)


def database_unavailable(exc: BaseException | None = None) -> JsonResponse:
    """503 `service_unavailable` with Retry-After, logged at most every half minute per process."""
    global _database_warned_at
    now = time.monotonic()
    if now - _database_warned_at >= _DATABASE_WARNING_INTERVAL:
        _database_warned_at = now
        logger.warning("Database unavailable (%r); answering 503 until it is back.", exc)
    response = _json_error(
        503,
        "service_unavailable",
        f"The service is briefly unavailable (its database is not answering). Retry in {DATABASE_RETRY_AFTER} s.",
    )
    response["Retry-After"] = str(DATABASE_RETRY_AFTER)
    response["Cache-Control"] = "no-store"
    return response


class DatabaseUnavailableMiddleware:
    """Answers a database outage inside any Django view (/auth/*, the admin) with a JSON 503 and Retry-After;
    DRF views get the same from api_exception_handler, and server_error catches what escapes a middleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if is_database_unavailable(exception):
            return database_unavailable(exception)
        return None


class BodySizeLimitMiddleware:
    """Refuse bodies larger than DATA_UPLOAD_MAX_MEMORY_SIZE before anything reads them (DRF reads without limit)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _json_error(400, "invalid_request", "The Content-Length header is not a number.")
        if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            return _json_error(413, "request_too_large", f"The request body is larger than {limit} bytes.")
        return self.get_response(request)
