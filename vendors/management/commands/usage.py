from django.core.management.base import CommandError

from vendors import selectors, services
from vendors.limits import metering
from vendors.models import UsageDay

from ._base import VendorCommand


class Command(VendorCommand):
    help = "Print a vendor's API requests per day (UTC), after flushing pending counts."

    def add_arguments(self, parser):
        parser.add_argument("client_id")
        parser.add_argument("--days", type=int, default=30, help="How many days back, today included (default 30).")
        parser.add_argument("--no-flush", action="store_true", help="Show only what is already in the database.")
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args, **options):
        days = options["days"]
        if not 1 <= days <= 3660:
            raise CommandError("--days must be between 1 and 3660.")
        vendor = services.vendor_get(client_id=options["client_id"])
        if not options["no_flush"]:
            metering.usage_flush()
        series = selectors.usage_by_day(vendor=vendor, days=days)
        throttled = dict(
            UsageDay.objects.filter(vendor=vendor, date__gte=series[0][0]).values_list("date", "throttled")
        )
        rows = [
            {"date": day.isoformat(), "requests": count, "throttled": throttled.get(day, 0)} for day, count in series
        ]
        total = sum(row["requests"] for row in rows)
        lines = [f"{vendor.name} ({vendor.client_id}), {vendor.plan.name} plan, last {days} days (UTC):"]
        lines += [f"  {row['date']}  {row['requests']:>12,}  ({row['throttled']:,} refused)" for row in rows]
        lines.append(f"  total       {total:>12,}")
        self.emit(
            options,
            {"client_id": vendor.client_id, "plan": vendor.plan.code, "days": rows, "total": total},
            "\n".join(lines),
        )
