"""Access tokens are HS256 JWTs with RFC 9068 claims; refresh tokens are opaque random strings."""

import hashlib
import secrets
import time
import uuid

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
        "scope": " ".join(request.scopes or []),
    }
    # PyJWT sorts header keys, giving exactly the spec's {"alg":"HS256","typ":"JWT"}.
    return jwt.encode(claims, settings.JWT_SIGNING_KEYS[0], algorithm="HS256")


def generate_refresh_token(request) -> str:
    """An opaque 256-bit refresh token; set explicitly or DOT would make refresh tokens JWTs too."""
    return secrets.token_urlsafe(32)


def token_checksum(token: str) -> str:
    """The SHA-256 under which DOT stores a token when storage is hashed (RFC 9700)."""
    return hashlib.sha256(token.encode()).hexdigest()


def decode_access_token(token: str) -> dict:
    """Verify signature, expiry, issuer and audience against every configured key; raise jwt.InvalidTokenError."""
    error: jwt.InvalidTokenError = jwt.InvalidSignatureError("no signing key")
    for key in settings.JWT_SIGNING_KEYS:
        try:
            return jwt.decode(
                token,
                key,
                algorithms=["HS256"],
                audience=settings.JWT_AUDIENCE,
                issuer=settings.JWT_ISSUER,
                options={"require": ["exp", "iat", "jti", "client_id"]},
            )
        except jwt.InvalidSignatureError as exc:
            error = exc
    raise error
