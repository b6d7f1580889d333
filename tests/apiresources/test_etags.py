"""Optimistic concurrency on brands and campaigns (RFC 9110 §13): every object carries a strong ETag of its version,
If-None-Match answers 304, and a PUT, PATCH or DELETE whose If-Match names another version is refused with 412, in
the write's own statement."""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from apiresources import services
from apiresources.models import Brand, Campaign
from charp.http import conditional
from tests.conftest import on_postgres
from vendors.caching import versions

# Outside a test transaction, as a request runs: in autocommit, where each write is its own transaction.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client(as_vendor, enterprise_vendor):
    authed = as_vendor(enterprise_vendor)
    assert authed.get("/brands").status_code == 200  # the token now in this worker's copy
    return authed


@pytest.fixture
def brand(enterprise_vendor):
    return Brand.objects.create(vendor=enterprise_vendor.vendor, name="Acme", description="Rockets")


@pytest.fixture
def campaign(enterprise_vendor, brand):
    return Campaign.objects.create(vendor=enterprise_vendor.vendor, brand=brand, name="Launch")


def _is_strong_etag(value: str) -> bool:
    return value.startswith('"') and value.endswith('"') and len(value) > 2 and '"' not in value[1:-1]


@pytest.mark.parametrize("noun", ["brands", "campaigns"])
def test_every_object_response_carries_an_etag_that_a_write_moves(client, brand, noun):
    body = {"name": "Globex"} if noun == "brands" else {"name": "Launch", "brand": brand.pk}
    created = client.post(f"/{noun}", body, format="json")
    assert created.status_code == 201 and _is_strong_etag(created["ETag"])
    path = f"/{noun}/{created.json()['id']}"
    read = client.get(path)
    assert read.status_code == 200 and read["ETag"] == created["ETag"]
    assert client.get(path)["ETag"] == created["ETag"]  # the same from this worker's page copy

    patched = client.patch(path, {"name": "Renamed"}, format="json")
    assert patched.status_code == 200 and _is_strong_etag(patched["ETag"])
    assert patched["ETag"] != created["ETag"]
    assert client.get(path)["ETag"] == patched["ETag"]

    replaced = client.put(path, {**body, "name": "Replaced"}, format="json")
    assert replaced.status_code == 200 and replaced["ETag"] not in (created["ETag"], patched["ETag"])
    assert client.get(path)["ETag"] == replaced["ETag"]


def test_updated_at_keeps_microseconds_so_two_quick_writes_have_two_etags(client, brand):
    tags = {client.patch(f"/brands/{brand.pk}", {"description": str(n)}, format="json")["ETag"] for n in range(5)}
    assert len(tags) == 5
    written = services.brand_update(brand=Brand.objects.get(pk=brand.pk), description="Once more").updated_at
    assert Brand.objects.get(pk=brand.pk).updated_at == written  # stored as written, to the microsecond


@pytest.mark.parametrize("cached", [True, False])
def test_if_none_match_with_the_current_etag_is_a_304_without_a_body(client, brand, settings, cached):
    if not cached:
        settings.READ_CACHE_SECONDS = 0
    path = f"/brands/{brand.pk}"
    etag = client.get(path)["ETag"]  # and the page in this worker's copy, when caching
    not_modified = client.get(path, HTTP_IF_NONE_MATCH=etag)
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert "Content-Length" not in not_modified  # RFC 9110 §8.6: only the 200's own length, never Django's 0
    assert not_modified["ETag"] == etag
    assert not_modified["Cache-Control"] == "private, no-cache"
    assert "Authorization" in [value.strip() for value in not_modified["Vary"].split(",")]
    assert "Content-Type" not in not_modified
    # Several tags, a weak one, or `*`: also a match (weak comparison, RFC 9110 §13.1.2).
    assert client.get(path, HTTP_IF_NONE_MATCH=f'"other", W/{etag}').status_code == 304
    assert client.get(path, HTTP_IF_NONE_MATCH="*").status_code == 304
    stale = client.get(path, HTTP_IF_NONE_MATCH='"other"')
    assert stale.status_code == 200 and stale.json()["name"] == "Acme" and stale["ETag"] == etag

    client.patch(path, {"description": "Changed"}, format="json")
    changed = client.get(path, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed.json()["description"] == "Changed"


def test_a_304_costs_no_more_queries_than_a_200(client, brand, django_assert_num_queries):
    """With the page copied a 200 costs no SQL, and so does a 304; the first 304 keeps the page as a 200 would."""
    path = f"/brands/{brand.pk}"
    etag = conditional.etag(Brand.objects.get(pk=brand.pk))
    with django_assert_num_queries(1):  # the brand; the rendered page is kept
        assert client.get(path, HTTP_IF_NONE_MATCH=etag).status_code == 304
    with django_assert_num_queries(0):
        assert client.get(path, HTTP_IF_NONE_MATCH=etag).status_code == 304
    with django_assert_num_queries(0):
        assert client.get(path).status_code == 200


def _stale_and_current(client, path):
    stale = client.get(path)["ETag"]
    current = client.patch(path, {"name": "Moved on"}, format="json")["ETag"]
    assert stale != current
    return stale, current


def _assert_precondition_failed(response):
    assert response.status_code == 412
    body = response.json()
    assert body["error"] == "precondition_failed"
    assert "GET it again" in body["error_description"] and "retry" in body["error_description"]
    assert response["Cache-Control"] == "private, no-cache"


@pytest.mark.parametrize("noun", ["brands", "campaigns"])
def test_a_stale_if_match_is_a_412_and_nothing_changes(client, brand, campaign, noun):
    model, row = (Brand, brand) if noun == "brands" else (Campaign, campaign)
    path = f"/{noun}/{row.pk}"
    stale, current = _stale_and_current(client, path)
    before = model.objects.filter(pk=row.pk).values().get()
    put_body = {"name": "Overwritten"} if noun == "brands" else {"name": "Overwritten", "brand": brand.pk}

    _assert_precondition_failed(client.patch(path, {"name": "Lost update"}, format="json", HTTP_IF_MATCH=stale))
    _assert_precondition_failed(client.put(path, put_body, format="json", HTTP_IF_MATCH=stale))
    _assert_precondition_failed(client.delete(path, HTTP_IF_MATCH=stale))
    _assert_precondition_failed(client.delete(path, HTTP_IF_MATCH=f"W/{current}"))  # If-Match compares strongly
    _assert_precondition_failed(client.patch(path, {"name": ""}, format="json", HTTP_IF_MATCH=stale))  # before 400
    assert model.objects.filter(pk=row.pk).values().get() == before
    assert client.get(path, HTTP_IF_NONE_MATCH=current).status_code == 304  # the page copy is still this version


@pytest.mark.parametrize("noun", ["brands", "campaigns"])
def test_the_current_etag_or_a_star_lets_the_write_through(client, brand, campaign, noun):
    model, row = (Brand, brand) if noun == "brands" else (Campaign, campaign)
    path = f"/{noun}/{row.pk}"
    stale, current = _stale_and_current(client, path)
    patched = client.patch(path, {"name": "Mine"}, format="json", HTTP_IF_MATCH=f'{stale}, "x", {current}')
    assert patched.status_code == 200 and patched.json()["name"] == "Mine"
    assert model.objects.get(pk=row.pk).name == "Mine"
    starred = client.patch(path, {"name": "Anyway"}, format="json", HTTP_IF_MATCH="*")
    assert starred.status_code == 200 and model.objects.get(pk=row.pk).name == "Anyway"
    if noun == "brands":
        campaign.delete()  # a brand with campaigns is a 409, whatever If-Match says
    assert client.delete(path, HTTP_IF_MATCH=starred["ETag"]).status_code == 204
    assert not model.objects.filter(pk=row.pk).exists()
    assert client.patch(path, {"name": "Gone"}, format="json", HTTP_IF_MATCH="*").status_code == 404


def test_without_if_match_writes_work_as_before(client, brand):
    path = f"/brands/{brand.pk}"
    _stale_and_current(client, path)
    assert client.patch(path, {"name": "Last writer"}, format="json").status_code == 200
    assert client.delete(path).status_code == 204


def test_a_brand_still_used_is_a_409_with_its_current_etag(client, brand, campaign):
    current = client.get(f"/brands/{brand.pk}")["ETag"]
    refused = client.delete(f"/brands/{brand.pk}", HTTP_IF_MATCH=current)
    assert refused.status_code == 409 and Brand.objects.filter(pk=brand.pk).exists()


def test_a_write_between_the_read_and_the_update_is_caught_by_the_update_itself(brand, campaign):
    """The view compares If-Match with the row it read; the UPDATE or DELETE repeats the comparison in its WHERE."""
    read = Brand.objects.get(pk=brand.pk)
    services.brand_update(brand=Brand.objects.get(pk=brand.pk), description="Meanwhile")
    with pytest.raises(services.PreconditionFailed):
        services.brand_update(brand=read, if_updated_at=read.updated_at, description="Lost")
    assert Brand.objects.get(pk=brand.pk).description == "Meanwhile"
    with pytest.raises(services.PreconditionFailed):
        services.brand_delete(brand=read, if_updated_at=read.updated_at)

    read = Campaign.objects.get(pk=campaign.pk)
    services.campaign_update(campaign=Campaign.objects.get(pk=campaign.pk), name="Meanwhile")
    with pytest.raises(services.PreconditionFailed):
        services.campaign_update(campaign=read, if_updated_at=read.updated_at, name="Lost")
    with pytest.raises(services.PreconditionFailed):
        services.campaign_delete(campaign=read, if_updated_at=read.updated_at)
    assert Campaign.objects.get(pk=campaign.pk).name == "Meanwhile"


def test_conditional_writes_cost_what_the_others_do(client, brand, campaign, django_assert_num_queries):
    """As tests/apiresources/test_writes.py pins them: the object, then the one UPDATE or DELETE."""
    path = f"/campaigns/{campaign.pk}"
    etag = client.get(path)["ETag"]
    with django_assert_num_queries(2):
        etag = client.patch(path, {"name": "Relaunch"}, format="json", HTTP_IF_MATCH=etag)["ETag"]
    with django_assert_num_queries(2):
        assert client.delete(path, HTTP_IF_MATCH=etag).status_code == 204
    etag = client.get(f"/brands/{brand.pk}")["ETag"]
    with django_assert_num_queries(2):
        assert client.delete(f"/brands/{brand.pk}", HTTP_IF_MATCH=etag).status_code == 204


@on_postgres
def test_of_two_concurrent_patches_with_one_etag_exactly_one_wins(brand, as_vendor, enterprise_vendor, monkeypatch):
    """Both requests read the same version and pass the view's comparison before either writes: the UPDATE's own
    WHERE must refuse the second (PostgreSQL re-reads the row it waited for), so neither change is lost silently."""
    token_client = as_vendor(enterprise_vendor)
    authorization = token_client._credentials["HTTP_AUTHORIZATION"]
    path = f"/brands/{brand.pk}"
    etag = token_client.get(path)["ETag"]
    both_read = threading.Barrier(2, timeout=10)
    save = services._save

    def save_once_both_have_read(*args, **kwargs):
        both_read.wait()
        return save(*args, **kwargs)

    monkeypatch.setattr(services, "_save", save_once_both_have_read)
    results = []

    def attempt(description):
        try:
            response = APIClient().patch(
                path, {"description": description}, format="json", HTTP_AUTHORIZATION=authorization, HTTP_IF_MATCH=etag
            )
            results.append((response.status_code, description, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(name,)) for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    statuses = sorted(status for status, _, _ in results)
    assert statuses == [200, 412], results
    (winner,) = [description for status, description, _ in results if status == 200]
    (loser,) = [body for status, _, body in results if status == 412]
    assert loser["error"] == "precondition_failed"
    assert Brand.objects.get(pk=brand.pk).description == winner


@pytest.mark.parametrize("noun", ["brands", "campaigns"])
def test_a_conditional_write_announces_itself_once_and_a_refused_one_not_at_all(
    client, brand, campaign, enterprise_vendor, monkeypatch, noun
):
    row = brand if noun == "brands" else campaign
    path = f"/{noun}/{row.pk}"
    stale, current = _stale_and_current(client, path)
    bumps = []
    monkeypatch.setattr(versions, "invalidate", lambda client_id, **moved: bumps.append((client_id, moved)))
    announced = [(enterprise_vendor.vendor.client_id, {"auth": False, "data": True, "token": None})]

    assert client.patch(path, {"name": "Stale"}, format="json", HTTP_IF_MATCH=stale).status_code == 412
    assert client.delete(path, HTTP_IF_MATCH=stale).status_code == 412
    assert bumps == []
    current = client.patch(path, {"name": "Fresh"}, format="json", HTTP_IF_MATCH=current)["ETag"]
    assert bumps == announced
    if noun == "brands":
        campaign.delete()  # its own announcement
    bumps.clear()
    assert client.delete(path, HTTP_IF_MATCH=current).status_code == 204
    assert bumps == announced
