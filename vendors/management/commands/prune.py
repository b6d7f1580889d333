from datetime import UTC, datetime, time, timedelta

from django.conf import settings
from django.utils import timezone

from vendors import services

from ._base import VendorCommand


class Command(VendorCommand):
    help = (
        "Delete audit events older than AUDIT_RETENTION_DAYS, usage days older than USAGE_RETENTION_DAYS, request "
        "log entries older than REQUEST_LOG_DAYS and idempotency keys past their expiry, RETENTION_BATCH_SIZE rows at "
        "a time (run daily)."
    )

    def handle(self, *args, **options):
        today = timezone.now().astimezone(UTC).date()
        audit_before = today - timedelta(days=settings.AUDIT_RETENTION_DAYS)
        usage_before = today - timedelta(days=settings.USAGE_RETENTION_DAYS)
        log_before = today - timedelta(days=settings.REQUEST_LOG_DAYS)
        batch_size = settings.RETENTION_BATCH_SIZE
        # From midnight UTC, so that "older than <date>" is exact and a second run the same day deletes nothing new.
        events = services.audit_events_prune(
            older_than=datetime.combine(audit_before, time.min, tzinfo=UTC), batch_size=batch_size
        )
        days = services.usage_days_prune(older_than=usage_before, batch_size=batch_size)
        entries = services.request_log_prune(
            older_than=datetime.combine(log_before, time.min, tzinfo=UTC), batch_size=batch_size
        )
        expired = services.expired_rows_prune(now=timezone.now(), batch_size=batch_size)
        counts = [
            f"{events} audit event{'s' if events != 1 else ''} older than {audit_before}",
            f"{days} usage day{'s' if days != 1 else ''} older than {usage_before}",
            f"{entries} request log entr{'ies' if entries != 1 else 'y'} older than {log_before}",
            *(f"{count} expired {label}{'s' if count != 1 else ''}" for label, count in expired.items()),
        ]
        self.stdout.write(f"Deleted {', '.join(counts[:-1])} and {counts[-1]}.")
