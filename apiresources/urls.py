from rest_framework.routers import SimpleRouter

from . import views


class Router(SimpleRouter):
    """Routes that answer with or without a trailing slash, never redirecting (a redirected POST loses its body)."""

    def __init__(self):
        super().__init__()
        self.trailing_slash = "/?"


router = Router()
router.register("brands", views.BrandViewSet, basename="brand")

urlpatterns = router.urls
