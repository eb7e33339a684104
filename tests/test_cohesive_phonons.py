"""Cohesive energy and phonons: real calculators (ASE's EMT, shipped LAMMPS potentials, phonopy)."""
import numpy as np
import pytest
from ase.calculators.emt import EMT

from revem.atomistic import build_lattice
from revem.validation import references
from revem.validation.properties import cohesive, phonons

ELEMENTS = ("W", "Mo", "Ta", "Nb", "Al", "Cu", "Ni", "Be", "Re", "Os", "C")
GROUND = {"W": "bcc", "Mo": "bcc", "Ta": "bcc", "Nb": "bcc", "Al": "fcc", "Cu": "fcc", "Ni": "fcc",
          "Be": "hcp", "Re": "hcp", "Os": "hcp", "C": "diamond"}


@pytest.fixture(scope="module")
def emt(target):
    return target(EMT)


def test_cohesive_energy_uses_the_potentials_own_isolated_atom(emt):
    # EMT puts the free Cu atom at +3.51 eV and fcc Cu near 0: E_coh = 3.51 eV/atom (EMT's fitted value)
    res = cohesive.compute(emt, "Cu", "fcc", "smoke")
    assert res["E_atom"] == pytest.approx(3.51, abs=1e-6) and not res["atom_is_zero"]
    assert res["E_coh"] == pytest.approx(res["E_atom"] - res["E_bulk"]) and res["E_coh"] == pytest.approx(3.517, abs=2e-3)
    assert res["box_converged"]
    # the Kittel value of Cu (3.49 eV/atom, experiment) is shown, not scored
    ms = {m.quantity: m for m in cohesive.PROTOCOL.run(emt, "Cu", "fcc", "smoke")}
    assert ms["E_coh"].policy == "reported" and "experimental reference shown, not scored" in ms["E_coh"].note


def test_cohesive_energy_flags_a_potential_whose_free_atom_is_not_zero(target):
    ms = {m.quantity: m for m in cohesive.PROTOCOL.run(target("W_2940_2017_2"), "W", "bcc", "smoke")}
    assert "NOT its zero of energy" in ms["E_coh"].note and ms["E_atom"].value < -1.0
    assert ms["E_coh"].policy == "reported"  # only an experimental reference is stored for W: shown, not scored
    zhou = {m.quantity: m for m in cohesive.PROTOCOL.run(target("W_zhou"), "W", "bcc", "smoke")}
    assert zhou["E_atom"].value == pytest.approx(0.0, abs=1e-9) and zhou["E_coh"].value == pytest.approx(8.76, abs=0.01)


@pytest.mark.parametrize("element", ELEMENTS)
def test_every_element_has_its_lattice_case_and_a_kittel_reference(element):
    assert cohesive.cases(element, "standard") == [GROUND[element]]
    refs = references.find(element, "cohesive", GROUND[element], "E_coh")
    assert len(refs) == 1 and refs[0].extra["kind"] == "experiment" and "Kittel" in refs[0].source
    assert 3.0 < refs[0].value < 9.0 and refs[0].protocol and refs[0].extra["tolerance_basis"]
    assert cohesive.cases("Ga", "standard") == []


def test_cohesive_hcp_ground_state(emt):
    # EMT Cu relaxed as hcp: E_coh within a few meV of fcc (EMT's fcc-hcp difference is tiny)
    hcp = cohesive.compute(emt, "Cu", "hcp", "smoke")
    assert hcp["E_coh"] == pytest.approx(cohesive.compute(emt, "Cu", "fcc", "smoke")["E_coh"], abs=0.02)


@pytest.mark.parametrize("lattice,cartesian", [
    ("bcc", {"H": [0, 1, 0], "N": [0.5, 0.5, 0], "P": [0.5, 0.5, 0.5]}),  # units of 2π/a
    ("fcc", {"X": [0, 1, 0], "L": [0.5, 0.5, 0.5], "W": [0.5, 1, 0], "K": [0.75, 0.75, 0], "U": [0.25, 1, 0.25]}),
    ("hcp", {"M": [0.5, 0.5 / np.sqrt(3), 0], "K": [1 / 3, 1 / np.sqrt(3), 0], "A": [0, 0, 0.5 / 1.6]})])
def test_special_points_are_the_setyawan_curtarolo_ones(lattice, cartesian):
    """Fractions of the primitive reciprocal vectors -> Cartesian points (units of 2π/a; hcp c/a = 1.6): bcc H,
    N, P; fcc X, L, W, K, U; hcp M at 2π/(√3 a), K at 4π/(3a), A at π/c."""
    unit = build_lattice("Cu", lattice, 1.0, 1.6)
    prim = phonons.PRIMITIVE[lattice]
    cell = unit.cell.array if prim is None else (unit.cell.array.T @ np.array(prim)).T
    b = np.linalg.inv(cell).T
    for point, q in cartesian.items():
        assert np.allclose(np.array(phonons.POINTS[lattice][point]) @ b, q), point
    assert phonons.POINTS["diamond"] == phonons.POINTS["fcc"]


def test_cases_per_lattice():
    for el in ELEMENTS:
        assert phonons.cases(el, "standard") == [GROUND[el]]
    assert phonons.cases("Ga", "standard") == []


def test_phonons_of_zhou_w_are_stable_with_bcc_degeneracies(target):
    res = phonons.compute(target("W_zhou"), "W", "smoke")
    assert res["stable"] and res["min_frequency"] > -res["tolerance_THz"]
    h = res["freq_H"]
    assert h[0] == pytest.approx(h[2], rel=1e-6)  # H: one triply degenerate frequency
    assert 4.0 < h[0] < 7.0  # THz; W is a stiff bcc metal
    assert res["freq_P"][0] == pytest.approx(res["freq_P"][2], rel=1e-6)


def test_phonons_detect_the_dynamically_unstable_bcc_copper_of_emt(emt):
    # bcc Cu is unstable at N (transverse acoustic branch) -- imaginary, phonopy's negative frequency
    res = phonons.compute(emt, "Cu", "smoke", lattice="bcc")
    assert not res["stable"] and res["freq_N"][0] < -0.5
    ms = phonons.PROTOCOL.run(emt, "Cu", "bcc", "smoke")
    assert ms[0].failure and "dynamically unstable" in ms[0].failure


def test_fcc_phonons_of_emt_copper(emt):
    """fcc Cu (EMT): stable; X and L each have a doubly degenerate transverse pair below the longitudinal mode
    (cubic symmetry along ⟨100⟩ and ⟨111⟩); every frequency is reported (no reference stored)."""
    res = phonons.compute(emt, "Cu", "smoke")
    assert res["lattice"] == "fcc" and res["stable"] and res["supercell"] == (4, 4, 4)
    for p in ("X", "L"):
        f = res["points"][p]
        assert f[0] == pytest.approx(f[1], rel=1e-6) and f[2] > f[1] + 1.0
    assert 4.0 < res["points"]["X"][0] < 7.0 and 6.0 < res["points"]["X"][2] < 10.0  # THz, Cu-like
    ms = {m.quantity: m for m in phonons.PROTOCOL.run(emt, "Cu", "fcc", "smoke")}
    assert set(ms) == {"min_frequency", "max_frequency", "nu_X_1", "nu_X_2", "nu_X_3", "nu_L_1", "nu_L_2", "nu_L_3"}
    assert all(m.policy == "reported" for m in ms.values()) and ms["min_frequency"].failure is None


def test_hcp_phonons_of_emt_copper(emt):
    """hcp Cu (EMT, relaxed a and c/a): stable; Γ has three acoustic zeros and three optical modes (a doubly
    degenerate in-plane pair), recorded as nu_Gamma_4..6; M, K, A give six branches each."""
    res = phonons.compute(emt, "Cu", "smoke", lattice="hcp")
    assert res["stable"] and res["lattice"] == "hcp"
    g = res["points"]["Γ"]
    assert np.allclose(g[:3], 0.0, atol=1e-3) and g[3] == pytest.approx(g[4], rel=1e-6) and g[3] > 1.0
    assert all(len(res["points"][p]) == 6 for p in ("M", "K", "A"))
    ms = [m.quantity for m in phonons.PROTOCOL.run(emt, "Cu", "hcp", "smoke")]
    assert ms[2:5] == ["nu_Gamma_4", "nu_Gamma_5", "nu_Gamma_6"] and "nu_Gamma_1" not in ms
    assert len(ms) == 2 + 3 + 3 * 6
