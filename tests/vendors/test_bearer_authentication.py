"""Bearer tokens on the resource APIs (RFC 6750): signature, database authority, header only, one query."""

import time
from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone
from oauth2_provider.models import AccessToken

from vendors import services

pytestmark = pytest.mark.django_db


def get_brands(client, token: str, **extra):
    return client.get("/brands", HTTP_AUTHORIZATION=f"Bearer {token}", **extra)


def assert_invalid_token(response, fragment: str = ""):
    assert response.status_code == 401, response.content
    assert response.json()["error"] == "invalid_token"
    assert fragment in response.json()["error_description"]
    assert response["WWW-Authenticate"].startswith('Bearer realm="charp", error="invalid_token"')


def test_a_fresh_token_reads_the_api(client, free_vendor, token_for):
    assert get_brands(client, token_for(free_vendor)).status_code == 200


def test_no_token_is_401_with_a_bare_bearer_challenge(client, db):
    response = client.get("/brands")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="charp"'
    assert response.json()["error"] == "unauthorized"


def test_a_token_in_the_query_string_or_body_is_ignored(client, free_vendor, token_for):
    token = token_for(free_vendor)

    assert client.get(f"/brands?access_token={token}").status_code == 401
    assert client.post("/brands", {"access_token": token}, content_type="application/json").status_code == 401


def test_a_forged_signature_is_refused(client, free_vendor, token_for):
    claims = jwt.decode(token_for(free_vendor), options={"verify_signature": False})
    forged = jwt.encode(claims, "guessed-key-0123456789abcdef0123456789", algorithm="HS256")

    assert_invalid_token(get_brands(client, forged), "invalid")


def test_an_unsigned_token_is_refused(client, free_vendor, token_for):
    claims = jwt.decode(token_for(free_vendor), options={"verify_signature": False})
    unsigned = jwt.encode(claims, None, algorithm="none")

    assert_invalid_token(get_brands(client, unsigned))


def test_a_validly_signed_token_that_was_never_issued_is_refused(client, free_vendor, token_for):
    claims = jwt.decode(token_for(free_vendor), options={"verify_signature": False})
    minted = jwt.encode({**claims, "jti": "another"}, settings.JWT_SIGNING_KEYS[0], algorithm="HS256")

    assert_invalid_token(get_brands(client, minted), "revoked")


def test_an_expired_token_is_refused(client, free_vendor, token_for):
    token = token_for(free_vendor)
    AccessToken.objects.update(expires=timezone.now() - timedelta(seconds=1))

    assert_invalid_token(get_brands(client, token), "expired")


def test_an_expired_signature_is_refused_before_the_database(client, free_vendor, django_assert_num_queries):
    claims = {"iss": settings.JWT_ISSUER, "aud": settings.JWT_AUDIENCE, "client_id": "x", "jti": "y"}
    claims |= {"iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600}
    token = jwt.encode(claims, settings.JWT_SIGNING_KEYS[0], algorithm="HS256")

    with django_assert_num_queries(0):
        assert_invalid_token(get_brands(client, token), "expired")


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Bearer a b", "Bearer \u00e9t\u00e9", "bearer x.y.z"])
def test_malformed_authorization_headers_are_401_not_500(client, db, header):
    response = client.get("/brands", HTTP_AUTHORIZATION=header)

    assert response.status_code == 401


def test_a_suspended_vendors_token_fails_at_once(client, free_vendor, token_for):
    token = token_for(free_vendor)

    services.vendor_suspend(vendor=free_vendor.vendor)

    assert_invalid_token(get_brands(client, token))


def test_keys_can_be_rotated_old_key_still_verifies(client, free_vendor, token_for):
    token = token_for(free_vendor)

    with override_settings(JWT_SIGNING_KEYS=["new-key-0123456789abcdef0123456789", *settings.JWT_SIGNING_KEYS]):
        assert get_brands(client, token).status_code == 200
    with override_settings(JWT_SIGNING_KEYS=["new-key-0123456789abcdef0123456789"]):
        assert_invalid_token(get_brands(client, token))


def test_authenticating_a_list_request_costs_one_query_plus_the_list(
    client, free_vendor, token_for, django_assert_num_queries
):
    token = token_for(free_vendor)

    with django_assert_num_queries(2):
        assert get_brands(client, token).status_code == 200
