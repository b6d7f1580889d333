"""The OpenAPI document's shared parts: the Bearer and Basic schemes, the error shape on every operation, and the
authorization server's endpoints, which are plain Django views that drf-spectacular cannot see on its own."""

from django.conf import settings
from drf_spectacular import openapi
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

ERROR_REF = {"$ref": "#/components/schemas/Error"}
OAUTH_ERROR_REF = {"$ref": "#/components/schemas/OAuthError"}

ERROR_DESCRIPTIONS = {
    400: "Invalid input (`validation_error` with per-field messages in `fields`), a malformed request "
    "(`invalid_request`), or an `Idempotency-Key` that is not 1-255 printable ASCII characters "
    "(`invalid_idempotency_key`).",
    401: "No access token (`unauthorized`), or an invalid, expired or revoked one (`invalid_token`); see "
    "`WWW-Authenticate`.",
    403: "Your plan does not include this API (`plan_forbidden`, naming your plan and the plans that include it), "
    "the token's scope does not (`insufficient_scope`), or your client accepts calls only from its allowed addresses "
    "and this one is not among them (`address_not_allowed`, naming the address seen: ask Charp support to add it).",
    404: "No such object among yours (`not_found`). Other vendors' objects are never visible.",
    405: "This path does not take the method sent (`method_not_allowed`); `Allow` lists those it takes. Answered "
    "before the token is read, and not counted against your plan.",
    406: "The `Accept` header refuses JSON (`not_acceptable`): every answer is `application/json`.",
    409: "The request conflicts with the resource's state (`conflict`).",
    412: "The object changed since the version `If-Match` names (`precondition_failed`), and nothing was changed: "
    "GET it again for its current `ETag`, reapply your change and retry.",
    413: "The request body is too large (`request_too_large`).",
    415: "The body is not JSON (`unsupported_media_type`): send `Content-Type: application/json`.",
    422: "This `Idempotency-Key` came with another request (`idempotency_key_reused`): another method, path or "
    "body. Send a new key with each new request.",
    429: "Too many requests this minute for your plan (`rate_limited`), or your plan's monthly quota is used up "
    "(`quota_exceeded`, until `resets_at`: the first of next month, UTC). Retry after the `Retry-After` seconds; "
    "`RateLimit` says what is left.",
    503: "The service is briefly unavailable (`service_unavailable`), e.g. while its database restarts; retry after "
    "the `Retry-After` seconds.",
}


def _example(summary: str, error: str, description: str, **extra) -> dict:
    return {"summary": summary, "value": {"error": error, "error_description": description, **extra}}


# What the API really answers (charp/http/errors.py, vendors/access/, vendors/limits/plan.py); a test sends each
# request and compares the code and the keys.
ERROR_EXAMPLES = {
    400: {
        "validation_error": _example(
            "A field is invalid",
            "validation_error",
            "The request has invalid fields; see 'fields'.",
            fields={"name": "This field is required."},
        ),
        "invalid_request": _example(
            "The body is not valid JSON",
            "invalid_request",
            "JSON parse error - Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
        "invalid_idempotency_key": _example(
            "The Idempotency-Key cannot be one",
            "invalid_idempotency_key",
            "The Idempotency-Key header must be 1 to 255 printable ASCII characters. Send a new unique value (a UUID, "
            "say) with each new request, and the same value only to retry it.",
        ),
    },
    401: {
        "invalid_token": _example("An invalid token", "invalid_token", "The access token is invalid."),
        "unauthorized": _example(
            "No token",
            "unauthorized",
            "Authentication required: send 'Authorization: Bearer <access token>' (get one at /auth/token).",
        ),
    },
    403: {
        "plan_forbidden": _example(
            "Outside your plan",
            "plan_forbidden",
            "Your Free plan does not include the Campaigns API. It is included in: Standard, Enterprise.",
            plan="free",
            api="campaigns",
            plans_including=["standard", "enterprise"],
        ),
        "insufficient_scope": _example(
            "Outside the token's scope",
            "insufficient_scope",
            "This access token was issued with scope 'brands', which does not include 'campaigns' (a refresh keeps "
            "a token's scope). Get a new token at /auth/token without scope, or with one that includes 'campaigns'.",
        ),
        "address_not_allowed": _example(
            "From an address outside your allow-list",
            "address_not_allowed",
            "This client accepts requests only from its allowed addresses, and 203.0.113.9 is not one of them. Call "
            "from an allowed address, or ask Charp support to add this one to your client's allow-list.",
        ),
    },
    404: {"not_found": _example("Not among yours", "not_found", "Not found.")},
    405: {
        "method_not_allowed": _example(
            "A method the path does not take", "method_not_allowed", "/brands does not take DELETE: use GET or POST."
        )
    },
    406: {
        "not_acceptable": _example(
            "Accept refuses JSON", "not_acceptable", "Could not satisfy the request Accept header."
        )
    },
    409: {
        "conflict": _example(
            "The brand has campaigns",
            "conflict",
            "The brand 'Spring shoes' still has 2 campaigns. Delete them or move them to another brand first, then "
            "delete the brand.",
        ),
        "idempotency_key_in_use": _example(
            "The first request with this key still runs",
            "idempotency_key_in_use",
            "A request with this Idempotency-Key is still being processed. Retry after the first request finishes.",
        ),
    },
    412: {
        "precondition_failed": _example(
            "Changed since you read it",
            "precondition_failed",
            "This object changed since the version your If-Match names, and nothing was changed: GET it again for "
            "its current ETag, reapply your change and retry with that ETag in If-Match.",
        )
    },
    413: {
        "request_too_large": _example(
            "Body too large",
            "request_too_large",
            f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.",
        )
    },
    415: {
        "unsupported_media_type": _example(
            "Not JSON", "unsupported_media_type", 'Unsupported media type "text/plain" in request.'
        )
    },
    429: {
        "rate_limited": _example(
            "Over the per-minute limit",
            "rate_limited",
            "Your Free plan allows 60 requests per minute. Retry in 12 seconds.",
            plan="free",
            requests_per_minute=60,
            retry_after=12,
        ),
        "quota_exceeded": _example(
            "Monthly quota used up",
            "quota_exceeded",
            "Your Free plan's monthly quota of 10,000 requests is used up. It resets at 2026-04-01 00:00 UTC.",
            plan="free",
            monthly_quota=10000,
            resets_at="2026-04-01T00:00:00Z",
        ),
    },
    422: {
        "idempotency_key_reused": _example(
            "The key came with another request",
            "idempotency_key_reused",
            f"This Idempotency-Key was already used in the last {settings.IDEMPOTENCY_KEY_HOURS} hours with another "
            "method, path or body. Send a new key with each new request; reuse a key only to retry the same request.",
        )
    },
    503: {
        "service_unavailable": _example(
            "The database is not answering",
            "service_unavailable",
            "The service is briefly unavailable (its database is not answering). Retry in 5 s.",
        )
    },
}

RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}}
REQUEST_ID = {
    "X-Request-ID": {
        "description": "This request's ID: yours when you sent a valid `X-Request-ID` (1-128 of `A-Z a-z 0-9 . _ -`), "
        "otherwise a new one. Quote it when you contact support.",
        "schema": {"type": "string", "pattern": r"^[A-Za-z0-9._-]{1,128}$", "example": "4f1c2a9e0b7d4e3f8a6b5c4d3e2f"},
    }
}
# draft-ietf-httpapi-ratelimit-headers, as vendors/limits/plan.py writes them; "month" only on a plan with a quota.
RATE_LIMIT = {
    "RateLimit-Policy": {
        "description": "Your plan's limits: `q` requests per `w` seconds, per minute and, with a quota, per month.",
        "schema": {"type": "string", "example": '"minute";q=600;w=60, "month";q=1000000;w=2678400'},
    },
    "RateLimit": {
        "description": "What is left: `r` requests, the window gaining room in `t` seconds. Absent while the counters "
        "are briefly unreachable.",
        "schema": {"type": "string", "example": '"minute";r=599;t=60, "month";r=999999;t=2481465'},
    },
}
# Conditional requests on one object (RFC 9110 §13; apiresources/views.py, charp/http/conditional.py).
ETAG = {
    "ETag": {
        "description": "A strong entity tag of this version of the object; every write changes it. Send it back in "
        "`If-None-Match` (GET) or `If-Match` (PUT, PATCH, DELETE).",
        "schema": {"type": "string", "example": '"3f9a1c0e5b7d2a4c6e8f0b1d"'},
    }
}
IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match",
    str,
    OpenApiParameter.HEADER,
    description="ETags of versions you already have (comma-separated, or `*`): if the object is still one of them, "
    "the answer is `304 Not Modified` without a body.",
)
IF_MATCH = OpenApiParameter(
    "If-Match",
    str,
    OpenApiParameter.HEADER,
    description="Change the object only if it is still this version: its ETag from your last read (several may be "
    "sent, comma-separated; `*` matches any version). Otherwise `412 precondition_failed` and nothing changes. "
    "Without it the write applies whatever changed meanwhile.",
)
NOT_MODIFIED = {
    "description": "Not modified: the object is still the version `If-None-Match` names. No body; the headers are "
    "those of the 200.",
    "headers": ETAG,
}

# The gate counts a request only once it knows the token: these answers come before, and carry no RateLimit fields.
UNCOUNTED = {"401", "405", "406", "413", "503"}
ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error of the API has this shape.",
    "required": ["error", "error_description"],
    "properties": {
        "error": {"type": "string", "description": "A stable machine-readable code.", "example": "validation_error"},
        "error_description": {"type": "string", "description": "A sentence for the developer reading the logs."},
        "fields": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "On `validation_error`: one message per offending field (nested fields as `a.b`).",
            "example": {"name": "This field is required."},
        },
        "plan": {
            "type": "string",
            "description": "On `plan_forbidden`, `rate_limited` and `quota_exceeded`: your current plan.",
        },
        "api": {"type": "string", "description": "On `plan_forbidden`: the API your plan lacks."},
        "plans_including": {
            "type": "array",
            "items": {"type": "string"},
            "description": "On `plan_forbidden`: the plans that include that API.",
        },
        "requests_per_minute": {"type": "integer", "description": "On `rate_limited`: your plan's limit."},
        "retry_after": {"type": "integer", "description": "On `rate_limited`: the seconds of `Retry-After`."},
        "monthly_quota": {"type": "integer", "description": "On `quota_exceeded`: your plan's requests per month."},
        "resets_at": {
            "type": "string",
            "format": "date-time",
            "description": "On `quota_exceeded`: when the quota resets, the first of next month (UTC).",
        },
    },
}


def error_response(status: int, description: str | None = None, codes: set[str] | None = None) -> dict:
    """A documented error answer, with an example of each of its `error` codes (by default all of the status)."""
    examples = {code: example for code, example in ERROR_EXAMPLES[status].items() if codes is None or code in codes}
    response = {
        "description": description or ERROR_DESCRIPTIONS[status],
        "content": {"application/json": {"schema": ERROR_REF, "examples": examples}},
    }
    if status in (429, 503):
        response["headers"] = RETRY_AFTER
    return response


# Idempotency-Key (apiresources/idempotency.py), on the writes of views that set `idempotent_writes`.
WRITES = ("POST", "PUT", "PATCH", "DELETE")
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Makes a retry safe: the first answer to this request (status, body, `Content-Type`, `Location`) "
    f"is kept for {settings.IDEMPOTENCY_KEY_HOURS} hours and replayed, with `Idempotent-Replayed: true`, to a retry "
    "with the same key, method, path and body. Send a new unique value (a UUID) with each new request. Keys are "
    "yours alone; 401, 403, 429 and 5xx answers are not kept, so their retry runs again.",
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": 255,
        "pattern": r"^[\x20-\x7E]+$",
        "example": "5f0c9f1e-3a4b-4d6e-8f70-9a1b2c3d4e5f",
    },
}
IDEMPOTENT_REPLAYED = {
    "Idempotent-Replayed": {
        "description": "`true` on an answer replayed to a retry with the same `Idempotency-Key`.",
        "schema": {"type": "string", "enum": ["true"]},
    }
}
# The answers a key keeps for its retries; the others come before the key is read, or are not kept.
KEPT = {"400", "404", "409", "415"}
INVALID_KEY = "The `Idempotency-Key` is not 1-255 printable ASCII characters (`invalid_idempotency_key`)."
IN_USE = "A request with this `Idempotency-Key` is still running (`idempotency_key_in_use`): retry after it finishes."

BEARER_AUTH = ResolvedComponent(
    name="bearerAuth",
    type=ResolvedComponent.SECURITY_SCHEMA,
    object="bearerAuth",
    schema={
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token from `POST /auth/token`, sent as `Authorization: Bearer <token>`.",
    },
)


# What DRF's CharField refuses, as patterns, so that a generated request the document calls valid is accepted: NUL
# always (ProhibitNullCharactersValidator) and, unless blank is allowed, a value that is only whitespace (it is
# trimmed first, by str.strip, whose whitespace is the class below: Python's str.isspace, not JSON Schema's \s).
WHITESPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
TEXT_PATTERN = r"^[^\x00]*$"
NON_BLANK_TEXT_PATTERN = rf"^[^\x00]*[^\x00{WHITESPACE}][^\x00]*$"


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's AutoSchema, documenting the error responses every operation of the API can give."""

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if direction != "request":
            return schema
        if getattr(serializer, "refuses_unknown_fields", False):
            schema["additionalProperties"] = False
        for name, field in serializer.fields.items():
            text = schema["properties"].get(name, {})
            # URLField, EmailField and the like have a format, which says more than this pattern would.
            plain = text.get("type") == "string" and not {"pattern", "enum", "format"} & text.keys()
            if isinstance(field, serializers.CharField) and plain:
                blank_refused = not field.allow_blank and field.trim_whitespace
                text["pattern"] = NON_BLANK_TEXT_PATTERN if blank_refused else TEXT_PATTERN
        return schema

    def get_auth(self):
        # A resource view (one with an API family) is let in by its gate, not by DRF authentication classes.
        if getattr(self.view, "api_family", None) is None:
            return super().get_auth()
        self.registry.register_on_missing(BEARER_AUTH)
        return [{BEARER_AUTH.name: []}]

    def _versioned(self) -> bool:
        """An operation on one object of a view whose objects carry ETags (or its create, which answers one)."""
        return getattr(self.view, "etags", False) and ("{" in self.path or self.method == "POST")

    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        if self._versioned() and self.method == "GET":
            parameters = [*parameters, IF_NONE_MATCH]
        elif self._versioned() and self.method in ("PUT", "PATCH", "DELETE"):
            parameters = [*parameters, IF_MATCH]
        return parameters

    def _idempotent(self) -> bool:
        return getattr(self.view, "idempotent_writes", False) and self.method in WRITES

    def _get_parameters(self):
        parameters = super()._get_parameters()
        return [*parameters, IDEMPOTENCY_KEY] if self._idempotent() else parameters

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        own = set(responses)  # the view's own, e.g. DELETE /brands/{id}'s 409
        resource = getattr(self.view, "api_family", None) is not None
        if self._versioned():
            for status in ("200", "201"):
                if status in responses:
                    responses[status]["headers"] = {**responses[status].get("headers", {}), **ETAG}
            if self.method == "GET":
                responses["304"] = dict(NOT_MODIFIED)
            elif self.method in ("PUT", "PATCH", "DELETE"):
                responses["412"] = error_response(412)
        idempotent = self._idempotent()
        statuses = [503]
        if self.get_auth():
            statuses += [401, 403, 429]
        if resource:
            # MethodMiddleware and DRF's content negotiation answer these on every path, before the gate.
            statuses += [405, 406]
        if self.method in ("POST", "PUT", "PATCH") or self._is_list_view() or idempotent:
            statuses.append(400)
        if self.method in ("POST", "PUT", "PATCH"):
            # Only a body that is read can be of the wrong type: a GET or DELETE ignores its Content-Type.
            statuses += [413, 415]
        if "{" in self.path:
            statuses.append(404)
        if idempotent:
            statuses += [409, 422]
        for status in sorted(statuses):
            responses.setdefault(str(status), error_response(status))
        for status, response in responses.items():
            schema = response.get("content", {}).get("application/json", {}).get("schema")
            if schema == ERROR_REF and status == "409":
                # `conflict` where the view declares it, with its description; `idempotency_key_in_use` on writes.
                codes = {"conflict"} if status in own else set()
                description = response["description"] if status in own else ""
                if idempotent:
                    codes.add("idempotency_key_in_use")
                    description = f"{description} Or: {IN_USE}" if description else IN_USE
                response = responses[status] = error_response(409, description, codes)
            elif schema == ERROR_REF and status == "400":
                # A body's fields and JSON on writes, a query's on lists, the Idempotency-Key on any write.
                codes = {"invalid_idempotency_key"} if idempotent else set()
                if self.method != "DELETE":
                    codes |= {"validation_error", "invalid_request"}
                description = ERROR_DESCRIPTIONS[400] if self.method != "DELETE" else INVALID_KEY
                response = responses[status] = error_response(400, description, codes)
            elif schema == ERROR_REF and int(status) in ERROR_EXAMPLES:
                # A view's own error response keeps its description.
                response = responses[status] = error_response(int(status), response["description"])
            if resource and status not in UNCOUNTED:
                response["headers"] = {**response.get("headers", {}), **RATE_LIMIT}
            if idempotent and (status.startswith("2") or status in KEPT):
                response["headers"] = {**response.get("headers", {}), **IDEMPOTENT_REPLAYED}
        return dict(sorted(responses.items()))


# The /auth/* endpoints take the same fields as an RFC 6749 form too (application/x-www-form-urlencoded), which each
# operation's description says. The document lists JSON only: a required body offered in two media types makes
# openapi-python-client generate code that does not import (its issue #1451), and tests/test_generated_client.py
# generates a client and uses it.
FORM_TOO = (
    " The same fields may be sent as an `application/x-www-form-urlencoded` form (RFC 6749), with the client "
    "credentials in the body or in HTTP Basic."
)


def _json_body(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _oauth_errors(*statuses: int, issuing: bool = False) -> dict:
    descriptions = {
        400: "RFC 6749 §5.2 error; `error_description` says what to do next. `invalid_request`: a parameter is "
        "missing or malformed (it is named), or a JSON body was sent without `Content-Type: application/json`; "
        "`invalid_grant`: the refresh token is unknown, expired, already used (every token from that login is then "
        "revoked: authenticate again at /auth/token) or another client's; `invalid_scope`: the scope named is unknown "
        "or outside your plan; `unauthorized_client`: the client is suspended; `unsupported_grant_type`.",
        401: "`invalid_client`: unknown client ID, wrong secret, missing credentials (named) or unreadable ones. "
        "The `WWW-Authenticate: Basic` header is set.",
        403: "`address_not_allowed`: your client accepts token requests and refreshes only from its allowed "
        "addresses, and this one (named in `error_description`) is not among them: call from an allowed address, or "
        "ask Charp support to add it. Not counted as a failed authentication.",
        405: "Only POST is accepted.",
        413: "The request body is too large.",
        415: "The body is neither JSON nor form-encoded.",
        429: "`slow_down`: too many failed client authentications (wrong credentials, or refresh tokens that are "
        "none of ours) from your address; retry after `Retry-After` seconds. Successful requests are never counted.",
        503: ERROR_DESCRIPTIONS[503],
    }
    responses = {
        str(status): {"description": descriptions[status], "content": {"application/json": {"schema": OAUTH_ERROR_REF}}}
        for status in statuses
    }
    for status in ("429", "503"):
        if status in responses:
            responses[status]["headers"] = RETRY_AFTER
    if issuing and "429" in responses:
        responses["429"]["description"] = (
            "`token_quota_exceeded`: your plan's access tokens per hour (token and refresh requests together) are "
            "used up; the body adds `plan`, `tokens_per_hour` and `retry_after`. Keep using the token you have. "
            f"Or {descriptions[429]}"
        )
        responses["429"]["headers"] = {**RETRY_AFTER, **TOKEN_RATE_LIMIT}
    return responses


# vendors/limits/issuance.py: a plan's access tokens per clock hour, in the same fields as the resource APIs' limits.
TOKEN_RATE_LIMIT = {
    "RateLimit-Policy": {
        "description": "Your plan's access tokens per hour (`q` per `w` seconds); absent on a plan without a limit.",
        "schema": {"type": "string", "example": '"hour";q=1000;w=3600'},
    },
    "RateLimit": {
        "description": "Access tokens left this hour (`r`), and the seconds until the hour resets (`t`).",
        "schema": {"type": "string", "example": '"hour";r=997;t=1800'},
    },
}
TOKEN_RESPONSE = {
    "description": "A new access token (valid `expires_in` seconds) and refresh token. `Cache-Control: no-store`.",
    "headers": TOKEN_RATE_LIMIT,
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TokenResponse"}}},
}
CLIENT_AUTH = [{"basicAuth": []}, {}]  # Basic (RFC 6749 §2.3.1) or client_id/client_secret in the body
# vendors/oauth/views.py's parse_parameters: every member a string of at most 4096 characters without NUL (null reads
# as absent); members the endpoint does not use are ignored, within the same bounds.
OAUTH_TEXT = {"type": "string", "maxLength": 4096, "pattern": TEXT_PATTERN}
OAUTH_TOKEN = {**OAUTH_TEXT, "minLength": 1}
OAUTH_OTHER_MEMBERS = {**OAUTH_TEXT, "description": "Other members are ignored, but must be strings like these."}

AUTH_PATHS = {
    "/auth/token": {
        "post": {
            "operationId": "auth_token",
            "tags": ["Authentication"],
            "summary": "Get an access token",
            "description": "Exchange your client ID and secret for a Bearer access token and a refresh token. "
            "Send them as JSON (as below), or as an RFC 6749 form with `grant_type=client_credentials` and the "
            "credentials in HTTP Basic or the body. `grant_type=refresh_token` is accepted here too. Optionally "
            "narrow the token with `scope` (space-separated API families of your plan). The response's `scope`, like "
            "the JWT's claim, lists the API families your plan includes now (a Free token says `brands`).",
            "security": CLIENT_AUTH,
            "requestBody": {
                "required": True,
                **_json_body(
                    {
                        "type": "object",
                        "properties": {
                            "client_id": OAUTH_TEXT,
                            "client_secret": OAUTH_TEXT,
                            "grant_type": {
                                "type": "string",
                                "enum": ["client_credentials", "refresh_token"],
                                "default": "client_credentials",
                            },
                            "refresh_token": {**OAUTH_TOKEN, "description": "With grant_type=refresh_token."},
                            "scope": {**OAUTH_TEXT, "example": "brands campaigns"},
                        },
                        "additionalProperties": OAUTH_OTHER_MEMBERS,
                        "example": {"client_id": "your_client_id", "client_secret": "your_client_secret"},
                    }
                ),
            },
            "responses": {
                "200": TOKEN_RESPONSE,
                **_oauth_errors(400, 401, 403, 405, 413, 415, 429, 503, issuing=True),
            },
        }
    },
    "/auth/refresh": {
        "post": {
            "operationId": "auth_refresh",
            "tags": ["Authentication"],
            "summary": "Renew an access token",
            "description": "Exchange a refresh token for a new access token and a new refresh token. The refresh "
            "token is rotated: each one works once, and reusing one revokes the whole family. Client credentials "
            "are not required; if you send them they must match the token's client. The new token keeps the "
            "scope the first one was granted (you may narrow it with `scope`), and its `scope` says what your "
            "plan allows now: after an upgrade, the refresh lists the new API families." + FORM_TOO,
            "security": [{}, {"basicAuth": []}],
            "requestBody": {
                "required": True,
                **_json_body(
                    {
                        "type": "object",
                        "required": ["refresh_token"],
                        "properties": {
                            "refresh_token": OAUTH_TOKEN,
                            "client_id": OAUTH_TEXT,
                            "client_secret": OAUTH_TEXT,
                        },
                        "additionalProperties": OAUTH_OTHER_MEMBERS,
                    }
                ),
            },
            "responses": {
                "200": TOKEN_RESPONSE,
                **_oauth_errors(400, 401, 403, 405, 413, 415, 429, 503, issuing=True),
            },
        }
    },
    "/auth/revoke": {
        "post": {
            "operationId": "auth_revoke",
            "tags": ["Authentication"],
            "summary": "Revoke a token",
            "description": "RFC 7009 revocation of one of your access or refresh tokens; client-authenticated. "
            "Answers 200 for an unknown token too, so it reveals nothing." + FORM_TOO,
            "security": CLIENT_AUTH,
            "requestBody": {
                "required": True,
                **_json_body(
                    {
                        "type": "object",
                        "required": ["token"],
                        "properties": {
                            "token": OAUTH_TOKEN,
                            "token_type_hint": {"type": "string", "enum": ["access_token", "refresh_token"]},
                            "client_id": OAUTH_TEXT,
                            "client_secret": OAUTH_TEXT,
                        },
                        "additionalProperties": OAUTH_OTHER_MEMBERS,
                    }
                ),
            },
            "responses": {
                "200": {
                    "description": "Revoked, or unknown.",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                **_oauth_errors(400, 401, 405, 413, 415, 429, 503),
            },
        }
    },
    "/.well-known/oauth-authorization-server": {
        "get": {
            "operationId": "oauth_authorization_server_metadata",
            "tags": ["Authentication"],
            "summary": "Authorization server metadata",
            "description": "RFC 8414 metadata: the token and revocation endpoints, grant types and scopes served.",
            "security": [{}],
            "responses": {
                "200": {
                    "description": "The metadata document.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ServerMetadata"}}},
                },
                "405": error_response(405),
            },
        }
    },
}

_HEALTH_SCHEMA = {
    "type": "object",
    "required": ["status", "checks"],
    "properties": {
        "status": {"type": "string", "enum": ["ok", "degraded", "unavailable"]},
        "checks": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "Each check: `ok`, or why it failed.",
            "example": {"database": "ok", "redis": "ok"},
        },
        "rate_limits": {
            "type": "object",
            "description": "On /readyz: the rate limiter's backend and whether its last call to it succeeded.",
        },
    },
}


def _health_operation(operation_id: str, summary: str, description: str, failure: str) -> dict:
    body = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}}
    return {
        "get": {
            "operationId": operation_id,
            "tags": ["Operations"],
            "summary": summary,
            "description": description,
            "security": [{}],
            "responses": {
                "200": {"description": "Healthy.", **body},
                "405": error_response(405),
                "503": {"description": failure, **body},
            },
        }
    }


HEALTH_PATHS = {
    "/healthz": _health_operation(
        "healthz",
        "Liveness",
        "The process answers; touches neither the database nor Redis. Unauthenticated, not rate-limited, "
        "served over plain HTTP too, `Cache-Control: no-store`.",
        "Not used: a live process always answers 200.",
    ),
    "/readyz": _health_operation(
        "readyz",
        "Readiness",
        "The database answers `SELECT 1` and, when Redis is configured, Redis answers PING. Redis is not required: "
        "while it is down the API fails open and this answers 200 with `status` `degraded`. Unauthenticated, not "
        "rate-limited, served over plain HTTP too, `Cache-Control: no-store`.",
        "The database is unreachable; `checks` names it.",
    ),
}

AUTH_COMPONENTS = {
    "Health": _HEALTH_SCHEMA,
    "Error": ERROR_SCHEMA,
    "OAuthError": {
        "type": "object",
        "description": "An RFC 6749 §5.2 error.",
        "required": ["error", "error_description"],
        "properties": {
            "error": {"type": "string", "example": "invalid_client"},
            "error_description": {"type": "string"},
        },
    },
    "TokenResponse": {
        "type": "object",
        "required": ["access_token", "token_type", "expires_in", "refresh_token", "scope"],
        "properties": {
            "access_token": {"type": "string", "description": "A JWT; send it as `Authorization: Bearer …`."},
            "token_type": {"type": "string", "enum": ["Bearer"]},
            "expires_in": {"type": "integer", "example": 3600},
            "refresh_token": {"type": "string", "description": "Single use; keep it secret."},
            "scope": {
                "type": "string",
                "example": "brands campaigns",
                "description": "The API families this token may call now: its scope within your plan.",
            },
        },
    },
    "ServerMetadata": {
        "type": "object",
        "required": ["issuer", "token_endpoint", "grant_types_supported"],
        "properties": {
            "issuer": {"type": "string"},
            "token_endpoint": {"type": "string", "format": "uri"},
            "token_endpoint_auth_methods_supported": {"type": "array", "items": {"type": "string"}},
            "revocation_endpoint": {"type": "string", "format": "uri"},
            "revocation_endpoint_auth_methods_supported": {"type": "array", "items": {"type": "string"}},
            "grant_types_supported": {"type": "array", "items": {"type": "string"}},
            "response_types_supported": {"type": "array", "items": {"type": "string"}},
            "scopes_supported": {"type": "array", "items": {"type": "string"}},
            "service_documentation": {"type": "string", "format": "uri"},
        },
    },
}


def add_authorization_server(result, generator, request, public):
    """drf-spectacular postprocessing hook: document /auth/* and RFC 8414 metadata, first in the document, and name
    the host serving the document as its server, so that /docs/try calls this install (a local run, a staging host)
    rather than production. Without a request (`manage.py spectacular`) SERVERS stays as configured."""
    if request is not None:
        result["servers"] = [{"url": request.build_absolute_uri("/").rstrip("/")}]
    # Routes match with or without a trailing slash; document the canonical form without it, as the spec writes it.
    paths = {path.rstrip("/") or "/": item for path, item in result.get("paths", {}).items()}
    result["paths"] = {**AUTH_PATHS, **paths, **HEALTH_PATHS}
    for item in result["paths"].values():
        for operation in item.values():
            for response in operation["responses"].values():
                response["headers"] = {**response.get("headers", {}), **REQUEST_ID}  # RequestLogMiddleware's
    for item in paths.values():
        for method, operation in item.items():
            if method in ("post", "put") and "requestBody" in operation:
                operation["requestBody"]["required"] = True  # every create, replace and tool run reads a body
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"] == "id":
                    parameter["schema"] = {"type": "integer", "minimum": 1}
                    parameter["description"] = "The object's id, as returned when it was created."
    components = result.setdefault("components", {})
    components.setdefault("schemas", {}).update(AUTH_COMPONENTS)
    components.setdefault("securitySchemes", {})["basicAuth"] = {
        "type": "http",
        "scheme": "basic",
        "description": "Your client ID and client secret (RFC 6749 §2.3.1), on /auth/token and /auth/revoke.",
    }
    result["tags"] = [
        {"name": "Authentication", "description": "Get, renew and revoke access tokens (OAuth 2.0)."},
        {"name": "brands", "description": "Brands API — every plan."},
        {"name": "campaigns", "description": "Campaigns API — Standard and Enterprise plans."},
        {"name": "tools", "description": "Tools API — Enterprise plan."},
        {"name": "Operations", "description": "Health probes for load balancers."},
    ]
    return result
