import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from vendors import services
from vendors.models import Vendor

DEMO_VENDOR = "Demo Vendor"
DEMO_STAFF = "admin"


class Command(BaseCommand):
    help = "First run only: create a demo staff account and a demo vendor, and print their credentials once."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="Where the platform is served.")

    def handle(self, *args, **options):
        url = options["url"].rstrip("/")
        User = get_user_model()
        lines = []
        if not User.objects.filter(username=DEMO_STAFF).exists():
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser(DEMO_STAFF, email="", password=password)
            lines += [f"Staff portal:  {url}/admin/  username {DEMO_STAFF}  password {password}"]
        vendor = Vendor.objects.filter(name=DEMO_VENDOR).select_related("application").first()
        if vendor is None:
            issued = services.vendor_create(name=DEMO_VENDOR, plan=services.plan_get(code="enterprise"))
            vendor, secret = issued.vendor, issued.client_secret
            lines += [
                f"Demo vendor:   {DEMO_VENDOR} (Enterprise plan)",
                f"client_id:     {vendor.client_id}",
                f"client_secret: {secret}",
                "",
                "Get an access token:",
                f"curl -X POST {url}/auth/token -H 'Content-Type: application/json' "
                f"""-d '{{"client_id": "{vendor.client_id}", "client_secret": "{secret}"}}'""",
                "",
                "Then: curl " + url + "/brands -H 'Authorization: Bearer <access_token>'   API docs: " + url + "/docs",
            ]
        if lines:
            self.stdout.write(
                "\n".join(["", "=" * 78, *lines, "These credentials are shown only this once.", "=" * 78, ""])
            )
        else:
            self.stdout.write(
                f"Demo already set up (credentials were printed on the first run). Demo client_id: {vendor.client_id}\n"
                f"New demo secret: .venv/bin/python manage.py rotatesecret {vendor.client_id} --grace 0\n"
                f"Staff password:  .venv/bin/python manage.py changepassword {DEMO_STAFF}"
            )
