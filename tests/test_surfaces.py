"""Unit tests of the slab builder, gamma formula, rank correlation and stored references (fast)."""
import numpy as np
import pytest

from revem.validation.properties import surfaces as s
from revem.validation.properties.common import EV_PER_A2_TO_MJ_PER_M2

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
    assert s.cases("W", "standard") == list(s.FACETS) + ["ordering"]
    assert s.cases("W", "full") == list(s.FACETS + s.EXTRA_FACETS) + ["ordering", "convergence"]
    # every element: the low-index facets of its lattice, plus the facets with references
    assert s.cases("Al", "standard") == ["111", "100", "110"] and s.cases("Al", "smoke") == ["111", "100"]
    assert s.cases("Be", "standard") == ["0001", "10-10"] and s.cases("Os", "smoke") == ["0001"]
    assert s.cases("C", "standard") == ["111", "110", "100"]
    # maml Mo has no (310): not run; mlearn Cu/Ni two facets each besides the low-index ones, no ordering
    assert "310" not in s.cases("Mo", "standard") and s.cases("Mo", "standard")[-1] == "ordering"
    assert {"110", "100", "111"} <= set(s.cases("Nb", "standard"))
    assert s.cases("Cu", "standard") == ["111", "100", "110", "210", "320"]
    assert s.cases("Ni", "standard") == ["111", "100", "110", "311", "331"]
    assert s.cases("Ta", "smoke") == ["110", "100"] and s.cases("Ga", "standard") == []


def test_miller_names():
    assert s.miller("321") == (3, 2, 1)
    assert s.miller("0001", "hcp") == (0, 0, 1) and s.miller("10-10", "hcp") == (1, 0, 0)
    with pytest.raises(ValueError):
        s.miller("1010", "hcp")  # i != -(h + k)
    assert s._primitive_miller((1, 0, 0)) == (0, 1, 1) and s._primitive_miller((1, 1, 0)) == (1, 1, 2)
    assert s._primitive_miller((1, 1, 1)) == (1, 1, 1)


@pytest.mark.parametrize("structure,facet,plane_gaps,surface_cn,bulk_cn", [
    ("hcp", "0001", (1.795,), 9, 12),                 # c/2 between basal planes
    ("hcp", "10-10", (0.661, 1.322), 8, 12),         # type A: cut across the wide gap, the close pairs kept
    ("diamond", "111", (0.515, 1.546), 3, 4),        # between bilayers: one dangling bond per surface atom
    ("diamond", "110", (1.262,), 3, 4),
    ("diamond", "100", (0.8925,), 2, 4)])
def test_terminated_slabs(structure, facet, plane_gaps, surface_cn, bulk_cn):
    """hcp and diamond slabs: the 1×1 cell, the expected interplanar spacings, the termination with the fewest
    broken bonds on both faces, the bulk density, 12 Å of slab and 10 Å of vacuum each side."""
    from ase.neighborlist import neighbor_list

    el, a, coa, rc = ("Be", 2.29, 1.568, 2.35) if structure == "hcp" else ("C", 3.57, None, 1.75)
    slab = s.build_slab(el, a, s.miller(facet, structure), 12.0, 10.0, structure, coa)
    c = slab.cell.array
    n = np.cross(c[0], c[1])
    n /= np.linalg.norm(n)
    z = slab.positions @ n
    assert np.ptp(z) >= 12.0 - 1e-6 and abs(c[2] @ n) - np.ptp(z) == pytest.approx(20.0)
    gaps = np.diff(np.unique(np.round(z, 3)))
    nearest = np.abs(gaps[:, None] - np.array(plane_gaps)[None, :])
    assert nearest.min(axis=1).max() < 0.01 and set(nearest.argmin(axis=1)) == set(range(len(plane_gaps)))
    cn = np.bincount(neighbor_list("i", slab, rc), minlength=len(slab))
    assert set(cn[z > z.max() - 0.01]) == {surface_cn} and set(cn[z < z.min() + 0.01]) == {surface_cn}
    assert cn.max() == bulk_cn
    n_bulk = 2 / (np.sqrt(3) / 2 * a * a * a * coa) if structure == "hcp" else 8 / a ** 3
    # whole repeats: N = n_bulk x area x (number of repeats x height of one)
    assert len(slab) % 2 == 0 and len(slab) / (s.slab_area(slab) * n_bulk) > np.ptp(z)


@pytest.mark.parametrize("facet", ["111", "100", "110", "210", "311"])
def test_fcc_slab_geometry(facet):
    a = 3.61
    slab = s.build_slab("Cu", a, s.miller(facet), min_thickness_A=10.0, vacuum_A=8.0, structure="fcc")
    c = slab.cell.array
    n = np.cross(c[0], c[1])
    n /= np.linalg.norm(n)
    z = slab.positions @ n
    assert np.ptp(z) >= 10.0 - 1e-6 and abs(c[2] @ n) - np.ptp(z) >= 16.0 - 1e-6
    # fcc (hkl) spacing: a/sqrt(h2+k2+l2), halved unless h, k, l are all odd
    hkl = np.array(s.miller(facet))
    d_hkl = a / np.sqrt(hkl @ hkl) / (1 if all(hkl % 2 == 1) else 2)
    assert np.diff(np.unique(np.round(z, 3))).min() == pytest.approx(d_hkl, abs=1e-3)
    assert len(slab) / (s.slab_area(slab) * (np.ptp(z) + d_hkl)) == pytest.approx(4 / a ** 3, rel=1e-6)


@pytest.fixture(scope="module")
def emt(target):
    from ase.calculators.emt import EMT

    return target(EMT)


def test_emt_cu_facet_ordering(emt):
    """fcc protocol on EMT Cu: gamma(111) < gamma(100) < gamma(110) (broken bonds per area 3.46, 4, 4.24 /a^2
    in a nearest-neighbour model), each within 1-1.5 J/m^2 (EMT Cu: ~1.0-1.3 J/m^2, below the experimental
    ~1.8 J/m^2 average, as known for EMT/EAM), and the relaxation lowers gamma."""
    res = {f: s.compute(emt, "Cu", f, "smoke") for f in ("111", "100", "110")}
    g = {f: r["gamma"] for f, r in res.items()}
    assert 900 < g["111"] < g["100"] < g["110"] < 1500
    assert g["110"] - g["111"] > 100  # a real anisotropy, far above the relaxation noise
    for r in res.values():
        assert r["converged"] and r["gamma"] <= r["gamma_unrelaxed"] + 1e-6


@pytest.mark.needs_data
@pytest.mark.parametrize("element,name,derive", [("Mo", "surfaces_maml", "derive"), ("Ta", "surfaces_maml", "derive"),
                                                 ("Nb", "surfaces_maml", "derive"), ("W", "surfaces_maml", "derive"),
                                                 ("Cu", "surfaces_mlearn", "derive_mlearn"),
                                                 ("Ni", "surfaces_mlearn", "derive_mlearn"),
                                                 ("Ta", "surfaces_fitsnapTa", "derive_fitsnap_ta")])
def test_builder_reproduces_stored(element, name, derive):
    import json

    from revem.data import DataUnavailable
    from revem.validation import references
    from revem.validation.references_build import surfaces as build

    try:
        rows = build.derive_fitsnap_ta() if derive == "derive_fitsnap_ta" else getattr(build, derive)(element)
    except DataUnavailable as exc:
        pytest.skip(str(exc))
    stored = [r for r in json.loads((references.REFERENCE_DIR / element / f"{name}.json").read_text())["references"]
              if r["case"] != "ordering"]
    assert [(r["case"], r["quantity"]) for r in rows] == [(r["case"], r["quantity"]) for r in stored]
    for r, st in zip(rows, stored):
        assert r["value"] == pytest.approx(st["value"], abs=0.01)
        assert r["unit"] == "mJ/m^2" and r["protocol"] and r["source"]


@pytest.mark.needs_data
def test_mlearn_mo_surfaces_are_the_maml_ones():
    from revem.data import DataUnavailable
    from revem.validation.references_build import surfaces as build

    try:
        assert build.mlearn_mo_is_maml()
    except DataUnavailable as exc:
        pytest.skip(str(exc))


def test_other_element_references():
    """Stored non-W sets: physical range, one value per facet and source, relaxed below unrelaxed."""
    from revem.validation import references

    for el, lo, hi in (("Mo", 2500, 3600), ("Ta", 2200, 3200), ("Nb", 1900, 2500), ("Cu", 1400, 1900),
                       ("Ni", 2000, 2600)):
        refs = [r for r in references.load(el, "surfaces") if r.quantity.startswith("gamma")]
        assert refs and all(lo < r.value < hi and r.unit == "mJ/m^2" and r.protocol for r in refs)
        keys = [(r.case, r.quantity, r.source) for r in refs]
        assert len(keys) == len(set(keys))
    ta = {(r.case, r.quantity): r.value for r in references.load("Ta", "surfaces") if "fitsnap" in r.source.lower()}
    for f in ("110", "111", "211"):
        assert ta[(f, "gamma")] < ta[(f, "gamma_unrelaxed")]


def test_emt_hcp_basal_equals_fcc_111_and_policies(emt):
    """hcp protocol on EMT Cu relaxed as hcp: the basal (0001) plane is the fcc (111) plane with the same first
    neighbours, so its gamma is within 1 % of fcc (111); the prismatic (10-10) type-A surface breaks more
    bonds per area and costs more.  Facets without a reference are reported, those with one scored."""
    g0001 = s.compute(emt, "Cu", "0001", "smoke", lattice="hcp")["gamma"]
    g1010 = s.compute(emt, "Cu", "10-10", "smoke", lattice="hcp")["gamma"]
    g111 = s.compute(emt, "Cu", "111", "smoke")["gamma"]
    assert g0001 == pytest.approx(g111, rel=0.01) and g1010 > g0001 + 30
    low = s.PROTOCOL.run(emt, "Cu", "110", "smoke")
    assert [m.quantity for m in low] == ["gamma"] and low[0].policy == "reported" and low[0].uncertainty_covers
    assert s.PROTOCOL.run(emt, "Cu", "210", "smoke")[0].policy == "reference"


def test_w_zhou_110_below_100(target):
    """One real (EAM) slab relaxation each: gamma(110) < gamma(100), both in the J/m^2 range."""
    g110 = s.compute(target("W_zhou"), "W", "110", "smoke")["gamma"]
    g100 = s.compute(target("W_zhou"), "W", "100", "smoke")["gamma"]
    assert 1500 < g110 < g100 < 5000


def test_references_are_complete():
    from revem.validation import references

    refs = references.load("W", "surfaces")
    for src_key in ("Table 2", "maml"):
        gam = {r.case for r in refs if r.quantity == "gamma" and src_key in r.source}
        assert set(s.FACETS) <= gam
        rho = [r for r in refs if r.case == "ordering" and src_key in r.source]
        assert len(rho) == 1 and rho[0].value == 1.0 and 0 < rho[0].bound() < 1
    for r in refs:
        assert r.unit in ("mJ/m^2", "") and r.source and r.protocol
