"""Staff sessions: what django_session holds opens nothing, and a session left idle is signed out."""

import hashlib
import hmac
import subprocess
from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from tests.conftest import MANAGER_PERMS, on_postgres
from tests.vendors.conftest import rendered_version
from vendors.models import AuditEvent, Vendor

PASSWORD = "correct-horse-battery-staple-42"
SIGNED_OUT = "/admin/login/?next=/admin/"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Sessions do not depend on the hash's cost; PBKDF2's second per login would make these tests slow."""
    # First, so that it hashes the staff password; the others stay, the client secrets' hasher among them.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *settings.PASSWORD_HASHERS]


@pytest.fixture
def manager(make_staff):
    return make_staff("manager", *MANAGER_PERMS, password=PASSWORD)


@pytest.fixture
def clock(monkeypatch):
    """Moves Django's clock forward without sleeping: clock(seconds) advances it."""
    real_now = timezone.now
    offset = timedelta()

    def advance(seconds: int) -> None:
        nonlocal offset
        offset += timedelta(seconds=seconds)

    monkeypatch.setattr(timezone, "now", lambda: real_now() + offset)
    return advance


def sign_in() -> Client:
    client = Client()
    response = client.post("/admin/login/?next=/admin/", {"username": "manager", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/admin/", response.content
    return client


def with_session_cookie(value: str) -> Client:
    client = Client()
    client.cookies["sessionid"] = value
    return client


def rotate_secret(client: Client, vendor: Vendor):
    """The confirmation page (its version, when it opens), its POST, then the one-time secret page it redirects to."""
    url = f"/admin/vendors/vendor/{vendor.pk}/rotate-secret/"
    page = client.get(url)
    data = {"grace": "0"}
    if page.status_code == 200:
        data["version"] = rendered_version(page.content.decode())
    response = client.post(url, data)
    return client.get(response["Location"]) if response.status_code == 303 else response


def stored_secret(vendor: Vendor) -> str:
    return Vendor.objects.select_related("application").get(pk=vendor.pk).application.client_secret


def session_keys_in(dump: str) -> list[str]:
    """The session_key column of the COPY block of a `pg_dump --data-only -t django_session`."""
    lines = dump.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("COPY public.django_session "))
    columns = lines[start].split("(", 1)[1].split(")", 1)[0].split(", ")
    rows = lines[start + 1 : lines.index("\\.", start)]
    return [row.split("\t")[columns.index("session_key")] for row in rows]


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_session_keys_from_a_pg_dump_open_nothing_while_the_cookie_still_works(manager, free_vendor):
    cookie = sign_in().cookies["sessionid"].value
    db = connection.settings_dict
    dump = subprocess.run(
        ["pg_dump", "--data-only", "-t", "django_session", "-h", db["HOST"], "-p", str(db["PORT"] or 5432)]
        + ["-U", db["USER"], db["NAME"]],
        capture_output=True,
        text=True,
        check=True,
        env={"PGPASSWORD": db["PASSWORD"] or "", "PATH": "/usr/bin:/bin:/usr/local/bin"},
    ).stdout
    dumped_keys = session_keys_in(dump)
    secret_before = stored_secret(free_vendor.vendor)

    assert len(dumped_keys) == 1
    for key in dumped_keys:
        thief = with_session_cookie(key)
        response = thief.get("/admin/")
        assert response.status_code == 302 and response["Location"] == SIGNED_OUT
        response = rotate_secret(thief, free_vendor.vendor)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert stored_secret(free_vendor.vendor) == secret_before
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.ROTATE_SECRET).exists()

    # The control: the cookie the browser holds is a working sign-in, and the same POST rotates the secret.
    owner = with_session_cookie(cookie)
    assert owner.get("/admin/").status_code == 200
    response = rotate_secret(owner, free_vendor.vendor)
    assert response.status_code == 200 and "copy it now" in response.content.decode()
    assert stored_secret(free_vendor.vendor) != secret_before
    assert AuditEvent.objects.filter(action=AuditEvent.Action.ROTATE_SECRET).count() == 1


@pytest.mark.django_db
def test_the_database_keeps_a_keyed_hash_of_the_session_key_never_the_key(manager, settings):
    client = sign_in()
    cookie = client.cookies["sessionid"].value

    [(stored_key, data)] = Session.objects.values_list("session_key", "session_data")

    assert cookie not in stored_key and cookie not in data
    assert stored_key != hashlib.sha256(cookie.encode()).hexdigest()[:40]
    keyed = hmac.new(settings.SESSION_KEY_HASH_KEY.encode(), cookie.encode(), hashlib.sha256).hexdigest()[:40]
    assert stored_key == keyed
    assert not Session.objects.filter(session_key=cookie).exists()
    # Signing out deletes the row through the same hash.
    assert client.post("/admin/logout/").status_code == 200
    assert not Session.objects.exists()


@pytest.mark.django_db
def test_a_session_idle_longer_than_the_setting_is_signed_out_and_an_active_one_is_not(manager, settings, clock):
    settings.STAFF_SESSION_IDLE_SECONDS = 30 * 60
    idle = sign_in()
    active = sign_in()

    # Three hours of work with a page every 29 minutes: far beyond the idle limit in total, never idle that long.
    for _ in range(6):
        clock(29 * 60)
        assert active.get("/admin/").status_code == 200
    clock(31 * 60)

    response = active.get("/admin/")
    assert response.status_code == 302 and response["Location"] == SIGNED_OUT
    response = idle.get("/admin/")
    assert response.status_code == 302 and response["Location"] == SIGNED_OUT
    # Both rows have expired, so clearsessions purges idle sessions with the others.
    call_command("clearsessions")
    assert not Session.objects.exists()


@pytest.mark.django_db
def test_activity_never_extends_a_session_past_session_cookie_age_from_the_sign_in(manager, settings, clock):
    settings.STAFF_SESSION_IDLE_SECONDS = 30 * 60
    client = sign_in()

    for _ in range(16):  # 7 h 44 min of activity
        clock(29 * 60)
        assert client.get("/admin/").status_code == 200
    clock(17 * 60)  # 8 h 1 min since the sign-in, 17 minutes since the last page

    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"] == SIGNED_OUT


@pytest.mark.django_db
def test_activity_writes_the_session_at_most_once_a_minute(manager, clock):
    client = sign_in()
    expiry = Session.objects.get().expire_date

    clock(10)
    assert client.get("/admin/").status_code == 200
    assert Session.objects.get().expire_date == expiry

    clock(120)
    assert client.get("/admin/").status_code == 200
    # Pushed forward by the 130 seconds of the clock (and the few milliseconds the requests took).
    assert timedelta(seconds=130) <= Session.objects.get().expire_date - expiry < timedelta(seconds=131)


@pytest.mark.django_db
def test_the_async_methods_store_and_find_the_same_hashed_rows():
    from asgiref.sync import async_to_sync

    from charp.http.sessions import SessionStore, stored_key

    async def scenario() -> dict:
        store = SessionStore()
        await store.aset("greeting", "hello")
        await store.acreate()
        first = store.session_key
        await store.acycle_key()
        await store.asave()
        second = store.session_key
        seen = {
            "keys differ": first != second,
            "loaded": (await SessionStore(second).aload()).get("greeting") == "hello",
            "hashed row": await Session.objects.filter(pk=stored_key(second)).aexists(),
            "no clear row": not await Session.objects.filter(pk__in=[first, second]).aexists(),
            "old key gone": not await store.aexists(first),
        }
        await SessionStore(second).adelete()
        seen["deleted"] = not await store.aexists(second)
        return seen

    assert async_to_sync(scenario)() == dict.fromkeys(
        ["keys differ", "loaded", "hashed row", "no clear row", "old key gone", "deleted"], True
    )
