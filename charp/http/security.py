"""Content-Security-Policy on the HTML pages (the staff portal and the API docs); JSON responses need none."""

from django.conf import settings


class ContentSecurityPolicyMiddleware:
    """Adds CONTENT_SECURITY_POLICY to every text/html response that does not set its own."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.get("Content-Type", "").startswith("text/html"):
            response.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        return response
