"""``revem select``: greedy D-optimal subsets of an existing pool (issue 12, item 7)."""
import os

import numpy as np
import pytest

from revem.generator.cli import main
from revem.generator.select import greedy_select, random_subsets, read_pool, subset_entropy

D = "fitsnap-WBe/W"


def _rows(seed, sizes, m=55):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(m, m)) / np.sqrt(m)
    return [rng.normal(size=(k, m)) @ A * rng.uniform(0.3, 3.0) + rng.normal(size=m) * 0.3 for k in sizes]


@pytest.mark.parametrize("sizes", [[1] * 150, list(np.random.default_rng(1).integers(1, 9, 80)),
                                   list(np.random.default_rng(2).integers(40, 70, 30))],
                         ids=["per-config", "per-atom small cells", "per-atom large cells"])
def test_greedy_is_exact_and_the_lemma_matches_the_full_determinant(sizes):
    """The S tracked through rank-(k+1) updates equals S recomputed from scratch after every pick;
    the determinant-lemma path and the m x m path pick the same configurations."""
    rows = _rows(0, sizes)
    n = 70 if len(rows) > 70 else 20
    sel = greedy_select(rows, n)
    assert len(set(sel.order)) == n
    for j in range(1, n):
        if np.isfinite(sel.S_path[j]):
            assert sel.S_path[j] == pytest.approx(subset_entropy(rows, sel.order[:j + 1]), abs=1e-6)
    full = greedy_select(rows, n, lemma_max_rank=0)  # every candidate through its m x m matrix
    assert full.order == sel.order
    np.testing.assert_allclose(np.nan_to_num(full.S_path), np.nan_to_num(sel.S_path), atol=1e-6)
    # each greedy step is the best single addition
    j = n // 2
    best = max(subset_entropy(rows, sel.order[:j] + [i]) for i in range(len(rows)) if i not in sel.order[:j])
    assert sel.S_path[j] == pytest.approx(best, abs=1e-6)
    assert subset_entropy(rows, sel.order) > np.nanmax(random_subsets(rows, n, 20, seed=0))


@pytest.fixture(scope="module")
def pool():
    from revem.data import DataUnavailable, fetch

    try:
        return [str(fetch(f"{D}/EOS_Data.extxyz.gz")), str(fetch(f"{D}/Disordered_Struc.extxyz.gz"))]
    except (DataUnavailable, KeyError) as exc:
        pytest.skip(str(exc))


def test_read_pool_gz_equals_ase_read(pool):
    import ase.io

    frames = read_pool(pool[0])
    ref = ase.io.read(pool[0], index=":")
    assert len(frames) == len(ref) == 125
    for a, b in zip(frames, ref):
        np.testing.assert_array_equal(a.positions, b.positions)
        assert a.get_potential_energy() == b.get_potential_energy()


@pytest.mark.parametrize("mode,n", [("per-config", 80), ("per-atom", 25)])
def test_select_beats_random_subsets_on_a_dft_pool(pool, tmp_path, capsys, mode, n):
    """152 W configurations (EOS + disordered, fitsnap-WBe): the greedy subset's S is above every
    one of 20 random subsets of the same size, and the subset is written with its DFT labels."""
    import json

    import ase.io

    out = tmp_path / "sub.extxyz"
    assert main(["select", *pool, "--n", str(n), "--mode", mode, "--out", str(out), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["n_pool"] == 152 and d["n_select"] == n and d["n_random"] == 20
    assert d["S_subset"] > d["S_random_max"] and d["S_subset"] > d["S_pool"]
    frames = ase.io.read(out, index=":")
    assert len(frames) == n and [a.info["pool_index"] for a in frames] == d["order"]
    pool_frames = read_pool(pool[0]) + read_pool(pool[1])
    for a in frames[:5]:
        b = pool_frames[a.info["pool_index"]]
        np.testing.assert_allclose(a.positions, b.positions, atol=1e-6)  # as read, not rescaled
        assert a.get_potential_energy() == pytest.approx(b.get_potential_energy())


def test_ase_database_pool_gives_the_same_selection(pool, tmp_path, capsys):
    import ase.db
    import json

    frames = read_pool(pool[1])
    db = str(tmp_path / "pool.db")
    with ase.db.connect(db) as con:
        for a in frames:
            con.write(a)
    res = []
    for src in (pool[1], db):
        assert main(["select", src, "--n", "8", "--out", str(tmp_path / "s.extxyz"), "--json"]) == 0
        res.append(json.loads(capsys.readouterr().out))
    assert res[0]["order"] == res[1]["order"] and res[0]["S_subset"] == pytest.approx(res[1]["S_subset"], abs=1e-9)


BAD = [
    (lambda p, t: [str(t / "missing.extxyz"), "--n", "3"], "does not exist"),
    (lambda p, t: [p[1], "--n", "28"], "larger than the pool (27"),
    (lambda p, t: [p[1], "--n", "0"], "argument --n"),
    (lambda p, t: [p[1], "--n", "3", "--mode", "per-bond"], "argument --mode"),
    (lambda p, t: [str(t), "--n", "3"], "is a directory"),
]


@pytest.mark.parametrize("argv,why", BAD, ids=["missing", "n>pool", "n=0", "mode", "directory"])
def test_bad_input_exits_2_and_writes_nothing(pool, tmp_path, capsys, argv, why):
    out = tmp_path / "o" / "sub.extxyz"
    out.parent.mkdir()
    try:
        rc = main(["select", *argv(pool, tmp_path), "--out", str(out)])
    except SystemExit as exc:  # argparse
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2 and why in err and "Traceback" not in err
    assert os.listdir(out.parent) == []


def test_not_an_extxyz_file_is_refused(tmp_path, capsys):
    bad = tmp_path / "x.extxyz"
    bad.write_text("this is not\nan extxyz file\n")
    rc = main(["select", str(bad), "--n", "1", "--out", str(tmp_path / "s.extxyz")])
    assert rc == 2 and str(bad) in capsys.readouterr().err and not (tmp_path / "s.extxyz").exists()
