from django.apps import AppConfig


class VendorsConfig(AppConfig):
    name = "vendors"
    verbose_name = "Vendors"

    def ready(self):
        from . import cache, checks  # noqa: F401  (checks registers the deploy checks)

        cache.connect()
