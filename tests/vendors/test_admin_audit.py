"""The audit log in the admin: every staff and command-line action, read-only, searchable and filterable."""

import io

import pytest
from django.core.management import call_command

from vendors import services
from vendors.models import AuditEvent

pytestmark = pytest.mark.django_db

AUDIT_URL = "/admin/vendors/auditevent/"


@pytest.fixture
def history(manager, make_vendor):
    """A staff-created vendor whose plan a manager changed, and one created on the command line."""
    acme = services.vendor_create(name="Acme", plan=services.plan_get(code="free"), actor=manager).vendor
    services.vendor_plan_set(vendor=acme, plan=services.plan_get(code="standard"), actor=manager)
    call_command("createvendor", "Initech", "--plan", "free", stdout=io.StringIO())
    return acme


def test_the_log_lists_who_did_what_to_which_vendor(viewer_client, history):
    response = viewer_client.get(AUDIT_URL)

    assert response.status_code == 200
    body = response.content.decode()
    assert "Vendor created" in body and "Plan changed" in body
    assert "manager" in body and "command line" in body
    assert "Initech" in body and f"/admin/vendors/vendor/{history.pk}/change/" in body
    assert "free → standard" in body


def test_the_log_is_searchable_by_vendor_and_actor(viewer_client, history):
    by_vendor = viewer_client.get(AUDIT_URL, {"q": "initech"}).content.decode()
    by_actor = viewer_client.get(AUDIT_URL, {"q": "manager"}).content.decode()

    assert "Initech" in by_vendor and "Acme" not in by_vendor
    assert "Acme" in by_actor and "Initech" not in by_actor


def test_the_log_filters_by_action_source_and_date(viewer_client, history):
    plan_changes = viewer_client.get(AUDIT_URL, {"action__exact": "change_plan"}).content.decode()
    from_command_line = viewer_client.get(AUDIT_URL, {"source": "command_line"}).content.decode()
    # An aware bound, as the admin's date filter writes its links (a bare date is a naive datetime).
    today = viewer_client.get(AUDIT_URL, {"created_at__gte": "2000-01-01 00:00:00+00:00"}).content.decode()

    assert "Plan changed" in plan_changes and "Initech" not in plan_changes
    assert "Initech" in from_command_line and "Acme" not in from_command_line
    assert "3 audit events" in today


def test_the_log_is_read_only_even_for_a_superuser(client, django_user_model, history):
    client.force_login(django_user_model.objects.create_superuser("super", password=None))
    event = AuditEvent.objects.filter(vendor=history).first()

    detail = client.get(f"{AUDIT_URL}{event.pk}/change/")
    assert detail.status_code == 200 and 'type="submit"' not in detail.content.decode().split("</header>")[-1]
    assert client.get(f"{AUDIT_URL}add/").status_code == 403
    assert client.post(f"{AUDIT_URL}{event.pk}/change/", {"action": "suspend"}).status_code == 403
    assert client.post(f"{AUDIT_URL}{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.count() == 3
    assert AuditEvent.objects.get(pk=event.pk).action == event.action


def test_staff_without_the_audit_permission_cannot_read_it(make_staff, history):
    from django.test import Client

    client = Client()
    client.force_login(make_staff("vendors-only", "vendors.view_vendor"))

    assert client.get(AUDIT_URL).status_code == 403
