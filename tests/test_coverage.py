"""Coverage-aware verdicts (revem.validation.coverage): the training-domain model, the recorder, the harness labels."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from revem.potentials import calculators, load_potential
from revem.validation import coverage
from revem.validation.coverage import TrainingDomain
from revem.validation.session import Recorder, Session
from revem.validation.target import Target


@pytest.fixture(scope="module")
def feat():
    f = coverage.make_featurizer()
    yield f
    f.close()

ROOT = Path(__file__).resolve().parent.parent


def _gaussian_configs(rng, n_configs=400, atoms_per_config=5, m=6, scale=None):
    scale = np.ones(m) if scale is None else np.asarray(scale)
    return [rng.normal(size=(atoms_per_config, m)) * scale + 3.0 for _ in range(n_configs)]


def test_mahalanobis_ratio_on_synthetic_gaussians():
    rng = np.random.default_rng(1)
    scale = [1.0, 10.0, 0.1, 1.0, 5.0, 2.0]
    dom = TrainingDomain.from_features(_gaussian_configs(rng, scale=scale), ridge=1e-9)
    # calibration: ratio 1 = the largest training distance; the stored 99th percentile of a 6-D standard
    # normal's radius (chi, 6 dof) is 4.10
    assert dom.threshold == dom.max_distance
    assert dom.p_distance == pytest.approx(4.10, rel=0.05)
    assert 4.5 < dom.threshold < 6.5
    t = dom.threshold
    centre = np.full((1, 6), 3.0)
    assert dom.ratio_of_features(centre) < 0.1 and TrainingDomain.label(dom.ratio_of_features(centre)) == "in-domain"
    # along the narrow axis (sigma 0.1): 3 sigma is inside (threshold ~5 sigma), 8 sigma is out
    inside = centre + np.array([[0, 0, 0.3, 0, 0, 0]])
    outside = centre + np.array([[0, 0, 0.8, 0, 0, 0]])
    assert dom.ratio_of_features(inside) == pytest.approx(3 / t, rel=0.08)
    assert dom.ratio_of_features(outside) == pytest.approx(8 / t, rel=0.08)
    assert TrainingDomain.label(dom.ratio_of_features(outside)) == "extrapolating"
    # a structure's ratio is its worst atom's
    assert dom.ratio_of_features(np.vstack([centre, outside])) == pytest.approx(dom.ratio_of_features(outside), rel=1e-12)
    # the same offset along the wide axis (sigma 10) is nothing
    assert dom.ratio_of_features(centre + np.array([[0, 0.8, 0, 0, 0, 0]])) < 0.1
    # every training atom is in-domain; fresh draws of the same distribution almost all (~1/2000 above)
    train = np.vstack(_gaussian_configs(np.random.default_rng(1), scale=scale))
    assert np.all(dom.distances(train) / dom.threshold <= 1 + 1e-12)
    fresh = np.vstack(_gaussian_configs(np.random.default_rng(2), scale=scale))
    assert np.mean(dom.distances(fresh) / dom.threshold > 1) < 0.005
    assert TrainingDomain.label(None) is None


def test_domain_refuses_degenerate_training_sets():
    with pytest.raises(coverage.CoverageError):
        TrainingDomain.from_features([])
    with pytest.raises(coverage.CoverageError):
        TrainingDomain.from_features([np.ones((1, 4))])
    with pytest.raises(coverage.CoverageError, match="Mo alone"):
        TrainingDomain.from_frames([bulk("W", "bcc", a=3.17)], element="Mo")


def test_sna_featurizer_matches_the_generator_featurizer(feat):
    from revem.generator.select import pool_features

    frames = [bulk("W", "bcc", a=3.17, cubic=True) * (2, 2, 2), bulk("W", "fcc", a=4.0), bulk("W", "hcp", a=2.8)]
    frames[0].rattle(0.05, seed=3)
    ref = pool_features(frames)
    ours = [coverage.structure_features(a, feat) for a in frames]
    for r, o in zip(ref, ours):
        assert o.shape == r.shape == (len(r), 55)
        np.testing.assert_allclose(o, r, rtol=1e-10, atol=1e-10)


def test_open_boundaries_do_not_depend_on_the_box(feat):
    dimer = lambda box: Atoms("W2", positions=[[1, 1, 1], [3.3, 1, 1]], cell=[box] * 3, pbc=False)
    f1, f2 = coverage.structure_features(dimer(6.0), feat), coverage.structure_features(dimer(40.0), feat)
    np.testing.assert_allclose(f1, f2, atol=1e-9)
    assert f1[0, 0] > 0
    periodic = Atoms("W2", positions=[[1, 1, 1], [3.3, 1, 1]], cell=[6.0] * 3, pbc=True)  # sees its images
    assert not np.allclose(coverage.structure_features(periodic, feat), f1)
    slab = bulk("W", "bcc", a=3.17, cubic=True) * (1, 1, 3)
    slab.pbc = (True, True, False)
    wide = slab.copy()
    wide.center(vacuum=15.0, axis=2)
    np.testing.assert_allclose(coverage.structure_features(slab, feat), coverage.structure_features(wide, feat),
                               atol=1e-9)


def test_recorder_keeps_first_last_and_a_bounded_reservoir():
    rec = Recorder(keep=5)
    a = bulk("W", "bcc", a=3.17, cubic=True)
    for i in range(100):
        b = a.copy()
        b.positions[0, 0] += 0.001 * i
        rec(b)
        rec(b)  # a consecutive duplicate counts once
    assert rec.n_seen == 100
    kept = rec.structures()
    assert len(kept) == 7
    assert kept[0].positions[0, 0] == pytest.approx(0.0) and kept[-1].positions[0, 0] == pytest.approx(0.099)
    middle = sorted(round(s.positions[0, 0] * 1000) for s in kept[1:-1])
    assert len(set(middle)) == 5 and all(1 <= m <= 98 for m in middle)


def test_recording_captures_what_a_targets_calculator_evaluates():
    t = Target.of("W_zhou", session=Session())
    calc = t.calculator()
    seen = []
    outside = bulk("W", "bcc", a=3.17, cubic=True)
    outside.calc = calc
    outside.get_potential_energy()  # not recorded: no recording active
    with t.session.recording() as rec:
        for a0 in (3.10, 3.17, 3.25):
            at = bulk("W", "bcc", a=a0, cubic=True) * (2, 2, 2)
            at.calc = calc
            at.get_potential_energy()
            at.get_forces()  # same structure: the calculator does not evaluate again
            seen.append(at.positions.copy())
    assert rec.n_seen == 3
    kept = rec.structures()
    assert len(kept) == 3
    for s, p in zip(kept, seen):
        np.testing.assert_array_equal(s.positions, p)
        assert s.atoms().get_chemical_symbols() == ["W"] * 16
    # a structure the potential refuses (overlapping atoms) is not recorded
    with t.session.recording() as rec2:
        bad = Atoms("W2", positions=[[0, 0, 0], [0.1, 0, 0]], cell=[10] * 3, pbc=True)
        bad.calc = t.calculator()
        with pytest.raises(calculators.BadStructure):
            bad.get_potential_energy()
    assert rec2.n_seen == 0
    # another run's session sees nothing of this one (no global hook list)
    other = Target.of("W_zhou", session=Session())
    with other.session.recording() as rec3:
        at = bulk("W", "bcc", a=3.3, cubic=True)
        at.calc = t.calculator()
        at.get_potential_energy()
    assert rec3.n_seen == 0


def _rattled_bcc_w(lattice_constants, n_seeds: int, amplitude_A: float) -> list:
    """2x2x2 conventional bcc W cells at each lattice constant (Å), rattled with seeds 0..n_seeds-1."""
    frames = []
    for a0 in lattice_constants:
        for seed in range(n_seeds):
            at = bulk("W", "bcc", a=a0, cubic=True) * (2, 2, 2)
            at.rattle(amplitude_A, seed=seed)
            frames.append(at)
    return frames


def test_case_coverage_labels_in_domain_and_extrapolating():
    frames = _rattled_bcc_w((3.12, 3.15, 3.17, 3.19, 3.22), 4, 0.04)
    dom = TrainingDomain.from_frames(frames, "W")
    rec = Recorder()
    probe = bulk("W", "bcc", a=3.17, cubic=True) * (2, 2, 2)
    probe.rattle(0.02, seed=11)
    rec(probe)
    inside = coverage.case_coverage(dom, rec)
    assert inside.domain == "in-domain" and inside.ratio < 1 and inside.n_structures == 1
    rec(bulk("W", "fcc", a=4.0, cubic=True))
    out = coverage.case_coverage(dom, rec)
    assert out.domain == "extrapolating" and out.ratio > 3 and out.n_structures == 2 and out.worst == 1


def _write_card(folder: Path, training) -> Path:
    import yaml

    card = {"name": "W_zhou_cov", "elements": ["W"], "kind": "lammps", "files_from": "lammps",
            "citation": "test copy of W_zhou", "lammps": {"pair_style": "eam/alloy",
                                                        "pair_coeff": "* * W_zhou.eam.alloy W"},
            "training_data": training}
    path = folder / "W_zhou_cov.yaml"
    path.write_text(yaml.safe_dump(card))
    return path


def test_card_training_data_file_and_hash(tmp_path):
    import ase.io

    frames = [bulk("W", "bcc", a=a, cubic=True) for a in (3.1, 3.17, 3.2)]
    ase.io.write(tmp_path / "train.extxyz", frames)
    pot = load_potential(str(_write_card(tmp_path, ["train.extxyz", {"file": "train.extxyz", "every": 2}])))
    assert [(e["name"], e["registry"], e["every"]) for e in pot.training_data] == [
        ("train.extxyz", False, 1), ("train.extxyz", False, 2)]
    assert pot.training_data[0]["path"] == (tmp_path / "train.extxyz").resolve()
    assert len(Target.of(pot).training_frames()) == 3 + 2
    # the content hash covers the training data, and is unchanged for a card without it
    assert pot.file_hash != load_potential("W_zhou").file_hash
    plain = load_potential("W_zhou")
    assert plain.training_data == [] and plain.file_hash == plain.file_hash


def test_harness_labels_records_and_reports_the_2x2_table(tmp_path):
    """A harness run of a card naming its training data (bcc cells only): every verification case is labelled,
    results.json carries coverage and domain, report.md shows the table, summary.md the interpolation count."""
    import ase.io

    cards = tmp_path / "cards"
    cards.mkdir()
    frames = _rattled_bcc_w((3.10, 3.14, 3.165, 3.19, 3.23), 3, 0.05)
    ase.io.write(cards / "train.extxyz", frames)
    card = _write_card(cards, ["train.extxyz"])
    out = tmp_path / "reports"
    env = dict(os.environ, PYTHONHASHSEED="0")
    cmd = [sys.executable, "-m", "pytest", str(ROOT / "validation"), "--property", "verification", "-p",
           "no:cacheprovider", "--potential", str(card), "--element", "W", "--report-dir", str(out), "-q"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads((out / "W_zhou_cov" / "W" / "standard" / "results.json").read_text())
    recs = res["records"]
    assert recs and all("coverage" in r and "domain" in r for r in recs)
    labelled = [r for r in recs if r["domain"] is not None]
    assert labelled, [(r["case"], r.get("note")) for r in recs]
    assert {r["domain"] for r in labelled} <= {"in-domain", "extrapolating"}
    for r in labelled:
        assert (r["domain"] == "in-domain") == (r["coverage"] <= 1.0) and r["coverage_structures"] >= 1
    dom = res["meta"]["training_domain"]
    assert dom["n_configs"] == 15 and dom["threshold"] > 0 and dom["sources"] == ["train.extxyz"]
    assert res["meta"]["potential"]["training_data"] == [{"name": "train.extxyz", "every": 1, "registry": False}]
    md = (out / "W_zhou_cov" / "W" / "standard" / "report.md").read_text()
    first = md.splitlines()[0]
    assert "failed while interpolating (in-domain)" in first
    assert "## Coverage of the training data" in md
    assert "| property | pass, in-domain | pass, extrapolating | **FAIL, in-domain** | FAIL, extrapolating |" in md
    row = next(ln for ln in md.splitlines() if ln.startswith("| verification |") and ln.count("|") == 7)
    counts = [int(x) for x in row.strip("|").split("|")[1:]]
    scored = [r for r in recs if r["passed"] is not None]
    assert sum(counts) == len(scored)
    assert counts[0] == sum(r["passed"] is True and r["domain"] == "in-domain" for r in scored)
    summary = (out / "summary.md").read_text()
    assert "failed while interpolating" in summary


def test_harness_without_training_data_has_no_labels(tmp_path):
    out = tmp_path / "reports"
    cmd = [sys.executable, "-m", "pytest", str(ROOT / "validation"), "--property", "verification", "-p",
           "no:cacheprovider", "--potential", "W_zhou", "--report-dir", str(out), "-q", "-k", "rotation"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    res = json.loads((out / "W_zhou" / "W" / "standard" / "results.json").read_text())
    assert all(r["domain"] is None and r["coverage"] is None for r in res["records"])
    md = (out / "W_zhou" / "W" / "standard" / "report.md").read_text()
    assert "Coverage of the training data" not in md and "interpolating" not in md.splitlines()[0]


@pytest.mark.needs_data
def test_demo_ace_domain_separates_held_out_frames_from_unseen_defects():
    """W_ace_linear_demo's training groups, smaller: vacancy snapshots it did not see are in-domain, the SIA
    cells (never in its training data) are far out."""
    from revem.data import DataUnavailable, read_frames

    try:
        vac = read_frames("fitsnap-WBe/W/vacancy.extxyz.gz")
        eos = read_frames("fitsnap-WBe/W/EOS_Data.extxyz.gz")
        sia = read_frames("fitsnap-WBe/W/BCC_ForceLib_W111.extxyz.gz")
    except DataUnavailable as exc:
        pytest.skip(str(exc))
    dom = coverage.domain_for(Target.of("W_ace_linear_demo"), "W")  # its 4 training groups (~8 s)
    assert dom.n_configs == dom.n_configs_total == 2347
    held_out = np.array([dom.ratio(a) for i, a in enumerate(vac) if i % 10 == 5])  # snapshots it was not fitted on
    assert np.mean(held_out <= 1.0) > 0.9 and held_out.max() < 1.3, held_out
    assert min(dom.ratio(a) for a in sia) > 3.0
    assert max(dom.ratio(a) for a in eos) <= 1.0 + 1e-9  # the training frames themselves


def test_demo_ace_card_names_the_frames_it_was_fitted_on():
    from revem.potentials.data.fit_w_linear_ace import GROUPS

    pot = load_potential("W_ace_linear_demo")
    assert {e["name"]: e["every"] for e in pot.training_data} == GROUPS
    assert all(e["registry"] for e in pot.training_data)


def _positions(rec):
    return [s.positions.tobytes() for s in rec.structures()]


def test_session_memo_replays_a_hit_to_the_active_recorder():
    t = Target.of("W_zhou", session=Session())
    calls = []

    def energies(a0s):
        calls.append(a0s)
        out = []
        for a0 in a0s:
            at = bulk("W", "bcc", a=a0, cubic=True) * (2, 2, 2)
            at.calc = t.calculator()
            out.append(at.get_potential_energy())
        return out

    a0s = tuple(3.0 + 0.01 * i for i in range(20))
    with t.session.recording() as case_a:
        first = t.memo("energies", a0s, compute=lambda: energies(a0s))
    assert case_a.n_seen == 20 and len(calls) == 1
    with t.session.recording() as case_b:  # a later case: the cache answers, nothing is evaluated ...
        assert t.memo("energies", a0s, compute=lambda: energies(a0s)) == first
    assert len(calls) == 1
    # ... and the case records the same structures (the first, the last and the reservoir case A kept)
    assert case_b.n_seen == case_a.n_seen
    assert _positions(case_b) == _positions(case_a)
    # without a recorder: the same result, cached
    assert t.memo("energies", a0s, compute=lambda: energies(a0s)) == first and len(calls) == 1


def test_session_memo_nests_and_forwards_to_the_outer_recorder():
    t = Target.of("W_zhou", session=Session())

    def inner(a0):
        def e():
            at = bulk("W", "bcc", a=a0, cubic=True)
            at.calc = t.calculator()
            return at.get_potential_energy()
        return t.memo("inner", a0, compute=e)

    def outer(a0s):
        return t.memo("outer", a0s, compute=lambda: [inner(a0) for a0 in a0s])

    rec = t.session.recording
    with rec() as warm:
        inner(3.10)  # cached before the outer call: a hit inside outer's first call
    assert warm.n_seen == 1
    with rec() as case_a:
        outer((3.10, 3.20))
    assert case_a.n_seen == 2  # the hit on inner(3.10) replayed through outer's capture to the case
    with rec() as case_b:
        outer((3.10, 3.20))  # a hit on outer: both structures, including the one inner replayed
    assert _positions(case_b) == _positions(case_a)
    with rec() as case_c:
        inner(3.20)  # computed inside outer's first call: cached with its own structures too
    assert case_c.n_seen == 1
    np.testing.assert_array_equal(case_c.structures()[0].positions, case_a.structures()[-1].positions)
    with rec() as outer_rec, rec() as inner_rec:  # the active recorders form a stack
        inner(3.10)
    assert outer_rec.n_seen == inner_rec.n_seen == 1


def test_protocol_run_cache_replays_the_structures_of_its_first_run():
    from revem.validation.protocol import Measurement, Protocol

    class P(Protocol):
        name = "toy"

        def measure(self, target, element, case, tier):
            at = bulk("W", "bcc", a=3.17, cubic=True)
            at.calc = target.calculator()
            return [Measurement("e", at.get_potential_energy(), "eV", case=case)]

    p, t = P(), Target.of("W_zhou", session=Session())
    with t.session.recording() as case_a:
        first = p.run(t, "W", "c", "smoke")
    with t.session.recording() as case_b:
        assert p.run(t, "W", "c", "smoke") == first
    assert case_a.n_seen == case_b.n_seen == 1
    assert _positions(case_b) == _positions(case_a)


def test_session_memo_keep_last_shows_only_the_result():
    t = Target.of("W_zhou", session=Session())

    def scan(n):
        for a0 in np.linspace(2.8, 4.0, n):  # a search: its trial cells are not what callers use
            at = bulk("W", "bcc", a=a0, cubic=True)
            at.calc = t.calculator()
            at.get_potential_energy()
        return a0

    with t.session.recording() as first:
        t.memo("scan", 5, compute=lambda: scan(5), keep="last")
    with t.session.recording() as hit:
        t.memo("scan", 5, compute=lambda: scan(5), keep="last")
    for rec in (first, hit):
        assert rec.n_seen == 1 and len(rec.structures()) == 1
        assert rec.structures()[0].cell[0, 0] == pytest.approx(4.0)
