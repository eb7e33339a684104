"""The dataset commands compose (issue #24, items 7 and 8): chains of real commands on tiny data, in-process
(``revem.cli.main``), W_zhou as the teacher.

* one input loader (:func:`revem.data.load_configurations`): registry names (``@every=N``), extxyz, ASE and
  generator databases, rescaled or not, in label, fit snap, select and diversity;
* hand-offs: ``generate -> rescale -> export -> label -> fit snap``; ``generate -> export -> label --element``
  (the placeholder species X rescaled on the way, and said so); registry names in ``select`` and ``diversity``;
* ``generate --resume`` takes the run's settings from the database and refuses only conflicting options;
* an unreachable ``--scheduler`` / ``--dask`` is one line within seconds, nothing created;
* progress bars with ETA (select, diversity) and the per-calculation lines of ``reference compute``.
"""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import numpy as np
import pytest

from revem.cli import main

EOS = "fitsnap-WBe/W/EOS_Data.extxyz.gz"
GEN = ["--windows", "8", "--modes", "per-config", "--seed", "2", "--bootstrap", "4", "--bootstrap-rows", "0",
       "--steps", "10", "--no-progress"]


def _data_available() -> bool:
    from revem.data import available

    return available(EOS)


needs_data = pytest.mark.skipif(not _data_available(), reason="REVEM_DATA_DIR (the public DFT data mirror) is not set")


def _run(argv, capsys):
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse
        rc = exc.code
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def _one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def gen(tmp_path_factory):
    """A tiny generator run: window 8, per-config, 3 iterations, 4 bootstrap configurations (species X)."""
    db = tmp_path_factory.mktemp("gen") / "g.db"
    assert main(["generate", "--out", str(db), "--iterations", "3"] + GEN) == 0
    return db


# -- hand-offs ----------------------------------------------------------------------------------------
def test_rescale_then_export_then_label_then_fit(gen, tmp_path, capsys):
    """``revem rescale`` -> ``revem export`` -> ``revem label`` -> ``revem fit snap``: each reads the one before."""
    import ase.io

    w = tmp_path / "w.db"
    assert _run(["rescale", str(gen), "--element", "W", "--out", str(w)], capsys)[0] == 0
    x = tmp_path / "w.extxyz"
    rc, out, err = _run(["export", str(w), str(x), "--include-bootstrap"], capsys)
    assert rc == 0, err
    assert "rescaled to W by revem rescale" in out
    frames = ase.io.read(x, ":")
    n = len(frames)
    assert n >= 5 and all(set(f.get_chemical_symbols()) == {"W"} for f in frames)
    assert frames[0].arrays["bispectrum"].shape[1] == 55  # the stored (unscaled) features come along
    lab = tmp_path / "lab.extxyz"
    rc, out, err = _run(["label", str(x), "--out", str(lab), "--teacher", "W_zhou", "--no-progress"], capsys)
    assert rc == 0, err
    assert f"{n} labelled" in out
    # the export's labels equal labelling the generator database rescaled on the fly (to extxyz precision)
    direct = tmp_path / "direct.extxyz"
    rc, _, err = _run(["label", str(gen), "--element", "W", "--include-bootstrap", "--out", str(direct),
                       "--teacher", "W_zhou", "--no-progress"], capsys)
    assert rc == 0 and "rescaled to W" in err
    e1 = [f.get_potential_energy() for f in ase.io.read(lab, ":")]
    e2 = [f.get_potential_energy() for f in ase.io.read(direct, ":")]
    np.testing.assert_allclose(e1, e2, atol=1e-5)
    fit = tmp_path / "fit"
    rc, out, err = _run(["fit", "snap", str(lab), "--out", str(fit), "--test-size", "0.2", "--twojmax", "2",
                         "--quiet"], capsys)
    assert rc == 0, err
    fj = json.loads((fit / "fit.json").read_text())
    assert fj["sources"][0]["source"] == str(lab) and fj["sources"][0]["n"] == n


def test_export_of_generator_db_labels_with_element_and_says_so(gen, tmp_path, capsys):
    """``revem export`` writes the placeholder species X with the run's v_ref; ``revem label --element W``
    rescales it exactly as ``revem rescale`` (same structures as the rescaled database), and says so."""
    import ase.db
    import ase.io

    x = tmp_path / "x.extxyz"
    rc, out, err = _run(["export", str(gen), str(x)], capsys)
    assert rc == 0, err
    frames = ase.io.read(x, ":")
    assert frames and all(set(f.get_chemical_symbols()) == {"X"} for f in frames)
    assert all(f.info["revem_v_ref"] == pytest.approx(15.9) for f in frames)
    o = tmp_path / "o.extxyz"
    rc, _, err = _run(["label", str(x), "--out", str(o), "--teacher", "W_zhou"], capsys)  # no --element
    line = _one_line(err)
    assert rc == 2 and "placeholder species X" in line and "--element" in line and not o.exists()
    rc, out, err = _run(["label", str(x), "--out", str(o), "--teacher", "W_zhou", "--element", "W",
                         "--no-progress"], capsys)
    assert rc == 0, err
    assert "placeholder species X at v_ref = 15.9" in err and "rescaled to W" in err
    got = ase.io.read(o, ":")
    assert len(got) == len(frames) and all(set(f.get_chemical_symbols()) == {"W"} for f in got)
    w = tmp_path / "w.db"
    assert _run(["rescale", str(gen), "--element", "W", "--out", str(w)], capsys)[0] == 0
    ref = [r.toatoms() for r in ase.db.connect(str(w)).select(kind="accepted", sort="id")]
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a.cell.array, b.cell.array, atol=1e-6)
        np.testing.assert_allclose(a.positions, b.positions, atol=1e-6)
    # an X file without the run's v_ref cannot be rescaled: refused, naming the way out
    for f in frames:
        del f.info["revem_v_ref"]
    bare = tmp_path / "bare.extxyz"
    ase.io.write(bare, frames, format="extxyz")
    rc, _, err = _run(["label", str(bare), "--out", str(tmp_path / "b.extxyz"), "--teacher", "W_zhou", "--element",
                       "W"], capsys)
    assert rc == 2 and "revem_v_ref" in _one_line(err)


def test_export_refuses_its_input_and_a_foreign_file(gen, tmp_path, capsys):
    user = tmp_path / "mine.extxyz"
    user.write_text("my notes\n")
    rc, _, err = _run(["export", str(gen), str(user)], capsys)
    assert rc == 2 and "not written by revem" in _one_line(err) and user.read_text() == "my notes\n"
    rc, _, err = _run(["export", str(gen), str(gen)], capsys)
    assert rc == 2 and str(gen) in _one_line(err)


@needs_data
def test_registry_names_in_select_and_diversity(gen, tmp_path, capsys):
    """Registry names (with @every) in ``select`` and ``diversity``, mixed with a generator database."""
    import ase.io

    out = tmp_path / "s.extxyz"
    rc, o, err = _run(["select", f"{EOS}@every=5", "--n", "4", "--out", str(out), "--random", "3"], capsys)
    assert rc == 0, err
    assert "selected 4 of 25 configurations" in o and len(ase.io.read(out, ":")) == 4
    # progress bars with ETA on stderr (tqdm: count/total, [elapsed<remaining, rate])
    assert "select: features" in err and "25/25" in err and "<" in err and "config/s" in err
    assert "select: greedy" in err and "4/4" in err
    # a generator database in the pool: at its own v_ref (placeholder X), or rescaled with --element
    out2 = tmp_path / "s2.extxyz"
    rc, o, err = _run(["select", str(gen), f"{EOS}@every=25", "--n", "3", "--out", str(out2), "--random", "3",
                       "--no-progress"], capsys)
    assert rc == 0, err
    assert err == ""
    out3 = tmp_path / "s3.extxyz"
    rc, o, err = _run(["select", str(gen), f"{EOS}@every=25", "--element", "W", "--n", "3", "--out", str(out3),
                       "--random", "3", "--quiet"], capsys)
    assert rc == 0, err
    assert all(set(f.get_chemical_symbols()) == {"W"} for f in ase.io.read(out3, ":"))
    rc, o, err = _run(["diversity", f"{EOS}@every=5", str(gen), "--no-quests", "--reps", "2", "--json"], capsys)
    assert rc == 0, err
    res = json.loads(o)
    assert res["datasets"][f"{EOS}@every=5"]["n_configs_read"] == 25
    assert res["datasets"][str(gen)]["kind"] == "revem-db"
    assert "diversity: features" in err and "diversity: log det resampling" in err and "<" in err


@needs_data
def test_fit_and_label_read_registry_names(tmp_path, capsys):
    out = tmp_path / "lab.extxyz"
    rc, o, err = _run(["label", f"{EOS}@every=25", "--out", str(out), "--teacher", "W_zhou", "--no-progress"], capsys)
    assert rc == 0, err
    assert "5 labelled" in o
    s = json.loads(Path(f"{out}.summary.json").read_text())
    assert s["input"] == f"{EOS}@every=25" and s["input_kind"] == "extxyz"
    rc, o, err = _run(["fit", "snap", str(tmp_path / "nothing.db"), "--out", str(tmp_path / "f")], capsys)
    assert rc == 2 and "does not exist" in _one_line(err) and not (tmp_path / "f").exists()


def test_generator_db_in_fit_is_refused_with_the_next_step(gen, tmp_path, capsys):
    rc, _, err = _run(["fit", "snap", str(gen), "--out", str(tmp_path / "f")], capsys)
    line = _one_line(err)
    assert rc == 2 and "revem label" in line and "placeholder species X" in line
    assert not (tmp_path / "f").exists()


def test_loader_kinds(gen, tmp_path):
    from revem.data import load_configurations
    from revem.safe_io import Refused

    g = load_configurations(str(gen))
    assert g.kind == "revem-db" and g.placeholder and g.v_ref == pytest.approx(15.9)
    assert set(g.group) == {"w08-per-config"} and all(f is not None for f in g.features)
    gb = load_configurations(str(gen), include_bootstrap=True)
    assert len(gb) == len(g) + 4
    w = load_configurations(f"{gen}@every=2", "W", include_bootstrap=True)
    assert w.rescaled_here and w.element == "W" and len(w) == (len(gb) + 1) // 2
    assert w.index == gb.index[::2]
    with pytest.raises(Refused, match="not a chemical symbol"):
        load_configurations(str(gen), "Xx")
    with pytest.raises(Refused, match="@every"):
        load_configurations(f"{gen}@every=0")
    with pytest.raises(Refused, match="neither a file nor a registry name"):
        load_configurations(str(tmp_path / "nope.extxyz"))


# -- generate --resume --------------------------------------------------------------------------------
def test_resume_reads_the_runs_settings_and_refuses_only_conflicts(tmp_path, capsys):
    from db_snapshot import snapshot

    ref, db = str(tmp_path / "ref.db"), str(tmp_path / "r.db")
    assert main(["generate", "--out", ref, "--iterations", "4"] + GEN) == 0
    assert main(["generate", "--out", db, "--iterations", "2"] + GEN) == 0
    capsys.readouterr()
    before = Path(db).read_bytes()
    # a conflicting option: one line naming the option, the value given and the value stored; nothing written
    rc, _, err = _run(["generate", "--out", db, "--resume", "--iterations", "4", "--seed", "3", "--steps", "10"],
                      capsys)
    line = _one_line(err)
    assert rc == 2 and "--seed 3" in line and "seed = 2" in line and "--steps" not in line
    assert Path(db).read_bytes() == before
    rc, _, err = _run(["generate", "--out", db, "--resume", "--atoms", "2-8:uniform"], capsys)
    assert rc == 2 and '--atoms "2-8:uniform"' in _one_line(err)
    # nothing but --resume (and more iterations): the stored settings, the same database as one run of 4
    rc, out, err = _run(["generate", "--out", db, "--resume", "--iterations", "4", "--no-progress"], capsys)
    assert rc == 0, err
    assert "with the stored settings (seed 2" in err
    assert snapshot(db) == snapshot(ref)
    # options equal to the stored ones are accepted; without --iterations each stream keeps its own count
    rc, out, err = _run(["generate", "--out", db, "--resume", "--seed", "2", "--bootstrap", "4", "--no-progress"],
                        capsys)
    assert rc == 0 and "w08-per-config: 4 iterations" in out
    assert snapshot(db) == snapshot(ref)


# -- unreachable schedulers -----------------------------------------------------------------------------
def _closed_port() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"tcp://127.0.0.1:{port}"


def test_unreachable_scheduler_is_one_line_and_creates_nothing(gen, tmp_path, capsys):
    addr = _closed_port()
    db = tmp_path / "new.db"
    t = time.perf_counter()
    rc, _, err = _run(["generate", "--out", str(db), "--iterations", "1", "--scheduler", addr] + GEN, capsys)
    assert rc == 2 and addr in _one_line(err) and "cannot reach a Dask scheduler" in err
    assert time.perf_counter() - t < 6 and os.listdir(tmp_path) == []
    # --resume with an unreachable scheduler leaves the database as it was
    import shutil

    old = tmp_path / "old.db"
    shutil.copy(gen, old)
    before = old.read_bytes()
    rc, _, err = _run(["generate", "--out", str(old), "--resume", "--iterations", "9", "--scheduler", addr], capsys)
    assert rc == 2 and addr in _one_line(err) and old.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["old.db"]
    out = tmp_path / "lab.extxyz"
    rc, _, err = _run(["label", str(gen), "--element", "W", "--out", str(out), "--teacher", "W_zhou", "--dask", addr],
                      capsys)
    assert rc == 2 and "--dask" in _one_line(err) and addr in err
    assert sorted(os.listdir(tmp_path)) == ["old.db"]
    rc, _, err = _run(["generate", "--out", str(db), "--iterations", "1", "--scheduler", "no-port"] + GEN, capsys)
    assert rc == 2 and "not a scheduler address" in _one_line(err) and not db.exists()


def test_a_port_that_never_answers_is_refused_within_the_timeout(tmp_path, capsys, monkeypatch):
    """A listening socket that accepts and never answers (not a Dask scheduler) must not hang the command."""
    import revem.safe_io as sio

    monkeypatch.setattr(sio, "SCHEDULER_TIMEOUT", 1.0)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    addr = f"tcp://127.0.0.1:{srv.getsockname()[1]}"
    try:
        t = time.perf_counter()
        with pytest.raises(sio.Refused, match="no answer within 1 s|does not answer"):
            sio.connect_scheduler(addr, "--scheduler", timeout=sio.SCHEDULER_TIMEOUT)
        assert time.perf_counter() - t < 5
    finally:
        srv.close()


# -- progress of reference compute --------------------------------------------------------------------------
def test_reference_compute_progress_lines_and_their_eta():
    """One line per finished DFT calculation with the mean time and the ETA (GPAW itself is not needed here: the
    ticker and the calculation count of the paths protocol are)."""
    import io

    import revem.validation.properties.paths as paths
    from revem.progress import Ticker
    from revem.validation.reference_cli import expected_calculations

    n = expected_calculations(paths, "W", "standard")
    assert n == sum(len(paths._grid(p, None)) for p in paths.cases("W", "standard")) + 7
    assert expected_calculations(paths, "W", "standard", volume=16.0) == n - 7
    t = iter([0.0, 10.0, 30.0, 60.0])
    buf = io.StringIO()
    tk = Ticker(3, "DFT calculation", stream=buf, clock=lambda: next(t))
    for _ in range(3):
        tk.tick()
    lines = buf.getvalue().splitlines()
    assert lines[0] == "DFT calculation [1/3] 10.0 s (mean 10.0 s, elapsed 10.0 s, ETA 20.0 s)"
    assert lines[1] == "DFT calculation [2/3] 20.0 s (mean 15.0 s, elapsed 30.0 s, ETA 15.0 s)"
    assert lines[2].endswith("elapsed 1 min 00 s, done)")
