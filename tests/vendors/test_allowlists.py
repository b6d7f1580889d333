"""Address allow-lists per vendor: token requests, refreshes and API calls from other addresses are refused with 403
address_not_allowed, at once after a change; set from the admin and `manage.py setallowlist`, audited."""

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from oauth2_provider.models import AccessToken, RefreshToken

from charp.http import metrics
from tests.vendors.conftest import confirm, rendered_version
from vendors import services
from vendors.models import AuditEvent, Plan, Vendor

from .oauth_helpers import as_json, credentials

pytestmark = pytest.mark.django_db

OFFICE, HOME = "198.51.100.7", "203.0.113.9"
OFFICE_RANGE = "198.51.100.0/24"


def allow(issued, *cidrs: str) -> Vendor:
    return services.vendor_allow_list_set(vendor=issued.vendor, cidrs=cidrs)


def token_from(client, issued, address: str, **headers):
    return as_json(client, "/auth/token", credentials(issued), REMOTE_ADDR=address, **headers)


def refresh_from(client, refresh_token: str, address: str):
    return as_json(client, "/auth/refresh", {"refresh_token": refresh_token}, REMOTE_ADDR=address)


def assert_refused(response, address: str) -> dict:
    assert response.status_code == 403, response.content
    body = response.json()
    assert body["error"] == "address_not_allowed"
    assert f" {address} is not one of them" in body["error_description"]
    assert "ask Charp support to add" in body["error_description"]
    return body


def auth_failures(endpoint: str) -> float:
    return metrics.AUTH_FAILURES.labels(endpoint)._value.get()


# --- /auth/token ----------------------------------------------------------------------------------------------------


def test_without_an_allow_list_every_address_gets_tokens(client, free_vendor):
    assert free_vendor.vendor.allowed_cidrs == []
    for address in (OFFICE, HOME, "2001:db8::1"):
        assert token_from(client, free_vendor, address).status_code == 200


def test_tokens_are_issued_only_to_allowed_addresses(client, free_vendor):
    allow(free_vendor, OFFICE_RANGE)

    assert token_from(client, free_vendor, OFFICE).status_code == 200
    refused = token_from(client, free_vendor, HOME)

    body = assert_refused(refused, HOME)
    assert set(body) == {"error", "error_description"}  # RFC 6749 §5.2
    assert refused["Cache-Control"] == "no-store"
    assert "WWW-Authenticate" not in refused
    assert AccessToken.objects.filter(application=free_vendor.vendor.application).count() == 1


def test_a_refused_address_is_no_failed_authentication_and_costs_no_issuance(client, make_vendor, settings):
    Plan.objects.create(code="one", name="One", requests_per_minute=60, tokens_per_hour=1)
    issued = make_vendor("one")
    allow(issued, OFFICE_RANGE)
    settings.AUTH_FAILURES_PER_IP = settings.AUTH_FAILURES_PER_CLIENT = 1
    failures = auth_failures("token")

    for _ in range(3):
        assert_refused(token_from(client, issued, HOME), HOME)

    assert auth_failures("token") == failures
    # The failure budget of that address is untouched: a wrong secret is its first failure (401, not 429).
    wrong = as_json(client, "/auth/token", {**credentials(issued), "client_secret": "wrong"}, REMOTE_ADDR=HOME)
    assert wrong.status_code == 401
    # The refused requests gave their issuance back: the plan's one token an hour is still there.
    assert token_from(client, issued, OFFICE).status_code == 200


def test_an_unknown_client_or_a_wrong_secret_learns_nothing_of_the_allow_list(client, free_vendor):
    allow(free_vendor, OFFICE_RANGE)

    wrong = as_json(client, "/auth/token", {**credentials(free_vendor), "client_secret": "wrong"}, REMOTE_ADDR=HOME)
    unknown = as_json(client, "/auth/token", {"client_id": "x" * 40, "client_secret": "y"}, REMOTE_ADDR=HOME)

    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")
    assert (unknown.status_code, unknown.json()["error"]) == (401, "invalid_client")


def test_ipv6_addresses_and_ranges(client, free_vendor):
    allow(free_vendor, "2001:db8:aa::/48", "2001:db8::1")

    assert token_from(client, free_vendor, "2001:db8:aa:1::5").status_code == 200
    assert token_from(client, free_vendor, "2001:db8::1").status_code == 200
    # Judged on the exact address, not on the /64 that keys the failure budget.
    assert_refused(token_from(client, free_vendor, "2001:db8::2"), "2001:db8::2")
    assert_refused(token_from(client, free_vendor, OFFICE), OFFICE)


def test_an_ipv4_mapped_caller_is_judged_by_its_ipv4_address(client, free_vendor):
    allow(free_vendor, OFFICE_RANGE)

    assert token_from(client, free_vendor, f"::ffff:{OFFICE}").status_code == 200
    assert_refused(token_from(client, free_vendor, f"::ffff:{HOME}"), HOME)


def test_behind_trusted_proxies_the_forwarded_address_is_judged(client, free_vendor, settings):
    allow(free_vendor, OFFICE_RANGE)
    proxy = "10.0.0.1"

    # Without trusted proxies X-Forwarded-For is the caller's to write, so it is ignored.
    assert_refused(token_from(client, free_vendor, proxy, HTTP_X_FORWARDED_FOR=OFFICE), proxy)

    settings.TRUSTED_PROXY_COUNT = 1
    assert token_from(client, free_vendor, proxy, HTTP_X_FORWARDED_FOR=OFFICE).status_code == 200
    # An allowed address forged further left does not help: the proxy's own entry is the caller.
    assert_refused(token_from(client, free_vendor, proxy, HTTP_X_FORWARDED_FOR=f"{OFFICE}, {HOME}"), HOME)


def test_revocation_works_from_any_address(client, free_vendor):
    tokens = token_from(client, free_vendor, OFFICE).json()
    allow(free_vendor, OFFICE_RANGE)

    revoked = as_json(
        client, "/auth/revoke", {**credentials(free_vendor), "token": tokens["access_token"]}, REMOTE_ADDR=HOME
    )

    assert revoked.status_code == 200
    assert not AccessToken.objects.filter(application=free_vendor.vendor.application).exists()


# --- /auth/refresh --------------------------------------------------------------------------------------------------


def test_refreshes_only_from_allowed_addresses(client, free_vendor):
    allow(free_vendor, OFFICE_RANGE, "2001:db8::/64")
    tokens = token_from(client, free_vendor, OFFICE).json()
    failures = auth_failures("refresh")

    assert_refused(refresh_from(client, tokens["refresh_token"], HOME), HOME)
    assert_refused(refresh_from(client, tokens["refresh_token"], "2001:db8:1::1"), "2001:db8:1::1")

    assert auth_failures("refresh") == failures
    # Nothing was rotated: the refresh token still works from an allowed address, IPv6 too.
    assert RefreshToken.objects.get(token_checksum__isnull=False, revoked__isnull=True)
    renewed = refresh_from(client, tokens["refresh_token"], "2001:db8::1")
    assert renewed.status_code == 200, renewed.content
    assert refresh_from(client, renewed.json()["refresh_token"], OFFICE).status_code == 200


def test_a_refresh_with_client_credentials_is_judged_too(client, free_vendor):
    allow(free_vendor, OFFICE_RANGE)
    tokens = token_from(client, free_vendor, OFFICE).json()
    body = {**credentials(free_vendor), "refresh_token": tokens["refresh_token"]}

    assert_refused(as_json(client, "/auth/refresh", body, REMOTE_ADDR=HOME), HOME)
    at_token = {**body, "grant_type": "refresh_token"}
    assert_refused(as_json(client, "/auth/token", at_token, REMOTE_ADDR=HOME), HOME)
    assert as_json(client, "/auth/refresh", body, REMOTE_ADDR=OFFICE).status_code == 200


def test_a_reused_refresh_token_still_revokes_its_family_from_another_address(client, free_vendor):
    allow(free_vendor, OFFICE_RANGE)
    first = token_from(client, free_vendor, OFFICE).json()
    second = refresh_from(client, first["refresh_token"], OFFICE).json()

    reused = refresh_from(client, first["refresh_token"], HOME)

    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
    assert refresh_from(client, second["refresh_token"], OFFICE).json()["error"] == "invalid_grant"


# --- the APIs -------------------------------------------------------------------------------------------------------


def test_api_calls_only_from_allowed_addresses(api, free_vendor):
    allow(free_vendor, OFFICE_RANGE, "2001:db8::/64")
    token = token_from(api, free_vendor, OFFICE).json()["access_token"]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    assert api.get("/brands", REMOTE_ADDR=OFFICE).status_code == 200
    assert api.get("/brands", REMOTE_ADDR="2001:db8::1").status_code == 200
    refused = api.get("/brands", REMOTE_ADDR=HOME)
    refused_v6 = api.post("/brands", {"name": "Shoes"}, format="json", REMOTE_ADDR="2001:db8:1::1")

    body = assert_refused(refused, HOME)
    assert set(body) == {"error", "error_description"}  # the API's error shape
    assert refused["RateLimit"] and refused["Cache-Control"] == "private, no-cache"
    assert_refused(refused_v6, "2001:db8:1::1")
    assert not free_vendor.vendor.brands.exists()


def test_an_unreadable_address_is_refused_when_there_is_an_allow_list(api, free_vendor):
    token = token_from(api, free_vendor, OFFICE).json()["access_token"]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/brands", REMOTE_ADDR="").status_code == 200  # no allow-list: as before

    allow(free_vendor, OFFICE_RANGE)
    refused = api.get("/brands", REMOTE_ADDR="")

    assert (refused.status_code, refused.json()["error"]) == (403, "address_not_allowed")
    assert "could not be read" in refused.json()["error_description"]


def test_a_change_bites_at_once_on_a_cached_token(api, free_vendor, django_assert_num_queries):
    token = token_from(api, free_vendor, HOME).json()["access_token"]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/brands", REMOTE_ADDR=HOME).status_code == 200
    with django_assert_num_queries(0):  # the token, with its vendor, is this worker's copy
        assert api.get("/brands", REMOTE_ADDR=HOME).status_code == 200

    allow(free_vendor, OFFICE_RANGE)

    assert_refused(api.get("/brands", REMOTE_ADDR=HOME), HOME)
    assert api.get("/brands", REMOTE_ADDR=OFFICE).status_code == 200
    # Still no SQL on the warm path: the allow-list came with the vendor's row, parsed once.
    with django_assert_num_queries(0):
        assert api.get("/brands", REMOTE_ADDR=OFFICE).status_code == 200
        assert api.get("/brands", REMOTE_ADDR=HOME).status_code == 403

    allow(free_vendor)  # cleared: any address again
    assert api.get("/brands", REMOTE_ADDR=HOME).status_code == 200


def test_a_change_bites_at_once_on_a_cached_client(client, free_vendor):
    assert token_from(client, free_vendor, HOME).status_code == 200  # the client is now this worker's copy

    allow(free_vendor, OFFICE_RANGE)

    assert_refused(token_from(client, free_vendor, HOME), HOME)


# --- the list itself ------------------------------------------------------------------------------------------------


def test_entries_are_normalized():
    assert services.normalized_cidrs(
        [" 198.51.100.7 ", "198.51.100.77/24", "", "2001:DB8::1", "2001:db8:0:0:1::/64", "198.51.100.0/24"]
    ) == ["198.51.100.7/32", "198.51.100.0/24", "2001:db8::1/128", "2001:db8::/64"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("198.51.100.300", "“198.51.100.300” is not an IPv4 or IPv6 address"),
        ("10.0.0.0/33", "“10.0.0.0/33” is not"),
        ("example.com", "“example.com” is not"),
        ("::ffff:198.51.100.0/120", "write it as IPv4 (198.51.100.0/24)"),
    ],
)
def test_a_bad_entry_is_named(entry, message):
    with pytest.raises(ValidationError) as raised:
        services.normalized_cidrs(["10.0.0.1", entry])
    assert message in raised.value.messages[0]


def test_the_list_is_capped():
    services.normalized_cidrs([f"10.0.{i}.0/24" for i in range(services.MAX_ALLOWED_CIDRS)])
    with pytest.raises(ValidationError, match="at most 100 ranges"):
        services.normalized_cidrs([f"10.0.{i}.0/24" for i in range(services.MAX_ALLOWED_CIDRS + 1)])


# --- manage.py setallowlist -----------------------------------------------------------------------------------------


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_the_command_sets_and_clears_the_list_and_audits(client, free_vendor):
    client_id = free_vendor.vendor.client_id

    printed = run("setallowlist", client_id, "198.51.100.77/24", "2001:db8::1")

    assert printed == "Free Co accepts requests only from:\n198.51.100.0/24\n2001:db8::1/128\n"
    vendor = Vendor.objects.get(pk=free_vendor.vendor.pk)
    assert vendor.allowed_cidrs == ["198.51.100.0/24", "2001:db8::1/128"]
    assert_refused(token_from(client, free_vendor, HOME), HOME)

    assert run("setallowlist", client_id) == "Free Co accepts requests from any address.\n"
    assert Vendor.objects.get(pk=vendor.pk).allowed_cidrs == []
    assert token_from(client, free_vendor, HOME).status_code == 200
    events = AuditEvent.objects.filter(action=AuditEvent.Action.CHANGE_ALLOW_LIST).order_by("id")
    assert [(event.actor_label, event.changes) for event in events] == [
        ("command line", {"from": [], "to": ["198.51.100.0/24", "2001:db8::1/128"]}),
        ("command line", {"from": ["198.51.100.0/24", "2001:db8::1/128"], "to": []}),
    ]
    assert str(events[0]) == "Allow-list changed: Free Co by command line"


def test_the_command_names_a_bad_cidr_and_changes_nothing(free_vendor):
    allow(free_vendor, OFFICE_RANGE)

    with pytest.raises(CommandError, match="“10.0.0.0/40” is not an IPv4 or IPv6 address"):
        run("setallowlist", free_vendor.vendor.client_id, "10.0.0.1", "10.0.0.0/40")

    assert Vendor.objects.get(pk=free_vendor.vendor.pk).allowed_cidrs == [OFFICE_RANGE]
    assert AuditEvent.objects.filter(action=AuditEvent.Action.CHANGE_ALLOW_LIST).count() == 1
    with pytest.raises(CommandError, match="No vendor has the client ID 'nope'"):
        run("setallowlist", "nope", "10.0.0.1")


def test_setting_the_same_list_again_audits_nothing(free_vendor):
    run("setallowlist", free_vendor.vendor.client_id, OFFICE)
    run("setallowlist", free_vendor.vendor.client_id, f"{OFFICE}/32")

    assert AuditEvent.objects.filter(action=AuditEvent.Action.CHANGE_ALLOW_LIST).count() == 1


# --- the staff portal -----------------------------------------------------------------------------------------------


def page(vendor) -> str:
    return f"/admin/vendors/vendor/{vendor.pk}/allow-list/"


def test_the_vendor_page_shows_the_list_and_links_to_its_editor(manager_client, free_vendor):
    change = f"/admin/vendors/vendor/{free_vendor.vendor.pk}/change/"
    body = manager_client.get(change).content.decode()
    assert "Any address." in body and page(free_vendor.vendor) in body

    allow(free_vendor, OFFICE_RANGE, "2001:db8::/48")

    body = manager_client.get(change).content.decode()
    assert "<code>198.51.100.0/24</code>, <code>2001:db8::/48</code>" in body


def test_staff_edit_the_list_and_it_is_audited(manager_client, manager, free_vendor, client):
    vendor = free_vendor.vendor
    assert manager_client.get(page(vendor)).status_code == 200

    response = confirm(manager_client, page(vendor), {"cidrs": "198.51.100.77/24\n2001:db8::1, 203.0.113.0/28"})

    assert response.status_code == 303
    assert response["Location"] == f"/admin/vendors/vendor/{vendor.pk}/change/"
    stored = ["198.51.100.0/24", "2001:db8::1/128", "203.0.113.0/28"]
    assert Vendor.objects.get(pk=vendor.pk).allowed_cidrs == stored
    event = AuditEvent.objects.get(action=AuditEvent.Action.CHANGE_ALLOW_LIST)
    assert (event.actor, event.actor_label, event.changes) == (manager, "manager", {"from": [], "to": stored})
    assert "now accepts requests from 198.51.100.0/24" in manager_client.get(response["Location"]).content.decode()
    assert token_from(client, free_vendor, "203.0.113.1").status_code == 200
    assert_refused(token_from(client, free_vendor, "203.0.113.100"), "203.0.113.100")
    # The form shows the stored list, one range a line; emptied, any address works again.
    edit = manager_client.get(page(vendor)).content.decode()
    assert "198.51.100.0/24\n2001:db8::1/128\n203.0.113.0/28</textarea>" in edit
    assert confirm(manager_client, page(vendor), {"cidrs": ""}).status_code == 303
    assert Vendor.objects.get(pk=vendor.pk).allowed_cidrs == []
    assert AuditEvent.objects.filter(action=AuditEvent.Action.CHANGE_ALLOW_LIST).count() == 2
    log = manager_client.get("/admin/vendors/auditevent/?action=change_allow_list").content.decode()
    assert "any address → 198.51.100.0/24, 2001:db8::1/128, 203.0.113.0/28" in log
    assert "198.51.100.0/24, 2001:db8::1/128, 203.0.113.0/28 → any address" in log


def test_a_bad_entry_is_shown_on_the_form_and_nothing_changes(manager_client, free_vendor):
    response = confirm(manager_client, page(free_vendor.vendor), {"cidrs": "198.51.100.0/24\n198.51.100.0/99"})

    assert response.status_code == 200
    assert "“198.51.100.0/99” is not an IPv4 or IPv6 address or CIDR range" in response.content.decode()
    assert Vendor.objects.get(pk=free_vendor.vendor.pk).allowed_cidrs == []
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.CHANGE_ALLOW_LIST).exists()


def test_a_resent_or_stale_form_is_refused(manager_client, free_vendor):
    vendor = free_vendor.vendor
    version = rendered_version(manager_client.get(page(vendor)).content.decode())
    first = manager_client.post(page(vendor), {"version": version, "cidrs": OFFICE_RANGE})
    assert first.status_code == 303

    # A second tab opened before the change, sent afterwards with another list.
    stale = manager_client.post(page(vendor), {"version": version, "cidrs": HOME}, follow=True)

    assert "changed after this page was shown" in stale.content.decode()
    assert Vendor.objects.get(pk=vendor.pk).allowed_cidrs == [OFFICE_RANGE]
    assert AuditEvent.objects.filter(action=AuditEvent.Action.CHANGE_ALLOW_LIST).count() == 1


def test_a_viewer_cannot_edit_the_list(viewer_client, free_vendor):
    assert viewer_client.get(page(free_vendor.vendor)).status_code == 403
    assert viewer_client.post(page(free_vendor.vendor), {"cidrs": OFFICE_RANGE}).status_code == 403
    assert Vendor.objects.get(pk=free_vendor.vendor.pk).allowed_cidrs == []
