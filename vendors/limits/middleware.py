"""The rate-limit fields on every response of a counted request, and each known vendor's request in its request log
(written by this worker's background flusher, vendors/limits/flusher.py)."""

import time

from vendors.limits import flusher, plan, request_log


class RateLimitMiddleware:
    """Writes the rate-limit fields on every response of a limited request (429 and other errors included), takes
    back the count of a request answered 5xx (a 503 while the database is down is neither billed nor held against
    the plan's limits)."""

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
        return response


class RequestLogMiddleware:
    """Notes each request whose vendor the gate or the token endpoints identified in this worker's request log
    (vendors/limits/request_log.py): placed right after charp.http.logs.RequestLogMiddleware, so that the request has
    its ID and the latency counts nearly every middleware. It then wakes this worker's flusher when the log fills (or
    starts it): the request itself never writes."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started, clock = time.time(), time.perf_counter()
        token = request_log.vendor_var.set(None)
        try:
            response = self.get_response(request)
            vendor_id = request_log.vendor_var.get()
            if vendor_id is not None:
                seconds = time.perf_counter() - clock
                request_log.record(vendor_id, request, response, started=started, seconds=seconds)
            flusher.after_request()
            return response
        finally:
            request_log.vendor_var.reset(token)
