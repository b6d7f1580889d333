"""Plan-based access: every plan × every API × read and write, checked live on tokens already issued."""

import pytest

from apiresources.models import Brand, Campaign
from vendors import services

ACCESS = {
    "free": {"brands"},
    "standard": {"brands", "campaigns"},
    "enterprise": {"brands", "campaigns", "tools"},
}
PLANS_INCLUDING = {
    "brands": ["free", "standard", "enterprise"],
    "campaigns": ["standard", "enterprise"],
    "tools": ["enterprise"],
}
UTM = {"url": "https://shop.example", "source": "news", "medium": "email", "campaign": "spring"}


def call(client, api, operation, brand):
    """One read or write of an API, as a vendor would make it."""
    if operation == "read":
        return client.get(f"/{api}")
    if api == "brands":
        return client.post("/brands", {"name": "New brand"}, format="json")
    if api == "campaigns":
        return client.post("/campaigns", {"brand": brand.pk, "name": "New campaign"}, format="json")
    return client.post("/tools/utm-builder", UTM, format="json")


def created(api):
    if api == "brands":
        return Brand.objects.filter(name="New brand").exists()
    if api == "campaigns":
        return Campaign.objects.filter(name="New campaign").exists()
    return None


@pytest.mark.parametrize("operation", ["read", "write"])
@pytest.mark.parametrize("family", ["brands", "campaigns", "tools"])
@pytest.mark.parametrize("plan", ["free", "standard", "enterprise"])
def test_the_plan_matrix(make_vendor, as_vendor, plan, family, operation):
    api = family  # (a parameter named `api` would shadow the `api` client fixture)
    issued = make_vendor(plan)
    brand = Brand.objects.create(vendor=issued.vendor, name="Existing")
    response = call(as_vendor(issued), api, operation, brand)
    if api in ACCESS[plan]:
        assert response.status_code == (201 if operation == "write" and api != "tools" else 200), response.content
        if operation == "write":
            assert created(api) in (True, None)
    else:
        assert response.status_code == 403
        body = response.json()
        assert body["error"] == "plan_forbidden"
        assert (body["plan"], body["api"], body["plans_including"]) == (plan, api, PLANS_INCLUDING[api])
        assert plan.title() in body["error_description"] and api.title() in body["error_description"]
        assert created(api) in (False, None)


def test_a_downgrade_bites_on_a_token_already_issued(enterprise_vendor, as_vendor):
    client = as_vendor(enterprise_vendor)
    assert client.get("/tools").status_code == 200
    assert client.get("/campaigns").status_code == 200

    services.vendor_plan_set(vendor=enterprise_vendor.vendor, plan=services.plan_get(code="free"))

    assert client.get("/tools").json()["error"] == "plan_forbidden"
    response = client.post("/campaigns", {"brand": 1, "name": "x"}, format="json")
    assert response.status_code == 403 and response.json()["plan"] == "free"
    assert client.get("/brands").status_code == 200


def test_an_upgrade_applies_to_a_token_already_issued(free_vendor, as_vendor):
    client = as_vendor(free_vendor)
    assert client.get("/campaigns").status_code == 403
    assert client.get("/tools").status_code == 403

    services.vendor_plan_set(vendor=free_vendor.vendor, plan=services.plan_get(code="enterprise"))

    assert client.get("/campaigns").status_code == 200
    assert client.post("/tools/utm-builder", UTM, format="json").status_code == 200


def test_a_token_narrowed_by_scope_is_refused_the_other_apis(enterprise_vendor, as_vendor):
    client = as_vendor(enterprise_vendor, scope="brands")
    assert client.get("/brands").status_code == 200
    response = client.get("/campaigns")
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in response["WWW-Authenticate"]


@pytest.mark.parametrize("path", ["/brands", "/campaigns", "/tools", "/brands/1", "/campaigns/1"])
def test_without_a_token_every_api_answers_401_with_a_bearer_challenge(api, db, path):
    response = api.get(path)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert api.post("/tools/keywords", {"text": "hello"}, format="json").status_code == 401


@pytest.mark.parametrize("header", ["Bearer not-a-token", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.forged", "Bearer a b"])
def test_a_bad_token_is_invalid_token(api, db, header):
    response = api.get("/brands", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


def test_a_revoked_token_stops_working_at_once(enterprise_vendor, token_for, api):
    token = token_for(enterprise_vendor)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/brands").status_code == 200
    services.vendor_tokens_revoke(vendor=enterprise_vendor.vendor)
    assert api.get("/brands").json()["error"] == "invalid_token"


def test_tokens_are_only_read_from_the_authorization_header(enterprise_vendor, token_for, api):
    token = token_for(enterprise_vendor)
    assert api.get(f"/brands?access_token={token}").status_code == 401
    response = api.post("/brands", {"name": "x", "access_token": token}, format="json")
    assert response.status_code == 401
    assert not Brand.objects.exists()
