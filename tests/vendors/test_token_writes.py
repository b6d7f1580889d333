"""On PostgreSQL the token endpoint writes its two rows in one statement (vendors/oauth/writes.py): the rows must be the
ones django-oauth-toolkit itself would write, and usable the same way."""

import json
import secrets

import pytest
from django.db import connection
from django.forms.models import model_to_dict
from oauth2_provider.models import AccessToken, RefreshToken

from tests.conftest import on_postgres
from vendors.oauth import writes
from vendors.oauth.tokens import token_checksum

from .oauth_helpers import as_json, credentials

pytestmark = [on_postgres, pytest.mark.django_db]
RANDOM = {"id", "token_checksum", "token_family", "access_token", "created", "updated", "expires"}


def issue(client, vendor) -> dict:
    response = as_json(client, "/auth/token", credentials(vendor))
    assert response.status_code == 200
    return response.json()


def rows(tokens: dict) -> tuple[AccessToken, RefreshToken]:
    access = AccessToken.objects.get(token_checksum=token_checksum(tokens["access_token"]))
    return access, RefreshToken.objects.get(token_checksum=token_checksum(tokens["refresh_token"]))


def test_the_one_statement_rows_match_what_dot_writes(client, standard_vendor, monkeypatch):
    fast = rows(issue(client, standard_vendor))
    monkeypatch.setattr(writes, "direct_insert", lambda: False)
    stock = rows(issue(client, standard_vendor))
    for ours, theirs in zip(fast, stock, strict=True):
        assert {k: v for k, v in model_to_dict(ours).items() if k not in RANDOM} == {
            k: v for k, v in model_to_dict(theirs).items() if k not in RANDOM
        }
        assert ours.token == "" and len(ours.token_checksum) == 64  # hashed at rest, like DOT's
    (access, refresh), (stock_access, _) = fast, stock
    assert refresh.access_token_id == access.pk and refresh.token_family is not None
    assert abs((access.expires - stock_access.expires).total_seconds()) < 5
    assert access.created is not None and refresh.created is not None


def test_tokens_written_in_one_statement_work_and_rotate(client, standard_vendor):
    tokens = issue(client, standard_vendor)
    listed = client.get("/brands", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    assert listed.status_code == 200
    body = json.dumps({"refresh_token": tokens["refresh_token"]})
    rotated = client.post("/auth/refresh", body, content_type="application/json")
    assert rotated.status_code == 200 and rotated.json()["refresh_token"] != tokens["refresh_token"]
    assert client.get("/brands", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}").status_code == 401


def refresh(client, refresh_token: str):
    return client.post("/auth/refresh", json.dumps({"refresh_token": refresh_token}), content_type="application/json")


@pytest.mark.parametrize("older_format", [False, True], ids=["named", "older format"])
def test_the_one_statement_rotation_writes_what_dot_writes(client, standard_vendor, monkeypatch, older_format):
    """Both one-statement rotations: of a refresh token that names its client (`rotate_presented`), and of one of
    the older, wholly random format, read first (`rotate_token_pair`)."""

    def rotate() -> tuple[RefreshToken, AccessToken, RefreshToken]:
        first = issue(client, standard_vendor)
        if older_format:
            older = secrets.token_urlsafe(32)
            RefreshToken.objects.filter(token_checksum=token_checksum(first["refresh_token"])).update(
                token_checksum=token_checksum(older)
            )
            first["refresh_token"] = older
        response = refresh(client, first["refresh_token"])
        assert response.status_code == 200
        previous = RefreshToken.objects.get(token_checksum=token_checksum(first["refresh_token"]))
        assert not AccessToken.objects.filter(token_checksum=token_checksum(first["access_token"])).exists()
        return previous, *rows(response.json())

    fast = rotate()
    monkeypatch.setattr(writes, "direct_insert", lambda: False)
    stock = rotate()
    differ = RANDOM | {"revoked", "source_refresh_token"}  # the two checked below
    for ours, theirs in zip(fast, stock, strict=True):
        assert {k: v for k, v in model_to_dict(ours).items() if k not in differ} == {
            k: v for k, v in model_to_dict(theirs).items() if k not in differ
        }
    for previous, access, new in (fast, stock):
        assert previous.revoked is not None and previous.access_token_id is None
        assert access.source_refresh_token_id == previous.pk
        assert new.access_token_id == access.pk and new.token_family == previous.token_family
        assert new.revoked is None and access.token == "" and new.token == ""


def synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


def test_the_token_writes_skip_the_flush_wait_of_their_own_transaction_only(client, standard_vendor):
    """The statements turn synchronous_commit off for the transaction they run in (inside this test's transaction
    here; on their own, their implicit one), and nothing after it: a brand created next waits for its flush."""
    tokens = issue(client, standard_vendor)
    assert synchronous_commit() == "off"
    assert refresh(client, tokens["refresh_token"]).status_code == 200
    assert synchronous_commit() == "off"


@pytest.mark.django_db(transaction=True)
def test_after_a_token_write_the_connection_commits_synchronously_again(client, standard_vendor):
    issue(client, standard_vendor)
    assert synchronous_commit() == "on"


@pytest.mark.django_db(transaction=True)
def test_the_hot_statements_are_prepared_once_per_connection(client, standard_vendor):
    """psycopg prepares a statement on its 5th run on a connection (charp/settings.py): from then on PostgreSQL does
    not plan it again (planning the joined refresh-token read took 0.7 ms; running it, 0.04)."""
    for _ in range(6):
        refresh(client, issue(client, standard_vendor)["refresh_token"])
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any("INSERT INTO" in sql and "oauth2_provider_accesstoken" in sql for sql in prepared), prepared
    assert any("UPDATE" in sql and "oauth2_provider_refreshtoken" in sql for sql in prepared), prepared
    # The refresh token's checks are the rotation's: no read of its row before it.
    assert any("UPDATE" in sql and "r.token_checksum" in sql for sql in prepared), prepared
