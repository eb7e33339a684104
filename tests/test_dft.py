"""The GPAW setup used for DFT references, checked against WIEN2k (ase's dcdft) and the stored DFT EOS.

* ``test_recorded_setup_*``: the numbers GPAW produced (``revem/validation/reference_data/W/dft_setup_gpaw.json``)
  pass the check; runs everywhere (the stored-EOS part needs REVEM_DATA_DIR).
* ``test_gpaw_*``: run GPAW again; skipped with the install line where GPAW is not installed.
  The full E(V) check is marked ``slow`` (minutes on one core).
"""
import json
import os

import pytest

from revem.datasets import dft
from revem.validation.references import REFERENCE_DIR

RECORD = REFERENCE_DIR / "W" / "dft_setup_gpaw.json"
needs_gpaw = pytest.mark.skipif(not dft.is_available(), reason=dft.INSTALL_HINT)


def _record():
    if not RECORD.is_file():
        pytest.skip(f"{RECORD} not committed yet (python -m revem.validation.references_build.paths setup)")
    return json.loads(RECORD.read_text())


def test_recorded_setup_matches_dcdft():
    from revem.validation.references_build.paths import evaluate

    rec = _record()
    res = evaluate(rec["eos"], "W")
    assert res["V0_bcc"]["passed"], res["V0_bcc"]
    assert res["B0_bcc"]["passed"], res["B0_bcc"]
    for k in ("xc", "ecut_eV", "kpts_density_per_A", "smearing_width_eV", "gpaw_version", "paw_setups"):
        assert k in rec["provenance"]
    # the record was made with the settings the runner uses now
    assert rec["provenance"]["ecut_eV"] == dft.DFTSettings().ecut_eV
    assert rec["provenance"]["kpts_density_per_A"] == dft.DFTSettings().kpts_density_per_A


@pytest.mark.needs_data
def test_recorded_setup_matches_stored_eos():
    from revem.data import DataUnavailable
    from revem.validation.references_build.paths import evaluate, stored_eos

    rec = _record()
    try:
        stored = stored_eos()
    except DataUnavailable as exc:
        pytest.skip(str(exc))
    res = evaluate(rec["eos"], "W", stored)
    for k in ("dE_fcc_bcc", "dE_A15_bcc"):
        assert res[k]["passed"], res[k]


def test_eos_fit_warns_outside_range():
    import numpy as np

    v = np.linspace(14, 15, 5)
    with pytest.warns(RuntimeWarning, match="outside the sampled range"):
        dft.eos_fit(v, 0.5 * (v - 16.0) ** 2 / 100)


def test_missing_gpaw_message():
    assert "pip install 'revem[dft]'" in dft.INSTALL_HINT and "libxc-dev" in dft.INSTALL_HINT


@needs_gpaw
def test_gpaw_reproduces_recorded_point():
    """One bcc W point (1 atom, ~15 s): GPAW here gives the recorded energy within 1 meV/atom."""
    rec = _record()
    bcc = rec["eos"]["bcc"]
    i = len(bcc["volumes_A3_per_atom"]) // 2
    e = dft.energy_volume(dft.gpaw_calculator(), "W", "bcc", [bcc["volumes_A3_per_atom"][i]])[0]
    assert e == pytest.approx(bcc["energies_eV_per_atom"][i], abs=1e-3)


@needs_gpaw
@pytest.mark.slow
def test_gpaw_bcc_w_matches_dcdft():
    """bcc W with the default settings: V0 within 1 % and B0 within 5 % of WIEN2k (dcdft); ~2–4 min."""
    from revem.validation.references_build.paths import evaluate

    setup = dft.setup_check(dft.gpaw_calculator(), "W", structures=("bcc",))
    res = evaluate(setup, "W")
    assert res["V0_bcc"]["passed"], res["V0_bcc"]
    assert res["B0_bcc"]["passed"], res["B0_bcc"]


@needs_gpaw
@pytest.mark.slow
@pytest.mark.needs_data
@pytest.mark.skipif(not os.environ.get("REVEM_DATA_DIR"), reason="REVEM_DATA_DIR unset: no stored DFT EOS data")
def test_gpaw_structure_differences_match_stored_eos():
    """fcc−bcc and A15−bcc (EOS minima) within 30 meV/atom of the stored VASP PBE EOS data; ~10 min."""
    from revem.validation.references_build.paths import evaluate, stored_eos

    setup = dft.setup_check(dft.gpaw_calculator(), "W")
    res = evaluate(setup, "W", stored_eos())
    for k in ("dE_fcc_bcc", "dE_A15_bcc"):
        assert res[k]["passed"], res[k]


@needs_gpaw
def test_gpaw_cold_curve_builder_reproduces_a_stored_point_and_a_direct_calculation(tmp_path):
    """The cold-curve builder (structures -> ``revem label --dft`` journal -> reference file) on a 5-volume fcc Al
    grid: its energies equal a GPAW calculation made here without the builder (same settings, same cell) to
    1e-6 eV/atom, and its V0 point equals the stored reference's (cold_curves_gpaw.json) to 1 meV/atom."""
    import numpy as np

    from revem.validation.properties import cold_curves as cc
    from revem.validation.references_build import cold_curves as build

    grid = (0.8, 0.9, 1.0, 1.15, 1.3)
    [path] = build.run(["Al"], tmp_path / "work", tmp_path / "refs", grid=grid, lattices=("fcc",), log=lambda *a: None)
    doc = json.loads(path.read_text())
    curve = next(r["curve"] for r in doc["references"] if "curve" in r)
    assert curve["x"] == list(grid) and curve["E_rel"][2] == 0.0
    v0 = doc["provenance"]["V0_anchor_A3_per_atom"]
    at = cc.cell("Al", "fcc", 1.15 * v0)
    at.calc = dft.gpaw_calculator(dft.DFTSettings(kpts_density_per_A=build.KPTS_DENSITY_PER_A))()
    e115 = at.get_potential_energy() / len(at)
    at0 = cc.cell("Al", "fcc", v0)
    at0.calc = dft.gpaw_calculator(dft.DFTSettings(kpts_density_per_A=build.KPTS_DENSITY_PER_A))()
    assert curve["E_rel"][3] == pytest.approx(e115 - at0.get_potential_energy() / len(at0), abs=1e-6)
    stored = cc.reference_curve("Al", "fcc")
    if stored is not None:
        k = stored["x"].index(1.15)
        assert stored["E_rel"][k] == pytest.approx(curve["E_rel"][3], abs=1e-3)
    assert np.isfinite(doc["provenance"]["V0_gpaw_fit_A3_per_atom"])
