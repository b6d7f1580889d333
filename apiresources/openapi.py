"""OpenAPI bodies of the Tools API: the tools parse raw JSON themselves, so their schema is written here."""

from drf_spectacular.utils import OpenApiResponse

from charp.openapi import ERROR_DESCRIPTIONS, ERROR_REF, WHITESPACE

from .languages import LANGUAGES

ERROR_RESPONSES = {
    status: OpenApiResponse(response=ERROR_REF, description=description)
    for status, description in ERROR_DESCRIPTIONS.items()
}
ERROR_RESPONSES[409] = OpenApiResponse(
    response=ERROR_REF, description="The brand still has campaigns (`conflict`); delete or move them first."
)

# What apiresources/tools.py's text parser takes: trimmed (str.strip), then no control character (Unicode Cc) and,
# when required, not blank. Spelled out so that a request the document calls valid is one the tool accepts.
_CONTROL = r"\x00-\x1f\x7f-\x9f"
_CORE = rf"[^{WHITESPACE}{_CONTROL}](?:[^{_CONTROL}]*[^{WHITESPACE}{_CONTROL}])?"
_UTM = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": rf"^[{WHITESPACE}]*{_CORE}[{WHITESPACE}]*$"}
# An optional field may also be sent as null or, for text, blank: the tools read both as absent.
_OPTIONAL_UTM = {**_UTM, "minLength": 0, "nullable": True, "pattern": rf"^[{WHITESPACE}]*(?:{_CORE}[{WHITESPACE}]*)?$"}
_MONEY = {
    "oneOf": [
        {"type": "number", "minimum": 0, "maximum": 1_000_000_000_000},
        {"type": "string", "pattern": r"^(?:[0-9]{1,12}(?:\.[0-9]{1,2})?|1000000000000(?:\.0{1,2})?)$"},
    ],
    "description": "0 to 1,000,000,000,000: a numeric string with at most 2 decimals, or a JSON number (rounded "
    "half-up to cents).",
}
_MONEY_OUT = {"type": "string", "description": "A decimal amount with 2 decimals.", "example": "1250.00"}
_DATE = {"type": "string", "format": "date"}

TOOL_SCHEMAS = {
    "utm-builder": {
        "summary": "Build a URL with UTM parameters",
        "request": {
            "type": "object",
            "required": ["url", "source", "medium", "campaign"],
            "additionalProperties": False,
            "properties": {
                "url": {"type": "string", "format": "uri", "maxLength": 2048, "description": "An http(s) URL."},
                "source": {**_UTM, "description": "utm_source, e.g. newsletter."},
                "medium": {**_UTM, "description": "utm_medium, e.g. email."},
                "campaign": {**_UTM, "description": "utm_campaign, e.g. spring_sale."},
                "term": {**_OPTIONAL_UTM, "description": "utm_term (paid keywords), optional."},
                "content": {**_OPTIONAL_UTM, "description": "utm_content (which link or ad), optional."},
            },
            "example": {
                "url": "https://shop.example.com/shoes?color=red#reviews",
                "source": "newsletter",
                "medium": "email",
                "campaign": "spring sale",
            },
        },
        "response": {
            "type": "object",
            "required": ["url", "parameters"],
            "properties": {
                "url": {"type": "string", "description": "The URL with the UTM parameters added."},
                "parameters": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "description": "The UTM parameters that were set.",
                },
            },
            "example": {
                "url": "https://shop.example.com/shoes?color=red&utm_source=newsletter&utm_medium=email"
                "&utm_campaign=spring%20sale#reviews",
                "parameters": {"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "spring sale"},
            },
        },
    },
    "keywords": {
        "summary": "Extract keywords, key phrases and hashtags from a text, in its language",
        "request": {
            "type": "object",
            "required": ["text"],
            "additionalProperties": False,
            "properties": {
                "text": {"type": "string", "minLength": 1, "maxLength": 100000, "pattern": rf"[^{WHITESPACE}]"},
                "limit": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 50,
                    "default": 10,
                    "nullable": True,
                    "description": "How many keywords, and how many phrases, to return.",
                },
                "language": {
                    "type": "string",
                    # OpenAPI 3.0 lets a nullable enum take null only when null is one of its values.
                    "enum": [*sorted(LANGUAGES), None],
                    "nullable": True,
                    "description": "The text's language (ISO 639-1, lowercase); detected when left out or null. "
                    "Any other code is a `validation_error` naming the supported ones.",
                },
            },
            "example": {"text": "Die besten Laufschuhe für Läufer: leichte Laufschuhe für jeden Läufer.", "limit": 3},
        },
        "response": {
            "type": "object",
            "description": "Keywords and phrases, most frequent first (ties in order of appearance), one hashtag per "
            "keyword, and the language whose stop words were removed.",
            "required": ["keywords", "hashtags", "phrases", "word_count", "language", "language_source"],
            "properties": {
                "keywords": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"keyword": {"type": "string"}, "count": {"type": "integer"}},
                    },
                },
                "hashtags": {"type": "array", "items": {"type": "string"}, "example": ["#laufschuhe"]},
                "phrases": {
                    "type": "array",
                    "description": "Runs of two or three keywords that no stop word or punctuation interrupts.",
                    "items": {
                        "type": "object",
                        "properties": {"phrase": {"type": "string"}, "count": {"type": "integer"}},
                    },
                    "example": [{"phrase": "besten laufschuhe", "count": 1}],
                },
                "word_count": {"type": "integer"},
                "language": {"type": "string", "enum": sorted(LANGUAGES), "example": "de"},
                "language_source": {
                    "type": "string",
                    "enum": ["given", "detected", "default"],
                    "description": "`given` in the request, `detected` from the text, or `default` (English) when "
                    "the text is under three words or in a language the tool does not know.",
                },
            },
        },
    },
    "budget-pacing": {
        "summary": "Check a campaign's budget pacing",
        "request": {
            "type": "object",
            "required": ["budget", "start_date", "end_date", "spent"],
            "additionalProperties": False,
            "properties": {
                "budget": _MONEY,
                "spent": _MONEY,
                "start_date": {**_DATE, "description": "First campaign day."},
                "end_date": {**_DATE, "description": "Last campaign day (inclusive)."},
                "as_of": {**_DATE, "nullable": True, "description": "Day to evaluate; defaults to today (UTC)."},
            },
            "example": {
                "budget": "3000.00",
                "spent": "1200.00",
                "start_date": "2026-03-01",
                "end_date": "2026-03-30",
                "as_of": "2026-03-15",
            },
        },
        "response": {
            "type": "object",
            "properties": {
                "budget": _MONEY_OUT,
                "spent": _MONEY_OUT,
                "start_date": _DATE,
                "end_date": _DATE,
                "as_of": _DATE,
                "days_total": {"type": "integer"},
                "days_elapsed": {"type": "integer"},
                "days_left": {"type": "integer"},
                "expected_spend": _MONEY_OUT,
                "remaining_budget": _MONEY_OUT,
                "pace_ratio": {"type": "string", "nullable": True, "description": "spent / expected, 4 decimals."},
                "status": {"type": "string", "enum": ["under", "on_track", "over"]},
                "recommended_daily_spend": _MONEY_OUT,
            },
        },
    },
}


def tool_entry_schema() -> dict:
    return {
        "type": "object",
        "required": ["results", "next"],
        "properties": {
            "results": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "description", "endpoint", "fields"],
                    "properties": {
                        "name": {"type": "string", "example": "utm-builder"},
                        "description": {"type": "string"},
                        "endpoint": {"type": "string", "format": "uri"},
                        "fields": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                            "description": "Input field name → what it takes.",
                        },
                    },
                },
            },
            "next": {"type": "string", "nullable": True, "description": "Always null: every tool fits on one page."},
        },
    }
