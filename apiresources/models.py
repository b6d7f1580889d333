from django.core.validators import MinValueValidator
from django.db import models

from vendors.models import CachedModel, Vendor


class Brand(CachedModel):
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


class Campaign(CachedModel):
    """A marketing campaign of one of the vendor's brands."""

    class Objective(models.TextChoices):
        AWARENESS = "awareness", "Awareness"
        TRAFFIC = "traffic", "Traffic"
        ENGAGEMENT = "engagement", "Engagement"
        LEADS = "leads", "Leads"
        SALES = "sales", "Sales"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        COMPLETED = "completed", "Completed"

    # Where each status may move next; staying put is always allowed, and completed is final.
    TRANSITIONS = {
        Status.DRAFT: (Status.ACTIVE,),
        Status.ACTIVE: (Status.PAUSED, Status.COMPLETED),
        Status.PAUSED: (Status.ACTIVE, Status.COMPLETED),
        Status.COMPLETED: (),
    }

    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, related_name="campaigns")
    # RESTRICT rather than PROTECT: deleting a brand with campaigns is refused, deleting the whole vendor is not.
    brand = models.ForeignKey(Brand, on_delete=models.RESTRICT, related_name="campaigns")
    name = models.CharField(max_length=200)
    objective = models.CharField(max_length=16, choices=Objective.choices, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    budget = models.DecimalField(
        max_digits=14, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    currency = models.CharField(max_length=3, default="USD")
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(budget__gte=0), name="campaign_budget_not_negative"),
            models.CheckConstraint(
                condition=models.Q(start_date__isnull=True)
                | models.Q(end_date__isnull=True)
                | models.Q(end_date__gte=models.F("start_date")),
                name="campaign_ends_after_start",
            ),
        ]
        indexes = [
            models.Index(fields=["vendor", "-created_at", "-id"], name="campaign_vendor_newest"),
            models.Index(fields=["vendor", "brand", "-created_at", "-id"], name="campaign_brand_newest"),
            models.Index(fields=["vendor", "status", "-created_at", "-id"], name="campaign_status_newest"),
        ]

    def __str__(self) -> str:
        return self.name

    def can_move_to(self, status: str) -> bool:
        return status == self.status or status in self.TRANSITIONS[self.status]


class IdempotencyKey(models.Model):
    """A vendor's `Idempotency-Key` and the first response to the request it came with, replayed to its retries.

    The row is inserted before the request runs (the unique constraint decides which of two concurrent requests
    runs), and completed with the response after; `status` is null while the first request is still running.
    """

    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=7)
    path = models.TextField()
    body_sha256 = models.CharField(max_length=64)
    claimed_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    status = models.PositiveSmallIntegerField(null=True)
    content_type = models.CharField(max_length=200, blank=True)
    location = models.TextField(blank=True)
    body = models.BinaryField(default=b"")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["vendor", "key"], name="idempotency_key_unique_per_vendor")]
        indexes = [models.Index(fields=["expires_at"], name="idempotency_key_expiry")]

    def __str__(self) -> str:
        return self.key
