"""Reads for the admin and the command line."""

from datetime import UTC, date, datetime, timedelta

from django.db.models import BigIntegerField, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from vendors.models import RequestLogEntry, UsageDay, Vendor


def _usage_window(days: int) -> tuple[date, date]:
    """The first and last UTC day of the last `days` days, today included."""
    today = datetime.now(UTC).date()
    return today - timedelta(days=days - 1), today


def usage_by_day(*, vendor: Vendor, days: int = 30) -> list[tuple[date, int]]:
    """Requests served per UTC day for the last `days` days, oldest first, today included, missing days as 0."""
    first, today = _usage_window(days)
    counts = dict(
        UsageDay.objects.filter(vendor=vendor, date__gte=first, date__lte=today).values_list("date", "requests")
    )
    return [(day, counts.get(day, 0)) for day in (first + timedelta(days=offset) for offset in range(days))]


def vendors_with_recent_requests(queryset: QuerySet[Vendor], *, days: int = 30) -> QuerySet[Vendor]:
    """Annotate each vendor with `recent_requests`, its requests of the last `days` UTC days (0 if none)."""
    first, today = _usage_window(days)
    # A correlated subquery rather than a join with GROUP BY: the list stays one query, and the admin's own joins,
    # filters and search cannot multiply the sums.
    totals = (
        UsageDay.objects.filter(vendor=OuterRef("pk"), date__gte=first, date__lte=today)
        .order_by()
        .values("vendor")
        .annotate(total=Sum("requests"))
        .values("total")
    )
    return queryset.annotate(recent_requests=Coalesce(Subquery(totals), 0, output_field=BigIntegerField()))


def request_log(
    *, vendor: Vendor, days: int, statuses: range | None = None, error: str | None = None
) -> QuerySet[RequestLogEntry]:
    """The vendor's request log of the last `days` days, newest first; only `statuses` and `error` when given."""
    entries = RequestLogEntry.objects.filter(vendor=vendor, time__gte=timezone.now() - timedelta(days=days))
    if statuses is not None:
        entries = entries.filter(status__gte=statuses.start, status__lt=statuses.stop)
    if error:
        entries = entries.filter(error=error)
    return entries.order_by("-time", "-id")


def request_log_codes(*, vendor: Vendor, days: int) -> tuple[list[int], list[str]]:
    """The statuses and error codes in the vendor's request log of the last `days` days, for its filters."""
    recent = request_log(vendor=vendor, days=days).order_by()
    statuses = sorted(recent.values_list("status", flat=True).distinct())
    errors = sorted(recent.exclude(error="").values_list("error", flat=True).distinct())
    return statuses, errors
