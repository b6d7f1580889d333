from vendors import services

from ._base import VendorCommand


class Command(VendorCommand):
    help = (
        "Set the address ranges a vendor's credentials and tokens may be used from (IPv4 or IPv6, CIDR or single "
        "addresses); without any, every address is allowed again. Applies at once, to tokens already issued too."
    )

    def add_arguments(self, parser):
        parser.add_argument("client_id")
        parser.add_argument("cidrs", nargs="*", metavar="CIDR", help="e.g. 203.0.113.0/24 198.51.100.7 2001:db8::/48")

    def handle(self, *args, **options):
        vendor = services.vendor_get(client_id=options["client_id"])
        vendor = services.vendor_allow_list_set(vendor=vendor, cidrs=options["cidrs"])
        if vendor.allowed_cidrs:
            self.stdout.write(f"{vendor.name} accepts requests only from:\n" + "\n".join(vendor.allowed_cidrs))
        else:
            self.stdout.write(f"{vendor.name} accepts requests from any address.")
