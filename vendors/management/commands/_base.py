"""Shared plumbing for the vendor commands: domain errors become a clear message and a non-zero exit."""

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError


class VendorCommand(BaseCommand):
    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc

    def emit(self, options: dict, payload: dict, text: str) -> None:
        """Write JSON with --json, else a human-readable text."""
        self.stdout.write(json.dumps(payload, indent=2) if options.get("json") else text)
