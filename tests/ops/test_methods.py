"""OPTIONS and undeclared methods on every API path: OPTIONS is a bodiless 204 and a method the path does not take a
JSON 405, both with the same `Allow` as the path's other answers, without a token and before any CSRF check."""

import pytest
from django.test import Client
from django.urls import get_resolver
from django.urls.resolvers import URLResolver

API_PATHS = {
    "/brands": "GET, POST, HEAD, OPTIONS",
    "/brands/1": "GET, PUT, PATCH, DELETE, HEAD, OPTIONS",
    "/campaigns": "GET, POST, HEAD, OPTIONS",
    "/campaigns/1/": "GET, PUT, PATCH, DELETE, HEAD, OPTIONS",
    "/tools": "GET, HEAD, OPTIONS",
    "/tools/keywords": "POST, OPTIONS",
    "/tools/horoscope": "POST, OPTIONS",
    "/auth/token": "POST, OPTIONS",
    "/auth/refresh": "POST, OPTIONS",
    "/auth/revoke": "POST, OPTIONS",
    "/.well-known/oauth-authorization-server": "GET, HEAD, OPTIONS",
    "/healthz": "GET, HEAD, OPTIONS",
    "/readyz": "GET, HEAD, OPTIONS",
    "/api/schema": "GET, HEAD, OPTIONS",
}


@pytest.fixture
def browser(db):
    """A client that enforces CSRF like a browser's request would meet it, with a session cookie set."""
    client = Client(enforce_csrf_checks=True)
    client.cookies["sessionid"] = "x"
    return client


@pytest.mark.parametrize(("path", "allow"), API_PATHS.items())
def test_options_is_a_bodiless_204_whose_allow_lists_options(browser, path, allow):
    response = browser.options(path)
    assert response.status_code == 204, response.content
    assert response.content == b""
    assert "Content-Length" not in response  # RFC 9110 §8.6: never on a 204
    assert response["Allow"] == allow


@pytest.mark.parametrize(("path", "allow"), API_PATHS.items())
@pytest.mark.parametrize("method", ["QUERY", "TRACE", "PROPFIND"])
def test_an_undeclared_method_is_a_json_405_with_allow(browser, path, allow, method):
    response = browser.generic(method, path)
    assert response.status_code == 405, response.content
    assert response["Allow"] == allow
    assert response["Content-Type"] == "application/json"
    body = response.json()
    expected = "invalid_request" if path.startswith("/auth/") else "method_not_allowed"
    assert body["error"] == expected and method in body["error_description"], body


@pytest.mark.parametrize(("method", "path"), [("DELETE", "/brands"), ("POST", "/healthz"), ("GET", "/auth/token")])
def test_a_known_but_undeclared_method_agrees_with_allow(browser, method, path):
    response = browser.generic(method, path)
    assert response.status_code == 405
    assert response["Allow"] == API_PATHS[path]


def test_allow_on_an_ordinary_answer_is_the_same(as_vendor, free_vendor):
    response = as_vendor(free_vendor).get("/brands")
    assert response.status_code == 200 and response["Allow"] == API_PATHS["/brands"]


def test_the_staff_portal_and_unknown_paths_are_left_alone(browser):
    assert browser.generic("QUERY", "/nowhere").status_code == 404
    assert browser.options("/admin/login/").status_code != 204


@pytest.fixture
def top_level_resolves(monkeypatch):
    """The paths the root URL resolver is asked for; the included URLconfs' own (nested) resolves are not counted."""
    resolved = []
    original = URLResolver.resolve

    def resolve(self, path):
        if self is get_resolver():
            resolved.append(path)
        return original(self, path)

    monkeypatch.setattr(URLResolver, "resolve", resolve)
    return resolved


@pytest.mark.parametrize(
    ("method", "path"), [("OPTIONS", "/brands"), ("DELETE", "/brands"), ("QUERY", "/auth/token"), ("GET", "/brands")]
)
def test_a_request_resolves_its_url_once(as_vendor, free_vendor, top_level_resolves, method, path):
    # Django's own resolve is the only one: the answer is decided from its match, which the metrics read too.
    client = as_vendor(free_vendor)  # its token is issued by a request to /auth/token
    top_level_resolves.clear()
    response = client.generic(method, path)
    assert response.status_code == (200 if method == "GET" else 204 if method == "OPTIONS" else 405)
    assert top_level_resolves == [path]
