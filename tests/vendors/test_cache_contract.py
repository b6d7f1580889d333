"""The cache contract (vendors/caching/versions.py, CONTRACT): every ORM write reaches the next cached request with no
hand call, and every path of ours that ends an access token announces it, since no receiver hears DOT's deletes."""

import hashlib
import inspect
from datetime import timedelta

import pytest
from cachetools import LRUCache
from django.apps import apps
from django.db import connection
from django.db.models import DO_NOTHING
from django.db.models.deletion import get_candidate_relations_to_delete
from django.db.models.signals import post_delete, pre_delete
from django.test.utils import CaptureQueriesContext
from oauth2_provider.models import AccessToken
from oauth2_provider.oauth2_validators import OAuth2Validator

from apiresources.models import Brand, Campaign
from tests.conftest import get_token
from vendors import services
from vendors.caching import versions
from vendors.models import CachedModel, CachedQuerySet, Plan
from vendors.oauth.tokens import token_checksum

from .oauth_helpers import as_json, credentials, form

pytestmark = pytest.mark.django_db

# SHA-256 of DOT 3.4.1's OAuth2Validator.validate_refresh_token, which vendors/oauth/server.py copies.
DOT_VALIDATE_REFRESH_TOKEN = "50e7ceb3ce23bfecfd26257cb834b5602343a32f65cef7e1c614af4992d31cbc"


@pytest.fixture
def cached(api, django_assert_num_queries):
    """Authenticate `api` with a token and read `path` until this worker serves it (token and page) without SQL."""

    def warm(token: str, path: str = "/brands"):
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        first = api.get(path)
        assert first.status_code == 200
        with django_assert_num_queries(0):
            assert api.get(path).content == first.content
        return first.json()

    return warm


def refused(api, path: str = "/brands") -> bool:
    response = api.get(path)
    return response.status_code == 401 and response.json()["error"] == "invalid_token"


def names(api, path: str = "/brands") -> list[str]:
    response = api.get(path)
    assert response.status_code == 200
    return [row["name"] for row in response.json()["results"]]


# --- The project's own models: their QuerySet announces bulk writes ------------------------------------------------


def test_a_plan_queryset_update_reaches_a_cached_token(api, standard_vendor, token_for, cached):
    cached(token_for(standard_vendor))

    Plan.objects.filter(code="standard").update(includes_brands=False)

    assert api.get("/brands").status_code == 403


def test_a_new_row_inserted_in_one_statement_reaches_a_cached_page(api, free_vendor, token_for, cached):
    """CachedModel.insert() (the API's creates) bypasses save() and its post_save: it announces the row itself."""
    vendor = free_vendor.vendor
    cached(token_for(free_vendor))

    Brand(vendor=vendor, name="Inserted").insert()

    assert names(api) == ["Inserted"]


def test_brand_queryset_writes_reach_a_cached_page(api, free_vendor, token_for, cached):
    vendor = free_vendor.vendor
    Brand.objects.create(vendor=vendor, name="Acme")
    cached(token_for(free_vendor))

    Brand.objects.filter(vendor=vendor).update(name="Renamed")
    assert names(api) == ["Renamed"]

    Brand.objects.bulk_create([Brand(vendor=vendor, name="Bulk")])
    assert sorted(names(api)) == ["Bulk", "Renamed"]

    brands = list(Brand.objects.filter(vendor=vendor))
    for brand in brands:
        brand.name = f"{brand.name} 2"
    Brand.objects.bulk_update(brands, ["name"])
    assert sorted(names(api)) == ["Bulk 2", "Renamed 2"]

    Brand.objects.filter(vendor=vendor, name="Bulk 2").delete()
    assert names(api) == ["Renamed 2"]


def test_a_brand_moved_to_another_vendor_reaches_both_cached_pages(api, make_vendor, token_for, cached):
    giver, taker = make_vendor("free"), make_vendor("free")
    brand = Brand.objects.create(vendor=giver.vendor, name="Moving")
    taker_api = type(api)()
    taker_api.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(taker)}")
    assert names(taker_api) == [] and names(taker_api) == []  # cached
    cached(token_for(giver))

    Brand.objects.filter(pk=brand.pk).update(vendor=taker.vendor)

    assert names(api) == [] and names(taker_api) == ["Moving"]


def test_campaign_deletes_reach_a_cached_page_and_stay_fast(
    api, standard_vendor, token_for, cached, django_assert_num_queries
):
    vendor = standard_vendor.vendor
    brand = Brand.objects.create(vendor=vendor, name="Acme")
    first, _ = (Campaign.objects.create(vendor=vendor, brand=brand, name=name) for name in ("One", "Two"))
    cached(token_for(standard_vendor), "/campaigns")

    first.delete()  # no post_delete receiver: CachedModel.delete() announces it
    assert names(api, "/campaigns") == ["Two"]

    with django_assert_num_queries(2) as queries:  # the client IDs to bump, then one DELETE: no row is loaded
        Campaign.objects.filter(vendor=vendor).delete()
    assert [query["sql"].split()[0] for query in queries] == ["SELECT", "DELETE"]
    assert names(api, "/campaigns") == []


def test_every_model_with_a_cached_queryset_is_in_the_contract():
    ours = {model._meta.label for model in apps.get_models() if issubclass(model, CachedModel)}
    assert ours == {"vendors.Plan", "vendors.Vendor", "apiresources.Brand", "apiresources.Campaign"}
    assert all(isinstance(apps.get_model(label).objects.all(), CachedQuerySet) for label in ours)
    assert ours <= set(versions.CONTRACT)


def test_post_delete_is_heard_only_where_a_receiver_costs_no_fast_delete():
    for label, rule in versions.CONTRACT.items():
        model = apps.get_model(label)
        assert post_delete.has_listeners(model) is rule.post_delete, label
        relations = get_candidate_relations_to_delete(model._meta)
        fast_without_receivers = all(related.field.remote_field.on_delete is DO_NOTHING for related in relations)
        assert not (rule.post_delete and fast_without_receivers), label
    assert not post_delete.has_listeners(Campaign)


def test_the_client_id_map_is_bounded(make_vendor, monkeypatch):
    assert versions._known.maxsize <= 20_000
    monkeypatch.setattr(versions, "_known", LRUCache(maxsize=2))
    issued = [make_vendor("free") for _ in range(3)]
    for each in issued:
        versions.remember(each.vendor.application, each.vendor)
    assert len(versions._known) == 2
    # The forgotten one is read again, in one query for however many are missing.
    expected = {each.vendor.client_id for each in issued}
    assert versions._client_ids("vendor", [each.vendor.pk for each in issued]) == expected


# --- DOT's access tokens: no receiver, so every path of ours that ends one announces it -------------------------


def test_no_receiver_hears_access_token_deletes(free_vendor, token_for):
    assert not post_delete.has_listeners(AccessToken) and not pre_delete.has_listeners(AccessToken)
    for _ in range(3):
        token_for(free_vendor)

    with CaptureQueriesContext(connection) as queries:
        AccessToken.objects.filter(application=free_vendor.vendor.application).delete()

    # As few statements as Django can send for DOT's rows, whatever their number, and no signal per row: Django
    # reads the keys to null RefreshToken.access_token (SET_NULL) first, so a true fast delete is not possible.
    assert [query["sql"].split()[0] for query in queries] == ["SELECT", "UPDATE", "DELETE"]
    assert not AccessToken.objects.exists()


def refresh(client, refresh_token: str):
    return as_json(client, "/auth/refresh", {"refresh_token": refresh_token})


def _revoke_one(client, issued, original, pair):
    token = AccessToken.objects.get(token_checksum=token_checksum(pair["access_token"]))
    assert services.access_token_revoke(vendor=issued.vendor, token_id=token.pk)


def _revoke_access_token(client, issued, original, pair):
    assert as_json(client, "/auth/revoke", {"token": pair["access_token"], **credentials(issued)}).status_code == 200


def _revoke_refresh_token(client, issued, original, pair):
    body = {"token": pair["refresh_token"], "token_type_hint": "refresh_token"}
    assert form(client, "/auth/revoke", body, basic=(issued.vendor.client_id, issued.client_secret)).status_code == 200


def _rotate(client, issued, original, pair):
    assert refresh(client, pair["refresh_token"]).status_code == 200


def _reuse(client, issued, original, pair):
    replay = refresh(client, original["refresh_token"])  # already rotated: DOT revokes the whole family
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"


ENDINGS = {
    "suspension": lambda client, issued, *_: services.vendor_suspend(vendor=issued.vendor),
    "revoke-all": lambda client, issued, *_: services.vendor_tokens_revoke(vendor=issued.vendor),
    "revoking rotation": lambda client, issued, *_: services.vendor_secret_rotate(
        vendor=issued.vendor, grace=timedelta(0)
    ),
    "staff revokes one token": _revoke_one,
    "RFC 7009, access token": _revoke_access_token,
    "RFC 7009, refresh token": _revoke_refresh_token,
    "refresh rotation": _rotate,
    "refresh-token reuse": _reuse,
}


@pytest.mark.parametrize("end", ENDINGS.values(), ids=ENDINGS.keys())
def test_every_path_that_ends_a_token_reaches_its_cached_copy(client, api, free_vendor, cached, end):
    original = get_token(api, free_vendor)
    pair = refresh(client, original["refresh_token"]).json()  # a family of two, for the reuse case
    cached(pair["access_token"])

    end(client, free_vendor, original, pair)

    assert refused(api)


def test_revoking_an_unknown_token_bumps_nothing(client, api, free_vendor, cached, monkeypatch):
    cached(get_token(api, free_vendor)["access_token"])
    bumped = []
    monkeypatch.setattr(versions, "invalidate", lambda *args, **kwargs: bumped.append(args))

    assert as_json(client, "/auth/revoke", {"token": "never-issued", **credentials(free_vendor)}).status_code == 200

    assert bumped == []


def test_the_refresh_validator_is_dots_own_but_for_the_announcement():
    """Validator._dot_validate_refresh_token copies DOT 3.4.1's: a DOT upgrade must re-apply the change."""
    source = inspect.getsource(OAuth2Validator.validate_refresh_token)
    assert hashlib.sha256(source.encode()).hexdigest() == DOT_VALIDATE_REFRESH_TOKEN
