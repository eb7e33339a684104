"""Cohesive energy and phonons: real calculators (ASE's EMT, shipped LAMMPS potentials, phonopy)."""
import numpy as np
import pytest
from ase.calculators.emt import EMT

from revem.validation.properties import cohesive, phonons
from revem.validation.properties.common import target_of
from revem.validation.protocol import Target

EMT_T = Target.of(EMT, name="emt")


def test_cohesive_energy_uses_the_potentials_own_isolated_atom():
    # EMT puts the free Cu atom at +3.51 eV and fcc Cu near 0: E_coh = 3.51 eV/atom (EMT's fitted value)
    res = cohesive.compute(EMT_T, "Cu", "fcc", "smoke")
    assert res["E_atom"] == pytest.approx(3.51, abs=1e-6) and not res["atom_is_zero"]
    assert res["E_coh"] == pytest.approx(res["E_atom"] - res["E_bulk"]) and res["E_coh"] == pytest.approx(3.517, abs=2e-3)
    assert res["box_converged"]


def test_cohesive_energy_flags_a_potential_whose_free_atom_is_not_zero():
    ms = {m.quantity: m for m in cohesive.PROTOCOL.run(target_of("W_2940_2017_2"), "W", "bcc", "smoke")}
    assert "NOT its zero of energy" in ms["E_coh"].note and ms["E_atom"].value < -1.0
    assert ms["E_coh"].policy == "reported"  # only an experimental reference is stored for W: shown, not scored
    zhou = {m.quantity: m for m in cohesive.PROTOCOL.run(target_of("W_zhou"), "W", "bcc", "smoke")}
    assert zhou["E_atom"].value == pytest.approx(0.0, abs=1e-9) and zhou["E_coh"].value == pytest.approx(8.76, abs=0.01)


def test_bcc_special_points_are_the_setyawan_curtarolo_ones():
    b = np.linalg.inv(phonons.BCC_PRIMITIVE).T  # reciprocal vectors in units of 2π/a
    cart = {k: np.array(q) @ b for k, q in phonons.BCC_POINTS.items()}
    assert np.allclose(cart["H"], [0, 1, 0]) and np.allclose(cart["N"], [0.5, 0.5, 0]) and np.allclose(cart["P"], [0.5] * 3)


def test_phonons_of_zhou_w_are_stable_with_bcc_degeneracies():
    res = phonons.compute(target_of("W_zhou"), "W", "smoke")
    assert res["stable"] and res["min_frequency"] > -res["tolerance_THz"]
    h = res["freq_H"]
    assert h[0] == pytest.approx(h[2], rel=1e-6)  # H: one triply degenerate frequency
    assert 4.0 < h[0] < 7.0  # THz; W is a stiff bcc metal
    assert res["freq_P"][0] == pytest.approx(res["freq_P"][2], rel=1e-6)


def test_phonons_detect_the_dynamically_unstable_bcc_copper_of_emt():
    # bcc Cu is unstable at N (transverse acoustic branch) -- imaginary, phonopy's negative frequency
    res = phonons.compute(EMT_T, "Cu", "smoke")
    assert not res["stable"] and res["freq_N"][0] < -0.5
    ms = phonons.PROTOCOL.run(EMT_T, "Cu", "bcc", "smoke")
    assert ms[0].failure and "dynamically unstable" in ms[0].failure
