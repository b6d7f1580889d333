from datetime import datetime

from django.conf import settings
from django.http import HttpResponse, HttpResponseNotModified
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from charp.http import conditional
from charp.http.errors import PreconditionFailed
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
        content_type, body, etag = cached[1]
        response = HttpResponse(body, content_type=content_type)
        if etag is not None:
            response["ETag"] = etag
        return response
    response = render(request, *args, **kwargs)
    if response.status_code == 200:

        def keep(rendered):
            page = (rendered["Content-Type"], rendered.content, rendered.get("ETag"))
            copies.pages.put(key, tag, page, cost=len(rendered.content))

        response.add_post_render_callback(keep)
    return response


class VendorScopedViewSet(IdempotentWrites, AdmittedView, viewsets.ModelViewSet):
    """Every query is scoped to the calling vendor: another vendor's object is a 404."""

    pagination_class = KeysetPagination
    lookup_value_regex = ID_PATTERN
    etags = True  # one object's answers carry its version's ETag (charp/openapi.py documents the headers)

    @property
    def vendor(self):
        return self.admission.vendor

    def list(self, request, *args, **kwargs):
        return cached_read(self, super().list, *args, **kwargs)

    def retrieve(self, request, *args, **kwargs):
        return cached_read(self, self._retrieve, *args, **kwargs)

    def _retrieve(self, request, *args, **kwargs):
        instance = self.get_object()
        return Response(self.get_serializer(instance).data, headers={"ETag": conditional.etag(instance)})

    # create() and update() as DRF's mixins, with the written version's ETag.
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.perform_create(serializer)
        headers = {**self.get_success_headers(serializer.data), "ETag": conditional.etag(serializer.instance)}
        return Response(serializer.data, status=status.HTTP_201_CREATED, headers=headers)

    def update(self, request, *args, **kwargs):
        serializer = self.get_serializer(self.get_object(), data=request.data, partial=kwargs.pop("partial", False))
        serializer.is_valid(raise_exception=True)
        self.perform_update(serializer)
        return Response(serializer.data, headers={"ETag": conditional.etag(serializer.instance)})

    def get_object(self):
        """The object, and for a write its If-Match checked (RFC 9110 §13.2.2: after the 404, before the body is
        read): a stale ETag is a 412 and nothing is written."""
        instance = super().get_object()
        if_match = self.request.headers.get("If-Match")
        if self.request.method in ("PUT", "PATCH", "DELETE") and if_match is not None:
            if not conditional.if_match_passes(if_match, conditional.etag(instance)):
                raise PreconditionFailed()
        return instance

    def if_updated_at(self, instance: Brand | Campaign) -> datetime | None:
        """The version a write must still find (the one read, which If-Match named), or None without If-Match or
        with `*`; the service puts it in the write's own WHERE, so a write in between makes this one a 412."""
        if_match = self.request.headers.get("If-Match")
        if if_match is None or conditional.is_any(if_match):
            return None
        return instance.updated_at

    def finalize_response(self, request, response, *args, **kwargs):
        """A GET whose If-None-Match names the current ETag is a 304 without a body (RFC 9110 §13.1.2, §15.4.5),
        with the ETag, Cache-Control and Vary a 200 would have; the page is still rendered and kept by cached_read,
        so the next request costs what a 200's would."""
        response = super().finalize_response(request, response, *args, **kwargs)
        if_none_match = request.headers.get("If-None-Match")
        etag = response.get("ETag") if response.status_code == 200 else None
        if request.method not in ("GET", "HEAD") or if_none_match is None or etag is None:
            return response
        if conditional.if_none_match_passes(if_none_match, etag):
            return response
        if isinstance(response, Response):
            response.render()
        not_modified = HttpResponseNotModified()
        for header in ("ETag", "Cache-Control", "Vary"):
            if header in response:
                not_modified[header] = response[header]
        return not_modified

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
        brand = serializer.instance
        serializer.instance = services.brand_update(
            brand=brand, if_updated_at=self.if_updated_at(brand), **serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.brand_delete(brand=instance, if_updated_at=self.if_updated_at(instance))


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
        # A plain dict, not the QueryDict: DRF reads a blank form value of an optional field as absent, and `?status=`
        # would list every campaign instead of being refused as the document says (like `?limit=`).
        filters = CampaignFilterSerializer(data=self.request.query_params.dict())
        if not filters.is_valid():
            raise ValidationError(filters.errors)
        params = filters.validated_data
        return selectors.campaign_list(vendor=self.vendor, brand_id=params.get("brand"), status=params.get("status"))

    def perform_create(self, serializer):
        serializer.instance = services.campaign_create(vendor=self.vendor, **serializer.validated_data)

    def perform_update(self, serializer):
        campaign = serializer.instance
        serializer.instance = services.campaign_update(
            campaign=campaign, if_updated_at=self.if_updated_at(campaign), **serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.campaign_delete(campaign=instance, if_updated_at=self.if_updated_at(instance))


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
