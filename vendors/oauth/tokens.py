"""Access tokens are HS256 JWTs with RFC 9068 claims; refresh tokens are opaque random strings."""

import base64
import binascii
import hashlib
import hmac
import json
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
    """An opaque 256-bit refresh token; set explicitly or DOT would make refresh tokens JWTs too."""
    return secrets.token_urlsafe(32)


def token_checksum(token: str) -> str:
    """The SHA-256 under which DOT stores a token when storage is hashed (RFC 9700)."""
    return hashlib.sha256(token.encode()).hexdigest()


# Every access token we sign starts with this header; anything else is not ours (and no "alg" games are possible).
HEADER = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=").decode()
REQUIRED_CLAIMS = ("exp", "iat", "jti", "client_id", "iss", "aud")


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def decode_access_token(token: str) -> dict:
    """Verify signature (any configured key, in constant time), expiry, issuer and audience; the claims, or raise
    jwt.InvalidTokenError. Hand-rolled for the one header we issue: PyJWT's general decoder is slower per request."""
    header, _, rest = token.partition(".")
    payload, _, signature = rest.partition(".")
    if header != HEADER or not payload or not signature:
        raise jwt.InvalidTokenError("not one of our access tokens")
    try:
        presented = _b64decode(signature)
    except (binascii.Error, ValueError):
        raise jwt.InvalidSignatureError("malformed signature") from None
    signed = f"{header}.{payload}".encode()
    if not any(
        hmac.compare_digest(hmac.digest(key.encode(), signed, "sha256"), presented) for key in settings.JWT_SIGNING_KEYS
    ):
        raise jwt.InvalidSignatureError("signature verification failed")
    try:
        claims = json.loads(_b64decode(payload))
    except (binascii.Error, ValueError):
        raise jwt.DecodeError("malformed payload") from None
    if not isinstance(claims, dict) or any(claim not in claims for claim in REQUIRED_CLAIMS):
        raise jwt.MissingRequiredClaimError("claims")
    if claims["iss"] != settings.JWT_ISSUER or claims["aud"] != settings.JWT_AUDIENCE:
        raise jwt.InvalidTokenError("wrong issuer or audience")
    if not isinstance(claims["exp"], int) or claims["exp"] <= time.time():
        raise jwt.ExpiredSignatureError("expired")
    return claims
