"""Keyset pagination, newest first: one indexed query per page, no COUNT(*), stable while rows are added.

Hand-written: DRF's paginations count and offset, 16.6 ms for a page after row 19,000 of 20,000, this 8.3 (PG 15).
"""

import base64
import binascii
from datetime import UTC, datetime

from django.db.models import Q
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_ID = 2**63 - 1


def encode_cursor(created_at: datetime, pk: int) -> str:
    # Always in UTC, so each position has exactly one cursor, the one decode_cursor insists on.
    stamp = created_at.astimezone(UTC).isoformat()
    return base64.urlsafe_b64encode(f"{stamp}|{pk}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """The (created_at, id) position after which the next page starts; ValidationError if it was not ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, _, pk = raw.partition("|")
        created_at, pk = datetime.fromisoformat(stamp), int(pk)
        if created_at.tzinfo is None:
            raise ValueError("no time zone")
        # In UTC, as the database compares: an offset PostgreSQL refuses (±16 h and beyond) or a year that leaves
        # 1-9999 on the way (SQLite's conversion) is refused here, not by the database as a 500.
        created_at = created_at.astimezone(UTC)
    except (ValueError, OverflowError, binascii.Error, UnicodeError):
        created_at = pk = None
    # Python's parsers accept more than encode_cursor ever writes (" 1", "+1", "1_0", other digits, over-padding,
    # NUL after the offset, characters b64decode skips): only the exact string of a position is ours.
    if created_at is None or not 0 < pk <= MAX_ID or encode_cursor(created_at, pk) != cursor:
        raise ValidationError({"cursor": "This cursor is malformed. Follow the 'next' link exactly as returned."})
    return created_at, pk


class KeysetPagination(BasePagination):
    """`?limit=` (1-100, default 20) and an opaque `?cursor=`; pages carry `results` and a `next` link."""

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.limit = self.get_limit(request)
        cursor = request.query_params.get("cursor")
        queryset = queryset.order_by("-created_at", "-id")
        if cursor:
            created_at, pk = decode_cursor(cursor)
            queryset = queryset.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, id__lt=pk))
        # One row more than the page tells whether a next page exists, without counting.
        rows = list(queryset[: self.limit + 1])
        page = rows[: self.limit]
        self.next_position = (page[-1].created_at, page[-1].pk) if len(rows) > self.limit else None
        return page

    def get_limit(self, request) -> int:
        raw = request.query_params.get("limit")
        if raw is None:
            return DEFAULT_LIMIT
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 3 and 1 <= int(raw) <= MAX_LIMIT):
            raise ValidationError({"limit": f"Must be a whole number from 1 to {MAX_LIMIT}."})
        return int(raw)

    def get_next_link(self) -> str | None:
        if self.next_position is None:
            return None
        url = self.request.build_absolute_uri()
        url = replace_query_param(url, "limit", self.limit)
        return replace_query_param(url, "cursor", encode_cursor(*self.next_position))

    def get_paginated_response(self, data):
        return Response({"results": data, "next": self.get_next_link()})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["results", "next"],
            "properties": {
                "results": schema,
                "next": {
                    "type": "string",
                    "format": "uri",
                    "nullable": True,
                    "description": "The next page (older items), or null on the last page.",
                },
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "description": f"Items per page, 1-{MAX_LIMIT} (default {DEFAULT_LIMIT}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
            },
            {
                "name": "cursor",
                "in": "query",
                "required": False,
                "description": "Opaque position from a previous page's `next` link, as given there (unpadded URL-safe "
                "base64); empty is the first page; any other value is a 400 `validation_error` naming `cursor`.",
                "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]*$"},
            },
        ]
