"""The vendor management commands: what staff automate, with clear errors and non-zero exits."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from vendors.models import AuditEvent, Vendor

from .oauth_helpers import as_json

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_createvendor_prints_json_with_the_secret_that_works(client):
    created = json.loads(run("createvendor", "Acme", "--plan", "standard", "--email", "ops@acme.test", "--json"))

    assert set(created) >= {"vendor_id", "client_id", "client_secret", "plan"}
    assert created["plan"] == "standard"
    vendor = Vendor.objects.get(pk=created["vendor_id"])
    assert vendor.contact_email == "ops@acme.test" and vendor.client_id == created["client_id"]
    token = as_json(
        client, "/auth/token", {"client_id": created["client_id"], "client_secret": created["client_secret"]}
    )
    assert token.status_code == 200
    assert AuditEvent.objects.get(vendor=vendor).actor_label == "command line"


def test_createvendor_prints_a_human_readable_summary():
    output = run("createvendor", "Acme", "--plan", "free")

    assert "client_id:" in output and "client_secret:" in output and "only this once" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["createvendor", "Acme", "--plan", "platinum"], "Unknown plan 'platinum'"),
        (["createvendor", "   ", "--plan", "free"], "name is required"),
        (["createvendor", "Acme", "--plan", "free", "--email", "not-an-email"], "valid email"),
        (["rotatesecret", "no-such-client"], "No vendor has the client ID"),
        (["setplan", "no-such-client", "free"], "No vendor has the client ID"),
        (["suspendvendor", "no-such-client"], "No vendor has the client ID"),
        (["reactivatevendor", "no-such-client"], "No vendor has the client ID"),
    ],
)
def test_bad_input_is_a_clear_command_error(args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)


def test_bad_arguments_exit_non_zero(free_vendor):
    for args in (["rotatesecret", free_vendor.vendor.client_id, "--grace", "-5"], ["createvendor", "Acme"]):
        with pytest.raises(CommandError):
            run(*args)


def test_rotatesecret_json_reports_the_new_secret_and_the_grace(client, free_vendor):
    client_id = free_vendor.vendor.client_id

    rotated = json.loads(run("rotatesecret", client_id, "--grace", "3600", "--json"))

    assert rotated["client_id"] == client_id and rotated["previous_secret_expires_at"]
    for secret in (rotated["client_secret"], free_vendor.client_secret):
        assert as_json(client, "/auth/token", {"client_id": client_id, "client_secret": secret}).status_code == 200


def test_rotatesecret_with_zero_grace_and_revocation(client, free_vendor):
    client_id = free_vendor.vendor.client_id

    rotated = json.loads(run("rotatesecret", client_id, "--grace", "0", "--revoke-tokens", "--json"))

    assert rotated["previous_secret_expires_at"] is None
    old = as_json(client, "/auth/token", {"client_id": client_id, "client_secret": free_vendor.client_secret})
    assert old.status_code == 401


def test_setplan_suspend_and_reactivate(free_vendor):
    client_id = free_vendor.vendor.client_id

    assert "Enterprise" in run("setplan", client_id, "enterprise")
    assert "suspended" in run("suspendvendor", client_id)
    vendor = Vendor.objects.get(pk=free_vendor.vendor.pk)
    assert vendor.plan.code == "enterprise" and vendor.status == "suspended"
    run("reactivatevendor", client_id)
    assert Vendor.objects.get(pk=vendor.pk).status == "active"


def test_bootstrapdemo_prints_credentials_once_and_is_idempotent(client):
    first = run("bootstrapdemo", "--url", "http://127.0.0.1:8000")
    second = run("bootstrapdemo")

    assert "curl -X POST http://127.0.0.1:8000/auth/token" in first
    secret = first.split("client_secret: ")[1].split()[0]
    client_id = first.split("client_id:     ")[1].split()[0]
    assert as_json(client, "/auth/token", {"client_id": client_id, "client_secret": secret}).status_code == 200
    assert secret not in second and "already set up" in second
    assert Vendor.objects.count() == 1
