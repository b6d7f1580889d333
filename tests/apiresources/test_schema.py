"""The OpenAPI document at /api/schema and the docs at /docs: public, valid, complete, served offline."""

import hashlib
import json
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import OperationalError
from django.urls import get_resolver
from django.utils import timezone
from drf_spectacular.validation import validate_schema
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from openapi_spec_validator import validate

from apiresources.models import IdempotencyKey
from vendors import services
from vendors.models import Plan

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
# The `error` codes each status of the resource APIs answers with (charp/http/errors.py, vendors/access/,
# vendors/limits/plan.py); each is one named example of that status.
ERROR_CODES = {
    400: {"validation_error", "invalid_request", "invalid_idempotency_key"},
    401: {"invalid_token", "unauthorized"},
    403: {"plan_forbidden", "insufficient_scope", "address_not_allowed"},
    404: {"not_found"},
    405: {"method_not_allowed"},
    406: {"not_acceptable"},
    409: {"conflict", "idempotency_key_in_use"},
    412: {"precondition_failed"},
    413: {"request_too_large"},
    415: {"unsupported_media_type"},
    422: {"idempotency_key_reused"},
    429: {"rate_limited", "quota_exceeded"},
    503: {"service_unavailable"},
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
            assert {"401", "403", "405", "406", "429", "503"} <= set(operation["responses"]), (path, method)
            error = operation["responses"]["403"]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/Error"}
            if method in ("post", "put", "patch"):
                assert "requestBody" in operation and {"400", "413", "415"} <= set(operation["responses"])
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
        parameters = schema["paths"][path]["post"].get("parameters", [])
        assert "Location" not in [parameter["name"] for parameter in parameters]


def test_objects_document_their_etag_and_the_conditional_headers(schema):
    for path in ("/brands", "/campaigns"):
        item = schema["paths"][f"{path}/{{id}}"]
        assert "ETag" in schema["paths"][path]["post"]["responses"]["201"]["headers"]
        assert "ETag" not in schema["paths"][path]["get"]["responses"]["200"].get("headers", {})  # a list has none
        headers = {
            method: {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
            for method, operation in item.items()
        }
        assert headers == {
            "get": {"If-None-Match"},
            "put": {"If-Match", "Idempotency-Key"},
            "patch": {"If-Match", "Idempotency-Key"},
            "delete": {"If-Match", "Idempotency-Key"},
        }, headers
        for method in ("get", "put", "patch"):
            assert "ETag" in item[method]["responses"]["200"]["headers"], (path, method)
        assert "content" not in item["get"]["responses"]["304"]
        assert "ETag" in item["get"]["responses"]["304"]["headers"]
        for method in ("put", "patch", "delete"):
            assert "GET it again" in item[method]["responses"]["412"]["description"], (path, method)
        assert "412" not in item["get"]["responses"] and "304" not in item["patch"]["responses"]


def examples(node, where="#"):
    """Every (where, example, schema) of the document: a schema's own `example`, and the `example` or named
    `examples` of a media type, parameter or header."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from examples(item, f"{where}/{index}")
        return
    if not isinstance(node, dict):
        return
    if "schema" in node:
        if "example" in node:
            yield where, node["example"], node["schema"]
        for name, example in node.get("examples", {}).items():
            yield f"{where}/examples/{name}", example["value"], node["schema"]
    elif "example" in node:
        yield where, node["example"], node
    for key, value in node.items():
        if key not in ("example", "examples"):
            yield from examples(value, f"{where}/{key}")


def test_every_example_is_valid_against_its_own_schema(schema):
    assert schema["openapi"].startswith("3.0.")  # so OpenAPI 3.0's schema dialect (nullable, no type arrays)
    found = list(examples(schema["paths"])) + list(examples(schema["components"], "#/components"))
    assert len(found) > 40, len(found)
    for where, example, subschema in found:
        # The document's components beside the schema, for its "#/components/schemas/…" references.
        validator = OAS30Validator(
            {**subschema, "components": schema["components"]}, format_checker=oas30_format_checker
        )
        errors = [error.message for error in validator.iter_errors(example)]
        assert not errors, (where, errors)


def resource_error_examples(schema):
    for path in sorted(RESOURCE_PATHS):
        for method, operation in schema["paths"][path].items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    yield (path, method, int(status)), response["content"]["application/json"].get("examples", {})


def expected_codes(path: str, method: str, status: int) -> set[str]:
    """A 409 is `conflict` only where a brand in use refuses its deletion, and `idempotency_key_in_use` on writes; a
    400 is about the Idempotency-Key on writes only, and only about it on a DELETE (which reads no body)."""
    if status == 400:
        key = {"invalid_idempotency_key"} if method != "get" else set()
        return key if method == "delete" else key | {"validation_error", "invalid_request"}
    if status != 409:
        return ERROR_CODES[status]
    return {"idempotency_key_in_use"} | ({"conflict"} if (path, method) == ("/brands/{id}", "delete") else set())


def test_each_error_status_has_an_example_of_each_of_its_own_codes(schema):
    for where, named in resource_error_examples(schema):
        codes = {name: example["value"]["error"] for name, example in named.items()}
        assert set(codes.values()) == expected_codes(*where), (where, codes)
        assert all(name == code for name, code in codes.items()), (where, codes)
    too_many = schema["paths"]["/brands"]["get"]["responses"]["429"]
    assert "`quota_exceeded`" in too_many["description"]
    assert "quota_exceeded" in schema["info"]["description"]


@pytest.fixture
def tiny_plans(plans):
    """Two plans to run out of: one request a minute, and one request a month."""
    Plan.objects.create(code="minute", name="Minute", requests_per_minute=1)
    Plan.objects.create(code="month", name="Month", requests_per_minute=100, monthly_quota=1)


def test_each_error_example_is_what_the_api_answers(
    schema, api, make_vendor, free_vendor, standard_vendor, as_vendor, tiny_plans, settings, monkeypatch
):
    """Each documented error example is sent for real: the same status and body (for a 429 the same code and keys:
    its numbers move), with the documented headers."""
    free, standard = as_vendor(free_vendor), as_vendor(standard_vendor)
    brand = standard.post("/brands", {"name": "Spring shoes"}, format="json").json()
    for name in ("Spring sale", "Summer sale"):
        assert standard.post("/campaigns", {"brand": brand["id"], "name": name}, format="json").status_code == 201
    by_minute, by_month = as_vendor(make_vendor("minute")), as_vendor(make_vendor("month"))
    now = timezone.now()
    IdempotencyKey.objects.create(  # a first request still running under this key
        vendor=free_vendor.vendor,
        key="running",
        method="POST",
        path="/brands",
        body_sha256=hashlib.sha256(b'{"name": "Shoes"}').hexdigest(),
        claimed_at=now,
        expires_at=now + timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS),
    )

    def idempotency_key_reused():
        first = free.post("/brands", {"name": "Shoes"}, format="json", HTTP_IDEMPOTENCY_KEY="used")
        assert first.status_code == 201
        return free.post("/brands", {"name": "Hats"}, format="json", HTTP_IDEMPOTENCY_KEY="used")

    allow_listed = make_vendor("free")
    outside_the_allow_list = as_vendor(allow_listed)
    services.vendor_allow_list_set(vendor=allow_listed.vendor, cidrs=["198.51.100.0/24"])

    def database_down(**kwargs):
        raise OperationalError("connection refused")  # what the driver raises while PostgreSQL restarts

    def service_unavailable():
        monkeypatch.setattr("apiresources.selectors.brand_list", database_down)
        return free.get("/brands")

    requests = {
        "validation_error": lambda: free.post("/brands", "{}", content_type="application/json"),
        "invalid_request": lambda: free.post("/brands", "{", content_type="application/json"),
        "invalid_token": lambda: api.get("/brands", HTTP_AUTHORIZATION="Bearer not-a-token"),
        "unauthorized": lambda: api.get("/brands"),
        "plan_forbidden": lambda: free.get("/campaigns"),
        "insufficient_scope": lambda: as_vendor(standard_vendor, scope="brands").get("/campaigns"),
        "address_not_allowed": lambda: outside_the_allow_list.get("/brands", REMOTE_ADDR="203.0.113.9"),
        "not_found": lambda: free.get(f"/brands/{brand['id']}"),  # another vendor's
        "method_not_allowed": lambda: api.delete("/brands"),
        "not_acceptable": lambda: free.get("/brands", HTTP_ACCEPT="text/html"),
        "conflict": lambda: standard.delete(f"/brands/{brand['id']}"),
        "precondition_failed": lambda: standard.patch(
            f"/brands/{brand['id']}", {"name": "Autumn shoes"}, format="json", HTTP_IF_MATCH='"an-older-version"'
        ),
        "idempotency_key_in_use": lambda: free.post(
            "/brands", b'{"name": "Shoes"}', content_type="application/json", HTTP_IDEMPOTENCY_KEY="running"
        ),
        "idempotency_key_reused": idempotency_key_reused,
        "invalid_idempotency_key": lambda: free.delete(f"/brands/{brand['id']}", HTTP_IDEMPOTENCY_KEY="x" * 256),
        "request_too_large": lambda: free.post(
            "/brands", "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1), content_type="application/json"
        ),
        "unsupported_media_type": lambda: free.post("/brands", "name=Shoes", content_type="text/plain"),
        "rate_limited": lambda: by_minute.get("/brands") and by_minute.get("/brands"),
        "quota_exceeded": lambda: by_month.get("/brands") and by_month.get("/brands"),
        "service_unavailable": service_unavailable,
    }
    documented = {}
    for (_, _, status), named in resource_error_examples(schema):
        documented.update({name: (status, example["value"]) for name, example in named.items()})
    assert set(documented) == set(requests)
    for name, send in requests.items():
        status, example = documented[name]
        answer = send()
        assert answer.status_code == status, (name, answer.content)
        body = json.loads(answer.content)
        if status == 429:
            assert body["error"] == example["error"] and set(body) == set(example), (name, body)
        else:
            assert body == example, name
        assert re.fullmatch(r"[A-Za-z0-9._-]{1,128}", answer["X-Request-ID"]), name
        if status in (429, 503):
            assert int(answer["Retry-After"]) >= 1, name
        if status == 429:
            assert answer["RateLimit"] and answer["RateLimit-Policy"], name


def test_every_response_documents_its_headers(schema, api, free_vendor, as_vendor):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                headers = response.get("headers", {})
                assert "X-Request-ID" in headers, (path, method, status)
                if status in ("429", "503") and path not in ("/healthz", "/readyz"):
                    assert headers["Retry-After"]["schema"] == {"type": "integer"}, (path, method, status)
                if path in RESOURCE_PATHS and (status.startswith("2") or status in ("403", "404", "429")):
                    assert {"RateLimit", "RateLimit-Policy"} <= set(headers), (path, method, status)
    answer = as_vendor(free_vendor).get("/brands")
    for name in ("RateLimit", "RateLimit-Policy", "X-Request-ID"):
        assert answer[name], name
    # The token endpoints count access tokens per hour in the same fields (vendors/limits/issuance.py).
    for path in ("/auth/token", "/auth/refresh"):
        responses = schema["paths"][path]["post"]["responses"]
        for status in ("200", "429"):
            assert {"RateLimit", "RateLimit-Policy"} <= set(responses[status]["headers"]), (path, status)
        assert (
            "`token_quota_exceeded`" in responses["429"]["description"]
            and "`slow_down`" in responses["429"]["description"]
        )
    assert "RateLimit" not in schema["paths"]["/auth/revoke"]["post"]["responses"]["200"]["headers"]
    body = {"client_id": free_vendor.vendor.client_id, "client_secret": free_vendor.client_secret}
    issued = api.post("/auth/token", body, format="json")
    assert issued.status_code == 200 and issued["RateLimit-Policy"].startswith('"hour";') and issued["RateLimit"]


def test_query_parameters_document_what_the_code_accepts(schema, free_vendor, as_vendor):
    listed = schema["paths"]["/campaigns"]["get"]["parameters"]
    parameters = {parameter["name"]: parameter["schema"] for parameter in listed}
    assert parameters["brand"] == {"type": "integer", "format": "int64", "minimum": 1}
    client = as_vendor(free_vendor)
    assert client.get("/campaigns?brand=0").status_code in (400, 403)
    for name in ("Shoes", "Hats"):
        client.post("/brands", {"name": name}, format="json")
    cursor = parse_qs(urlsplit(client.get("/brands?limit=1").json()["next"]).query)["cursor"][0]
    pattern = parameters["cursor"]["pattern"]
    assert re.fullmatch(pattern, cursor)
    assert client.get(f"/brands?limit=1&cursor={cursor}").status_code == 200
    assert not re.fullmatch(pattern, cursor + "==")
    assert client.get(f"/brands?limit=1&cursor={cursor}==").status_code == 400


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/tools/utm-builder",
            {"url": "https://a.example", "source": "s", "medium": "m", "campaign": "c", "term": None},
        ),
        (
            "/tools/utm-builder",
            {"url": "https://a.example", "source": "s", "medium": "m", "campaign": "c", "content": ""},
        ),
        ("/tools/keywords", {"text": "coffee beans", "limit": None}),
        (
            "/tools/budget-pacing",
            {"budget": "10", "spent": "1", "start_date": "2026-03-01", "end_date": "2026-03-30", "as_of": None},
        ),
    ],
)
def test_the_tool_schemas_admit_what_the_tools_accept(schema, as_vendor, enterprise_vendor, path, body):
    """An optional field sent as null or blank is read as absent, and the schema says so (schemathesis found it
    documented as invalid); every tool run needs its body."""
    operation = schema["paths"][path]["post"]
    assert operation["requestBody"]["required"] is True
    request = operation["requestBody"]["content"]["application/json"]["schema"]
    validator = OAS30Validator({**request, "components": schema["components"]}, format_checker=oas30_format_checker)
    assert not [error.message for error in validator.iter_errors(body)]
    assert as_vendor(enterprise_vendor).post(path, body, format="json").status_code == 200
    assert as_vendor(enterprise_vendor).post(path).status_code == 400


def test_every_operation_documents_a_4xx_and_the_document_names_a_contact(schema):
    """The rules of Redocly's `recommended` and Spectral's `spectral:oas` that the validator does not check: the
    document passes both with only `info-license` left (there is no license to name)."""
    assert schema["info"]["contact"]["name"]
    missing = [
        (path, method)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if not any(status.startswith("4") for status in operation["responses"])
    ]
    assert not missing


def test_every_write_documents_the_idempotency_key_and_its_answers(schema):
    for path in RESOURCE_PATHS:
        for method, operation in schema["paths"][path].items():
            names = [parameter["name"] for parameter in operation.get("parameters", [])]
            if method == "get":
                assert "Idempotency-Key" not in names and "422" not in operation["responses"], (path, method)
                continue
            key = next(parameter for parameter in operation["parameters"] if parameter["name"] == "Idempotency-Key")
            assert key["in"] == "header" and key["required"] is False
            assert key["schema"]["maxLength"] == 255 and re.fullmatch(key["schema"]["pattern"], "x" * 255)
            assert {"409", "422"} <= set(operation["responses"]), (path, method)
            success = next(status for status in operation["responses"] if status.startswith("2"))
            assert "Idempotent-Replayed" in operation["responses"][success]["headers"], (path, method)
    in_use = schema["paths"]["/brands"]["post"]["responses"]["409"]["description"]
    assert "idempotency_key_in_use" in in_use and "conflict" not in in_use
    deleting = schema["paths"]["/brands/{id}"]["delete"]["responses"]["409"]["description"]
    assert "`conflict`" in deleting and "idempotency_key_in_use" in deleting


PACING = {"budget": "10", "spent": "1", "start_date": "2026-03-01", "end_date": "2026-03-30"}
UTM = {"url": "https://a.example", "source": "s", "medium": "m", "campaign": "c"}


@pytest.mark.parametrize(
    ("path", "body", "valid"),
    [
        ("/brands", {"name": "\tAcme\n", "description": "a\x01b"}, True),  # trimmed; DRF keeps control characters
        ("/brands", {"name": " \u2003\x1c"}, False),  # blank once trimmed (str.strip's whitespace, not \s)
        ("/brands", {"name": "Ac\x00me"}, False),
        ("/brands", {"name": "Acme", "description": "\x00"}, False),
        ("/brands", {"name": 123}, False),  # a number is not a name
        ("/brands", {"name": "Acme", "colour": "red"}, False),  # unknown fields are refused
        ("/campaigns", {"brand": "BRAND", "name": "Spring", "currency": "EUR"}, True),
        ("/campaigns", {"brand": "BRAND", "name": "Spring", "currency": "XYZ"}, False),
        ("/tools/utm-builder", {**UTM, "source": "\tnews letter\n"}, True),
        ("/tools/utm-builder", {**UTM, "source": "news\x01letter"}, False),  # a control character inside
        ("/tools/utm-builder", {**UTM, "source": "\u3000\t"}, False),
        ("/tools/utm-builder", {**UTM, "term": " \n"}, True),  # optional: blank reads as absent
        ("/tools/keywords", {"text": " \n\t"}, False),
        ("/tools/budget-pacing", {**PACING, "spent": 0.005}, True),  # a JSON number is rounded to cents
        ("/tools/budget-pacing", {**PACING, "spent": "0.005"}, False),  # a string says what it means
        ("/tools/budget-pacing", {**PACING, "budget": 10**12 + 1}, False),
        ("/tools/budget-pacing", {**PACING, "budget": "1000000000000.01"}, False),
        ("/auth/refresh", {"refresh_token": ""}, False),
        ("/auth/refresh", {"refresh_token": "unknown", "extra": 5}, False),  # every member is a string
        ("/auth/revoke", {"token": ""}, False),
    ],
)
def test_the_request_bodies_accept_exactly_what_the_api_accepts(
    schema, as_vendor, enterprise_vendor, path, body, valid
):
    """A body the document calls valid is not refused as invalid input, and one it calls invalid is refused: the
    edges that `schemathesis run --checks all` found, text patterns, strict types, currency, money."""
    client = as_vendor(enterprise_vendor)
    if body.get("brand") == "BRAND":
        body = {**body, "brand": client.post("/brands", {"name": "Owner"}, format="json").json()["id"]}
    request = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    validator = OAS30Validator({**request, "components": schema["components"]}, format_checker=oas30_format_checker)
    errors = [error.message for error in validator.iter_errors(body)]
    assert (not errors) is valid, errors
    response = client.post(path, body, format="json")
    if valid:
        assert response.status_code in (200, 201), response.content
    else:
        assert response.status_code == 400, response.content
        expected = {"invalid_request", "invalid_grant"} if path.startswith("/auth/") else {"validation_error"}
        assert response.json()["error"] in expected, response.content


@pytest.mark.parametrize("query", ["?status=", "?brand="])
def test_a_blank_filter_is_refused_as_the_document_says(schema, as_vendor, enterprise_vendor, query):
    name = query[1:-1]
    parameters = schema["paths"]["/campaigns"]["get"]["parameters"]
    listed = {parameter["name"]: parameter["schema"] for parameter in parameters}
    assert list(OAS30Validator(listed[name]).iter_errors(""))
    response = as_vendor(enterprise_vendor).get(f"/campaigns{query}")
    assert response.status_code == 400 and name in response.json()["fields"]
