"""Bearer access tokens on the resource APIs (RFC 6750): header only, signature first, then one SQL query."""

import jwt
from oauth2_provider.models import AccessToken
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from charp.logs import client_id_var

from .reads import access_token_with_vendor
from .tokens import decode_access_token, token_checksum

REALM = "charp"


class InvalidToken(exceptions.AuthenticationFailed):
    """A token was sent but cannot be used; the challenge carries error="invalid_token" (RFC 6750 §3.1)."""

    default_code = "invalid_token"


def authenticate_access_token(token: str) -> AccessToken:
    """Return the live access token row, with its vendor and plan, or raise InvalidToken."""
    try:
        decode_access_token(token)
    except jwt.ExpiredSignatureError:
        raise InvalidToken("The access token has expired. Get a new one at /auth/refresh or /auth/token.") from None
    except jwt.InvalidTokenError:
        raise InvalidToken("The access token is invalid.") from None
    # The database stays the authority: revocation and suspension bite at once, whatever the signature says.
    access_token = access_token_with_vendor(token_checksum(token))
    if access_token is None:
        raise InvalidToken("The access token has been revoked.")
    if access_token.is_expired():
        raise InvalidToken("The access token has expired. Get a new one at /auth/refresh or /auth/token.")
    if not access_token.application.vendor.is_active:
        raise InvalidToken("This client is suspended. Contact Charp support to reactivate it.")
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
        access_token = authenticate_access_token(token)
        client_id_var.set(access_token.application.client_id)  # for the access log
        return access_token.user, access_token

    def authenticate_header(self, request):
        return f'Bearer realm="{REALM}"'
