"""Database errors are answered as a retryable 503 in the API's error shape, whichever layer meets them."""

import json

import pytest
from django.db import InterfaceError, OperationalError
from django.test import RequestFactory

from charp.http.errors import DatabaseUnavailableMiddleware, api_exception_handler, server_error


@pytest.mark.parametrize("exc", [OperationalError("connection refused"), InterfaceError("connection already closed")])
def test_drf_views_answer_a_database_error_with_a_503_and_retry_after(exc):
    response = api_exception_handler(exc, {})
    assert response.status_code == 503
    assert json.loads(response.content) == {
        "error": "service_unavailable",
        "error_description": "The service is briefly unavailable (its database is not answering). Retry in 5 s.",
    }
    assert response["Retry-After"] == "5"


def test_plain_django_views_answer_a_database_error_with_a_503():
    middleware = DatabaseUnavailableMiddleware(lambda request: None)
    request = RequestFactory().post("/auth/token")
    response = middleware.process_exception(request, OperationalError("server closed the connection unexpectedly"))
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert middleware.process_exception(request, ValueError("a bug")) is None


def test_an_error_escaping_a_middleware_is_a_503_only_when_it_is_the_database():
    request = RequestFactory().get("/admin/")
    try:
        raise OperationalError("connection refused")
    except OperationalError:
        assert server_error(request).status_code == 503
    try:
        raise ValueError("a bug")
    except ValueError:
        assert server_error(request).status_code == 500
