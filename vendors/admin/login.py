"""Password guessing at the staff portal's login: failed sign-ins are counted per (username, address) and per address
on the shared counters of vendors/limits/store.py, and past either limit the login refuses that address, before
checking the password, until the oldest failure leaves the window.

Never per username alone: then anyone could keep a staff member out, during an incident say, by sending wrong
passwords for a known username. Keyed with the address, a flood locks only the address it comes from, and the
staff member still signs in from their own (docs/design.md, decision 12)."""

import math

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError

from charp.http.client import client_ip
from vendors.limits.failures import FailureBudget, digest


def staff_login_guard(request, username: str) -> FailureBudget:
    prefix = settings.RATELIMIT_KEY_PREFIX
    ip = digest(client_ip(request))
    # Case-folded, so that "Alice" and "alice" share one budget whichever of them the database knows.
    return FailureBudget(
        keys=(
            f"{prefix}stafflogin:userip:{digest(username.casefold())}:{ip}",
            f"{prefix}stafflogin:ip:{ip}",
        ),
        limits=(settings.ADMIN_LOGIN_FAILURES_PER_USER_AND_IP, settings.ADMIN_LOGIN_FAILURES_PER_IP),
        window=settings.ADMIN_LOGIN_FAILURE_WINDOW,
    )


class ThrottledAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin's login form, refusing an address while it has too many recent failures, for the username or at all."""

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "locked": "Too many failed sign-in attempts from your address. "
        "Try again in %(minutes)d minute%(plural)s, or ask another administrator to reset your password.",
    }

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        guard = staff_login_guard(self.request, username)
        if wait := guard.retry_after():
            minutes = max(1, math.ceil(wait / 60))
            # The same answer whether the password is right or not, and whether the user exists or not.
            raise ValidationError(
                self.error_messages["locked"],
                code="locked",
                params={"minutes": minutes, "plural": "" if minutes == 1 else "s"},
            )
        try:
            return super().clean()
        except ValidationError as exc:
            if getattr(exc, "code", None) == "invalid_login":
                guard.record_failure()
            raise
