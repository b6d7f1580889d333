"""POST /auth/token: the spec's JSON request, RFC 6749 form requests, and every error in RFC 6749 §5.2 shape."""

import base64
import json

import jwt
import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from oauth2_provider.models import AccessToken, RefreshToken

from vendors import services
from vendors.oauth.tokens import token_checksum

from .oauth_helpers import as_json, credentials, form

pytestmark = pytest.mark.django_db


def assert_oauth_error(response, status: int, error: str):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["error"] == error
    assert body["error_description"]
    return body


def test_it_issues_a_token_for_the_spec_json_request(client, free_vendor):
    response = as_json(client, "/auth/token", credentials(free_vendor))

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["access_token"].startswith("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.")
    assert AccessToken.objects.filter(application=free_vendor.vendor.application).count() == 1
    assert RefreshToken.objects.filter(application=free_vendor.vendor.application).count() == 1


def test_the_access_token_carries_rfc_9068_claims(client, free_vendor):
    token = as_json(client, "/auth/token", credentials(free_vendor)).json()["access_token"]

    claims = jwt.decode(token, settings.JWT_SIGNING_KEYS[0], algorithms=["HS256"], audience=settings.JWT_AUDIENCE)
    assert {"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"} <= set(claims)
    assert claims["client_id"] == claims["sub"] == free_vendor.vendor.client_id
    assert claims["exp"] - claims["iat"] == 3600


@pytest.mark.parametrize("path", ["/auth/token", "/auth/token/"])
def test_it_accepts_the_path_with_and_without_a_trailing_slash(client, free_vendor, path):
    assert as_json(client, path, credentials(free_vendor)).status_code == 200


def test_it_accepts_an_rfc_6749_form_request_with_http_basic(client, free_vendor):
    issued = free_vendor
    response = form(
        client,
        "/auth/token",
        {"grant_type": "client_credentials"},
        basic=(issued.vendor.client_id, issued.client_secret),
    )

    assert response.status_code == 200
    assert response.json()["token_type"] == "Bearer"


def test_it_accepts_an_rfc_6749_form_request_with_credentials_in_the_body(client, free_vendor):
    response = form(client, "/auth/token", {"grant_type": "client_credentials", **credentials(free_vendor)})

    assert response.status_code == 200


def test_an_explicit_scope_narrows_the_token(client, enterprise_vendor):
    response = as_json(client, "/auth/token", {**credentials(enterprise_vendor), "scope": "brands"})

    assert response.status_code == 200
    assert response.json()["scope"] == "brands"


def test_a_scope_beyond_the_plan_is_refused(client, free_vendor):
    response = as_json(client, "/auth/token", {**credentials(free_vendor), "scope": "brands tools"})

    assert_oauth_error(response, 400, "invalid_scope")
    assert not AccessToken.objects.exists()


def test_a_wrong_secret_is_invalid_client_with_a_challenge(client, free_vendor):
    response = as_json(client, "/auth/token", {"client_id": free_vendor.vendor.client_id, "client_secret": "nope"})

    assert_oauth_error(response, 401, "invalid_client")
    assert response["WWW-Authenticate"].startswith("Basic ")
    assert not AccessToken.objects.exists()


def test_a_wrong_secret_over_http_basic_gets_a_basic_challenge(client, free_vendor):
    response = form(
        client, "/auth/token", {"grant_type": "client_credentials"}, basic=(free_vendor.vendor.client_id, "nope")
    )

    assert_oauth_error(response, 401, "invalid_client")
    assert response["WWW-Authenticate"].startswith("Basic realm=")


def test_an_unknown_client_id_looks_exactly_like_a_wrong_secret(client, free_vendor):
    wrong_secret = as_json(client, "/auth/token", {"client_id": free_vendor.vendor.client_id, "client_secret": "x"})
    unknown_client = as_json(client, "/auth/token", {"client_id": "no-such-client", "client_secret": "x"})

    assert wrong_secret.status_code == unknown_client.status_code == 401
    assert wrong_secret.json() == unknown_client.json()
    assert wrong_secret["WWW-Authenticate"] == unknown_client["WWW-Authenticate"]


def test_basic_and_body_naming_different_clients_is_refused(client, free_vendor, make_vendor):
    other = make_vendor("free")
    response = form(
        client,
        "/auth/token",
        {"grant_type": "client_credentials", "client_id": other.vendor.client_id},
        basic=(free_vendor.vendor.client_id, free_vendor.client_secret),
    )

    assert_oauth_error(response, 401, "invalid_client")


@pytest.mark.parametrize(
    "basic_value",
    [
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no-colon-here").decode(),
        "Basic " + "\xe9".encode().hex(),
    ],
)
def test_a_malformed_basic_header_is_invalid_client(client, free_vendor, basic_value):
    response = form(client, "/auth/token", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=basic_value)

    assert_oauth_error(response, 401, "invalid_client")


def test_a_suspended_vendor_gets_no_token(client, free_vendor):
    services.vendor_suspend(vendor=free_vendor.vendor)

    response = as_json(client, "/auth/token", credentials(free_vendor))

    body = assert_oauth_error(response, 400, "unauthorized_client")
    assert "suspended" in body["error_description"]
    assert not AccessToken.objects.exists()


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be an object"),
        ('"a string"', "must be an object"),
        ('{"client_id": 42, "client_secret": "x"}', "'client_id' must be a string"),
        ('{"client_id": ["a"], "client_secret": "x"}', "'client_id' must be a string"),
        ('{"client_id": "a", "client_secret": {"x": 1}}', "'client_secret' must be a string"),
        ('{"client_id": "a", "client_secret": true}', "'client_secret' must be a string"),
        ('{"client_id": "a\\u0000b", "client_secret": "x"}', "invalid characters"),
        (json.dumps({"client_id": "a" * 5000, "client_secret": "x"}), "too long"),
        ("\xff\xfe", "not valid JSON"),
    ],
)
def test_malformed_json_is_invalid_request(client, body, fragment):
    response = client.post("/auth/token", body, content_type="application/json")

    error = assert_oauth_error(response, 400, "invalid_request")
    assert fragment in error["error_description"]


def test_missing_credentials_are_invalid_client(client, db):
    assert_oauth_error(as_json(client, "/auth/token", {}), 401, "invalid_client")
    assert_oauth_error(as_json(client, "/auth/token", {"client_id": "only-an-id"}), 401, "invalid_client")


def test_a_form_request_without_grant_type_defaults_to_client_credentials(client, free_vendor):
    assert form(client, "/auth/token", credentials(free_vendor)).status_code == 200


def test_an_unsupported_grant_type_is_refused(client, free_vendor):
    for grant in ("password", "authorization_code", "urn:ietf:params:oauth:grant-type:device_code"):
        response = form(client, "/auth/token", {"grant_type": grant, **credentials(free_vendor)})
        assert_oauth_error(response, 400, "unsupported_grant_type")


def test_a_repeated_parameter_is_invalid_request(client, free_vendor):
    body = f"grant_type=client_credentials&client_id={free_vendor.vendor.client_id}&client_id=other"
    response = client.post("/auth/token", body, content_type="application/x-www-form-urlencoded")

    assert_oauth_error(response, 400, "invalid_request")


def test_another_content_type_is_refused_with_415(client, free_vendor):
    response = client.post("/auth/token", "client_id=x", content_type="text/plain")

    assert_oauth_error(response, 415, "invalid_request")


def test_a_huge_body_is_refused_before_it_is_read(client, db):
    response = client.post("/auth/token", "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1), content_type="text/plain")

    assert response.status_code == 413
    assert response.json()["error"] == "request_too_large"


def test_get_is_method_not_allowed_in_the_error_shape(client, db):
    response = client.get("/auth/token")

    assert_oauth_error(response, 405, "invalid_request")
    assert response["Allow"] == "POST, OPTIONS"


def test_no_token_or_secret_appears_in_an_error(client, free_vendor):
    attempt = "attempted-secret-0123456789"
    response = as_json(client, "/auth/token", {"client_id": free_vendor.vendor.client_id, "client_secret": attempt})

    assert free_vendor.client_secret not in response.content.decode()
    assert attempt not in response.content.decode()


def test_tokens_are_stored_only_as_checksums(client, free_vendor):
    body = as_json(client, "/auth/token", credentials(free_vendor)).json()

    access = AccessToken.objects.get()
    refresh = RefreshToken.objects.get()
    assert access.token == "" and refresh.token == ""
    assert access.token_checksum == token_checksum(body["access_token"])
    assert refresh.token_checksum == token_checksum(body["refresh_token"])


def test_issuing_a_token_costs_a_fixed_number_of_queries(client, free_vendor, django_assert_num_queries):
    # client+vendor+plan+user in one query; then, on PostgreSQL, both tokens in one statement (vendors/oauth/writes.py),
    # elsewhere DOT's transaction, access token, refresh token, commit.
    with django_assert_num_queries(2 if connection.vendor == "postgresql" else 5):
        assert as_json(client, "/auth/token", credentials(free_vendor)).status_code == 200


@pytest.mark.parametrize(
    ("plan", "scope"), [("free", "brands"), ("standard", "brands campaigns"), ("enterprise", "brands campaigns tools")]
)
def test_the_default_scope_says_what_the_plan_allows(client, make_vendor, plan, scope):
    body = as_json(client, "/auth/token", credentials(make_vendor(plan))).json()

    assert body["scope"] == scope
    claims = jwt.decode(
        body["access_token"], settings.JWT_SIGNING_KEYS[0], algorithms=["HS256"], audience=settings.JWT_AUDIENCE
    )
    assert claims["scope"] == scope


def test_a_default_token_keeps_following_the_plan_and_says_so_at_its_refresh(client, api, free_vendor):
    tokens = as_json(client, "/auth/token", credentials(free_vendor)).json()
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access_token']}"}
    assert api.get("/campaigns", **bearer).json()["error"] == "plan_forbidden"

    services.vendor_plan_set(vendor=free_vendor.vendor, plan=services.plan_get(code="standard"))

    # The plan is checked live: the upgrade reaches the token already issued; its refresh says what it can do now.
    assert api.get("/campaigns", **bearer).status_code == 200
    refreshed = as_json(client, "/auth/refresh", {"refresh_token": tokens["refresh_token"]}).json()
    assert refreshed["scope"] == "brands campaigns"
    services.vendor_plan_set(vendor=free_vendor.vendor, plan=services.plan_get(code="free"))
    assert api.get("/campaigns", HTTP_AUTHORIZATION=f"Bearer {refreshed['access_token']}").status_code == 403


def test_a_narrowed_token_is_told_to_get_a_new_token(client, api, enterprise_vendor):
    token = as_json(client, "/auth/token", {**credentials(enterprise_vendor), "scope": "brands"}).json()

    response = api.get("/campaigns", HTTP_AUTHORIZATION=f"Bearer {token['access_token']}")

    assert response.status_code == 403 and response.json()["error"] == "insufficient_scope"
    assert "Get a new token at /auth/token" in response.json()["error_description"]


@pytest.mark.parametrize(
    ("scope", "named"), [("brands tools", "'tools'"), ("everything", "'everything'"), ("brands  x y", "'x', 'y'")]
)
def test_invalid_scope_names_the_scope(client, free_vendor, scope, named):
    body = assert_oauth_error(
        as_json(client, "/auth/token", {**credentials(free_vendor), "scope": scope}), 400, "invalid_scope"
    )

    assert named in body["error_description"]


@pytest.mark.parametrize(
    ("body", "named"),
    [({}, "client_id and client_secret are missing"), ({"client_secret": "x"}, "client_id is missing")],
)
def test_missing_credentials_name_the_field(client, db, body, named):
    error = assert_oauth_error(as_json(client, "/auth/token", body), 401, "invalid_client")

    assert error["error_description"].startswith(named)


def test_a_missing_secret_is_named(client, free_vendor):
    body = {"client_id": free_vendor.vendor.client_id}

    error = assert_oauth_error(as_json(client, "/auth/token", body), 401, "invalid_client")

    assert error["error_description"].startswith("client_secret is missing")


@pytest.mark.parametrize("right_secret", [True, False])
def test_json_sent_as_a_form_is_told_to_send_the_header(client, free_vendor, right_secret):
    # curl -d '{"client_id": ...}' without -H "Content-Type: application/json" labels the body a form.
    secret = free_vendor.client_secret if right_secret else "wrong"
    body = json.dumps({"client_id": free_vendor.vendor.client_id, "client_secret": secret})

    for _ in range(settings.AUTH_FAILURES_PER_CLIENT + 2):  # never counted as a failed authentication
        response = client.post("/auth/token", body, content_type="application/x-www-form-urlencoded")
        error = assert_oauth_error(response, 400, "invalid_request")
        assert "Content-Type: application/json" in error["error_description"]
    assert not AccessToken.objects.exists()


def test_the_auth_endpoints_take_posts_without_a_csrf_token(db, free_vendor):
    """Machine clients have no CSRF cookie: a browser-style check would refuse every token request with Django's
    HTML 403 page (the test client skips the check unless told)."""
    strict = Client(enforce_csrf_checks=True)
    body = {"client_id": free_vendor.vendor.client_id, "client_secret": free_vendor.client_secret}
    issued = strict.post("/auth/token", json.dumps(body), content_type="application/json")
    assert issued.status_code == 200
    refresh = json.dumps({"refresh_token": issued.json()["refresh_token"]})
    assert strict.post("/auth/refresh", refresh, content_type="application/json").status_code == 200
    revoke = {**body, "token": issued.json()["access_token"]}
    assert strict.post("/auth/revoke", json.dumps(revoke), content_type="application/json").status_code == 200
