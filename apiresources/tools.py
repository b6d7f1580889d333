"""Pure-Python logic of the stateless marketing tools exposed by the Tools API.

Every tool's ``run`` takes the raw parsed JSON body and either returns a JSON-serialisable dict or raises
``ToolInputError`` with one message per offending field; no other exception may escape for any JSON input.

Decisions worth knowing when wiring or documenting these tools:

* utm-builder percent-encodes UTM values with ``urllib.parse.quote(value, safe="")`` (RFC 3986 style: UTF-8
  bytes, spaces as ``%20``, every reserved character encoded). Existing query parameters are kept verbatim and
  in order; an existing parameter with the same (case-sensitive) name as a UTM parameter being set is replaced
  in place at its first occurrence and later duplicates are dropped. UTM parameters that are not being set
  (for example an existing ``utm_term`` when no term is given) are left alone. The host is kept as given.
* keywords casefolds and NFKC-normalises the text, splits words on anything that is not a letter, digit or
  combining mark (so underscores and apostrophes separate words), splits Chinese and Japanese into their words
  (languages.py), and drops the stop words of the text's language and English's, tokens without a letter,
  one-character tokens and tokens over 64 characters. The language is the one given, else the one detected, else
  English (texts under three words, or in a language the tool does not know). Phrases are runs of two or three
  keywords with only spaces between them, so a stop word or punctuation ends one. Hashtags are lowercase, one per
  keyword (``#coffeeshop``), made of letters, digits and combining marks only (marks are part of the spelling in
  scripts such as Devanagari; Twitter's hashtag grammar allows them too).
* budget-pacing rounds expected spend half-up to cents but rounds the recommended daily spend down, so
  following the recommendation never overshoots the budget. Pace ratio has 4 decimal places and the status
  is decided on exact values: on_track when 0.9 * expected <= spent <= 1.1 * expected. With nothing expected
  yet, any spend at all is "over".
"""

from __future__ import annotations

import functools
import ipaddress
import itertools
import re
import sys
import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import (
    ROUND_DOWN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from typing import Any
from urllib.parse import quote, unquote_plus, urlsplit, urlunsplit

from . import languages

NON_FIELD_ERRORS = "non_field_errors"

MAX_FIELD_LABEL_LENGTH = 100
MAX_URL_LENGTH = 2048
MAX_UTM_LENGTH = 200
MAX_TEXT_LENGTH = 100_000
MAX_KEYWORD_LENGTH = 64
DEFAULT_KEYWORD_LIMIT = 10
MAX_KEYWORD_LIMIT = 50
MAX_LANGUAGE_LENGTH = 35
MIN_PHRASE_WORDS = 2
MAX_PHRASE_WORDS = 3
MAX_MONEY = Decimal("1000000000000")
ON_TRACK_TOLERANCE = Decimal("0.10")

CENT = Decimal("0.01")
RATIO_STEP = Decimal("0.0001")

# A private context keeps results independent of whatever the calling thread did to the global decimal context.
_DECIMAL_CONTEXT = Context(prec=34, rounding=ROUND_HALF_UP, traps=[InvalidOperation, DivisionByZero, Overflow])


class ToolInputError(ValueError):
    """Raised with a dict of field -> message for bad input."""

    fields: dict[str, str]

    def __init__(self, fields: dict[str, str]):
        super().__init__(fields)
        self.fields = fields


@dataclass(frozen=True)
class Tool:
    """A stateless tool: its public name, documentation and the function that runs it."""

    name: str
    description: str
    fields: dict[str, str]
    run: Callable[[dict], dict]


class _Invalid(Exception):
    """Raised by a field parser with the message to report for that field."""


class _Missing:
    """Marks a field that is absent from the body, as distinct from an explicit null."""


_MISSING = _Missing()

Parser = Callable[[object], Any]


def _parse(data: object, parsers: Mapping[str, Parser]) -> dict[str, Any]:
    """Run each field's parser and collect every problem into a single ToolInputError."""
    if not isinstance(data, dict):
        raise ToolInputError({NON_FIELD_ERRORS: "Expected a JSON object."})
    errors = {_field_label(key): "Unknown field." for key in data if key not in parsers}
    cleaned: dict[str, Any] = {}
    for name, parser in parsers.items():
        try:
            cleaned[name] = parser(data.get(name, _MISSING))
        except _Invalid as exc:
            errors[name] = str(exc)
    if errors:
        raise ToolInputError(errors)
    return cleaned


def _field_label(key: object) -> str:
    """Turn a client-supplied key into a short label that is always safe to echo back in an error response."""
    # Lone surrogates would break UTF-8 rendering of the error response, and huge keys would bloat it.
    return str(key).encode("utf-8", "backslashreplace").decode("utf-8")[:MAX_FIELD_LABEL_LENGTH]


def _is_valid_unicode(value: str) -> bool:
    """Tell whether a string can be encoded as UTF-8, i.e. holds no lone surrogates."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _has_control_characters(value: str) -> bool:
    """Tell whether a string contains C0/C1 control characters."""
    return any(unicodedata.category(char) == "Cc" for char in value)


def _text(*, required: bool, max_length: int, allow_control: bool = False) -> Parser:
    """Build a parser for a string field; blank optional values count as absent."""

    def parse(value: object) -> str | None:
        if value is _MISSING or value is None:
            if required:
                raise _Invalid("This field is required.")
            return None
        if not isinstance(value, str):
            raise _Invalid("Enter a string.")
        # Check the raw length first so hostile megabyte strings are refused before any further work.
        if len(value) > max_length:
            raise _Invalid(f"Ensure this field has no more than {max_length} characters.")
        # Lone surrogates are legal in JSON but cannot be encoded as UTF-8 when the response is rendered.
        if not _is_valid_unicode(value):
            raise _Invalid("Enter valid Unicode text.")
        value = value.strip()
        if not value:
            if required:
                raise _Invalid("This field may not be blank.")
            return None
        if not allow_control and _has_control_characters(value):
            raise _Invalid("Control characters are not allowed.")
        return value

    return parse


def _whole_number(*, default: int, minimum: int, maximum: int) -> Parser:
    """Build a parser for an optional integer field given as a JSON integer or a string of digits."""

    def parse(value: object) -> int:
        if value is _MISSING or value is None:
            return default
        # bool is a subclass of int, but a JSON true must not be read as 1.
        if isinstance(value, bool):
            raise _Invalid("Enter a whole number.")
        if isinstance(value, str) and re.fullmatch(r"[+-]?[0-9]{1,10}", value.strip()):
            value = int(value.strip())
        if not isinstance(value, int):
            raise _Invalid("Enter a whole number.")
        if not minimum <= value <= maximum:
            raise _Invalid(f"Ensure this value is between {minimum} and {maximum}.")
        return value

    return parse


_MONEY_PATTERN = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def _to_decimal(value: object) -> Decimal:
    """Convert a JSON number or numeric string to a finite Decimal without passing through binary floats."""
    if isinstance(value, bool):
        raise _Invalid("Enter a number.")
    if isinstance(value, int):
        # Refuse absurd integers early so they never reach Decimal arithmetic.
        if abs(value) > MAX_MONEY:
            raise _Invalid(f"Ensure this value is less than or equal to {MAX_MONEY}.")
        return Decimal(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise _Invalid("Enter a finite number.")
        # repr gives the shortest string that round-trips, so 0.1 becomes Decimal("0.1"), not 0.1000000000000000055.
        return Decimal(repr(value))
    if isinstance(value, str):
        text = value.strip()
        # The pattern is ASCII-only on purpose: Decimal would otherwise accept "NaN", "1e3" and Arabic-Indic digits.
        if len(text) > 40 or not _MONEY_PATTERN.fullmatch(text):
            raise _Invalid("Enter a number.")
        return Decimal(text)
    raise _Invalid("Enter a number.")


def _money(value: object) -> Decimal:
    """Parse a required, non-negative amount with at most two decimal places."""
    if value is _MISSING or value is None:
        raise _Invalid("This field is required.")
    amount = _to_decimal(value)
    exponent = amount.as_tuple().exponent
    # A JSON number is binary floating point to most clients (0.1 + 0.2 is 0.30000000000000004), so it is rounded to
    # cents; a string says exactly what it means, and more than 2 decimals there is a mistake.
    if isinstance(value, str) and isinstance(exponent, int) and exponent < -2:
        raise _Invalid("Ensure that there are no more than 2 decimal places.")
    if amount < 0:
        raise _Invalid("Ensure this value is greater than or equal to 0.")
    if amount > MAX_MONEY:
        raise _Invalid(f"Ensure this value is less than or equal to {MAX_MONEY}.")
    if amount == 0:
        # "-0" is a valid input, but "-0.00" would be a confusing output.
        return Decimal("0.00")
    return amount.quantize(CENT, context=_DECIMAL_CONTEXT)


def _date(*, required: bool) -> Parser:
    """Build a parser for a "YYYY-MM-DD" date field."""

    def parse(value: object) -> date | None:
        if value is _MISSING or value is None:
            if required:
                raise _Invalid("This field is required.")
            return None
        # fromisoformat alone would also accept forms such as "20240101" or "2024-W01-1".
        if not isinstance(value, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
            raise _Invalid("Enter a valid date in YYYY-MM-DD format.")
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise _Invalid("Enter a valid date in YYYY-MM-DD format.") from None

    return parse


def _money_str(amount: Decimal) -> str:
    """Render a Decimal amount as a string with exactly two decimal places."""
    return str(amount.quantize(CENT, context=_DECIMAL_CONTEXT))


# --- utm-builder -------------------------------------------------------------------------------------------------

UTM_FIELDS = ("source", "medium", "campaign", "term", "content")

_HOST_LABELS = re.compile(r"[\w-]+(?:\.[\w-]+)*\.?")


_url_text = _text(required=True, max_length=MAX_URL_LENGTH)
_utm_value = _text(required=True, max_length=MAX_UTM_LENGTH)
_optional_utm_value = _text(required=False, max_length=MAX_UTM_LENGTH)


def _url(value: object) -> str:
    """Parse a required absolute http(s) URL with a plausible host and no embedded credentials."""
    url = _url_text(value)
    if any(char.isspace() for char in url):
        raise _Invalid("Enter a URL without spaces.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - accessing it validates the port and raises ValueError when malformed.
    except ValueError:
        raise _Invalid("Enter a valid URL.") from None
    if parts.scheme not in ("http", "https"):
        raise _Invalid("Enter an http or https URL.")
    if "@" in parts.netloc:
        raise _Invalid("URLs with embedded credentials are not allowed.")
    if not parts.hostname or not _is_valid_host(parts.netloc, parts.hostname):
        raise _Invalid("Enter a URL with a valid host.")
    return url


def _is_valid_host(netloc: str, hostname: str) -> bool:
    """Tell whether a host is a bracketed IPv6 literal or dot-separated word labels (IDN allowed)."""
    if netloc.startswith("["):
        try:
            ipaddress.IPv6Address(hostname)
        except ValueError:
            return False
        return True
    return bool(_HOST_LABELS.fullmatch(hostname))


def _query_key(segment: str) -> str:
    """Decode the name of one raw "name=value" query segment."""
    return unquote_plus(segment.partition("=")[0])


def _merge_query(query: str, params: dict[str, str]) -> str:
    """Set params on a raw query string, keeping other segments verbatim and in order."""
    pending = dict(params)
    segments: list[str] = []
    for segment in query.split("&"):
        if not segment:
            continue
        key = _query_key(segment)
        if key in params:
            # The first occurrence is replaced in place; later duplicates are dropped because they were replaced.
            if key in pending:
                segments.append(f"{key}={quote(pending.pop(key), safe='')}")
            continue
        segments.append(segment)
    segments.extend(f"{key}={quote(value, safe='')}" for key, value in pending.items())
    return "&".join(segments)


def build_utm_url(data: object) -> dict:
    """Return the URL with UTM parameters set, plus the parameters that were applied."""
    cleaned = _parse(
        data,
        {
            "url": _url,
            "source": _utm_value,
            "medium": _utm_value,
            "campaign": _utm_value,
            "term": _optional_utm_value,
            "content": _optional_utm_value,
        },
    )
    params = {f"utm_{name}": cleaned[name] for name in UTM_FIELDS if cleaned[name] is not None}
    parts = urlsplit(cleaned["url"])
    query = _merge_query(parts.query, params)
    return {"url": urlunsplit(parts._replace(query=query)), "parameters": params}


# --- keywords ----------------------------------------------------------------------------------------------------

# Variation selectors and the combining grapheme joiner are marks but only steer rendering, so they are not
# treated as part of a word.
_IGNORED_MARKS = frozenset([0x034F, *range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)])


@functools.cache
def _word_pattern() -> re.Pattern[str]:
    """Compile the word pattern: a letter or digit followed by letters, digits or combining marks."""
    # re has no \p{M}, and \w excludes combining marks, which would cut words in scripts such as Devanagari apart.
    ranges: list[list[int]] = []
    for code in range(sys.maxunicode + 1):
        if code in _IGNORED_MARKS or not unicodedata.category(chr(code)).startswith("M"):
            continue
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    marks = "".join(f"\\U{first:08x}-\\U{last:08x}" for first, last in ranges)
    return re.compile(rf"[^\W_](?:[^\W_]|[{marks}])*")


def _is_keyword(token: str, language: str) -> bool:
    """Tell whether a token is worth counting as a keyword."""
    return (
        1 < len(token) <= MAX_KEYWORD_LENGTH
        and not languages.is_stop_word(token, language)
        # Tokens without any letter are numbers such as "2024" or "10", which make poor keywords.
        and any(char.isalpha() for char in token)
    )


def _words(text: str, language: str) -> list[tuple[str, bool]]:
    """Split text into normalised words, each marked True when punctuation separates it from the word before."""
    normalized = languages.normalize(text)
    words: list[tuple[str, bool]] = []
    end = 0
    for match in _word_pattern().finditer(normalized):
        # Only spaces between two words let them form a phrase; a comma, full stop or hyphen ends it.
        separated = bool(normalized[end : match.start()].strip())
        end = match.end()
        for index, word in enumerate(languages.segment(match.group(), language)):
            words.append((word, separated and index == 0))
    return words


def tokenize(text: str, language: str = languages.DEFAULT_LANGUAGE) -> list[str]:
    """Split text into casefolded, NFKC-normalised words; Chinese and Japanese are split into their words too."""
    return [word for word, _ in _words(text, language)]


def _language(value: object) -> str | None:
    """Parse an optional ISO 639-1 code of a supported language, in lowercase as the standard writes them."""
    code = _language_text(value)
    if code is None:
        return None
    if code not in languages.LANGUAGES:
        supported = ", ".join(sorted(languages.LANGUAGES))
        raise _Invalid(f"Unsupported language '{code}'. Send one of {supported}, or leave it out to have it detected.")
    return code


_language_text = _text(required=False, max_length=MAX_LANGUAGE_LENGTH)


def _join(words: tuple[str, ...]) -> str:
    """Write a phrase as it is spelled: Chinese and Japanese words run together, other words have a space between."""
    phrase = words[0]
    for before, word in itertools.pairwise(words):
        phrase += word if languages.is_cjk(before[-1]) and languages.is_cjk(word[0]) else f" {word}"
    return phrase


def _phrases(words: list[tuple[str, bool]], language: str, limit: int) -> list[tuple[str, int]]:
    """The most frequent runs of two or three adjacent keywords that no stop word or punctuation interrupts."""
    counts: Counter[tuple[str, ...]] = Counter()
    run: list[str] = []
    for word, separated in words:
        keyword = _is_keyword(word, language)
        if separated or not keyword:
            run = []
        if not keyword:
            continue
        run.append(word)
        for size in range(MIN_PHRASE_WORDS, MAX_PHRASE_WORDS + 1):
            if len(run) >= size:
                counts[tuple(run[-size:])] += 1
    # A phrase seen only inside a longer one, exactly as often, adds nothing to it: "running shoes" inside
    # "lightweight running shoes".
    covered = {part for phrase, count in counts.items() for part in (phrase[:-1], phrase[1:]) if counts[part] == count}
    ranked = [(phrase, count) for phrase, count in counts.items() if phrase not in covered]
    # sorted() is stable and Counter keeps first-appearance order, so ties are broken by first appearance.
    ranked.sort(key=lambda item: -item[1])
    return [(_join(phrase), count) for phrase, count in ranked[:limit]]


def extract_keywords(data: object) -> dict:
    """Return the most frequent significant words and phrases of a text, with hashtags and the language used."""
    cleaned = _parse(
        data,
        {
            "text": _text(required=True, max_length=MAX_TEXT_LENGTH, allow_control=True),
            "limit": _whole_number(default=DEFAULT_KEYWORD_LIMIT, minimum=1, maximum=MAX_KEYWORD_LIMIT),
            "language": _language,
        },
    )
    text: str = cleaned["text"]
    language, source = cleaned["language"], "given"
    if language is None:
        language = languages.detect_language(text, word_count=len(_word_pattern().findall(text)))
        language, source = (language, "detected") if language else (languages.DEFAULT_LANGUAGE, "default")
    words = _words(text, language)
    # Counter keeps first-appearance order and sorted() is stable, so ties are broken by first appearance.
    counts = Counter(word for word, _ in words if _is_keyword(word, language))
    top = sorted(counts.items(), key=lambda item: -item[1])[: cleaned["limit"]]
    phrases = _phrases(words, language, cleaned["limit"])
    return {
        "keywords": [{"keyword": word, "count": count} for word, count in top],
        # Keywords already consist only of letters, digits and combining marks, so they are valid hashtag bodies.
        "hashtags": [f"#{word}" for word, _ in top],
        "phrases": [{"phrase": phrase, "count": count} for phrase, count in phrases],
        "word_count": len(words),
        "language": language,
        "language_source": source,
    }


def warm_up() -> None:
    """Build the keywords tool's word pattern and load its languages' data now, not on the first request."""
    _word_pattern()
    languages.warm_up()


# --- budget-pacing -----------------------------------------------------------------------------------------------


def _pacing_status(spent: Decimal, expected: Decimal) -> str:
    """Classify spend against the expected amount with a ±10% on-track band."""
    # Compared exactly rather than through the rounded ratio, so the band edges do not depend on rounding.
    if spent > expected * (1 + ON_TRACK_TOLERANCE):
        return "over"
    if spent < expected * (1 - ON_TRACK_TOLERANCE):
        return "under"
    return "on_track"


def budget_pacing(data: object, today: date | None = None) -> dict:
    """Compare spend so far with linear pacing and recommend a daily spend for the remaining days."""
    cleaned = _parse(
        data,
        {
            "budget": _money,
            "spent": _money,
            "start_date": _date(required=True),
            "end_date": _date(required=True),
            "as_of": _date(required=False),
        },
    )
    budget: Decimal = cleaned["budget"]
    spent: Decimal = cleaned["spent"]
    start: date = cleaned["start_date"]
    end: date = cleaned["end_date"]
    if end < start:
        raise ToolInputError({"end_date": "End date must be on or after the start date."})
    as_of: date = cleaned["as_of"] or today or date.today()

    # Days are counted inclusively: a campaign running from the 1st to the 10th has 10 days.
    days_total = (end - start).days + 1
    days_elapsed = 0 if as_of < start else (min(as_of, end) - start).days + 1
    days_left = days_total - days_elapsed

    with localcontext(_DECIMAL_CONTEXT):
        expected = (budget * days_elapsed / days_total).quantize(CENT)
        remaining = max(budget - spent, Decimal("0.00"))
        # Rounding down keeps the sum of recommended daily spends within the remaining budget.
        daily = (remaining / days_left).quantize(CENT, rounding=ROUND_DOWN) if days_left else Decimal(0)
        if expected:
            pace_ratio: Decimal | None = (spent / expected).quantize(RATIO_STEP)
            status = _pacing_status(spent, expected)
        else:
            # Nothing should have been spent yet, so any spend at all is ahead of plan.
            pace_ratio = None
            status = "over" if spent else "on_track"

    return {
        "budget": _money_str(budget),
        "spent": _money_str(spent),
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "as_of": as_of.isoformat(),
        "days_total": days_total,
        "days_elapsed": days_elapsed,
        "days_left": days_left,
        "expected_spend": _money_str(expected),
        "remaining_budget": _money_str(remaining),
        "pace_ratio": None if pace_ratio is None else str(pace_ratio),
        "status": status,
        "recommended_daily_spend": _money_str(daily),
    }


TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in (
        Tool(
            name="utm-builder",
            description="Adds correctly encoded UTM campaign parameters to an http(s) URL.",
            fields={
                "url": f"string, required: absolute http or https URL without credentials, ≤ {MAX_URL_LENGTH} chars",
                "source": f"string, required: utm_source, e.g. newsletter, ≤ {MAX_UTM_LENGTH} chars",
                "medium": f"string, required: utm_medium, e.g. email, ≤ {MAX_UTM_LENGTH} chars",
                "campaign": f"string, required: utm_campaign, e.g. spring_sale, ≤ {MAX_UTM_LENGTH} chars",
                "term": f"string, optional: utm_term (paid keywords), ≤ {MAX_UTM_LENGTH} chars",
                "content": f"string, optional: utm_content (which link or ad), ≤ {MAX_UTM_LENGTH} chars",
            },
            run=build_utm_url,
        ),
        Tool(
            name="keywords",
            description="Finds the most frequent significant words and phrases in a text, in its language, and "
            "suggests hashtags for them.",
            fields={
                "text": f"string, required: the text to analyse, ≤ {MAX_TEXT_LENGTH} chars",
                "limit": f"integer, optional: how many keywords (and phrases) to return, 1-{MAX_KEYWORD_LIMIT}, "
                f"default {DEFAULT_KEYWORD_LIMIT}",
                "language": "string, optional: ISO 639-1 code of the text's language, one of "
                f"{', '.join(sorted(languages.LANGUAGES))}; detected when left out",
            },
            run=extract_keywords,
        ),
        Tool(
            name="budget-pacing",
            description="Checks campaign spend against linear budget pacing and recommends a daily spend.",
            fields={
                "budget": "number or numeric string, required: total budget, ≥ 0, ≤ 1e12, at most 2 decimals",
                "start_date": "string, required: first campaign day, YYYY-MM-DD",
                "end_date": "string, required: last campaign day (inclusive), YYYY-MM-DD",
                "spent": "number or numeric string, required: amount spent so far, ≥ 0, ≤ 1e12, at most 2 decimals",
                "as_of": "string, optional: day to evaluate, YYYY-MM-DD, defaults to today",
            },
            run=budget_pacing,
        ),
    )
}
