"""Staff personas for the admin tests: a credentials manager and a viewer, logged in with the test client."""

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
