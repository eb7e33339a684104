"""Unit tests of the point-defect builders, the Wigner-Seitz classifier and E_f (fast)."""
import numpy as np
import pytest

from revem.properties import defects as d

A0 = 3.165


@pytest.mark.parametrize("case,n", [("vacancy", 127), ("divacancy_1NN", 126), ("divacancy_2NN", 126),
                                    ("sia_111", 129), ("sia_110", 129), ("sia_100", 129),
                                    ("sia_tetrahedral", 129), ("sia_octahedral", 129)])
def test_build_and_classify_ideal(case, n):
    atoms = d.build_defect("W", A0, case)
    assert len(atoms) == n
    label = d.classify_vacancies(atoms, A0) if case in d.VACANCIES else d.classify_sia(atoms, A0)["label"]
    assert label == case


def test_reconfigured_dumbbell_is_detected():
    """A <110> start whose pair has turned to <111> classifies as sia_111, not sia_110."""
    atoms = d.build_defect("W", A0, "sia_110")
    i, j = len(atoms) - 1, d._centre_site(d.perfect("W", A0))
    mid = (atoms.positions[i] + atoms.positions[j]) / 2
    u = np.ones(3) / np.sqrt(3)
    atoms.positions[j], atoms.positions[i] = mid + 0.35 * A0 * u, mid - 0.35 * A0 * u
    assert d.classify_sia(atoms, A0)["label"] == "sia_111"
    # a crowdion (pair midpoint shifted along <111>) is still <111>
    atoms.positions[[i, j]] += 0.25 * A0 * u
    assert d.classify_sia(atoms, A0)["label"] == "sia_111"


def test_octahedral_vs_100_dumbbell():
    oct_ = d.build_defect("W", A0, "sia_octahedral")
    oct_.positions[-1] += [0.0, 0.0, -0.8]  # SIA moved towards a site: now a <100> pair, off the octahedral site
    assert d.classify_sia(oct_, A0)["label"] != "sia_octahedral"


def test_vacancy_cells_with_extra_atom_are_unclassified():
    atoms = d.build_defect("W", A0, "sia_100")
    assert d.classify_vacancies(atoms, A0).startswith("unclassified")


def test_formation_energy_and_cases():
    assert d.formation_energy(-100.0, 10, -10.5) == pytest.approx(5.0)
    assert d.cases("W", "standard") == list(d.CASES)
    assert d.cases("Be", "standard") == []  # not bcc
    assert set(d.cases("W", "smoke")) <= set(d.CASES)


def test_vacancy_w_zhou_relaxes_and_stays_a_vacancy():
    """One real (EAM) relaxation: E_f in the physical range, classification kept."""
    res = d.compute("W_zhou", "W", "vacancy", "smoke")
    assert res["relaxed_into"] == "vacancy" and res["converged"]
    assert 2.5 < res["E_f"] < 4.5


def test_references_are_complete():
    from revem import references

    refs = {r.case: r for r in references.load("W", "defects") if r.quantity == "E_f"}
    assert set(refs) == set(d.CASES)
    for r in refs.values():
        assert r.unit == "eV" and r.source and r.protocol and r.bound() > 0
