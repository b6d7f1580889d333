"""Tests for the pure-Python logic of the stateless marketing tools (no Django needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata
from datetime import date, timedelta
from decimal import ROUND_FLOOR, Decimal, localcontext
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apiresources.languages import LANGUAGES, is_stop_word
from apiresources.tools import (
    NON_FIELD_ERRORS,
    TOOLS,
    Tool,
    ToolInputError,
    budget_pacing,
    build_utm_url,
    extract_keywords,
    tokenize,
)

from .multilingual import GERMAN_RUNNING_SHOES, SAMPLES, Sample

# --- helpers -----------------------------------------------------------------------------------------------------


def utm(url: str = "https://example.com/landing", **extra: object) -> dict:
    """Run the UTM builder with sensible defaults for the required fields."""
    body = {"url": url, "source": "newsletter", "medium": "email", "campaign": "spring_sale", **extra}
    return build_utm_url(body)


def utm_error(url: str = "https://example.com/landing", **extra: object) -> dict[str, str]:
    """Return the per-field errors the UTM builder reports for a body."""
    with pytest.raises(ToolInputError) as excinfo:
        utm(url, **extra)
    return excinfo.value.fields


def keywords(text: str, **extra: object) -> dict:
    """Run the keywords tool."""
    return extract_keywords({"text": text, **extra})


def keyword_pairs(text: str, **extra: object) -> list[tuple[str, int]]:
    """Return (keyword, count) pairs in ranked order."""
    return [(item["keyword"], item["count"]) for item in keywords(text, **extra)["keywords"]]


def keywords_error(body: object) -> dict[str, str]:
    """Return the per-field errors the keywords tool reports for a body."""
    with pytest.raises(ToolInputError) as excinfo:
        extract_keywords(body)
    return excinfo.value.fields


# Passing DROP for a field removes it from the body, to test absent rather than null values.
DROP = object()

TEN_DAY_CAMPAIGN = {"budget": "1000", "spent": "100", "start_date": "2025-03-01", "end_date": "2025-03-10"}


def pacing(today: date | None = date(2025, 3, 1), **overrides: object) -> dict:
    """Run budget pacing on a 1000-over-10-days campaign unless overridden."""
    body = {**TEN_DAY_CAMPAIGN, **overrides}
    return budget_pacing({key: value for key, value in body.items() if value is not DROP}, today=today)


def pacing_error(**overrides: object) -> dict[str, str]:
    """Return the per-field errors budget pacing reports for a body."""
    with pytest.raises(ToolInputError) as excinfo:
        pacing(**overrides)
    return excinfo.value.fields


def is_hashtag_character(char: str) -> bool:
    """Tell whether a character may appear in a hashtag body: a letter, digit or combining mark."""
    return char.isalnum() or unicodedata.category(char).startswith("M")


def render_like_an_api(result: dict) -> bytes:
    """Serialise as DRF's JSON renderer does (UTF-8, no ASCII escaping), failing on non-JSON values."""
    return json.dumps(result, ensure_ascii=False, allow_nan=False).encode("utf-8")


# --- registry ----------------------------------------------------------------------------------------------------


def test_tools_are_registered_by_name_in_a_stable_order():
    assert list(TOOLS) == ["utm-builder", "keywords", "budget-pacing"]
    for name, tool in TOOLS.items():
        assert isinstance(tool, Tool)
        assert tool.name == name
        assert tool.description.endswith(".")
        assert tool.fields and all(isinstance(text, str) and text for text in tool.fields.values())
        assert callable(tool.run)


def test_tool_fields_document_exactly_the_accepted_fields():
    assert list(TOOLS["utm-builder"].fields) == ["url", "source", "medium", "campaign", "term", "content"]
    assert list(TOOLS["keywords"].fields) == ["text", "limit", "language"]
    assert list(TOOLS["budget-pacing"].fields) == ["budget", "start_date", "end_date", "spent", "as_of"]


def test_tool_definitions_are_immutable():
    with pytest.raises(AttributeError):
        TOOLS["keywords"].name = "other"  # type: ignore[misc]


def test_tool_input_error_is_a_value_error_carrying_per_field_messages():
    error = ToolInputError({"url": "Enter an http or https URL."})
    assert isinstance(error, ValueError)
    assert error.fields == {"url": "Enter an http or https URL."}


@pytest.mark.parametrize("name", list(TOOLS))
@pytest.mark.parametrize("body", [None, [], ["url"], "text", 42, 1.5, True, False])
def test_every_tool_rejects_a_body_that_is_not_an_object(name, body):
    with pytest.raises(ToolInputError) as excinfo:
        TOOLS[name].run(body)
    assert excinfo.value.fields == {NON_FIELD_ERRORS: "Expected a JSON object."}


@pytest.mark.parametrize("name", list(TOOLS))
def test_every_tool_reports_missing_required_fields_on_an_empty_object(name):
    with pytest.raises(ToolInputError) as excinfo:
        TOOLS[name].run({})
    required = [field for field, text in TOOLS[name].fields.items() if "required" in text]
    assert required
    assert {field: excinfo.value.fields[field] for field in required} == dict.fromkeys(
        required, "This field is required."
    )


def test_unknown_fields_are_rejected_alongside_other_errors():
    fields = utm_error(url="ftp://example.com", utm_source="x", admin=True)
    assert fields == {
        "utm_source": "Unknown field.",
        "admin": "Unknown field.",
        "url": "Enter an http or https URL.",
    }


def test_unknown_field_names_are_echoed_back_safely_escaped_and_truncated():
    fields = keywords_error({"text": "coffee", "bad\ud800": 1, "k" * 10_000: 2})
    assert fields == {"bad\\ud800": "Unknown field.", "k" * 100: "Unknown field."}
    render_like_an_api(fields)


def test_unknown_fields_are_rejected_even_when_everything_else_is_valid():
    assert keywords_error({"text": "coffee", "extra": None}) == {"extra": "Unknown field."}


# --- utm-builder -------------------------------------------------------------------------------------------------


def test_it_appends_utm_parameters_in_canonical_order():
    result = utm(term="running shoes", content="banner")
    assert result["url"] == (
        "https://example.com/landing?utm_source=newsletter&utm_medium=email&utm_campaign=spring_sale"
        "&utm_term=running%20shoes&utm_content=banner"
    )
    assert result["parameters"] == {
        "utm_source": "newsletter",
        "utm_medium": "email",
        "utm_campaign": "spring_sale",
        "utm_term": "running shoes",
        "utm_content": "banner",
    }


def test_it_encodes_spaces_as_percent_20_and_every_reserved_character():
    result = utm(source="a b+c&d=e/f?g#h%i")
    assert "utm_source=a%20b%2Bc%26d%3De%2Ff%3Fg%23h%25i&" in result["url"]


def test_it_leaves_unreserved_characters_unencoded():
    assert "utm_source=AZaz09-._~&" in utm(source="AZaz09-._~")["url"]


def test_it_encodes_unicode_values_as_utf8_percent_escapes():
    result = utm(campaign="café 東京")
    assert result["url"].endswith("utm_campaign=caf%C3%A9%20%E6%9D%B1%E4%BA%AC")
    assert result["parameters"]["utm_campaign"] == "café 東京"


def test_it_keeps_existing_query_parameters_in_order_and_verbatim():
    result = utm("https://example.com/p?b=2&a=1+1&c=%7Bx%7D&empty=&flag")
    assert result["url"] == (
        "https://example.com/p?b=2&a=1+1&c=%7Bx%7D&empty=&flag"
        "&utm_source=newsletter&utm_medium=email&utm_campaign=spring_sale"
    )


def test_it_replaces_an_existing_utm_parameter_in_place_instead_of_duplicating():
    result = utm("https://example.com/?a=1&utm_medium=cpc&b=2")
    assert result["url"] == (
        "https://example.com/?a=1&utm_medium=email&b=2&utm_source=newsletter&utm_campaign=spring_sale"
    )


def test_it_drops_later_duplicates_of_a_replaced_utm_parameter():
    result = utm("https://example.com/?utm_source=old&x=1&utm_source=older")
    pairs = parse_qsl(urlsplit(result["url"]).query)
    assert pairs[:2] == [("utm_source", "newsletter"), ("x", "1")]
    assert [key for key, _ in pairs].count("utm_source") == 1


def test_it_replaces_a_percent_encoded_utm_parameter_name():
    result = utm("https://example.com/?utm%5Fsource=old")
    assert result["url"].startswith("https://example.com/?utm_source=newsletter&")
    assert "old" not in result["url"]


def test_it_leaves_existing_utm_parameters_that_are_not_being_set():
    result = utm("https://example.com/?utm_term=kept&utm_content=also")
    assert result["url"].startswith("https://example.com/?utm_term=kept&utm_content=also&utm_source=")


def test_it_treats_utm_parameter_names_case_sensitively():
    result = utm("https://example.com/?UTM_SOURCE=upper")
    assert result["url"].startswith("https://example.com/?UTM_SOURCE=upper&utm_source=newsletter")


def test_it_skips_empty_query_segments():
    assert utm("https://example.com/?&a=1&&")["url"].startswith("https://example.com/?a=1&utm_source=")


def test_it_keeps_the_fragment_after_the_query():
    result = utm("https://example.com/page?a=1#section-2?not=query")
    assert result["url"] == (
        "https://example.com/page?a=1&utm_source=newsletter&utm_medium=email&utm_campaign=spring_sale"
        "#section-2?not=query"
    )


def test_it_works_on_a_bare_host_without_path():
    assert utm("http://example.com")["url"] == (
        "http://example.com?utm_source=newsletter&utm_medium=email&utm_campaign=spring_sale"
    )


def test_it_keeps_ports_and_ipv6_hosts():
    assert utm("http://[2001:db8::1]:8080/x")["url"].startswith("http://[2001:db8::1]:8080/x?utm_source=")
    assert utm("https://localhost:8443/")["url"].startswith("https://localhost:8443/?")


def test_it_keeps_internationalised_hosts_and_paths_as_given():
    result = utm("https://bücher.example/straße?q=ü")
    assert result["url"].startswith("https://bücher.example/straße?q=ü&utm_source=newsletter")


def test_it_accepts_an_uppercase_scheme():
    assert utm("HTTPS://Example.com/")["url"].startswith("https://Example.com/?utm_source=")


def test_it_strips_whitespace_around_the_url_and_values():
    result = utm("  https://example.com/  ", source="  newsletter  ")
    assert result["url"].startswith("https://example.com/?utm_source=newsletter&")


@pytest.mark.parametrize("value", ["", "   ", None])
def test_it_omits_blank_or_null_optional_term_and_content(value):
    result = utm(term=value, content=value)
    assert "utm_term" not in result["url"] and "utm_content" not in result["url"]
    assert set(result["parameters"]) == {"utm_source", "utm_medium", "utm_campaign"}


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(document.cookie)//https://example.com",
        "  javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "ftp://example.com/file",
        "mailto:someone@example.com",
        "example.com/landing",
        "//example.com/landing",
        "/relative/path",
        "www.example.com",
    ],
)
def test_it_rejects_urls_that_are_not_http_or_https(url):
    assert utm_error(url) == {"url": "Enter an http or https URL."}


@pytest.mark.parametrize("url", ["http://", "https://", "http:///path", "http:example.com", "https://:443/"])
def test_it_rejects_urls_without_a_host(url):
    assert utm_error(url) == {"url": "Enter a URL with a valid host."}


@pytest.mark.parametrize(
    "url",
    [
        "https://user:pass@example.com/",
        "https://user@example.com/",
        "https://:secret@example.com/",
        "https://example.com@evil.example/",
        "https://user%40x:p@example.com/",
    ],
)
def test_it_rejects_urls_with_embedded_credentials(url):
    assert utm_error(url) == {"url": "URLs with embedded credentials are not allowed."}


@pytest.mark.parametrize(
    "url",
    [
        "https://exa$mple.com/",
        "https://<script>/",
        "https://example..com/",
        "https://[not-an-ip]/",
        "https://%65xample.com/",
        "https://example.com\\@evil.example/",
    ],
)
def test_it_rejects_urls_with_an_invalid_host(url):
    assert "url" in utm_error(url)


@pytest.mark.parametrize("url", ["https://example.com:99999/", "https://example.com:port/", "https://[::1/"])
def test_it_rejects_malformed_urls(url):
    assert utm_error(url) == {"url": "Enter a valid URL."}


@pytest.mark.parametrize(
    "url",
    ["https://example.com/a b", "https://exa mple.com/", "https://example.com/\u3000x", "https://example.com/\u00a0x"],
)
def test_it_rejects_urls_containing_whitespace(url):
    assert utm_error(url) == {"url": "Enter a URL without spaces."}


@pytest.mark.parametrize(
    "url", ["java\tscript:alert(1)", "https://exa\nmple.com/", "https://example.com/\x00", "h\rttp://x"]
)
def test_it_rejects_urls_with_control_characters_that_parsers_would_silently_drop(url):
    assert utm_error(url) == {"url": "Control characters are not allowed."}


def test_it_accepts_a_url_of_exactly_2048_characters():
    url = "https://example.com/" + "a" * (2048 - len("https://example.com/"))
    assert utm(url)["url"].startswith(url + "?")


def test_it_rejects_a_url_longer_than_2048_characters():
    url = "https://example.com/" + "a" * 2048
    assert utm_error(url) == {"url": "Ensure this field has no more than 2048 characters."}


def test_it_rejects_a_megabyte_url_quickly_with_a_length_error():
    assert utm_error("https://example.com/" + "x" * 1_000_000) == {
        "url": "Ensure this field has no more than 2048 characters."
    }


def test_it_accepts_utm_values_of_exactly_200_characters():
    assert utm(source="s" * 200)["parameters"]["utm_source"] == "s" * 200


@pytest.mark.parametrize("field", ["source", "medium", "campaign", "term", "content"])
def test_it_rejects_utm_values_longer_than_200_characters(field):
    assert utm_error(**{field: "v" * 201}) == {field: "Ensure this field has no more than 200 characters."}


@pytest.mark.parametrize("field", ["source", "medium", "campaign"])
@pytest.mark.parametrize("value", [None, "", "   "])
def test_it_requires_source_medium_and_campaign(field, value):
    message = "This field is required." if value is None else "This field may not be blank."
    assert utm_error(**{field: value}) == {field: message}


@pytest.mark.parametrize("value", [1, 1.5, True, False, [], ["a"], {}, {"a": "b"}])
@pytest.mark.parametrize("field", ["url", "source", "term"])
def test_it_rejects_non_string_values(field, value):
    assert utm_error(**{field: value}) == {field: "Enter a string."}


def test_it_rejects_control_characters_in_utm_values():
    assert utm_error(medium="e\nmail") == {"medium": "Control characters are not allowed."}


@pytest.mark.parametrize("field", ["url", "source", "content"])
def test_it_rejects_lone_surrogates_that_cannot_be_rendered_as_utf8(field):
    value = "https://example.com/\ud800" if field == "url" else "x\udfff"
    assert utm_error(**{field: value}) == {field: "Enter valid Unicode text."}


def test_it_reports_every_invalid_field_at_once():
    fields = utm_error(url="javascript:alert(1)", source=None, medium=3, campaign="c" * 201)
    assert set(fields) == {"url", "source", "medium", "campaign"}


@settings(max_examples=200, deadline=None)
@given(
    source=st.text(min_size=1, max_size=200),
    term=st.none() | st.text(max_size=200),
    query=st.lists(st.sampled_from(["a=1", "b=x%20y", "utm_source=old", "c", "utm_term=old"]), max_size=4),
)
def test_utm_values_round_trip_through_the_query_string(source, term, query):
    base = "https://example.com/p" + ("?" + "&".join(query) if query else "")
    try:
        result = utm(base, source=source, term=term)
    except ToolInputError as error:
        # Only values that are blank or contain control characters may be refused here.
        assert set(error.fields) <= {"source", "term"}
        return
    pairs = parse_qsl(urlsplit(result["url"]).query, keep_blank_values=True)
    values = dict(pairs)
    assert values["utm_source"] == source.strip()
    assert [key for key, _ in pairs].count("utm_source") == 1
    if term is not None and term.strip():
        assert values["utm_term"] == term.strip()
    assert [key for key, _ in pairs if not key.startswith("utm_")] == [
        segment.split("=")[0] for segment in query if not segment.startswith("utm_")
    ]


# --- keywords ----------------------------------------------------------------------------------------------------


def test_it_ranks_keywords_by_frequency():
    text = "Shop coffee coffee coffee beans beans"
    assert keyword_pairs(text) == [("coffee", 3), ("beans", 2), ("shop", 1)]


def test_it_breaks_frequency_ties_by_first_appearance():
    assert keyword_pairs("zebra apple mango apple zebra mango") == [("zebra", 2), ("apple", 2), ("mango", 2)]


def test_it_returns_the_same_result_every_time():
    text = "delta alpha charlie bravo " * 3 + "echo foxtrot"
    assert keywords(text) == keywords(text)


def test_it_removes_english_stop_words_case_insensitively():
    assert keyword_pairs("The THE and Of coffee IS is the best") == [("coffee", 1), ("best", 1)]


def test_it_counts_words_case_insensitively_with_casefolding():
    assert keyword_pairs("Coffee COFFEE coffee Straße STRASSE") == [("coffee", 3), ("strasse", 2)]


def test_it_keeps_accented_and_non_latin_words():
    pairs = keyword_pairs("Café naïve 東京 café résumé Москва")
    assert pairs == [("café", 2), ("naïve", 1), ("東京", 1), ("résumé", 1), ("москва", 1)]


def test_it_counts_decomposed_and_precomposed_accents_as_the_same_word():
    assert keyword_pairs("cafe\u0301 caf\u00e9") == [("café", 2)]


def test_it_keeps_combining_marks_inside_words_of_scripts_that_need_them():
    assert keyword_pairs("हिन्दी हिन्दी भाषा") == [("हिन्दी", 2), ("भाषा", 1)]


def test_it_folds_compatibility_characters():
    assert keyword_pairs("ｃｏｆｆｅｅ coffee ﬁsh fish") == [("coffee", 2), ("fish", 2)]


def test_it_drops_pure_numbers_and_one_character_tokens():
    assert keyword_pairs("2024 10 1 ٣٣ x y z coffee 4k q1 ²") == [("coffee", 1), ("4k", 1), ("q1", 1)]


def test_it_splits_words_on_punctuation_underscores_and_apostrophes():
    assert keyword_pairs("snake_case e-mail coffee's") == [("snake", 1), ("case", 1), ("mail", 1), ("coffee", 1)]


def test_contractions_do_not_leak_fragments_as_keywords():
    assert keyword_pairs("don't won't isn't we're they've I'll it's can't shouldn't") == []


def test_it_ignores_emoji_and_symbols():
    assert keyword_pairs("☕️☕️ coffee!!! #coffee @coffee 💯") == [("coffee", 3)]


def test_it_drops_absurdly_long_tokens():
    assert keyword_pairs("a" * 65 + " coffee " + "b" * 64) == [("coffee", 1), ("b" * 64, 1)]


def test_it_returns_ten_keywords_by_default():
    text = " ".join(f"word{chr(97 + index)}" for index in range(26))
    assert len(keywords(text)["keywords"]) == 10


@pytest.mark.parametrize("limit", [1, 3, 50, "5"])
def test_it_honours_the_limit(limit):
    text = " ".join(f"word{chr(97 + a)}{chr(97 + b)}" for a in range(10) for b in range(10))
    result = keywords(text, limit=limit)
    assert len(result["keywords"]) == int(limit)
    assert len(result["hashtags"]) == int(limit)


def test_a_null_limit_means_the_default():
    text = " ".join(f"word{chr(97 + index)}" for index in range(26))
    assert len(keywords(text, limit=None)["keywords"]) == 10


@pytest.mark.parametrize("limit", [0, -1, 51, 10**100, "0", "51"])
def test_it_rejects_a_limit_outside_1_to_50(limit):
    assert keywords_error({"text": "coffee", "limit": limit}) == {"limit": "Ensure this value is between 1 and 50."}


@pytest.mark.parametrize("limit", [True, False, 2.5, 3.0, "three", "", "1e1", [], {}, "٣"])
def test_it_rejects_a_limit_that_is_not_a_whole_number(limit):
    assert keywords_error({"text": "coffee", "limit": limit}) == {"limit": "Enter a whole number."}


def test_it_builds_one_lowercase_hashtag_per_keyword():
    result = keywords("CoffeeShop coffeeshop Café 東京 espresso")
    assert result["hashtags"] == ["#coffeeshop", "#café", "#東京", "#espresso"]


def test_hashtags_contain_only_letters_digits_and_combining_marks():
    text = "Don't-stop café_au_lait <script>alert(1)</script> e-mail 東京 #hash @at 100% 4k हिन्दी ☕️ 𝔉𝔯𝔞𝔨𝔱𝔲𝔯"
    for hashtag in keywords(text, limit=50)["hashtags"]:
        assert hashtag.startswith("#")
        assert len(hashtag) > 2
        assert all(is_hashtag_character(char) for char in hashtag[1:]), hashtag


def test_it_returns_empty_lists_when_only_stop_words_and_numbers_remain():
    assert keywords("the and of 2024 a I") == {
        "keywords": [],
        "hashtags": [],
        "phrases": [],
        "word_count": 6,
        "language": "en",
        "language_source": "detected",
    }


def test_it_reports_the_number_of_words_seen():
    assert keywords("The coffee, the beans.")["word_count"] == 4


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_it_rejects_blank_text(text):
    assert keywords_error({"text": text}) == {"text": "This field may not be blank."}


@pytest.mark.parametrize("text", [None, 42, True, ["coffee"], {"text": "coffee"}])
def test_it_rejects_text_that_is_not_a_string(text):
    expected = "This field is required." if text is None else "Enter a string."
    assert keywords_error({"text": text}) == {"text": expected}


def test_it_accepts_text_with_newlines_and_tabs():
    assert keyword_pairs("coffee\nbeans\tcoffee\r\n") == [("coffee", 2), ("beans", 1)]


def test_it_rejects_text_with_lone_surrogates():
    assert keywords_error({"text": "coffee \ud83d"}) == {"text": "Enter valid Unicode text."}


def test_it_accepts_text_of_exactly_100000_characters():
    text = ("coffee beans " * 10_000)[:100_000]
    assert len(text) == 100_000
    assert keyword_pairs(text, limit=2) == [("coffee", 7692), ("beans", 7692)]


def test_it_rejects_text_longer_than_100000_characters():
    assert keywords_error({"text": "x" * 100_001}) == {"text": "Ensure this field has no more than 100000 characters."}


def test_tokenize_returns_casefolded_words_in_order():
    assert tokenize("Hello, WORLD! Ünïcödé_text") == ["hello", "world", "ünïcödé", "text"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(min_size=1, max_size=300), limit=st.integers(min_value=1, max_value=50))
def test_keyword_results_are_ranked_limited_and_hashtag_safe(text, limit):
    try:
        result = keywords(text, limit=limit)
    except ToolInputError as error:
        assert set(error.fields) == {"text"}
        return
    counts = [item["count"] for item in result["keywords"]]
    assert len(counts) <= limit
    assert counts == sorted(counts, reverse=True)
    assert all(count >= 1 for count in counts)
    assert result["hashtags"] == ["#" + item["keyword"] for item in result["keywords"]]
    for hashtag in result["hashtags"]:
        assert all(is_hashtag_character(char) for char in hashtag[1:])
        assert any(char.isalpha() for char in hashtag)
    render_like_an_api(result)


# --- keywords in each language -----------------------------------------------------------------------------------


def keyword_words(result: dict) -> list[str]:
    return [item["keyword"] for item in result["keywords"]]


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda sample: sample.language)
def test_it_removes_the_stop_words_of_the_detected_language(sample: Sample):
    words = tokenize(sample.text, sample.language)
    assert set(sample.stop_words) <= set(words)  # each is a word of the text, so it would count without removal
    result = keywords(sample.text, limit=50)
    assert (result["language"], result["language_source"]) == (sample.language, "detected")
    assert not set(sample.stop_words) & set(keyword_words(result))
    assert set(sample.content_words) <= set(keyword_words(result))
    phrase_words = {word for item in result["phrases"] for word in tokenize(item["phrase"], sample.language)}
    assert phrase_words and not set(sample.stop_words) & phrase_words
    assert result["hashtags"] == ["#" + word for word in keyword_words(result)]


def test_the_german_example_of_the_issue_has_no_stop_words_in_its_top_five():
    result = keywords(GERMAN_RUNNING_SHOES, limit=5)
    assert keyword_words(result) == ["laufschuhe", "läufer", "besten", "schneller", "dämpfen"]
    assert result["language"] == "de"


def test_it_splits_japanese_into_words():
    result = keywords("東京のラーメン店")
    assert keyword_words(result) == ["東京", "ラーメン"]
    assert (result["language"], result["language_source"]) == ("ja", "detected")
    assert result["word_count"] == 4  # 東京 の ラーメン 店


def test_it_splits_chinese_into_words():
    result = keywords("这款咖啡豆来自云南，香气浓郁，适合手冲咖啡。")
    assert keyword_words(result) == ["咖啡豆", "来自", "云南", "香气", "浓郁", "适合", "手冲", "咖啡"]
    assert result["language"] == "zh"


def test_a_given_language_overrides_detection():
    text = "Die Laufschuhe für die Läufer und die Läuferinnen"
    assert keywords(text)["language"] == "de"
    result = keywords(text, language="en")
    assert (result["language"], result["language_source"]) == ("en", "given")
    assert {"die", "für", "und"} <= set(keyword_words(result))  # German stop words are words in English text


def test_a_given_language_chooses_how_han_characters_are_split():
    # Without kana, Han characters are taken as Chinese (here wrongly: 東|京都) unless the text is said to be Japanese.
    assert keyword_words(keywords("東京都渋谷区", language="ja")) == ["東京", "渋谷"]
    result = keywords("東京都渋谷区")
    assert keyword_words(result) == ["京都"]
    assert (result["language"], result["language_source"]) == ("zh", "detected")


@pytest.mark.parametrize(("text", "language"), [("咖啡", "zh"), ("ラーメン", "ja"), ("東京のラーメン店", "ja")])
def test_chinese_and_japanese_are_told_by_their_scripts_however_short(text, language):
    assert (keywords(text)["language"], keywords(text)["language_source"]) == (language, "detected")


@pytest.mark.parametrize("language", ["xx", "DE", "zh-cn", "english", "ko"])
def test_it_rejects_a_language_it_does_not_support_naming_those_it_does(language):
    message = keywords_error({"text": "coffee", "language": language})["language"]
    assert f"'{language}'" in message
    assert "de, en, es, fr, it, ja, nl, pl, pt, ru, tr, zh" in message


@pytest.mark.parametrize("language", [42, True, ["de"], {"code": "de"}])
def test_it_rejects_a_language_that_is_not_a_string(language):
    assert keywords_error({"text": "coffee", "language": language}) == {"language": "Enter a string."}


@pytest.mark.parametrize("language", [None, "", "  "])
def test_a_null_or_blank_language_means_detect_it(language):
    result = keywords(GERMAN_RUNNING_SHOES, language=language)
    assert (result["language"], result["language_source"]) == ("de", "detected")


@pytest.mark.parametrize("text", ["Laufschuhe", "running shoes", "zapatillas baratas", "2024 !!! 10%"])
def test_a_text_under_three_words_falls_back_to_english(text):
    result = keywords(text)
    assert (result["language"], result["language_source"]) == ("en", "default")


def test_a_text_in_a_language_it_does_not_support_falls_back_to_english():
    result = keywords("가볍고 통기성이 좋은 러닝화입니다. 쿠션이 있는 밑창이 러너의 관절을 보호합니다.")
    assert (result["language"], result["language_source"]) == ("en", "default")
    assert "러닝화입니다" in keyword_words(result)


def test_mixed_text_loses_the_stop_words_of_its_language_and_of_english():
    text = "Unsere Laufschuhe für Läufer und Läuferinnen: the best running shoes for the city, leicht und bequem."
    result = keywords(text)
    assert result["language"] == "de"
    words = keyword_words(result)
    assert not {"für", "und", "the", "for"} & set(words)
    assert {"laufschuhe", "best", "running", "shoes", "leicht"} <= set(words)


def test_chinese_and_japanese_words_in_another_language_are_split_too():
    result = keywords("Our ramen shop in Tokyo: 東京のラーメン店, open every day for ramen lovers.")
    assert result["language"] == "en"
    assert {"東京", "ラーメン", "ramen", "tokyo"} <= set(keyword_words(result))


def test_hiragana_particles_are_stop_words_in_any_language():
    assert is_stop_word("の", "en") and is_stop_word("ます", "de")
    assert not is_stop_word("かわいい", "ja")


def test_phrases_are_runs_of_keywords_between_stop_words_and_punctuation():
    result = keywords("Lightweight running shoes for trail runners. Running shoes, trail shoes.", limit=5)
    assert result["phrases"] == [
        {"phrase": "running shoes", "count": 2},
        {"phrase": "lightweight running shoes", "count": 1},
        {"phrase": "trail runners", "count": 1},
        {"phrase": "trail shoes", "count": 1},
    ]


def test_a_phrase_seen_only_inside_a_longer_one_is_left_out():
    result = keywords("Organic espresso beans. Organic espresso beans, roasted today.")
    assert [item["phrase"] for item in result["phrases"]] == ["organic espresso beans", "roasted today"]


def test_phrases_are_limited_like_keywords():
    text = ". ".join(f"alpha{chr(97 + index)} beta{chr(97 + index)}" for index in range(20))
    assert len(keywords(text, limit=3)["phrases"]) == 3


def test_japanese_and_chinese_phrases_are_written_without_spaces():
    assert {"phrase": "豚骨スープ", "count": 1} in keywords(SAMPLES[3].text)["phrases"]
    assert {"phrase": "轻便透气", "count": 1} in keywords(SAMPLES[8].text)["phrases"]


def test_every_supported_language_is_in_the_documented_table():
    description = (Path(__file__).resolve().parents[2] / "charp" / "api_description.md").read_text(encoding="utf-8")
    for code, name in LANGUAGES.items():
        assert f"| `{code}` | {name} |" in description


DETERMINISM_SCRIPT = """
import json, sys
from apiresources.tools import extract_keywords
texts = json.loads(sys.stdin.read())
print(json.dumps([extract_keywords({"text": text, "limit": 50}) for text in texts], ensure_ascii=False))
"""


def test_results_are_the_same_in_every_process_whatever_the_hash_seed():
    # An unseeded langdetect calls each of these one of two or three languages, at least one of them supported.
    borderline = [
        "gratis online kaufen",
        "casa bella mare",
        "sushi ramen tofu",
        "online shop kaufen",
        "taxi hotel airport",
        "wellness spa hotel",
    ]
    texts = [sample.text for sample in SAMPLES] + [GERMAN_RUNNING_SHOES, "東京のラーメン店", *borderline]
    root = Path(__file__).resolve().parents[2]
    outputs = set()
    for seed in ("0", "1", "4242"):
        result = subprocess.run(
            [sys.executable, "-c", DETERMINISM_SCRIPT],
            input=json.dumps(texts),
            capture_output=True,
            text=True,
            cwd=root,
            env={**os.environ, "PYTHONHASHSEED": seed},
            check=True,
        )
        outputs.add(result.stdout)
    assert len(outputs) == 1
    assert json.loads(outputs.pop()) == [keywords(text, limit=50) for text in texts]


# --- budget-pacing -----------------------------------------------------------------------------------------------


def test_it_counts_campaign_days_inclusively():
    result = pacing(today=date(2025, 3, 1))
    assert (result["days_total"], result["days_elapsed"], result["days_left"]) == (10, 1, 9)


def test_it_paces_the_budget_linearly_up_to_and_including_as_of():
    result = pacing(as_of="2025-03-04", spent="400")
    assert result["days_elapsed"] == 4
    assert result["expected_spend"] == "400.00"
    assert result["pace_ratio"] == "1.0000"
    assert result["status"] == "on_track"
    assert result["remaining_budget"] == "600.00"
    assert result["recommended_daily_spend"] == "100.00"


def test_it_renders_money_as_strings_with_two_decimals_and_dates_as_iso():
    result = pacing(budget=1000, spent=12.5, as_of="2025-03-02")
    assert result["budget"] == "1000.00"
    assert result["spent"] == "12.50"
    assert result["start_date"] == "2025-03-01"
    assert result["end_date"] == "2025-03-10"
    assert result["as_of"] == "2025-03-02"
    assert all(not isinstance(value, float) for value in result.values())
    render_like_an_api(result)


def test_it_reports_under_pacing_below_90_percent():
    result = pacing(as_of="2025-03-05", spent="449.99")
    assert (result["expected_spend"], result["status"]) == ("500.00", "under")


def test_it_reports_over_pacing_above_110_percent():
    result = pacing(as_of="2025-03-05", spent="550.01")
    assert (result["pace_ratio"], result["status"]) == ("1.1000", "over")


@pytest.mark.parametrize("spent", ["450.00", "500", "550.00"])
def test_it_is_on_track_within_ten_percent_inclusive(spent):
    assert pacing(as_of="2025-03-05", spent=spent)["status"] == "on_track"


def test_it_gives_a_four_place_pace_ratio():
    assert pacing(as_of="2025-03-03", spent="100")["pace_ratio"] == "0.3333"


def test_it_rounds_expected_spend_half_up_to_cents():
    result = pacing(budget="100", start_date="2025-01-01", end_date="2025-01-08", as_of="2025-01-01", spent=0)
    assert result["expected_spend"] == "12.50"
    result = pacing(budget="0.05", start_date="2025-01-01", end_date="2025-01-02", as_of="2025-01-01", spent=0)
    assert result["expected_spend"] == "0.03"


def test_it_rounds_the_recommended_daily_spend_down_so_it_never_overshoots():
    result = pacing(budget="100", spent="0", start_date="2025-01-01", end_date="2025-01-04", as_of="2025-01-01")
    assert result["days_left"] == 3
    assert result["recommended_daily_spend"] == "33.33"


def test_the_recommended_daily_spend_is_never_negative_when_overspent():
    result = pacing(as_of="2025-03-02", spent="5000")
    assert result["remaining_budget"] == "0.00"
    assert result["recommended_daily_spend"] == "0.00"
    assert result["status"] == "over"


def test_there_is_nothing_to_recommend_on_the_last_day():
    result = pacing(as_of="2025-03-10", spent="900")
    assert (result["days_elapsed"], result["days_left"]) == (10, 0)
    assert result["expected_spend"] == "1000.00"
    assert result["recommended_daily_spend"] == "0.00"


def test_as_of_before_the_start_means_nothing_has_elapsed():
    result = pacing(as_of="2025-02-01", spent="0")
    assert (result["days_elapsed"], result["days_left"]) == (0, 10)
    assert result["expected_spend"] == "0.00"
    assert result["pace_ratio"] is None
    assert result["status"] == "on_track"
    assert result["recommended_daily_spend"] == "100.00"


def test_spending_before_the_start_is_over_pace():
    result = pacing(as_of="2025-02-28", spent="1")
    assert (result["pace_ratio"], result["status"]) == (None, "over")


def test_as_of_after_the_end_is_clamped_to_the_end():
    result = pacing(as_of="2026-01-01", spent="1000")
    assert (result["days_elapsed"], result["days_left"]) == (10, 0)
    assert result["expected_spend"] == "1000.00"
    assert result["as_of"] == "2026-01-01"
    assert result["status"] == "on_track"


def test_a_single_day_campaign_has_one_day():
    result = pacing(start_date="2025-03-01", end_date="2025-03-01", as_of="2025-03-01", spent="1000")
    assert (result["days_total"], result["days_elapsed"], result["days_left"]) == (1, 1, 0)


def test_a_zero_budget_has_no_pace_ratio():
    result = pacing(budget=0, spent=0, as_of="2025-03-05")
    assert (result["expected_spend"], result["pace_ratio"], result["status"]) == ("0.00", None, "on_track")


def test_as_of_defaults_to_the_injected_today():
    result = pacing(today=date(2025, 3, 3), as_of=DROP)
    assert (result["as_of"], result["days_elapsed"]) == ("2025-03-03", 3)
    assert pacing(today=date(2025, 3, 3), as_of=None)["as_of"] == "2025-03-03"


def test_an_explicit_as_of_wins_over_today():
    assert pacing(today=date(2025, 3, 3), as_of="2025-03-07")["days_elapsed"] == 7


def test_as_of_defaults_to_the_real_today_without_injection():
    before = date.today()
    result = pacing(today=None)
    assert result["as_of"] in {before.isoformat(), (before + timedelta(days=1)).isoformat()}


def test_it_counts_february_29_in_leap_years():
    result = pacing(start_date="2024-02-01", end_date="2024-03-01", as_of="2024-02-29")
    assert (result["days_total"], result["days_elapsed"], result["days_left"]) == (30, 29, 1)
    assert pacing(start_date="2024-01-01", end_date="2024-12-31")["days_total"] == 366
    assert pacing(start_date="2023-01-01", end_date="2023-12-31")["days_total"] == 365


@pytest.mark.parametrize("value", ["2023-02-29", "2100-02-29", "2025-02-30", "2025-13-01", "2025-00-10", "0000-01-01"])
def test_it_rejects_dates_that_do_not_exist(value):
    assert pacing_error(start_date=value) == {"start_date": "Enter a valid date in YYYY-MM-DD format."}


def test_it_accepts_february_29_in_leap_years():
    assert pacing(start_date="2000-02-29", end_date="2024-02-29")["days_total"] == 8767


@pytest.mark.parametrize(
    "value",
    [
        "2025/03/01",
        "20250301",
        "2025-W09-6",
        "2025-3-1",
        "01-03-2025",
        "2025-03-01T00:00:00",
        " 2025-03-01",
        "२०२५-०३-०१",
    ],
)
def test_it_only_accepts_yyyy_mm_dd_dates(value):
    assert pacing_error(as_of=value) == {"as_of": "Enter a valid date in YYYY-MM-DD format."}


@pytest.mark.parametrize("value", [20250301, 2025.0, True, [], {"year": 2025}])
def test_it_rejects_dates_that_are_not_strings(value):
    assert pacing_error(end_date=value) == {"end_date": "Enter a valid date in YYYY-MM-DD format."}


def test_it_rejects_an_end_date_before_the_start_date():
    assert pacing_error(start_date="2025-03-10", end_date="2025-03-01") == {
        "end_date": "End date must be on or after the start date."
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "0.00"),
        (1000, "1000.00"),
        ("1000", "1000.00"),
        ("1000.5", "1000.50"),
        (" 12.34 ", "12.34"),
        ("12.", "12.00"),
        (".5", "0.50"),
        ("+7", "7.00"),
        (0.1, "0.10"),
        (1e12, "1000000000000.00"),
        ("1000000000000.00", "1000000000000.00"),
        (-0.0, "0.00"),
        ("-0", "0.00"),
        ("1.50", "1.50"),
    ],
)
def test_it_accepts_numbers_and_numeric_strings_as_money(value, expected):
    assert pacing(budget=value)["budget"] == expected


@pytest.mark.parametrize("field", ["budget", "spent"])
@pytest.mark.parametrize("value", [-1, "-0.01", -0.5])
def test_it_rejects_negative_money(field, value):
    assert pacing_error(**{field: value}) == {field: "Ensure this value is greater than or equal to 0."}


@pytest.mark.parametrize("value", [10**12 + 1, "1000000000000.01", 1e13, 10**400])
def test_it_rejects_money_above_one_trillion(value):
    assert pacing_error(budget=value) == {"budget": "Ensure this value is less than or equal to 1000000000000."}


@pytest.mark.parametrize("value", ["1.001", "1.500", "0.30000000000000004", "0.0000001"])
def test_it_rejects_a_money_string_with_more_than_two_decimal_places(value):
    assert pacing_error(spent=value) == {"spent": "Ensure that there are no more than 2 decimal places."}


@pytest.mark.parametrize(
    ("value", "expected"), [(0.001, "0.00"), (0.005, "0.01"), (0.30000000000000004, "0.30"), (1e-7, "0.00")]
)
def test_it_rounds_a_json_number_to_cents(value, expected):
    assert pacing(spent=value)["spent"] == expected


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_it_rejects_non_finite_float_money(value):
    assert pacing_error(budget=value) == {"budget": "Enter a finite number."}


@pytest.mark.parametrize(
    "value",
    [True, False, "NaN", "Infinity", "-Infinity", "1e3", "1,000", "$10", "", "abc", "0x10", "١٠", [], {}, [100]],
)
def test_it_rejects_money_that_is_not_a_plain_number(value):
    assert pacing_error(budget=value) == {"budget": "Enter a number."}


@pytest.mark.parametrize("field", ["budget", "spent", "start_date", "end_date"])
def test_it_requires_budget_spent_and_both_dates(field):
    assert pacing_error(**{field: None}) == {field: "This field is required."}
    assert pacing_error(**{field: DROP}) == {field: "This field is required."}


def test_it_is_independent_of_the_callers_decimal_context():
    expected = pacing(as_of="2025-03-03", budget="1000.01", spent="333.33")
    with localcontext() as ctx:
        ctx.prec = 3
        ctx.rounding = ROUND_FLOOR
        assert pacing(as_of="2025-03-03", budget="1000.01", spent="333.33") == expected


def test_it_handles_the_largest_budget_over_the_longest_campaign():
    result = pacing(budget=10**12, spent="999999999999.99", start_date="0001-01-01", end_date="9999-12-31")
    assert result["days_total"] == 3_652_059
    render_like_an_api(result)


@settings(max_examples=300, deadline=None)
@given(
    budget=st.decimals(min_value=0, max_value=10**12, places=2, allow_nan=False, allow_infinity=False),
    spent=st.decimals(min_value=0, max_value=10**12, places=2, allow_nan=False, allow_infinity=False),
    start=st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 12, 31)),
    length=st.integers(min_value=0, max_value=800),
    offset=st.integers(min_value=-50, max_value=900),
)
def test_pacing_invariants_hold_for_any_valid_campaign(budget, spent, start, length, offset):
    end = start + timedelta(days=length)
    as_of = start + timedelta(days=offset)
    result = budget_pacing(
        {"budget": str(budget), "spent": str(spent), "start_date": start.isoformat(), "end_date": end.isoformat()},
        today=as_of,
    )
    assert result["days_total"] == length + 1
    assert 0 <= result["days_elapsed"] <= result["days_total"]
    assert result["days_elapsed"] + result["days_left"] == result["days_total"]
    expected = Decimal(result["expected_spend"])
    remaining = Decimal(result["remaining_budget"])
    daily = Decimal(result["recommended_daily_spend"])
    assert 0 <= expected <= budget
    assert remaining == max(budget - spent, 0)
    assert daily >= 0
    assert daily * result["days_left"] <= remaining
    for key in ("budget", "spent", "expected_spend", "remaining_budget", "recommended_daily_spend"):
        assert Decimal(result[key]).as_tuple().exponent == -2
    assert result["status"] in {"under", "on_track", "over"}
    assert (result["pace_ratio"] is None) == (expected == 0)
    render_like_an_api(result)


# --- hostile input: nothing but a dict or ToolInputError may come back -------------------------------------------

hostile_text = st.text(st.characters(exclude_categories=()), max_size=50)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | hostile_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(hostile_text, children, max_size=4),
    max_leaves=12,
)

PLAUSIBLE_VALUES = {
    "url": st.sampled_from(
        [
            "https://example.com/",
            "http://example.com/p?utm_source=x&a=1#f",
            "javascript:alert(1)",
            "data:text/html,<b>x</b>",
            "https://u:p@example.com",
            "http://[::1",
            "https://example.com:0/",
            "https://" + "a" * 3000,
        ]
    )
    | st.builds(lambda tail: "https://example.com/" + tail, hostile_text),
    "source": hostile_text,
    "medium": st.sampled_from(["email", "cpc", " ", ""]),
    "campaign": hostile_text,
    "term": hostile_text,
    "content": hostile_text,
    "text": hostile_text | st.text(max_size=2000),
    "limit": st.integers(min_value=-5, max_value=60) | st.sampled_from(["10", "x", 1.0]),
    "language": st.sampled_from(["de", "ja", "zh", "EN", "xx", "zh-cn", "", " "]) | hostile_text,
    "budget": st.decimals(allow_nan=True, allow_infinity=True).map(str) | st.floats() | st.integers(),
    "spent": st.decimals(places=2, min_value=-10, max_value=10**13).map(str) | st.floats() | st.integers(),
    "start_date": st.dates().map(date.isoformat) | hostile_text,
    "end_date": st.dates().map(date.isoformat) | hostile_text,
    "as_of": st.dates().map(date.isoformat) | hostile_text,
}


def assert_dict_or_tool_input_error(name: str, body: object) -> None:
    """Run a tool and check that it either returns a renderable dict or raises ToolInputError with string messages."""
    try:
        result = TOOLS[name].run(body)
    except ToolInputError as error:
        assert isinstance(error.fields, dict) and error.fields
        assert all(isinstance(key, str) and isinstance(msg, str) for key, msg in error.fields.items())
        render_like_an_api(error.fields)
        return
    assert isinstance(result, dict)
    render_like_an_api(result)


def bodies_for(name: str) -> st.SearchStrategy[dict]:
    """Generate bodies mixing plausible and arbitrary JSON values for each of a tool's fields, plus stray keys."""
    fields = TOOLS[name].fields
    return st.fixed_dictionaries(
        {},
        optional={field: PLAUSIBLE_VALUES[field] | json_values for field in fields}
        | {"unexpected": json_values, "": json_values},
    )


@pytest.mark.parametrize("name", list(TOOLS))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_tools_never_raise_anything_but_tool_input_error_for_hostile_field_values(name, data):
    assert_dict_or_tool_input_error(name, data.draw(bodies_for(name)))


@pytest.mark.parametrize("name", list(TOOLS))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=json_values)
def test_tools_never_raise_anything_but_tool_input_error_for_arbitrary_json_bodies(name, body):
    assert_dict_or_tool_input_error(name, body)


@pytest.mark.parametrize("name", list(TOOLS))
@settings(max_examples=100, deadline=None)
@given(body=st.dictionaries(hostile_text, json_values, max_size=5))
def test_tools_never_raise_anything_but_tool_input_error_for_arbitrary_objects(name, body):
    assert_dict_or_tool_input_error(name, body)
