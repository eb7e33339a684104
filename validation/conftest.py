"""Validation harness: `pytest validation -k W --potential my_W.yace` (see revem/pytest_plugin.py)."""
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # before numpy loads BLAS
    os.environ.setdefault(_var, "1")

from revem.pytest_plugin import *  # noqa: E402,F401,F403  (hooks, options and the `revem` fixture)
