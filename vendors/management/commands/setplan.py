from vendors import services

from ._base import VendorCommand


class Command(VendorCommand):
    help = "Move a vendor to another plan, with immediate effect on its tokens."

    def add_arguments(self, parser):
        parser.add_argument("client_id")
        parser.add_argument("plan", help="Plan code: free, standard or enterprise.")

    def handle(self, *args, **options):
        vendor = services.vendor_get(client_id=options["client_id"])
        plan = services.plan_get(code=options["plan"])
        services.vendor_plan_set(vendor=vendor, plan=plan)
        self.stdout.write(f"{vendor.name} is now on the {plan.name} plan.")
