from django.apps import AppConfig


class ApiresourcesConfig(AppConfig):
    name = "apiresources"
    verbose_name = "API resources"

    def ready(self):
        from vendors import services as vendor_services

        from . import services

        # `manage.py prune` deletes them with the vendor domain's own expired rows.
        vendor_services.EXPIRING["idempotency key"] = services.idempotency_keys_expired
