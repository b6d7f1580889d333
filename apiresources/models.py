from django.db import models

from vendors.models import Vendor


class Brand(models.Model):
    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, related_name="brands")
    name = models.CharField(max_length=200)
    website = models.URLField(max_length=500, blank=True)
    description = models.TextField(max_length=2000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["vendor", "name"], name="brand_name_unique_per_vendor")]
        indexes = [models.Index(fields=["vendor", "-created_at", "-id"], name="brand_vendor_newest")]

    def __str__(self) -> str:
        return self.name
