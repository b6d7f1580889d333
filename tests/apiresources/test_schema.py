"""The OpenAPI document at /api/schema and the docs at /docs: public, valid, complete, served offline."""

import re

import pytest
from django.urls import get_resolver
from drf_spectacular.validation import validate_schema
from openapi_spec_validator import validate

EXPECTED_OPERATIONS = {
    ("/auth/token", "post"),
    ("/auth/refresh", "post"),
    ("/auth/revoke", "post"),
    ("/.well-known/oauth-authorization-server", "get"),
    ("/brands", "get"),
    ("/brands", "post"),
    ("/brands/{id}", "get"),
    ("/brands/{id}", "put"),
    ("/brands/{id}", "patch"),
    ("/brands/{id}", "delete"),
    ("/campaigns", "get"),
    ("/campaigns", "post"),
    ("/campaigns/{id}", "get"),
    ("/campaigns/{id}", "put"),
    ("/campaigns/{id}", "patch"),
    ("/campaigns/{id}", "delete"),
    ("/tools", "get"),
    ("/tools/utm-builder", "post"),
    ("/tools/keywords", "post"),
    ("/tools/budget-pacing", "post"),
    ("/healthz", "get"),
    ("/readyz", "get"),
}
RESOURCE_PATHS = {
    path for path, _ in EXPECTED_OPERATIONS if not path.startswith(("/auth", "/.well-known", "/healthz", "/readyz"))
}


@pytest.fixture
def schema(api, db):
    response = api.get("/api/schema?format=json", HTTP_AUTHORIZATION="Bearer stale-token-must-not-matter")
    assert response.status_code == 200, response.content
    return response.json()


def operations(schema):
    return {(path, method) for path, item in schema["paths"].items() for method in item}


def test_the_schema_is_a_valid_openapi_3_document(schema):
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)  # drf-spectacular's own check against the OpenAPI 3.0 JSON schema
    validate(schema)  # openapi-spec-validator, including $ref resolution


def test_the_schema_lists_every_endpoint_and_nothing_else(schema):
    assert operations(schema) == EXPECTED_OPERATIONS


def test_every_url_of_the_project_is_documented(schema):
    """Walk the URL conf: each API route must appear in the document (admin, the docs themselves and the operators'
    /metrics excepted)."""
    documented = {re.sub(r"\{[^}]+\}", "{}", path) for path in schema["paths"]}
    for pattern in get_resolver().url_patterns:
        route = str(pattern.pattern)
        skipped = route.startswith(("admin/", "^api/schema", "^docs", "^metrics"))
        if skipped or getattr(pattern, "name", None) == "no-endpoint":
            continue  # (no-endpoint: the last pattern, the JSON 404 of every unknown path)
        for sub in getattr(pattern, "url_patterns", [pattern]):
            regex = str(sub.pattern).lstrip("^").removesuffix("$").removesuffix("/?")
            if "(?P<tool>" in regex or regex.endswith(r"\.(?P<format>[a-z0-9]+)"):
                continue  # the unknown-tool catch-all, and DRF's format suffixes
            path = "/" + re.sub(r"\(\?P<[^>]+>[^)]+\)", "{}", regex).replace("\\", "")
            assert path in documented, f"{path} is served but not documented"


def test_resource_operations_declare_bearer_auth_and_their_error_responses(schema):
    assert schema["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token from `POST /auth/token`, sent as `Authorization: Bearer <token>`.",
    }
    assert schema["components"]["securitySchemes"]["basicAuth"]["scheme"] == "basic"
    for path in RESOURCE_PATHS:
        for method, operation in schema["paths"][path].items():
            assert operation["security"] == [{"bearerAuth": []}], (path, method)
            assert {"401", "403", "429"} <= set(operation["responses"]), (path, method)
            error = operation["responses"]["403"]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/Error"}
            if method in ("post", "put", "patch"):
                assert "requestBody" in operation and "400" in operation["responses"]
    assert "409" in schema["paths"]["/brands/{id}"]["delete"]["responses"]
    assert {"basicAuth": []} in schema["paths"]["/auth/token"]["post"]["security"]


def test_request_bodies_match_the_field_rules(schema):
    components = schema["components"]["schemas"]
    brand = components["BrandRequest"]
    assert brand["required"] == ["name"]
    assert brand["properties"]["name"]["maxLength"] == 200
    assert brand["properties"]["description"]["maxLength"] == 2000
    campaign = components["CampaignRequest"]
    assert set(campaign["required"]) == {"brand", "name"}
    assert "id" not in campaign["properties"] and "created_at" not in campaign["properties"]
    assert components["CampaignStatusEnum"]["enum"] == ["draft", "active", "paused", "completed"]
    assert components["Error"]["required"] == ["error", "error_description"]


def test_the_description_explains_auth_plans_and_errors(schema):
    description = schema["info"]["description"]
    for text in ("/auth/token", "/auth/refresh", "Authorization: Bearer", "| Enterprise |", "validation_error", "next"):
        assert text in description


def test_the_docs_are_public_and_served_offline(api, db):
    response = api.get("/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/api/schema" in html
    assets = re.findall(r'src="([^"]+\.js)"', html)
    # Redoc's bundle comes from this origin with its CDN logo removed (charp/docs.py), for the CSP.
    assert assets == ["/docs/redoc.js"], assets
    bundle = api.get("/docs/redoc.js")
    assert bundle.status_code == 200 and b"cdn.redoc.ly" not in bundle.content and b"Redoc" in bundle.content
    try_it = api.get("/docs/try")
    assert try_it.status_code == 200
    scripts = re.findall(r'<script src="([^"]+)"', try_it.content.decode())
    # The Swagger UI's start-up script is served by the page's own view (?script), not inline: the CSP forbids that.
    assert scripts[-1].startswith("/docs/try?") and all(src.startswith("/static/") for src in scripts[:-1]), scripts
    assert "<script>" not in html and "<script>" not in try_it.content.decode()
    script = api.get(scripts[-1].replace("&amp;", "&"))
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert "/api/schema" in script.content.decode()
    assert api.get(assets[0]).status_code == 200


def test_the_schema_names_the_host_serving_it_as_its_server(api, db, settings):
    """/docs/try sends its requests to `servers`: the install being read, not production."""
    settings.ALLOWED_HOSTS = ["staging.example.test", "api.example.test"]
    served = api.get("/api/schema?format=json", HTTP_HOST="staging.example.test:8000").json()
    assert served["servers"] == [{"url": "http://staging.example.test:8000"}]
    secure = api.get("/api/schema?format=json", HTTP_HOST="api.example.test", secure=True).json()
    assert secure["servers"] == [{"url": "https://api.example.test"}]


def test_an_offline_schema_keeps_the_configured_server(settings):
    from drf_spectacular.generators import SchemaGenerator

    offline = SchemaGenerator().get_schema(request=None, public=True)
    assert offline["servers"] == [{"url": settings.SPECTACULAR_SETTINGS["SERVERS"][0]["url"]}]
    assert offline["servers"][0]["url"].startswith("https://")


def test_a_201_documents_its_location_header(schema):
    for path in ("/brands", "/campaigns"):
        created = schema["paths"][path]["post"]["responses"]["201"]
        assert created["headers"]["Location"]["schema"] == {"type": "string"}, created
        assert "Location" not in str(schema["paths"][path]["post"].get("parameters", []))
