from vendors import services

from ._base import VendorCommand


class Command(VendorCommand):
    help = "Revoke every access and refresh token of a vendor; its credentials keep working for new tokens."

    def add_arguments(self, parser):
        parser.add_argument("client_id")

    def handle(self, *args, **options):
        vendor = services.vendor_get(client_id=options["client_id"])
        count = services.vendor_tokens_revoke(vendor=vendor)
        self.stdout.write(f"Revoked every token of {vendor.name} ({count} access tokens).")
