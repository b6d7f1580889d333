from django.apps import AppConfig


class ApiresourcesConfig(AppConfig):
    name = "apiresources"
    verbose_name = "API resources"

    def ready(self):
        from vendors import cache

        from .models import Brand, Campaign

        cache.connect_resources(Brand, Campaign)
