"""The staff portal (Django's admin, found by its autodiscovery): one module per page family."""

from vendors.admin import audit, plan, vendor  # noqa: F401  (each registers its pages)
