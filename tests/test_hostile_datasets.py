"""Hostile but realistic use of the dataset commands (issue #19): ``revem label``, ``select``, ``diversity``,
``fit snap``, ``fit pacemaker`` and ``experiment transferability``.

Every test runs the real command in-process (``revem.cli.main``) in a sandbox whose every file is hashed
before and after (tests/hostile_tools.py): a refusal must exit 2 with one line naming the problem, leave
every pre-existing file byte-identical and write nothing; an accepted run may write only inside its output.
Two tests use a subprocess because a kill -9 or a file-size limit is the point.
"""
from __future__ import annotations

import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hostile_tools import (Sandbox, foreign_sqlite, gzip_bomb, labelled_frames, refused, run_cli,
                           write_frames)

ROOT = Path(__file__).resolve().parents[1]
TEACHER = "Cu_mishin1"  # a catalog EAM (LAMMPS): labels a 4-atom Cu cell in milliseconds


@pytest.fixture(scope="module")
def frames():
    return labelled_frames(12)


@pytest.fixture
def box(tmp_path, monkeypatch):
    sb = Sandbox(tmp_path)
    monkeypatch.chdir(sb.cwd)
    return sb


@pytest.fixture(scope="module")
def gen_db(tmp_path_factory):
    """A small revem generator database (placeholder species X, v_ref 15.9)."""
    from revem.generator.cli import main as gmain

    db = tmp_path_factory.mktemp("gen") / "g.db"
    assert gmain(["generate", "--out", str(db), "--windows", "8", "--modes", "per-config", "--iterations", "3",
                  "--seed", "2", "--bootstrap", "4", "--bootstrap-rows", "0", "--no-progress"]) == 0
    return db


def _copy_db(src, dst, v_ref=None, rcutfac=None) -> Path:
    import shutil

    shutil.copy(src, dst)
    if v_ref is not None or rcutfac is not None:
        con = sqlite3.connect(dst)
        with con:
            meta = json.loads(con.execute("SELECT value FROM revem_meta WHERE key='run'").fetchone()[0])
            if v_ref is not None:
                meta["v_ref"] = v_ref
            if rcutfac is not None:
                meta["rcutfac"] = rcutfac
            con.execute("UPDATE revem_meta SET value=? WHERE key='run'", (json.dumps(meta),))
        con.close()
    return Path(dst)


@pytest.fixture(scope="module")
def hot_db(tmp_path_factory):
    """A generator database killed (-9) inside a row-writing transaction: a hot journal beside it."""
    d = tmp_path_factory.mktemp("hot")
    db = d / "hot.db"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", REVEM_TEST_KILL_IN_WRITE="3")
    r = subprocess.run([sys.executable, "-m", "revem.cli", "generate", "--out", str(db), "--windows", "8", "--modes",
                        "per-config", "--iterations", "6", "--seed", "2", "--bootstrap", "4", "--bootstrap-rows", "0",
                        "--no-progress"], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == -signal.SIGKILL and Path(f"{db}-journal").stat().st_size > 0, r.stderr[-2000:]
    return db


def _newline_db(path, n=4) -> Path:
    """An ASE database whose key-value strings hold newlines, backslashes and an empty string."""
    import ase.db
    from ase.build import bulk

    with ase.db.connect(str(path)) as db:
        for i in range(n):
            at = bulk("Cu", "fcc", a=3.6 * (0.98 + 0.01 * i), cubic=True)
            db.write(at, note=f"first line\nsecond line {i}", path_like="C:\\data\\x", carriage="a\rb")
    return Path(path)


def _fifo(path) -> Path:
    os.mkfifo(path)
    return Path(path)


def _readable(path):
    import ase.io

    return ase.io.read(str(path), index=":")


# ==================================================================================================
# revem label
# ==================================================================================================
def _label(box, capsys, inp, out, *extra):
    return run_cli(["label", inp, "--out", out, "--teacher", TEACHER, "--no-progress", *extra], capsys)


def test_label_out_equal_to_input_is_refused(box, capsys, frames):
    src = write_frames(box.root / "pool.extxyz", frames)
    box.snap()
    rc, _, err = _label(box, capsys, src, src)
    refused(rc, err, "is the input")
    box.check()


def test_label_out_that_is_a_symlink_to_the_input_is_refused(box, capsys, frames):
    src = write_frames(box.root / "pool.extxyz", frames)
    (box.root / "alias.extxyz").symlink_to(src)
    box.snap()
    rc, _, err = _label(box, capsys, src, box.root / "alias.extxyz")
    refused(rc, err, "alias.extxyz")
    box.check()


def test_label_out_that_is_a_directory_is_refused(box, capsys, frames):
    src = write_frames(box.root / "pool.extxyz", frames)
    (box.root / "d.extxyz").mkdir()
    box.snap()
    rc, _, err = _label(box, capsys, src, box.root / "d.extxyz")
    refused(rc, err, "d.extxyz", "directory")
    box.check()


def test_label_existing_user_file_as_out_is_kept(box, capsys, frames):
    src = write_frames(box.root / "pool.extxyz", frames)
    (box.root / "mine.extxyz").write_text("my own notes\n")
    box.snap()
    rc, _, err = _label(box, capsys, src, box.root / "mine.extxyz")
    refused(rc, err, "mine.extxyz exists", "no progress file")
    box.check()


def test_label_foreign_summary_beside_out_is_kept(box, capsys, frames):
    src = write_frames(box.root / "pool.extxyz", frames)
    (box.root / "o.extxyz.summary.json").write_text('{"mine": 1}')
    box.snap()
    rc, _, err = _label(box, capsys, src, box.root / "o.extxyz")
    refused(rc, err, "o.extxyz.summary.json", "not revem's")
    box.check()


def test_label_input_fifo_is_refused_without_blocking(box, capsys):
    fifo = _fifo(box.root / "pipe.extxyz")
    box.snap()
    rc, _, err = _label(box, capsys, fifo, box.root / "o.extxyz")
    refused(rc, err, "pipe.extxyz", "FIFO")
    box.check()


def test_label_input_link_to_dev_zero_is_refused(box, capsys):
    (box.root / "zero.extxyz").symlink_to("/dev/zero")
    box.snap()
    rc, _, err = _label(box, capsys, box.root / "zero.extxyz", box.root / "o.extxyz")
    refused(rc, err, "zero.extxyz", "character device")
    box.check()


def test_label_gzip_bomb_is_refused_at_the_decompressed_cap(box, capsys, monkeypatch):
    bomb = gzip_bomb(box.root / "bomb.extxyz.gz", 8 << 20)
    monkeypatch.setenv("REVEM_MAX_READ_BYTES", str(1 << 20))
    box.snap()
    t0 = time.perf_counter()
    rc, _, err = _label(box, capsys, bomb, box.root / "o.extxyz")
    refused(rc, err, "bomb.extxyz.gz", "once decompressed", "REVEM_MAX_READ_BYTES")
    assert time.perf_counter() - t0 < 10
    box.check()


def test_label_frame_cap(box, capsys, frames, monkeypatch):
    src = write_frames(box.root / "pool.extxyz", frames)
    monkeypatch.setenv("REVEM_MAX_FRAMES", "5")
    box.snap()
    rc, _, err = _label(box, capsys, src, box.root / "o.extxyz")
    refused(rc, err, "pool.extxyz", "more than 5 frames", "REVEM_MAX_FRAMES")
    box.check()


def test_label_foreign_sqlite_is_never_written(box, capsys):
    db = foreign_sqlite(box.root / "notes.db")
    box.snap()
    rc, _, err = _label(box, capsys, db, box.root / "o.extxyz")
    refused(rc, err, "notes.db", "not an ASE or revem database", "tables: notes")
    box.check()


@pytest.mark.parametrize("v_ref", [-15.9, 0.0, "NaN", "Infinity"], ids=["negative", "zero", "nan", "inf"])
def test_label_generator_db_with_bad_v_ref_is_refused(box, capsys, gen_db, v_ref):
    db = _copy_db(gen_db, box.root / "g.db")
    con = sqlite3.connect(db)  # written as JSON text so NaN/Infinity stay what a foreign writer would leave
    with con:
        meta = con.execute("SELECT value FROM revem_meta WHERE key='run'").fetchone()[0]
        meta = json.loads(meta)
        meta["v_ref"] = "__V__"
        con.execute("UPDATE revem_meta SET value=? WHERE key='run'",
                    (json.dumps(meta).replace('"__V__"', str(v_ref)),))
    con.close()
    box.snap()
    rc, _, err = _label(box, capsys, db, box.root / "o.extxyz", "--element", "W", "--include-bootstrap")
    refused(rc, err, "g.db", "v_ref", "> 0")
    box.check()


@pytest.mark.parametrize("command", ["label", "select", "diversity"])
def test_database_with_an_unfinished_write_is_not_rolled_back_by_a_reader(box, capsys, hot_db, command):
    import shutil

    db = box.root / "hot.db"
    shutil.copy(hot_db, db)
    shutil.copy(f"{hot_db}-journal", f"{db}-journal")
    box.snap()
    argv = {"label": ["label", db, "--out", box.root / "o.extxyz", "--teacher", TEACHER, "--element", "Cu"],
            "select": ["select", db, "--n", "1", "--out", box.root / "s.extxyz"],
            "diversity": ["diversity", db, "--no-quests"]}[command]
    rc, _, err = run_cli(argv, capsys)
    refused(rc, err, "hot.db", "unfinished write", "revem info")
    box.check()


def test_label_newlines_in_database_strings_give_a_readable_output(box, capsys):
    db = _newline_db(box.root / "nl.db")
    box.snap()
    rc, _, err = _label(box, capsys, db, box.root / "o.extxyz")
    assert rc == 0, err
    assert "'note'" in err and "escaped" in err
    got = _readable(box.root / "o.extxyz")
    assert len(got) == 4 and all("\n" not in a.info["note"] and a.info["note"].startswith("first line") for a in got)
    box.check("o.extxyz", "o.extxyz.progress.jsonl", "o.extxyz.summary.json")


@pytest.fixture(scope="module")
def label_reference(tmp_path_factory, frames):
    """An uninterrupted labelling of the 12 frames: {index: record}."""
    from revem.datasets import labelling as lb

    d = tmp_path_factory.mktemp("labref")
    src = write_frames(d / "pool.extxyz", frames)
    out = d / "ref.extxyz"
    lb.label(str(src), str(out), lb.teacher_spec(TEACHER), progress=False, log=lambda m: None)
    return _records(out)


def _records(out) -> dict:
    lines = Path(f"{out}.progress.jsonl").read_text().splitlines()[1:]
    recs = {}
    for ln in lines:
        try:
            r = json.loads(ln)
        except ValueError:
            continue
        if isinstance(r, dict) and isinstance(r.get("index"), int):
            recs[r["index"]] = r
    return recs


def _same(a: dict, b: dict):
    assert a.keys() == b.keys()
    for i in a:
        assert a[i]["energy"] == b[i]["energy"] and a[i]["forces"] == b[i]["forces"], i


def test_label_damaged_journal_line_keeps_every_later_record(box, capsys, frames, label_reference):
    src = write_frames(box.root / "pool.extxyz", frames)
    out = box.root / "o.extxyz"
    assert _label(box, capsys, src, out)[0] == 0
    prog = Path(f"{out}.progress.jsonl")
    lines = prog.read_text().splitlines(keepends=True)
    lines[4] = lines[4][:30] + "\x00garbage\n"  # record 4 of 12 damaged (line 5 of the file)
    prog.write_text("".join(lines))
    out.unlink()  # also the output: rewritten from the journal
    rc, _, err = _label(box, capsys, src, out)
    assert rc == 0, err
    assert "skipped 1 damaged line(s): line 5 (not JSON)" in err and "every later line was kept" in err
    assert "resuming" in err and "11 of 12" in err  # only the damaged record is labelled again
    _same(_records(out), label_reference)
    assert len(_readable(out)) == 12


def test_label_journal_record_of_wrong_shape_is_skipped_and_named(box, capsys, frames, label_reference):
    src = write_frames(box.root / "pool.extxyz", frames)
    out = box.root / "o.extxyz"
    assert _label(box, capsys, src, out)[0] == 0
    prog = Path(f"{out}.progress.jsonl")
    lines = prog.read_text().splitlines(keepends=True)
    rec = json.loads(lines[2])
    rec["forces"] = "not a list"
    lines[2] = json.dumps(rec) + "\n"
    prog.write_text("".join(lines))
    rc, _, err = _label(box, capsys, src, out)
    assert rc == 0, err
    assert "line 3 (labels that are not numbers (index 1))" in err
    _same(_records(out), label_reference)


def test_label_torn_last_line_that_is_a_whole_record_is_kept(box, capsys, frames, label_reference):
    src = write_frames(box.root / "pool.extxyz", frames)
    out = box.root / "o.extxyz"
    assert _label(box, capsys, src, out)[0] == 0
    prog = Path(f"{out}.progress.jsonl")
    prog.write_bytes(prog.read_bytes()[:-1])  # the newline of the last record lost
    rc, _, err = _label(box, capsys, src, out)
    assert rc == 0 and "kept (a complete record without its newline)" in err
    assert "0 configurations" in err  # nothing labelled again
    _same(_records(out), label_reference)


def test_label_second_writer_is_refused_naming_the_owner(box, capsys, frames):
    from revem.safe_io import output_lock

    src = write_frames(box.root / "pool.extxyz", frames)
    out = box.root / "o.extxyz"
    with output_lock(f"{out}.progress.jsonl"):  # a live owner (this process) holds the output
        box.snap()
        rc, _, err = _label(box, capsys, src, out)
        refused(rc, err, "being written by another process", f"PID {os.getpid()}")
        box.check()


def test_label_lock_of_a_dead_owner_is_taken_over(box, capsys, frames):
    src = write_frames(box.root / "pool.extxyz", frames)
    out = box.root / "o.extxyz"
    Path(f"{out}.progress.jsonl.lock").write_text(json.dumps({"owner": "x", "host": "h", "pid": 999999999}))
    rc, _, err = _label(box, capsys, src, out)
    assert rc == 0, err
    assert not Path(f"{out}.progress.jsonl.lock").exists() and len(_readable(out)) == 12


def test_label_progress_file_that_is_a_fifo_is_refused(box, capsys, frames):
    src = write_frames(box.root / "pool.extxyz", frames)
    _fifo(box.root / "o.extxyz.progress.jsonl")
    box.snap()
    rc, _, err = _label(box, capsys, src, box.root / "o.extxyz")
    refused(rc, err, "o.extxyz.progress.jsonl", "not a regular file")
    box.check()


def test_label_missing_output_folder_is_refused(box, capsys, frames):
    src = write_frames(box.root / "pool.extxyz", frames)
    box.snap()
    rc, _, err = _label(box, capsys, src, box.root / "nope" / "o.extxyz")
    refused(rc, err, "nope", "does not exist")
    box.check()


def test_label_kill_inside_a_write_resumes_to_the_same_labels(box, frames, label_reference):
    """kill -9 inside the 5th journal write (half a line on disk): the resumed run equals an uninterrupted one."""
    src = write_frames(box.root / "pool.extxyz", frames)
    out = box.root / "o.extxyz"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", REVEM_TEST_LABEL_KILL_IN_WRITE="5")
    cmd = [sys.executable, "-m", "revem.cli", "label", str(src), "--out", str(out), "--teacher", TEACHER,
           "--no-progress"]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == -signal.SIGKILL, r.stderr[-2000:]
    assert not out.exists() and len(_records(out)) == 4  # 4 whole records, a 5th cut in half
    env.pop("REVEM_TEST_LABEL_KILL_IN_WRITE")
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "cut off (an incomplete write" in r.stderr and "4 of 12" in r.stderr
    _same(_records(out), label_reference)
    assert not Path(f"{out}.progress.jsonl.lock").exists()


# ==================================================================================================
# revem select
# ==================================================================================================
def _select(capsys, *argv):
    return run_cli(["select", *argv], capsys)


def test_select_out_equal_to_the_pool_is_refused(box, capsys, frames):
    pool = write_frames(box.root / "pool.extxyz", frames)
    box.snap()
    rc, _, err = _select(capsys, pool, "--n", "3", "--out", pool)
    refused(rc, err, "is the input", "pool.extxyz")
    box.check()


def test_select_out_equal_to_the_second_pool_is_refused(box, capsys, frames):
    a = write_frames(box.root / "a.extxyz", frames[:6])
    b = write_frames(box.root / "b.extxyz", frames[6:])
    box.snap()
    rc, _, err = _select(capsys, a, b, "--n", "3", "--out", b)
    refused(rc, err, "is the input", "b.extxyz")
    box.check()


def test_select_out_that_is_a_link_to_the_pool_is_refused(box, capsys, frames):
    pool = write_frames(box.root / "pool.extxyz", frames)
    (box.root / "sub.extxyz").symlink_to(pool)
    box.snap()
    rc, _, err = _select(capsys, pool, "--n", "3", "--out", box.root / "sub.extxyz")
    refused(rc, err, "sub.extxyz", "is the input")
    box.check()


def test_select_existing_user_file_is_not_overwritten_but_its_own_output_is(box, capsys, frames):
    pool = write_frames(box.root / "pool.extxyz", frames)
    (box.root / "mine.extxyz").write_text("keep me\n")
    box.snap()
    rc, _, err = _select(capsys, pool, "--n", "3", "--out", box.root / "mine.extxyz")
    refused(rc, err, "mine.extxyz exists and was not written by revem")
    box.check()
    out = box.root / "sub.extxyz"
    assert _select(capsys, pool, "--n", "3", "--out", out)[0] == 0
    assert _select(capsys, pool, "--n", "4", "--out", out)[0] == 0  # revem's own output: replaced
    assert len(_readable(out)) == 4
    box.check("sub.extxyz", ".revem-manifest.json")


def test_select_out_that_is_a_directory_is_refused(box, capsys, frames):
    pool = write_frames(box.root / "pool.extxyz", frames)
    (box.root / "d.extxyz").mkdir()
    box.snap()
    rc, _, err = _select(capsys, pool, "--n", "3", "--out", box.root / "d.extxyz")
    refused(rc, err, "d.extxyz", "directory")
    box.check()


@pytest.mark.parametrize("name", ["sub.db", "sub.txt", "sub"])
def test_select_out_of_another_kind_is_refused(box, capsys, frames, name):
    pool = write_frames(box.root / "pool.extxyz", frames)
    box.snap()
    rc, _, err = _select(capsys, pool, "--n", "3", "--out", box.root / name)
    refused(rc, err, name, "*.extxyz")
    box.check()


def test_select_foreign_sqlite_pool_is_never_written(box, capsys):
    db = foreign_sqlite(box.root / "notes.db")
    box.snap()
    rc, _, err = _select(capsys, db, "--n", "1", "--out", box.root / "s.extxyz")
    refused(rc, err, "notes.db", "not an ASE or revem database")
    box.check()


def test_select_newlines_in_database_strings_give_a_readable_output(box, capsys):
    db = _newline_db(box.root / "nl.db")
    box.snap()
    rc, _, err = _select(capsys, db, "--n", "2", "--out", box.root / "s.extxyz")
    assert rc == 0, err
    assert "'note'" in err and "'path_like'" in err and "'carriage'" in err
    got = _readable(box.root / "s.extxyz")
    assert len(got) == 2 and got[0].info["path_like"] == "C:/data/x" and got[0].info["carriage"] == "a b"
    box.check("s.extxyz", ".revem-manifest.json")


def test_select_fifo_pool_is_refused(box, capsys):
    fifo = _fifo(box.root / "pool.extxyz")
    box.snap()
    rc, _, err = _select(capsys, fifo, "--n", "1", "--out", box.root / "s.extxyz")
    refused(rc, err, "pool.extxyz", "FIFO")
    box.check()


def test_select_pool_link_to_dev_zero_is_refused(box, capsys):
    (box.root / "pool.extxyz.gz").symlink_to("/dev/zero")
    box.snap()
    rc, _, err = _select(capsys, box.root / "pool.extxyz.gz", "--n", "1", "--out", box.root / "s.extxyz")
    refused(rc, err, "pool.extxyz.gz", "character device")
    box.check()


def test_select_gzip_bomb_is_refused(box, capsys, monkeypatch):
    bomb = gzip_bomb(box.root / "pool.extxyz.gz", 6 << 20)
    monkeypatch.setenv("REVEM_MAX_READ_BYTES", "2000000")
    box.snap()
    rc, _, err = _select(capsys, bomb, "--n", "1", "--out", box.root / "s.extxyz")
    refused(rc, err, "pool.extxyz.gz", "once decompressed", "2000000")
    box.check()


def test_select_database_row_cap(box, capsys, frames, monkeypatch):
    import ase.db

    db = box.root / "pool.db"
    with ase.db.connect(str(db)) as con:
        for a in frames:
            con.write(a)
    monkeypatch.setenv("REVEM_MAX_FRAMES", "10")
    box.snap()
    rc, _, err = _select(capsys, db, "--n", "1", "--out", box.root / "s.extxyz")
    refused(rc, err, "pool.db", "12 rows", "REVEM_MAX_FRAMES")
    box.check()


def test_select_deeply_nested_json_database_is_refused(box, capsys):
    (box.root / "pool.json").write_text("[" * 5000 + "]" * 5000)
    box.snap()
    rc, _, err = _select(capsys, box.root / "pool.json", "--n", "1", "--out", box.root / "s.extxyz")
    refused(rc, err, "pool.json", "nested 5000 levels", "limit 64")
    box.check()


def test_select_forged_manifest_is_refused(box, capsys, frames):
    pool = write_frames(box.root / "pool.extxyz", frames)
    (box.root / ".revem-manifest.json").write_text('{"format": "something else"}')
    box.snap()
    rc, _, err = _select(capsys, pool, "--n", "2", "--out", box.root / "s.extxyz")
    refused(rc, err, ".revem-manifest.json", "not revem's manifest")
    box.check()


def test_select_missing_output_folder_is_refused(box, capsys, frames):
    pool = write_frames(box.root / "pool.extxyz", frames)
    box.snap()
    rc, _, err = _select(capsys, pool, "--n", "2", "--out", box.root / "nope" / "s.extxyz")
    refused(rc, err, "nope", "does not exist")
    box.check()


# ==================================================================================================
# revem diversity
# ==================================================================================================
def _diversity(capsys, *argv):
    return run_cli(["diversity", *argv, "--no-quests"], capsys)


@pytest.mark.parametrize("opt, value, needle", [
    ("--reps", "0", "--reps must be >= 2"), ("--reps", "1", "--reps must be >= 2"),
    ("--v-ref", "0", "--v-ref must be > 0"), ("--v-ref", "-15.9", "--v-ref must be > 0"),
    ("--v-ref", "nan", "--v-ref must be a finite number"), ("--v-ref", "inf", "--v-ref must be a finite number"),
    ("--seed", "-1", "--seed must be >= 0"), ("--max-configs", "0", "--max-configs must be >= 1"),
    ("--quests-max-atoms", "0", "--quests-max-atoms must be >= 2"),
])
def test_diversity_bad_numbers_are_refused_before_reading(box, capsys, frames, opt, value, needle):
    src = write_frames(box.root / "a.extxyz", frames)
    box.snap()
    rc, _, err = _diversity(capsys, src, opt, value, "--out", box.root / "plots")
    refused(rc, err, needle)
    box.check()


def test_diversity_out_that_is_a_file_is_refused_before_any_work(box, capsys, frames):
    src = write_frames(box.root / "a.extxyz", frames)
    (box.root / "plots").write_text("not a folder")
    box.snap()
    rc, _, err = _diversity(capsys, src, "--out", box.root / "plots")
    refused(rc, err, "plots", "existing file, not a folder")
    box.check()


def test_diversity_out_inside_an_input_folder_is_refused(box, capsys, frames):
    (box.root / "data").mkdir()
    write_frames(box.root / "data" / "a.extxyz", frames)
    box.snap()
    rc, _, err = _diversity(capsys, box.root / "data", "--out", box.root / "data" / "plots")
    refused(rc, err, "inside the input")
    box.check()


def test_diversity_out_equal_to_an_input_folder_is_refused(box, capsys, frames):
    (box.root / "data").mkdir()
    write_frames(box.root / "data" / "a.extxyz", frames)
    box.snap()
    rc, _, err = _diversity(capsys, box.root / "data", "--out", box.root / "data")
    refused(rc, err, "is the input")
    box.check()


def test_diversity_foreign_plot_file_is_refused_before_any_work(box, capsys, frames):
    src = write_frames(box.root / "a.extxyz", frames)
    (box.root / "plots").mkdir()
    (box.root / "plots" / "logdet_bars.png").write_bytes(b"my figure")
    box.snap()
    rc, _, err = _diversity(capsys, src, "--out", box.root / "plots")
    refused(rc, err, "logdet_bars.png exists and was not written by revem")
    box.check()


def test_diversity_foreign_sqlite_is_never_written(box, capsys):
    db = foreign_sqlite(box.root / "notes.db")
    box.snap()
    rc, _, err = _diversity(capsys, db)
    refused(rc, err, "notes.db", "not an ASE or revem database")
    box.check()


def test_diversity_fifo_in_a_dataset_folder_is_refused(box, capsys, frames):
    (box.root / "data").mkdir()
    write_frames(box.root / "data" / "a.extxyz", frames)
    (box.root / "data" / "sub").mkdir()
    _fifo(box.root / "data" / "sub" / "b.extxyz")
    (box.root / "data2").mkdir()
    _fifo(box.root / "data2" / "c.extxyz")  # only a FIFO: found by the recursive search
    box.snap()
    rc, _, err = _diversity(capsys, box.root / "data2")
    refused(rc, err, "c.extxyz", "FIFO")
    box.check()


@pytest.mark.parametrize("field, value", [("v_ref", -15.9), ("rcutfac", 0.0), ("rcutfac", -4.7)])
def test_diversity_generator_db_with_bad_settings_is_refused(box, capsys, gen_db, field, value):
    db = _copy_db(gen_db, box.root / "g.db", **{field: value})
    box.snap()
    rc, _, err = _diversity(capsys, db)
    refused(rc, err, "g.db", field, "> 0")
    box.check()


def test_diversity_link_to_dev_zero_is_refused(box, capsys):
    (box.root / "z.extxyz").symlink_to("/dev/zero")
    box.snap()
    rc, _, err = _diversity(capsys, box.root / "z.extxyz")
    refused(rc, err, "z.extxyz", "not a file or a folder")
    box.check()


# ==================================================================================================
# revem fit snap
# ==================================================================================================
def _snap(capsys, *argv):
    return run_cli(["fit", "snap", *argv, "--quiet"], capsys)


SNAP_BAD = [
    ("--name", "../../X", "use 1 to 64 letters"), ("--name", "x" * 300, "use 1 to 64 letters"),
    ("--name", "Wé", "use 1 to 64 letters"), ("--name", "a b", "use 1 to 64 letters"),
    ("--name", "", "use 1 to 64 letters"),
    ("--kappa", "2", "--kappa must be >= 0 and < 1"), ("--kappa", "1", "--kappa must be >= 0 and < 1"),
    ("--kappa", "-0.1", "--kappa must be"), ("--kappa", "nan", "--kappa must be a finite number"),
    ("--rcut", "-1", "--rcut must be > 0"), ("--rcut", "0", "--rcut must be > 0"), ("--rcut", "inf", "--rcut must be"),
    ("--twojmax", "-2", "--twojmax must be >= 1"), ("--twojmax", "0", "--twojmax must be >= 1"),
    ("--twojmax", "40", "--twojmax must be >= 1 and <= 12"),
    ("--seed", "-5", "--seed must be >= 0"), ("--ridge", "-1", "--ridge must be >= 0"),
    ("--ridge", "nan", "--ridge must be a finite number"),
    ("--test-size", "1", "--test-size must be >= 0 and < 1"), ("--test-size", "-0.2", "--test-size must be"),
    ("--energy-weight", "0", "--energy-weight must be > 0"), ("--force-weight", "-1", "--force-weight must be >= 0"),
    ("--de-up", "0", "--de-up must be > 0"), ("--df-up", "-inf", "--df-up must be"),
]


@pytest.mark.parametrize("opt, value, needle", SNAP_BAD, ids=[f"{o}={v[:12]}" for o, v, _ in SNAP_BAD])
def test_fit_snap_bad_option_is_refused_before_any_file_is_written(box, capsys, frames, opt, value, needle):
    src = write_frames(box.root / "pool.extxyz", frames)
    box.snap()
    rc, _, err = _snap(capsys, src, "--out", box.root / "out", f"{opt}={value}")
    refused(rc, err, needle)
    box.check()
    assert not any(p.name.startswith("X") for p in Path(box.root).parent.iterdir())


@pytest.mark.parametrize("extra, needle", [
    (["--zbl-inner", "2.0", "--zbl-outer", "1.5"], "--zbl-inner 2.0 must be below --zbl-outer 1.5"),
    (["--de-low", "5", "--de-up", "3"], "--de-low 5.0 must be below --de-up 3.0"),
    (["--element", "Xx"], "--element 'Xx' is not a chemical symbol"),
])
def test_fit_snap_inconsistent_options_are_refused(box, capsys, frames, extra, needle):
    src = write_frames(box.root / "pool.extxyz", frames)
    box.snap()
    rc, _, err = _snap(capsys, src, "--out", box.root / "out", *extra)
    refused(rc, err, needle)
    box.check()


def test_fit_snap_out_that_is_a_file_or_the_input_is_refused(box, capsys, frames):
    src = write_frames(box.root / "pool.extxyz", frames)
    (box.root / "out").write_text("a file")
    box.snap()
    rc, _, err = _snap(capsys, src, "--out", box.root / "out")
    refused(rc, err, "existing file, not a folder")
    rc, _, err = _snap(capsys, src, "--out", src)
    refused(rc, err, "pool.extxyz", "existing file")
    box.check()


def test_fit_snap_never_overwrites_its_input_inside_out(box, capsys, frames):
    (box.root / "out").mkdir()
    src = write_frames(box.root / "out" / "W1.training.extxyz.gz", frames)
    box.snap()
    rc, _, err = _snap(capsys, src, "--out", box.root / "out", "--name", "W1")
    refused(rc, err, "would overwrite the input", "W1.training.extxyz.gz")
    box.check()


def test_fit_snap_foreign_file_of_an_output_name_is_kept(box, capsys, frames):
    src = write_frames(box.root / "pool.extxyz", frames)
    (box.root / "out").mkdir()
    (box.root / "out" / "errors.md").write_text("my notes")
    box.snap()
    rc, _, err = _snap(capsys, src, "--out", box.root / "out", "--name", "fit1")
    refused(rc, err, "errors.md exists and was not written by revem")
    box.check()


def test_fit_snap_non_finite_labels_are_dropped_from_data_and_training_split(box, capsys, frames):
    from ase.calculators.singlepoint import SinglePointCalculator

    bad = [a.copy() for a in frames]
    for i, a in enumerate(bad):
        a.calc = SinglePointCalculator(a, energy=frames[i].get_potential_energy(), forces=frames[i].get_forces())
    bad[3].calc.results["energy"] = float("nan")
    bad[7].calc.results["forces"] = np.full((len(bad[7]), 3), np.inf)
    src = write_frames(box.root / "pool.extxyz", bad)
    box.snap()
    rc, out, err = _snap(capsys, src, "--out", box.root / "out", "--name", "c1", "--twojmax", "4",
                         "--test-size", "0")
    assert rc == 0, err
    assert "dropped 2 configuration(s) with non-finite energy, forces or stress" in err and "frame 3" in err
    train = _readable(box.root / "out" / "c1.training.extxyz.gz")
    assert len(train) == 10 and all(np.isfinite(a.get_potential_energy()) for a in train)
    fit = json.loads((box.root / "out" / "fit.json").read_text())
    assert [d["frame"] for d in fit["dropped_nonfinite"]] == [3, 7] and fit["n_train"] == 10
    box.check("out")


def test_fit_snap_all_labels_non_finite_is_refused(box, capsys, frames):
    from ase.calculators.singlepoint import SinglePointCalculator

    bad = [a.copy() for a in frames[:3]]
    for a in bad:
        a.calc = SinglePointCalculator(a, energy=float("nan"), forces=np.zeros((len(a), 3)))
    src = write_frames(box.root / "pool.extxyz", bad)
    box.snap()
    rc, _, err = _snap(capsys, src, "--out", box.root / "out")
    refused(rc, err, "every configuration has non-finite labels")
    box.check()


def test_label_write_failure_is_one_line_and_a_rerun_finishes(box, frames, label_reference):
    """A file-size limit (RLIMIT_FSIZE, as a full disk) hit while writing the output: exit 1, one line naming
    the file, no half-written output, the journal intact; the same command run again (no limit) finishes."""
    src = write_frames(box.root / "pool.extxyz", frames)
    card = box.root / "emt.yaml"
    card.write_text("name: emtcu\nelements: [Cu]\nkind: ase\nase: ase.calculators.emt:EMT\n")
    out = box.root / "o.extxyz"
    box.snap()

    def limit():  # the journal (~11 kB) fits, the output (~15 kB) does not
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (12_500, 12_500))

    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
    cmd = [sys.executable, "-m", "revem.cli", "label", str(src), "--out", str(out), "--teacher", str(card),
           "--no-progress"]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, preexec_fn=limit)
    refused(r.returncode, r.stderr, "cannot write", "o.extxyz", "File too large", code=1)
    assert not out.exists() and not [p for p in box.root.iterdir() if ".tmp-" in p.name]
    assert len(_records(out)) == 12
    box.check("o.extxyz.progress.jsonl")
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "12 of 12 configurations done" in r.stderr, r.stderr
    assert len(_readable(out)) == 12


# ==================================================================================================
# revem fit pacemaker
# ==================================================================================================
CU_PARAMS = ["--param", "cutoff=5", "--param", "rho_core_cut=1", "--param", "drho_core_cut=1", "--param", "r_in=1",
             "--param", "delta_in=0.5", "--param", "core_repulsion=1,1", "--param", "DElow=1", "--param", "DEup=10",
             "--param", "DFup=10", "--evaluator", "pyace"]


def _pacemaker(capsys, src, workdir, *extra):
    return run_cli(["fit", "pacemaker", src, "--element", "Cu", "--workdir", workdir, *CU_PARAMS, *extra], capsys)


def test_pacemaker_input_inside_workdir_is_never_replaced(box, capsys, frames):
    (box.root / "wd").mkdir()
    src = write_frames(box.root / "wd" / "train.extxyz.gz", frames)
    box.snap()
    rc, _, err = _pacemaker(capsys, src, box.root / "wd")
    refused(rc, err, "would overwrite the input", "train.extxyz.gz")
    box.check()


@pytest.mark.parametrize("extra, needle", [
    (["--e-atom", "nan"], "e_atom (--e-atom) must be a finite energy"),
    (["--e-atom=-inf"], "e_atom (--e-atom) must be a finite energy"),
    (["--seed", "-1"], "seed must be a whole number >= 0"),
    (["--n-sample", "-3"], "n_sample must be a whole number >= 0"),
    (["--timeout", "0"], "--timeout must be > 0"), (["--timeout", "nan"], "--timeout must be a finite number"),
    (["--test-size", "1.5"], "test_size must be a fraction"), (["--maxiter", "0"], "maxiter must be a whole number >= 1"),
    (["--param", "DEup=nan"], "DEup = nan must be a finite number"),
])
def test_pacemaker_refusal_keeps_an_earlier_runs_files(box, capsys, frames, extra, needle):
    src = write_frames(box.root / "pool.extxyz", frames)
    assert _pacemaker(capsys, src, box.root / "wd", "--n-sample", "8")[0] == 0
    assert (box.root / "wd" / "holdout.extxyz.gz").is_file() and (box.root / "wd" / "test.extxyz.gz").is_file()
    box.snap()
    rc, _, err = _pacemaker(capsys, src, box.root / "wd", "--n-sample", "8", *extra)
    refused(rc, err, needle)
    box.check()


def test_pacemaker_foreign_file_of_an_output_name_is_refused(box, capsys, frames):
    src = write_frames(box.root / "pool.extxyz", frames)
    (box.root / "wd").mkdir()
    (box.root / "wd" / "holdout.extxyz.gz").write_bytes(b"my holdout, not revem's")
    box.snap()
    rc, _, err = _pacemaker(capsys, src, box.root / "wd")
    refused(rc, err, "holdout.extxyz.gz exists and was not written by revem")
    box.check()


def test_pacemaker_workdir_that_is_a_file_is_refused(box, capsys, frames):
    src = write_frames(box.root / "pool.extxyz", frames)
    (box.root / "wd").write_text("file")
    box.snap()
    rc, _, err = _pacemaker(capsys, src, box.root / "wd")
    refused(rc, err, "--workdir", "existing file, not a folder")
    box.check()


def test_pacemaker_non_finite_labels_are_refused_before_writing(box, capsys, frames):
    from ase.calculators.singlepoint import SinglePointCalculator

    bad = [a.copy() for a in frames]
    for i, a in enumerate(bad):
        a.calc = SinglePointCalculator(a, energy=frames[i].get_potential_energy(), forces=frames[i].get_forces())
    bad[5].calc.results["energy"] = float("inf")
    src = write_frames(box.root / "pool.extxyz", bad)
    box.snap()
    rc, _, err = _pacemaker(capsys, src, box.root / "wd")
    refused(rc, err, "frame 5 has a non-finite energy")
    box.check()


def test_pacemaker_stale_revem_files_are_removed_only_when_revems(box, capsys, frames):
    src = write_frames(box.root / "pool.extxyz", frames)
    wd = box.root / "wd"
    assert _pacemaker(capsys, src, wd, "--n-sample", "8")[0] == 0
    (wd / "notes.txt").write_text("mine")
    assert _pacemaker(capsys, src, wd, "--n-sample", "0")[0] == 0  # no holdout now: the earlier one goes
    assert not (wd / "holdout.extxyz.gz").exists() and (wd / "notes.txt").read_text() == "mine"
    assert json.loads((wd / "revem_pacemaker.json").read_text())["n_holdout"] == 0


def test_pacemaker_rewriting_inputs_keeps_an_earlier_fitted_potential(box, capsys, frames):
    from revem.safe_io import OutputFolder

    src = write_frames(box.root / "pool.extxyz", frames)
    wd = box.root / "wd"
    assert _pacemaker(capsys, src, wd, "--n-sample", "8")[0] == 0
    (wd / "output_potential.yaml").write_text("fitted: hours of work\n")  # as run_pacemaker records it
    f = OutputFolder(wd, "--workdir")
    f.record("output_potential.yaml")
    f.finish(remove_stale=False)
    assert _pacemaker(capsys, src, wd, "--n-sample", "0")[0] == 0
    assert (wd / "output_potential.yaml").read_text() == "fitted: hours of work\n"
    assert not (wd / "holdout.extxyz.gz").exists()


# ==================================================================================================
# revem experiment transferability
# ==================================================================================================
def _experiment(capsys, *argv):
    return run_cli(["experiment", "transferability", *argv, "--quiet"], capsys)


@pytest.mark.parametrize("argv, needle", [
    (["--em", "missing.db"], "--em missing.db does not exist"),
    (["--em-labelled", "missing.extxyz", "--de-labelled", "missing.extxyz"], "--em-labelled missing.extxyz does not exist"),
    (["--seeds", "0"], "--seeds must be >= 1"), (["--seeds", "-2"], "--seeds must be >= 1"),
    (["--skip-part1"], "nothing to do"),
    (["--ridge", "-1"], "--ridge must be >= 0"), (["--ridge", "nan"], "--ridge must be a finite number"),
    (["--force-weight", "inf"], "--force-weight must be a finite number"), (["--workers", "0"], "--workers must be >= 1"),
    (["--max-per-group", "0"], "--max-per-group must be >= 1"), (["--de-max-per-group", "-1"], "--de-max-per-group must be >= 0"),
    (["--models", "linear,nn"], "--models nn"),
])
def test_experiment_bad_options_are_refused_before_any_work(box, capsys, argv, needle):
    box.snap()
    rc, _, err = _experiment(capsys, "--out", box.root / "exp", *argv)
    refused(rc, err, needle)
    box.check()


def test_experiment_labelled_sets_must_come_in_pairs(box, capsys, frames):
    em = write_frames(box.root / "em.extxyz", frames)
    box.snap()
    rc, _, err = _experiment(capsys, "--out", box.root / "exp", "--skip-part1", "--em-labelled", em)
    refused(rc, err, "--em-labelled needs --de-labelled")
    rc, _, err = _experiment(capsys, "--out", box.root / "exp", "--skip-part1", "--de-labelled", em)
    refused(rc, err, "--de-labelled needs --em-labelled")
    box.check()


def test_experiment_out_that_is_a_file_or_an_input_is_refused_first(box, capsys, frames):
    em = write_frames(box.root / "em.extxyz", frames)
    (box.root / "exp").write_text("a file")
    box.snap()
    rc, _, err = _experiment(capsys, "--out", box.root / "exp", "--skip-part1", "--em-labelled", em,
                             "--de-labelled", em)
    refused(rc, err, "existing file, not a folder")
    rc, _, err = _experiment(capsys, "--out", em, "--skip-part1", "--em-labelled", em, "--de-labelled", em)
    refused(rc, err, "em.extxyz")
    box.check()


def test_experiment_foreign_label_output_in_out_is_refused_first(box, capsys, gen_db, data_dir):
    (box.root / "exp").mkdir()
    (box.root / "exp" / "em_teacher.extxyz").write_text("my file")
    box.snap()
    rc, _, err = _experiment(capsys, "--out", box.root / "exp", "--skip-part1", "--em", gen_db)
    refused(rc, err, "em_teacher.extxyz exists without its progress file")
    box.check()


def test_experiment_labelled_files_run_part2_only_inside_out(box, capsys):
    from revem.potentials import load_potential

    calc = load_potential("W_zhou").calculator()
    em = write_frames(box.root / "em.extxyz", labelled_frames(14, "W", 4.0, seed=1, calc=calc))
    de = write_frames(box.root / "de.extxyz", labelled_frames(14, "W", 4.0, seed=2, calc=calc))
    box.snap()
    rc, out, err = _experiment(capsys, "--out", box.root / "exp", "--skip-part1", "--em-labelled", em,
                               "--de-labelled", de, "--models", "linear", "--force-weight", "0.1")
    assert rc == 0, err
    assert "Part 2" in out
    new = box.check("exp")
    assert {"exp/transferability.md", "exp/transferability.json", "exp/rse.npz", "exp/part2_fig4.png"} <= set(new)
