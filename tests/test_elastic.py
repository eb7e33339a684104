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


def test_strained_cells_start_from_the_unstrained_cell():
    # every strained cell is F applied to the *unstrained* cell: ions of bcc stay on lattice sites, so
    # clamped-ion C12 of Zhou's W is exactly cubic (the old chained set_cell gave 204.81 instead of 204.24 GPa)
    at = bulk("W", "bcc", a=3.16485, cubic=True)
    for j in range(6):
        s = elastic.strained(at, np.eye(3) + elastic.strain_matrix(j, 0.005))
        frac = s.get_scaled_positions()
        assert np.allclose(frac, at.get_scaled_positions(), atol=1e-12)
    assert np.allclose(at.cell.array, bulk("W", "bcc", a=3.16485, cubic=True).cell.array)


def test_zhou_elastic_constants_clamped_equals_relaxed_and_cubic():
    res = elastic.compute("W_zhou", "W", "smoke")
    # Zhou W (independently reproduced with plain ASE and matcalc): C11 522.0, C12 204.24, C44 160.8 GPa
    assert res["C11"] == pytest.approx(522.03, abs=0.1)
    assert res["C12"] == pytest.approx(204.24, abs=0.05)
    assert res["C44"] == pytest.approx(160.76, abs=0.05)
    for q in ("C11", "C12", "C44"):  # ions of bcc sit at inversion centres: clamped = relaxed
        assert res["clamped"][q] == pytest.approx(res[q], abs=1e-6)
        assert 0 < res["uncertainty"][q] < 1.0  # O(δ²) estimate from ±2δ, GPa
    assert res["born"]["stable"] and res["born"]["min_eigenvalue_GPa"] > 0
    # 1 + 24 calculator calls; matcalc's ElasticityCalc default needs 26 (measured) with ±6 % shears
    assert res["calculator_calls"] <= 26


def test_born_stability_criteria():
    def cubic(c11, c12, c44):
        c = np.zeros((6, 6))
        c[:3, :3] = c12
        c[np.arange(3), np.arange(3)] = c11
        c[np.arange(3, 6), np.arange(3, 6)] = c44
        return c

    assert elastic.born_stability(cubic(522, 204, 161))["stable"]
    bad = elastic.born_stability(cubic(258.6, 333.2, 80))  # the MEAM card of the issue: C11 < C12
    assert not bad["stable"] and bad["violated"] == ["C11-C12"]
    assert elastic.born_stability(cubic(500, 200, -5))["violated"] == ["C44"]


def test_relaxed_ion_differs_from_clamped_where_ions_move():
    # hcp has two atoms without inversion at the atoms: internal relaxation lowers C_ij (EMT Mg-like Cu hcp)
    at = bulk("Cu", "hcp", a=2.55, c=4.16)
    at.calc = EMT()
    clamped, relaxed = elastic.stress_strain_matrix(at, 0.01, relax=lambda a: __import__(
        "revem.properties.common", fromlist=["x"]).relax_positions(a, fmax=1e-4, steps=200))
    assert np.abs(clamped - relaxed).max() > 0.1  # GPa: some ion relaxation happened
    assert np.all(np.diag(relaxed) <= np.diag(clamped) + 1e-6)  # relaxation never stiffens
