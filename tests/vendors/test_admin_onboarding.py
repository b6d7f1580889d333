"""Adding a vendor in the admin: credentials are created through the service and the secret is shown exactly once."""

import logging
import re

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.sessions.models import Session

from vendors.models import AuditEvent, Vendor

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/vendors/vendor/add/"


def add_vendor(client, name="Acme Media", email="ops@acme.example", plan="standard", **kwargs):
    from vendors.models import Plan

    data = {"name": name, "contact_email": email, "plan": Plan.objects.get(code=plan).pk}
    return client.post(ADD_URL, data, **kwargs)


def shown_secret(response) -> str:
    match = re.search(r'<code id="client-secret">([^<]+)</code>', response.content.decode())
    assert match, "the secret page shows no secret"
    return match.group(1)


def test_the_add_form_asks_for_name_contact_email_and_plan(manager_client):
    response = manager_client.get(ADD_URL)

    assert response.status_code == 200
    body = response.content.decode()
    for field in ('name="name"', 'name="contact_email"', 'name="plan"'):
        assert field in body
    assert "shows its client secret once" in body


def test_adding_a_vendor_shows_its_client_id_and_secret_once(manager_client, manager, api):
    posted = add_vendor(manager_client)

    # Post/Redirect/Get: the POST creates, then sends the browser to the page that shows the secret once.
    assert posted.status_code == 303
    assert re.fullmatch(r"/admin/vendors/vendor/\d+/secret/[\w-]{40,}/", posted["Location"])
    assert not posted.content
    response = manager_client.get(posted["Location"])
    assert response.status_code == 200
    vendor = Vendor.objects.get(name="Acme Media")
    body = response.content.decode()
    assert "shown only this once" in body
    assert f'<code id="client-id">{vendor.client_id}</code>' in body
    assert body.count('class="button charp-copy"') == 2
    assert "no-store" in response["Cache-Control"]
    assert vendor.plan.code == "standard" and vendor.contact_email == "ops@acme.example" and vendor.is_active
    event = AuditEvent.objects.get(vendor=vendor)
    assert (event.action, event.actor, event.actor_label) == (AuditEvent.Action.CREATE, manager, "manager")
    secret = shown_secret(response)
    token = api.post("/auth/token", {"client_id": vendor.client_id, "client_secret": secret}, format="json")
    assert token.status_code == 200, token.content


def test_the_secret_never_reaches_session_messages_history_logs_or_later_pages(manager_client, caplog):
    caplog.set_level(logging.DEBUG)
    response = add_vendor(manager_client, follow=True)
    secret = shown_secret(response)
    vendor = Vendor.objects.get(name="Acme Media")

    sessions = list(Session.objects.all())
    assert sessions
    assert all(secret not in session.session_data + str(session.get_decoded()) for session in sessions)
    assert all(secret not in morsel.value for morsel in manager_client.cookies.values())
    assert LogEntry.objects.filter(object_id=str(vendor.pk)).exists()
    assert all(secret not in entry.change_message for entry in LogEntry.objects.all())
    assert secret not in caplog.text
    assert secret not in vendor.application.client_secret
    assert all(secret not in str(event.changes) for event in AuditEvent.objects.all())
    for url in [
        f"/admin/vendors/vendor/{vendor.pk}/change/",
        "/admin/vendors/vendor/",
        f"/admin/vendors/vendor/{vendor.pk}/history/",
        f"/admin/vendors/vendor/{vendor.pk}/tokens/",
        "/admin/vendors/auditevent/",
        "/admin/",
    ]:
        page = manager_client.get(url)
        assert page.status_code == 200, url
        assert secret not in page.content.decode(), url


def test_an_invalid_add_form_creates_nothing(manager_client):
    response = add_vendor(manager_client, name="   ", email="not-an-email")

    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not Vendor.objects.exists()
    assert not AuditEvent.objects.exists()


def test_a_viewer_cannot_add_a_vendor(viewer_client):
    assert viewer_client.get(ADD_URL).status_code == 403
    response = add_vendor(viewer_client)

    assert response.status_code == 403
    assert "manage vendor credentials" not in response.content.decode()  # the message names the refused action
    assert "add vendors" in response.content.decode()
    assert not Vendor.objects.exists()
    assert "/admin/vendors/vendor/add/" not in viewer_client.get("/admin/vendors/vendor/").content.decode()


def test_add_permission_alone_does_not_issue_credentials(make_staff):
    from django.test import Client

    client = Client()
    client.force_login(make_staff("adder", "vendors.view_vendor", "vendors.add_vendor"))

    assert add_vendor(client).status_code == 403
    assert not Vendor.objects.exists()


def test_a_logged_out_visitor_is_sent_to_the_login_page(client):
    response = add_vendor(client)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert not Vendor.objects.exists()
