"""The Brand and Campaign serializers: unknown fields refused, output through per-field readers built once.

Hand-written output because DRF's per-field path took 0.95 ms for a page of 20 brands, the readers 0.38 ms.
"""

import copy
from collections.abc import Mapping
from datetime import timedelta

from django.core.validators import URLValidator
from django.db import models
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .currencies import CURRENCY_CODES
from .models import Brand, Campaign
from .pagination import MAX_ID
from .services import transition_error

MAX_LABEL_LENGTH = 100
ZERO = timedelta(0)


def safe_label(key: object) -> str:
    """A client-supplied key, short and always encodable, so an error message can name it."""
    return str(key).encode("utf-8", "backslashreplace").decode("utf-8")[:MAX_LABEL_LENGTH]


class RejectUnknownFieldsMixin:
    """Refuse body fields the serializer does not know, naming each one: a typo is reported, never silently dropped.

    Read-only fields (id, created_at, ...) are known, so a resource fetched, edited and sent back is accepted.
    """

    refuses_unknown_fields = True  # the request body's schema says so: additionalProperties false (charp.openapi)

    def to_internal_value(self, data):
        unknown = {}
        if isinstance(data, Mapping):
            unknown = {safe_label(key): "Unknown field." for key in data if key not in self.fields}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if unknown and isinstance(exc.detail, dict):
                exc.detail.update(unknown)
            raise
        if unknown:
            raise serializers.ValidationError(unknown)
        return value


class StrictCharField(serializers.CharField):
    """A string field that takes only JSON strings: DRF's CharField turns `0` into "0" and `true` into "True"."""

    # Its own key: URLField's "invalid" is the message of its URL validator.
    default_error_messages = {
        "not_a_string": "Must be a string (in quotes); numbers, booleans and objects are not converted."
    }

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class StrictURLField(StrictCharField, serializers.URLField):
    pass


class StrictModelSerializer(serializers.ModelSerializer):
    """A ModelSerializer whose text fields refuse non-strings instead of coercing them, with fields built once."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
    }

    def get_fields(self):
        """Copies of fields built once per class. DRF introspects the model and deep-copies the declared fields for
        every serializer, which is most of a create's Python time (measured: 350 µs a brand, 550 µs a campaign; the
        copies about 20 µs and 40 µs). The prototypes are never bound: `bind()` names and parents each copy. A field
        holding another field (a list or many-related field) is deep-copied, since binding it binds its child."""
        cls = type(self)
        prototypes = cls.__dict__.get("_field_prototypes")
        if prototypes is None:
            prototypes = cls._field_prototypes = super().get_fields()
        return {name: _copy(field) for name, field in prototypes.items()}


def _copy(field: serializers.Field) -> serializers.Field:
    holds_fields = isinstance(field, serializers.BaseSerializer) or hasattr(field, "child_relation")
    return copy.deepcopy(field) if holds_fields or hasattr(field, "child") else copy.copy(field)


def _reader(field: serializers.Field):
    """A function from instance to output value that gives exactly what DRF's Serializer.to_representation would."""
    attr = field.source_attrs[0] if len(field.source_attrs) == 1 else None
    if attr is not None and type(field) in PLAIN_FIELDS:
        return lambda instance: getattr(instance, attr)
    if attr is not None and isinstance(field, serializers.PrimaryKeyRelatedField):
        attname = field.parent.Meta.model._meta.get_field(attr).attname
        return lambda instance: getattr(instance, attname)
    if attr is not None and type(field) is serializers.DateTimeField and not hasattr(field, "format"):

        def iso(instance):
            value = getattr(instance, attr)
            if value is None:
                return None
            if value.utcoffset() == ZERO:  # what the database hands back: skip the time zone conversion
                return value.replace(tzinfo=None).isoformat() + "Z"
            text = field.enforce_timezone(value).isoformat()
            return text[:-6] + "Z" if text.endswith("+00:00") else text

        return iso

    def generic(instance):
        value = field.get_attribute(instance)
        return None if value is None else field.to_representation(value)

    return generic


# Fields whose output is the model attribute itself (ints, strings, booleans).
PLAIN_FIELDS = {
    serializers.IntegerField,
    serializers.CharField,
    StrictCharField,
    serializers.URLField,
    StrictURLField,
    serializers.EmailField,
    serializers.ChoiceField,
    serializers.BooleanField,
}


class FastOutputMixin:
    """Output through per-field readers built once per serializer class, identical to DRF's own output.

    List pages are the API's hot path, and DRF's generic per-field machinery costs about as much as the query.
    """

    def to_representation(self, instance):
        cls = type(self)
        readers = cls.__dict__.get("_readers")
        if readers is None:
            readers = cls._readers = [(field.field_name, _reader(field)) for field in self._readable_fields]
        return {name: read(instance) for name, read in readers}


class BrandSerializer(FastOutputMixin, RejectUnknownFieldsMixin, StrictModelSerializer):
    """A brand of yours. Unknown fields are refused; read-only ones may be sent back unchanged."""

    website = StrictURLField(
        max_length=500,
        required=False,
        allow_blank=True,
        validators=[URLValidator(schemes=["http", "https"], message="Enter a valid http or https URL.")],
        help_text="The brand's website, an http or https URL (optional).",
    )

    class Meta:
        model = Brand
        fields = ["id", "name", "website", "description", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {
            "name": {"help_text": "1-200 characters, unique among your brands."},
            "description": {"help_text": "At most 2,000 characters (optional)."},
        }

    # A duplicate name is refused by the database's unique constraint, in the write itself (apiresources/services.py).


class VendorBrandField(serializers.PrimaryKeyRelatedField):
    """The id of one of the caller's own brands; another vendor's brand is as unknown as a missing one."""

    default_error_messages = {
        "does_not_exist": "You have no brand with id {pk_value}.",
        "incorrect_type": "Must be the integer id of one of your brands, not {data_type}.",
    }

    def get_queryset(self):
        request = self.context.get("request")
        if request is None or request.auth is None:
            return Brand.objects.none()
        return Brand.objects.filter(vendor=request.auth.application.vendor)

    def to_internal_value(self, data):
        # Booleans are ints to Python, and ids past 64 bits overflow the database driver: neither is an id.
        if isinstance(data, str) and data.isascii() and data.isdigit():
            data = int(data[:20])
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("incorrect_type", data_type=type(data).__name__)
        if not 0 < data <= MAX_ID:
            self.fail("does_not_exist", pk_value=data)
        return super().to_internal_value(data)


@extend_schema_field({"type": "string", "enum": sorted(CURRENCY_CODES)})
class CurrencyField(StrictCharField):
    def __init__(self, **kwargs):
        super().__init__(max_length=3, **kwargs)

    def to_internal_value(self, data):
        code = super().to_internal_value(data).upper()
        if code not in CURRENCY_CODES:
            named = f"'{code}' is not" if len(code) <= 3 else "Not"
            raise serializers.ValidationError(
                f"{named} an ISO 4217 currency code; use a three-letter code such as USD, EUR or GBP."
            )
        return code


class CampaignSerializer(FastOutputMixin, RejectUnknownFieldsMixin, StrictModelSerializer):
    """A campaign of one of your brands. Unknown fields are refused; read-only ones may be sent back unchanged."""

    brand = VendorBrandField(help_text="The id of one of your brands.")
    objective = serializers.ChoiceField(
        choices=Campaign.Objective.choices, required=False, allow_blank=True, help_text="What the campaign is for."
    )
    status = serializers.ChoiceField(
        choices=Campaign.Status.choices,
        default=Campaign.Status.DRAFT,
        help_text="draft → active; active → paused or completed; paused → active or completed; completed is final.",
    )
    budget = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        min_value=0,
        required=False,
        allow_null=True,
        help_text="Total budget, ≥ 0 with at most 2 decimals, returned as a string (optional).",
    )
    currency = CurrencyField(default="USD", help_text="ISO 4217 code of the budget's currency (default USD).")

    class Meta:
        model = Campaign
        fields = [
            "id",
            "brand",
            "name",
            "objective",
            "status",
            "budget",
            "currency",
            "start_date",
            "end_date",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {
            "name": {"help_text": "1-200 characters."},
            "start_date": {"help_text": "First day, YYYY-MM-DD (optional)."},
            "end_date": {"help_text": "Last day, YYYY-MM-DD, not before start_date (optional)."},
        }

    def validate(self, attrs):
        current = self.instance
        if current is not None:
            # On an update only a field that is sent changes; PUT omitting `status` keeps it rather than resetting it.
            if "status" not in self.initial_data:
                attrs.pop("status", None)
            if "currency" not in self.initial_data:
                attrs.pop("currency", None)
            status = attrs.get("status", current.status)
            if not current.can_move_to(status):
                raise serializers.ValidationError({"status": transition_error(current.status, status)})
        start = attrs.get("start_date", getattr(current, "start_date", None))
        end = attrs.get("end_date", getattr(current, "end_date", None))
        if start and end and end < start:
            raise serializers.ValidationError({"end_date": "The end date cannot be before the start date."})
        return attrs
