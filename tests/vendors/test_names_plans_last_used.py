"""Unique vendor names (ignoring case), audited plan edits, and when each live secret last obtained a token."""

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client

from vendors import services
from vendors.limits import last_used, metering
from vendors.models import AuditEvent, Plan, Vendor, rows_changed

pytestmark = pytest.mark.django_db


# --- Unique names ---------------------------------------------------------------------------------------------------


def test_the_add_form_refuses_a_name_taken_in_another_case(manager_client, free_vendor):
    free = Plan.objects.get(code="free")

    response = manager_client.post("/admin/vendors/vendor/add/", {"name": "  free co ", "plan": free.pk})

    assert response.status_code == 200
    assert "A vendor named “free co” already exists (names are compared ignoring case)" in response.content.decode()
    assert Vendor.objects.count() == 1


def test_the_change_form_refuses_renaming_onto_another_vendor_but_allows_a_case_change(
    manager_client, free_vendor, make_vendor
):
    other = make_vendor("free", name="Other Co").vendor
    change = f"/admin/vendors/vendor/{other.pk}/change/"

    taken = manager_client.post(change, {"name": "FREE CO", "contact_email": ""})
    recased = manager_client.post(change, {"name": "OTHER CO", "contact_email": ""})

    assert taken.status_code == 200 and "already exists" in taken.content.decode()
    assert recased.status_code == 302
    assert Vendor.objects.get(pk=other.pk).name == "OTHER CO"


def test_the_service_and_the_database_refuse_a_duplicate_name(free_vendor, plans):
    with pytest.raises(ValidationError, match="already exists"):
        services.vendor_create(name="FREE CO", plan=plans["free"])
    with pytest.raises(ValidationError, match="already exists"):
        services.vendor_update(vendor=services.vendor_create(name="Two", plan=plans["free"]).vendor, name="free co")
    assert Vendor.objects.filter(name__iexact="free co").count() == 1


def test_createvendor_exits_non_zero_saying_the_name_is_taken(free_vendor):
    with pytest.raises(CommandError, match="already exists"):
        call_command("createvendor", "Free CO", "--plan", "free")
    assert Vendor.objects.count() == 1


# --- Plan edits are audited -----------------------------------------------------------------------------------------


@pytest.fixture
def admin_client(make_staff):
    user = make_staff("root")
    user.is_superuser = True
    user.save()
    client = Client()
    client.force_login(user)
    return client, user


def plan_form(plan: Plan, **changes) -> dict:
    data = {field: getattr(plan, field) for field in services.PLAN_FIELDS}
    data.update(changes)
    form = {}
    for field, value in data.items():
        if isinstance(value, bool):
            if value:
                form[field] = "on"
        else:
            form[field] = "" if value is None else value
    return form


def test_a_plan_edit_is_audited_with_each_change_from_and_to(admin_client, plans):
    client, user = admin_client
    standard = plans["standard"]
    before = standard.requests_per_minute

    response = client.post(
        f"/admin/vendors/plan/{standard.pk}/change/",
        plan_form(standard, requests_per_minute=before + 40, includes_tools=not standard.includes_tools),
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    event = AuditEvent.objects.get(action=AuditEvent.Action.EDIT_PLAN)
    assert event.actor == user and event.plan == standard and event.vendor is None
    assert event.changes == {
        "plan": "standard",
        "requests_per_minute": [before, before + 40],
        "includes_tools": [standard.includes_tools, not standard.includes_tools],
    }
    log = client.get("/admin/vendors/auditevent/").content.decode()
    assert "Plan edited" in log and f"requests_per_minute: {before!r} → {before + 40!r}" in log


def test_saving_a_plan_unchanged_audits_nothing_and_a_new_plan_is_audited(admin_client, plans):
    client, _ = admin_client
    free = plans["free"]

    client.post(f"/admin/vendors/plan/{free.pk}/change/", plan_form(free))
    client.post("/admin/vendors/plan/add/", plan_form(free, code="trial", name="Trial"))

    assert not AuditEvent.objects.filter(action=AuditEvent.Action.EDIT_PLAN).exists()
    created = AuditEvent.objects.get(action=AuditEvent.Action.CREATE_PLAN)
    assert created.changes["plan"] == "trial" and created.changes["name"] == [None, "Trial"]


# --- Last used ------------------------------------------------------------------------------------------------------


def vendor_page(client, vendor) -> str:
    return client.get(f"/admin/vendors/vendor/{vendor.pk}/change/").content.decode()


def test_a_token_request_writes_nothing_and_the_flush_records_the_last_use(free_vendor, token_for, manager_client):
    vendor = free_vendor.vendor
    assert "never used to obtain a token" in vendor_page(manager_client, vendor)

    token_for(free_vendor)

    assert Vendor.objects.get(pk=vendor.pk).secret_last_used_at is None  # not written by the request
    metering.usage_flush()
    used = Vendor.objects.get(pk=vendor.pk).secret_last_used_at
    assert used is not None
    assert "last obtained a token" in vendor_page(manager_client, vendor)


def test_the_last_use_flush_moves_no_cache_version(free_vendor, token_for):
    # Every worker would otherwise drop its copies of the vendor's client and tokens at each flush (measured: token
    # p99 from 55 ms to 440-530 ms in the side-by-side benchmark).
    sent = []

    def spy(sender, **kwargs):
        sent.append(sender)

    rows_changed.connect(spy)
    try:
        token_for(free_vendor)
        metering.usage_flush()
    finally:
        rows_changed.disconnect(spy)
    assert Vendor.objects.get(pk=free_vendor.vendor.pk).secret_last_used_at is not None
    assert Vendor not in sent


def test_rotation_moves_the_last_use_to_the_previous_secret_and_each_is_tracked(free_vendor, token_for, api):
    vendor = free_vendor.vendor
    token_for(free_vendor)
    metering.usage_flush()
    first_use = Vendor.objects.get(pk=vendor.pk).secret_last_used_at

    # A use still pending in the process when the rotation happens is credited to the secret that made it.
    token_for(free_vendor)
    issued = services.vendor_secret_rotate(vendor=vendor)
    rotated = Vendor.objects.get(pk=vendor.pk)
    assert (rotated.secret_last_used_at, rotated.previous_secret_last_used_at) == (None, first_use)
    metering.usage_flush()
    rotated.refresh_from_db()
    assert rotated.secret_last_used_at is None and rotated.previous_secret_last_used_at > first_use

    token_for(issued)
    metering.usage_flush()
    rotated.refresh_from_db()
    assert rotated.secret_last_used_at is not None


def test_a_wrong_secret_records_nothing_and_an_older_moment_never_overwrites_a_newer(free_vendor, api, token_for):
    vendor = free_vendor.vendor
    body = {"client_id": vendor.client_id, "client_secret": "wrong" * 10}
    assert api.post("/auth/token", body, format="json").status_code == 401
    assert last_used.take() == {}

    token_for(free_vendor)
    metering.usage_flush()
    newest = Vendor.objects.get(pk=vendor.pk).secret_last_used_at
    last_used.restore({(vendor.pk, vendor.application.client_secret): newest.replace(year=newest.year - 1)})
    metering.usage_flush()
    assert Vendor.objects.get(pk=vendor.pk).secret_last_used_at == newest


def test_the_vendor_page_shows_the_last_use_of_both_live_secrets(free_vendor, token_for, manager_client):
    vendor = free_vendor.vendor
    token_for(free_vendor)
    metering.usage_flush()
    services.vendor_secret_rotate(vendor=vendor)

    page = vendor_page(manager_client, vendor)

    assert 'id="previous-secret-last-used">Previous secret: last obtained a token' in page
    assert 'id="current-secret-last-used">Current secret: never used to obtain a token' in page
