"""Reads for the admin and the command line."""

from datetime import UTC, date, datetime, timedelta

from django.db.models import BigIntegerField, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from vendors.models import UsageDay, Vendor


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
