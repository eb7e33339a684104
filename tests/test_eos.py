"""Unit tests of the EOS protocol's pure functions (fast; ASE's EMT calculator where a calculator is needed)."""
import numpy as np
import pytest
from ase.calculators.emt import EMT

from revem.properties import eos


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
    # no pathological library geometry (the raw C36 and sigma entries had 0.55-0.61)
    assert eos.shortest_distance(at) / (at.get_volume() / len(at)) ** (1 / 3) > 0.8
    sg = eos.spacegroup(at)[1]
    assert sg == {"bcc": 229, "fcc": 225, "hcp": 194, "A15": 223, "sc": 221, "diamond": 227, "C15": 227,
                  "C14": 194, "C36": 194, "beta-Sn": 141, "omega": 191, "alpha-As": 166, "alpha-Mn": 217,
                  "beta-Mn": 213, "sigma": 136, "dhcp": 194, "simple-hex": 191, "bct-In": 139}[case]


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


def test_compute_with_any_ase_calculator_and_relaxed_into_detection():
    # EMT Cu: fcc is its ground state; bct (A6, In) has no barrier to fcc and must be reported as relaxed away
    fcc = eos.compute(None, "Cu", "fcc", "smoke", EMT)
    assert fcc["relaxed_into"] is None and fcc["in_range"]
    assert fcc["V0"] == pytest.approx(11.57, rel=0.02)  # EMT Cu a0 = 3.59 Å
    assert 100 < fcc["B0"] < 160
    bct = eos.compute(None, "Cu", "bct-In", "smoke", EMT)
    assert bct["relaxed_into"] in ("Fm-3m (225)", "Im-3m (229)")
    assert bct["notes"] and "not scored" in bct["notes"][-1]
