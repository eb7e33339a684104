"""ASE database (SQLite) holding the generated configurations and the checkpoint of every stream.

Rows (ASE ``systems`` table): every bootstrap (``kind='bootstrap'``) and accepted
(``kind='accepted'``) configuration with its stream, window, mode, iteration, K (``k_factor``),
S before/after (``s_before``, ``s_after``; ASE forbids element symbols as keys) and seed as
key-value pairs, and its raw bispectrum features in ``data['features']``.

Extra tables in the same file:
* ``revem_meta``: the run settings (JSON);
* ``revem_streams``: per stream its spec (window, R_core, R_min, descriptor settings, ...), the
  covariance normalisation, its state (next iteration, K, counters, S) and the running sums.

An accepted row and the stream state are written in one SQLite transaction, and the state is
written after every iteration, so a run killed at any moment (kill -9 included) resumes from a
consistent checkpoint.
"""
from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import ase.db
import numpy as np
from ase import Atoms

_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS revem_meta (key TEXT PRIMARY KEY, value TEXT)",
    "CREATE TABLE IF NOT EXISTS revem_streams (name TEXT PRIMARY KEY, spec TEXT, norm TEXT, "
    "state TEXT, sums BLOB)",
]
SPECIES = "X"  # generated structures are material-agnostic; ``revem rescale`` sets the element


class Store:
    def __init__(self, path: str | Path):
        self.path = str(path)
        with closing(sqlite3.connect(self.path, timeout=60)) as con:
            for s in _SCHEMA:
                con.execute(s)
            con.commit()
        self.db = ase.db.connect(self.path, type="db", append=True)

    # -- metadata ------------------------------------------------------------------------
    def _read(self, sql: str, args=()) -> list:
        with closing(sqlite3.connect(self.path, timeout=60)) as con:
            return con.execute(sql, args).fetchall()

    def get_meta(self) -> dict | None:
        r = self._read("SELECT value FROM revem_meta WHERE key='run'")
        return json.loads(r[0][0]) if r else None

    def set_meta(self, meta: dict) -> None:
        with closing(sqlite3.connect(self.path, timeout=60)) as con:
            con.execute("INSERT OR REPLACE INTO revem_meta VALUES ('run', ?)", (json.dumps(meta),))
            con.commit()

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

    def update_spec(self, name: str, spec: dict) -> None:
        with closing(sqlite3.connect(self.path, timeout=60)) as con:
            con.execute("UPDATE revem_streams SET spec=? WHERE name=?", (json.dumps(spec), name))
            con.commit()

    def _write_row(self, atoms: Atoms, kvp: dict, feats: np.ndarray) -> int:
        return self.db.write(atoms, key_value_pairs=kvp, data={"features": np.asarray(feats, float)})

    def init_stream(self, name: str, spec: dict, norm: dict, state: dict, sums: bytes,
                    bootstrap: list[tuple[Atoms, dict, np.ndarray]]) -> None:
        """Bootstrap rows and the initial stream record in one transaction."""
        with self.db:
            for atoms, kvp, feats in bootstrap:
                self._write_row(atoms, kvp, feats)
            self.db.connection.execute(
                "INSERT INTO revem_streams VALUES (?, ?, ?, ?, ?)",
                (name, json.dumps(spec), json.dumps(norm), json.dumps(state), sqlite3.Binary(sums)))

    def commit(self, name: str, state: dict, sums: bytes,
               accepted: tuple[Atoms, dict, np.ndarray] | None = None) -> None:
        """Stream state (and the accepted row, if any) in one transaction."""
        with self.db:
            if accepted is not None:
                self._write_row(*accepted)
            cur = self.db.connection.execute(
                "UPDATE revem_streams SET state=?, sums=? WHERE name=?",
                (json.dumps(state), sqlite3.Binary(sums), name))
            if cur.rowcount != 1:
                raise RuntimeError(f"stream {name} has no record in {self.path}")

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
