from vendors.limits import metering

from ._base import VendorCommand


class Command(VendorCommand):
    help = "Write pending usage counts (requests per vendor per day) from the rate limiter to the database."

    def handle(self, *args, **options):
        rows = metering.usage_flush()
        self.stdout.write(f"Flushed usage for {rows} vendor-day{'s' if rows != 1 else ''}.")
