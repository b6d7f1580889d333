"""Suspending, reactivating and changing the plan from the admin, each confirmed and audited."""

import pytest

from tests.vendors.conftest import confirm
from vendors import services
from vendors.models import AuditEvent, Vendor

pytestmark = pytest.mark.django_db


def url(vendor, action) -> str:
    return f"/admin/vendors/vendor/{vendor.pk}/{action}/"


def test_the_suspend_confirmation_changes_nothing(manager_client, free_vendor):
    response = manager_client.get(url(free_vendor.vendor, "suspend"))

    assert response.status_code == 200
    assert "stops working immediately" in response.content.decode()
    free_vendor.vendor.refresh_from_db()
    assert free_vendor.vendor.is_active


def test_suspending_cuts_access_at_once(manager_client, manager, free_vendor, as_vendor, api):
    vendor_api = as_vendor(free_vendor)
    assert vendor_api.get("/brands").status_code == 200

    response = confirm(manager_client, url(free_vendor.vendor, "suspend"))

    assert response.status_code == 303
    assert response["Location"] == f"/admin/vendors/vendor/{free_vendor.vendor.pk}/change/"
    assert Vendor.objects.get(pk=free_vendor.vendor.pk).status == Vendor.Status.SUSPENDED
    assert vendor_api.get("/brands").status_code == 401
    body = {"client_id": free_vendor.vendor.client_id, "client_secret": free_vendor.client_secret}
    refused = api.post("/auth/token", body, format="json")
    assert (refused.status_code, refused.json()["error"]) == (400, "unauthorized_client")
    assert AuditEvent.objects.get(action=AuditEvent.Action.SUSPEND).actor == manager
    page = manager_client.get(response["Location"]).content.decode()
    assert "is suspended" in page and url(free_vendor.vendor, "reactivate") in page


def test_reactivating_lets_the_vendor_get_tokens_again(manager_client, manager, free_vendor, token_for):
    services.vendor_suspend(vendor=free_vendor.vendor)
    assert (
        "Tokens revoked by the suspension" in manager_client.get(url(free_vendor.vendor, "reactivate")).content.decode()
    )

    response = confirm(manager_client, url(free_vendor.vendor, "reactivate"))

    assert response.status_code == 303
    assert Vendor.objects.get(pk=free_vendor.vendor.pk).is_active
    assert AuditEvent.objects.get(action=AuditEvent.Action.REACTIVATE).actor == manager
    assert token_for(free_vendor)


def test_suspending_a_suspended_vendor_is_a_no_op(manager_client, free_vendor):
    services.vendor_suspend(vendor=free_vendor.vendor)

    response = manager_client.post(url(free_vendor.vendor, "suspend"))

    assert response.status_code == 303
    assert AuditEvent.objects.filter(action=AuditEvent.Action.SUSPEND).count() == 1


def test_a_viewer_cannot_suspend_or_reactivate(viewer_client, free_vendor, make_vendor):
    suspended = make_vendor("free", name="Dormant").vendor
    services.vendor_suspend(vendor=suspended)

    assert viewer_client.post(url(free_vendor.vendor, "suspend")).status_code == 403
    assert viewer_client.post(url(suspended, "reactivate")).status_code == 403
    assert Vendor.objects.get(pk=free_vendor.vendor.pk).is_active
    assert not Vendor.objects.get(pk=suspended.pk).is_active


def test_the_plan_page_lists_the_plans_and_changes_nothing(manager_client, free_vendor):
    response = manager_client.get(url(free_vendor.vendor, "plan"))

    assert response.status_code == 200
    body = response.content.decode()
    assert "Standard" in body and "Enterprise" in body and "unlimited" in body
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.CHANGE_PLAN).exists()


def test_changing_the_plan_applies_at_once_and_is_audited(manager_client, manager, free_vendor):
    enterprise = services.plan_get(code="enterprise")

    response = confirm(manager_client, url(free_vendor.vendor, "plan"), {"plan": enterprise.pk})

    assert response.status_code == 303
    assert Vendor.objects.get(pk=free_vendor.vendor.pk).plan == enterprise
    event = AuditEvent.objects.get(action=AuditEvent.Action.CHANGE_PLAN)
    assert event.actor == manager and event.changes == {"from": "free", "to": "enterprise"}
    listing = manager_client.get(f"/admin/vendors/vendor/?plan__id__exact={enterprise.pk}").content.decode()
    assert "Free Co" in listing


def test_an_unknown_plan_is_refused(manager_client, free_vendor):
    response = confirm(manager_client, url(free_vendor.vendor, "plan"), {"plan": "999999"})

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert Vendor.objects.get(pk=free_vendor.vendor.pk).plan.code == "free"


def test_a_viewer_cannot_change_the_plan(viewer_client, free_vendor):
    enterprise = services.plan_get(code="enterprise")

    assert viewer_client.get(url(free_vendor.vendor, "plan")).status_code == 403
    assert viewer_client.post(url(free_vendor.vendor, "plan"), {"plan": enterprise.pk}).status_code == 403
    assert Vendor.objects.get(pk=free_vendor.vendor.pk).plan.code == "free"
