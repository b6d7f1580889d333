"""Rotating a secret from the admin: confirmation, grace period, the new secret shown once."""

import re

import pytest

from tests.vendors.conftest import confirm
from vendors.models import AuditEvent

pytestmark = pytest.mark.django_db


def rotate_url(vendor) -> str:
    return f"/admin/vendors/vendor/{vendor.pk}/rotate-secret/"


def token_status(api, vendor, secret) -> int:
    return api.post("/auth/token", {"client_id": vendor.client_id, "client_secret": secret}, format="json").status_code


def rotate(client, vendor, data):
    """Rotate as a browser does: the confirmation page, its POST, then the redirect to the one-time secret page."""
    posted = confirm(client, rotate_url(vendor), data)
    assert posted.status_code == 303, posted.status_code
    return client.get(posted["Location"])


def shown_secret(response) -> str:
    return re.search(r'<code id="client-secret">([^<]+)</code>', response.content.decode()).group(1)


def test_the_confirmation_page_offers_the_grace_periods_and_changes_nothing(manager_client, free_vendor, api):
    response = manager_client.get(rotate_url(free_vendor.vendor))

    assert response.status_code == 200
    body = response.content.decode()
    for label in ("None: the current secret stops working now", "1 hour", "24 hours", "7 days"):
        assert label in body
    assert 'name="revoke_tokens"' in body
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.ROTATE_SECRET).exists()
    assert token_status(api, free_vendor.vendor, free_vendor.client_secret) == 200


def test_rotating_with_grace_shows_the_new_secret_once_and_keeps_both_working(
    manager_client, manager, free_vendor, api
):
    vendor = free_vendor.vendor

    response = rotate(manager_client, vendor, {"grace": "3600"})

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.content.decode()
    assert "shown only this once" in body and "previous secret keeps working until" in body
    new_secret = shown_secret(response)
    assert new_secret != free_vendor.client_secret
    assert token_status(api, vendor, new_secret) == 200
    assert token_status(api, vendor, free_vendor.client_secret) == 200
    event = AuditEvent.objects.get(action=AuditEvent.Action.ROTATE_SECRET)
    assert event.actor == manager and event.changes == {"grace_seconds": 3600, "revoke_tokens": False}
    change_page = manager_client.get(f"/admin/vendors/vendor/{vendor.pk}/change/").content.decode()
    assert "still works until" in change_page
    assert new_secret not in change_page and free_vendor.client_secret not in change_page


def test_rotating_without_grace_kills_the_old_secret_at_once(manager_client, free_vendor, api):
    vendor = free_vendor.vendor

    response = rotate(manager_client, vendor, {"grace": "0"})

    assert response.status_code == 200
    assert "The previous secret no longer works." in response.content.decode()
    assert token_status(api, vendor, free_vendor.client_secret) == 401
    assert token_status(api, vendor, shown_secret(response)) == 200


def test_a_second_rotation_ends_the_first_grace_so_at_most_two_secrets_live(manager_client, free_vendor, api):
    vendor = free_vendor.vendor
    second = shown_secret(rotate(manager_client, vendor, {"grace": "604800"}))

    third = shown_secret(rotate(manager_client, vendor, {"grace": "604800"}))

    assert token_status(api, vendor, free_vendor.client_secret) == 401
    assert token_status(api, vendor, second) == 200
    assert token_status(api, vendor, third) == 200


def test_rotating_can_revoke_every_current_token(manager_client, free_vendor, as_vendor):
    vendor_api = as_vendor(free_vendor)
    assert vendor_api.get("/brands").status_code == 200

    response = rotate(manager_client, free_vendor.vendor, {"grace": "86400", "revoke_tokens": "on"})

    assert response.status_code == 200
    assert vendor_api.get("/brands").status_code == 401
    assert AuditEvent.objects.filter(action=AuditEvent.Action.REVOKE_TOKENS).count() == 1


def test_an_unknown_grace_period_is_refused_with_the_form_again(manager_client, free_vendor, api):
    response = confirm(manager_client, rotate_url(free_vendor.vendor), {"grace": "-5"})

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert 'id="client-secret"' not in response.content.decode()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.ROTATE_SECRET).exists()


def test_a_viewer_cannot_rotate(viewer_client, free_vendor, api):
    assert viewer_client.get(rotate_url(free_vendor.vendor)).status_code == 403
    response = viewer_client.post(rotate_url(free_vendor.vendor), {"grace": "0"})

    assert response.status_code == 403
    assert "manage vendor credentials" in response.content.decode()
    assert token_status(api, free_vendor.vendor, free_vendor.client_secret) == 200
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.ROTATE_SECRET).exists()
