"""The robustness protocol: dimer-curve metrics on synthetic curves and real calculators, the seeded
random search, the prototype starts from every ground lattice, the plot/extxyz output and one W run of every
case (smoke tier)."""
import numpy as np
import pytest
from ase.calculators.emt import EMT
from ase.calculators.morse import MorsePotential

from revem.validation.properties import robustness as rb
from revem.validation.target import Target

R = np.round(np.arange(0.5, 8.0 + 1e-9, 0.02), 10)


def morse(r, d=2.0, a=1.6, r0=2.6):
    """Morse E (eV) and F = −dE/dr (eV/Å), zeroed smoothly is not needed: e^{-a(r-r0)} < 1e-4 at 8 Å."""
    x = np.exp(-a * (r - r0))
    return d * (x * x - 2 * x), 2 * a * d * (x * x - x)


def _bump(r, h=0.3, c=3.8, w=0.3):
    g = h * np.exp(-((r - c) / w) ** 2)
    return g, g * 2 * (r - c) / w ** 2  # E, F = −dE/dr


def test_single_morse_well_passes_every_check():
    e, f = morse(R)
    out = rb.analyse_dimer(R, e, f, r_arena=1.5)
    assert out["problems"] == []
    assert out["n_minima"] == 1 and out["r_min"] == pytest.approx(2.6, abs=0.011)
    assert out["depth"] == pytest.approx(-2.0, abs=1e-3) and out["wall"] > 100
    a = out["arena"]
    assert a["force_flips"] == 1 and a["energy_diff_flips"] == 1
    assert a["tortuosity"] == pytest.approx(1.0, abs=1e-6)
    assert a["spearman_repulsion_energy"] == pytest.approx(-1.0)
    assert a["spearman_attraction_energy"] == pytest.approx(1.0)
    assert a["conservation_deviation"] < 0.05  # central differences of an analytic curve


def test_spurious_second_minimum_is_flagged():
    e, f = morse(R)
    g, gf = _bump(R)
    out = rb.analyse_dimer(R, e + g, f + gf)
    assert out["n_minima"] == 2
    assert any("2 minima" in p for p in out["problems"])
    assert out["arena"]["force_flips"] == 3


def test_shallow_wiggle_below_the_prominence_is_not_a_minimum():
    e, f = morse(R)
    g, gf = _bump(R, h=0.004, c=5.0, w=0.2)  # a 4 meV ripple on the flat tail: under minimum_prominence_eV
    out = rb.analyse_dimer(R, e + g, f + gf)
    assert out["n_minima"] == 1 and not any("minima" in p for p in out["problems"])


def test_collapse_at_short_range_is_not_repulsive_nor_monotonic():
    e, f = morse(R)
    hole = -2.5e3 * np.exp(-(R - 0.5) / 0.1)  # an attractive core: E falls again below ~0.9 Å
    out = rb.analyse_dimer(R, e + hole, f + hole / 0.1)
    msgs = " ".join(out["problems"])
    assert "not repulsive" in msgs and "not monotonic" in msgs


def test_energy_and_force_discontinuities_are_found_without_a_calculator():
    e, f = morse(R)
    step = np.where(R > 3.01, 0.05, 0.0)  # energy jumps by 50 meV, the force does not know
    out = rb.analyse_dimer(R, e + step, f)
    assert out["energy_jump"] == pytest.approx(0.05, rel=0.05) and 3.0 < out["energy_jump_r"] < 3.04
    assert any("energy discontinuity" in p for p in out["problems"])
    kink = np.where(R > 3.31, -0.5 * (R - 3.31), 0.0)  # continuous energy, force jumps by 0.5 eV/Å
    out = rb.analyse_dimer(R, e + kink, f + np.where(R > 3.31, 0.5, 0.0))
    assert out["force_jump"] == pytest.approx(0.5, abs=0.05)
    assert any("force discontinuity" in p for p in out["problems"]) and out["energy_jump"] < 1e-3


def test_bisection_locates_a_jump_and_clears_a_smooth_curve():
    def smooth(r):
        e, f = morse(np.array([r]))
        return float(e[0]), float(f[0])

    def jumpy(r):
        e, f = smooth(r)
        return e + (0.02 if r > 2.9137 else 0.0), f

    j = rb.bisect_jump(jumpy, 2.9, 2.94)
    assert j["energy_jump"] == pytest.approx(0.02, rel=1e-3) and j["r"] == pytest.approx(2.9137, abs=1e-5)
    s = rb.bisect_jump(smooth, 2.9, 2.94)
    assert s["energy_jump"] < 1e-9 and s["force_jump"] < 1e-4


def test_cutoff_and_minima_helpers():
    r = np.linspace(1, 6, 51)
    e = np.where(r < 4.0, (r - 4.0) ** 2, 0.0)
    assert rb.find_cutoff(r, e) == pytest.approx(3.9)
    assert rb.find_cutoff(r, -np.exp(-r)) is None  # still changing at the end of the scan
    assert rb.local_minima(r, np.cos(3 * r), prominence=0.1)  # interior minima found
    assert rb.local_minima(r, e) == []  # the plateau beyond the cutoff is not a minimum


def test_morse_calculator_runs_the_dimer_case():
    t = Target.of(lambda: MorsePotential(epsilon=2.0, r0=2.6, rho0=4.0), name="morse-W")
    ms = {m.quantity: m for m in rb.PROTOCOL.run(t, "W", "dimer", "smoke")}
    assert ms["n_minima"].value == 1 and ms["n_minima"].failure is None
    assert ms["r_min"].value == pytest.approx(2.6, abs=0.05) and ms["depth"].value == pytest.approx(-2.0, abs=0.02)
    assert ms["cutoff"].value == pytest.approx(2.7 * 2.6, abs=0.15)  # ASE's Morse: smooth cut at rcut2 * r0
    assert all(m.policy == "reported" for m in ms.values())


def test_snap_with_zbl_dimer_is_repulsive_but_has_a_second_well(target):
    """W_2940_2017_2 (SNAP + ZBL): E(0.5 Å) ~ 6 keV and monotonic below the well at 2.62 Å (-0.50 eV);
    but between 3 and 4.8 Å the curve climbs to +0.24 eV at 3.5 Å and falls into a second well at 4.32 Å
    (-0.03 eV, 32 meV deep): observed, and flagged."""
    res = rb.dimer(target("W_2940_2017_2"), "W", "smoke")
    assert res["wall"] > 1000 and res["n_rising_steps_below_r_min"] == 0
    assert res["r_min"] == pytest.approx(2.62, abs=0.05) and res["depth"] == pytest.approx(-0.50, abs=0.02)
    assert [round(m["r"], 1) for m in res["minima"]] == [2.6, 4.3]
    assert any("2 minima" in p for p in res["problems"])
    assert res["energy_jump"] < 1e-6 and res["force_jump"] < 0.1
    assert res["cutoff"] == pytest.approx(4.75, abs=0.06)


def test_quadratic_snap_dimer_is_purely_repulsive(target):
    """W_quadratic (ZBL 4.0-4.8 Å overlaid on a quadratic SNAP): the dimer is unbound, E(r) falls
    monotonically from ~5.7 keV at 0.5 Å to zero at the 4.8 Å cutoff: no well at all, nothing flagged
    by the dimer checks (its bulk problems are found by the relaxation cases)."""
    res = rb.dimer(target("W_quadratic"), "W", "smoke")
    assert res["problems"] == [] and res["n_minima"] == 0 and res["r_min"] is None
    assert res["wall"] > 1000 and res["arena"]["force_flips"] == 0


def test_random_search_is_seeded_and_repeatable(target):
    s = {**rb.settings("smoke"), "search_count": 2, "search_atoms_max": 4, "search_steps": 60}
    t = target("W_zhou")
    e0, v, d, lat = rb.ground(t, "W")
    assert lat == "bcc" and d == pytest.approx((2 * v) ** (1 / 3) * np.sqrt(3) / 2)
    a = rb.run_random_search(t.calculator, "W", e0, v, d, s)
    b = rb.run_random_search(t.calculator, "W", e0, v, d, s)
    assert [x["dE"] for x in a["ends"]] == [x["dE"] for x in b["ends"]]
    assert a["structures"] == b["structures"] and a["structures"]
    other = rb.random_start(np.random.default_rng(s["seed"] + 1), "W", v, d, s)[0]
    first = rb.random_start(np.random.default_rng(s["seed"]), "W", v, d, s)[0]
    assert not (len(other) == len(first) and np.allclose(other.positions, first.positions))
    assert rb.min_distance(first) >= s["search_min_distance_fraction"] * d - 1e-9


def test_prototype_start_strains_at_constant_volume():
    rng = np.random.default_rng(0)
    at = rb.prototype_start("hcp", "W", 16.0, 2.75, 1.1, rng, 0.0)
    assert len(at) >= rb.DEFAULTS["min_atoms"]
    assert at.get_volume() / len(at) == pytest.approx(16.0, rel=1e-6)
    ref = rb.prototype_start("hcp", "W", 16.0, 2.75, 1.0, rng, 0.0)
    assert abs(at.cell.array[2, 2]) == pytest.approx(1.1 * abs(ref.cell.array[2, 2]))


def test_every_element_gets_every_case_from_its_ground_lattice():
    for el in ("W", "Cu", "Be", "C"):
        assert rb.cases(el, "smoke") == ["dimer", "prototype_starts", "random_search"]
    # the prototypes less the ground lattice: W keeps its list, the others start from bcc too
    assert rb.settings("smoke", "W")["prototypes"] == ("hcp", "A15")
    assert rb.settings("standard", "W")["prototypes"] == ("fcc", "hcp", "A15", "beta-Sn", "omega", "simple-hex")
    assert rb.settings("smoke", "Cu")["prototypes"] == ("bcc", "hcp", "A15")
    assert rb.settings("smoke", "Be")["prototypes"] == ("bcc", "A15")
    assert rb.ground_is_lowest("W") and not rb.ground_is_lowest("C")  # C: graphite lies below diamond


def test_fcc_relaxations_from_the_fcc_ground_state_with_emt(target):
    """EMT Cu: every start relaxes to fcc or to hcp (EMT's hcp lies 0.9 meV/atom below its fcc, within the 5 meV
    margin), nothing collapses, nothing is flagged; the quantities are named after the ground lattice."""
    emt = target(EMT)
    e0, v0, d_nn, lat = rb.ground(emt, "Cu")
    assert lat == "fcc" and d_nn == pytest.approx((4 * v0) ** (1 / 3) / np.sqrt(2))
    for case in ("prototype_starts", "random_search"):
        ms = {m.quantity: m for m in rb.PROTOCOL.run(emt, "Cu", case, "smoke")}
        assert ms["lowest_dE"].failure is None
        assert ms["n_below_fcc"].value == 0 and ms["n_collapsed"].value == 0 and ms["n_at_fcc"].value >= 2
        assert abs(ms["lowest_dE"].value) < rb.DEFAULTS["margin_eV_per_atom"]
        assert "n_below_bcc" not in ms
    ms = {m.quantity: m for m in rb.PROTOCOL.run(emt, "Cu", "prototype_starts", "smoke")}
    assert set(q for q in ms if q.startswith("dE_")) == {"dE_bcc", "dE_hcp", "dE_A15"}


def test_below_the_ground_lattice_fails_only_where_it_is_the_lowest_structure():
    ends = [{"dE": -0.1, "collapsed": False, "converged": True, "start": "random #0", "found": "P6_3/mmc (194), 4/prim",
             "prototype": None}]
    res = {"ends": ends, "lowest_dE": -0.1, "n_below": 1, "n_at": 0, "n_collapsed": 0, "n_unconverged": 0,
           "structures": [], "lattice": "diamond"}
    s = rb.settings("smoke")
    flagged = rb._relax_measurements("random_search", res, s, lowest_is_ground=True)[0]
    assert "ended below diamond" in flagged.failure
    physics = rb._relax_measurements("random_search", res, s, lowest_is_ground=False)[0]
    assert physics.failure is None and "not a failure" in physics.note
    res["n_collapsed"], ends[0]["collapsed"], ends[0]["why"] = 1, True, "overlapping atoms"
    assert "collapsed" in rb._relax_measurements("random_search", res, s, lowest_is_ground=False)[0].failure


def test_plot_writes_structures_and_png(tmp_path):
    e, f = morse(R)
    st = {"symbols": ["W", "W"], "cell": np.eye(3).tolist(), "positions": [[0, 0, 0], [0.5, 0.5, 0.5]],
          "dE_eV_per_atom": -0.1, "label": "BELOW bcc: random #0 -> x", "converged": True}
    recs = [{"property": "robustness", "case": "dimer", "quantity": "n_minima", "potential": "p",
             "data": {"r_A": R.tolist(), "E_eV": e.tolist(), "F_eV_per_A": f.tolist(), "minima": [], "cutoff_A": None}},
            {"property": "robustness", "case": "random_search", "quantity": "lowest_dE", "potential": "p",
             "data": {"dE_eV_per_atom": [-0.1, 0.2, None], "collapsed": [False, False, True],
                      "margin_eV_per_atom": 0.005, "structures": [st]}}]
    made = rb.plot(recs, tmp_path)
    assert [p.name for p in made] == ["robustness.png"] and made[0].stat().st_size > 1000
    from ase.io import read

    frames = read(tmp_path / rb.STRUCTURES_FILE, ":")
    assert len(frames) == 1 and frames[0].info["dE_eV_per_atom"] == pytest.approx(-0.1)
    rb.plot(recs[:1], tmp_path)  # no structures any more: the stale file goes
    assert not (tmp_path / rb.STRUCTURES_FILE).exists()


def test_w_snap_every_case_and_the_report_files(tmp_path, target):
    """W_2940_2017_2, smoke tier, every case as a run measures it: the dimer's second well fails its case; the
    relaxations find nothing below bcc; the plot writes the figure and the structures file."""
    snap = target("W_2940_2017_2")
    recs = []
    for case in rb.cases("W", "smoke"):
        for m in rb.PROTOCOL.run(snap, "W", case, "smoke"):
            recs.append({"property": "robustness", "case": case, "quantity": m.quantity, "value": m.value,
                         "potential": "W_2940_2017_2", "element": "W", "data": m.data, "failure": m.failure})
    failures = {r["case"]: r["failure"] for r in recs if r["failure"]}
    assert list(failures) == ["dimer"] and "2 minima in the dimer curve" in failures["dimer"]
    below = {r["case"]: r["value"] for r in recs if r["quantity"] == "n_below_bcc"}
    assert below == {"prototype_starts": 0, "random_search": 0}
    made = rb.plot(recs, tmp_path)
    assert [p.name for p in made] == ["robustness.png"] and (tmp_path / rb.STRUCTURES_FILE).is_file()


def test_refused_distances_are_a_finding():
    e, f = morse(R)
    e, f = e.copy(), f.copy()
    e[:5] = np.nan  # the potential refused the five shortest distances
    out = rb.analyse_dimer(R, e, f, refusal="at r = 0.500 Å: overlapping atoms")
    assert any("refused" in p and "overlapping atoms" in p for p in out["problems"])
    assert out["n_minima"] == 1
