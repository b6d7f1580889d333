"""POST /auth/refresh (and grant_type=refresh_token at /auth/token): rotation, reuse detection, expiry, races."""

import secrets
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from oauth2_provider.models import AccessToken, RefreshToken

from tests.conftest import get_token, on_postgres
from tests.ratelimit.test_plan_limits import set_plan_limits
from vendors import services
from vendors.limits import request_log, store
from vendors.oauth import tokens
from vendors.oauth.tokens import NamedRefresh, named_refresh, token_checksum

from .oauth_helpers import as_json, credentials, form

pytestmark = pytest.mark.django_db


def refresh(client, refresh_token: str, **extra):
    return as_json(client, "/auth/refresh", {"refresh_token": refresh_token, **extra})


def test_it_refreshes_with_the_spec_json_request_and_no_client_credentials(client, api, free_vendor):
    first = get_token(api, free_vendor)

    response = refresh(client, first["refresh_token"])

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    second = response.json()
    assert second["token_type"] == "Bearer" and second["expires_in"] == 3600
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    assert api.get("/brands", HTTP_AUTHORIZATION=f"Bearer {second['access_token']}").status_code == 200


def test_refreshing_retires_the_previous_pair(client, api, free_vendor):
    first = get_token(api, free_vendor)
    # In use (so this worker caches it) until the refresh.
    assert api.get("/brands", HTTP_AUTHORIZATION=f"Bearer {first['access_token']}").status_code == 200

    refresh(client, first["refresh_token"])

    assert api.get("/brands", HTTP_AUTHORIZATION=f"Bearer {first['access_token']}").status_code == 401
    assert RefreshToken.objects.filter(revoked__isnull=True).count() == 1


def test_reusing_a_refresh_token_revokes_the_whole_family(client, api, free_vendor):
    first = get_token(api, free_vendor)
    second = refresh(client, first["refresh_token"]).json()
    assert api.get("/brands", HTTP_AUTHORIZATION=f"Bearer {second['access_token']}").status_code == 200  # cached

    replay = refresh(client, first["refresh_token"])

    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert api.get("/brands", HTTP_AUTHORIZATION=f"Bearer {second['access_token']}").status_code == 401
    assert refresh(client, second["refresh_token"]).json()["error"] == "invalid_grant"
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()
    assert not AccessToken.objects.exists()


def test_reuse_detection_spares_other_token_families_of_the_vendor(client, api, free_vendor):
    stolen = get_token(api, free_vendor)
    other_session = get_token(api, free_vendor)
    refresh(client, stolen["refresh_token"])

    refresh(client, stolen["refresh_token"])

    assert refresh(client, other_session["refresh_token"]).status_code == 200


def test_refresh_token_lookups_are_never_ordered_by_id(client, api, free_vendor):
    """ORDER BY id LIMIT 1 on a non-unique checksum may walk the primary key (vendors/oauth/server.py)."""
    first = get_token(api, free_vendor)

    with CaptureQueriesContext(connection) as queries:
        assert refresh(client, first["refresh_token"]).status_code == 200

    lookups = [
        q["sql"] for q in queries if 'FROM "oauth2_provider_refreshtoken"' in q["sql"] and "token_checksum" in q["sql"]
    ]
    assert lookups
    assert not [sql for sql in lookups if 'ORDER BY "oauth2_provider_refreshtoken"."id"' in sql]


def test_a_refresh_costs_one_statement(client, api, free_vendor, django_assert_num_queries):
    """The client its refresh token names from this worker's copy, as at /auth/token; on PostgreSQL the rotation,
    which checks the refresh token, as one statement (vendors/oauth/writes.py, `rotate_presented`), on SQLite five
    in a transaction (with its SAVEPOINT and RELEASE in a test). A rotation ends only a token, which leaves the copy
    of the client good: so the next refresh costs the same."""
    first = get_token(api, free_vendor)
    second = refresh(client, first["refresh_token"]).json()

    with django_assert_num_queries(1 if connection.vendor == "postgresql" else 7):
        assert refresh(client, second["refresh_token"]).status_code == 200


def redis_calls(monkeypatch) -> list[str]:
    """The store operations (each one round trip to Redis) made from now on, by name."""
    calls, real = [], store.call

    def counted(method, /, **kwargs):
        calls.append(method)
        return real(method, **kwargs)

    monkeypatch.setattr(store, "call", counted)
    return calls


def test_a_refresh_costs_two_redis_round_trips(client, api, free_vendor, monkeypatch):
    """As at /auth/token, one round trip before any database work: the failure budget, the cache tags of the client
    its refresh token names and the refresh's issuance count; then the bump that ends its old access token in every
    worker's cache."""
    first = get_token(api, free_vendor)
    second = refresh(client, first["refresh_token"]).json()
    calls = redis_calls(monkeypatch)

    assert refresh(client, second["refresh_token"]).status_code == 200

    assert calls == ["check_and_tags", "bump"]


def test_a_refresh_token_names_its_client_and_grant(api, free_vendor):
    value = get_token(api, free_vendor)["refresh_token"]

    named = named_refresh(value)

    client_id = free_vendor.vendor.client_id
    assert value.startswith(f"{client_id}.")
    assert named == NamedRefresh(client_id, AccessToken.objects.get().scope)
    assert RefreshToken.objects.get().token_checksum == token_checksum(value)  # the whole value, hashed at rest


def test_a_refresh_token_of_the_older_format_still_refreshes(client, api, free_vendor, monkeypatch):
    """Issued before refresh tokens named their client: wholly random, refreshed as before (its issuance counted
    once its row names the client)."""
    get_token(api, free_vendor)
    old = secrets.token_urlsafe(32)
    RefreshToken.objects.update(token_checksum=token_checksum(old))
    calls = redis_calls(monkeypatch)

    response = refresh(client, old)

    assert response.status_code == 200
    assert named_refresh(old) is None and named_refresh(response.json()["refresh_token"]) is not None
    assert calls == ["check", "issue", "bump"]


def test_a_forged_name_is_an_unknown_refresh_token(client, api, free_vendor, monkeypatch):
    """A value in the named format that no row has: refused as unknown (a failed authentication), its issuance count
    given back, and the client it names neither identified nor told anything about itself."""
    named = named_refresh(get_token(api, free_vendor)["refresh_token"])
    forged = f"{named.client_id}.{tokens.generate_refresh_token_grant(named.scope)}.{secrets.token_urlsafe(32)}"
    identified = []
    monkeypatch.setattr(request_log, "identify", identified.append)

    response = refresh(client, forged)

    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert response.json()["error_description"].startswith("This refresh token is unknown")
    assert identified == []
    assert "RateLimit" not in response
    issued = store.call("issue", base=store.issuance_base(named.client_id), limit=-1, now_ms=None)
    assert issued is None or issued[1].count == 2  # the token request's and this probe's: the forgery gave its back


@pytest.mark.parametrize("also", ["a scope beyond its grant", "over the hourly limit"])
def test_reuse_is_detected_before_any_other_refusal(client, api, standard_vendor, also):
    """Whatever else would refuse a reused refresh token, its family is revoked first (the one-statement rotation
    is not tried then: the older path reads the row)."""
    first = get_token(api, standard_vendor, scope="brands")
    second = refresh(client, first["refresh_token"]).json()
    extra = {"scope": "brands campaigns"} if also == "a scope beyond its grant" else {}
    if also == "over the hourly limit":
        set_plan_limits("standard", tokens_per_hour=2)

    replay = refresh(client, first["refresh_token"], **extra)

    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert "every token from that login has been revoked" in replay.json()["error_description"]
    assert refresh(client, second["refresh_token"]).json()["error"] == "invalid_grant"


def test_form_refresh_at_the_token_endpoint_requires_client_authentication(client, api, free_vendor):
    token = get_token(api, free_vendor)["refresh_token"]
    issued = free_vendor

    anonymous = form(client, "/auth/token", {"grant_type": "refresh_token", "refresh_token": token})
    assert anonymous.status_code == 401
    authed = form(
        client,
        "/auth/token",
        {"grant_type": "refresh_token", "refresh_token": token},
        basic=(issued.vendor.client_id, issued.client_secret),
    )
    assert authed.status_code == 200


def test_form_refresh_at_the_refresh_endpoint_works(client, api, free_vendor):
    token = get_token(api, free_vendor)["refresh_token"]

    response = form(client, "/auth/refresh", {"grant_type": "refresh_token", "refresh_token": token})

    assert response.status_code == 200


def test_credentials_sent_to_refresh_must_match_the_token(client, api, free_vendor, make_vendor):
    other = make_vendor("free")
    token = get_token(api, free_vendor)["refresh_token"]

    wrong_owner = refresh(client, token, **credentials(other))
    assert wrong_owner.status_code == 400 and wrong_owner.json()["error"] == "invalid_grant"
    assert wrong_owner.json()["error_description"].startswith("This refresh token was issued to another client")
    wrong_secret = refresh(client, token, client_id=free_vendor.vendor.client_id, client_secret="bad")
    assert wrong_secret.status_code == 401
    wrong_id_alone = refresh(client, token, client_id=other.vendor.client_id)
    assert wrong_id_alone.status_code == 401
    assert refresh(client, token, **credentials(free_vendor)).status_code == 200


def test_an_unknown_refresh_token_is_refused_without_a_500(client, db):
    for body in ({"refresh_token": "made-up"}, {"refresh_token": ""}, {}):
        response = as_json(client, "/auth/refresh", body)
        assert response.status_code in (400, 401)
        assert response.json()["error"] in ("invalid_grant", "invalid_client", "invalid_request")


def test_only_the_refresh_grant_is_accepted_at_the_refresh_endpoint(client, free_vendor):
    response = as_json(client, "/auth/refresh", {"grant_type": "client_credentials", **credentials(free_vendor)})

    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_a_refresh_token_dies_after_30_days_of_disuse(client, api, free_vendor):
    token = get_token(api, free_vendor)["refresh_token"]
    AccessToken.objects.update(expires=timezone.now() - timedelta(days=30, seconds=1))

    response = refresh(client, token)

    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_a_refresh_token_still_works_within_30_days(client, api, free_vendor):
    token = get_token(api, free_vendor)["refresh_token"]
    AccessToken.objects.update(expires=timezone.now() - timedelta(days=29))

    assert refresh(client, token).status_code == 200


def test_a_suspended_vendor_cannot_refresh(client, api, free_vendor):
    token = get_token(api, free_vendor)["refresh_token"]
    services.vendor_suspend(vendor=free_vendor.vendor)

    assert refresh(client, token).status_code in (400, 401)
    services.vendor_reactivate(vendor=free_vendor.vendor)
    assert refresh(client, token).status_code in (400, 401)


def test_a_narrowed_scope_is_kept_across_refreshes(client, api, enterprise_vendor):
    token = get_token(api, enterprise_vendor, scope="brands")["refresh_token"]

    assert refresh(client, token).json()["scope"] == "brands"


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_refreshes_of_one_token_have_exactly_one_winner(free_vendor):
    token = get_token(Client(), free_vendor)["refresh_token"]
    results = []
    barrier = threading.Barrier(6)

    def attempt():
        barrier.wait()
        try:
            response = refresh(Client(), token)
            results.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    winners = [body for status, body in results if status == 200]
    losers = [body for status, body in results if status != 200]
    assert len(winners) == 1, results
    assert winners[0]["access_token"] and winners[0]["refresh_token"]
    assert all(body["error"] == "invalid_grant" for body in losers)
    # Exactly one successor. (A loser that arrives after the winner committed looks like a replay, and reuse
    # detection may then revoke the family: safe, and the client simply authenticates again.)
    family = RefreshToken.objects.get(token_checksum=token_checksum(token)).token_family
    assert RefreshToken.objects.filter(token_family=family).count() == 2


@pytest.mark.parametrize("kind", ["unknown", "empty", "garbage", "access token"])
def test_a_refresh_token_that_is_none_of_ours_is_invalid_grant(client, api, free_vendor, kind):
    tokens = get_token(api, free_vendor)
    value = {"unknown": "x" * 43, "empty": "", "garbage": "\u00e9 ;; not a token", "access token": None}[kind]
    value = tokens["access_token"] if value is None else value

    response = refresh(client, value)

    assert response.status_code == 400, response.content
    body = response.json()
    assert body["error"] == "invalid_grant"
    assert "WWW-Authenticate" not in response
    assert "client ID" not in body["error_description"]
    assert "/auth/token" in body["error_description"]
    if kind == "access token":
        assert body["error_description"].startswith("This is an access token, not a refresh token")


def test_a_missing_refresh_token_is_named(client, db):
    for path in ("/auth/refresh", "/auth/token"):
        response = as_json(client, path, {"grant_type": "refresh_token"})
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"
        assert response.json()["error_description"].startswith("The refresh_token parameter is missing")


def test_reuse_says_the_login_was_revoked_and_to_authenticate_again(client, api, free_vendor):
    first = get_token(api, free_vendor)
    refresh(client, first["refresh_token"])

    replay = refresh(client, first["refresh_token"]).json()

    assert replay["error"] == "invalid_grant"
    assert "every token from that login has been revoked" in replay["error_description"]
    assert "Authenticate with your client credentials at /auth/token" in replay["error_description"]


def test_a_refresh_may_narrow_but_not_widen_and_names_the_scope(client, api, enterprise_vendor):
    token = get_token(api, enterprise_vendor, scope="brands campaigns")["refresh_token"]

    widened = refresh(client, token, scope="brands tools")
    assert widened.status_code == 400 and widened.json()["error"] == "invalid_scope"
    assert "'tools'" in widened.json()["error_description"]
    assert refresh(client, token, scope="campaigns").json()["scope"] == "campaigns"


def test_a_refresh_cannot_ask_for_a_scope_beyond_the_plan(client, api, free_vendor):
    token = get_token(api, free_vendor)["refresh_token"]

    response = refresh(client, token, scope="tools")

    assert response.status_code == 400 and response.json()["error"] == "invalid_scope"
    assert "Free plan does not include 'tools'" in response.json()["error_description"]
