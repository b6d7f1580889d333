"""The Content-Security-Policy in a real browser: the docs and the staff portal render with no violation."""

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def violations(page):
    """Console errors and CSP violation reports, from page load on."""
    seen = []
    page.on("console", lambda message: seen.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: seen.append(f"pageerror: {error}"))
    page.on(
        "response",
        lambda response: seen.append(f"{response.status} {response.url}") if response.status >= 400 else None,
    )
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => console.error('CSP: ' + e.violatedDirective"
        " + ' ' + e.blockedURI));"
    )
    return seen


def test_the_redoc_docs_render_under_the_csp(page, violations, screenshot):
    response = page.goto("/docs")

    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector("text=Get an access token", state="attached")
    page.wait_for_selector("h1:has-text('Charp API')")
    page.wait_for_timeout(500)
    screenshot("docs-redoc")
    assert violations == [], violations


def test_the_swagger_docs_render_under_the_csp(page, violations, screenshot):
    response = page.goto("/docs/try")

    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector(".swagger-ui .info .title:has-text('Charp API')")
    page.wait_for_selector(".opblock-summary-path[data-path='/auth/token']")
    page.wait_for_timeout(500)
    screenshot("docs-swagger")
    assert violations == [], violations


def test_the_staff_portal_runs_under_the_csp(page, violations, login, manager):
    login(manager)
    for url in ("/admin/", "/admin/vendors/vendor/", "/admin/vendors/vendor/add/", "/admin/vendors/auditevent/"):
        response = page.goto(url)
        assert response.status == 200, url
        assert "content-security-policy" in response.headers
    # The admin has no favicon (a 404 that predates the CSP); only policy violations and script errors count here.
    blocked = [text for text in violations if "Security Policy" in text or text.startswith(("CSP:", "pageerror:"))]
    assert blocked == [], violations
