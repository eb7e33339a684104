"""Resident memory of a generator worker stays flat (LAMMPS compute snap re-allocates its global
array at every run set-up without freeing it; the featurizer avoids the set-up, see
LammpsSnapFeaturizer's docstring)."""
import os

import numpy as np
import pytest

from revem.generator.featurizer import LammpsSnapFeaturizer

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _cell(n, seed):
    rng = np.random.default_rng(seed)
    L = (15.9 * n) ** (1 / 3)
    cell = np.array([[L, 0, 0], [0.3, L, 0], [-0.4, 0.2, L]])
    return cell, rng.random((n, 3)) @ cell


def test_rss_flat_over_hundreds_of_gradient_evaluations():
    """300 gradient evaluations of 20-atom cells (the leak was 1.2 MB each: 360 MB) in the
    pattern of a run: a new structure every 30 evaluations, features-only scoring in between."""
    f = LammpsSnapFeaturizer()
    try:
        cell, pos = _cell(20, 0)
        f.set_structure(cell, pos, 2.1)
        for k in range(20):  # warm-up: allocator pools, neighbour bins, numpy buffers
            f.evaluate(pos + 1e-3 * k)
        before = rss_mb()
        rng = np.random.default_rng(1)
        for s in range(10):
            cell, pos = _cell(20, s + 1)
            f.set_structure(cell, pos, 2.1)
            for k in range(30):
                ev = f.evaluate(pos + rng.normal(scale=0.05, size=pos.shape), gradient=True)
            f.evaluate(pos, gradient=False)
        grown = rss_mb() - before
    finally:
        f.close()
    assert ev.jacobian.shape == (20, 20, 3, 55)
    assert grown < 25, f"resident memory grew by {grown:.1f} MB over 300 gradient evaluations"
