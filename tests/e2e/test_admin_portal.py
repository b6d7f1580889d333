"""The staff portal in a real browser: onboarding, secret rotation, suspension and permissions, end to end."""

import re
from datetime import UTC, datetime, timedelta

import pytest

from vendors import services
from vendors.models import UsageDay

# The live server answers from another thread, so what a test writes must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


def vendor_url(vendor, action: str = "change") -> str:
    return f"/admin/vendors/vendor/{vendor.pk}/{action}/"


def test_staff_adds_a_vendor_whose_secret_works_once_shown_and_never_again(page, login, manager, http, screenshot):
    login(manager)
    page.click("text=Vendors >> nth=-1")
    page.click("a.addlink")
    page.fill("#id_name", "Acme Media")
    page.fill("#id_contact_email", "ops@acme.example")
    page.select_option("#id_plan", label="Standard")
    screenshot("01-add-vendor")
    page.click("input[name=_save]")

    page.wait_for_selector("#client-secret")
    assert "shown only this once" in page.content()
    client_id = page.inner_text("#client-id")
    secret = page.inner_text("#client-secret")
    assert len(secret) >= 40
    page.click("[data-copy=client-secret]")
    # The label changes once the clipboard write (a promise) has settled.
    page.wait_for_selector("[data-copy=client-secret]:text-is('Copied')", timeout=5000)
    assert page.evaluate("navigator.clipboard.readText()") == secret
    screenshot("02-secret-shown-once")

    status, body = http.token(client_id, secret)
    assert status == 200 and body["token_type"] == "Bearer"
    assert http.brands(body["access_token"]) == 200

    page.click("#continue")
    page.wait_for_url(re.compile(r"/admin/vendors/vendor/\d+/change/$"))
    assert client_id in page.content()
    screenshot("03-vendor-page")
    vendor = services.vendor_get(client_id=client_id)
    for url in [
        vendor_url(vendor),
        "/admin/vendors/vendor/",
        vendor_url(vendor, "history"),
        vendor_url(vendor, "tokens"),
        "/admin/",
        "/admin/vendors/auditevent/",
    ]:
        response = page.goto(url)
        assert response.status == 200, url
        assert secret not in page.content(), url
    screenshot("04-audit-log")
    assert "Vendor created" in page.content() and "dana.manager" in page.content()
    page.go_back()
    page.go_back()
    assert secret not in page.content()


def test_rotation_with_grace_keeps_both_secrets_until_a_no_grace_rotation(
    page, login, manager, make_vendor, http, screenshot
):
    issued = make_vendor("free", name="Globex")
    client_id = issued.vendor.client_id
    login(manager)

    page.goto(vendor_url(issued.vendor))
    page.click("text=Rotate secret")
    page.check("input[name=grace][value='3600']")
    screenshot("05-rotate-confirmation")
    page.click("input[type=submit]")
    page.wait_for_selector("#client-secret")
    second = page.inner_text("#client-secret")
    assert "previous secret keeps working until" in page.content()

    assert http.token(client_id, issued.client_secret)[0] == 200
    assert http.token(client_id, second)[0] == 200
    page.click("#continue")
    page.wait_for_url(f"**{vendor_url(issued.vendor)}")
    assert "still works until" in page.content()
    assert second not in page.content() and issued.client_secret not in page.content()
    screenshot("06-vendor-page-two-live-secrets")

    page.click("text=Rotate secret")
    page.check("input[name=grace][value='0']")
    page.click("input[type=submit]")
    page.wait_for_selector("#client-secret")
    third = page.inner_text("#client-secret")
    assert "The previous secret no longer works." in page.content()

    assert http.token(client_id, second)[0] == 401
    assert http.token(client_id, issued.client_secret)[0] == 401
    assert http.token(client_id, third)[0] == 200


def test_suspension_cuts_access_at_once_and_reactivation_restores_it(
    page, login, manager, make_vendor, http, screenshot
):
    issued = make_vendor("standard", name="Initech")
    status, body = http.token(issued.vendor.client_id, issued.client_secret)
    assert status == 200 and http.brands(body["access_token"]) == 200
    login(manager)

    page.goto(vendor_url(issued.vendor))
    page.click(".object-tools >> text=Suspend")
    screenshot("07-suspend-confirmation")
    page.click("input[value='Yes, suspend']")
    page.wait_for_url(f"**{vendor_url(issued.vendor)}")
    assert "is suspended" in page.content()
    screenshot("08-vendor-suspended")

    assert http.brands(body["access_token"]) == 401
    status, refusal = http.token(issued.vendor.client_id, issued.client_secret)
    assert (status, refusal["error"]) == (400, "unauthorized_client")

    page.click(".object-tools >> text=Reactivate")
    page.click("input[value='Yes, reactivate']")
    page.wait_for_url(f"**{vendor_url(issued.vendor)}")
    assert http.token(issued.vendor.client_id, issued.client_secret)[0] == 200


def test_staff_revoke_one_token_from_the_tokens_page(page, login, manager, make_vendor, http, screenshot):
    issued = make_vendor("free", name="Hooli")
    first = http.token(issued.vendor.client_id, issued.client_secret)[1]["access_token"]
    second = http.token(issued.vendor.client_id, issued.client_secret)[1]["access_token"]
    login(manager)

    page.goto(vendor_url(issued.vendor, "tokens"))
    assert "2 active access tokens" in page.content()
    assert first not in page.content() and second not in page.content()
    screenshot("09-tokens")
    page.click("#result_list tbody tr:last-child >> text=Revoke")
    page.click("input[value='Yes, revoke']")
    page.wait_for_url(f"**{vendor_url(issued.vendor, 'tokens')}")
    assert "1 active access token" in page.content()

    assert sorted([http.brands(first), http.brands(second)]) == [200, 401]
    assert http.brands(first) == 401  # the oldest row is the last one listed


def test_staff_without_the_credentials_permission_can_look_but_is_refused(page, login, viewer, make_vendor, screenshot):
    issued = make_vendor("free", name="Umbrella")
    today = datetime.now(UTC).date()
    # A working week's shape over the month, busier lately; the quiet days are weekends.
    for days_ago in range(30):
        day = today - timedelta(days=days_ago)
        if day.weekday() < 5:
            requests = 1_500 + 90 * (29 - days_ago) + 37 * (days_ago % 4)
            UsageDay.objects.create(vendor=issued.vendor, date=day, requests=requests)
    total = sum(UsageDay.objects.filter(vendor=issued.vendor).values_list("requests", flat=True))
    login(viewer)

    page.goto("/admin/vendors/vendor/")
    assert "Umbrella" in page.content()
    assert page.locator("a.addlink").count() == 0
    assert page.inner_text("td.field-recent_requests_display") == f"{total:,}"
    screenshot("10-vendor-list-with-usage")
    page.goto(vendor_url(issued.vendor))
    assert issued.vendor.client_id in page.content()
    chart = page.locator("svg.charp-usage-chart")
    assert chart.is_visible()
    assert chart.locator("rect.charp-usage-bar").count() == 30
    assert page.inner_text(".charp-usage-total") == f"{total:,}"
    latest = chart.locator("g.charp-usage-day").last
    assert latest.locator("title").text_content().endswith("(today, so far)")
    latest.hover()
    chart.scroll_into_view_if_needed()
    screenshot("11-vendor-page-usage-chart")
    assert page.locator(".object-tools >> text=Rotate secret").count() == 0
    assert page.locator(".object-tools >> text=Suspend").count() == 0

    for url in [
        "/admin/vendors/vendor/add/",
        vendor_url(issued.vendor, "rotate-secret"),
        vendor_url(issued.vendor, "suspend"),
    ]:
        response = page.goto(url)
        assert response.status == 403, url
        assert "You do not have permission" in page.content()
    screenshot("12-refused")
