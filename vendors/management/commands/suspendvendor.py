from vendors import services

from ._base import VendorCommand


class Command(VendorCommand):
    help = "Suspend a vendor: revoke all its tokens and refuse new ones until reactivation."

    def add_arguments(self, parser):
        parser.add_argument("client_id")

    def handle(self, *args, **options):
        vendor = services.vendor_suspend(vendor=services.vendor_get(client_id=options["client_id"]))
        self.stdout.write(f"{vendor.name} is suspended; its tokens are revoked.")
