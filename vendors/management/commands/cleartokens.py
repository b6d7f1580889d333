from oauth2_provider.management.commands import cleartokens
from oauth2_provider.models import get_access_token_model, get_grant_model, get_id_token_model, get_refresh_token_model


class Command(cleartokens.Command):
    """django-oauth-toolkit's purge (its `clear_expired()`, in batches), saying what it deleted."""

    help = "Delete expired and revoked tokens in batches (run daily) and print how many of each were deleted."

    def handle(self, *args, **options):
        models = {
            "access token": get_access_token_model(),
            "refresh token": get_refresh_token_model(),
            "ID token": get_id_token_model(),
            "grant": get_grant_model(),
        }
        # Only the rows that existed before the purge are counted, so tokens issued meanwhile hide no deletion.
        last = {
            name: model.objects.order_by("-pk").values_list("pk", flat=True).first() for name, model in models.items()
        }
        before = {name: _up_to(model, last[name]) for name, model in models.items()}
        super().handle(*args, **options)
        deleted = {name: before[name] - _up_to(model, last[name]) for name, model in models.items()}
        self.stdout.write(
            "Deleted " + ", ".join(f"{n} {name}{'s' if n != 1 else ''}" for name, n in deleted.items()) + "."
        )


def _up_to(model, last_pk) -> int:
    return 0 if last_pk is None else model.objects.filter(pk__lte=last_pk).count()
