"""Conditional requests (RFC 9110 §13): a strong ETag per row version, and the If-Match / If-None-Match tests."""

import hashlib
from datetime import UTC, datetime, timedelta

from django.db.models import Model
from django.utils.http import parse_etags

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def etag(instance: Model) -> str:
    """A strong entity tag (RFC 9110 §8.8.3) of this version of the row: its model, id and `updated_at`, which every
    write moves (microseconds on SQLite and PostgreSQL alike), hashed so that clients treat it as opaque."""
    microseconds = (instance.updated_at - _EPOCH) // timedelta(microseconds=1)  # whatever its time zone
    version = f"{instance._meta.label}:{instance.pk}:{microseconds}"
    return f'"{hashlib.blake2b(version.encode(), digest_size=12).hexdigest()}"'


def if_match_passes(header: str, current: str) -> bool:
    """If-Match (RFC 9110 §13.1.1): `*` or a list of tags, one of which must be `current` by strong comparison."""
    tags = parse_etags(header)
    return tags == ["*"] or current in tags


def if_none_match_passes(header: str, current: str) -> bool:
    """If-None-Match (RFC 9110 §13.1.2): false when `*` is sent or one of the tags is `current`, weakly compared."""
    tags = parse_etags(header)
    return not (tags == ["*"] or current in {tag.removeprefix("W/") for tag in tags})


def is_any(header: str) -> bool:
    """`If-Match: *`: any current version of the object matches."""
    return parse_etags(header) == ["*"]
