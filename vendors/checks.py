"""Deploy checks of Charp's own settings (`manage.py check --deploy`)."""

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def keys_set_explicitly(app_configs, **kwargs):
    """Warn when the client-secret pepper or the JWT signing keys are derived from SECRET_KEY (charp/settings.py)."""
    return [
        checks.Warning(
            f"{name} is derived from SECRET_KEY.",
            hint=f"Set {name} explicitly: rotating SECRET_KEY would otherwise invalidate "
            + ("every vendor's client secret." if name == "CLIENT_SECRET_PEPPER" else "every access token."),
            id="charp.W001" if name == "CLIENT_SECRET_PEPPER" else "charp.W002",
        )
        for name in getattr(settings, "KEYS_DERIVED_FROM_SECRET_KEY", [])
    ]
