"""The authorization server's HTTP endpoints: /auth/token, /auth/refresh, /auth/revoke and RFC 8414 metadata."""

import functools
import json

from django.conf import settings
from django.core.exceptions import BadRequest, RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.settings import oauth2_settings

from charp.http import methods, metrics
from charp.http.client import client_address
from charp.http.logs import client_id_var
from vendors.limits import store
from vendors.limits.failures import token_endpoint_budget
from vendors.oauth import client_auth
from vendors.oauth.server import RefreshValidator, Validator
from vendors.oauth.tokens import named_refresh

MAX_PARAMETER_LENGTH = 4096
LIMIT_HEADERS = ("Retry-After", "RateLimit-Policy", "RateLimit")
GRANT_TYPES = ("client_credentials", "refresh_token")
# Each says what to do next; the validator (vendors/oauth/server.py) gives more precise ones where it can.
DEFAULT_DESCRIPTIONS = {
    "invalid_client": "Client authentication failed: unknown client ID or wrong client secret. Check both (after a "
    "rotation the previous secret works only during its grace period) and send them again.",
    "invalid_grant": "The refresh token is invalid, expired, revoked or already used. Authenticate with your client "
    "credentials at /auth/token for new tokens.",
    "unsupported_grant_type": "Supported grant types are client_credentials and refresh_token: leave grant_type out "
    "at /auth/token, or send a refresh_token to /auth/refresh.",
    "invalid_scope": "The requested scope is unknown or not included in this client's plan: ask for brands, "
    "campaigns or tools within your plan, or leave scope out.",
    "unauthorized_client": "This client may not use this grant: use client_credentials or refresh_token.",
    "unsupported_token_type": "token_type_hint must be access_token or refresh_token: send one of them, or leave it "
    "out.",
    "invalid_request": "The request is malformed: see /docs for this endpoint's parameters.",
}
JSON_AS_FORM = (
    "The body looks like JSON, but its Content-Type says a form (curl -d sends application/x-www-form-urlencoded "
    "unless told otherwise): send the header Content-Type: application/json."
)
REFRESH_PARAMETER_MISSING = (
    'The refresh_token parameter is missing: send {"refresh_token": "..."} with the refresh_token of your last '
    "token response, or authenticate with your client credentials at /auth/token for new tokens."
)


class InvalidRequest(Exception):
    def __init__(self, description: str, status: int = 400):
        super().__init__(description)
        self.description = description
        self.status = status


def oauth_error(error: str, description: str, status: int = 400, **extra) -> JsonResponse:
    """An RFC 6749 §5.2 error response (`extra` members after the two standard ones)."""
    response = JsonResponse({"error": error, "error_description": description, **extra}, status=status)
    return _no_store(response)


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


def parse_parameters(request: HttpRequest) -> dict[str, str]:
    """Token-endpoint parameters from a JSON object or a form body, every value a bounded string."""
    try:
        if request.content_type == "application/json":
            try:
                data = json.loads(request.body)
            except (ValueError, UnicodeDecodeError):
                raise InvalidRequest("The request body is not valid JSON.") from None
            except RecursionError:
                raise InvalidRequest("The JSON body is nested too deeply.") from None
            if not isinstance(data, dict):
                raise InvalidRequest("The JSON body must be an object.")
            params = {key: value for key, value in data.items() if value is not None}
        elif request.content_type == "application/x-www-form-urlencoded":
            if request.body.lstrip()[:1] == b"{":
                # No form starts with "{": a JSON object sent without its header, which Django would read as one odd
                # parameter name (and the credentials in it as missing).
                raise InvalidRequest(JSON_AS_FORM)
            params = {}
            for key, values in request.POST.lists():
                if len(values) > 1:
                    raise InvalidRequest(f"The parameter '{key}' appears more than once.")
                params[key] = values[0]
        else:
            raise InvalidRequest(
                "Send parameters as application/json or application/x-www-form-urlencoded.", status=415
            )
    except RequestDataTooBig:
        raise InvalidRequest("The request body is too large.", status=413) from None
    except (BadRequest, SuspiciousOperation):
        # Django refuses a form body that is not UTF-8 or has too many fields; answer in the token endpoint's shape.
        raise InvalidRequest("The form body must be UTF-8 encoded, with at most a few parameters.") from None
    for key, value in params.items():
        if not _encodable(key):
            raise InvalidRequest("A parameter name is not valid UTF-8 text.")
        if not isinstance(value, str):
            raise InvalidRequest(f"The parameter '{key}' must be a string.")
        if len(value) > MAX_PARAMETER_LENGTH or "\x00" in value or not _encodable(value):
            raise InvalidRequest(f"The parameter '{key}' is too long or contains invalid characters.")
    return params


def _encodable(text: str) -> bool:
    """False for a lone surrogate (JSON "\\ud800"): no database, hash or response can encode it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@functools.cache
def _dot_backend(validator_class: type) -> object:
    """django-oauth-toolkit's oauthlib backend around our server and `validator_class`, built once per process."""
    server = oauth2_settings.OAUTH2_SERVER_CLASS(validator_class(), **oauth2_settings.server_kwargs)
    return oauth2_settings.OAUTH2_BACKEND_CLASS(server)


def _oauthlib_response(request: HttpRequest, headers: dict, body: str, status: int) -> HttpResponse:
    """Turn oauthlib's answer into ours: always a description, the client's own challenge scheme on a 401."""
    if status >= 400:
        payload = json.loads(body)
        error = payload.pop("error", "invalid_request")
        description = payload.pop("error_description", None) or DEFAULT_DESCRIPTIONS.get(error, "The request failed.")
        payload.pop("error_uri", None)
        payload.pop("state", None)
        response = oauth_error(error, description, status, **payload)
        if status == 401:
            # RFC 6749 §5.2: answer with the scheme the client used; clients authenticate with Basic here.
            response["WWW-Authenticate"] = 'Basic realm="charp", error="invalid_client"'
        for name in LIMIT_HEADERS:
            if name in headers:
                response[name] = headers[name]
        return response
    response = HttpResponse(body, status=status, content_type="application/json")
    for key, value in headers.items():
        if key.lower() != "content-type":
            response[key] = value
    return _no_store(response)


def _counted(check, handled: client_auth.TokenRequest) -> store.Issued | None:
    """The hourly issuance count this request took: the refresh's, counted once its client was known, or the
    client-credentials grant's, counted with the failure budget."""
    return handled.issuance.issued if handled.issuance is not None else check.issued


@method_decorator(csrf_exempt, name="dispatch")
class OAuthView(View):
    """Parses and type-checks the body, then hands the parameters to django-oauth-toolkit's oauthlib core."""

    http_method_names = ["post", "options"]
    # charp.http.methods.MethodMiddleware answers OPTIONS and other methods, with this code (RFC 6749's) on a 405.
    method_not_allowed_code = "invalid_request"
    validator_class: type = Validator
    default_grant_type: str | None = None
    issues_tokens = True  # whether a client-credentials request here counts against the hourly issuance
    endpoint = "token"  # the label of its failed authentications in the metrics

    def http_method_not_allowed(self, request, *args, **kwargs):
        response = oauth_error("invalid_request", f"Use POST for {request.path}.", status=405)
        response["Allow"] = "POST, OPTIONS"
        return response

    def post(self, request: HttpRequest) -> HttpResponse:
        try:
            params = parse_parameters(request)
        except InvalidRequest as exc:
            return oauth_error("invalid_request", exc.description, exc.status)
        if self.default_grant_type and "grant_type" not in params:
            params["grant_type"] = "refresh_token" if "refresh_token" in params else self.default_grant_type
        request.oauth_params = params
        presented = client_auth.presented(request, params)
        if presented.loggable_id:
            client_id_var.set(presented.loggable_id)  # for the access log, whatever the outcome
        # One round trip before any database work: the failure budget of this address (and client ID), the presented
        # client's cache tags and, for a client-credentials grant, one more token counted against its hourly limit.
        guard = token_endpoint_budget(request, presented.client_id)
        tagged, counts_issuance = self.tagged_client(params, presented)
        check = guard.check(tagged, count_issuance=counts_issuance)
        token_request = client_auth.TokenRequest(
            presented,
            check.tags,
            check.issued,
            address=client_address(request),
            judges_address=self.issues_tokens,
            tagged_client_id=tagged,
        )
        with client_auth.handling(token_request) as handled:
            try:
                response = self.respond(request, params)
            except Exception:
                # Answered 5xx (charp.http.errors: the database down, say): no token came of it.
                guard.give_back(_counted(check, handled))
                raise
        if response.status_code == 401 or handled.failed_authentication:
            metrics.AUTH_FAILURES.labels(self.endpoint).inc()
            # Only failures are slowed: over the budget a failure is answered 429 and not counted again, and a request
            # whose credentials are right was served above.
            if check.wait:
                guard.give_back(_counted(check, handled))
                metrics.THROTTLED.labels("failures").inc()
                return self._slow_down(check.wait)
            guard.record_failure(give_back=_counted(check, handled))
        elif response.status_code != 200:
            if response.status_code == 429:  # the only 429 of the backend: IssuanceLimited, tokens per hour
                metrics.THROTTLED.labels("issuance").inc()
            # A refusal (a refresh that lost its race, say): the token it counted was never issued.
            guard.give_back(_counted(check, handled))
        else:
            if self.issues_tokens and params.get("grant_type") in GRANT_TYPES:
                metrics.TOKENS_ISSUED.labels(params["grant_type"]).inc()
            if handled.issuance is not None:
                for name, value in handled.issuance.headers().items():
                    response[name] = value
        return response

    def tagged_client(self, params: dict[str, str], presented: client_auth.Presented) -> tuple[str, bool]:
        """The client whose cache tags the first round trip reads (the one presented), and whether it also counts
        the token asked for against that client's hourly issuance (a client-credentials grant)."""
        counts = self.issues_tokens and params.get("grant_type") == "client_credentials" and bool(presented.client_id)
        return presented.client_id, counts

    @staticmethod
    def _slow_down(wait: int) -> HttpResponse:
        response = oauth_error(
            "slow_down",
            f"Too many failed client authentications from your address. Check the client ID and secret, and retry in "
            f"{wait} s; requests with the right credentials are served meanwhile.",
            429,
        )
        response["Retry-After"] = str(wait)
        return response

    def respond(self, request: HttpRequest, params: dict[str, str]) -> HttpResponse:
        if params.get("grant_type") not in (*GRANT_TYPES, None):
            return oauth_error("unsupported_grant_type", DEFAULT_DESCRIPTIONS["unsupported_grant_type"])
        if params.get("grant_type") == "refresh_token" and "refresh_token" not in params:
            return oauth_error("invalid_request", REFRESH_PARAMETER_MISSING)
        _uri, headers, body, status = _dot_backend(self.validator_class).create_token_response(request)
        return _oauthlib_response(request, headers, body, status)


class TokenView(OAuthView):
    """POST /auth/token: client credentials (JSON as in the spec, or RFC 6749 form) and refresh_token grants."""

    default_grant_type = "client_credentials"


class RefreshView(OAuthView):
    """POST /auth/refresh: rotate a refresh token; client credentials optional but checked when sent."""

    default_grant_type = "refresh_token"
    validator_class = RefreshValidator
    endpoint = "refresh"

    def tagged_client(self, params, presented):
        """A refresh token that names its client (vendors/oauth/tokens.py) gets that client's tags and its issuance
        count in the first round trip, as /auth/token does; credentials for another client leave it to the
        validator (which refuses them)."""
        named = named_refresh(params.get("refresh_token")) if params.get("grant_type") == "refresh_token" else None
        if named is None or presented.client_id not in ("", named.client_id):
            return super().tagged_client(params, presented)
        return named.client_id, True

    def respond(self, request, params):
        if params["grant_type"] != "refresh_token":
            return oauth_error("unsupported_grant_type", "Only grant_type=refresh_token is accepted here.")
        return super().respond(request, params)


class RevokeView(OAuthView):
    """POST /auth/revoke: RFC 7009 revocation; 200 for unknown tokens too."""

    issues_tokens = False
    endpoint = "revoke"

    def respond(self, request, params):
        _uri, headers, body, status = _dot_backend(self.validator_class).create_revocation_response(request)
        if status == 200:
            return _no_store(JsonResponse({}, status=200))
        return _oauthlib_response(request, headers, body, status)


@methods.allow("GET")
def authorization_server_metadata(request: HttpRequest) -> JsonResponse:
    """RFC 8414 metadata listing only what is served."""
    base = request.build_absolute_uri("/").rstrip("/")
    auth_methods = ["client_secret_basic", "client_secret_post"]
    return JsonResponse(
        {
            "issuer": settings.JWT_ISSUER,
            "token_endpoint": f"{base}/auth/token",
            "token_endpoint_auth_methods_supported": auth_methods,
            "revocation_endpoint": f"{base}/auth/revoke",
            "revocation_endpoint_auth_methods_supported": auth_methods,
            "grant_types_supported": list(GRANT_TYPES),
            "response_types_supported": [],
            "scopes_supported": list(oauth2_settings.SCOPES),
            "service_documentation": f"{base}/docs",
        }
    )
