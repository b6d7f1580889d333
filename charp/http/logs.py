"""Structured logs: request IDs, one JSON object per line, an access log line per request, and redaction of every
secret, token and Authorization value before any handler writes a record."""

import contextvars
import logging
import re
import sys
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

import pythonjsonlogger.json

from charp.http import metrics
from charp.http.client import client_ip

REDACTED = "[REDACTED]"
SENSITIVE_KEYS = ("client_secret", "refresh_token", "access_token", "token", "password", "authorization")
_KEYS = "|".join(SENSITIVE_KEYS)
_TEXT_PATTERNS = [
    # Authorization header values in any text: "Bearer …", "Basic …"
    re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]{8,}"),
    # JSON, Python reprs and query strings: "client_secret": "…", 'token': '…', token=…, password: …
    re.compile(rf"""(?i)(["']?\b(?:\w*_)?(?:{_KEYS})["']?\s*[:=]\s*)(["']?)(?!\[REDACTED\])[^\s"'&,;}}\]]+"""),
    # A JWT anywhere, whatever surrounds it.
    re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
]
# A %-placeholder right after a sensitive word in a format string ("Validating refresh token %s"): its argument is a
# secret even though nothing in the value says so.
_PLACEHOLDER_AFTER_KEY = re.compile(rf"(?i)(?:{_KEYS.replace('_', '[_ ]')})\W{{0,3}}$")
_PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[#0 +-]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa%]")
# Raw client input that gunicorn echoes (a rejected request line or header, a URI) has no structure to go by: any
# long run of token, base64 or percent-encoded characters in it that looks random (a digit, or both cases) may be a
# secret or its base64, whatever surrounds it. Runs stop at dots, spaces and quotes, and words such as gunicorn's
# setting names (worker_connections) have neither, so they survive.
_OPAQUE = re.compile(r"[A-Za-z0-9+/=_~%-]{16,}")
_DIGIT = re.compile(r"\d")


def _opaque(match: re.Match) -> str:
    run = match.group()
    return REDACTED if _DIGIT.search(run) or (run.lower() != run and run.upper() != run) else run


REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
client_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("client_id", default=None)

access_logger = logging.getLogger("charp.access")


def _is_sensitive(key) -> bool:
    key = str(key).lower().replace("-", "_")
    return any(key == name or key.endswith("_" + name) for name in SENSITIVE_KEYS)


def redact_text(text: str) -> str:
    for pattern in _TEXT_PATTERNS:
        if pattern.groups == 2:
            text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
        else:
            text = pattern.sub(REDACTED, text)
    return text


def redact_raw_text(text: str) -> str:
    """Text echoed from a raw request, with every long opaque run replaced as well as what redact_text replaces."""
    return _OPAQUE.sub(_opaque, redact_text(text))


def redact_path(path: str) -> str:
    """A request path with each segment redacted as raw text: a secret pasted into one segment goes, and the others
    stay readable (as one run, `/campaigns/12345` or any admin page would go whole)."""
    if path in _UNCHANGED_PATHS:
        return path
    redacted = "/".join(redact_raw_text(segment) for segment in redact_text(path).split("/"))
    if redacted == path:
        if len(_UNCHANGED_PATHS) >= 1024:
            _UNCHANGED_PATHS.clear()
        _UNCHANGED_PATHS[path] = None
    return redacted


# Paths that redact_path left whole: asked twice a request (access log, request log), mostly for a few busy paths, at
# 3-4 µs each time (0.1 µs from here). Only those, so that no path with something redacted stays in memory.
_UNCHANGED_PATHS: dict[str, None] = {}


def redact(value):
    """A copy of a log value with sensitive keys' values and secret-looking text replaced."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: REDACTED if _is_sensitive(key) else redact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(item) for item in value)
    if isinstance(value, bytes):
        return redact_text(value.decode("utf-8", "replace"))
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact_text(repr(value) if not isinstance(value, Exception) else str(value))


class _RedactedArgs:
    """The %-format mapping of a record, each value redacted as the format reads it: gunicorn's access-log atoms
    hold every header and environ entry, and a format reads a handful of them."""

    __slots__ = ("_args",)

    def __init__(self, args):
        self._args = args

    def __getitem__(self, key):
        value = self._args[key]  # the mapping's own lookup: gunicorn's SafeAtoms answers "-" for a missing atom
        # gunicorn names headers and environ entries "{authorization}i", "{http_authorization}e".
        name = key[1:].partition("}")[0] if isinstance(key, str) and key.startswith("{") else key
        return REDACTED if _is_sensitive(name) else redact(value)

    def __repr__(self) -> str:
        # "%s" % mapping formats the whole mapping ("token %s" logged with one dict argument).
        return repr({key: self[key] for key in self._args})


class RedactingFilter(logging.Filter):
    """On every handler: replace secrets in the message, its arguments, extras and exception text, in place, so
    that whatever handler comes next sees the redacted record too. With raw=True (gunicorn's own logs, which echo
    rejected requests verbatim) every long opaque run in the message is replaced as well."""

    _STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

    def __init__(self, name: str = "", raw: bool = False):
        super().__init__(name)
        self._redact_message = redact_raw_text if raw else redact_text

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_charp_redacted", False):
            return True
        message = str(record.msg)
        args = record.args
        if args:
            if isinstance(args, Mapping):
                args = _RedactedArgs(args)
            else:
                args = tuple(args)
                positions = [m for m in _PLACEHOLDER.finditer(message) if m.group() != "%%"]
                args = tuple(
                    REDACTED
                    if index < len(positions) and _PLACEHOLDER_AFTER_KEY.search(message[: positions[index].start()])
                    else redact(arg)
                    for index, arg in enumerate(args)
                )
            try:
                message = message % args
            except (TypeError, ValueError, KeyError):
                message = f"{message} {args!r}" if isinstance(args, tuple) else f"{message} [unformattable arguments]"
        record.msg = self._redact_message(message)
        record.args = None
        for key, value in list(vars(record).items()):
            if key in self._STANDARD or key.startswith("_"):
                continue
            if key == "request":
                continue  # Django's HttpRequest: never formatted, only its path is read (below)
            setattr(record, key, REDACTED if _is_sensitive(key) else redact(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
            record.exc_info = None  # the formatter would format the raw traceback again
        record._charp_redacted = True
        return True


class ClientErrorFilter(logging.Filter):
    """Drops django.request's warning for a 4xx response: the access line already records it, once per request;
    its 5xx errors, with their tracebacks, pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        return not (isinstance(status, int) and 400 <= status < 500)


class RequestContextFilter(logging.Filter):
    """Stamp each record with the request ID and the authenticated vendor's client ID of the current request."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            # django.request logs after the middleware has returned, with the request attached.
            request = getattr(record, "request", None)
            record.request_id = getattr(request, "request_id", None) or request_id_var.get()
        if not hasattr(record, "client_id"):
            record.client_id = client_id_var.get()
        return True


class JsonFormatter(pythonjsonlogger.json.JsonFormatter):
    """python-json-logger's formatter, to the project's line: timestamp, level, logger, message, request fields,
    extras (as text unless simple) and exception."""

    def __init__(self):
        super().__init__(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
            reserved_attrs=[*RedactingFilter._STANDARD, "request"],  # _charp_redacted goes as every "_" name does
            json_default=str,
        )

    def add_fields(self, log_data: dict, record: logging.LogRecord, message_dict: dict) -> None:
        log_data["timestamp"] = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        # Neither a dict message's keys nor exc_info: RedactingFilter has turned the message into text and the
        # exception into redacted exc_text (a formatter without it must not print a raw traceback).
        super().add_fields(log_data, record, {})
        if isinstance(record.msg, dict):
            log_data["message"] = record.getMessage()
        for key, value in log_data.items():
            if not isinstance(value, str | int | float | bool | type(None)):
                log_data[key] = str(value)
        request = getattr(record, "request", None)
        if request is not None and "path" not in log_data:
            log_data["method"] = redact_text(getattr(request, "method", None) or "")
            log_data["path"] = redact_text(getattr(request, "path", None) or "")
        if record.exc_text:
            log_data["exception"] = record.exc_text


def incoming_request_id(value: str | None) -> str:
    """The caller's X-Request-ID when it is ≤128 characters of [A-Za-z0-9._-]; otherwise a new one."""
    if value and _VALID_REQUEST_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


class RequestLogMiddleware:
    """Gives each request an ID (honouring a valid incoming X-Request-ID), returns it on the response, counts it in
    the metrics (charp/http/metrics.py) and writes one access-log line: method, path (no query string, no body),
    status, duration, vendor and address."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = incoming_request_id(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id
        request_token = request_id_var.set(request_id)
        client_token = client_id_var.set(None)
        plan_token = metrics.plan_var.set("none")
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            status = response.status_code
            seconds = time.perf_counter() - started
            metrics.observe(request, status, seconds)
            level = logging.WARNING if status >= 500 else logging.INFO
            if access_logger.isEnabledFor(level):
                # Redacted here, field by field: only the client-chosen method and path can carry anything secret,
                # so the record skips the general filter (the line is written on every request). Both are raw client
                # input: a secret pasted into the URL has no key to give it away.
                method, path = redact_raw_text(request.method or ""), redact_path(request.path)
                extra = {
                    "method": method,
                    "path": path,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
                    "client_id": client_id_var.get(),
                    "remote_addr": client_ip(request),
                    "_charp_redacted": True,
                }
                # What Logger.log does, minus findCaller's walk up the stack for a file and line known here: 1.1 of
                # the line's 15.5 µs (JSON to a buffer, best of 40 runs). The process-wide switches that also skipped
                # the thread and process fields saved 0.9 µs more, about 0.1% of a request, and broke every other
                # library's records that print them (gunicorn's "[%(process)d]": "--- Logging error ---" and the
                # raw message on stderr); they are gone.
                record = access_logger.makeRecord(
                    access_logger.name, level, __file__, sys._getframe().f_lineno, "%s %s %s", (method, path, status),
                    None, "RequestLogMiddleware.__call__", extra,
                )  # fmt: skip
                access_logger.handle(record)
            return response
        finally:
            metrics.plan_var.reset(plan_token)
            client_id_var.reset(client_token)
            request_id_var.reset(request_token)
