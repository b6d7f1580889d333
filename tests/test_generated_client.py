"""A client generated from the API's own OpenAPI document by openapi-python-client imports and works, unpatched:
token (JSON body, and HTTP Basic), list, create, refresh and revoke against a live server."""

import base64
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db(transaction=True)
GENERATOR = Path(sys.executable).with_name("openapi-python-client")


@pytest.fixture
def charp_client(tmp_path, monkeypatch):
    """The generated package `charp_client`, importable for this test."""
    if not GENERATOR.exists():
        pytest.skip("openapi-python-client is not installed (make test installs it)")
    schema = Client().get("/api/schema?format=json")
    assert schema.status_code == 200
    document = tmp_path / "openapi.json"
    document.write_text(json.dumps(schema.json()))
    generated = subprocess.run(
        [GENERATOR, "generate", "--path", document, "--meta", "none", "--output-path", tmp_path / "charp_client"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    monkeypatch.syspath_prepend(str(tmp_path))
    yield importlib.import_module("charp_client")
    for name in [module for module in sys.modules if module.split(".")[0] == "charp_client"]:
        del sys.modules[name]


def test_a_generated_client_gets_tokens_and_calls_the_apis(charp_client, live_server, enterprise_vendor):
    from charp_client import AuthenticatedClient
    from charp_client.api.authentication import auth_refresh, auth_revoke, auth_token
    from charp_client.api.brands import brands_create, brands_list
    from charp_client.models import AuthRefreshBody, AuthRevokeBody, AuthTokenBody, Brand, BrandRequest, TokenResponse

    client_id, secret = enterprise_vendor.vendor.client_id, enterprise_vendor.client_secret
    # The operations that take client credentials need an AuthenticatedClient: HTTP Basic is one.
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    with AuthenticatedClient(base_url=live_server.url, token=basic, prefix="Basic") as anonymous:
        by_basic = auth_token.sync(client=anonymous, body=AuthTokenBody())
        assert isinstance(by_basic, TokenResponse) and by_basic.token_type == "Bearer"
        by_json = auth_token.sync(client=anonymous, body=AuthTokenBody(client_id=client_id, client_secret=secret))
        assert isinstance(by_json, TokenResponse) and by_json.expires_in == 3600

    with AuthenticatedClient(base_url=live_server.url, token=by_json.access_token) as api:
        created = brands_create.sync_detailed(client=api, body=BrandRequest(name="Generated Co"))
        assert created.status_code == 201 and isinstance(created.parsed, Brand)
        assert created.headers["Location"].endswith(f"/brands/{created.parsed.id}")
        page = brands_list.sync(client=api)
        assert [brand.name for brand in page.results] == ["Generated Co"] and page.next_ is None

        renewed = auth_refresh.sync(client=api, body=AuthRefreshBody(refresh_token=by_json.refresh_token))
        assert isinstance(renewed, TokenResponse) and renewed.refresh_token != by_json.refresh_token
        again = auth_refresh.sync_detailed(client=api, body=AuthRefreshBody(refresh_token=by_json.refresh_token))
        assert again.status_code == 400 and again.parsed.error == "invalid_grant"  # reuse: the family is revoked

    with AuthenticatedClient(base_url=live_server.url, token=basic, prefix="Basic") as anonymous:
        revoked = auth_revoke.sync_detailed(client=anonymous, body=AuthRevokeBody(token=by_basic.access_token))
        assert revoked.status_code == 200
    with AuthenticatedClient(base_url=live_server.url, token=by_basic.access_token) as api:
        assert brands_list.sync_detailed(client=api).status_code == 401
