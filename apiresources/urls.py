from django.urls import re_path
from rest_framework.routers import SimpleRouter

from . import views
from .tools import TOOLS


class Router(SimpleRouter):
    """Routes that answer with or without a trailing slash, never redirecting (a redirected POST loses its body)."""

    def __init__(self):
        super().__init__()
        self.trailing_slash = "/?"


router = Router()
router.register("brands", views.BrandViewSet, basename="brand")
router.register("campaigns", views.CampaignViewSet, basename="campaign")

# One route per tool, so that each is documented with its own body; the catch-all answers unknown tools with a 404
# in the API's error shape (after authentication and the plan check, so it reveals nothing to outsiders).
urlpatterns = [
    *router.urls,
    re_path(r"^tools/?$", views.ToolListView.as_view(), name="tool-list"),
    *(re_path(rf"^tools/{name}/?$", views.ToolRunView.for_tool(name), name=f"tool-{name}") for name in TOOLS),
    re_path(r"^tools/(?P<tool>[^/]{1,200})/?$", views.UnknownToolView.as_view(), name="tool-unknown"),
]
