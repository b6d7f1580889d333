"""The tokens of a vendor in the admin: listed without their values, revocable one by one or all at once."""

import pytest
from oauth2_provider.models import AccessToken

from tests.vendors.conftest import confirm
from vendors.models import AuditEvent

pytestmark = pytest.mark.django_db


def tokens_url(vendor) -> str:
    return f"/admin/vendors/vendor/{vendor.pk}/tokens/"


def test_the_token_list_shows_ids_dates_and_scope_but_never_the_token(manager_client, free_vendor, token_for):
    token = token_for(free_vendor)
    row = AccessToken.objects.get(application=free_vendor.vendor.application)

    response = manager_client.get(tokens_url(free_vendor.vendor))

    assert response.status_code == 200
    body = response.content.decode()
    assert "1 active access token" in body
    assert f"<td>{row.pk}</td>" in body and row.scope in body
    assert f"/tokens/{row.pk}/revoke/" in body
    assert token not in body and token[:20] not in body
    assert row.token_checksum not in body


def test_revoking_one_token_leaves_the_others_working(manager_client, manager, free_vendor, as_vendor):
    first, second = as_vendor(free_vendor), as_vendor(free_vendor)
    doomed = AccessToken.objects.filter(application=free_vendor.vendor.application).order_by("pk").first()
    revoke_url = f"{tokens_url(free_vendor.vendor)}{doomed.pk}/revoke/"
    assert "Yes, revoke" in manager_client.get(revoke_url).content.decode()
    assert first.get("/brands").status_code == 200

    response = manager_client.post(revoke_url)

    assert response.status_code == 303 and response["Location"] == tokens_url(free_vendor.vendor)
    assert first.get("/brands").status_code == 401
    assert second.get("/brands").status_code == 200
    event = AuditEvent.objects.get(action=AuditEvent.Action.REVOKE_TOKENS)
    assert event.actor == manager and event.changes == {"access_token_id": doomed.pk}


def test_revoking_all_tokens_cuts_every_client(manager_client, free_vendor, as_vendor):
    clients = [as_vendor(free_vendor), as_vendor(free_vendor)]
    assert "Yes, revoke all" in manager_client.get(f"{tokens_url(free_vendor.vendor)}revoke-all/").content.decode()

    response = confirm(manager_client, f"{tokens_url(free_vendor.vendor)}revoke-all/")

    assert response.status_code == 303
    assert [client.get("/brands").status_code for client in clients] == [401, 401]
    assert not AccessToken.objects.filter(application=free_vendor.vendor.application).exists()
    assert AuditEvent.objects.get(action=AuditEvent.Action.REVOKE_TOKENS).changes["access_tokens"] == 2


def test_a_token_of_another_vendor_cannot_be_revoked_through_this_one(
    manager_client, free_vendor, make_vendor, as_vendor
):
    other = make_vendor("free", name="Other")
    other_api = as_vendor(other)
    other_token = AccessToken.objects.get(application=other.vendor.application)

    response = manager_client.post(f"{tokens_url(free_vendor.vendor)}{other_token.pk}/revoke/", follow=True)

    assert "is not active" in response.content.decode()
    assert other_api.get("/brands").status_code == 200
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.REVOKE_TOKENS).exists()


def test_a_viewer_sees_the_tokens_but_cannot_revoke_them(viewer_client, free_vendor, as_vendor):
    vendor_api = as_vendor(free_vendor)
    token = AccessToken.objects.get(application=free_vendor.vendor.application)

    listing = viewer_client.get(tokens_url(free_vendor.vendor))

    assert listing.status_code == 200
    assert "/revoke" not in listing.content.decode()
    assert viewer_client.post(f"{tokens_url(free_vendor.vendor)}{token.pk}/revoke/").status_code == 403
    assert viewer_client.post(f"{tokens_url(free_vendor.vendor)}revoke-all/").status_code == 403
    assert vendor_api.get("/brands").status_code == 200


def test_revocation_needs_the_csrf_token(manager, free_vendor, as_vendor):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    vendor_api = as_vendor(free_vendor)

    assert client.post(f"{tokens_url(free_vendor.vendor)}revoke-all/").status_code == 403
    assert vendor_api.get("/brands").status_code == 200
