"""Reload, back button, second tab and a resent form, in a real browser, on every page that shows a secret or
confirms an action: the action happens once, and a secret is shown once."""

import re

import pytest
from oauth2_provider.models import AccessToken

from vendors import services
from vendors.models import AuditEvent, Vendor

pytestmark = pytest.mark.django_db(transaction=True)

ALREADY_SHOWN = "already shown — rotate to get a new one"
REVEAL_URL = re.compile(r"/admin/vendors/vendor/\d+/secret/[\w-]+/$")


def vendor_url(vendor, action: str = "change") -> str:
    return f"/admin/vendors/vendor/{vendor.pk}/{action}/"


def panel_form(page) -> dict:
    """What the confirmation form on the page would submit (its CSRF token and version included)."""
    return page.evaluate("Object.fromEntries(new FormData(document.querySelector('.charp-panel form')))")


def resend(page, url: str, form: dict):
    """What a browser's "Resend" does: the same POST again, with the session's cookies."""
    return page.request.post(url, form=form, max_redirects=0)


def events(action) -> int:
    return AuditEvent.objects.filter(action=action).count()


def test_add_vendor_secret_survives_no_reload_back_button_or_second_tab(page, login, manager, http):
    login(manager)
    page.goto("/admin/vendors/vendor/add/")
    page.fill("#id_name", "Acme Media")
    page.select_option("#id_plan", label="Standard")
    page.click("input[name=_save]")
    page.wait_for_selector("#client-secret")
    reveal_url = page.url
    client_id, secret = page.inner_text("#client-id"), page.inner_text("#client-secret")

    response = page.reload()
    assert Vendor.objects.count() == 1
    assert response.status == 410 and ALREADY_SHOWN in page.content() and secret not in page.content()
    assert REVEAL_URL.search(reveal_url)

    second_tab = page.context.new_page()
    response = second_tab.goto(reveal_url)
    assert response.status == 410 and ALREADY_SHOWN in second_tab.content() and secret not in second_tab.content()
    second_tab.close()

    page.click("#continue")
    page.wait_for_url(re.compile(r"/change/$"))
    page.go_back()
    page.wait_for_url(REVEAL_URL)
    assert ALREADY_SHOWN in page.content() and secret not in page.content()

    # Back to the add form and the same name again: refused, no second vendor.
    page.go_back()
    page.wait_for_url("**/add/")
    page.fill("#id_name", "ACME media")
    page.select_option("#id_plan", label="Standard")
    page.click("input[name=_save]")
    page.wait_for_selector(".errorlist")
    assert "already exists" in page.content()

    assert Vendor.objects.count() == 1
    assert events(AuditEvent.Action.CREATE) == 1
    assert http.token(client_id, secret)[0] == 200


def test_rotation_happens_once_whatever_the_reload_back_button_second_tab_or_resend(
    page, login, manager, make_vendor, http
):
    issued = make_vendor("free", name="Globex")
    vendor = issued.vendor
    login(manager)
    stale_tab = page.context.new_page()
    stale_tab.goto(vendor_url(vendor, "rotate-secret"))

    page.goto(vendor_url(vendor, "rotate-secret"))
    form = panel_form(page)
    page.click("input[type=submit]")  # the default grace: 24 hours
    page.wait_for_selector("#client-secret")
    reveal_url = page.url
    new_secret = page.inner_text("#client-secret")

    response = page.reload()
    assert events(AuditEvent.Action.ROTATE_SECRET) == 1
    assert http.token(vendor.client_id, issued.client_secret)[0] == 200  # reloading must not end the grace
    assert response.status == 410 and ALREADY_SHOWN in page.content() and new_secret not in page.content()
    other = page.context.new_page()
    assert other.goto(reveal_url).status == 410 and ALREADY_SHOWN in other.content()
    other.close()
    page.go_back()
    page.wait_for_url(f"**{vendor_url(vendor, 'rotate-secret')}")
    page.go_forward()
    page.wait_for_url(REVEAL_URL)
    assert new_secret not in page.content()

    # A second tab with the confirmation rendered before the rotation, and the browser's "Resend": refused.
    stale_tab.click("input[type=submit]")
    stale_tab.wait_for_url(f"**{vendor_url(vendor)}")
    assert "nothing was done" in stale_tab.content()
    assert resend(page, vendor_url(vendor, "rotate-secret"), form).status in (302, 303)

    assert events(AuditEvent.Action.ROTATE_SECRET) == 1
    # No outage: the production secret still works in its grace period, next to the one shown.
    assert http.token(vendor.client_id, issued.client_secret)[0] == 200
    assert http.token(vendor.client_id, new_secret)[0] == 200


def _suspend(vendor):
    return vendor_url(vendor, "suspend"), "input[value='Yes, suspend']", AuditEvent.Action.SUSPEND, vendor_url(vendor)


def _reactivate(vendor):
    services.vendor_suspend(vendor=vendor)
    return (
        vendor_url(vendor, "reactivate"),
        "input[value='Yes, reactivate']",
        AuditEvent.Action.REACTIVATE,
        vendor_url(vendor),
    )


def _revoke_all(vendor):
    return (
        vendor_url(vendor, "tokens/revoke-all"),
        "input[value='Yes, revoke all']",
        AuditEvent.Action.REVOKE_TOKENS,
        vendor_url(vendor, "tokens"),
    )


def _revoke_one(vendor):
    token = AccessToken.objects.filter(application=vendor.application).order_by("pk").first()
    return (
        vendor_url(vendor, f"tokens/{token.pk}/revoke"),
        "input[value='Yes, revoke']",
        AuditEvent.Action.REVOKE_TOKENS,
        vendor_url(vendor, "tokens"),
    )


def _plan(vendor):
    button = "input[value='Change the plan']"
    return vendor_url(vendor, "plan"), button, AuditEvent.Action.CHANGE_PLAN, vendor_url(vendor)


def _allow_list(vendor):
    return (
        vendor_url(vendor, "allow-list"),
        "input[value='Save the allow-list']",
        AuditEvent.Action.CHANGE_ALLOW_LIST,
        vendor_url(vendor),
    )


def choose(page, action, first: bool) -> None:
    """The choice on a form that asks for one: the first tab's wins, the stale second tab's must not."""
    if action is _plan:
        page.select_option("#id_plan", label="Enterprise" if first else "Standard")
    elif action is _allow_list:
        page.fill("#id_cidrs", "203.0.113.0/24" if first else "198.51.100.0/24")


@pytest.mark.parametrize(
    "action", [_suspend, _reactivate, _revoke_all, _revoke_one, _plan, _allow_list], ids=lambda a: a.__name__
)
def test_a_confirmed_action_happens_once_on_reload_back_button_second_tab_and_resend(
    action, page, login, manager, make_vendor, http
):
    issued = make_vendor("free", name="Initech")
    for _ in range(2):
        assert http.token(issued.vendor.client_id, issued.client_secret)[0] == 200
    confirm_url, button, audited, result_url = action(issued.vendor)
    before = events(audited)
    login(manager)
    stale_tab = page.context.new_page()
    stale_tab.goto(confirm_url)
    choose(stale_tab, action, first=False)

    page.goto(confirm_url)
    choose(page, action, first=True)
    form = panel_form(page)
    page.click(button)
    page.wait_for_url(f"**{result_url}")
    assert events(audited) == before + 1

    page.reload()  # the result page is a GET: reloading it repeats nothing
    page.wait_for_url(f"**{result_url}")
    page.go_back()  # back to the confirmation: asked for again, for the state as it is now
    page.go_forward()
    stale_tab.click(button)  # the second tab, confirmed on the state before the action
    stale_tab.wait_for_url(f"**{result_url}")
    assert resend(page, confirm_url, form).status in (302, 303)  # the browser's "Resend" of the first POST

    assert events(audited) == before + 1
    if action is _plan:
        assert Vendor.objects.get(pk=issued.vendor.pk).plan.code == "enterprise"
    if action is _allow_list:
        assert Vendor.objects.get(pk=issued.vendor.pk).allowed_cidrs == ["203.0.113.0/24"]
