"""Generator streams: acceptance rule, R_min, windows, stored S, kill -9 + resume, CLI."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from revem.generator.candidate import min_distance
from revem.generator.cli import info_dict, main
from revem.generator.entropy import Normalization, recompute_entropy
from revem.generator.featurizer import LammpsSnapFeaturizer
from revem.generator.runner import build_specs, prepare, run_local
from revem.generator.storage import Store

from db_snapshot import snapshot  # tests/db_snapshot.py

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--windows", "8", "--modes", "per-config", "--seed", "1", "--no-progress"]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    db = str(tmp_path_factory.mktemp("gen") / "x.db")
    assert main(["generate", "--out", db, "--iterations", "8"] + ARGS) == 0
    return db


def test_accepted_raise_s_and_match_recomputation(small_run):
    store = Store(small_run)
    rec = store.load_stream("w08-per-config")
    norm = Normalization.from_dict(rec["norm"])
    w = rec["spec"]["window"]
    feats = [r.data["features"] for r in store.rows(kind="bootstrap")]
    acc = list(store.rows(kind="accepted"))
    assert len(acc) >= 2
    prev = None
    fz = LammpsSnapFeaturizer()
    for r in acc:
        k = r.key_value_pairs
        assert k["s_after"] > k["s_before"]
        if prev is not None:
            assert k["s_before"] == prev and k["s_after"] > prev
        prev = k["s_after"]
        v = r.toatoms().get_volume() / r.natoms
        assert w["v_start"] <= v <= w["v_end"]
        assert 2 <= r.natoms <= 25
        assert min_distance(np.asarray(r.cell), r.positions, w["r_min"]) >= w["r_min"]
        # features recomputed from the stored structure equal the stored ones
        np.testing.assert_allclose(fz.features_of(np.asarray(r.cell), r.positions), r.data["features"], atol=1e-9)
        feats.append(r.data["features"])
        assert recompute_entropy(feats, norm, "per-config") == pytest.approx(k["s_after"], abs=1e-6)
    assert rec["state"]["S"] == prev
    fz.close()


def test_info_and_export(small_run, tmp_path, capsys):
    d = info_dict(small_run)
    s = d["streams"]["w08-per-config"]
    # the start rule: >= 10 configurations and >= 2 x 55 rows (one per configuration in per-config mode)
    assert s["iterations_done"] == 8 and s["rows"]["bootstrap"] == 110 and s["rows"]["accepted"] == s["accepted"]
    assert s["bootstrap_rows"] == 110 and s["S_rows"] == 110 + s["accepted"]
    assert d["run"]["bootstrap_rows"] == 110
    assert main(["info", small_run, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["streams"]["w08-per-config"]["S"] == s["S"]
    out = tmp_path / "x.extxyz"
    assert main(["export", small_run, str(out)]) == 0
    import ase.io
    frames = ase.io.read(out, index=":")
    assert len(frames) == s["accepted"] and frames[0].arrays["bispectrum"].shape[1] == 55
    r = tmp_path / "al.db"
    assert main(["rescale", small_run, "--element", "Al", "--out", str(r)]) == 0
    import ase.db
    rows = list(ase.db.connect(str(r)).select(kind="accepted"))
    v = rows[0].toatoms().get_volume() / rows[0].natoms
    assert v / rows[0].key_value_pairs["v_start"] >= 16.4717 / 15.9 * (1 - 1e-9)
    assert set(rows[0].toatoms().get_chemical_symbols()) == {"Al"}


def test_resume_after_partial_run_equals_uninterrupted(small_run, tmp_path):
    db = str(tmp_path / "p.db")
    specs = build_specs([8], ["per-config"], 8, seed=1)
    from revem.generator.stream import run_stream
    Store(db)
    run_stream(db, specs[0].as_dict(), max_iterations=3)
    run_stream(db, specs[0].as_dict(), max_iterations=2)
    run_stream(db, specs[0].as_dict())
    assert snapshot(db) == snapshot(small_run)
    # refuses to overwrite or to resume with other settings
    assert main(["generate", "--out", db, "--iterations", "8"] + ARGS) == 2
    assert main(["generate", "--out", db, "--iterations", "8", "--resume", "--steps", "10"] + ARGS) == 2


def test_kill9_and_resume_equals_uninterrupted(small_run, tmp_path):
    db = str(tmp_path / "k.db")
    cmd = [sys.executable, "-m", "revem.generator.cli", "generate", "--out", db, "--iterations", "8"] + ARGS
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    try:
        while time.time() - t0 < 90:
            time.sleep(0.2)
            try:
                con = sqlite3.connect(db, timeout=1)
                n = con.execute("SELECT COUNT(*) FROM text_key_values WHERE key='kind' AND value='accepted'").fetchone()[0]
                con.close()
            except sqlite3.Error:
                continue
            if n >= 2:
                break
        assert p.poll() is None, "run finished before it could be killed"
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    partial = info_dict(db)["streams"]["w08-per-config"]["iterations_done"]
    assert partial < 8
    r = subprocess.run(cmd + ["--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert snapshot(db) == snapshot(small_run)


def test_parallel_workers_two_streams(tmp_path):
    db = str(tmp_path / "w.db")
    specs = build_specs([3], ["per-atom", "per-config"], 2, seed=4)
    prepare(db, specs, {"seed": 4}, resume=False)
    res = run_local(db, specs, workers=2, progress=False)
    assert sorted(r["stream"] for r in res) == ["w03-per-atom", "w03-per-config"]
    assert all(r["iteration"] == 2 for r in res)


@pytest.mark.slow
def test_per_config_more_ordered_than_per_atom(tmp_path):
    """Seed paper Sec. 2.1: per-config streams give internally more ordered configurations
    (smaller within-configuration spread of the standardised features) than per-atom streams."""
    db = str(tmp_path / "o.db")
    specs = build_specs([8], ["per-atom", "per-config"], 14, seed=2)
    prepare(db, specs, {"seed": 2}, resume=False)
    run_local(db, specs, workers=1, progress=False)
    store = Store(db)
    spread = {}
    for mode in ("per-atom", "per-config"):
        norm = Normalization.from_dict(store.load_stream(f"w08-{mode}")["norm"])
        vals = [norm.apply(r.data["features"]).std(axis=0).mean()
                for r in store.rows(kind="accepted", mode=mode) if r.natoms >= 4]
        assert len(vals) >= 3
        spread[mode] = float(np.mean(vals))
    assert spread["per-config"] < spread["per-atom"], spread


def test_dask_scheduler_gives_the_same_database(tmp_path):
    """--scheduler: the same streams on a (local, real) Dask cluster give the rows of a local run."""
    distributed = pytest.importorskip("dask.distributed")
    from revem.generator.runner import run_dask

    specs = build_specs([5], ["per-config"], 2, seed=11)
    local_db, dask_db = str(tmp_path / "local.db"), str(tmp_path / "dask.db")
    prepare(local_db, specs, {"seed": 11}, resume=False)
    run_local(local_db, specs, workers=1, progress=False)
    prepare(dask_db, specs, {"seed": 11}, resume=False)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cl:
        res = run_dask(dask_db, specs, cl.scheduler_address, progress=False)
    assert [r["stream"] for r in res] == ["w05-per-config"]
    assert snapshot(dask_db)[0] == snapshot(local_db)[0]


# -- the per-config start rule (issue 12, item 3) ------------------------------------------------
def _start(db_or_spec, featurizer):
    """(norm, moments) of a stream's bootstrap, from the rows stored in a database."""
    from revem.generator.entropy import RunningMoments, sample_rows

    store = Store(db_or_spec)
    norm = Normalization.from_dict(store.load_stream("w08-per-config")["norm"])
    mom = RunningMoments(featurizer.m)
    for r in store.rows(kind="bootstrap"):
        mom.add(sample_rows(norm.apply(r.data["features"]), "per-config"))
    return norm, mom


def _first_outcomes(spec, featurizer, norm, mom, n):
    """Outcomes and S gains of a stream's first n iterations (state advanced as run_stream does)."""
    from revem.generator.entropy import logdet
    from revem.generator.stream import _new_state, advance, run_iteration

    st = _new_state(spec, logdet(mom, norm))
    out, gains = [], []
    for _ in range(n):
        o, acc = run_iteration(spec, featurizer, st, norm, mom)
        new = advance(spec, st, o)
        if acc is not None:
            gains.append(acc["S"] - st["S"])
            mom = mom.copy()
            mom.add(acc["rows"])
            new["S"] = acc["S"]
        out.append(o)
        st = new
    return out, gains


def test_per_config_start_rejects_non_improving_candidates(small_run):
    """With the start rule (>= 2 x 55 bootstrap rows) the covariance is full rank from the start,
    S does not depend on the ridge, and unoptimised random candidates (steepest, 1 step) that do
    not raise S are rejected within the first iterations.  With the paper's 10 configurations
    (bootstrap_rows 0) S is set by the ridge: every candidate 'raises' S by ~log(var / 1e-6) and
    none is rejected."""
    from revem.generator.entropy import logdet
    from revem.generator.stream import bootstrap, get_featurizer

    new = build_specs([8], ["per-config"], 6, seed=1, optimizer="steepest", steps=1)[0]
    old = build_specs([8], ["per-config"], 6, seed=1, optimizer="steepest", steps=1, bootstrap_rows=0)[0]
    assert new.bootstrap_rows == 110 and old.bootstrap_rows == 0
    fz = get_featurizer(new.descriptor)
    norm, mom = _start(small_run, fz)  # the bootstrap of seed 1, window 8 (as stored by the run)
    assert mom.n == 110
    low = Normalization(norm.center, norm.scale, 1e-9, norm.ddof)
    assert abs(logdet(mom, norm) - logdet(mom, low)) < 0.05  # the ridge does not matter
    outcomes, gains = _first_outcomes(new, fz, norm, mom, 6)
    assert outcomes.count("rejected_no_gain") >= 1, outcomes
    assert all(0 < g < 5 for g in gains), gains

    _, norm0, mom0 = bootstrap(old, fz)  # the earlier rule: 10 configurations = 10 rows
    assert mom0.n == 10
    assert logdet(mom0, norm0) - logdet(mom0, Normalization(norm0.center, norm0.scale, 1e-9)) > 100
    outcomes0, gains0 = _first_outcomes(old, fz, norm0, mom0, 6)
    assert outcomes0.count("rejected_no_gain") == 0 and min(gains0) > 5, (outcomes0, gains0)


def _strip_rule(db):
    """Make a database look like one written before the start rule existed."""
    con = sqlite3.connect(db)
    with con:
        for name, spec in con.execute("SELECT name, spec FROM revem_streams").fetchall():
            d = json.loads(spec)
            d.pop("bootstrap_rows"), d.pop("atoms")
            con.execute("UPDATE revem_streams SET spec=? WHERE name=?", (json.dumps(d), name))
        meta = json.loads(con.execute("SELECT value FROM revem_meta WHERE key='run'").fetchone()[0])
        meta.pop("bootstrap_rows"), meta.pop("atoms")
        con.execute("UPDATE revem_meta SET value=? WHERE key='run'", (json.dumps(meta),))
    con.close()


def test_database_written_before_the_rule_resumes_with_its_rule(tmp_path, capsys):
    """A run stored without the start rule's and cell sizes' settings resumes (CLI, no new option)
    with the earlier rule (10 bootstrap configurations, K0 0.5) and cell sizes (2-25 uniform) and
    equals an uninterrupted run made with them."""
    ref, old = str(tmp_path / "ref.db"), str(tmp_path / "old.db")
    legacy = ["--bootstrap-rows", "0", "--atoms", "2-25:uniform"]
    assert main(["generate", "--out", ref, "--iterations", "3"] + legacy + ARGS) == 0
    assert main(["generate", "--out", old, "--iterations", "1"] + legacy + ARGS) == 0
    _strip_rule(old)
    assert info_dict(old)["streams"]["w08-per-config"]["bootstrap_rows"] == 0
    assert main(["generate", "--out", old, "--iterations", "3", "--resume"] + ARGS) == 0
    assert snapshot(old) == snapshot(ref)
    run = info_dict(old)["run"]
    assert run["bootstrap_rows"] == 0 and run["atoms"] == "2-25:uniform"
    assert Store(old).load_stream("w08-per-config")["spec"]["k0"] == 0.5
    # asking for another rule on resume is refused, naming it
    capsys.readouterr()
    assert main(["generate", "--out", old, "--iterations", "4", "--resume", "--bootstrap-rows", "110"] + ARGS) == 2
    assert "bootstrap_rows" in capsys.readouterr().err
