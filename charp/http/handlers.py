"""Django's WSGI and ASGI handlers with a request that survives any Content-Type charset."""

import codecs

from django.core.handlers.asgi import ASGIHandler, ASGIRequest
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest
from django.utils.http import parse_header_parameters


def is_text_codec(name: str) -> bool | None:
    """True for a text encoding, False for another codec (zlib, base64, rot13, ...), None for an unknown name."""
    try:
        return codecs.lookup(name)._is_text_encoding
    except LookupError:
        return None


class TextCharsetOnly:
    """Ignores a Content-Type charset that names no text encoding, as Django ignores an unknown one.

    Django takes any name codecs.lookup() resolves; with `charset=zlib` and a query string it decodes the query string
    through that codec while building the request, and the LookupError escapes every middleware (a bare 500 from the
    server). DRF's parsers still refuse such a body with a 400 (charp/parsers.py).
    """

    def _set_content_type_params(self, meta):
        self.content_type, self.content_params = parse_header_parameters(meta.get("CONTENT_TYPE", ""))
        charset = self.content_params.get("charset")
        if charset is not None and is_text_codec(charset):
            self.encoding = charset


class Request(TextCharsetOnly, WSGIRequest):
    pass


class AsyncRequest(TextCharsetOnly, ASGIRequest):
    pass


class Handler(WSGIHandler):
    request_class = Request


class AsyncHandler(ASGIHandler):
    request_class = AsyncRequest
