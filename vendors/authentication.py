"""Bearer access tokens on the resource APIs (RFC 6750): header only, signature first, then the token's row.

The row (with client, vendor, plan and service user) comes from one indexed query, or from this worker's cache
(vendors/cache.py) when the view is one whose rate-limit check will verify the cached copy's tag in the same
request, before anything is done with it (`enforce_plan_limits`).
"""

import time

import jwt
from django.conf import settings
from oauth2_provider.models import AccessToken
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from charp.logs import client_id_var

from . import cache
from .reads import access_token_with_vendor
from .tokens import decode_access_token, token_checksum

REALM = "charp"


class InvalidToken(exceptions.AuthenticationFailed):
    """A token was sent but cannot be used; the challenge carries error="invalid_token" (RFC 6750 §3.1)."""

    default_code = "invalid_token"


EXPIRED = "The access token has expired. Get a new one at /auth/refresh or /auth/token."


def _check(access_token: AccessToken | None) -> AccessToken:
    if access_token is None:
        raise InvalidToken("The access token has been revoked.")
    if access_token.is_expired():
        raise InvalidToken(EXPIRED)
    if not access_token.application.vendor.is_active:
        raise InvalidToken("This client is suspended. Contact Charp support to reactivate it.")
    return access_token


def decode(token: str) -> dict:
    try:
        return decode_access_token(token)
    except jwt.ExpiredSignatureError:
        raise InvalidToken(EXPIRED) from None
    except jwt.InvalidTokenError:
        raise InvalidToken("The access token is invalid.") from None


def load(checksum: str, client_id: str, expires_at: int, tags=None) -> AccessToken:
    """The token's row from the database (the authority), cached with the JWT's expiry under the vendor's tags read
    just before."""
    if tags is None and settings.AUTH_CACHE_SECONDS > 0:
        tags = cache.current_tags(client_id)
    access_token = _check(access_token_with_vendor(checksum))
    if tags is not None:
        cache.tokens.put(checksum, tags.auth, (access_token, expires_at))
    return access_token


class BearerTokenAuthentication(BaseAuthentication):
    """Only the Authorization header carries tokens: never the query string or the body (RFC 9700 §4.3.2)."""

    def authenticate(self, request):
        scheme, _, token = get_authorization_header(request).partition(b" ")
        if scheme.lower() != b"bearer":
            return None
        try:
            token = token.strip().decode("ascii")
        except UnicodeDecodeError:
            raise InvalidToken("The access token is invalid.") from None
        if not token or " " in token:
            raise InvalidToken("The Authorization header must be 'Bearer <access token>'.")
        checksum = token_checksum(token)
        access_token = None
        if _verified_later(request):
            cached = cache.tokens.get(checksum)
            if cached is not None:
                # This exact string (SHA-256) was verified, signature and row, when it was cached; the keys only
                # change with a restart, which empties the cache.
                tag, (access_token, expires_at) = cached
                try:
                    if expires_at <= time.time():
                        raise InvalidToken(EXPIRED)
                    _check(access_token)  # the clock moves on
                    request._request.charp_unverified_tag = tag
                    request._request.charp_token = (checksum, access_token.application.client_id, expires_at)
                except InvalidToken:
                    cache.tokens.discard(checksum)  # refuse only on the database's word
                    access_token = None
        if access_token is None:
            claims = decode(token)
            request._request.charp_token = (checksum, claims["client_id"], claims["exp"])
            access_token = load(checksum, claims["client_id"], claims["exp"])
        client_id_var.set(access_token.application.client_id)  # for the access log
        return access_token.user, access_token

    def authenticate_header(self, request):
        return f'Bearer realm="{REALM}"'


def _verified_later(request) -> bool:
    """Whether this request will run enforce_plan_limits, which checks a cached token's tag before it is used."""
    from .throttling import PlanRateThrottle

    view = request.parser_context.get("view") if request.parser_context else None
    return (
        settings.AUTH_CACHE_SECONDS > 0
        and settings.RATELIMIT_ENABLED
        and getattr(view, "api_family", None) is not None
        and PlanRateThrottle in getattr(view, "throttle_classes", ())
    )
