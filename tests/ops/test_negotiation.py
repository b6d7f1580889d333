"""The content-negotiation shortcut gives exactly DRF's answer, including its refusals."""

import pytest
from django.http import Http404
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from charp.negotiation import COMMON_ACCEPT, ContentNegotiation

ACCEPTS = [None, *COMMON_ACCEPT, "text/html", "application/json; indent=4", "application/xml", "*/*;q=0.1", ""]


def answer(negotiation, accept, query=""):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    request = Request(APIRequestFactory().get(f"/brands{query}", **headers))
    try:
        renderer, media_type = negotiation.select_renderer(request, [JSONRenderer()])
    except (NotAcceptable, Http404) as exc:  # Http404: an unknown ?format=
        return type(exc).__name__
    return type(renderer).__name__, media_type


@pytest.mark.parametrize("accept", ACCEPTS)
@pytest.mark.parametrize("query", ["", "?format=json", "?format=xml", "?limit=5"])
def test_the_shortcut_answers_as_drf_does(accept, query):
    assert answer(ContentNegotiation(), accept, query) == answer(DefaultContentNegotiation(), accept, query)
