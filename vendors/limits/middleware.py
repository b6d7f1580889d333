"""The rate-limit fields on every response of a counted request, and this worker's turn at flushing usage."""

from vendors.limits import metering, plan


class RateLimitMiddleware:
    """Writes the rate-limit fields on every response of a limited request (429 and other errors included), takes
    back the count of a request answered 5xx (a 503 while the database is down is neither billed nor held against
    the plan's limits), and gives this worker its turn at flushing usage counts to the database."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        standing = getattr(request, "plan_standing", None)
        if standing is not None:
            if response.status_code >= 500:
                plan.refund(standing)
            for name, value in standing.headers().items():
                response[name] = value
        metering.flush_if_due()
        return response
