"""Tests of revem.validation.properties.md_stability: the pure analysis (Q6, g(r), Bragg order, melting index and
jumps, failure criteria) against independent computations, and the ramps on real potentials (LAMMPS-native W_zhou,
ASE's EMT for Cu) against independent physics (static pressure of the compressed crystal, a blow-up detected, the
AIMD liquid's g(r))."""
from __future__ import annotations

import math

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.units import GPa
from scipy.special import eval_legendre

from revem.validation.properties import md_stability as mds
from revem.validation.properties import md_stability_analysis as an
from revem.validation.properties.md_stability_plot import plot


def _q6_legendre(atoms, cutoff):
    """Independent Q6: the addition theorem, Q6^2 = 1/Nb^2 sum_{b,b'} P6(cos angle(b, b'))."""
    from ase.neighborlist import neighbor_list

    vec = neighbor_list("D", atoms, cutoff)
    u = vec / np.linalg.norm(vec, axis=1)[:, None]
    return math.sqrt(eval_legendre(6, np.clip(u @ u.T, -1, 1)).sum()) / len(u)


@pytest.mark.parametrize("lattice,a,cut_over_a,expected", [
    ("fcc", 3.6, 0.8, 0.5745),  # 12 neighbours
    ("bcc", 3.16, 1.1, 0.5106),  # 8 + 6 neighbours
    ("hcp", 2.5, 1.2, 0.4848),  # 12 neighbours, ideal c/a
])
def test_q6_of_perfect_crystals(lattice, a, cut_over_a, expected):
    atoms = bulk("X", lattice, a=a, cubic=lattice != "hcp") * (2, 2, 2)
    q6 = an.q6_global(atoms, cut_over_a * a)
    assert q6 == pytest.approx(_q6_legendre(atoms, cut_over_a * a), abs=1e-10)
    assert q6 == pytest.approx(expected, abs=2e-3)


def test_q6_and_bragg_order_of_a_random_gas_are_small():
    rng = np.random.default_rng(1)
    cell = np.eye(3) * 9.0
    gas = bulk("X", "bcc", a=3.0, cubic=True) * (3, 3, 3)
    crystal_s = gas.get_scaled_positions()
    gas.set_scaled_positions(rng.random((len(gas), 3)))
    gas.set_cell(cell, scale_atoms=True)
    assert an.q6_global(gas, 3.3) < 0.15
    vec = an.bragg_vectors(crystal_s, 6)
    assert len(vec) > 0 and an.bragg_order(crystal_s, vec) == pytest.approx(1.0)
    assert an.bragg_order(gas.get_scaled_positions(), vec) < 4 * math.sqrt(math.pi / 4 / len(gas))


def test_rdf_counts_the_fcc_shell_and_the_min_distance():
    a = 3.6
    atoms = bulk("X", "fcc", a=a, cubic=True) * (3, 3, 3)
    r, g = an.rdf([atoms], 3.0, 0.05)
    rho = len(atoms) / atoms.get_volume()
    shells = 4 * np.pi * r ** 2 * 0.05
    assert (g * rho * shells).sum() == pytest.approx(12.0, rel=1e-3)  # coordination number of the first shell
    assert an.first_peak(r, g)[0] == pytest.approx(a / math.sqrt(2), abs=0.05)
    assert an.min_distance(atoms.positions, atoms.cell.array) == pytest.approx(a / math.sqrt(2), rel=1e-9)
    # an ideal gas: g = 1 within its counting noise
    rng = np.random.default_rng(3)
    gas = [Atoms("X" * 150, positions=rng.random((150, 3)) * 10.0, cell=np.eye(3) * 10.0, pbc=True)
           for _ in range(6)]
    r, g = an.rdf(gas, 4.5, 0.5)
    assert np.mean(g[r > 1.5]) == pytest.approx(1.0, abs=0.03)
    assert an.rdf_rmse(g, g) == 0.0


def test_melting_index_and_jump():
    assert an.melting_index([0.5, 0.45, 0.1, 0.3, 0.1, 0.05], 0.2) == 4  # order lost for good at index 4
    assert an.melting_index([0.5, 0.4], 0.2) is None and an.melting_index([], 0.2) is None
    x = np.arange(20.0)
    y = np.where(x < 10, 1.0 + 0.1 * x, 3.0 + 0.1 * x)
    lo, hi = an.jump(x, y, 10, 5)
    assert hi - lo == pytest.approx(2.0)
    assert all(math.isnan(v) for v in an.jump(x, y, 1, 5))


def test_failure_criteria():
    s = mds.settings("smoke")
    ok = {"T_K": 500.0, "pe_eV_per_atom": -8.8, "V_A3_per_atom": 16.0, "P_GPa": 1.0, "r_min_A": 2.5}
    kw = {"kind": "heating", "e0": -8.9, "v0": 16.0, "t_target": 500.0}
    assert mds.check(ok, s, **kw) is None
    assert mds.check({**ok, "pe_eV_per_atom": math.nan}, s, **kw)[0] == mds.EXPLODED
    assert mds.check({**ok, "r_min_A": 0.4}, s, **kw)[0] == mds.COLLAPSED
    assert mds.check({**ok, "T_K": 2000.0}, s, **kw)[0] == mds.EXPLODED  # runaway (sustained)
    assert mds.check({**ok, "T_K": 2000.0}, s, **kw, hot_for_ps=0.1) is None  # a spike shorter than 3 tdamp
    assert mds.check({**ok, "T_K": 2000.0}, s, **kw, hot_for_ps=0.3)[0] == mds.EXPLODED
    assert mds.check({**ok, "pe_eV_per_atom": -10.5}, s, **kw)[0] == mds.COLLAPSED  # a hole
    assert mds.check({**ok, "V_A3_per_atom": 40.0}, s, **kw)[0] == mds.EXPLODED
    assert mds.check({**ok, "V_A3_per_atom": 10.0}, s, **kw)[0] == mds.COLLAPSED
    comp = {"kind": "compression", "e0": -8.9, "v0": 16.0, "t_target": 300.0}
    assert mds.check({**ok, "V_A3_per_atom": 12.0, "P_GPa": 100.0}, s, **comp, p_max=120.0) is None
    assert mds.check({**ok, "V_A3_per_atom": 12.0, "P_GPa": 40.0}, s, **comp, p_max=120.0)[0] == mds.COLLAPSED
    assert mds.classify_error("ERROR: Neighbor list overflow, boost neigh_modify one")[0] == mds.COLLAPSED
    assert mds.classify_error("ERROR: Lost atoms: original 16 current 15")[0] == mds.EXPLODED


def test_cases_and_time_step_scale_with_mass():
    assert mds.cases("W", "smoke") == ["heating", "compression"]
    assert mds.cases("Cu", "standard") == ["heating", "compression", "liquid_3000K"]
    w, cu = mds.element_settings("standard", "W"), mds.element_settings("standard", "Cu")
    assert cu["dt_fs"] == pytest.approx(w["dt_fs"] / 2) and cu["tdamp_fs"] == pytest.approx(w["tdamp_fs"] / 2)


@pytest.fixture(scope="module")
def zhou(target):
    pytest.importorskip("lammps")
    return target("W_zhou")


def test_compression_reaches_half_volume_at_the_static_pressure(zhou):
    """W_zhou (LAMMPS fix deform) reaches 0.5 V0 without failing; the pressure there is the static pressure of the
    perfect crystal at that volume (ASE calculator, independent of the MD) plus a small thermal pressure: within 5 %."""
    res = mds.compression(zhou, "W", "smoke")
    assert res["backend"] == "lammps" and res["failure"] is None
    assert res["reach"] == pytest.approx(0.5, abs=0.01)
    v_end = res["samples"][-1]["V_A3_per_atom"]
    atoms = bulk("W", "bcc", a=(2 * v_end) ** (1 / 3), cubic=True)
    atoms.calc = zhou.calculator()
    p_static = -np.trace(atoms.get_stress(voigt=False)) / 3 / GPa
    assert p_static > 300
    assert res["P_end_GPa"] == pytest.approx(p_static, rel=0.05)
    r_min = [x["r_min_A"] for x in res["samples"]]
    assert min(r_min) > 1.5 and r_min[-1] < r_min[0]


def test_a_blow_up_is_a_failure(zhou):
    """A 40 fs step on W at 2000 K is far beyond the Verlet limit (nve: ~10 fs): the run stops with a red flag."""
    s = {**mds.element_settings("smoke", "W"), "dt_fs": 40.0}
    atoms, e0, v0, d_nn = mds._crystal(zhou, "W", "smoke")
    plan = mds._plan("heating", s, 300, 30, [(0, 2000.0), (1, 2000.0)])
    res = mds.run_ramp(zhou, atoms, plan, s, e0=e0, v0=v0, d_nn=d_nn)
    assert res["failure"] is not None and res["failure"][0] in (mds.EXPLODED, mds.COLLAPSED)
    assert len(res["samples"]) < 30


def test_heating_ramp_melts_w_zhou_above_t_m(zhou):
    """Standard ramp, 54 atoms: the crystal melts on the ramp, superheated (order lost above T_m; measured 1.76 T_m),
    the volume and enthalpy jump up at melting (latent heat and volume of fusion positive), the hot liquid's first
    g(r) peak lies near the nearest-neighbour distance of bcc W (2.74 Å), within 0.3 Å."""
    res = mds.heating(zhou, "W", "standard")
    assert res["failure"] is None and res["reach_K"] == pytest.approx(2 * res["T_m_K"])
    assert res["T_melt_K"] is not None and res["T_melt_K"] > res["T_m_K"]
    assert res["dH_melt_eV_per_atom"] > 0 and res["dV_melt_pct"] > 0
    assert res["gr_hot"]["peak_A"] == pytest.approx(2.74, abs=0.3)


@pytest.mark.slow
def test_cu_liquid_against_mlearn_aimd(target, data_dir):
    """Cu_mishin1 (LAMMPS Langevin NVT) at the mlearn AIMD liquid's 3000 K and density: its g(r) matches the AIMD
    one's first peak within 0.1 Å and the curve within an RMS of 0.3 (the EAM is fitted to the crystal, not the
    liquid; measured 0.08)."""
    pytest.importorskip("lammps")
    t = target("Cu_mishin1")
    out = mds.PROTOCOL.run(t, "Cu", "liquid_3000K", "standard")
    m = {x.quantity: x for x in out}
    assert m["gr_rmse"].failure is None and m["gr_rmse"].value < 0.3
    assert m["gr_peak_A"].value == pytest.approx(m["gr_peak_A"].refs[0].value, abs=0.1)


def test_protocol_records_and_plots(zhou, tmp_path):
    out = mds.PROTOCOL.run(zhou, "W", "compression", "smoke") + mds.PROTOCOL.run(zhou, "W", "heating", "smoke")
    q = {m.quantity: m for m in out}
    assert {"compression_reach", "P_end_GPa", "heating_reach_K", "T_melt_ramp_K"} <= set(q)
    assert all(m.policy == "reported" for m in out)
    recs = [{"quantity": m.quantity, "value": m.value, "data": m.data, "element": "W", "potential": "W_zhou",
             "case": c} for m, c in ((q["compression_reach"], "compression"), (q["heating_reach_K"], "heating"))]
    paths = plot(recs, tmp_path)
    assert len(paths) == 2 and all(p.exists() and p.stat().st_size > 1000 for p in paths)


def test_order_lost_only_in_the_last_samples_is_not_melting():
    """A ramp whose Q6 dips below the threshold only in its last sample(s) has no melting point (noted, not counted);
    lost for min_melt_samples samples it has one, at the first of them."""
    from ase.build import bulk

    from revem.validation.properties import md_stability as mds

    crystal = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    s = mds.merge_settings(mds.DEFAULTS, mds.TIER_SETTINGS, "standard")

    def ramp(q6):
        n = len(q6)
        return {"samples": [{"T_set_K": 300.0 + 100 * k, "T_K": 300.0 + 100 * k, "q6": q, "bragg": 1.0,
                             "V_A3_per_atom": 16.0 + 0.01 * k, "pe_eV_per_atom": -8.0 + 0.01 * k} for k, q in enumerate(q6)],
                "frames": [crystal] * n}

    late = mds.analyse_heating(ramp([0.5] * 19 + [0.1]), s, tm=1000.0, v0=16.0, d_nn=2.55)
    assert late["T_melt_K"] is None and "not counted as melting" in late["notes"][0]
    melted = mds.analyse_heating(ramp([0.5] * 17 + [0.1] * 3), s, tm=1000.0, v0=16.0, d_nn=2.55)
    assert melted["melt_index"] == 17 and melted["T_melt_K"] is not None
