"""Test settings: the project's settings in explicit development mode, whatever the shell says about DEBUG."""

import os

os.environ["DEBUG"] = "true"

from charp.settings import *  # noqa: E402, F403
