"""ASE database (SQLite) holding the generated configurations and the checkpoint of every stream.

Rows (ASE ``systems`` table): every bootstrap (``kind='bootstrap'``) and accepted
(``kind='accepted'``) configuration with its stream, window, mode, iteration, K (``k_factor``),
S before/after (``s_before``, ``s_after``; ASE forbids element symbols as keys) and seed as
key-value pairs, and its raw bispectrum features in ``data['features']``.

Extra tables in the same file:
* ``revem_meta``: the run settings (JSON);
* ``revem_streams``: per stream its spec (window, R_core, R_min, descriptor settings, ...), the
  covariance normalisation, its state (next iteration, K, counters, S) and the running sums;
* ``revem_leases``: the owner of each stream being written (see :mod:`revem.generator.locking`).

Safety rules:

* An accepted row, the stream state and the check that this process still owns the stream's
  lease are one SQLite transaction (the lease ``UPDATE`` is its first statement), and the state is
  written after every iteration, so a run killed at any moment (kill -9 inside a write included)
  resumes from a consistent checkpoint, and two processes can never both advance a stream.
* ASE's own lock file (``x.db.lock``) is not used (``use_lock_file=False``): a lock file left by
  a killed ASE write would make every later write wait forever.  SQLite's locking with a bounded
  busy timeout (:data:`BUSY_TIMEOUT`) serialises the writers instead.
* Opening checks the file first and raises :class:`StoreError` (a message naming the file) for a
  missing database (readers never create one), a directory, a file that is not SQLite, a
  truncated SQLite file, an SQLite file without revem's tables, and an output directory that is
  missing or not writable.

Test-only hook: ``REVEM_TEST_KILL_IN_WRITE=N`` makes the process ``kill -9`` itself inside its
N-th row-writing transaction (the bootstrap rows of a stream or an accepted row), after the rows
and the stream state are written and before COMMIT.  While the variable is set, SQLite's page
cache is shrunk so that the uncommitted pages spill into the database file: the kill then leaves a
hot journal that the next opening must roll back.  Never set it outside the test suite.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import tempfile
import time
from contextlib import closing, contextmanager
from pathlib import Path

import ase.db
import numpy as np
from ase import Atoms

from .locking import Lease, LeaseHeld, LeaseLost, Owner

log = logging.getLogger("revem.generator")

_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS revem_meta (key TEXT PRIMARY KEY, value TEXT)",
    "CREATE TABLE IF NOT EXISTS revem_streams (name TEXT PRIMARY KEY, spec TEXT, norm TEXT, "
    "state TEXT, sums BLOB)",
    "CREATE TABLE IF NOT EXISTS revem_leases (stream TEXT PRIMARY KEY, owner TEXT NOT NULL, "
    "host TEXT NOT NULL, pid INTEGER NOT NULL, started TEXT, acquired REAL NOT NULL, "
    "heartbeat REAL NOT NULL)",
]
SPECIES = "X"  # generated structures are material-agnostic; ``revem rescale`` sets the element

#: seconds a write waits for another writer's SQLite transaction before failing with a message
BUSY_TIMEOUT = 60.0

SQLITE_MAGIC = b"SQLite format 3\x00"
ASE_TABLES = frozenset({"systems", "sqlite_sequence", "species", "keys", "text_key_values",
                        "number_key_values", "information"})
REVEM_TABLES = frozenset({"revem_meta", "revem_streams", "revem_leases"})
#: tables a readable revem database must have (``revem_leases`` is added by the first writer)
REQUIRED_TABLES = frozenset({"systems", "revem_meta", "revem_streams"})

KILL_ENV = "REVEM_TEST_KILL_IN_WRITE"
_row_transactions = 0


class StoreError(ValueError):
    """A database (or output path) that revem cannot use; the message names the file."""


# -- checks before anything is opened or created --------------------------------------------
def check_directory(path: str | Path) -> None:
    """The directory that will hold ``path`` exists and a file can be created in it."""
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.exists(d):
        raise StoreError(f"cannot create {path}: directory {d} does not exist")
    if not os.path.isdir(d):
        raise StoreError(f"cannot create {path}: {d} is not a directory")
    try:  # os.access is not enough (root, read-only mounts, ACLs): try it
        fd, probe = tempfile.mkstemp(dir=d, prefix=".revem-probe-")
    except OSError as exc:
        raise StoreError(f"cannot create {path}: directory {d} is not writable ({exc.strerror})") from None
    os.close(fd)
    os.unlink(probe)


def file_kind(path: str | Path) -> str:
    """'missing', 'empty' or 'sqlite' (a complete SQLite file); :class:`StoreError` for a directory,
    an unreadable file, a file that is not SQLite and a truncated SQLite file."""
    path = str(path)
    if not os.path.lexists(path):
        return "missing"
    if os.path.isdir(path):
        raise StoreError(f"{path} is a directory, not a revem database")
    if not os.path.exists(path):
        raise StoreError(f"{path} is a dangling symbolic link")
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            head = fh.read(100)
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}") from None
    if size == 0:
        return "empty"
    if not head.startswith(SQLITE_MAGIC):
        if SQLITE_MAGIC.startswith(head):  # a prefix of the header: cut short
            raise StoreError(f"{path} is not a revem database: truncated SQLite file ({size} bytes)")
        raise StoreError(f"{path} is not a revem database: not an SQLite file (no SQLite header)")
    if len(head) < 100:
        raise StoreError(f"{path} is not a revem database: truncated SQLite file ({size} bytes)")
    page = int.from_bytes(head[16:18], "big")
    page = 65536 if page == 1 else page
    if page < 512 or page & (page - 1):
        raise StoreError(f"{path} is not a revem database: corrupt SQLite header (page size {page})")
    journal = f"{path}-journal"
    pending = (os.path.exists(f"{path}-wal")
               or (os.path.exists(journal) and os.path.getsize(journal) > 0))
    n_pages = int.from_bytes(head[28:32], "big")
    if not pending and head[24:28] == head[92:96] and n_pages and size < n_pages * page:
        raise StoreError(f"{path} is not a revem database: truncated SQLite file "
                         f"({size} bytes; its header says {n_pages * page})")
    if not pending and size % page:
        raise StoreError(f"{path} is not a revem database: truncated SQLite file "
                         f"({size} bytes, not a multiple of its {page}-byte pages)")
    return "sqlite"


def _tables(path: str) -> set[str]:
    """Table names of an existing SQLite file (opened without create; rolls back a hot journal)."""
    uri = Path(path).absolute().as_uri() + "?mode=rw"
    try:
        with closing(sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT)) as con:
            names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "systems" in names:
                con.execute("SELECT COUNT(*) FROM systems").fetchone()
            return names
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc):
            raise StoreError(f"{path} stayed locked for {BUSY_TIMEOUT:g} s by another writer") from None
        raise StoreError(f"{path} is not a revem database: {exc}") from None
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not a revem database: {exc}") from None


def _count(path: str, table: str) -> int:
    with closing(sqlite3.connect(path, timeout=BUSY_TIMEOUT)) as con:
        return con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def database_error(path: str, exc: sqlite3.Error) -> StoreError:
    """A :class:`StoreError` naming ``path`` for an SQLite error met after opening."""
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        return StoreError(f"{path} stayed locked for {BUSY_TIMEOUT:g} s by another writer ({exc})")
    if isinstance(exc, sqlite3.OperationalError) and ("readonly" in str(exc) or "read-only" in str(exc)):
        return StoreError(f"{path} is not writable ({exc})")
    return StoreError(f"{path}: database error ({exc}); the file may be damaged")


def _kill_hook(con) -> None:
    """The test-only ``REVEM_TEST_KILL_IN_WRITE`` hook (see the module docstring)."""
    global _row_transactions
    n = os.environ.get(KILL_ENV)
    if not n:
        return
    _row_transactions += 1
    if _row_transactions == int(n):
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(60)  # SIGKILL is asynchronous on some systems; never reach the COMMIT


class Store:
    """The run's database.

    ``create=True`` (writers): a missing or empty file is created (its directory must exist and be
    writable), an existing file must be SQLite and must not be another program's database;
    revem's tables are added if missing.  ``create=False`` (readers: info, export, rescale, the
    progress bars, workers): the file must exist and be a revem database; nothing is created.
    """

    def __init__(self, path: str | Path, create: bool = True):
        self.path = str(path)
        kind = file_kind(self.path)
        if create:  # also for an existing file: SQLite writes its journal next to it
            check_directory(self.path)
        if kind != "sqlite":
            if not create:
                raise StoreError(f"{self.path} does not exist" if kind == "missing"
                                 else f"{self.path} is empty (not a revem database)")
        else:
            tables = _tables(self.path)
            if create:
                foreign = sorted(tables - ASE_TABLES - REVEM_TABLES)
                if foreign or ("systems" in tables and "revem_streams" not in tables
                               and _count(self.path, "systems")):
                    raise StoreError(f"{self.path} is an SQLite database but not a revem database "
                                     f"(tables: {', '.join(sorted(tables))}); refusing to write into it")
            elif not REQUIRED_TABLES <= tables:
                raise StoreError(f"{self.path} is not a revem database (no "
                                 f"{', '.join(sorted(REQUIRED_TABLES - tables))} table)")
        if create:
            try:
                with self._tx() as con:
                    for s in _SCHEMA:
                        con.execute(s)
            except sqlite3.Error as exc:
                raise database_error(self.path, exc) from None
        self.db = ase.db.connect(self.path, type="db", append=True, use_lock_file=False)
        if create:
            self._init_ase()

    def _init_ase(self) -> None:
        """Create ASE's tables now (ASE would do it lazily, inside a row transaction)."""
        for attempt in range(2):
            try:
                self.db.count()
                return
            except sqlite3.OperationalError as exc:  # another process created them meanwhile
                if attempt or "already exists" not in str(exc):
                    raise database_error(self.path, exc) from None
                self.db = ase.db.connect(self.path, type="db", append=True, use_lock_file=False)

    # -- transactions ----------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None)

    @contextmanager
    def _tx(self):
        """A write transaction (BEGIN IMMEDIATE: the write lock is taken first, or waited for at
        most BUSY_TIMEOUT s); rolled back on any exception."""
        with closing(self._connect()) as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def _read(self, sql: str, args=()) -> list:
        with closing(self._connect()) as con:
            return con.execute(sql, args).fetchall()

    # -- metadata ------------------------------------------------------------------------
    def get_meta(self) -> dict | None:
        r = self._read("SELECT value FROM revem_meta WHERE key='run'")
        return json.loads(r[0][0]) if r else None

    def set_meta(self, meta: dict) -> None:
        with self._tx() as con:
            con.execute("INSERT OR REPLACE INTO revem_meta VALUES ('run', ?)", (json.dumps(meta),))

    def update_meta(self, update) -> dict:
        """``update(stored meta or None, number of streams) -> meta`` (or an exception), applied and
        written in one transaction (two launchers cannot both start a run in the same file)."""
        with self._tx() as con:
            r = con.execute("SELECT value FROM revem_meta WHERE key='run'").fetchall()
            n = con.execute("SELECT COUNT(*) FROM revem_streams").fetchone()[0]
            meta = update(json.loads(r[0][0]) if r else None, n)
            con.execute("INSERT OR REPLACE INTO revem_meta VALUES ('run', ?)", (json.dumps(meta),))
        return meta

    # -- leases (stream ownership) ---------------------------------------------------------
    def lease(self, stream: str) -> Lease | None:
        if not self._has_leases():
            return None
        r = self._read("SELECT stream, owner, host, pid, started, acquired, heartbeat FROM revem_leases "
                       "WHERE stream=?", (stream,))
        return Lease(*r[0]) if r else None

    def _has_leases(self) -> bool:
        return bool(self._read("SELECT 1 FROM sqlite_master WHERE type='table' AND name='revem_leases'"))

    def check_leases(self, streams: list[str]) -> None:
        """Raise :class:`LeaseHeld` when one of ``streams`` is owned by a live process (a read)."""
        for name in streams:
            lease = self.lease(name)
            if lease is not None and lease.staleness() is None:
                raise LeaseHeld(self.path, lease)

    def acquire_lease(self, stream: str) -> Owner:
        """Own ``stream``: a free or stale lease is taken (a stale one with a logged warning); a
        live owner's lease raises :class:`LeaseHeld` at once.  Returns the new owner."""
        me = Owner.me()
        with self._tx() as con:
            r = con.execute("SELECT stream, owner, host, pid, started, acquired, heartbeat FROM revem_leases "
                            "WHERE stream=?", (stream,)).fetchall()
            now = time.time()
            if r:
                old = Lease(*r[0])
                why = old.staleness(now)
                if why is None:
                    raise LeaseHeld(self.path, old)
                log.warning("%s: stream %s: lease of %s taken over (%s)", self.path, stream, old.owner, why)
            con.execute("INSERT OR REPLACE INTO revem_leases VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (stream, me.id, me.host, me.pid, me.started, now, now))
        return me

    def release_lease(self, stream: str, owner: Owner) -> None:
        """Give the lease up (only if still ours)."""
        with self._tx() as con:
            con.execute("DELETE FROM revem_leases WHERE stream=? AND owner=?", (stream, owner.id))

    def _verify_lease(self, con, stream: str, owner: Owner) -> None:
        """First statement of every stream write: refresh the heartbeat iff we still own it."""
        cur = con.execute("UPDATE revem_leases SET heartbeat=? WHERE stream=? AND owner=?",
                          (time.time(), stream, owner.id))
        if cur.rowcount != 1:
            raise LeaseLost(self.path, stream, owner.id)

    # -- streams -------------------------------------------------------------------------
    def load_stream(self, name: str) -> dict | None:
        r = self._read("SELECT spec, norm, state, sums FROM revem_streams WHERE name=?", (name,))
        if not r:
            return None
        spec, norm, state, sums = r[0]
        return {"spec": json.loads(spec), "norm": json.loads(norm), "state": json.loads(state), "sums": sums}

    def streams(self) -> dict[str, dict]:
        rows = self._read("SELECT name, spec, state FROM revem_streams ORDER BY name")
        return {n: {"spec": json.loads(sp), "state": json.loads(st)} for n, sp, st in rows}

    def update_spec(self, name: str, spec: dict, owner: Owner) -> None:
        with self._tx() as con:
            self._verify_lease(con, name, owner)
            con.execute("UPDATE revem_streams SET spec=? WHERE name=?", (json.dumps(spec), name))

    def _write_row(self, atoms: Atoms, kvp: dict, feats: np.ndarray) -> int:
        return self.db.write(atoms, key_value_pairs=kvp, data={"features": np.asarray(feats, float)})

    @contextmanager
    def _row_tx(self, name: str, owner: Owner):
        """ASE's connection as one transaction that starts by verifying the lease."""
        with self.db:
            con = self.db.connection
            if os.environ.get(KILL_ENV):
                con.execute("PRAGMA cache_size=1")  # test hook: spill uncommitted pages to the file
            self._verify_lease(con, name, owner)
            yield con

    def init_stream(self, name: str, spec: dict, norm: dict, state: dict, sums: bytes,
                    bootstrap: list[tuple[Atoms, dict, np.ndarray]], owner: Owner) -> None:
        """Bootstrap rows and the initial stream record in one transaction."""
        with self._row_tx(name, owner) as con:
            for atoms, kvp, feats in bootstrap:
                self._write_row(atoms, kvp, feats)
            con.execute("INSERT INTO revem_streams VALUES (?, ?, ?, ?, ?)",
                        (name, json.dumps(spec), json.dumps(norm), json.dumps(state), sqlite3.Binary(sums)))
            _kill_hook(con)

    def commit(self, name: str, state: dict, sums: bytes,
               accepted: tuple[Atoms, dict, np.ndarray] | None = None, *, owner: Owner) -> None:
        """Lease check, the accepted row (if any) and the stream state in one transaction."""
        with self._row_tx(name, owner) as con:
            if accepted is not None:
                self._write_row(*accepted)
            cur = con.execute("UPDATE revem_streams SET state=?, sums=? WHERE name=?",
                              (json.dumps(state), sqlite3.Binary(sums), name))
            if cur.rowcount != 1:
                raise RuntimeError(f"stream {name} has no record in {self.path}")
            if accepted is not None:
                _kill_hook(con)

    # -- rows --------------------------------------------------------------------------
    def rows(self, **selection):
        return self.db.select(**selection, sort="id")


def row_atoms(row) -> Atoms:
    """Atoms of a row with its key-value pairs in ``info`` and features as a per-atom array."""
    atoms = row.toatoms()
    atoms.info.update(row.key_value_pairs)
    feats = row.data.get("features") if row.data else None
    if feats is not None:
        atoms.arrays["bispectrum"] = np.asarray(feats)
    return atoms
