"""Failed client authentications at /auth/token, /auth/refresh and /auth/revoke: per address and per
(client ID, address), never per client ID alone."""

import base64
import time

import pytest
from django.test import RequestFactory

from charp.http.client import client_ip
from tests.conftest import get_token

pytestmark = pytest.mark.django_db

ATTACKER, VENDOR_HOST = "203.0.113.66", "198.51.100.7"


@pytest.fixture(autouse=True)
def small_limits(settings):
    settings.AUTH_FAILURES_PER_CLIENT = 3
    settings.AUTH_FAILURES_PER_IP = 5
    settings.AUTH_FAILURE_WINDOW = 600


def token_request(api, client_id, secret, address, path="/auth/token"):
    return api.post(path, {"client_id": client_id, "client_secret": secret}, format="json", REMOTE_ADDR=address)


def test_wrong_secrets_from_one_address_are_throttled_after_the_limit(api, free_vendor):
    client_id = free_vendor.vendor.client_id
    statuses = [token_request(api, client_id, "wrong", ATTACKER).status_code for _ in range(3)]
    refused = token_request(api, client_id, "wrong", ATTACKER)
    assert statuses == [401, 401, 401]
    assert refused.status_code == 429
    assert refused.json()["error"] == "slow_down"
    assert "error_description" in refused.json()
    assert 590 <= int(refused["Retry-After"]) <= 600
    assert refused["Cache-Control"] == "no-store"


def test_the_real_vendor_keeps_working_from_its_own_address(api, free_vendor):
    client_id = free_vendor.vendor.client_id
    for _ in range(20):
        token_request(api, client_id, "wrong", ATTACKER)
    response = token_request(api, client_id, free_vendor.client_secret, VENDOR_HOST)
    assert response.status_code == 200
    assert response.json()["access_token"]


def test_a_correct_secret_is_served_from_an_address_over_its_failure_budget(api, free_vendor):
    client_id = free_vendor.vendor.client_id
    for _ in range(3):
        token_request(api, client_id, "wrong", ATTACKER)
    assert token_request(api, client_id, "wrong", ATTACKER).status_code == 429
    # Generated secrets carry 256 bits: answering a right one costs nothing, so the right one is served.
    assert token_request(api, client_id, free_vendor.client_secret, ATTACKER).status_code == 200
    refused = token_request(api, client_id, "wrong", ATTACKER)
    assert refused.status_code == 429 and refused.json()["error"] == "slow_down"
    assert int(refused["Retry-After"]) > 0


def test_vendors_behind_one_shared_address_are_not_locked_out_by_a_neighbours_failures(api, make_vendor):
    """A NAT, an integration platform or a CI runner: one vendor's bad-credential test cases must not lock out the
    others behind the same egress address."""
    noisy, neighbour = make_vendor("free"), make_vendor("free")
    for _ in range(10):
        token_request(api, noisy.vendor.client_id, "wrong", ATTACKER)
    assert token_request(api, noisy.vendor.client_id, "wrong", ATTACKER).status_code == 429
    assert token_request(api, neighbour.vendor.client_id, neighbour.client_secret, ATTACKER).status_code == 200
    assert token_request(api, noisy.vendor.client_id, noisy.client_secret, ATTACKER).status_code == 200


def test_a_decoy_basic_header_cannot_reset_the_failure_budget(api, free_vendor):
    """The throttle and authentication read one parse of the credentials, and a lowercase scheme is HTTP Basic to
    both (RFC 9110 §11.1): a random client in the header cannot let the body's guesses run under its budget."""
    client_id, secret = free_vendor.vendor.client_id, free_vendor.client_secret
    decoy = base64.b64encode(b"decoy:x").decode()
    with_decoy = api.post(
        "/auth/token",
        {"client_id": client_id, "client_secret": secret},
        format="json",
        REMOTE_ADDR=ATTACKER,
        HTTP_AUTHORIZATION=f"basic {decoy}",
    )
    assert with_decoy.status_code == 401  # the header and the body name different clients: nobody is authenticated
    real = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    for scheme in ("basic", "BASIC", "Basic"):
        answer = api.post(
            "/auth/token",
            "grant_type=client_credentials",
            content_type="application/x-www-form-urlencoded",
            REMOTE_ADDR=VENDOR_HOST,
            HTTP_AUTHORIZATION=f"{scheme} {real}",
        )
        assert answer.status_code == 200, scheme
    wrong = base64.b64encode(f"{client_id}:wrong".encode()).decode()
    statuses = [
        api.post(
            "/auth/token",
            "grant_type=client_credentials",
            content_type="application/x-www-form-urlencoded",
            REMOTE_ADDR=VENDOR_HOST,
            HTTP_AUTHORIZATION=f"basic {wrong}",
        ).status_code
        for _ in range(4)
    ]
    assert statuses == [401, 401, 401, 429]  # counted for the client authentication tried: its budget is 3


@pytest.mark.parametrize(
    "path, body",
    [
        ("/auth/token", "grant_type=client_credentials"),
        ("/auth/refresh", "refresh_token=x"),
        ("/auth/revoke", "token=x"),
    ],
)
def test_a_nul_in_the_basic_client_id_is_a_counted_401(api, path, body):
    basic = base64.b64encode(b"a%00b:secret").decode()
    statuses = []
    for _ in range(6):
        response = api.post(
            path,
            body,
            content_type="application/x-www-form-urlencoded",
            HTTP_AUTHORIZATION=f"Basic {basic}",
            REMOTE_ADDR=ATTACKER,
        )
        statuses.append(response.status_code)
        assert response.json()["error"] in ("invalid_client", "slow_down")
    assert statuses == [401] * 5 + [429]


def test_the_address_limit_spans_client_ids(api, make_vendor):
    vendors = [make_vendor("free") for _ in range(3)]
    statuses = [token_request(api, v.vendor.client_id, "wrong", ATTACKER).status_code for v in vendors for _ in (1, 2)]
    assert statuses == [401] * 5 + [429]
    assert token_request(api, "unknown-client", "wrong", ATTACKER).status_code == 429
    other = make_vendor("free")
    assert token_request(api, other.vendor.client_id, other.client_secret, VENDOR_HOST).status_code == 200


def test_successful_issuance_is_never_counted(api, free_vendor):
    for _ in range(12):
        assert token_request(api, free_vendor.vendor.client_id, free_vendor.client_secret, ATTACKER).status_code == 200


def test_http_basic_credentials_are_keyed_by_their_client_id(api, free_vendor):
    client_id = free_vendor.vendor.client_id
    basic = "Basic " + base64.b64encode(f"{client_id}:wrong".encode()).decode()
    form = "application/x-www-form-urlencoded"
    statuses = [
        api.post(
            "/auth/token",
            "grant_type=client_credentials",
            content_type=form,
            HTTP_AUTHORIZATION=basic,
            REMOTE_ADDR=ATTACKER,
        ).status_code
        for _ in range(4)
    ]
    assert statuses == [401, 401, 401, 429]
    # The body-credential form of the same client ID from the same address is blocked too.
    assert token_request(api, client_id, "wrong", ATTACKER).status_code == 429


def test_bad_refresh_tokens_count_per_address(api, free_vendor):
    get_token(api, free_vendor)
    statuses = [
        api.post("/auth/refresh", {"refresh_token": f"bogus-{i}"}, format="json", REMOTE_ADDR=ATTACKER).status_code
        for i in range(6)
    ]
    # Answered 400 invalid_grant (no client ID was sent to be wrong), but a refresh token is this endpoint's credential:
    # a failed authentication all the same, counted like a 401.
    assert statuses == [400] * 5 + [429]
    assert api.post("/auth/refresh", {"refresh_token": "x"}, format="json", REMOTE_ADDR=ATTACKER).json()["error"] == (
        "slow_down"
    )


def test_revocation_with_a_wrong_secret_counts(api, free_vendor):
    tokens = get_token(api, free_vendor)
    body = {"client_id": free_vendor.vendor.client_id, "client_secret": "wrong", "token": tokens["access_token"]}
    statuses = [api.post("/auth/revoke", body, format="json", REMOTE_ADDR=ATTACKER).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]


def test_malformed_requests_are_not_failures(api):
    for _ in range(10):
        assert api.post("/auth/token", "nope", content_type="application/json", REMOTE_ADDR=ATTACKER).status_code == 400


def test_failures_age_out_of_the_window(api, free_vendor, settings):
    settings.AUTH_FAILURE_WINDOW = 1
    client_id = free_vendor.vendor.client_id
    for _ in range(3):
        token_request(api, client_id, "wrong", ATTACKER)
    assert token_request(api, client_id, "wrong", ATTACKER).status_code == 429
    time.sleep(1.1)
    assert token_request(api, client_id, free_vendor.client_secret, ATTACKER).status_code == 200


def test_x_forwarded_for_is_ignored_without_trusted_proxies(api, free_vendor):
    client_id = free_vendor.vendor.client_id
    for i in range(3):
        api.post(
            "/auth/token",
            {"client_id": client_id, "client_secret": "wrong"},
            format="json",
            REMOTE_ADDR=ATTACKER,
            HTTP_X_FORWARDED_FOR=f"192.0.2.{i}",
        )
    assert token_request(api, client_id, "wrong", ATTACKER).status_code == 429


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_caller(api, free_vendor, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    client_id = free_vendor.vendor.client_id
    proxy = "10.0.0.1"

    def via_proxy(secret, forwarded):
        body = {"client_id": client_id, "client_secret": secret}
        return api.post("/auth/token", body, format="json", REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=forwarded)

    # The attacker forges a leftmost entry; the proxy appends the real address, which is what counts.
    statuses = [via_proxy("wrong", f"198.51.100.{i}, {ATTACKER}").status_code for i in range(4)]
    assert statuses == [401, 401, 401, 429]
    assert via_proxy(free_vendor.client_secret, VENDOR_HOST).status_code == 200


@pytest.mark.parametrize(
    ("remote", "forwarded", "hops", "expected"),
    [
        ("203.0.113.5", "", 0, "203.0.113.5"),
        ("203.0.113.5", "1.2.3.4", 0, "203.0.113.5"),
        ("10.0.0.1", "1.2.3.4, 5.6.7.8", 1, "5.6.7.8"),
        ("10.0.0.1", "1.2.3.4, 5.6.7.8, 10.0.0.9", 2, "5.6.7.8"),
        ("10.0.0.1", "", 1, "10.0.0.1"),  # not forwarded at all: the proxy itself
        ("10.0.0.1", "garbage", 1, "garbage"),
        ("2001:db8:1:2:3:4:5:6", "", 0, "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.1", "", 0, "192.0.2.1"),
    ],
)
def test_the_source_address(settings, remote, forwarded, hops, expected):
    settings.TRUSTED_PROXY_COUNT = hops
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected
