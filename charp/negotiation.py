"""Content negotiation with a shortcut for the Accept headers nearly every client sends."""

from rest_framework.negotiation import DefaultContentNegotiation

# Accept headers (absent counts as "*/*") for which DRF's answer, given one JSON renderer, is always that renderer
# with "application/json": decided without parsing and ranking the header on every request.
COMMON_ACCEPT = frozenset({"*/*", "application/json", "application/json, */*", "application/*"})


class ContentNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        if (
            format_suffix is None
            and len(renderers) == 1
            and renderers[0].media_type == "application/json"
            and request.META.get("HTTP_ACCEPT", "*/*") in COMMON_ACCEPT
            and self.settings.URL_FORMAT_OVERRIDE not in request.META.get("QUERY_STRING", "")
        ):
            return renderers[0], "application/json"
        return super().select_renderer(request, renderers, format_suffix)
