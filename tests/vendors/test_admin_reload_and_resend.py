"""Reloading, going back, a second tab or resending a form never repeats a staff action (Post/Redirect/Get).

A new secret is shown on a GET page exactly once, from an encrypted one-time reveal; confirmations carry the vendor
version they were rendered for, and a stale one is refused under the row lock.
"""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tests.vendors.conftest import confirm, rendered_version
from vendors import reveals, services
from vendors.models import AuditEvent, Plan, SecretReveal, Vendor

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/vendors/vendor/add/"


def url(vendor, action) -> str:
    return f"/admin/vendors/vendor/{vendor.pk}/{action}/"


def shown_secret(response) -> str:
    match = re.search(r'<code id="client-secret">([^<]+)</code>', response.content.decode())
    assert match, "the page shows no secret"
    return match.group(1)


def token_status(api, vendor, secret) -> int:
    return api.post("/auth/token", {"client_id": vendor.client_id, "client_secret": secret}, format="json").status_code


def add(client, name="Acme Media"):
    return client.post(ADD_URL, {"name": name, "contact_email": "", "plan": Plan.objects.get(code="free").pk})


def messages_of(client, response) -> str:
    return client.get(response["Location"]).content.decode()


# --- The one-time reveal --------------------------------------------------------------------------------------------


def test_the_secret_page_shows_the_secret_once_and_then_says_it_was_already_shown(manager_client, api):
    posted = add(manager_client)
    reveal_url = posted["Location"]

    first = manager_client.get(reveal_url)
    again = manager_client.get(reveal_url)  # a reload, the back button or a second tab: the same GET again

    assert first.status_code == 200 and "no-store" in first["Cache-Control"]
    secret = shown_secret(first)
    assert again.status_code == 410 and "no-store" in again["Cache-Control"]
    body = again.content.decode()
    assert "already shown — rotate to get a new one" in body and secret not in body
    assert 'id="client-secret"' not in body
    vendor = Vendor.objects.get()
    assert url(vendor, "rotate-secret") in body
    assert token_status(api, vendor, secret) == 200
    assert not SecretReveal.objects.exists()


def test_what_the_database_holds_cannot_give_the_secret_back(manager_client):
    reveal_url = add(manager_client)["Location"]
    row = SecretReveal.objects.get()
    reveal_id = reveal_url.rstrip("/").rsplit("/", 1)[1]

    stored = b"".join(
        bytes(value) if isinstance(value, memoryview | bytes) else str(value).encode()
        for value in SecretReveal.objects.values_list().get()
    )
    secret = shown_secret(manager_client.get(reveal_url))

    assert secret.encode() not in stored and reveal_id.encode() not in stored
    assert len(bytes(row.ciphertext)) == 12 + len(secret) + 16  # nonce, ciphertext, GCM tag


def test_only_the_issuing_session_can_open_the_reveal_and_others_do_not_spend_it(manager_client, manager, make_staff):
    from tests.conftest import MANAGER_PERMS

    reveal_url = add(manager_client)["Location"]
    colleague = Client()
    colleague.force_login(make_staff("colleague", *MANAGER_PERMS))
    same_user_other_session = Client()
    same_user_other_session.force_login(manager)

    assert colleague.get(reveal_url).status_code == 410
    assert same_user_other_session.get(reveal_url).status_code == 410
    assert manager_client.get(reveal_url).status_code == 200


def test_a_viewer_and_a_logged_out_visitor_cannot_open_a_reveal(manager_client, viewer_client, client):
    reveal_url = add(manager_client)["Location"]

    assert viewer_client.get(reveal_url).status_code == 403
    assert client.get(reveal_url).status_code == 302
    assert manager_client.get(reveal_url).status_code == 200


def test_a_reveal_not_opened_in_time_expires_and_is_pruned(manager_client, free_vendor):
    reveal_url = add(manager_client)["Location"]
    SecretReveal.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    assert manager_client.get(reveal_url).status_code == 410
    add(manager_client, name="Second")  # every new reveal prunes the expired ones
    assert SecretReveal.objects.count() == 1
    SecretReveal.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert reveals.prune() == 1


def test_the_reveal_page_refuses_a_post(manager_client):
    reveal_url = add(manager_client)["Location"]

    assert manager_client.post(reveal_url).status_code == 405
    assert manager_client.get(reveal_url).status_code == 200


def test_a_reveal_of_one_vendor_is_not_shown_under_another(manager_client, free_vendor):
    reveal_url = add(manager_client)["Location"]
    elsewhere = re.sub(r"/vendor/\d+/", f"/vendor/{free_vendor.vendor.pk}/", reveal_url)

    assert manager_client.get(elsewhere).status_code == 410
    assert manager_client.get(reveal_url).status_code == 200


# --- Adding a vendor, resent ----------------------------------------------------------------------------------------


def test_resending_the_add_form_creates_no_second_vendor(manager_client):
    assert add(manager_client).status_code == 303

    again = add(manager_client)

    assert again.status_code == 200
    assert "already exists" in again.content.decode()
    assert Vendor.objects.count() == 1
    assert AuditEvent.objects.filter(action=AuditEvent.Action.CREATE).count() == 1


# --- Rotation, resent: the outage of the issue ------------------------------------------------------------------


def test_resending_a_rotation_does_not_rotate_again_and_the_production_secret_keeps_working(
    manager_client, free_vendor, api
):
    vendor = free_vendor.vendor
    page = manager_client.get(url(vendor, "rotate-secret")).content.decode()
    form = {"grace": "86400", "version": rendered_version(page)}

    first = manager_client.post(url(vendor, "rotate-secret"), form)
    new_secret = shown_secret(manager_client.get(first["Location"]))
    resent = manager_client.post(url(vendor, "rotate-secret"), form)

    assert resent.status_code == 303 and resent["Location"] == url(vendor, "change")
    assert "nothing was done" in messages_of(manager_client, resent)
    assert AuditEvent.objects.filter(action=AuditEvent.Action.ROTATE_SECRET).count() == 1
    assert token_status(api, vendor, free_vendor.client_secret) == 200  # the production secret, in its grace
    assert token_status(api, vendor, new_secret) == 200
    assert SecretReveal.objects.count() == 0


def test_a_rotation_confirmed_in_a_stale_second_tab_is_refused(manager_client, free_vendor, api):
    vendor = free_vendor.vendor
    stale_tab = rendered_version(manager_client.get(url(vendor, "rotate-secret")).content.decode())
    confirm(manager_client, url(vendor, "rotate-secret"), {"grace": "3600"})

    response = manager_client.post(url(vendor, "rotate-secret"), {"grace": "3600", "version": stale_tab})

    assert "nothing was done" in messages_of(manager_client, response)
    assert AuditEvent.objects.filter(action=AuditEvent.Action.ROTATE_SECRET).count() == 1
    assert token_status(api, vendor, free_vendor.client_secret) == 200


# --- Suspension, reactivation, plan, revoke-all, resent -------------------------------------------------------------


def test_resending_a_suspension_suspends_once(manager_client, free_vendor):
    vendor = free_vendor.vendor
    version = rendered_version(manager_client.get(url(vendor, "suspend")).content.decode())

    first = manager_client.post(url(vendor, "suspend"), {"version": version})
    resent = manager_client.post(url(vendor, "suspend"), {"version": version})

    assert first.status_code == resent.status_code == 303
    assert "already suspended" in messages_of(manager_client, resent)
    assert AuditEvent.objects.filter(action=AuditEvent.Action.SUSPEND).count() == 1
    assert AuditEvent.objects.filter(action=AuditEvent.Action.REVOKE_TOKENS).count() == 1


def test_a_stale_suspend_confirmation_does_not_undo_a_later_reactivation(manager_client, free_vendor):
    vendor = free_vendor.vendor
    stale = rendered_version(manager_client.get(url(vendor, "suspend")).content.decode())
    manager_client.post(url(vendor, "suspend"), {"version": stale})
    confirm(manager_client, url(vendor, "reactivate"))

    response = manager_client.post(url(vendor, "suspend"), {"version": stale})

    assert "nothing was done" in messages_of(manager_client, response)
    assert Vendor.objects.get(pk=vendor.pk).is_active
    assert AuditEvent.objects.filter(action=AuditEvent.Action.SUSPEND).count() == 1


def test_a_confirmation_without_its_version_does_nothing(manager_client, free_vendor):
    vendor = free_vendor.vendor

    for action in ("suspend", "tokens/revoke-all"):
        response = manager_client.post(url(vendor, action))
        assert response.status_code == 303
        assert "incomplete" in messages_of(manager_client, response)
    assert Vendor.objects.get(pk=vendor.pk).is_active
    assert not AuditEvent.objects.exclude(action=AuditEvent.Action.CREATE).exists()


def test_resending_a_plan_change_changes_it_once_and_a_stale_form_is_refused(manager_client, free_vendor):
    vendor = free_vendor.vendor
    standard, enterprise = services.plan_get(code="standard"), services.plan_get(code="enterprise")
    version = rendered_version(manager_client.get(url(vendor, "plan")).content.decode())

    manager_client.post(url(vendor, "plan"), {"plan": enterprise.pk, "version": version})
    resent = manager_client.post(url(vendor, "plan"), {"plan": enterprise.pk, "version": version})
    assert "already on the Enterprise plan" in messages_of(manager_client, resent)
    stale = manager_client.post(url(vendor, "plan"), {"plan": standard.pk, "version": version})
    assert "nothing was done" in messages_of(manager_client, stale)

    assert Vendor.objects.get(pk=vendor.pk).plan == enterprise
    assert AuditEvent.objects.filter(action=AuditEvent.Action.CHANGE_PLAN).count() == 1


def test_resending_revoke_all_revokes_once(manager_client, free_vendor, token_for):
    vendor = free_vendor.vendor
    token_for(free_vendor)
    revoke_all = url(vendor, "tokens/revoke-all")
    version = rendered_version(manager_client.get(revoke_all).content.decode())

    manager_client.post(revoke_all, {"version": version})
    token_for(free_vendor)  # a new token meanwhile: a resend must not silently end it too
    resent = manager_client.post(revoke_all, {"version": version})

    assert "nothing was done" in messages_of(manager_client, resent)
    assert AuditEvent.objects.filter(action=AuditEvent.Action.REVOKE_TOKENS).count() == 1
    assert Vendor.objects.get(pk=vendor.pk).token_generation == 1


def test_resending_a_single_token_revocation_revokes_and_audits_once(manager_client, free_vendor, token_for):
    from oauth2_provider.models import AccessToken

    token_for(free_vendor)
    token = AccessToken.objects.get(application=free_vendor.vendor.application)
    revoke = url(free_vendor.vendor, f"tokens/{token.pk}/revoke")

    manager_client.post(revoke)
    resent = manager_client.post(revoke)

    assert "is not active" in messages_of(manager_client, resent)
    assert AuditEvent.objects.filter(action=AuditEvent.Action.REVOKE_TOKENS).count() == 1


def test_the_version_check_is_made_by_the_service_under_the_lock(free_vendor):
    vendor = free_vendor.vendor
    version = services.vendor_version(vendor)
    services.vendor_suspend(vendor=vendor, version=version)

    with pytest.raises(services.StaleAction):
        services.vendor_reactivate(vendor=vendor, version=version)
    with pytest.raises(services.StaleAction):
        services.vendor_secret_rotate(vendor=vendor, version=version)
    with pytest.raises(services.StaleAction):
        services.vendor_tokens_revoke(vendor=vendor, version=version)
    assert AuditEvent.objects.exclude(action=AuditEvent.Action.CREATE).count() == 2  # the suspension and its revoke
