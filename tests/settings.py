"""Test settings: the project's settings in explicit development mode, whatever the shell says about DEBUG."""

import os

os.environ["DEBUG"] = "true"
# Hermetic: a developer's .env (from `make run`) changes nothing here, nor in the processes the tests start.
os.environ["CHARP_ENV_FILE"] = ""

from charp.settings import *  # noqa: E402, F403

# The test process is one process, so its in-process cache versions are exact: keep the caches on, as in production.
AUTH_CACHE_SECONDS = READ_CACHE_SECONDS = 30
