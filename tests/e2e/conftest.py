"""Browser tests: Playwright (sync API) driving Debian's Chromium against pytest-django's live server."""

import importlib
import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.apps import apps

from tests.conftest import MANAGER_PERMS

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct-horse-battery-staple-42"

# Playwright's sync API keeps an asyncio loop in the test thread; Django would refuse ORM calls made beside it.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(autouse=True)
def plans(transactional_db):
    """Put back the plans that the data migration seeds: a transactional test starts from a flushed database.

    (serialized_rollback cannot do it here: while Playwright's loop runs, Django hands this thread a fresh
    connection object, which lacks the serialized data.)
    """
    importlib.import_module("vendors.migrations.0002_seed_plans").seed(apps, None)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("browser tests need Debian's Chromium at /usr/bin/chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need the playwright package")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(request, browser, live_server, tmp_path):
    """A fresh browser context on the live server; a screenshot of the last page is kept when the test fails."""
    context = browser.new_context(
        base_url=live_server.url,
        viewport={"width": 1280, "height": 860},
        permissions=["clipboard-read", "clipboard-write"],
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        page.screenshot(path=tmp_path / "failure.png", full_page=True)
    context.close()


@pytest.fixture
def screenshot(page, tmp_path):
    """Save the current page under the test's temporary directory, for a person to look at."""

    def take(name: str) -> Path:
        path = tmp_path / f"{name}.png"
        page.screenshot(path=path, full_page=True)
        return path

    return take


@pytest.fixture
def login(page):
    def log_in(user) -> None:
        page.goto("/admin/login/?next=/admin/")
        page.fill("#id_username", user.get_username())
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url("**/admin/")

    return log_in


@pytest.fixture
def manager(make_staff):
    return make_staff("dana.manager", *MANAGER_PERMS, password=PASSWORD)


@pytest.fixture
def viewer(make_staff):
    return make_staff("victor.viewer", "vendors.view_vendor", "vendors.view_auditevent", password=PASSWORD)


def _call(request: urllib.request.Request) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (the live server's http URL)
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


@pytest.fixture
def http(live_server):
    """Real HTTP calls to the live server, as a vendor's client makes them."""

    class Http:
        @staticmethod
        def token(client_id: str, client_secret: str) -> tuple[int, dict]:
            body = json.dumps({"client_id": client_id, "client_secret": client_secret}).encode()
            headers = {"Content-Type": "application/json"}
            return _call(urllib.request.Request(f"{live_server.url}/auth/token", body, headers, method="POST"))  # noqa: S310

        @staticmethod
        def brands(access_token: str) -> int:
            return Http.get("/brands", access_token)

        @staticmethod
        def get(path: str, access_token: str) -> int:
            headers = {"Authorization": f"Bearer {access_token}"}
            return _call(urllib.request.Request(f"{live_server.url}{path}", headers=headers))[0]  # noqa: S310

    return Http
