"""Security headers: a CSP on HTML pages, nosniff everywhere, HTTPS redirects except for the health probes."""

import pytest

from charp.settings import CONTENT_SECURITY_POLICY


@pytest.mark.django_db
def test_the_docs_and_the_admin_login_carry_the_content_security_policy(client):
    for path in ("/docs", "/docs/try", "/admin/login/"):
        response = client.get(path)

        assert response.status_code == 200, path
        csp = response["Content-Security-Policy"]
        assert csp == CONTENT_SECURITY_POLICY
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.django_db
def test_api_json_responses_have_nosniff_but_no_csp(client, free_vendor):
    responses = [
        client.get("/brands"),
        client.post("/auth/token", {"client_id": "nobody", "client_secret": "wrong"}, content_type="application/json"),
        client.get("/healthz"),
        client.get("/api/schema"),
    ]
    for response in responses:
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "Content-Security-Policy" not in response
        # No session machinery outside the staff portal (charp/http/staff_only.py).
        assert "Cookie" not in response.get("Vary", "") and not response.cookies


@pytest.mark.django_db
def test_the_staff_portal_keeps_its_session_and_csrf_cookies(client):
    login = client.get("/admin/login/")
    assert "csrftoken" in login.cookies
    assert "Cookie" in login["Vary"]


def test_the_secret_page_has_no_inline_script():
    from django.template.loader import get_template

    source = get_template("admin/vendors/vendor/secret_issued.html").template.source
    assert "<script>" not in source
    assert "vendors/admin/copy.js" in source


@pytest.mark.django_db
def test_plain_http_is_redirected_except_for_the_health_probes(client, settings):
    settings.SECURE_SSL_REDIRECT = True

    assert client.get("/brands").status_code == 301
    assert client.get("/admin/login/").status_code == 301
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/brands", headers={"X-Forwarded-Proto": "https"}).status_code == 401
