"""Redoc's bundle for /docs, served from this origin with its one remote asset removed, so the CSP can be 'self'."""

from functools import cache

from django.contrib.staticfiles import finders
from django.http import HttpResponse
from django.views.decorators.http import require_safe

# Redoc always renders a "by Redocly" logo from its CDN; an empty data: image fails quietly and the logo is hidden.
REMOTE_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@cache
def _bundle() -> bytes:
    path = finders.find("drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js")
    with open(path, "rb") as bundle:
        return bundle.read().replace(REMOTE_LOGO.encode(), b"data:,")


@require_safe
def redoc_bundle(request) -> HttpResponse:
    response = HttpResponse(_bundle(), content_type="application/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=86400"
    return response
