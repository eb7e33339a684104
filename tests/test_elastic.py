"""Unit tests of the elastic-constant helpers (ASE's EMT calculator where a calculator is needed)."""
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from revem.properties import elastic, eos


def test_strain_matrix_voigt_convention():
    e = elastic.strain_matrix(3, 0.01)  # yz, engineering strain 0.01 -> tensor 0.005
    assert e[1, 2] == e[2, 1] == pytest.approx(0.005)
    assert np.count_nonzero(e) == 2
    assert elastic.strain_matrix(0, 0.01)[0, 0] == pytest.approx(0.01)


def test_cubic_average_and_bulk_modulus():
    c = np.zeros((6, 6))
    c[:3, :3] = 200.0
    c[np.arange(3), np.arange(3)] = 500.0
    c[np.arange(3, 6), np.arange(3, 6)] = 150.0
    avg = elastic.cubic_average(c)
    assert (avg["C11"], avg["C12"], avg["C44"]) == (500.0, 200.0, 150.0)
    assert avg["cubic_deviation_GPa"] == 0.0
    assert elastic.bulk_modulus(500.0, 200.0) == pytest.approx(300.0)


def test_stress_strain_emt_copper_is_cubic_and_matches_eos():
    fit = eos.compute(None, "Cu", "fcc", "smoke", EMT)
    a = (4 * fit["V_relaxed"]) ** (1 / 3)
    at = bulk("Cu", "fcc", a=a, cubic=True)
    at.calc = EMT()
    c = elastic.stress_strain_matrix(at, 0.005)
    avg = elastic.cubic_average(c)
    assert avg["cubic_deviation_GPa"] < 1.0
    assert avg["C11"] > avg["C12"] > 0 and avg["C44"] > 0
    assert elastic.bulk_modulus(avg["C11"], avg["C12"]) == pytest.approx(fit["B0"], rel=0.03)
