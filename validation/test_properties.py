"""The packaged validation tests (``revem.validation.test_properties``), collected from a checkout."""
from revem.validation.test_properties import *  # noqa: F401,F403
