from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from vendors.access.gate import AdmittedView
from vendors.caching import copies

from . import selectors, services
from .idempotency import IdempotentWrites
from .models import Brand, Campaign
from .openapi import ERROR_RESPONSES, TOOL_SCHEMAS, tool_entry_schema
from .pagination import MAX_ID, KeysetPagination
from .serializers import BrandSerializer, CampaignSerializer
from .tools import TOOLS, ToolInputError


def location_header(noun: str) -> OpenApiParameter:
    return OpenApiParameter(
        "Location",
        str,
        OpenApiParameter.HEADER,
        response=[201],
        description=f"The absolute URL of the new {noun}.",
    )


# Ids are 64-bit integers: anything else in the path is an unknown URL (404), never a database error.
ID_PATTERN = r"[0-9]{1,18}"


def cached_read(view, render, *args, **kwargs):
    """Serve a GET from this worker's copy if the vendor's data tag, fetched by the gate's round trip, is the one it
    was stored under (vendors/caching/versions.py); otherwise render it and keep the bytes under that tag."""
    request, tag = view.request, view.admission.data_tag
    if tag is None or settings.READ_CACHE_SECONDS <= 0:
        return render(request, *args, **kwargs)
    key = (request.auth.application.client_id, request.build_absolute_uri(), request.accepted_media_type)
    cached = copies.pages.get(key)
    if cached is not None and cached[0] == tag:
        content_type, body = cached[1]
        return HttpResponse(body, content_type=content_type)
    response = render(request, *args, **kwargs)
    if response.status_code == 200:

        def keep(rendered):
            copies.pages.put(key, tag, (rendered["Content-Type"], rendered.content), cost=len(rendered.content))

        response.add_post_render_callback(keep)
    return response


class VendorScopedViewSet(IdempotentWrites, AdmittedView, viewsets.ModelViewSet):
    """Every query is scoped to the calling vendor: another vendor's object is a 404."""

    pagination_class = KeysetPagination
    lookup_value_regex = ID_PATTERN

    @property
    def vendor(self):
        return self.admission.vendor

    def list(self, request, *args, **kwargs):
        return cached_read(self, super().list, *args, **kwargs)

    def retrieve(self, request, *args, **kwargs):
        return cached_read(self, super().retrieve, *args, **kwargs)

    def get_success_headers(self, data):
        """A 201 names the new object: `Location` is its absolute URL (POST /brands gives …/brands/42)."""
        return {"Location": self.request.build_absolute_uri(f"{self.request.path.rstrip('/')}/{data['id']}")}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no caller
            return self.queryset.none()
        return self.scoped_queryset()

    def scoped_queryset(self):
        return self.queryset.filter(vendor=self.vendor)


@extend_schema_view(
    list=extend_schema(summary="List your brands, newest first"),
    create=extend_schema(summary="Create a brand", parameters=[location_header("brand")]),
    retrieve=extend_schema(summary="Get a brand"),
    update=extend_schema(summary="Replace a brand"),
    partial_update=extend_schema(summary="Update some fields of a brand"),
    destroy=extend_schema(
        summary="Delete a brand",
        description="Refused with 409 while the brand still has campaigns: delete or move them first.",
        responses={204: OpenApiResponse(description="Deleted."), 409: ERROR_RESPONSES[409]},
    ),
)
class BrandViewSet(VendorScopedViewSet):
    """Your brands. Every plan includes the Brands API; a brand name is unique among your brands."""

    api_family = "brands"
    queryset = Brand.objects.all()
    serializer_class = BrandSerializer

    def scoped_queryset(self):
        return selectors.brand_list(vendor=self.vendor)

    def perform_create(self, serializer):
        serializer.instance = services.brand_create(vendor=self.vendor, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.brand_update(brand=serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        services.brand_delete(brand=instance)


class CampaignFilterSerializer(serializers.Serializer):
    brand = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    status = serializers.ChoiceField(choices=Campaign.Status.choices, required=False)


@extend_schema_view(
    list=extend_schema(
        summary="List your campaigns, newest first",
        parameters=[
            OpenApiParameter(
                "brand",
                {"type": "integer", "format": "int64", "minimum": 1},
                description="Only campaigns of this brand.",
            ),
            OpenApiParameter("status", str, enum=Campaign.Status.values, description="Only campaigns in this status."),
        ],
    ),
    create=extend_schema(summary="Create a campaign", parameters=[location_header("campaign")]),
    retrieve=extend_schema(summary="Get a campaign"),
    update=extend_schema(summary="Replace a campaign"),
    partial_update=extend_schema(
        summary="Update some fields of a campaign",
        description="Status moves draft → active → paused ⇄ active → completed; completed is final.",
    ),
    destroy=extend_schema(summary="Delete a campaign"),
)
class CampaignViewSet(VendorScopedViewSet):
    """Your campaigns, each belonging to one of your brands. Standard and Enterprise plans include this API."""

    api_family = "campaigns"
    queryset = Campaign.objects.all()
    serializer_class = CampaignSerializer

    def scoped_queryset(self):
        if self.action != "list":
            return selectors.campaign_list(vendor=self.vendor)
        filters = CampaignFilterSerializer(data=self.request.query_params)
        if not filters.is_valid():
            raise ValidationError(filters.errors)
        params = filters.validated_data
        return selectors.campaign_list(vendor=self.vendor, brand_id=params.get("brand"), status=params.get("status"))

    def perform_create(self, serializer):
        serializer.instance = services.campaign_create(vendor=self.vendor, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.campaign_update(campaign=serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        services.campaign_delete(campaign=instance)


class ToolsAPIView(AdmittedView):
    api_family = "tools"


class ToolListView(ToolsAPIView):
    """The marketing tools of the Enterprise plan, with the fields each one takes."""

    @extend_schema(summary="List the tools", responses={200: tool_entry_schema()})
    def get(self, request):
        tools = [
            {
                "name": tool.name,
                "description": tool.description,
                "endpoint": request.build_absolute_uri(f"/tools/{tool.name}"),
                "fields": tool.fields,
            }
            for tool in TOOLS.values()
        ]
        # The same page shape as every other list, so clients need one reader.
        return Response({"results": tools, "next": None})


class ToolRunView(IdempotentWrites, ToolsAPIView):
    """POST /tools/{tool}: run one stateless tool on the JSON body."""

    tool_name: str | None = None  # set per documented tool in urls.py; None for the catch-all route

    def post(self, request, tool: str | None = None):
        name = self.tool_name or tool or ""
        if name not in TOOLS:
            raise NotFound(f"There is no tool named '{name}'. GET /tools lists the tools.")
        try:
            return Response(TOOLS[name].run(request.data))
        except ToolInputError as exc:
            raise ValidationError(exc.fields) from None

    @classmethod
    def for_tool(cls, name: str):
        """A view for one tool, documented with that tool's own request and response bodies."""
        schema = TOOL_SCHEMAS[name]

        def post(self, request):
            return cls.post(self, request)

        documented = extend_schema(
            operation_id=f"tools_{name.replace('-', '_')}",
            summary=schema["summary"],
            description=TOOLS[name].description,
            request={"application/json": schema["request"]},
            responses={200: OpenApiResponse(response=schema["response"], description="The tool's result.")},
        )(post)
        return type(f"ToolRunView_{name.replace('-', '_')}", (cls,), {"tool_name": name, "post": documented}).as_view()


class UnknownToolView(ToolRunView):
    """Any other /tools/{name}: a 404 in the API's error shape, left out of the schema."""

    @extend_schema(exclude=True)
    def post(self, request, tool: str):
        return super().post(request, tool)
