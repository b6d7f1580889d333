from vendors import services

from ._base import VendorCommand


class Command(VendorCommand):
    help = "Register a vendor and print its client ID and secret. The secret is shown only this once."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--plan", required=True, help="Plan code: free, standard or enterprise.")
        parser.add_argument("--email", default="", help="Contact email.")
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args, **options):
        plan = services.plan_get(code=options["plan"])
        issued = services.vendor_create(name=options["name"], plan=plan, contact_email=options["email"])
        vendor = issued.vendor
        payload = {
            "vendor_id": vendor.pk,
            "name": vendor.name,
            "plan": plan.code,
            "client_id": vendor.client_id,
            "client_secret": issued.client_secret,
        }
        self.emit(
            options,
            payload,
            f"Created vendor {vendor.name} (id {vendor.pk}) on the {plan.name} plan.\n"
            f"client_id:     {vendor.client_id}\n"
            f"client_secret: {issued.client_secret}\n"
            "Store the secret now: it is shown only this once.",
        )
