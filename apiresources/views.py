from rest_framework import viewsets
from rest_framework.permissions import IsAuthenticated

from vendors.permissions import PlanAllowsAPI

from .models import Brand
from .serializers import BrandSerializer


class VendorScopedViewSet(viewsets.ModelViewSet):
    """Every query is scoped to the calling vendor: another vendor's object is a 404."""

    permission_classes = [IsAuthenticated, PlanAllowsAPI]

    @property
    def vendor(self):
        return self.request.auth.application.vendor

    def get_queryset(self):
        return self.queryset.filter(vendor=self.vendor)

    def perform_create(self, serializer):
        serializer.save(vendor=self.vendor)


class BrandViewSet(VendorScopedViewSet):
    api_family = "brands"
    queryset = Brand.objects.all()
    serializer_class = BrandSerializer
