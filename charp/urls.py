from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from charp import docs, health
from charp.http import errors
from vendors.admin.site import portal
from vendors.oauth import views

handler400 = "charp.http.errors.bad_request"
handler403 = "charp.http.errors.permission_denied"
handler404 = "charp.http.errors.page_not_found"
handler500 = "charp.http.errors.server_error"

# Every API path answers with and without a trailing slash, never with a redirect (a redirected POST loses its body).
urlpatterns = [
    # First: the resource APIs are the busiest routes, and none of their paths overlaps the others.
    path("", include("apiresources.urls")),
    re_path(r"^auth/token/?$", views.TokenView.as_view(), name="auth-token"),
    re_path(r"^auth/refresh/?$", views.RefreshView.as_view(), name="auth-refresh"),
    re_path(r"^auth/revoke/?$", views.RevokeView.as_view(), name="auth-revoke"),
    re_path(
        r"^\.well-known/oauth-authorization-server/?$",
        views.authorization_server_metadata,
        name="oauth-metadata",
    ),
    path("admin/", portal.urls),
    # The OpenAPI document and its rendered docs are public; the docs assets are served locally (sidecar).
    re_path(r"^api/schema/?$", SpectacularAPIView.as_view(), name="schema"),
    # Both pages load their scripts from this origin only, with no inline script, as the CSP requires.
    re_path(r"^docs/?$", SpectacularRedocView.as_view(url_name="schema", template_name="docs/redoc.html"), name="docs"),
    re_path(r"^docs/redoc\.js$", docs.redoc_bundle, name="docs-redoc-js"),
    re_path(r"^docs/try/?$", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs-try"),
    re_path(r"^healthz/?$", health.healthz, name="healthz"),
    re_path(r"^readyz/?$", health.readyz, name="readyz"),
    # Prometheus; a 404 like any unknown path unless METRICS_TOKEN is set (route "metrics": scrapes are not counted).
    re_path(r"^metrics/?$", health.metrics, name="metrics"),
    # Last: anything else is the JSON 404 of production, under DEBUG too (the staff portal keeps its own).
    re_path(r"^(?!admin/)", errors.no_endpoint, name="no-endpoint"),
]
