"""Unit tests of the point-defect builders, the Wigner-Seitz classifier and E_f (fast; EMT and Zhou's W)."""
import numpy as np
import pytest
from ase.calculators.emt import EMT

from revem.validation.properties import defects as d

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
    assert d.cases("W", "smoke") == ["vacancy", "sia_111"]  # unchanged
    for el in ("Mo", "Ta", "Nb"):
        assert d.cases(el, "standard") == list(d.CASES) and d.cases(el, "smoke") == ["vacancy", "sia_111"]
    for el in ("Al", "Cu", "Ni"):
        assert d.cases(el, "standard") == ["vacancy", "divacancy_1NN", "sia_100", "sia_octahedral"]
    for el in ("Be", "Re", "Os"):
        assert d.cases(el, "standard") == ["vacancy", "sia_octahedral", "sia_basal_octahedral"]
    assert d.cases("C", "standard") == ["vacancy"] and d.cases("Cu", "smoke") == ["vacancy"]
    assert d.cases("Ga", "standard") == []


def test_vacancy_w_zhou_relaxes_and_stays_a_vacancy(target):
    """One real (EAM) relaxation: E_f in the physical range, classification kept."""
    res = d.compute(target("W_zhou"), "W", "vacancy", "smoke")
    assert res["relaxed_into"] == "vacancy" and res["converged"]
    assert 2.5 < res["E_f"] < 4.5


def test_references_are_complete():
    from revem.validation import references

    refs = {r.case: r for r in references.load("W", "defects") if r.quantity == "E_f"}
    assert set(refs) == set(d.CASES)
    for r in refs.values():
        assert r.unit == "eV" and r.source and r.protocol and r.bound() > 0


@pytest.mark.parametrize("structure,n,sites", [("fcc", 3, 108), ("hcp", (4, 2, 3), 96), ("diamond", 3, 216)])
def test_vacancy_cells_of_other_lattices(structure, n, sites):
    el, a, coa = {"fcc": ("Cu", 3.6, None), "hcp": ("Be", 2.29, 1.568), "diamond": ("C", 3.57, None)}[structure]
    assert len(d.perfect(el, a, n, structure, coa)) == sites
    atoms = d.build_defect(el, a, "vacancy", n, structure=structure, c_over_a=coa)
    assert len(atoms) == sites - 1
    assert d.classify_vacancies(atoms, a, n, structure, coa) == "vacancy"
    with pytest.raises(ValueError):
        d.build_defect(el, a, "sia_111", n, structure=structure, c_over_a=coa)


@pytest.mark.parametrize("structure,case", [(s, c) for s in ("fcc", "hcp") for c in d.LATTICE_CASES[s]
                                            if c != "vacancy"])
def test_fcc_hcp_defects_build_and_classify(structure, case):
    """Ideal cells classify as what they were built as; the interstitial sites sit where the geometry says:
    fcc octahedral a/2 from its six neighbours, hcp O ≈ a/√2 from six and BO a/√3 from three in-plane atoms."""
    from ase.neighborlist import neighbor_list

    el, a, coa, n = ("Cu", 3.6, None, 3) if structure == "fcc" else ("Be", 2.29, (8 / 3) ** 0.5, (4, 2, 3))
    atoms = d.build_defect(el, a, case, n, structure=structure, c_over_a=coa)
    if case.startswith("divacancy"):
        assert len(atoms) == 106 and d.classify_vacancies(atoms, a, n, structure) == case
        return
    assert d.classify_sia(atoms, a, n, structure=structure, c_over_a=coa)["label"] == case
    i, dist = neighbor_list("id", atoms, 0.95 * a)
    near = np.sort(dist[i == len(atoms) - 1])  # the added atom
    expect = {("fcc", "sia_octahedral"): (6, a / 2), ("hcp", "sia_octahedral"): (6, a / np.sqrt(2)),
              ("hcp", "sia_basal_octahedral"): (3, a / np.sqrt(3))}.get((structure, case))
    if expect:
        assert near[:expect[0]] == pytest.approx(expect[1], abs=1e-6)


@pytest.fixture(scope="module")
def emt(target):
    return target(EMT)


def test_emt_cu_fcc_cases(emt):
    """fcc protocol on EMT Cu (108 sites, relaxed).  Vacancy: E_f = 1.22 eV here; EMT Cu is fitted to experiment
    and the experimental Cu vacancy formation enthalpy is about 1.28 eV (positron annihilation), so
    1.1-1.35 eV is asserted; the Angsten 2014 PBE reference (1.07 eV) is scored within 12 %.  SIA: the ⟨100⟩
    dumbbell (the fcc ground state) stays a dumbbell and lies below the octahedral SIA."""
    res = {c: d.compute(emt, "Cu", c, "smoke") for c in d.cases("Cu", "standard")}
    assert res["vacancy"]["n_atoms"] == 107 and all(r["relaxed_into"] == c and r["converged"] for c, r in res.items())
    assert 1.10 < res["vacancy"]["E_f"] < 1.35
    assert 2 * res["vacancy"]["E_f"] - 0.5 < res["divacancy_1NN"]["E_f"] < 2 * res["vacancy"]["E_f"]  # bound pair
    assert 2.5 < res["sia_100"]["E_f"] < res["sia_octahedral"]["E_f"] < 5.0
    m = d.PROTOCOL.run(emt, "Cu", "vacancy", "smoke")[0]
    assert m.policy == "reference" and m.uncertainty_covers and m.uncertainty < 1e-2  # smoke: fmax 1e-2 eV/Å
    m = d.PROTOCOL.run(emt, "Cu", "sia_100", "smoke")[0]
    assert m.policy == "reported" and "no stored reference" in m.note and m.failure is None


def test_emt_hcp_cases_run(emt):
    """hcp supercell on an hcp-relaxed EMT metal (Cu as hcp: 96 sites): the vacancy is close to the fcc one
    (fcc and hcp share the first neighbour shell); the O and BO interstitials stay where they were put
    (symmetric starts) and the BO site, with three neighbours at a/√3, costs more than O."""
    res = {c: d.compute(emt, "Cu", c, "smoke", lattice="hcp") for c in d.LATTICE_CASES["hcp"]}
    assert all(r["relaxed_into"] == c for c, r in res.items()), {c: r["relaxed_into"] for c, r in res.items()}
    fcc = d.compute(emt, "Cu", "vacancy", "smoke")
    assert abs(res["vacancy"]["E_f"] - fcc["E_f"]) < 0.1 and res["vacancy"]["n_atoms"] == 95
    assert 2.5 < res["sia_octahedral"]["E_f"] < res["sia_basal_octahedral"]["E_f"] < 6.0


def test_published_vacancy_references():
    """Angsten 2014 PBE vacancy energies for the fcc and hcp elements, each with its citation and protocol."""
    from revem.validation import references

    expect = {"Al": 0.61, "Cu": 1.07, "Ni": 1.39, "Be": 1.04, "Re": 3.42, "Os": 3.03}
    for el, v in expect.items():
        refs = references.find(el, "defects", "vacancy", "E_f")
        assert [r.value for r in refs] == [v]
        r = refs[0]
        assert "10.1088/1367-2630/16/1/015018" in r.source and r.protocol and r.extra["tolerance_basis"]
        assert r.extra["lattice"] == ("fcc" if el in ("Al", "Cu", "Ni") else "hcp")
    for el in ("Mo", "Ta", "Nb", "C"):
        assert not references.find(el, "defects", "vacancy", "E_f")  # bcc/diamond: none checkable -> reported


@pytest.mark.needs_data
def test_builder_declines_snapshot_and_offset_vacancies():
    """The defects builder's checks: mlearn vacancy frames are AIMD snapshots; the Be vacancy cells sit on
    another energy zero than the Be bulk (naive E_f < 0)."""
    from revem.data import DataUnavailable
    from revem.validation.references_build import defects as build

    try:
        for el in ("Mo", "Cu", "Ni"):
            r = build.mlearn_vacancy(el)
            assert r["all_aimd_snapshots"] and not r["usable"]
        b = build.be_vacancy()
    except DataUnavailable as exc:
        pytest.skip(str(exc))
    assert b["E_f_naive_eV"] < 0 and not b["usable"]
