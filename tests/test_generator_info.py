"""``revem info``: the whole-dataset entropy of each mode (issue 12, item 5)."""
import json

import numpy as np
import pytest

from revem.generator.cli import info_dict, main
from revem.generator.entropy import Normalization, recompute_entropy, sample_rows
from revem.generator.runner import build_specs, prepare, run_local
from revem.generator.storage import Store


@pytest.fixture(scope="module")
def two_windows(tmp_path_factory):
    """Two windows x two modes, 2 iterations each (the earlier 10-configuration start keeps it fast)."""
    db = str(tmp_path_factory.mktemp("info") / "x.db")
    specs = build_specs([3, 12], ["per-atom", "per-config"], 2, seed=3, bootstrap_rows=0)
    prepare(db, specs, {"seed": 3}, resume=False)
    run_local(db, specs, workers=1, progress=False)
    return db


def test_whole_dataset_entropy_equals_recomputation_from_stored_features(two_windows):
    d = info_dict(two_windows)
    store = Store(two_windows)
    assert set(d["entropy"]) == {"per-atom", "per-config"}
    for mode, e in d["entropy"].items():
        feats = [r.data["features"] for r in store.rows(mode=mode)]  # bootstrap + accepted, all windows
        atoms = np.vstack(feats)
        rows = np.vstack([sample_rows(f, mode) for f in feats])
        assert e["rows"] == len(rows) == sum(s["rows"] for s in e["streams"].values())
        assert e["n_streams"] == 2 and set(e["streams"]) == {f"w03-{mode}", f"w12-{mode}"}
        # the union's own standardisation: mean and std of its rows
        np.testing.assert_allclose(e["center"], rows.mean(axis=0), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(e["scale"], rows.std(axis=0), rtol=1e-8)
        common = Normalization(rows.mean(axis=0), rows.std(axis=0), e["ridge"], e["ddof"])
        assert e["S"] == pytest.approx(recompute_entropy(feats, common, mode), abs=1e-6)
        for name, p in e["streams"].items():
            own = [r.data["features"] for r in store.rows(stream=name)]
            assert p["rows"] == d["streams"][name]["S_rows"] == sum(len(sample_rows(f, mode)) for f in own)
            assert p["S_common"] == pytest.approx(recompute_entropy(own, common, mode), abs=1e-6)
            assert p["S_own"] == d["streams"][name]["S"]
        # concavity of log det: the union's covariance dominates the weighted mean of the streams'
        # (weights (n_w - 1) / (n - 1), summing to A), so S >= m log A + sum (a_w / A) S_w
        n, ps = e["rows"], list(e["streams"].values())
        a = np.array([(p["rows"] - 1) / (n - 1) for p in ps])
        bound = 55 * np.log(a.sum()) + sum(a / a.sum() * [p["S_common"] for p in ps])
        assert e["S"] >= bound - 1e-6
        assert len(atoms) >= len(rows)


def test_info_prints_the_whole_dataset_entropy(two_windows, capsys):
    assert main(["info", two_windows]) == 0
    out = capsys.readouterr().out
    d = info_dict(two_windows)
    for mode, e in d["entropy"].items():
        assert f"{mode} whole dataset (2 streams, bootstrap + accepted): S = {e['S']:.4f} on {e['rows']} rows" in out
    assert "union's own mean and standard deviation" in out
    assert main(["info", two_windows, "--json"]) == 0
    j = json.loads(capsys.readouterr().out)
    assert j["entropy"]["per-config"]["S"] == pytest.approx(d["entropy"]["per-config"]["S"])
    assert j["entropy"]["per-atom"]["streams"]["w12-per-atom"]["rows"] == d["streams"]["w12-per-atom"]["S_rows"]
