"""Request parsers that turn every malformed body into a 400, never a 500."""

from django.utils.http import parse_header_parameters
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from charp.http.handlers import is_text_codec


class JSONParser(parsers.JSONParser):
    """DRF's strict JSON parser, also refusing JSON nested too deeply for Python's parser (a RecursionError)."""

    def parse(self, stream, media_type=None, parser_context=None):
        charset = parse_header_parameters(media_type or "")[1].get("charset")
        if charset is not None and is_text_codec(charset) is False:
            # The request no longer carries such a charset (charp/handlers.py), so DRF would decode as UTF-8; refuse
            # it as DRF did: decoding through zlib or bz2 would inflate the body past the size limit.
            raise ParseError(f'Unsupported charset "{charset}" in request Content-Type header.')
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the document is nested too deeply.") from None
