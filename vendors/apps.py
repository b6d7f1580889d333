from django.apps import AppConfig


class VendorsConfig(AppConfig):
    name = "vendors"
    verbose_name = "Vendors"

    def ready(self):
        from vendors import checks  # noqa: F401  (checks registers the deploy checks)
        from vendors.caching import versions

        versions.connect()
