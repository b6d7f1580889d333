"""Password guessing at the staff portal: failures lock a username at one address, and an address; never a username
everywhere, which would let anyone keep staff out."""

import pytest
from django.test import Client

PASSWORD = "correct-horse-battery-staple-42"
LOCKED = "Too many failed sign-in attempts"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """The lock does not depend on the hash's cost; PBKDF2's second per login would make these tests slow."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def alice(make_staff):
    return make_staff("alice", "vendors.view_vendor", password=PASSWORD)


@pytest.fixture
def bob(make_staff):
    return make_staff("bob", "vendors.view_vendor", password=PASSWORD)


def login(username, password, ip="198.51.100.7"):
    client = Client(REMOTE_ADDR=ip)
    response = client.post("/admin/login/?next=/admin/", {"username": username, "password": password})
    return client, response


def signed_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == "/admin/"


def test_five_wrong_passwords_from_one_address_lock_that_user_there_even_with_the_right_password(alice):
    for attempt in range(5):
        _, response = login("alice", f"wrong-{attempt}", ip="203.0.113.9")
        assert response.status_code == 200
        assert "Please enter the correct username and password" in response.content.decode()

    _, response = login("alice", PASSWORD, ip="203.0.113.9")

    assert response.status_code == 200
    assert not signed_in(response)
    page = response.content.decode()
    assert LOCKED in page and "Try again in 15 minutes" in page
    assert "_auth_user_id" not in response.wsgi_request.session
    # The lock is case-insensitive on the username.
    _, response = login("ALICE", PASSWORD, ip="203.0.113.9")
    assert LOCKED in response.content.decode()


def test_the_right_password_from_another_address_signs_in_while_one_address_floods_the_username(alice):
    for attempt in range(30):
        login("alice", f"wrong-{attempt}", ip="203.0.113.9")
    _, response = login("alice", PASSWORD, ip="203.0.113.9")
    assert LOCKED in response.content.decode()

    client, response = login("alice", PASSWORD, ip="192.0.2.50")

    assert signed_in(response)
    assert client.get("/admin/").status_code == 200


def test_failures_spread_over_addresses_lock_the_username_nowhere(alice):
    # Twenty failures in all, four times the budget of one address, but never five from the same one.
    for attempt in range(20):
        login("alice", f"wrong-{attempt}", ip=f"203.0.113.{attempt % 5 + 1}")

    _, response = login("alice", PASSWORD, ip="203.0.113.1")

    assert signed_in(response)


def test_a_username_locked_at_an_address_leaves_other_users_at_that_address_alone(alice, bob):
    for attempt in range(5):
        login("alice", f"wrong-{attempt}")

    client, response = login("bob", PASSWORD)

    assert signed_in(response)
    assert client.get("/admin/").status_code == 200


def test_four_failures_then_the_right_password_signs_in(alice):
    for attempt in range(4):
        login("alice", f"wrong-{attempt}")

    _, response = login("alice", PASSWORD)

    assert signed_in(response)


def test_twenty_failures_from_one_address_lock_that_address_for_every_username(alice, bob):
    for attempt in range(20):
        login(f"guess{attempt}", "wrong", ip="198.51.100.66")

    _, response = login("bob", PASSWORD, ip="198.51.100.66")
    assert not signed_in(response)
    assert LOCKED in response.content.decode()

    _, response = login("bob", PASSWORD, ip="198.51.100.67")
    assert signed_in(response)


def test_the_lock_lifts_when_the_failures_leave_the_window(alice, settings):
    import time

    settings.ADMIN_LOGIN_FAILURE_WINDOW = 1
    for attempt in range(5):
        login("alice", f"wrong-{attempt}")
    _, response = login("alice", PASSWORD)
    assert LOCKED in response.content.decode()
    assert "Try again in 1 minute," in response.content.decode()

    time.sleep(1.1)
    _, response = login("alice", PASSWORD)

    assert signed_in(response)


def test_staff_session_cookie_is_http_only_and_lasts_eight_hours(alice):
    _, response = login("alice", PASSWORD)

    cookie = response.cookies["sessionid"]
    assert cookie["httponly"]
    assert cookie["max-age"] == 8 * 3600
