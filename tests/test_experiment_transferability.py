"""`revem experiment transferability`: part 1 on a capped DE set (real DFT), part 2 with a teacher on a small
generated EM set; splits hold out whole groups; the report names the ground truth of each part."""
from __future__ import annotations

import json

import numpy as np
import pytest

from revem.experiments import transferability as tf


def test_unknown_model_is_refused(capsys):
    from revem.cli import main

    assert main(["experiment", "transferability", "--models", "linear,nn", "--skip-part1"]) == 2
    assert "--models nn" in capsys.readouterr().err


def test_de_set_excludes_duplicates_and_other_settings():
    names = [n.split("/")[-1].split(".")[0] for n in tf.de_sources()]
    assert "gamma_surface" in names and "EOS_Data" in names
    assert not set(names) & set(tf.DE_EXCLUDED)


@pytest.mark.needs_data
def test_command_writes_both_parts(data_dir, tmp_path, monkeypatch, capsys):
    """Capped sizes (8 configurations per DE group, 2 seeds, linear SNAP); the numbers of the full run are in
    the README.  Linear SNAP and linear ACE.  Part 2's EM set: 30 configurations from the real generator, labelled by W_zhou."""
    from revem.cli import main
    from revem.generator.cli import main as gmain

    monkeypatch.setenv("REVEM_DATA_DIR", str(data_dir))
    db = str(tmp_path / "em.db")
    assert gmain(["generate", "--out", db, "--windows", "8", "--modes", "per-config", "--iterations", "8",
                  "--seed", "3", "--bootstrap", "20", "--bootstrap-rows", "0", "--no-progress"]) == 0
    out = tmp_path / "tr"
    assert main(["experiment", "transferability", "--out", str(out), "--em", db, "--max-per-group", "8",
                 "--de-max-per-group", "8", "--seeds", "2", "--models", "linear,ace", "--quiet"]) == 0
    md = (out / "transferability.md").read_text()
    assert "ground truth: DFT of the data mirror" in md
    assert "ground truth: teacher potential W_zhou (surrogate ground truth, not DFT)" in md
    res = json.loads((out / "transferability.json").read_text())
    p1 = res["part1"]["linear SNAP"]
    assert p1["random"]["stats"]["n"] > 0 and p1["group"]["stats"]["n"] > 0
    for held in p1["group"]["held_out"]:
        assert held and set(held) <= set(res["meta"]["part1"]["groups"])
    assert set(res["part1"]) == set(res["part2"]) == {"linear SNAP", "linear ACE"}
    for model in ("linear SNAP", "linear ACE"):
        p2 = res["part2"][model]
        assert set(p2) >= {"A: EM -> EM", "B: DE -> EM", "C: EM -> DE", "D: DE -> DE"}
        assert all(np.isfinite(p2[k]["stats"]["rmse_meV_per_atom"]) for k in p2 if ":" in k)
    assert res["meta"]["part2"]["n_em"] >= 20  # teacher labels of the generated configurations (failures left out)
    for fig in ("part1_rse.png", "part2_fig4.png"):
        assert (out / fig).stat().st_size > 10_000
