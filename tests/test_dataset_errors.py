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
    assert de.family("fitsnap-WBe:BCC_ForceLib_W110") == "fitsnap-WBe:BCC_ForceLib"
    assert de.family("fitsnap-WBe:md_bulk") == de.family("fitsnap-WBe:EOS_Data") == "fitsnap-WBe"


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
