"""Access tokens are HS256 JWTs with RFC 9068 claims, verified by PyJWT; refresh tokens are opaque to clients,
`<client_id>.<grant>.<random>` (see `generate_refresh_token`).

Signing is by hand, to PyJWT's bytes (tested): every token request signs one; jwt.encode took 27 µs, our signer 17.
"""

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
import uuid
from dataclasses import dataclass

import jwt
from django.conf import settings


def generate_access_token(request, refresh_token: bool = False) -> str:
    """Sign a JWT for the client on an oauthlib request (DOT's ACCESS_TOKEN_GENERATOR hook)."""
    now = int(time.time())
    client_id = request.client.client_id
    claims = {
        "iss": settings.JWT_ISSUER,
        "sub": client_id,
        "aud": settings.JWT_AUDIENCE,
        "exp": now + int(request.expires_in),
        "iat": now,
        "jti": uuid.uuid4().hex,
        "client_id": client_id,
        "scope": " ".join(effective_scopes(request)),
    }
    # Byte for byte what jwt.encode(claims, key, "HS256") gives (tested), without its general machinery: the spec's
    # header {"alg":"HS256","typ":"JWT"}, compact JSON claims, an HMAC-SHA256 signature.
    signed = f"{HEADER}.{_b64encode(json.dumps(claims, separators=(',', ':')).encode())}"
    signature = hmac.digest(settings.JWT_SIGNING_KEYS[0].encode(), signed.encode(), "sha256")
    return f"{signed}.{_b64encode(signature)}"


def effective_scopes(request) -> list[str]:
    """What the token being issued can do now: its granted scopes that the client's plan includes.

    The token's row keeps the grant (every family unless the client narrowed it), which the gate checks against the
    live plan on each request; the token response and the JWT's `scope` claim say what that allows at issuance."""
    plan = request.client.vendor.plan
    return [scope for scope in request.scopes or [] if plan.allows(scope)]


def generate_refresh_token(request) -> str:
    """`<client_id>.<grant>.<random>`: the client ID, the grant (the scope the new access token's row keeps,
    base64url) and 256 random bits; set explicitly or DOT would make refresh tokens JWTs too.

    The client ID lets a refresh take its client, vendor and plan from the worker's cache and count its issuance in
    its first round trip, as /auth/token does; the grant lets it sign the new access token before its one statement
    (vendors/oauth/writes.py). Neither can be forged: the row is found by the checksum of the whole value, and the
    rotation also checks that client and grant against the rows. Clients treat the value as opaque (docs)."""
    grant = generate_refresh_token_grant(" ".join(request.scopes or []))
    return f"{request.client.client_id}.{grant}.{secrets.token_urlsafe(32)}"


def generate_refresh_token_grant(scope: str) -> str:
    """The grant part of a refresh token: its scope, base64url without padding."""
    return _b64encode(scope.encode())


@dataclass(frozen=True)
class NamedRefresh:
    """What a refresh token of the `<client_id>.<grant>.<random>` format says about itself (unverified)."""

    client_id: str
    scope: str


_NAMED_REFRESH = re.compile(r"(?P<client>[A-Za-z0-9]{1,100})\.(?P<grant>[A-Za-z0-9_-]*)\.[A-Za-z0-9_-]{43}")


def named_refresh(token: object) -> NamedRefresh | None:
    """The client and grant a refresh token names, or None for one of the older, wholly random format (which keep
    working until they expire) and for anything else."""
    found = _NAMED_REFRESH.fullmatch(token) if isinstance(token, str) else None
    if found is None or found["client"] == HEADER:  # an access token has the same shape
        return None
    try:
        scope = base64.urlsafe_b64decode(found["grant"] + "=" * (-len(found["grant"]) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return NamedRefresh(found["client"], scope)


def token_checksum(token: str) -> str:
    """The SHA-256 under which DOT stores a token when storage is hashed (RFC 9700)."""
    return hashlib.sha256(token.encode()).hexdigest()


# Every access token we sign starts with this header; anything else is not ours (and no "alg" games are possible).
HEADER = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=").decode()
REQUIRED_CLAIMS = ("exp", "iat", "jti", "client_id", "iss", "aud")
# iat must be there but is not held against this host's clock: a token signed on a host whose clock runs ahead must
# verify here at once. No leeway, which would stretch exp too. The audience is one string, never a list.
_OPTIONS = {"require": list(REQUIRED_CLAIMS), "verify_iat": False, "strict_aud": True}


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def decode_access_token(token: str) -> dict:
    """The claims of one of our tokens, signed with any configured key, or jwt.InvalidTokenError (its subclass
    jwt.ExpiredSignatureError for a genuine token past its expiry)."""
    if token.partition(".")[0] != HEADER:
        raise jwt.InvalidTokenError("not one of our access tokens")
    *newer, last = settings.JWT_SIGNING_KEYS
    for key in newer:
        try:
            return _decode(token, key)
        except jwt.InvalidSignatureError:
            continue  # PyJWT checks the signature before any claim: another key may have signed it
    return _decode(token, last)


def _decode(token: str, key: str) -> dict:
    return jwt.decode(
        token, key, algorithms=["HS256"], audience=settings.JWT_AUDIENCE, issuer=settings.JWT_ISSUER, options=_OPTIONS
    )
