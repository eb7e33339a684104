"""Hostile use of ``revem generate | info | export | rescale`` ("safe by construction").

Each test does something a user, a crash or a second process can do to the generator's database
and asserts that revem either copes (a killed write, a leftover ASE lock, a dead owner's lease)
or refuses with a message that names the problem, leaving nothing created or half-written
(directory listings, file bytes and row counts are compared before and after).

The subprocess tests use the test-only hook ``REVEM_TEST_KILL_IN_WRITE=N`` of
:mod:`revem.generator.storage` (``kill -9`` inside the N-th row-writing transaction).
"""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from revem.generator.cli import main

from db_snapshot import snapshot  # tests/db_snapshot.py

ROOT = Path(__file__).resolve().parents[1]
STREAM = "w08-per-config"
ARGS = ["--windows", "8", "--modes", "per-config", "--seed", "1", "--no-progress"]
CMD = [sys.executable, "-m", "revem.generator.cli"]
ENV = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           OMP_NUM_THREADS="1")
# the lease table as revem writes it (created here too so that a simulated owner can be planted)
LEASES = ("CREATE TABLE IF NOT EXISTS revem_leases (stream TEXT PRIMARY KEY, owner TEXT NOT NULL, "
          "host TEXT NOT NULL, pid INTEGER NOT NULL, started TEXT, acquired REAL NOT NULL, "
          "heartbeat REAL NOT NULL)")


# -- helpers -------------------------------------------------------------------------------
def _counts(db):
    """(rows, stream state) read with plain sqlite3."""
    con = sqlite3.connect(db)
    try:
        n = con.execute("SELECT COUNT(*) FROM systems").fetchone()[0]
        st = dict(con.execute("SELECT name, state FROM revem_streams").fetchall())
    finally:
        con.close()
    return n, st


def _listing(d):
    return sorted(p.name for p in Path(d).iterdir())


def _cli(argv, capsys):
    """(exit status, stderr) of ``revem ...`` run in this process (argparse errors included)."""
    try:
        rc = main(argv)
    except SystemExit as exc:
        rc = exc.code
    return rc, capsys.readouterr().err


def _copy(src, d, name="x.db"):
    dst = Path(d) / name
    shutil.copy(src, dst)
    return str(dst)


def _plant_lease(db, host, pid, started=None, heartbeat=None, owner=None):
    now = time.time()
    con = sqlite3.connect(db)
    with con:
        con.execute(LEASES)
        con.execute("INSERT OR REPLACE INTO revem_leases VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (STREAM, owner or f"{host}:{pid}:planted", host, pid, started, now - 5,
                     now if heartbeat is None else heartbeat))
    con.close()


def _lease_owner(db):
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT owner FROM revem_leases WHERE stream=?", (STREAM,)).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """The reference: an uninterrupted 8-iteration run (one stream)."""
    db = str(tmp_path_factory.mktemp("ref") / "ref.db")
    assert main(["generate", "--out", db, "--iterations", "8"] + ARGS) == 0
    return db


@pytest.fixture
def sleeper():
    """A live process on this host that is not revem (the owner of a planted lease)."""
    p = subprocess.Popen(["sleep", "120"])
    yield p
    p.kill()
    p.wait()


# -- locks and leases ------------------------------------------------------------------------
def test_leftover_ase_lock_file_does_not_hang_resume(small_run, tmp_path):
    """``kill -9`` inside an ASE write leaves ``x.db.lock``; ``--resume`` used to sleep forever."""
    db = _copy(small_run, tmp_path)
    Path(db + ".lock").touch()
    t0 = time.time()
    r = subprocess.run(CMD + ["generate", "--out", db, "--iterations", "9", "--resume"] + ARGS,
                       env=ENV, capture_output=True, text=True, timeout=120)
    took = time.time() - t0
    assert r.returncode == 0, r.stderr
    assert f"{STREAM}: 9 iterations" in r.stdout
    assert took < 100, took


def test_second_resume_while_a_run_writes_is_refused(small_run, tmp_path):
    """Two ``--resume`` of one database at once: the second refuses, naming stream and owner,
    and no row is duplicated (it used to exit 0 with duplicated accepted rows)."""
    db = _copy(small_run, tmp_path)
    cmd = CMD + ["generate", "--out", db, "--iterations", "60", "--resume"] + ARGS
    first = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        t0 = time.time()
        while time.time() - t0 < 90:  # until the first run has committed an iteration
            time.sleep(0.2)
            try:
                if _counts(db)[1][STREAM] and json.loads(_counts(db)[1][STREAM])["iteration"] > 8:
                    break
            except sqlite3.Error:
                continue
        assert first.poll() is None, "the first run ended before the second started"
        second = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=120)
        assert first.poll() is None
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert second.returncode == 3, second.stderr
    assert STREAM in second.stderr and f"PID {first.pid}" in second.stderr and "being written" in second.stderr
    rows, streams = snapshot(db)  # asserts no duplicated rows
    assert len([k for k in rows if k[1] == "accepted"]) == streams[STREAM][0]["accepted"]


def test_live_owner_refused_before_anything_is_written(small_run, tmp_path, capsys, sleeper):
    db = _copy(small_run, tmp_path)
    from revem.generator.locking import hostname, process_start

    _plant_lease(db, hostname(), sleeper.pid, process_start(sleeper.pid))
    before = Path(db).read_bytes()
    rc, err = _cli(["generate", "--out", db, "--iterations", "9", "--resume"] + ARGS, capsys)
    assert rc == 3
    assert STREAM in err and f"PID {sleeper.pid}" in err and hostname() in err
    assert Path(db).read_bytes() == before and _listing(tmp_path) == ["x.db"]


def test_run_stream_of_a_worker_refuses_a_live_owners_stream(small_run, tmp_path, sleeper):
    """The Dask/worker entry point acquires the lease itself."""
    from revem.generator.locking import LeaseHeld, hostname, process_start
    from revem.generator.runner import build_specs
    from revem.generator.stream import run_stream

    db = _copy(small_run, tmp_path)
    _plant_lease(db, hostname(), sleeper.pid, process_start(sleeper.pid))
    n = _counts(db)
    with pytest.raises(LeaseHeld, match=f"{STREAM}.*PID {sleeper.pid}"):
        run_stream(db, build_specs([8], ["per-config"], 12, seed=1)[0].as_dict())
    assert _counts(db) == n


def test_dead_owners_lease_is_taken_over_with_a_message(small_run, tmp_path, capsys, caplog):
    db = _copy(small_run, tmp_path)
    gone = subprocess.Popen(["true"])
    gone.wait()
    from revem.generator.locking import hostname

    _plant_lease(db, hostname(), gone.pid)
    rc, _ = _cli(["generate", "--out", db, "--iterations", "9", "--resume"] + ARGS, capsys)
    assert rc == 0
    assert f"PID {gone.pid}" in caplog.text and "taken over" in caplog.text and "no longer running" in caplog.text
    assert json.loads(_counts(db)[1][STREAM])["iteration"] == 9
    assert _lease_owner(db) == []  # released at the end of the run


def test_reused_pid_lease_is_taken_over(small_run, tmp_path, sleeper, caplog):
    """A live PID whose start time differs from the recorded one is another process."""
    from revem.generator.locking import hostname
    from revem.generator.storage import Store

    if not os.path.exists(f"/proc/{sleeper.pid}/stat"):
        pytest.skip("needs /proc")
    db = _copy(small_run, tmp_path)
    _plant_lease(db, hostname(), sleeper.pid, started="another-boot:1")
    owner = Store(db).acquire_lease(STREAM)
    assert _lease_owner(db) == [(owner.id,)] and "no longer running" in caplog.text


def test_other_hosts_fresh_lease_is_refused(small_run, tmp_path):
    from revem.generator.locking import LeaseHeld
    from revem.generator.storage import Store

    db = _copy(small_run, tmp_path)
    _plant_lease(db, "node-elsewhere", 4242)
    with pytest.raises(LeaseHeld, match="host node-elsewhere, PID 4242"):
        Store(db).acquire_lease(STREAM)
    assert _lease_owner(db) == [("node-elsewhere:4242:planted",)]


def test_other_hosts_silent_lease_is_taken_over(small_run, tmp_path, caplog, monkeypatch):
    from revem.generator.storage import Store

    monkeypatch.setenv("REVEM_LEASE_TIMEOUT", "30")
    db = _copy(small_run, tmp_path)
    _plant_lease(db, "node-elsewhere", 4242, heartbeat=time.time() - 31)
    owner = Store(db).acquire_lease(STREAM)
    assert _lease_owner(db) == [(owner.id,)]
    assert "node-elsewhere" in caplog.text and "no heartbeat" in caplog.text


def test_two_owners_in_one_process_cannot_share_a_stream(small_run, tmp_path):
    """Two run_stream calls of one process (e.g. two Dask threads) are two owners."""
    from revem.generator.locking import LeaseHeld
    from revem.generator.storage import Store

    db = _copy(small_run, tmp_path)
    Store(db).acquire_lease(STREAM)
    with pytest.raises(LeaseHeld, match=f"PID {os.getpid()}"):
        Store(db).acquire_lease(STREAM)


def test_commit_after_the_lease_was_taken_writes_nothing(small_run, tmp_path):
    """The lease check is inside the row's transaction: a writer that lost its lease (a race, a
    takeover after a long stall) cannot add a row or move the stream state."""
    from revem.generator.locking import LeaseLost
    from revem.generator.storage import Store

    db = _copy(small_run, tmp_path)
    store = Store(db)
    owner = store.acquire_lease(STREAM)
    con = sqlite3.connect(db)
    with con:
        con.execute("UPDATE revem_leases SET owner='elsewhere:1:thief' WHERE stream=?", (STREAM,))
    con.close()
    row = next(iter(store.rows(kind="accepted")))
    rec = store.load_stream(STREAM)
    n = _counts(db)
    state = dict(rec["state"], iteration=rec["state"]["iteration"] + 1)
    with pytest.raises(LeaseLost, match=STREAM):
        store.commit(STREAM, state, rec["sums"], (row.toatoms(), dict(row.key_value_pairs), row.data["features"]),
                     owner=owner)
    assert _counts(db) == n


# -- kill -9 inside a database write ----------------------------------------------------------
@pytest.mark.parametrize("nth", [1, 3], ids=["in-bootstrap-write", "in-accepted-row-write"])
def test_kill9_inside_a_write_then_resume_equals_uninterrupted(small_run, tmp_path, nth):
    """SIGKILL after the rows are inserted and before COMMIT (pages already spilled into the
    file: a hot journal is left); ``--resume`` rolls it back, takes the dead owner's lease over
    and finishes with exactly the rows and stream state of an uninterrupted run."""
    db = str(tmp_path / "k.db")
    cmd = CMD + ["generate", "--out", db, "--iterations", "8"] + ARGS
    t0 = time.time()
    r = subprocess.run(cmd, env=dict(ENV, REVEM_TEST_KILL_IN_WRITE=str(nth)), capture_output=True,
                       text=True, timeout=300)
    killed_after = time.time() - t0
    assert r.returncode == -signal.SIGKILL, (r.returncode, r.stderr)
    journal = Path(db + "-journal")
    assert journal.exists() and journal.stat().st_size > 0, "the kill did not land inside a write"
    n, streams = _counts(db)  # opening rolls the hot journal back
    if nth == 1:
        assert n == 0 and streams == {}
    else:  # the 2nd accepted row and its state are gone together
        st = json.loads(streams[STREAM])
        # 110 bootstrap rows: the start rule (>= 2 x 55 rows; one per configuration per-config)
        assert st["iteration"] < 8 and n == 110 + st["accepted"]
    r = subprocess.run(cmd + ["--resume"], env=ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "taken over" in r.stderr
    assert snapshot(db) == snapshot(small_run)
    print(f"killed inside write {nth} after {killed_after:.1f} s")


# -- databases that are not there, not revem, or damaged --------------------------------------
READERS = {
    "info": lambda db, d: ["info", db],
    "export": lambda db, d: ["export", db, str(Path(d) / "o.xyz")],
    "rescale": lambda db, d: ["rescale", db, "--element", "Al", "--out", str(Path(d) / "al.db")],
}


@pytest.mark.parametrize("cmd", sorted(READERS))
def test_reader_on_missing_database_creates_nothing(cmd, tmp_path, capsys):
    db = str(tmp_path / "nonexist.db")
    rc, err = _cli(READERS[cmd](db, tmp_path), capsys)
    assert rc == 2 and db in err and "does not exist" in err
    assert _listing(tmp_path) == []


WRITERS = {
    "generate": lambda db: ["generate", "--out", db, "--iterations", "1"] + ARGS,
    "generate --resume": lambda db: ["generate", "--out", db, "--iterations", "1", "--resume"] + ARGS,
}


def _random_bytes(path):
    Path(path).write_bytes(np.random.default_rng(0).bytes(8192))


@pytest.mark.parametrize("cmd", sorted(READERS) + sorted(WRITERS))
def test_random_bytes_are_not_a_revem_database(cmd, tmp_path, capsys):
    db = str(tmp_path / "x.db")
    _random_bytes(db)
    before = Path(db).read_bytes()
    argv = READERS[cmd](db, tmp_path) if cmd in READERS else WRITERS[cmd](db)
    rc, err = _cli(argv, capsys)
    assert rc == 2 and db in err and "not a revem database" in err and "not an SQLite file" in err
    assert Path(db).read_bytes() == before and _listing(tmp_path) == ["x.db"]


@pytest.mark.parametrize("cmd", ["info", "export", "generate --resume"])
def test_truncated_database_is_refused(cmd, small_run, tmp_path, capsys):
    db = str(tmp_path / "x.db")
    Path(db).write_bytes(Path(small_run).read_bytes()[:20000])
    argv = READERS[cmd](db, tmp_path) if cmd in READERS else WRITERS[cmd](db)
    rc, err = _cli(argv, capsys)
    assert rc == 2 and db in err and "truncated" in err
    assert os.path.getsize(db) == 20000 and _listing(tmp_path) == ["x.db"]


@pytest.mark.parametrize("cmd", ["info", "export", "generate --resume"])
def test_damaged_pages_give_a_message_naming_the_file(cmd, small_run, tmp_path, capsys):
    db = str(tmp_path / "x.db")
    b = bytearray(Path(small_run).read_bytes())
    b[3 * 4096:] = np.random.default_rng(1).bytes(len(b) - 3 * 4096)
    Path(db).write_bytes(bytes(b))
    argv = READERS[cmd](db, tmp_path) if cmd in READERS else WRITERS[cmd](db)
    rc, err = _cli(argv, capsys)
    assert rc == 2 and db in err and "malformed" in err
    assert Path(db).read_bytes() == bytes(b) and _listing(tmp_path) == ["x.db"]


@pytest.mark.parametrize("cmd", ["info", "generate"])
def test_another_programs_sqlite_file_is_left_alone(cmd, tmp_path, capsys):
    db = str(tmp_path / "x.db")
    con = sqlite3.connect(db)
    with con:
        con.execute("CREATE TABLE accounts (id INTEGER, name TEXT)")
        con.execute("INSERT INTO accounts VALUES (1, 'a')")
    con.close()
    before = Path(db).read_bytes()
    argv = READERS[cmd](db, tmp_path) if cmd in READERS else WRITERS[cmd](db)
    rc, err = _cli(argv, capsys)
    assert rc == 2 and db in err and "not a revem database" in err
    assert Path(db).read_bytes() == before and _listing(tmp_path) == ["x.db"]


def test_empty_file_is_not_a_revem_database_for_info(tmp_path, capsys):
    db = tmp_path / "x.db"
    db.touch()
    rc, err = _cli(["info", str(db)], capsys)
    assert rc == 2 and str(db) in err and "empty" in err
    assert db.stat().st_size == 0 and _listing(tmp_path) == ["x.db"]


def test_resume_of_a_missing_database_is_refused(tmp_path, capsys):
    db = str(tmp_path / "typo.db")
    rc, err = _cli(WRITERS["generate --resume"](db), capsys)
    assert rc == 2 and db in err and "does not exist" in err and "nothing to resume" in err
    assert _listing(tmp_path) == []


def test_worker_does_not_create_a_database_it_cannot_see(tmp_path):
    """A Dask worker without the shared file system must fail, not start an empty database."""
    from revem.generator.runner import build_specs
    from revem.generator.storage import StoreError
    from revem.generator.stream import run_stream

    db = str(tmp_path / "elsewhere.db")
    with pytest.raises(StoreError, match="does not exist"):
        run_stream(db, build_specs([8], ["per-config"], 1, seed=1)[0].as_dict())
    assert _listing(tmp_path) == []


# -- output paths ------------------------------------------------------------------------------
def _bad_dirs(tmp_path):
    (tmp_path / "plain").write_text("a file, not a directory")
    cases = {"missing": (tmp_path / "nodir" / "x.db", "does not exist"),
             "file-as-dir": (tmp_path / "plain" / "x.db", "is not a directory")}
    if sys.platform.startswith("linux"):  # not writable even for root
        cases["unwritable"] = (Path("/proc/revem-test.db"), "is not writable")
    return cases


@pytest.mark.parametrize("case", ["missing", "file-as-dir", "unwritable"])
def test_generate_out_in_a_bad_directory(case, tmp_path, capsys):
    cases = _bad_dirs(tmp_path)
    if case not in cases:
        pytest.skip("linux only")
    out, why = cases[case]
    rc, err = _cli(WRITERS["generate"](str(out)), capsys)
    assert rc == 2 and str(out.parent) in err and why in err
    assert _listing(tmp_path) == ["plain"] and not out.exists()


@pytest.mark.parametrize("cmd", ["export", "rescale"])
def test_export_and_rescale_into_a_missing_directory(cmd, small_run, tmp_path, capsys):
    db = _copy(small_run, tmp_path)
    out = tmp_path / "nodir" / ("o.xyz" if cmd == "export" else "al.db")
    argv = ["export", db, str(out)] if cmd == "export" else ["rescale", db, "--element", "Al", "--out", str(out)]
    rc, err = _cli(argv, capsys)
    assert rc == 2 and str(out.parent) in err and "does not exist" in err
    assert _listing(tmp_path) == ["x.db"]


def test_generate_out_is_a_directory(tmp_path, capsys):
    (tmp_path / "d.db").mkdir()
    rc, err = _cli(WRITERS["generate"](str(tmp_path / "d.db")), capsys)
    assert rc == 2 and "is a directory" in err and str(tmp_path / "d.db") in err
    assert _listing(tmp_path / "d.db") == []


# -- options, refused before the database is created -------------------------------------------
BAD_OPTIONS = [
    (["--windows", "5-2"], "--windows", "empty"),
    (["--windows=-1"], "--windows", "negative"),
    (["--windows", "3-"], "--windows", "not a window index"),
    (["--iterations", "-5"], "--iterations", ">= 1"),
    (["--iterations", "0"], "--iterations", ">= 1"),
    (["--v-ref", "-1"], "--v-ref", "> 0"),
    (["--v-ref", "nan"], "--v-ref", "finite"),
    (["--bootstrap", "0"], "--bootstrap", ">= 2"),
    (["--bootstrap", "1"], "--bootstrap", ">= 2"),
    (["--workers", "0"], "--workers", ">= 1"),
    (["--steps", "0"], "--steps", ">= 1"),
    (["--core-factor", "0"], "--core-factor", "> 0"),
    (["--ridge", "-0.001"], "--ridge", ">= 0"),
    (["--rcutfac", "0"], "--rcutfac", "> 0"),
    (["--k0", "-0.5"], "--k0", "> 0"),
    (["--seed", "-1"], "--seed", ">= 0"),
    (["--modes", "per-atom,bogus"], "--modes", "unknown mode 'bogus'"),
    (["--bootstrap-rows", "-1"], "--bootstrap-rows", ">= 0"),
    (["--atoms", "25-2"], "--atoms", "empty"),
    (["--atoms", "2-25:gaussian"], "--atoms", "unknown law"),
]


@pytest.mark.parametrize("extra,option,why", BAD_OPTIONS, ids=[" ".join(c[0]) for c in BAD_OPTIONS])
def test_bad_option_is_refused_before_the_database_exists(extra, option, why, tmp_path, capsys):
    out = str(tmp_path / "x.db")
    rc, err = _cli(["generate", "--out", out, "--iterations", "1", "--windows", "8", "--modes", "per-config",
                    "--no-progress"] + extra, capsys)
    assert rc == 2 and f"argument {option}" in err and why in err and "Traceback" not in err
    assert _listing(tmp_path) == []


def test_ridge_zero_with_too_few_bootstrap_samples_is_refused(tmp_path, capsys):
    """Without a ridge the per-config bootstrap covariance of the earlier start (10 samples with
    --bootstrap-rows 0, 55 features) is singular: refused with a message instead of a
    DegenerateCovariance traceback after the file was made.  (The default start rule, >= 110 rows,
    makes --ridge 0 usable.)"""
    rc, err = _cli(WRITERS["generate"](str(tmp_path / "x.db")) + ["--ridge", "0", "--bootstrap-rows", "0"], capsys)
    assert rc == 2 and "--ridge 0" in err and "55 features" in err
    assert _listing(tmp_path) == []
    rc, err = _cli(WRITERS["generate"](str(tmp_path / "y.db")) + ["--ridge", "0", "--bootstrap-rows", "40"], capsys)
    assert rc == 2 and "--bootstrap-rows 40 gives 40" in err
    assert _listing(tmp_path) == []
    from revem.generator.runner import build_specs

    assert build_specs([8], ["per-config"], 1, ridge=0)[0].bootstrap_rows == 110  # accepted
