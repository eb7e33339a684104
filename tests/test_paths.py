"""Unit tests of the transformation-path protocol (revem.validation.properties.paths) and its reference runner."""
import json
import math

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.lj import LennardJones

from revem.validation.properties import paths as P
from revem.validation.references import REFERENCE_DIR

V = 16.1  # Å^3/atom


def _spacegroup(atoms):
    import spglib

    return spglib.get_symmetry_dataset((atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers),
                                       symprec=1e-5).international


@pytest.mark.parametrize("path", P.PATHS)
def test_constant_volume(path):
    for p in P.DEFAULTS[f"p_{path}"]:
        at = P.path_atoms("W", path, p, V)
        assert at.get_volume() / len(at) == pytest.approx(V, rel=1e-12)


@pytest.mark.parametrize("path,p,sg", [
    ("tetragonal", 1.0, "Im-3m"), ("tetragonal", math.sqrt(2), "Fm-3m"), ("tetragonal", 1.2, "I4/mmm"),
    ("trigonal", 1.0, "Im-3m"), ("trigonal", 2.0, "Pm-3m"), ("trigonal", 4.0, "Fm-3m"), ("trigonal", 3.0, "R-3m"),
    ("orthorhombic", 1.0, "Im-3m"), ("orthorhombic", 2 ** 0.25, "I4/mmm"), ("orthorhombic", math.sqrt(2), "Im-3m"),
    ("orthorhombic", 1.1, "Fmmm"), ("hexagonal", 0.0, "Im-3m"), ("hexagonal", 1.0, "P6_3/mmc"),
    ("hexagonal", 0.5, "Cmcm"),
])
def test_special_points(path, p, sg):
    assert _spacegroup(P.path_atoms("W", path, p, V)) == sg


def _lj():
    return LennardJones(sigma=2.5, epsilon=0.5, rc=7.0, smooth=True)


def _e(atoms):
    atoms.calc = _lj()
    return atoms.get_potential_energy() / len(atoms)


def test_special_energies_equal_the_structures():
    """A real (LJ) calculator gives the same energy on the path as on the ase.build structure."""
    fcc = _e(bulk("W", "fcc", a=(4 * V) ** (1 / 3)))
    sc = _e(bulk("W", "sc", a=V ** (1 / 3)))
    a = (4 * V / math.sqrt(3) / math.sqrt(8 / 3)) ** (1 / 3)
    hcp = _e(bulk("W", "hcp", a=a, c=math.sqrt(8 / 3) * a))
    assert _e(P.path_atoms("W", "tetragonal", math.sqrt(2), V)) == pytest.approx(fcc, abs=1e-9)
    assert _e(P.path_atoms("W", "trigonal", 4.0, V)) == pytest.approx(fcc, abs=1e-9)
    assert _e(P.path_atoms("W", "trigonal", 2.0, V)) == pytest.approx(sc, abs=1e-9)
    assert _e(P.path_atoms("W", "hexagonal", 1.0, V)) == pytest.approx(hcp, abs=1e-9)


def test_orthorhombic_symmetry_and_curve():
    for p in (1.05, 1.1, 1.15):
        assert _e(P.path_atoms("W", "orthorhombic", p, V)) == pytest.approx(
            _e(P.path_atoms("W", "orthorhombic", math.sqrt(2) / p, V)), abs=1e-9)
    cur = P.path_curve("W", "tetragonal", V, _lj)
    assert cur["p"] == sorted(cur["p"]) and cur["E_meV"][cur["p"].index(1.0)] == 0.0


def test_metrics():
    p = np.linspace(0, 1, 11)
    e = 300 - 1000 * (p - 0.43) ** 2
    m = P.metrics("hexagonal", p, e)
    assert m["p_max"] == pytest.approx(0.43, abs=1e-9) and m["E_path"] == pytest.approx(300, abs=1e-9)
    assert [x["kind"] for x in m["extrema"]] == ["max"]
    assert P.metrics("tetragonal", p, p)["p_max"] == 1.0  # monotonic: the end point
    # orthorhombic: folded onto p <= 2^(1/4)
    po = np.geomspace(1, math.sqrt(2), 11)
    assert P.metrics("orthorhombic", po, -np.abs(np.log(po) - np.log(2 ** 0.25)))["p_max"] == pytest.approx(2 ** 0.25)
    assert P.rmse([0, 3, 4], [0, 0, 0]) == pytest.approx(math.sqrt(25 / 3))


def test_reference_cli_rejects_module_without_reference_entries(capsys):
    from revem.validation.reference_cli import main

    assert main(["reference", "compute", "robustness", "--element", "W"]) == 2
    assert "reference_entries" in capsys.readouterr().err


REF_FILE = REFERENCE_DIR / "W" / "paths_gpaw.json"


@pytest.mark.skipif(not REF_FILE.is_file(), reason=f"{REF_FILE.name} not committed")
def test_committed_reference_is_consistent():
    """Provenance present; E_path and p_max are the metrics of the stored DFT curve."""
    doc = json.loads(REF_FILE.read_text())
    prov = doc["provenance"]
    for k in ("gpaw_version", "xc", "ecut_eV", "kpts_density_per_A", "smearing", "smearing_width_eV",
              "scf_energy_eV_per_electron", "paw_setups", "gpaw_data_version"):
        assert k in prov, k
    by = {(r["case"], r["quantity"]): r for r in doc["references"]}
    for path in P.PATHS:
        curve = by[(path, "E_path_rmse")]["curve"]
        m = P.metrics(path, curve["p"], curve["E_meV"])
        assert by[(path, "E_path")]["value"] == pytest.approx(m["E_path"])
        assert by[(path, "p_max")]["value"] == pytest.approx(m["p_max"])
        for r in (by[(path, q)] for q in ("E_path", "E_path_rmse", "p_max")):
            assert r["source"] and r["protocol"] and r["tolerance"]


def test_cases_follow_the_ground_lattice():
    assert P.cases("W", "smoke") == list(P.PATHS)  # scored against the GPAW curves
    for el in ("Mo", "Ta", "Nb"):
        assert P.cases(el, "standard") == list(P.PATHS)
    for el in ("Al", "Cu", "Ni"):
        assert P.cases(el, "smoke") == ["tetragonal", "trigonal"]  # the paths through fcc
    for el in ("Be", "Re", "Os"):
        assert P.cases(el, "smoke") == ["hexagonal"]  # the Burgers path through hcp
    assert P.cases("C", "standard") == []


def test_fcc_paths_reported_with_emt(target):
    """EMT Cu at its own fcc volume: fcc is the same structure on the Bain and the trigonal path (the same
    energy relative to the same bcc cell), below bcc; nothing is scored (no Cu curve is stored)."""
    from ase.calculators.emt import EMT

    emt = target(EMT)
    got = {c: {m.quantity: m for m in P.PROTOCOL.run(emt, "Cu", c, "smoke")} for c in P.cases("Cu", "smoke")}
    assert got["tetragonal"]["E_fcc"].value == pytest.approx(got["trigonal"]["E_fcc"].value, abs=1e-6)
    assert got["tetragonal"]["E_fcc"].value < 0  # fcc is the ground state of EMT Cu
    assert all(m.policy == "reported" for ms in got.values() for m in ms.values())
    d = got["tetragonal"]["E_path"].data
    assert d["volume_A3_per_atom"] == pytest.approx(11.565, rel=1e-3)  # EMT Cu a0 = 3.590 Å
    assert "E_path_rmse" not in got["tetragonal"]


def test_w_paths_scored_against_the_stored_curves(target):
    ms = {m.quantity: m for m in P.PROTOCOL.run(target("W_zhou"), "W", "tetragonal", "smoke")}
    assert {q: ms[q].policy for q in ("E_path", "E_path_rmse", "p_max")} == dict.fromkeys(
        ("E_path", "E_path_rmse", "p_max"), "reference")
    assert ms["E_fcc"].policy == "reported"
    assert ms["E_path"].data["ref_p"] == ms["E_path"].data["p"]  # evaluated at the reference's own p values


def test_reference_entries_accept_a_calculator_factory():
    doc = P.reference_entries("W", _lj, volume=V, source="LJ test", paths=("tetragonal", "hexagonal"), log=lambda *a: None)
    by = {(r["case"], r["quantity"]): r for r in doc["references"]}
    assert len(by) == 6 and doc["property"] == "paths"
    curve = by[("tetragonal", "E_path_rmse")]["curve"]
    assert curve["volume_A3_per_atom"] == V and curve["kpts_mesh"] is None
    m = P.metrics("tetragonal", curve["p"], curve["E_meV"])
    assert by[("tetragonal", "E_path")]["value"] == pytest.approx(m["E_path"])
    assert all(r["source"] == "LJ test" and r["protocol"] for r in by.values())
