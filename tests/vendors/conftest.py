"""Staff personas for the admin tests: a credentials manager and a viewer, logged in with the test client."""

import html
import re

import pytest
from django.test import Client

from tests.conftest import MANAGER_PERMS, VIEWER_PERMS


@pytest.fixture
def manager(make_staff):
    return make_staff("manager", *MANAGER_PERMS)


@pytest.fixture
def viewer(make_staff):
    return make_staff("viewer", *VIEWER_PERMS)


@pytest.fixture
def manager_client(manager):
    client = Client()
    client.force_login(manager)
    return client


@pytest.fixture
def viewer_client(viewer):
    client = Client()
    client.force_login(viewer)
    return client


def rendered_version(body: str) -> str:
    """The vendor version a confirmation page carries in its hidden field (vendors.services.StaleAction)."""
    match = re.search(r'<input type="hidden" name="version" value="([^"]+)"', body)
    assert match, "the page carries no version"
    return html.unescape(match.group(1))


def confirm(client, url: str, data: dict | None = None, **kwargs):
    """Open a confirmation page as a browser does, then submit it (with the version it was rendered for)."""
    page = client.get(url)
    assert page.status_code == 200, (url, page.status_code)
    return client.post(url, {"version": rendered_version(page.content.decode()), **(data or {})}, **kwargs)
