"""The Tools API over HTTP: GET /tools and POST /tools/{tool}, on normal and hostile input."""

import pytest

from apiresources.tools import TOOLS, tokenize

from .multilingual import GERMAN_RUNNING_SHOES, SAMPLES


@pytest.fixture
def client(as_vendor, enterprise_vendor):
    return as_vendor(enterprise_vendor)


def test_it_lists_every_tool_with_its_endpoint_and_fields(client, django_assert_num_queries):
    with django_assert_num_queries(1):
        response = client.get("/tools")
    assert response.status_code == 200
    body = response.json()
    assert body["next"] is None
    names = [tool["name"] for tool in body["results"]]
    assert names == list(TOOLS) and {"utm-builder", "keywords", "budget-pacing"} <= set(names)
    utm = body["results"][names.index("utm-builder")]
    assert utm["endpoint"] == "http://testserver/tools/utm-builder"
    assert set(utm["fields"]) == {"url", "source", "medium", "campaign", "term", "content"}
    assert utm["description"]


def test_utm_builder_keeps_query_and_fragment_and_encodes_values(client):
    response = client.post(
        "/tools/utm-builder/",
        {
            "url": "https://shop.example/p?color=red#reviews",
            "source": "news letter",
            "medium": "e&mail",
            "campaign": "été",
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["url"] == (
        "https://shop.example/p?color=red&utm_source=news%20letter&utm_medium=e%26mail&utm_campaign=%C3%A9t%C3%A9#reviews"
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "javascript:alert(1)", "source": "a", "medium": "b", "campaign": "c"}, "url"),
        ({"url": "ftp://files.example", "source": "a", "medium": "b", "campaign": "c"}, "url"),
        ({"url": "https://shop.example", "medium": "b", "campaign": "c"}, "source"),
        ({"url": "https://shop.example", "source": 5, "medium": "b", "campaign": "c"}, "source"),
        ({"url": "https://shop.example", "source": "a", "medium": "b", "campaign": "c", "x": 1}, "x"),
    ],
)
def test_utm_builder_rejects_bad_input_with_field_errors(client, body, field):
    response = client.post("/tools/utm-builder", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert field in response.json()["fields"]


def test_keywords_are_deterministic_unicode_aware_and_without_stop_words(client):
    text = "Café café CAFÉ and the best croissants; the croissants of Zürich."
    first = client.post("/tools/keywords", {"text": text, "limit": 2}, format="json")
    assert first.status_code == 200, first.content
    body = first.json()
    assert [item["keyword"] for item in body["keywords"]] == ["café", "croissants"]
    assert body["hashtags"] == ["#café", "#croissants"]
    assert client.post("/tools/keywords", {"text": text, "limit": 2}, format="json").json() == body


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda sample: sample.language)
def test_keywords_leave_out_the_stop_words_of_the_texts_language(client, sample):
    response = client.post("/tools/keywords", {"text": sample.text, "limit": 50}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["language"], body["language_source"]) == (sample.language, "detected")
    words = [item["keyword"] for item in body["keywords"]]
    assert set(sample.content_words) <= set(words)
    assert not set(sample.stop_words) & set(words)
    phrase_words = {word for item in body["phrases"] for word in tokenize(item["phrase"], sample.language)}
    assert body["phrases"] and not set(sample.stop_words) & phrase_words


def test_keywords_of_a_german_product_text_are_german_words(client):
    response = client.post("/tools/keywords", {"text": GERMAN_RUNNING_SHOES, "limit": 5}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert [item["keyword"] for item in body["keywords"]] == ["laufschuhe", "läufer", "besten", "schneller", "dämpfen"]
    assert body["hashtags"][0] == "#laufschuhe"
    assert {"phrase": "besten laufschuhe", "count": 1} in body["phrases"]
    assert (body["language"], body["language_source"]) == ("de", "detected")


def test_keywords_split_japanese_into_words(client):
    response = client.post("/tools/keywords", {"text": "東京のラーメン店"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["hashtags"] == ["#東京", "#ラーメン"]
    assert response.json()["language"] == "ja"


def test_keywords_take_the_language_given(client):
    text = "Die Laufschuhe für die Läufer und die Läuferinnen"
    response = client.post("/tools/keywords", {"text": text, "language": "en", "limit": 3}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert [item["keyword"] for item in body["keywords"]] == ["die", "laufschuhe", "für"]
    assert (body["language"], body["language_source"]) == ("en", "given")


def test_keywords_refuse_an_unsupported_language_naming_the_supported_ones(client):
    response = client.post("/tools/keywords", {"text": "Laufschuhe", "language": "xx"}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "error": "validation_error",
        "error_description": "The request has invalid fields; see 'fields'.",
        "fields": {
            "language": "Unsupported language 'xx'. Send one of de, en, es, fr, it, ja, nl, pl, pt, ru, tr, zh, "
            "or leave it out to have it detected."
        },
    }


def test_keywords_of_a_short_text_fall_back_to_english(client):
    response = client.post("/tools/keywords", {"text": "running shoes"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["language"], body["language_source"]) == ("en", "default")
    assert body["phrases"] == [{"phrase": "running shoes", "count": 1}]


def test_the_tool_list_documents_the_language_field(client):
    tools = {tool["name"]: tool for tool in client.get("/tools").json()["results"]}
    assert "de, en, es" in tools["keywords"]["fields"]["language"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "text"),
        ({"text": 42}, "text"),
        ({"text": "hi", "limit": 0}, "limit"),
        ({"text": "hi", "limit": "x"}, "limit"),
    ],
)
def test_keywords_rejects_bad_input(client, body, field):
    response = client.post("/tools/keywords", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_budget_pacing_reports_pace_and_recommendation(client):
    body = {
        "budget": "3000",
        "spent": "1500",
        "start_date": "2026-03-01",
        "end_date": "2026-03-30",
        "as_of": "2026-03-10",
    }
    response = client.post("/tools/budget-pacing", body, format="json")
    assert response.status_code == 200, response.content
    result = response.json()
    assert (result["days_total"], result["days_elapsed"], result["days_left"]) == (30, 10, 20)
    assert result["expected_spend"] == "1000.00"
    assert result["status"] == "over"
    assert result["recommended_daily_spend"] == "75.00"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"budget": "-1", "spent": "0", "start_date": "2026-03-01", "end_date": "2026-03-02"}, "budget"),
        ({"budget": "NaN", "spent": "0", "start_date": "2026-03-01", "end_date": "2026-03-02"}, "budget"),
        ({"budget": "1e999999", "spent": "0", "start_date": "2026-03-01", "end_date": "2026-03-02"}, "budget"),
        ({"budget": "10", "spent": "0", "start_date": "2026-03-05", "end_date": "2026-03-02"}, "end_date"),
        ({"budget": "10", "spent": "0", "start_date": "yesterday", "end_date": "2026-03-02"}, "start_date"),
    ],
)
def test_budget_pacing_rejects_bad_input(client, body, field):
    response = client.post("/tools/budget-pacing", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["fields"]


@pytest.mark.parametrize("tool", list(TOOLS))
@pytest.mark.parametrize(
    "raw",
    [
        b"[]",
        b"null",
        b'"text"',
        b"42",
        b"{",
        b'{"text": "\\ud800", "url": "\\udfff", "budget": "\\ud800"}',
        b"[" * 100000,
        b'{"' + b"k" * 50000 + b'": 1}',
    ],
)
def test_every_tool_answers_hostile_bodies_with_a_4xx(client, tool, raw):
    response = client.generic("POST", f"/tools/{tool}", raw, content_type="application/json")
    assert 400 <= response.status_code < 500, response.content
    assert response.json()["error"] in {"validation_error", "invalid_request"}


def test_an_unknown_tool_is_a_404_in_the_error_shape(client):
    response = client.post("/tools/horoscope", {}, format="json")
    assert response.status_code == 404
    assert response.json() == {
        "error": "not_found",
        "error_description": "There is no tool named 'horoscope'. GET /tools lists the tools.",
    }


def test_a_tool_is_not_run_with_get(client):
    response = client.get("/tools/keywords")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
