"""Reads for the admin and the command line."""

from datetime import UTC, date, datetime, timedelta

from .models import UsageDay, Vendor


def usage_by_day(*, vendor: Vendor, days: int = 30) -> list[tuple[date, int]]:
    """Requests served per UTC day for the last `days` days, oldest first, today included, missing days as 0."""
    today = datetime.now(UTC).date()
    first = today - timedelta(days=days - 1)
    counts = dict(
        UsageDay.objects.filter(vendor=vendor, date__gte=first, date__lte=today).values_list("date", "requests")
    )
    return [(day, counts.get(day, 0)) for day in (first + timedelta(days=offset) for offset in range(days))]
