"""Every documented operation, /auth/* included, fuzzed with schemathesis against the project's own OpenAPI document:
no 5xx, and no status code, content type, header or body that the document does not describe."""

import base64
import os
import time
from collections import Counter

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apiresources.models import Brand, Campaign
from tests.conftest import get_token

from .test_fuzz import wsgi_app  # noqa: F401 - the fixture

MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
# The run stays inside CI's budget (with test_fuzz.py, under 90 s): each operation and mode gets an equal share of
# this many seconds, and its examples past that share are skipped, so a slow machine still reaches every operation.
BUDGET_SECONDS = float(os.environ.get("FUZZ_BUDGET_SECONDS", "45"))
MIN_EXAMPLES = 8
TOKEN_POOL = 3 * MAX_EXAMPLES
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
AUTH_OPERATIONS = {"POST /auth/token", "POST /auth/refresh", "POST /auth/revoke"}


@pytest.fixture
def limits_off(settings):
    # Plan limits would turn a fast fuzzer's requests into 429s; the failed-auth throttle would too at /auth/*.
    settings.RATELIMIT_ENABLED = False
    settings.AUTH_FAILURES_PER_IP = 1_000_000
    settings.AUTH_FAILURES_PER_CLIENT = 1_000_000


@pytest.fixture
def caller(enterprise_vendor, token_for, limits_off):
    """An Enterprise vendor (every API reachable) with a brand and a campaign, its credentials and a token."""
    brand = Brand.objects.create(vendor=enterprise_vendor.vendor, name="Fuzz brand")
    Campaign.objects.create(vendor=enterprise_vendor.vendor, brand=brand, name="Fuzz campaign")
    return enterprise_vendor, token_for(enterprise_vendor)


def credentials_header(issued) -> str:
    pair = f"{issued.vendor.client_id}:{issued.client_secret}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def fuzz(operation, mode: GenerationMode, headers_strategy, seen: Counter, deadline: float, steer=None) -> None:
    ran = [0]

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), headers=headers_strategy, real=st.booleans())
    def check(case, headers, real):
        # Past its share of the budget an operation stops, though not before a few examples even on a slow machine.
        if time.monotonic() > deadline and ran[0] >= MIN_EXAMPLES:
            return
        ran[0] += 1
        if real and steer is not None and isinstance(case.body, dict):
            # Random strings never authenticate: half the cases carry real credentials or tokens, so that the
            # success responses are checked against the document too.
            steer(case.body)
        response = case.call(headers=headers)
        seen[operation.label, response.status_code // 100] += 1
        case.validate_response(response, checks=CHECKS)

    try:
        check()
    except Unsatisfiable:
        # An operation without parameters or body (GET /tools) has no invalid input to generate.
        assert mode is GenerationMode.NEGATIVE, operation.label


@pytest.mark.django_db(transaction=False)
def test_every_operation_answers_as_documented_to_generated_input(caller, wsgi_app, api):  # noqa: F811
    issued, token = caller
    bearer = {"Authorization": f"Bearer {token}"}
    basic = {"Authorization": credentials_header(issued)}
    schema = schemathesis.openapi.from_wsgi("/api/schema?format=json", wsgi_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {"POST /auth/token", "POST /auth/refresh", "POST /auth/revoke"} <= {op.label for op in operations}
    assert "GET /.well-known/oauth-authorization-server" in {op.label for op in operations}
    vendor_fields = {"client_id": issued.vendor.client_id, "client_secret": issued.client_secret}
    # Real token pairs issued up front: the test client would reconnect the connection recycling the WSGI fixture
    # turned off, and PostgreSQL's test transaction would lose its connection.
    pool = [get_token(api, issued) for _ in range(TOKEN_POOL)]
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)

    def fresh() -> dict:
        return pool.pop() if pool else {"access_token": "exhausted", "refresh_token": "exhausted"}

    def real_credentials(body):
        body.update(vendor_fields)
        if body.get("grant_type") == "refresh_token" or "refresh_token" in body:
            body["refresh_token"] = fresh()["refresh_token"]

    def strings_only(body):
        # Generated extra members that are not strings are refused before the token is read; which examples have
        # them depends on the seed, which any change to the document moves, so the real ones go without.
        for name in [name for name, value in body.items() if not isinstance(value, str)]:
            del body[name]

    def real_refresh_token(body):
        if "client_id" in body or "client_secret" in body:
            body.update(vendor_fields)
        body["refresh_token"] = fresh()["refresh_token"]
        strings_only(body)

    def real_token(body):
        body.update(vendor_fields)
        body["token"] = fresh()["access_token"]
        strings_only(body)

    steering = {"POST /auth/token": real_credentials, "POST /auth/refresh": real_refresh_token}
    steering["POST /auth/revoke"] = real_token
    seen = Counter()
    share = BUDGET_SECONDS / (2 * len(operations))
    for operation in operations:
        # /auth/* are fuzzed anonymously, with the vendor's real Basic credentials and with a stray Bearer header.
        choices = [{}, basic, bearer] if operation.label in AUTH_OPERATIONS else [bearer]
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            steer = steering.get(operation.label) if mode is GenerationMode.POSITIVE else None
            fuzz(operation, mode, st.sampled_from(choices), seen, time.monotonic() + share, steer)
    # The run reached the APIs with a working token (2xx) and was refused where input was bad (4xx); the token
    # endpoint issued tokens to generated bodies carrying real credentials, and refused the others.
    assert seen["GET /brands", 2] and seen["GET /tools", 2] and seen["POST /tools/keywords", 2]
    assert seen["POST /brands", 4] and seen["PATCH /campaigns/{id}", 4]
    assert seen["POST /auth/token", 2] and seen["POST /auth/token", 4]
    assert seen["POST /auth/refresh", 2] and seen["POST /auth/refresh", 4] and seen["POST /auth/revoke", 2]
    assert seen["GET /.well-known/oauth-authorization-server", 2]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/auth/token", "/auth/refresh", "/auth/revoke"])
def test_the_failed_authentication_throttle_answers_as_documented(path, wsgi_app, settings):  # noqa: F811
    """Found by this fuzz run's checks: /auth/*'s 429 `slow_down` was missing from the document."""
    settings.AUTH_FAILURES_PER_IP = 2
    schema = schemathesis.openapi.from_wsgi("/api/schema?format=json", wsgi_app)
    operation = schema[path]["POST"]
    body = {"client_id": "unknown", "client_secret": "wrong", "refresh_token": "x", "token": "x"}
    statuses = []
    for _ in range(4):
        case = operation.Case(body=body, media_type="application/json", headers={"Authorization": "Basic dTpw"})
        response = case.call()
        statuses.append(response.status_code)
        case.validate_response(response, checks=CHECKS)
    assert statuses[-1] == 429 and response.headers["retry-after"][0].isdigit()
