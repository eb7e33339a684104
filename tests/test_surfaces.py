"""Unit tests of the slab builder, gamma formula, rank correlation and stored references (fast)."""
import numpy as np
import pytest

from revem.properties import surfaces as s
from revem.properties.common import EV_PER_A2_TO_MJ_PER_M2

A0 = 3.165


@pytest.mark.parametrize("facet", s.FACETS + s.EXTRA_FACETS)
def test_slab_geometry(facet):
    slab = s.build_slab("W", A0, s.miller(facet), min_thickness_A=12.0, vacuum_A=10.0)
    c = slab.cell.array
    n = np.cross(c[0], c[1])
    n /= np.linalg.norm(n)
    z = slab.positions @ n
    height = abs(c[2] @ n)
    assert np.ptp(z) >= 12.0 - 1e-6
    assert height - np.ptp(z) >= 20.0 - 1e-6  # 10 Å each side
    # interplanar spacing of the bcc (hkl) planes: a/sqrt(h2+k2+l2), halved when h+k+l is odd
    hkl = np.array(s.miller(facet))
    d_hkl = A0 / np.sqrt(hkl @ hkl) / (1 if hkl.sum() % 2 == 0 else 2)
    planes = np.unique(np.round(z, 3))
    assert np.diff(planes).min() == pytest.approx(d_hkl, abs=1e-3)
    # atoms per area x thickness = bulk density
    assert len(slab) / (s.slab_area(slab) * (np.ptp(z) + d_hkl)) == pytest.approx(2 / A0 ** 3, rel=1e-6)

def test_gamma_formula_and_units():
    # 1 eV over 2 x 1 Å^2 = 0.5 eV/Å^2
    assert s.surface_energy(-9.0, 1, -10.0, 1.0) == pytest.approx(0.5 * EV_PER_A2_TO_MJ_PER_M2)


def test_spearman():
    ref = {f: i for i, f in enumerate(s.FACETS)}
    assert s.spearman_rho(ref, ref) == pytest.approx(1.0)
    assert s.spearman_rho({f: -v for f, v in ref.items()}, ref) == pytest.approx(-1.0)


def test_cases_by_tier():
    assert s.cases("W", "smoke") == ["110", "100"]
    assert s.cases("W", "standard")[-1] == "ordering" and len(s.cases("W", "standard")) == 12
    assert s.cases("Be", "standard") == []


def test_w_zhou_110_below_100():
    """One real (EAM) slab relaxation each: gamma(110) < gamma(100), both in the J/m^2 range."""
    g110 = s.compute("W_zhou", "W", "110", "smoke")["gamma"]
    g100 = s.compute("W_zhou", "W", "100", "smoke")["gamma"]
    assert 1500 < g110 < g100 < 5000


def test_references_are_complete():
    from revem import references

    refs = references.load("W", "surfaces")
    for src_key in ("Table 2", "maml"):
        gam = {r.case for r in refs if r.quantity == "gamma" and src_key in r.source}
        assert set(s.FACETS) <= gam
        rho = [r for r in refs if r.case == "ordering" and src_key in r.source]
        assert len(rho) == 1 and rho[0].value == 1.0 and 0 < rho[0].bound() < 1
    for r in refs:
        assert r.unit in ("mJ/m^2", "") and r.source and r.protocol
