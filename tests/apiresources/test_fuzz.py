"""A bounded property-based fuzz run of every documented operation (schemathesis): no input may cause a 5xx."""

import os
from collections import Counter

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from apiresources.models import Brand, Campaign
from charp.wsgi import application

# Small by default so the suite stays fast; raise it for a deeper run: FUZZ_EXAMPLES=500 pytest tests/.../test_fuzz.py
MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))


@pytest.fixture
def wsgi_app():
    """The project's real WSGI application, minus the per-request connection recycling (as Django's test client does):
    it would close PostgreSQL's connection in the middle of the test's transaction."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield application
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def token(enterprise_vendor, token_for):
    """A real Enterprise token, so every API is reachable, with a brand and a campaign the fuzzer may hit."""
    brand = Brand.objects.create(vendor=enterprise_vendor.vendor, name="Fuzz brand")
    Campaign.objects.create(vendor=enterprise_vendor.vendor, brand=brand, name="Fuzz campaign")
    return token_for(enterprise_vendor)


def fuzz(operation, mode: GenerationMode, token: str, seen: Counter) -> None:
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case):
        response = case.call(headers={"Authorization": f"Bearer {token}"})
        seen[operation.label, response.status_code // 100] += 1
        assert response.status_code < 500, f"{case.method} {case.formatted_path} -> {response.status_code}: {case}"

    try:
        check()
    except Unsatisfiable:
        # An operation without parameters or body (GET /tools) has no invalid input to generate.
        assert mode is GenerationMode.NEGATIVE, operation.label


@pytest.mark.django_db(transaction=False)
def test_no_documented_operation_answers_5xx_to_generated_input(token, wsgi_app):
    schema = schemathesis.openapi.from_wsgi("/api/schema?format=json", wsgi_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 22  # with /healthz and /readyz
    seen = Counter()
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz(operation, mode, token, seen)
    # The run reached the APIs with a working token (2xx) and was refused where input was bad (4xx).
    assert seen["GET /brands", 2] and seen["GET /tools", 2] and seen["POST /tools/keywords", 2]
    assert seen["POST /brands", 4] and seen["PATCH /campaigns/{id}", 4]
