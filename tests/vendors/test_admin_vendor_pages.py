"""The vendor list and change page: what staff see, what they may edit, and which buttons each role gets."""

import pytest
from django.utils import timezone

from vendors import services
from vendors.models import AuditEvent, Vendor

pytestmark = pytest.mark.django_db


def change_url(vendor) -> str:
    return f"/admin/vendors/vendor/{vendor.pk}/change/"


def test_the_list_shows_plan_status_created_date_and_usage_column(manager_client, make_vendor):
    issued = make_vendor("enterprise", name="Globex")
    services.vendor_suspend(vendor=issued.vendor)

    response = manager_client.get("/admin/vendors/vendor/")

    assert response.status_code == 200
    body = response.content.decode()
    for text in (
        "Globex",
        issued.vendor.client_id,
        "Enterprise",
        "charp-status-suspended",
        "Requests (30 days)",
        "Created at",
    ):
        assert text in body


def test_the_list_filters_by_plan_and_status(manager_client, make_vendor):
    make_vendor("free", name="Free One")
    suspended = make_vendor("standard", name="Standard Suspended").vendor
    services.vendor_suspend(vendor=suspended)

    by_plan = manager_client.get(f"/admin/vendors/vendor/?plan__id__exact={suspended.plan_id}").content.decode()
    by_status = manager_client.get("/admin/vendors/vendor/?status__exact=active").content.decode()

    assert "Standard Suspended" in by_plan and "Free One" not in by_plan
    assert "Free One" in by_status and "Standard Suspended" not in by_status


def test_the_change_page_shows_credentials_state_and_manager_buttons(manager_client, free_vendor):
    vendor = free_vendor.vendor

    response = manager_client.get(change_url(vendor))

    assert response.status_code == 200
    body = response.content.decode()
    assert vendor.client_id in body
    assert "One live secret" in body
    for url in ("rotate-secret/", "plan/", "suspend/", "tokens/"):
        assert f"/admin/vendors/vendor/{vendor.pk}/{url}" in body
    assert "/reactivate/" not in body
    assert free_vendor.client_secret not in body


def test_the_change_page_says_until_when_the_previous_secret_lives(manager_client, free_vendor):
    issued = services.vendor_secret_rotate(vendor=free_vendor.vendor, grace=timezone.timedelta(hours=1))

    body = manager_client.get(change_url(issued.vendor)).content.decode()

    assert "Two live secrets" in body and "still works until" in body
    assert "59\xa0minutes" in body or "1\xa0hour" in body


def test_a_viewer_sees_the_vendor_but_no_credential_buttons(viewer_client, free_vendor):
    vendor = free_vendor.vendor

    response = viewer_client.get(change_url(vendor))

    assert response.status_code == 200
    body = response.content.decode()
    assert vendor.client_id in body
    for url in ("rotate-secret/", "plan/", "suspend/", "reactivate/"):
        assert f"/admin/vendors/vendor/{vendor.pk}/{url}" not in body
    assert f"/admin/vendors/vendor/{vendor.pk}/tokens/" in body


def test_a_staff_member_without_view_permission_sees_no_vendor(make_staff, free_vendor):
    from django.test import Client

    client = Client()
    client.force_login(make_staff("nobody"))

    assert client.get("/admin/vendors/vendor/").status_code == 403
    assert client.get(change_url(free_vendor.vendor)).status_code == 403
    assert client.get(f"/admin/vendors/vendor/{free_vendor.vendor.pk}/tokens/").status_code == 403


def test_editing_name_and_email_is_audited_and_leaves_the_plan_alone(manager_client, manager, make_vendor):
    vendor = make_vendor("free", name="Old Name").vendor
    enterprise = services.plan_get(code="enterprise")

    response = manager_client.post(
        change_url(vendor), {"name": "New Name", "contact_email": "new@example.com", "plan": enterprise.pk}
    )

    assert response.status_code == 302
    vendor.refresh_from_db()
    assert (vendor.name, vendor.contact_email, vendor.plan.code) == ("New Name", "new@example.com", "free")
    assert vendor.application.name == "New Name"
    event = AuditEvent.objects.get(action=AuditEvent.Action.UPDATE)
    assert event.actor == manager
    assert event.changes == {"name": ["Old Name", "New Name"], "contact_email": ["", "new@example.com"]}


def test_saving_an_unchanged_vendor_writes_no_audit_event(manager_client, free_vendor):
    vendor = free_vendor.vendor

    response = manager_client.post(change_url(vendor), {"name": vendor.name, "contact_email": ""})

    assert response.status_code == 302
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.UPDATE).exists()


def test_a_viewer_cannot_edit_a_vendor(viewer_client, free_vendor):
    vendor = free_vendor.vendor

    response = viewer_client.post(change_url(vendor), {"name": "Hijacked", "contact_email": ""})

    assert response.status_code == 403
    vendor.refresh_from_db()
    assert vendor.name == "Free Co"


def test_not_even_a_superuser_can_delete_a_vendor(client, django_user_model, free_vendor):
    client.force_login(django_user_model.objects.create_superuser("super", password=None))
    vendor = free_vendor.vendor

    assert client.post(f"/admin/vendors/vendor/{vendor.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Vendor.objects.filter(pk=vendor.pk).exists()


def test_an_unknown_vendor_redirects_to_the_admin_home_with_a_message(manager_client):
    response = manager_client.get("/admin/vendors/vendor/9999/suspend/", follow=True)

    assert response.redirect_chain[0][1] == 302
    assert "doesn’t exist" in response.content.decode()


def test_the_raw_oauth_admin_pages_are_gone(client, django_user_model, free_vendor):
    client.force_login(django_user_model.objects.create_superuser("super", password=None))
    index = client.get("/admin/").content.decode()

    assert "oauth2_provider" not in index
    for model in ("application", "accesstoken", "refreshtoken", "grant", "idtoken"):
        response = client.get(f"/admin/oauth2_provider/{model}/")
        assert response.status_code == 404, model


def test_plans_are_listed_for_staff(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("super", password=None))

    body = client.get("/admin/vendors/plan/").content.decode()

    assert "Enterprise" in body and "unlimited" in body
