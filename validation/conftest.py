"""Validation harness: `pytest validation -k W --potential my_W.yace` (see revem/pytest_plugin.py)."""
from revem.pytest_plugin import *  # noqa: F401,F403  (hooks, options and the `revem` fixture)
