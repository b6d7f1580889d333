"""The access-token verifier: our header and signature only, every claim checked."""

import time
from types import SimpleNamespace

import jwt
import pytest
from django.conf import settings
from hypothesis import given
from hypothesis import strategies as st

from vendors.oauth.tokens import decode_access_token, generate_access_token

KEY = settings.JWT_SIGNING_KEYS[0]


def issued() -> str:
    plan = SimpleNamespace(allows=lambda api: api == "brands")
    client = SimpleNamespace(client_id="client-1", vendor=SimpleNamespace(plan=plan))
    request = SimpleNamespace(client=client, expires_in=3600, scopes=["brands"])
    return generate_access_token(request)


def claims(**overrides) -> dict:
    now = int(time.time())
    base = {"iss": settings.JWT_ISSUER, "aud": settings.JWT_AUDIENCE, "exp": now + 60, "iat": now}
    return {**base, "jti": "j", "client_id": "c", "sub": "c", "scope": "brands", **overrides}


def test_an_issued_token_is_exactly_what_pyjwt_would_sign():
    token = issued()
    decoded = jwt.decode(token, KEY, algorithms=["HS256"], audience=settings.JWT_AUDIENCE)
    assert token == jwt.encode(decoded, KEY, algorithm="HS256")
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}


def test_an_issued_token_verifies_and_carries_its_claims():
    decoded = decode_access_token(issued())

    assert decoded["client_id"] == decoded["sub"] == "client-1"
    assert decoded["scope"] == "brands"


@pytest.mark.parametrize(
    "token",
    [
        jwt.encode(claims(), KEY, algorithm="HS256", headers={"typ": "at+jwt"}),  # another header, even signed
        jwt.encode(claims(), KEY, algorithm="HS512"),
        jwt.encode(claims(), None, algorithm="none"),
        jwt.encode(claims(iss="https://evil.example"), KEY, algorithm="HS256"),
        jwt.encode(claims(aud="someone-else"), KEY, algorithm="HS256"),
        jwt.encode(claims(aud=[settings.JWT_AUDIENCE]), KEY, algorithm="HS256"),  # one audience, not a list
        jwt.encode({k: v for k, v in claims().items() if k != "jti"}, KEY, algorithm="HS256"),
        "",
        "a.b",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e30.!!!",
    ],
)
def test_anything_but_our_own_token_is_refused(token):
    with pytest.raises(jwt.InvalidTokenError):
        decode_access_token(token)


def test_an_expired_token_is_refused_as_expired():
    with pytest.raises(jwt.ExpiredSignatureError):
        decode_access_token(jwt.encode(claims(exp=int(time.time()) - 1), KEY, algorithm="HS256"))


def test_a_token_from_a_host_whose_clock_runs_ahead_verifies_at_once():
    ahead = int(time.time()) + 30

    assert decode_access_token(jwt.encode(claims(iat=ahead, exp=ahead + 60), KEY, algorithm="HS256"))["iat"] == ahead


def test_a_token_signed_with_an_older_key_verifies(settings):
    token = issued()
    settings.JWT_SIGNING_KEYS = ["new-key-0123456789abcdef0123456789", KEY]

    assert decode_access_token(token)["client_id"] == "client-1"
    settings.JWT_SIGNING_KEYS = ["new-key-0123456789abcdef0123456789"]
    with pytest.raises(jwt.InvalidSignatureError):
        decode_access_token(token)


@given(position=st.integers(min_value=0), replacement=st.sampled_from("AQgw-_xyz0"))
def test_changing_any_character_breaks_the_token(position, replacement):
    token = issued()
    position %= len(token)
    if token[position] in (".", replacement):
        return
    tampered = token[:position] + replacement + token[position + 1 :]
    try:
        decoded = decode_access_token(tampered)
    except jwt.InvalidTokenError:
        return
    # Base64 padding bits can absorb a change in the last character of a segment without changing the bytes.
    assert decoded == decode_access_token(token)
