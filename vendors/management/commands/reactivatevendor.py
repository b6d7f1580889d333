from vendors import services

from ._base import VendorCommand


class Command(VendorCommand):
    help = "Reactivate a suspended vendor; it can request tokens again."

    def add_arguments(self, parser):
        parser.add_argument("client_id")

    def handle(self, *args, **options):
        vendor = services.vendor_reactivate(vendor=services.vendor_get(client_id=options["client_id"]))
        self.stdout.write(f"{vendor.name} is active.")
