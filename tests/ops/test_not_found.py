"""Unknown paths answer the API's JSON 404, in development (DEBUG, as under `make run`) as in production."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("debug", [True, False])
@pytest.mark.parametrize("method", ["get", "post", "delete"])
@pytest.mark.parametrize("path", ["/nope", "/auth/tokens", "/brands/1/extra", "/"])
def test_an_unknown_path_is_a_json_404(client, settings, debug, method, path):
    settings.DEBUG = debug

    response = getattr(client, method)(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": "not_found",
        "error_description": f"No endpoint at {path}. See /docs for the API reference.",
    }


def test_the_staff_portal_keeps_its_own_unknown_pages(client, settings):
    settings.DEBUG = True

    response = client.get("/admin/nope/")

    assert response.status_code == 302 and "/admin/login/" in response["Location"]
