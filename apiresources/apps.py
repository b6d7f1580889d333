from django.apps import AppConfig


class ApiresourcesConfig(AppConfig):
    name = "apiresources"
    verbose_name = "API resources"

    def ready(self):
        from vendors.caching import versions

        from .models import Brand, Campaign

        versions.connect_resources(Brand, Campaign)
