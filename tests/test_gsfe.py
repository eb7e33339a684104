"""The γ-line protocol (revem.validation.properties.gsfe): pure geometry helpers, cases per element, the own-cell
lines on real calculators (ASE's EMT, W_zhou), the DFT-slab derivation and the reference builders."""

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from revem.validation.properties import gsfe


@pytest.mark.parametrize("plane", ["110", "112"])
def test_burgers_vector_is_in_plane_and_a_half_111(plane):
    a = 3.1805
    b = gsfe.burgers_cartesian(plane, a)
    assert b[0] == pytest.approx(0.0, abs=1e-12)  # x is the fault normal
    assert np.linalg.norm(b) == pytest.approx(a * np.sqrt(3) / 2)


def test_gapw_shift_annotations_match_b():
    # the (110) GAP-W cell: 4.498 x 3.1805 in-plane box; f = 1.2 equals f = 0.2 modulo b (a lattice vector)
    a = 3.1805
    cell0 = np.diag([13.49, a * np.sqrt(2), a])
    b = gsfe.burgers_cartesian("110", a)
    assert gsfe.shift_matches(np.array([0, 2.69874395, 1.90830015]), 0.2, b, cell0)
    assert gsfe.shift_matches(np.array([0, 0.44979065, 0.31805002]), 0.2, b, cell0)
    assert not gsfe.shift_matches(np.array([0, 0.44979065, 0.31805002]), 0.3, b, cell0)


def test_tilt_roundtrip():
    at = bulk("W", "bcc", a=3.18, cubic=True).repeat((3, 1, 1))
    b = np.array([0.0, 0.7, 0.2])
    t = gsfe.tilted(at, 0.4, b)
    back = gsfe.untilted(t, 0.4 * b)
    assert np.allclose(back.cell.array, at.cell.array)
    assert np.allclose(back.positions, at.positions)
    assert gsfe.fault_area(at.cell.array) == pytest.approx(3.18 ** 2)


def test_asymmetry_measures():
    f = [0.1, 0.2, 0.2, 0.8, 0.9]
    g = [100.0, 300.0, 310.0, 400.0, 130.0]
    pairs = gsfe.asymmetry_pairs(f, g)
    assert [p[0] for p in pairs] == [0.1, 0.2]
    assert gsfe.mean_asymmetry(f, g) == pytest.approx(((130 - 100) + (400 - 305)) / 2)
    assert gsfe.max_asymmetry(f, g) == pytest.approx(95.0)
    assert np.isnan(gsfe.mean_asymmetry([0.1], [1.0]))
    assert gsfe.gamma_us(f, g) == 400.0


def test_relaxed_cell_height_and_orientation():
    at = gsfe.relaxed_cell("W", "112", 3.165, 20.0)
    assert at.cell[0, 0] >= 20.0
    assert np.allclose(at.cell.array, np.diag(np.diag(at.cell.array)))  # orthogonal, x = normal
    # (112) planes: spacing a/sqrt(6) along x
    xs = np.unique(np.round(at.positions[:, 0], 4))
    assert np.diff(xs) == pytest.approx(np.full(len(xs) - 1, 3.165 / np.sqrt(6)), abs=1e-3)


def test_cases_by_tier():
    assert "110_relaxed" not in gsfe.cases("W", "smoke")
    assert {"110_unrelaxed", "112_unrelaxed", "110_symmetry", "112_asymmetry", "112_relaxed"} <= set(gsfe.cases("W", "standard"))


def test_gamma_us_is_the_dense_maximum_at_the_potentials_own_a0(target):
    from revem.validation.properties.common import ground_state

    zhou = target("W_zhou")
    res = gsfe.compute(zhou, "W", "110_gamma_us", "smoke")
    d = res["data"]
    a0 = ground_state(zhou, "W")["a0"]
    assert d["a0_A"] == pytest.approx(a0, abs=1e-9)  # the potential's own lattice constant, not 3.1805 Å
    # an independent 201-point line on the same cells: its maximum agrees to 0.01 %
    fine = gsfe.dense_gamma_us(zhou, "W", "110", a0, points=201)
    assert res["gamma_us"] == pytest.approx(max(fine["gamma"]), rel=1e-4)
    assert res["gamma_us"] >= max(fine["gamma"]) - 1e-6  # the refinement never undershoots the samples
    assert d["f_max"] == pytest.approx(0.5, abs=1e-3)  # (110)[111] is symmetric: the maximum is at b/2
    ms = gsfe.PROTOCOL.run(zhou, "W", "110_gamma_us", "smoke")
    assert [(m.quantity, m.policy) for m in ms] == [("gamma_us", "reported")]  # no reference is stored


@pytest.mark.needs_data
def test_w_dft_cells_are_scored_and_sampled_below_the_dense_maximum(target):
    from revem.data import DataUnavailable

    zhou = target("W_zhou")
    try:
        ms = {m.quantity: m for m in gsfe.PROTOCOL.run(zhou, "W", "110_unrelaxed", "smoke") if m.case is None}
    except DataUnavailable as exc:
        pytest.skip(str(exc))
    assert ms["gamma_us_sampled"].policy == ms["rmse"].policy == "reference"  # GAP-W references are stored
    assert ms["gamma_max_dft_cell"].policy == "reported"
    assert "a = 3.1805 Å" in ms["rmse"].note  # the lattice constant of the DFT cells, from the element data
    # the DFT series samples f = 0.2, 0.4, ...: its largest point lies below the line's maximum on the same cell
    assert ms["gamma_us_sampled"].value <= ms["gamma_max_dft_cell"].value + 1e-9


# --------------------------------------------------------------------- every element: cases from the lattice
def test_cases_per_element_from_lattice_and_element_data():
    # W keeps exactly its cases (CI baseline); every element gets the cases of its lattice
    assert gsfe.cases("W", "smoke") == ["110_gamma_us", "112_gamma_us", "110_unrelaxed", "112_unrelaxed",
                                        "110_symmetry", "112_asymmetry"]
    assert gsfe.cases("W", "standard")[-2:] == ["110_relaxed", "112_relaxed"]
    ta = ["110_gamma_us", "112_gamma_us", "110_unrelaxed", "112_unrelaxed", "110_symmetry", "112_asymmetry",
          "110_relaxed_slab", "112_relaxed_slab"]
    assert gsfe.cases("Ta", "smoke") == ta and gsfe.cases("Ta", "standard") == ta + ["110_relaxed", "112_relaxed"]
    for el in ("Mo", "Nb"):
        assert gsfe.cases(el, "smoke") == ["110_gamma_us", "112_gamma_us"]
    for el in ("Al", "Cu", "Ni"):
        assert gsfe.cases(el, "smoke") == ["111_partial", "111_full"]
        assert gsfe.cases(el, "standard") == ["111_partial", "111_full", "111_partial_relaxed"]
    for el in ("Be", "Re", "Os"):
        assert gsfe.cases(el, "standard") == ["0001_partial", "0001_full", "0001_partial_relaxed"]
    assert gsfe.cases("C", "standard") == []  # diamond: no γ line in this protocol
    assert gsfe.PROTOCOL.required_data("Ta", "112_unrelaxed") == ["fitsnap-Ta/Ta/GSF_112.extxyz.gz"]
    assert gsfe.PROTOCOL.required_data("W", "110_symmetry") == ["fitsnap-WBe/W/gamma_surface_rigid.extxyz.gz"]
    assert gsfe.PROTOCOL.required_data("Cu", "111_partial_relaxed") == []
    with pytest.raises(ValueError, match="no DFT"):
        gsfe.dft_file("Mo", "110")


def test_a_user_reference_makes_an_own_cell_number_scored(tmp_path, monkeypatch, target):
    import json

    from revem.validation import references

    emt = target(EMT)
    before = {m.quantity: m.policy for m in gsfe.PROTOCOL.measure(emt, "Cu", "111_partial", "smoke")}
    assert before == {"gamma_us": "reported", "gamma_isf": "reported"}
    (tmp_path / "Cu").mkdir()
    (tmp_path / "Cu" / "gsfe_mine.json").write_text(json.dumps({"property": "gsfe", "element": "Cu", "references": [
        {"case": "111_partial", "quantity": "gamma_isf", "value": 40.0, "unit": "mJ/m^2", "source": "test"}]}))
    monkeypatch.setenv(references.USER_DIR_VAR, str(tmp_path))
    references._load_file.cache_clear()
    try:
        after = {m.quantity: m.policy for m in gsfe.PROTOCOL.measure(emt, "Cu", "111_partial", "smoke")}
    finally:
        monkeypatch.delenv(references.USER_DIR_VAR)
        references._load_file.cache_clear()
    assert after == {"gamma_us": "reported", "gamma_isf": "reference"}


# ------------------------------------------------------------------------ slab γ-line derivation (Ta)
def _slab(plane, a=3.32, layers_per_half=6, vacuum=15.0):
    """Ideal bcc slab, fault normal along z, in the FitSNAP Ta box ((110): [1-10] x [001]; (112): [111] x [1-10])."""
    from ase.lattice.cubic import BodyCenteredCubic

    dirs = {"110": [[1, -1, 0], [0, 0, 1], [1, 1, 0]], "112": [[1, 1, 1], [1, -1, 0], [1, 1, -2]]}[plane]
    unit = BodyCenteredCubic(directions=dirs, symbol="Ta", latticeconstant=a, size=(1, 1, 1), pbc=True)
    if plane == "112":
        unit = unit.repeat((2, 1, 1))  # the DFT box is a·sqrt(3) = 2b along [111]
    per = len(np.unique(np.round(unit.positions[:, 2], 4)))
    at = unit.repeat((1, 1, int(np.ceil(2 * layers_per_half / per))))
    at.center(vacuum=vacuum / 2, axis=2)
    return at


@pytest.mark.parametrize("plane", ["110", "112"])
def test_slab_series_derives_gamma_relative_to_the_zero_shift_slab(plane):
    from ase.calculators.singlepoint import SinglePointCalculator

    ref = _slab(plane)
    b = gsfe.slab_burgers(ref, plane)
    assert np.linalg.norm(b) == pytest.approx(3.32 * np.sqrt(3) / 2)
    h = ref.positions[:, 2]
    upper = h > np.median(h)
    area = gsfe.fault_area(ref.cell.array, 2)
    true = {round(s, 2): 1000.0 * np.sin(np.pi * 2 * s) ** 2 + 50.0 * 2 * s * (1 - 2 * s) for s in np.arange(0, 0.55, 0.05)}
    frames = []
    for variant, e0 in (("nonrelax", -100.0), ("relax", -100.4)):  # the variants have their own zeros
        for s, g in true.items():
            at = gsfe.shifted_block(ref, upper, 2 * s * b)
            at.wrap()
            at.calc = SinglePointCalculator(at, energy=e0 + g * area / gsfe.EV_PER_A2_TO_MJ_PER_M2)
            at.info["source_id"] = f"GSF_{plane}_{variant}_{round(s, 2)}.json"
            frames.append(at)
    for variant in ("nonrelax", "relax"):
        ser = gsfe.slab_series(frames, plane, variant)
        assert len(ser) == 11
        sign = gsfe.twinning_sign(ref, 2, b) if plane == "112" else 1
        for x in ser:
            f_shift = 1.0 - x["f"] if (sign < 0 and 0 < x["f"] < 1) else x["f"]
            assert x["f_shift"] == pytest.approx(f_shift, abs=1e-9)
            assert x["gamma_dft"] == pytest.approx(true[round(f_shift / 2, 2)], abs=1e-6)
            assert x["moved"].sum() == (upper.sum() if 0 < x["f"] else 0) or x["f"] == 1.0
    # a frame whose label does not match its geometry is refused
    bad = gsfe.shifted_block(ref, upper, 0.3 * b)
    bad.calc = SinglePointCalculator(bad, energy=-99.0)
    bad.info["source_id"] = f"GSF_{plane}_nonrelax_0.1.json"
    with pytest.raises(ValueError, match="not f·b"):
        gsfe.slab_series([f for f in frames if f.info["source_id"] != f"GSF_{plane}_nonrelax_0.1.json"] + [bad],
                         plane, "nonrelax")


@pytest.mark.parametrize("sense", [1, -1])
def test_twinning_sense_reverses_the_stacking_across_the_fault(sense):
    # a rigid shift by b/3 in the sense twinning_sign calls "twinning" reverses the stacking step across
    # the fault: the first plane above it sits exactly where the second plane below sits (in-plane),
    # i.e. the planes next to the fault are mirror images (the one-layer twin); the opposite sense does not
    at = gsfe.relaxed_cell("W", "112", 3.165, 20.0)  # x = [112] normal, y = +b
    b = sense * gsfe.burgers_cartesian("112", 3.165)
    tw = gsfe.twinning_sign(at, 0, b)
    assert tw == sense  # relaxed_cell stacks the (112) planes by +b/3 along +y
    ls = gsfe.layers(at, 0)
    mid = len(ls) // 2
    upper = np.zeros(len(at), bool)
    for L in ls[mid:]:
        upper[L] = True

    def mirrored(shift):
        t = gsfe.shifted_block(at, upper, shift)
        d = t.positions[ls[mid][0]] - t.positions[ls[mid - 2][0]]
        d[0] = 0.0
        return np.allclose(gsfe.inplane_wrap(d, t.cell.array, 0), 0.0, atol=1e-6)

    assert not mirrored(np.zeros(3))
    assert mirrored(tw * b / 3)
    assert not mirrored(-tw * b / 3)


# -------------------------------------------------------------------------------- fcc / hcp own cells
def test_fcc_and_hcp_own_lines_with_emt():
    from ase.build import bulk
    from ase.calculators.emt import EMT

    def e_per_atom(el, structure, a, c=None):
        at = bulk(el, structure, a=a, c=c)
        at.calc = EMT()
        return at.get_potential_energy() / len(at)

    # fcc Al: the unrelaxed ISF equals the ANNNI value 2(E_hcp − E_fcc)/A_atom (exact for EMT's short
    # range to well below 0.1 %): an independent check of the cell, the partial vector and the area
    a = 4.05
    al = gsfe.own_line(EMT(), "Al", "111_partial", a, points=7, height_A=15.0)
    annni = 2 * (e_per_atom("Al", "hcp", a / np.sqrt(2), a / np.sqrt(2) * np.sqrt(8 / 3)) - e_per_atom("Al", "fcc", a)) \
        / (np.sqrt(3) * a ** 2 / 4) * gsfe.EV_PER_A2_TO_MJ_PER_M2
    assert al["gamma_sf"] == pytest.approx(annni, rel=1e-3) and al["gamma_sf"] > 0
    assert abs(al["gamma_f1"]) < 1e-6  # a/2[11-2] is a lattice translation
    assert al["gamma_sf"] < al["gamma_us"] < al["gamma_ontop"]
    cu = gsfe.own_line(EMT(), "Cu", "111_partial", 3.59, points=7, height_A=15.0)
    # the ISF is a stationary point of the unrelaxed line (a symmetric stacking): a local minimum
    base, lines = gsfe.own_cell("Cu", "fcc", 3.59, height_A=15.0)
    calc = EMT()

    def g(f):
        e0 = gsfe._energy(base, calc)
        return (gsfe._energy(gsfe.tilted(base, f, lines["partial"], 2), calc) - e0) / gsfe.fault_area(base.cell.array, 2)

    fi = cu["f_sf"]
    assert g(fi - 0.01) > g(fi) < g(fi + 0.01)
    full = gsfe.own_line(EMT(), "Cu", "111_full", 3.59, points=11, height_A=15.0)
    assert abs(full["gamma_f1"]) < 1e-6
    assert full["f_max"] == pytest.approx(0.5, abs=1e-3)  # a/2[1-10] line: symmetric about b/2
    # hcp (0001): the I2 fault (two fcc-like planes) is 2(E_fcc − E_hcp)/A_atom in the same ANNNI sense
    ah = 3.52 / np.sqrt(2)
    ni = gsfe.own_line(EMT(), "Ni", "0001_partial", ah, np.sqrt(8 / 3), points=7, height_A=15.0)
    annni = 2 * (e_per_atom("Ni", "fcc", 3.52) - e_per_atom("Ni", "hcp", ah, ah * np.sqrt(8 / 3))) \
        / (np.sqrt(3) * ah ** 2 / 2) * gsfe.EV_PER_A2_TO_MJ_PER_M2
    assert ni["gamma_sf"] == pytest.approx(annni, rel=1e-3)
    assert abs(ni["gamma_f1"]) < 1e-6 and 0 < ni["gamma_sf"] < ni["gamma_us"]


def test_relaxed_fcc_partial_line_with_emt(target):
    """The relaxed line (atoms and cell length along the normal) starts at 0, lies below the unrelaxed line at
    every sample, does not depend on the cell height (the fault's dilation is free), and states its uncertainty."""
    emt = target(EMT)
    un = gsfe.compute(emt, "Ni", "111_partial", "standard")["data"]
    ms = {m.quantity: m for m in gsfe.PROTOCOL.run(emt, "Ni", "111_partial_relaxed", "standard")}
    d = ms["gamma_us"].data
    assert d["gamma"][0] == pytest.approx(0.0, abs=1e-6) and not d["unconverged_p"]
    unrelaxed_at = dict(zip(np.round(un["f"], 6), un["gamma"]))  # 21 samples include the relaxed line's 11
    for p, g in zip(d["f"], d["gamma"]):
        assert g <= unrelaxed_at[round(p, 6)] + 1e-6
    assert ms["gamma_us"].value < un["gamma_us"]
    for m in ms.values():
        assert m.policy == "reported" and m.converged
        assert 0 <= m.uncertainty < 0.1 and "residual normal forces" in m.uncertainty_covers
    taller = gsfe.own_relaxed_line(emt, "Ni", "111_partial_relaxed", d["a0_A"], None, un["sf_sign"], points=2,
                                   height_A=40.0)
    assert taller["n_atoms"] > d["n_atoms"]
    assert taller["gamma_sf"] == pytest.approx(ms["gamma_isf"].value, abs=0.05)


# ------------------------------------------------------------------------------- builders (DFT data)
@pytest.mark.needs_data
def test_builders_reproduce_stored_references():
    import json

    from revem.validation import references
    from revem.data import DataUnavailable, read_frames
    from revem.validation.references_build import gsfe as build

    try:
        rows = {"W": build.build(read_frames(build.DATA)),
                "Ta": build.build_slabs("Ta", {p: read_frames(f) for p, f in gsfe.dft_cells("Ta")["files"].items()})}
    except DataUnavailable as exc:
        pytest.skip(str(exc))
    for el, name in (("W", "gsfe_gapw"), ("Ta", "gsfe_fitsnap")):
        stored = json.loads((references.REFERENCE_DIR / el / f"{name}.json").read_text())["references"]
        assert [(r["case"], r["quantity"], r["value"]) for r in rows[el]] == \
            [(r["case"], r["quantity"], r["value"]) for r in stored]
    ta = {(r["case"], r["quantity"]): r["value"] for r in rows["Ta"]}
    # physics of the Ta lines: relaxation lowers γ_us; (110) symmetric; (112) antitwinning above twinning
    assert ta[("110_relaxed_slab", "gamma_us_sampled")] < ta[("110_unrelaxed", "gamma_us_sampled")]
    assert ta[("112_relaxed_slab", "gamma_us_sampled")] < ta[("112_unrelaxed", "gamma_us_sampled")]
    assert ta[("110_symmetry", "max_asymmetry")] < 1.0 and ta[("112_asymmetry", "asymmetry")] > 20.0
    # the W GAP-W labels (f < 0.5 = twinning, from the mirror README) agree with twinning_sign
    s0 = gsfe.dft_series(read_frames(build.DATA), "112", build.LATTICE_A)[0]
    assert gsfe.twinning_sign(s0["untilted"], 0, gsfe.burgers_cartesian("112", 3.1805)) == 1
    # Be StackFaults: declined, no perfect frame of the same cell
    be = build.be_stacking_faults(read_frames(build.BE_STACKFAULTS))
    assert not be["usable"] and all(c["energy_spread_eV"] > 0.3 for c in be["cells"])
