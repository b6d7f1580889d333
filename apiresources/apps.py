from django.apps import AppConfig


class ApiresourcesConfig(AppConfig):
    name = "apiresources"
    verbose_name = "API resources"
