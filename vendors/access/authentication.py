"""Bearer access tokens on the resource APIs (RFC 6750): header only, signature first, then the token's row.

The row (with client, vendor, plan and service user) comes from one indexed query, or from this worker's copy
(vendors/caching/copies.py), which the gate (vendors/access/gate.py) verifies against the vendor's current tag in
the request's first round trip before anything is done with it.
"""

import time
from dataclasses import dataclass

import jwt
from django.conf import settings
from django.http import HttpRequest
from oauth2_provider.models import AccessToken
from rest_framework import exceptions

from vendors.caching import copies
from vendors.caching.lookups import access_token_with_vendor
from vendors.limits import store
from vendors.oauth.tokens import decode_access_token, token_checksum

REALM = "charp"
CHALLENGE = f'Bearer realm="{REALM}"'
EXPIRED = "The access token has expired. Get a new one at /auth/refresh or /auth/token."


class InvalidToken(exceptions.AuthenticationFailed):
    """A token was sent but cannot be used; the challenge carries error="invalid_token" (RFC 6750 §3.1)."""

    default_code = "invalid_token"


@dataclass(frozen=True)
class Bearer:
    """The access token a request presents: its row, and the cache tag to verify when the row is this worker's copy."""

    checksum: str
    client_id: str
    expires_at: int
    access_token: AccessToken
    unverified_tag: str | None = None


def presented_token(request: HttpRequest) -> str | None:
    """The token of an `Authorization: Bearer` header (the scheme in any case), None without one."""
    scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").encode("latin-1", "replace").partition(b" ")
    if scheme.lower() != b"bearer":
        return None
    try:
        token = token.strip().decode("ascii")
    except UnicodeDecodeError:
        raise InvalidToken("The access token is invalid.") from None
    if not token or " " in token:
        raise InvalidToken("The Authorization header must be 'Bearer <access token>'.")
    return token


def authenticate(token: str, *, use_copy: bool) -> Bearer:
    """The token's row, from this worker's copy when `use_copy` (the caller verifies its tag), else the database."""
    checksum = token_checksum(token)
    if use_copy and (cached := copies.tokens.get(checksum)) is not None:
        # This exact string (SHA-256) was verified, signature and row, when it was copied; the keys only change with
        # a restart, which empties the copies.
        tag, (access_token, expires_at) = cached
        try:
            if expires_at <= time.time():
                raise InvalidToken(EXPIRED)
            _check(access_token)  # the clock moves on
            return Bearer(checksum, access_token.application.client_id, expires_at, access_token, unverified_tag=tag)
        except InvalidToken:
            copies.tokens.discard(checksum)  # refuse only on the database's word
    claims = _decode(token)
    client_id, expires_at = claims["client_id"], claims["exp"]
    return Bearer(checksum, client_id, expires_at, from_database(checksum, client_id, expires_at))


def from_database(checksum: str, client_id: str, expires_at: int, tags: store.Tags | None = None) -> AccessToken:
    """The token's row from the database (the authority), copied with the JWT's expiry under the vendor's tags read
    just before."""
    if tags is None and settings.AUTH_CACHE_SECONDS > 0:
        tags = copies.current_tags(client_id)
    access_token = _check(access_token_with_vendor(checksum))
    if tags is not None:
        copies.tokens.put(checksum, tags.auth, (access_token, expires_at))
    return access_token


def _check(access_token: AccessToken | None) -> AccessToken:
    if access_token is None:
        raise InvalidToken("The access token has been revoked.")
    if access_token.is_expired():
        raise InvalidToken(EXPIRED)
    if not access_token.application.vendor.is_active:
        raise InvalidToken("This client is suspended. Contact Charp support to reactivate it.")
    return access_token


def _decode(token: str) -> dict:
    try:
        return decode_access_token(token)
    except jwt.ExpiredSignatureError:
        raise InvalidToken(EXPIRED) from None
    except jwt.InvalidTokenError:
        raise InvalidToken("The access token is invalid.") from None
