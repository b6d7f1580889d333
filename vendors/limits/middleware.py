"""The rate-limit fields on every response of a counted request, and this worker's turn at flushing usage."""

from vendors.limits import metering


class RateLimitMiddleware:
    """Writes the rate-limit fields on every response of a limited request (429 and other errors included), and
    gives this worker its turn at flushing usage counts to the database."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        standing = getattr(request, "plan_standing", None)
        if standing is not None:
            for name, value in standing.headers().items():
                response[name] = value
        metering.flush_if_due()
        return response
