"""``revem diversity`` (issue 13, first part): log det per atom / per configuration, truncation,
size-matched uncertainties, ZCA-whitened widths, QUESTS, CLI errors; real data on a small subset."""
import json

import numpy as np
import pytest

from revem.datasets import diversity as dv
from revem.cli import main


# -- pure functions -------------------------------------------------------------------------------
def test_logdet_of_a_known_covariance():
    rng = np.random.default_rng(0)
    m = 6
    A = rng.normal(size=(m, m))
    sigma = A @ A.T + 0.5 * np.eye(m)
    exact = np.linalg.slogdet(sigma)[1]
    assert dv.logdet_psd(sigma) == pytest.approx(exact, rel=1e-12)
    X = rng.multivariate_normal(np.zeros(m) + 3.0, sigma, size=200_000)
    # sampling error of log det ~ sqrt(2 m / n) = 0.008
    assert dv.logdet_cov(X) == pytest.approx(exact, abs=0.04)
    assert dv.logdet_cov(X[:m]) is None  # not more rows than features
    assert dv.logdet_psd(np.diag([1.0, 0.0, 2.0])) is None  # singular
    assert dv.numerical_rank(np.diag([1.0, 1e-20, 2.0])) == 2


def test_moments_match_direct_covariances():
    rng = np.random.default_rng(1)
    feats = [rng.normal(size=(k, 4)) * [1, 2, 3, 4] + 10.0 for k in rng.integers(1, 7, 40)]
    mom = dv.Moments(feats)
    C, n = mom.cov(np.ones(40), "per-atom")
    np.testing.assert_allclose(C, np.cov(np.vstack(feats).T), rtol=1e-10, atol=1e-12)
    assert n == sum(len(f) for f in feats)
    C, n = mom.cov(np.ones(40), "per-config")
    np.testing.assert_allclose(C, np.cov(np.array([f.mean(0) for f in feats]).T), rtol=1e-10, atol=1e-12)
    idx = [0, 3, 3, 7, 11, 11, 11, 20, 21, 30, 31, 35]  # a bootstrap-like multiset
    rows = np.vstack([feats[i] for i in idx])
    assert mom.logdet_subset(idx, "per-atom") == pytest.approx(dv.logdet_cov(rows), rel=1e-9)
    means = np.array([feats[i].mean(0) for i in idx])
    assert mom.logdet_subset(idx, "per-config") == pytest.approx(dv.logdet_cov(means), rel=1e-9)


def test_subsampling_uncertainties():
    rng = np.random.default_rng(2)
    feats = [rng.normal(size=(3, 5)) for _ in range(60)]
    mom = dv.Moments(feats)
    sub = dv.subsample(mom, "per-atom", 20, 15, np.random.default_rng(0))
    assert sub["n_configs"] == 20 and sub["n_defined"] == 15 and sub["sd"] > 0 and not sub["whole_set"]
    whole = dv.subsample(mom, "per-atom", 60, 15, np.random.default_rng(0))
    assert whole["whole_set"] and whole["sd"] is None
    assert whole["mean"] == pytest.approx(mom.logdet(np.ones(60), "per-atom")[0])
    # per-config with 20 configurations and 5 features: defined; with 5 configurations: not
    assert dv.subsample(mom, "per-config", 20, 5, np.random.default_rng(0))["mean"] is not None
    assert dv.subsample(mom, "per-config", 5, 5, np.random.default_rng(0))["mean"] is None
    b = dv.bootstrap(mom, "per-atom", 20, np.random.default_rng(0))
    assert b["n_defined"] == 20 and b["sd"] > 0
    # log det grows (less negative bias) with the sample size, on average
    c = dv.entropy_curve(mom, "per-atom", 10, np.random.default_rng(0), points=5)
    assert c["n_configs"][-1] == 60 and len(c["mean"]) == len(c["n_configs"])


def test_truncation_window():
    r = np.array([0.74, 0.75, 1.0, 1.25, 1.2501, np.nan, 3.0])
    assert dv.truncation_mask(r).tolist() == [False, True, True, True, False, False, False]
    assert dv.truncation_mask(r, 0.5).tolist() == [True, True, True, True, True, False, False]


def _sqrtm(S):
    lam, U = np.linalg.eigh(S)
    return (U * np.sqrt(lam)) @ U.T


def test_zca_counts_on_gaussians_of_known_widths():
    """Other set = reference covariance with widths s_k along the reference's ZCA axes: 20 axes 8x
    (>= 5x), 15 axes 2x, 10 equal, 10 half as wide -> broader 35, >= 5x 20, narrower 10."""
    rng = np.random.default_rng(3)
    m, n = 55, 40_000
    A = rng.normal(size=(m, m)) / np.sqrt(m)
    sig_r = A @ A.T + 0.05 * np.eye(m)
    root = _sqrtm(sig_r)
    s = np.r_[np.full(20, 8.0), np.full(15, 2.0), np.full(10, 1.0), np.full(10, 0.5)]
    ref = rng.normal(size=(n, m)) @ root + 5.0
    other = (rng.normal(size=(n, m)) * s) @ root + 5.0
    z = dv.zca_compare(ref, other)
    assert z["defined"]
    za = z["zca_axes"]
    # the 10 equal-width axes sit at ratio ~1 +- 1 %: count only the unambiguous ones
    assert za["broader_5x"] == 20 and za["narrower"] >= 10 and 35 <= za["broader"] <= 45
    r = np.array(z["ratios"]["zca_axes"])
    np.testing.assert_allclose(r, s, rtol=0.15)  # sampling leaks a little of the 8x axes into the others
    g = z["generalized"]  # eigenvalues: the same multiset of widths
    np.testing.assert_allclose(np.sort(z["ratios"]["generalized"]), np.sort(s), rtol=0.1)
    assert g["broader_5x"] == 20
    # standardising removes the scales: the condition number is that of the correlation matrix
    d = np.sqrt(np.diag(sig_r))
    corr = sig_r / np.outer(d, d)
    assert z["ref_condition_number"] == pytest.approx(np.linalg.cond(corr), rel=0.15)
    # a set identical in law to the reference: about half the axes broader, none 5x
    same = dv.zca_compare(ref, rng.normal(size=(n, m)) @ root)
    assert same["zca_axes"]["broader_5x"] == 0 and 10 <= same["zca_axes"]["broader"] <= 45


def test_zca_ridge_tames_a_flat_reference():
    """A reference that is flat along one axis: without a floor, a set of normal width there looks
    ~1e4x broader; the ridge (a common floor) caps it and the raw condition number shows why."""
    rng = np.random.default_rng(4)
    ref = rng.normal(size=(5000, 3)) * [1.0, 1.0, 1e-4]
    other = rng.normal(size=(5000, 3)) * [1.0, 1.0, 1e-2]  # 100x the reference's sd on axis 3
    z = dv.zca_compare(ref, other, ridge=1e-6)
    assert z["ref_condition_number"] == pytest.approx(1.0, rel=0.1)  # standardised per feature
    assert z["zca_axes"]["broader_5x"] == 1 and z["zca_axes"]["max_ratio"] == pytest.approx(100, rel=0.1)
    corr = rng.normal(size=(5000, 2))
    ref2 = np.c_[corr, corr[:, 0] + 1e-4 * rng.normal(size=5000)]  # nearly collinear features
    other2 = np.c_[corr, corr[:, 0] + 1e-2 * rng.normal(size=5000)]
    z2 = dv.zca_compare(ref2, other2, ridge=1e-6)
    assert z2["ref_condition_number"] > 1e6
    # along the flat direction the reference's standardised variance is ~ (1e-4)^2 / 2 = 5e-9 and the
    # other's ~ 5e-5: 100x in sd without a floor; the floor delta gives sqrt((5e-5 + d) / (5e-9 + d))
    assert dv.zca_compare(ref2, other2, ridge=1e-12)["generalized"]["max_ratio"] == pytest.approx(100, rel=0.15)
    assert z2["generalized"]["max_ratio"] == pytest.approx(np.sqrt(51e-6 / 1.005e-6), rel=0.15)
    assert z2["generalized"]["broader_5x"] == 1
    assert z2["ridge_sensitivity"]["generalized"]["broader_5x"] == 0  # 1e-3 floor: ratio ~ 1.02


# -- CLI errors (no features needed) --------------------------------------------------------------------
def test_bad_inputs_exit_2_naming_the_file(tmp_path, capsys):
    missing = tmp_path / "nope.extxyz"
    assert main(["diversity", str(missing)]) == 2
    assert "nope.extxyz" in capsys.readouterr().err
    empty = tmp_path / "empty.extxyz"
    empty.write_text("")
    assert main(["diversity", str(empty)]) == 2
    err = capsys.readouterr().err
    assert "empty.extxyz" in err and "empty" in err
    bad = tmp_path / "bad.extxyz.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00garbage")
    assert main(["diversity", str(bad)]) == 2
    assert "bad.extxyz.gz" in capsys.readouterr().err
    notdb = tmp_path / "x.db"
    notdb.write_text("hello")
    assert main(["diversity", str(notdb)]) == 2
    assert "x.db" in capsys.readouterr().err
    folder = tmp_path / "folder"
    folder.mkdir()
    assert main(["diversity", str(folder)]) == 2
    assert "folder" in capsys.readouterr().err
    garbled = tmp_path / "garbled.extxyz"
    garbled.write_text("2\nLattice=\"1 0 0 0 1 0 0 0 1\" Properties=species:S:1:pos:R:3\nW 0 0\n")
    assert main(["diversity", str(garbled)]) == 2
    assert "garbled.extxyz" in capsys.readouterr().err


def test_element_without_volume_is_refused(tmp_path, capsys):
    import ase.io
    from ase import Atoms

    f = tmp_path / "og.extxyz"
    ase.io.write(f, [Atoms("Og2", positions=[[0, 0, 0], [1.5, 1.5, 1.5]], cell=[3, 3, 3], pbc=True)])
    assert main(["diversity", str(f)]) == 2
    err = capsys.readouterr().err
    assert "og.extxyz" in err and "Og" in err


# -- with features (LAMMPS) -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    from revem.generator.cli import main as gmain

    db = str(tmp_path_factory.mktemp("div") / "g.db")
    assert gmain(["generate", "--out", db, "--windows", "8", "--modes", "per-atom", "--iterations", "4",
                  "--seed", "2", "--bootstrap", "4", "--bootstrap-rows", "0", "--no-progress"]) == 0
    return db


def test_generated_db_stored_features_equal_recomputed(generated):
    from revem.generator.featurizer import DescriptorSettings, LammpsSnapFeaturizer

    ds = dv.load_dataset(generated, include_bootstrap=True)
    assert ds.kind == "revem-db" and len(ds.frames) >= 4 and all(v == 15.9 for v in ds.v_eq)
    assert all(st is not None for st in ds.stored)
    f = LammpsSnapFeaturizer(DescriptorSettings.for_reference_volume(15.9))
    try:
        dv.featurize(ds, f, 15.9)
        ds2 = dv.load_dataset(generated, include_bootstrap=True)
        ds2.stored = [None] * len(ds2.frames)  # force recomputation
        dv.featurize(ds2, f, 15.9)
    finally:
        f.close()
    for a, b in zip(ds.feats, ds2.feats):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-8)
    # window 8 is 1.00-1.12 v_ref: every configuration is inside the +-25 % window
    assert np.all(dv.truncation_mask(ds.rel_volume))
    acc = dv.load_dataset(generated)
    assert len(acc.frames) < len(ds.frames)  # bootstrap left out by default


def test_generated_vs_itself_json(generated, capsys):
    assert main(["diversity", generated, generated + "", "--json", "--reps", "4", "--no-quests",
                 "--include-bootstrap"]) == 0
    d = json.loads(capsys.readouterr().out)
    (name,) = d["datasets"]  # the same path twice is one dataset
    x = d["datasets"][name]
    assert x["n_configs"] == x["all"]["n_configs"] and x["n_atoms"] > x["n_configs"]
    assert d["quests"]["available"] is False


@pytest.mark.needs_data
def test_w_subset_numbers_are_reproduced(tmp_path, capsys):
    """Two W groups (md_bulk 60 configurations, Disordered_Struc 27), QUESTS on 600 atoms: the CLI's numbers equal an independent recomputation
    (ase.io.read + select's featurizer + np.cov), and are pinned."""
    import ase.io

    from revem.data import DataUnavailable, fetch
    from revem.generator.rescale import equilibrium_volume
    from revem.generator.select import pool_features

    try:
        a = str(fetch("fitsnap-WBe/W/md_bulk.extxyz.gz"))
        b = str(fetch("fitsnap-WBe/W/Disordered_Struc.extxyz.gz"))
    except (DataUnavailable, KeyError) as exc:
        pytest.skip(str(exc))
    assert main(["diversity", a, b, "--json", "--max-configs", "50", "--reps", "6",
                 "--quests-max-atoms", "600"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["reference"] == a and d["plots"] == []
    for path in (a, b):
        frames = ase.io.read(path, index=":")
        if len(frames) > 50:  # each dataset argument draws with a fresh generator of --seed (0)
            idx = np.sort(np.random.default_rng(0).choice(len(frames), 50, replace=False))
            frames = [frames[i] for i in idx]
        rel = np.array([abs(np.linalg.det(f.cell.array)) / len(f) / equilibrium_volume("W") for f in frames])
        keep = (rel >= 0.75) & (rel <= 1.25)
        feats = pool_features([f for f, k in zip(frames, keep) if k])
        x = d["datasets"][path]
        assert x["n_configs"] == int(keep.sum()) and x["n_atoms"] == sum(len(f) for f in feats)
        for key, rows in (("logdet_per_atom", np.vstack(feats)), ("logdet_per_config", np.array([f.mean(0) for f in feats]))):
            ref = dv.logdet_cov(rows)
            assert (x[key] is None) == (ref is None)
            if ref is not None:
                assert x[key] == pytest.approx(ref, abs=1e-6)
    da, db_ = d["datasets"][a], d["datasets"][b]
    assert db_["zca_vs_reference"]["per-atom"]["defined"]
    if d["quests"]["available"]:
        assert 0 <= db_["quests"]["vs_reference"]["overlap_in_reference"] <= 1
        assert da["quests"]["entropy_n_atoms"] == db_["quests"]["entropy_n_atoms"]
    PINNED = {(a, "logdet_per_atom"): -397.5737825148572, (b, "logdet_per_atom"): -91.67240804987256,
              (a, "n_configs"): 50, (b, "n_atoms"): 1040}  # this revision's values (LAMMPS features)
    for k, v in PINNED.items():
        assert d["datasets"][k[0]][k[1]] == pytest.approx(v, abs=1e-3)


def test_analyse_and_plots_on_synthetic_features(tmp_path):
    """analyse() end to end without LAMMPS: truncation counts, matched size, ZCA block, 4 plots."""
    rng = np.random.default_rng(5)

    def ds(name, n, width, rel):
        d = dv.Dataset(name, name, "extxyz")
        d.feats = [rng.normal(size=(int(k), 55)) * width for k in rng.integers(2, 6, n)]
        d.rel_volume = np.asarray(rel, float)
        return d

    a = ds("a", 80, 1.0, np.r_[np.full(70, 1.0), np.full(10, 2.0)])  # 10 outside the +-25 % window
    b = ds("b", 120, 3.0, np.r_[np.full(100, 0.9), np.full(19, 0.5), [np.nan]])
    res = dv.analyse([a, b], "a", reps=4, quests=False)
    da, db = res["datasets"]["a"], res["datasets"]["b"]
    assert (da["n_configs"], da["all"]["n_configs"], db["n_configs"], db["all"]["n_configs"]) == (70, 80, 100, 120)
    assert res["n_matched"] == {"truncated": 70, "all": 80}
    assert da["uncertainty_per_atom"]["matched"]["whole_set"] and not db["uncertainty_per_atom"]["matched"]["whole_set"]
    # b is 3x wider in every feature: log det per atom larger by ~ 55 log 9 = 121
    assert db["logdet_per_atom"] - da["logdet_per_atom"] == pytest.approx(55 * np.log(9), abs=10)
    z = db["zca_vs_reference"]["per-atom"]
    assert z["zca_axes"]["broader"] == 55 and z["zca_axes"]["broader_5x"] == 0
    res["plots"] = dv.write_plots(res, "a", str(tmp_path))
    assert len(res["plots"]) == 4 and all((tmp_path / p.split("/")[-1]).stat().st_size > 1000 for p in res["plots"])
    res["settings"] = {"twojmax": 8, "n_features": 55, "rcutfac": 4.73442, "v_ref": 15.9, "reps": 4}
    text = dv.text_report(res, "a")
    assert "matched size: 70" in text and "QUESTS: skipped" in text
