"""Django's CommonMiddleware, without a Content-Length on the answers HTTP says have none."""

from django.middleware import common


class CommonMiddleware(common.CommonMiddleware):
    """Django's (trailing-slash and `www.` redirects, disallowed user agents, Content-Length), except on a 1xx, 204 or
    304 answer: RFC 9110 §8.6 forbids Content-Length on a 1xx or a 204, and allows it on a 304 only with the length
    the 200 would have had, where Django writes 0. Those are the OPTIONS answer, a DELETE's 204 and an If-None-Match
    revalidation's 304; gunicorn drops the header from a 204 itself, but not from a 304, and other servers from
    neither."""

    def process_response(self, request, response):
        response = super().process_response(request, response)
        if response.status_code < 200 or response.status_code in (204, 304):
            response.headers.pop("Content-Length", None)
        return response
