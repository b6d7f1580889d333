import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "charp.settings")
django.setup(set_prefix=False)

# Django's get_asgi_application(), with the request class of charp/handlers.py.
from charp.http.handlers import AsyncHandler  # noqa: E402

application = AsyncHandler()
