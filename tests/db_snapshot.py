"""Snapshot of a generator database for the resume tests (tests/test_generator_stream.py and
tests/test_hostile_generator.py): everything that must equal an uninterrupted run."""
import json
import sqlite3

import numpy as np


def snapshot(db):
    """Rows keyed by (stream, kind, iteration) and the stream records; asserts no row is duplicated."""
    import ase.db

    rows = {}
    for r in ase.db.connect(db, type="db", use_lock_file=False).select(sort="id"):
        k = r.key_value_pairs
        rows[(k["stream"], k["kind"], k["iteration"])] = (
            r.positions.tobytes(), np.asarray(r.cell).tobytes(), k.get("s_after"), k.get("k_factor"),
            r.data["features"].tobytes())
    con = sqlite3.connect(db)
    streams = {n: (json.loads(st), bytes(s)) for n, st, s in con.execute("SELECT name, state, sums FROM revem_streams")}
    n_rows = con.execute("SELECT COUNT(*) FROM systems").fetchone()[0]
    con.close()
    assert n_rows == len(rows), "duplicated (stream, kind, iteration) rows"
    return rows, streams
