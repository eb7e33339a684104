"""Unit tests of the EOS protocol's pure functions (fast; ASE's EMT calculator where a calculator is needed)."""
import numpy as np
import pytest
from ase.calculators.emt import EMT

from revem.validation.properties import eos


def _bm(v, e0, v0, b0, bp):
    eta = (v0 / v) ** (2 / 3)
    return e0 + 9 * v0 * b0 / 16 * ((eta - 1) ** 3 * bp + (eta - 1) ** 2 * (6 - 4 * eta))


def test_fit_eos_recovers_birch_murnaghan():
    v = np.linspace(15.0, 17.2, 9)
    b0 = 300 / eos.EV_PER_A3_TO_GPA
    fit = eos.fit_eos(v, _bm(v, -8.9, 16.1, b0, 4.2))
    assert fit["V0"] == pytest.approx(16.1, rel=1e-6)
    assert fit["E0"] == pytest.approx(-8.9, abs=1e-8)
    assert fit["B0"] == pytest.approx(300, rel=1e-5)
    assert fit["B0_prime"] == pytest.approx(4.2, rel=1e-4)
    assert fit["in_range"]


def test_fit_eos_warns_when_minimum_outside_range():
    v = np.linspace(16.5, 17.5, 7)  # all on the expanded side of V0 = 16.1
    with pytest.warns(RuntimeWarning, match="outside the sampled range"):
        fit = eos.fit_eos(v, _bm(v, -8.9, 16.1, 300 / eos.EV_PER_A3_TO_GPA, 4.2))
    assert not fit["in_range"]


@pytest.mark.parametrize("case", list(eos.PROTOTYPES))
def test_prototypes_exist_and_have_sane_bonds(case):
    at = eos.prototype_atoms(case, "W")
    assert set(at.get_chemical_symbols()) == {"W"}
    # no pathological library geometry (the raw C36 and sigma entries had 0.55-0.61); graphite is open
    # (1.42 Å bonds at 8.8 Å^3/atom: 0.69)
    assert eos.shortest_distance(at) / (at.get_volume() / len(at)) ** (1 / 3) > (0.65 if case == "graphite" else 0.8)
    sg = eos.spacegroup(at)[1]
    assert sg == {"bcc": 229, "fcc": 225, "hcp": 194, "A15": 223, "sc": 221, "diamond": 227, "C15": 227,
                  "C14": 194, "C36": 194, "beta-Sn": 141, "omega": 191, "alpha-As": 166, "alpha-Mn": 217,
                  "beta-Mn": 213, "sigma": 136, "dhcp": 194, "simple-hex": 191, "bct-In": 139, "graphite": 194}[case]


def test_initial_scale_bcc_volume_and_bond_floor():
    at = eos.initial_scale(eos.prototype_atoms("fcc", "W"), 16.0, 2.75)
    assert at.get_volume() / len(at) == pytest.approx(16.0)
    dia = eos.initial_scale(eos.prototype_atoms("diamond", "W"), 16.0, 2.75)
    assert eos.shortest_distance(dia) == pytest.approx(0.9 * 2.75)


def test_dft_curves_groups_by_source_id():
    from ase.build import bulk
    from ase.calculators.singlepoint import SinglePointCalculator

    frames = []
    for i, (pre, s) in enumerate([("BCCEOS", 0.98), ("BCCEOS", 1.0), ("15EOS", 1.0), ("other", 1.0)]):
        at = bulk("W", "bcc", a=3.18 * s, cubic=True)
        at.info["source_id"] = f"{pre}_{i}.json"
        at.calc = SinglePointCalculator(at, energy=-17.8 + i)
        frames.append(at)
    c = eos.dft_curves(frames)
    assert set(c) == {"bcc", "A15"}
    assert c["bcc"]["volumes"][0] < c["bcc"]["volumes"][1]
    assert c["bcc"]["energies"] == [pytest.approx(-17.8 / 2), pytest.approx(-16.8 / 2)]


@pytest.fixture(scope="module")
def emt_cu(target):
    return target(EMT)


def test_compute_with_any_ase_calculator_and_relaxed_into_detection(emt_cu):
    # EMT Cu: fcc is its ground state; bct (A6, In) has no barrier to fcc and must be reported as relaxed away
    fcc = eos.compute(emt_cu, "Cu", "fcc", "smoke")
    assert fcc["relaxed_into"] is None and fcc["in_range"]
    assert fcc["V0"] == pytest.approx(11.57, rel=0.02)  # EMT Cu a0 = 3.59 Å
    assert 100 < fcc["B0"] < 160
    bct = eos.compute(emt_cu, "Cu", "bct-In", "smoke")
    assert bct["relaxed_into"] in ("Fm-3m (225)", "Im-3m (229)")
    assert bct["notes"] and "not scored" in bct["notes"][-1]


# -- every element: references, cases, builder ---------------------------------------------------------
ELEMENTS = ("W", "Mo", "Ta", "Nb", "Al", "Cu", "Ni", "Be", "Re", "Os", "C")
GROUND = {"W": "bcc", "Mo": "bcc", "Ta": "bcc", "Nb": "bcc", "Al": "fcc", "Cu": "fcc", "Ni": "fcc",
          "Be": "hcp", "Re": "hcp", "Os": "hcp", "C": "diamond"}


def test_w_cases_from_element_data():
    assert eos.cases("W", "smoke") == ["bcc", "fcc", "A15"]
    assert eos.cases("W", "standard") == [
        "bcc", "fcc", "hcp", "A15", "sc", "diamond", "C15", "C14", "C36", "beta-Sn", "omega", "alpha-As",
        "alpha-Mn", "beta-Mn", "sigma", "dhcp", "simple-hex", "bct-In"]


@pytest.mark.parametrize("element", ELEMENTS)
def test_references_load_and_cases_have_them(element):
    from revem.validation import references

    refs = references.load(element, "eos")
    assert refs, f"no eos references for {element}"
    for r in refs:
        assert r.case in eos.PROTOTYPES and r.unit == eos.UNITS[r.quantity] and r.source and r.protocol
        assert r.bound("tolerance") > 0 and r.bound("noise") > 0
    base = eos.base_case(element)
    assert base == GROUND[element]
    with_ref = {r.case for r in refs}
    for tier in ("smoke", "standard"):
        cs = eos.cases(element, tier)
        assert cs[0] == base  # the ground lattice, the zero of E0_rel, is always run
    if element != "W":  # every element: its ground lattice, the common prototypes and those with references
        assert len(eos.cases(element, "smoke")) <= 1 + eos.SMOKE_EXTRA
        assert set(eos.cases(element, "standard")) == with_ref | {base} | set(eos.COMMON_CASES)
    # a base-case reference exists except for C (WIEN2k's C is graphite; MP diamond is the zero of E0_rel)
    assert (base in with_ref) == (element != "C")
    # E0_rel references are relative to the base: none is stored for the base itself, and the stored
    # ones are positive apart from graphite (the true ground state of C, below the diamond base)
    for r in refs:
        if r.quantity == "E0_rel":
            assert r.case != base
            assert (r.value < 0) == (r.case == "graphite"), (r.case, r.value)


def test_wien2k_structure_mapping():
    from revem.validation.references_build.eos import wien2k_case

    assert [wien2k_case(el) for el in ("W", "Cu", "Be", "Os", "C")] == ["bcc", "fcc", "hcp", "hcp", "graphite"]


@pytest.mark.needs_data
@pytest.mark.parametrize("element,derive,name", [("Ta", "derive_fitsnap_ta", "eos_fitsnapTa"),
                                                 ("Be", "derive_fitsnap", "eos_fitsnapWBe"),
                                                 ("C", "derive_mp", "eos_mp")])
def test_builder_reproduces_stored(element, derive, name):
    import json

    from revem.validation import references
    from revem.data import DataUnavailable
    from revem.validation.references_build import eos as build

    try:
        rows = getattr(build, derive)(element)
    except DataUnavailable as exc:
        pytest.skip(str(exc))
    stored = json.loads((references.REFERENCE_DIR / element / f"{name}.json").read_text())["references"]
    assert [(r["case"], r["quantity"]) for r in rows] == [(r["case"], r["quantity"]) for r in stored]
    for r, s in zip(rows, stored):
        assert r["value"] == pytest.approx(s["value"], rel=1e-6, abs=1e-6)


def test_emt_cu_fcc_against_wien2k_and_experiment():
    """EMT Cu (K. W. Jacobsen et al., Surf. Sci. 366, 394 (1996)) was fitted to experiment: its fcc V0 is
    within 1 % of the experimental volume of the Delta set, about 3 % below PBE (WIEN2k), and its B0 is
    within the 10 % tolerance of WIEN2k's; the scorer must say so (B0 passes, V0 just fails)."""
    from ase.collections import dcdft

    from revem.validation import references
    from revem.validation.protocol import Target
    from revem.validation.scoring import score

    t = Target.of(EMT(), name="emt-cu-test")
    got = {m.quantity: m for m in eos.PROTOCOL.run(t, "Cu", "fcc", "smoke")}
    assert set(got) == {"V0", "B0", "B0_prime", "a0"}  # the base case: no E0_rel, a0 of the cubic cell
    assert got["a0"].value == pytest.approx(3.59, abs=0.01)
    assert got["V0"].value == pytest.approx(dcdft.data["Cu"]["exp_volume"], rel=0.01)
    verdict = {}
    for q in ("V0", "B0"):
        (ref,) = [r for r in references.find("Cu", "eos", "fcc", q) if "WIEN2k" in r.source]
        rec = score(got[q].value, ref, test_id="t", potential="emt", element="Cu", prop="eos", case="fcc",
                    quantity=q, unit=got[q].unit)
        verdict[q] = (rec.passed, round(rec.error_pct, 1))
    assert verdict["B0"][0] and -10 < verdict["B0"][1] < -2  # EMT 134-136 GPa vs WIEN2k 141.3 GPa
    assert not verdict["V0"][0] and -4.5 < verdict["V0"][1] < -3.0  # PBE overestimates Cu's volume


def test_non_bcc_element_measures_e0_rel_from_its_ground_lattice(emt_cu):
    bcc = eos.compute(emt_cu, "Cu", "bcc", "smoke")
    assert bcc["E0_rel_base"] == "fcc" and bcc["relaxed_into"] is None
    fcc = eos.compute(emt_cu, "Cu", "fcc", "smoke")
    assert bcc["E0_rel"] == pytest.approx(bcc["E0"] - fcc["E0"])
    assert 0.0 < bcc["E0_rel"] < 0.1  # bcc above fcc (MP PBE: 0.037 eV/atom)
    # the prototype started from the relaxed fcc volume, not from the bcc one
    assert bcc["V_relaxed"] == pytest.approx(fcc["V_relaxed"], rel=0.03)


def test_uncertainty_covers_fit_forms_and_volume_windows(emt_cu):
    """The stated uncertainty is the largest change over both fit forms and every volume window, so it is
    at least the change between the narrowest and the widest window's Birch-Murnaghan B0 (issue: a 0.03 GPa
    form-only spread hid a 3 GPa dependence on the window)."""
    res = eos.compute(emt_cu, "Cu", "fcc", "standard")
    v, e = np.asarray(res["volumes_all"]), np.asarray(res["energies_all"])
    x = v / res["V_relaxed"] - 1
    b = {}
    for w in (0.04, 0.10):
        k = np.abs(x) <= w + 1e-9
        b[w] = eos.fit_eos(v[k], e[k])["B0"]
    assert res["uncertainty"]["B0"] >= abs(b[0.10] - res["B0"]) - 1e-9
    assert res["uncertainty"]["B0"] >= abs(b[0.04] - res["B0"]) - 1e-9
    assert res["uncertainty"]["B0"] > 0.05  # GPa: far above the fit-form-only spread of a smooth EMT curve
    assert "vinet ±10 %" in res["uncertainty_covers"] and "birchmurnaghan ±4 %" in res["uncertainty_covers"]
    # the reported fit is the ±6 % window only
    assert max(abs(np.asarray(res["volumes"]) / res["V_relaxed"] - 1)) == pytest.approx(0.06)
