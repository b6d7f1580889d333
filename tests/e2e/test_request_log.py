"""A vendor's request log in a real browser: real requests, the usage flush, the vendor page's link, a filter."""

import re

import pytest

from vendors.limits import metering

# The live server answers from another thread, so what a test writes must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


def test_staff_open_a_vendors_request_log_and_filter_it_by_error_code(
    page, login, viewer, make_vendor, http, screenshot, tmp_path
):
    issued = make_vendor("free", name="Initech")
    status, tokens = http.token(issued.vendor.client_id, issued.client_secret)
    assert status == 200
    access_token = tokens["access_token"]
    assert http.get("/brands?limit=5", access_token) == 200
    assert http.get("/campaigns", access_token) == 403  # not on the Free plan: plan_forbidden
    assert http.get("/brands/424242", access_token) == 404  # not_found
    metering.usage_flush()  # the live server's entries wait in this same process until then

    login(viewer)
    page.goto(f"/admin/vendors/vendor/{issued.vendor.pk}/change/")
    page.click("#request-log-link")
    page.wait_for_url(re.compile(rf"/admin/vendors/vendor/{issued.vendor.pk}/requests/$"))
    rows = page.locator("tr.charp-request")
    assert rows.count() == 4
    assert "/brands?limit=[redacted]" in page.content()
    assert access_token not in page.content() and issued.client_secret not in page.content()

    page.select_option("#id_error", "plan_forbidden")
    page.click("#request-log-filters input[type=submit]")
    page.wait_for_url(re.compile(r"\?status=&error=plan_forbidden$"))
    assert rows.count() == 1
    assert rows.first.locator(".charp-path").inner_text() == "/campaigns"
    assert rows.first.locator(".charp-request-status").inner_text() == "403"
    assert rows.first.locator(".charp-request-error").inner_text() == "plan_forbidden"

    shot = screenshot("request-log-plan-forbidden")
    assert shot.parent == tmp_path and shot.is_file() and shot.stat().st_size > 0
