"""POST /auth/revoke (RFC 7009) and GET /.well-known/oauth-authorization-server (RFC 8414)."""

import pytest
from oauth2_provider.models import AccessToken, RefreshToken

from tests.conftest import get_token

from .oauth_helpers import as_json, credentials, form

pytestmark = pytest.mark.django_db


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_revoking_an_access_token_cuts_access_at_once(client, api, free_vendor):
    tokens = get_token(api, free_vendor)

    response = as_json(client, "/auth/revoke", {"token": tokens["access_token"], **credentials(free_vendor)})

    assert response.status_code == 200
    assert client.get("/brands", **bearer(tokens["access_token"])).status_code == 401
    assert not AccessToken.objects.exists()


def test_revoking_a_refresh_token_revokes_its_access_token(client, api, free_vendor):
    tokens = get_token(api, free_vendor)
    issued = free_vendor

    response = form(
        client,
        "/auth/revoke",
        {"token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
        basic=(issued.vendor.client_id, issued.client_secret),
    )

    assert response.status_code == 200
    assert client.get("/brands", **bearer(tokens["access_token"])).status_code == 401
    assert as_json(client, "/auth/refresh", {"refresh_token": tokens["refresh_token"]}).status_code == 400
    assert RefreshToken.objects.get().revoked is not None


def test_an_unknown_token_is_200(client, free_vendor):
    response = as_json(client, "/auth/revoke", {"token": "never-issued", **credentials(free_vendor)})

    assert response.status_code == 200


def test_a_vendor_cannot_revoke_another_vendors_token(client, api, free_vendor, make_vendor):
    victim = make_vendor("free")
    tokens = get_token(api, victim)

    response = as_json(client, "/auth/revoke", {"token": tokens["access_token"], **credentials(free_vendor)})

    assert response.status_code == 200
    assert client.get("/brands", **bearer(tokens["access_token"])).status_code == 200


def test_revocation_requires_client_authentication(client, api, free_vendor):
    tokens = get_token(api, free_vendor)

    response = as_json(client, "/auth/revoke", {"token": tokens["access_token"]})

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert AccessToken.objects.exists()


def test_revocation_without_a_token_is_invalid_request(client, free_vendor):
    response = as_json(client, "/auth/revoke", credentials(free_vendor))

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_metadata_lists_only_what_is_served(client, db):
    response = client.get("/.well-known/oauth-authorization-server")

    assert response.status_code == 200
    body = response.json()
    assert body["token_endpoint"] == "http://testserver/auth/token"
    assert body["revocation_endpoint"] == "http://testserver/auth/revoke"
    assert body["grant_types_supported"] == ["client_credentials", "refresh_token"]
    assert body["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post"]
    assert "authorization_endpoint" not in body
    assert set(body["scopes_supported"]) == {"brands", "campaigns", "tools"}


def test_dots_stock_urls_are_not_exposed(client, db):
    for path in ("/o/token/", "/o/authorize/", "/o/introspect/", "/o/applications/"):
        assert client.post(path).status_code == 404
