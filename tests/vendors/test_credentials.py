"""Secret rotation with a grace period, suspension, plan changes, and what a database dump would reveal."""

import subprocess
from datetime import timedelta

import pytest
from django.apps import apps
from django.db import connection
from django.utils import timezone
from oauth2_provider.models import AccessToken, RefreshToken

from tests.conftest import get_token, on_postgres
from vendors import services
from vendors.models import AuditEvent, Vendor

from .oauth_helpers import as_json

pytestmark = pytest.mark.django_db


def token_status(client, client_id: str, secret: str) -> int:
    return as_json(client, "/auth/token", {"client_id": client_id, "client_secret": secret}).status_code


def test_the_secret_is_stored_hashed_with_the_fast_peppered_hasher(free_vendor):
    stored = free_vendor.vendor.application.client_secret

    assert stored.startswith("client_hmac_sha256$")
    assert free_vendor.client_secret not in stored


def test_during_the_grace_period_old_and_new_secrets_both_work(client, free_vendor):
    vendor, old = free_vendor.vendor, free_vendor.client_secret

    new = services.vendor_secret_rotate(vendor=vendor, grace=timedelta(hours=1)).client_secret

    assert token_status(client, vendor.client_id, old) == 200
    assert token_status(client, vendor.client_id, new) == 200


def test_after_the_grace_period_the_old_secret_fails(client, free_vendor):
    vendor, old = free_vendor.vendor, free_vendor.client_secret
    new = services.vendor_secret_rotate(vendor=vendor, grace=timedelta(hours=1)).client_secret

    Vendor.objects.filter(pk=vendor.pk).update(previous_secret_expires_at=timezone.now() - timedelta(seconds=1))

    assert token_status(client, vendor.client_id, old) == 401
    assert token_status(client, vendor.client_id, new) == 200


def test_a_rotation_without_grace_ends_the_old_secret_at_once(client, free_vendor):
    vendor, old = free_vendor.vendor, free_vendor.client_secret

    new = services.vendor_secret_rotate(vendor=vendor, grace=timedelta(0)).client_secret

    assert token_status(client, vendor.client_id, old) == 401
    assert token_status(client, vendor.client_id, new) == 200


def test_at_most_two_secrets_live_a_new_rotation_ends_the_older_grace(client, free_vendor):
    vendor, first = free_vendor.vendor, free_vendor.client_secret
    second = services.vendor_secret_rotate(vendor=vendor).client_secret

    third = services.vendor_secret_rotate(vendor=vendor).client_secret

    assert token_status(client, vendor.client_id, first) == 401
    assert token_status(client, vendor.client_id, second) == 200
    assert token_status(client, vendor.client_id, third) == 200


def test_rotation_can_revoke_every_token(client, api, free_vendor):
    tokens = get_token(api, free_vendor)

    services.vendor_secret_rotate(vendor=free_vendor.vendor, revoke_tokens=True)

    assert client.get("/brands", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}").status_code == 401
    assert as_json(client, "/auth/refresh", {"refresh_token": tokens["refresh_token"]}).status_code == 400


def test_rotation_without_revocation_keeps_tokens_working(client, api, free_vendor):
    tokens = get_token(api, free_vendor)

    services.vendor_secret_rotate(vendor=free_vendor.vendor)

    assert client.get("/brands", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}").status_code == 200


def test_suspension_revokes_everything_and_reactivation_allows_new_tokens(client, api, free_vendor):
    tokens = get_token(api, free_vendor)

    services.vendor_suspend(vendor=free_vendor.vendor)

    assert not AccessToken.objects.exists()
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()
    assert token_status(client, free_vendor.vendor.client_id, free_vendor.client_secret) == 400
    services.vendor_reactivate(vendor=free_vendor.vendor)
    assert token_status(client, free_vendor.vendor.client_id, free_vendor.client_secret) == 200
    assert client.get("/brands", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}").status_code == 401


def test_every_action_is_audited_with_its_actor(free_vendor, admin_user):
    vendor = free_vendor.vendor
    services.vendor_secret_rotate(vendor=vendor, actor=admin_user)
    services.vendor_plan_set(vendor=vendor, plan=services.plan_get(code="standard"), actor=admin_user)
    services.vendor_suspend(vendor=vendor)

    events = list(AuditEvent.objects.filter(vendor=vendor).order_by("id").values_list("action", "actor_label"))

    assert events == [
        ("create", "command line"),
        ("rotate_secret", "admin"),
        ("change_plan", "admin"),
        ("suspend", "command line"),
        ("revoke_tokens", "command line"),
    ]


def _every_stored_value() -> str:
    """Every column of every row of every table, as one string: what a database dump would hold."""
    chunks = []
    with connection.cursor() as cursor:
        for model in apps.get_models():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(model._meta.db_table)}")  # noqa: S608
            chunks.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(chunks)


def _issue_everything(api, issued) -> list[str]:
    first = get_token(api, issued)
    refreshed = as_json(api, "/auth/refresh", {"refresh_token": first["refresh_token"]}).json()
    rotated = services.vendor_secret_rotate(vendor=issued.vendor)
    tokens = [pair[kind] for pair in (first, refreshed) for kind in ("access_token", "refresh_token")]
    return [issued.client_secret, rotated.client_secret, *tokens]


def test_no_secret_or_token_is_stored_in_clear(api, free_vendor):
    secrets_issued = _issue_everything(api, free_vendor)

    dump = _every_stored_value()

    assert len(set(secrets_issued)) == 6
    for value in secrets_issued:
        assert value not in dump


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_a_pg_dump_yields_no_usable_secret_or_token(api, free_vendor):
    secrets_issued = _issue_everything(api, free_vendor)
    settings_dict = connection.settings_dict

    dump = subprocess.run(
        ["pg_dump", "-h", settings_dict["HOST"], "-U", settings_dict["USER"], settings_dict["NAME"]],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    assert "oauth2_provider_accesstoken" in dump
    for value in secrets_issued:
        assert value not in dump
