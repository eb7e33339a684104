"""Unit tests of revem.validation.properties.dataset_errors (pure metrics; the fast reader on real data if present)."""
import math

import numpy as np
import pytest

from revem.data import available
from revem.validation.properties import dataset_errors as de


def test_offset_is_median_and_metrics():
    e_dft = np.array([-8.9, -8.8, -8.0, -6.5])  # eV/atom
    e_pot = e_dft - 2.0 + np.array([0.0, 0.01, -0.02, 0.5])
    off = de.energy_offset(e_dft, e_pot)
    assert off == pytest.approx(2.0 - 0.005)
    ev = {"e_dft": e_dft, "e_pot": e_pot, "f_err": [np.array([0.1, -0.1, 0.0]), None, np.array([0.2, 0.2, 0.2]), None]}
    m = de.metrics(ev, off, e_dft.min())
    eps = e_pot + off - e_dft
    assert m["rmse_E"] == pytest.approx(1e3 * np.sqrt(np.mean(eps ** 2)))
    assert m["mae_E_1eV"] == pytest.approx(1e3 * np.mean(np.abs(eps[:3])))  # -6.5 is 2.4 eV above E_min
    assert m["n_frames_1eV"] == 3 and m["n_frames_2eV"] == 3 and m["n_frames"] == 4
    assert m["rmse_F"] == pytest.approx(1e3 * np.sqrt(np.mean(np.r_[0.1, -0.1, 0.0, 0.2, 0.2, 0.2] ** 2)))
    assert m["mae_F_1eV"] == pytest.approx(1e3 * np.mean([0.1, 0.1, 0.0, 0.2, 0.2, 0.2]))
    assert math.isnan(de.rmse([]))


def test_select_is_deterministic_and_bounded():
    a = de.select(6183, 20, "fitsnap-WBe:gamma_surface")
    assert len(a) == 20 and len(set(a)) == 20 and np.all(np.diff(a) > 0) and a.max() < 6183
    assert np.array_equal(a, de.select(6183, 20, "fitsnap-WBe:gamma_surface"))
    assert not np.array_equal(a, de.select(6183, 20, "fitsnap-WBe:vacancy"))
    assert np.array_equal(de.select(5, 20, "x"), np.arange(5)) and len(de.select(50, None, "x")) == 50


def test_cases_and_families_for_W():
    files = de.group_files("W")
    assert files["fitsnap-WBe:EOS_Data"] == "fitsnap-WBe/W/EOS_Data.extxyz.gz"
    assert "fitsnap-WBe:gamma_surface_rigid" not in files  # duplicate subset
    assert not any(c.startswith("gbdb") for c in files)
    cs = de.cases("W", "standard")
    assert "fitsnap-WBe:all" in cs and "maml-MoNbTaW:all" in cs and "mp-elements:all" not in cs
    assert de.family("W", "fitsnap-WBe:BCC_ForceLib_W110") == "fitsnap-WBe:BCC_ForceLib"  # from the element data
    assert de.family("W", "fitsnap-WBe:md_bulk") == de.family("W", "fitsnap-WBe:EOS_Data") == "fitsnap-WBe"


def test_cases_for_every_element_with_dft_groups():
    cu = de.cases("Cu", "smoke")
    assert {"mlearn:AIMD-NVT", "mlearn:Vacancy", "mlearn:all", "mp-elements:Cu"} <= set(cu)
    assert de.cases("Al", "standard") == ["mp-elements:Al"]  # the MP polymorph energies alone
    assert "fitsnap-WBe:StackFaults" in de.cases("Be", "standard") and "fitsnap-WBe:all" in de.cases("Be", "standard")
    assert de.family("Be", "fitsnap-WBe:EOS_BCC") == "fitsnap-WBe"  # no exception for Be
    assert de.cases("Xe", "standard") == []  # nothing stored: nothing to evaluate


@pytest.mark.skipif(not available("mlearn/Cu/Vacancy.extxyz.gz"), reason="REVEM_DATA_DIR not set")
def test_emt_on_mlearn_cu(target):
    """ASE's EMT (an ASE calculator object) on 3 frames of each mlearn Cu group: every number reported, the
    pooled case's errors consistent with its groups', RMSE ≥ MAE."""
    from ase.calculators.emt import EMT

    emt = target(EMT)
    ms = {m.quantity: m for m in de.PROTOCOL.run(emt, "Cu", "mlearn:Vacancy", "smoke")}
    assert all(m.policy == "reported" for m in ms.values())
    assert ms["rmse_E"].value >= ms["mae_E"].value > 0 and ms["rmse_F"].value >= ms["mae_F"].value > 0
    assert "3 frames" in ms["rmse_E"].note
    pooled = {m.quantity: m.value for m in de.PROTOCOL.run(emt, "Cu", "mlearn:all", "smoke")}
    groups = [c for c in de.cases("Cu", "smoke") if c.startswith("mlearn:") and c != "mlearn:all"]
    per = [de.compute(emt, "Cu", c, "smoke") for c in groups]
    # the groups share one energy zero (one family): the pooled MAE is the frame-weighted mean of theirs
    n = np.array([p["n_frames"] for p in per])
    assert pooled["mae_E"] == pytest.approx(np.sum(n * [p["mae_E"] for p in per]) / n.sum(), rel=1e-9)


@pytest.mark.skipif(not available("fitsnap-WBe/W/EOS_Data.extxyz.gz"), reason="REVEM_DATA_DIR not set")
def test_fast_reader_matches_ase_read():
    from revem.data import read_frames

    name = "fitsnap-WBe/W/EOS_Data.extxyz.gz"
    ref = read_frames(name)
    idx = [0, 57, 124]
    got = de.read_selected(name, idx)
    for k, at in zip(idx, got):
        assert at.get_chemical_symbols() == ref[k].get_chemical_symbols()
        np.testing.assert_allclose(at.positions, ref[k].positions)
        assert at.get_potential_energy() == ref[k].get_potential_energy()
        np.testing.assert_allclose(at.get_forces(), ref[k].get_forces())
    np.testing.assert_allclose(de.frame_energies(name), [a.get_potential_energy() / len(a) for a in ref])
