from datetime import timedelta

from vendors import services

from ._base import VendorCommand


class Command(VendorCommand):
    help = "Issue a new client secret; the old one keeps working for the grace period. Prints the new secret once."

    def add_arguments(self, parser):
        parser.add_argument("client_id")
        parser.add_argument(
            "--grace",
            type=int,
            default=int(services.DEFAULT_GRACE.total_seconds()),
            help="Seconds the previous secret keeps working (default 86400; 0 ends it now).",
        )
        parser.add_argument("--revoke-tokens", action="store_true", help="Also revoke every token of the vendor.")
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args, **options):
        vendor = services.vendor_get(client_id=options["client_id"])
        issued = services.vendor_secret_rotate(
            vendor=vendor, grace=timedelta(seconds=options["grace"]), revoke_tokens=options["revoke_tokens"]
        )
        expires = issued.previous_secret_expires_at
        payload = {
            "client_id": vendor.client_id,
            "client_secret": issued.client_secret,
            "previous_secret_expires_at": expires.isoformat() if expires else None,
            "tokens_revoked": options["revoke_tokens"],
        }
        old = (
            f"The previous secret works until {expires.isoformat()}."
            if expires
            else "The previous secret no longer works."
        )
        self.emit(
            options,
            payload,
            f"New secret for {vendor.name} ({vendor.client_id}):\n"
            f"client_secret: {issued.client_secret}\n{old}\nStore the secret now: it is shown only this once.",
        )
