"""The data layer: public DFT files by registry name, checked against their sha256.

Files are looked up, in order, in
1. the local mirror directory named by ``REVEM_DATA_DIR`` (CI: ``../shared/datasets``);
2. the pooch cache, downloaded from ``REVEM_DATA_URL`` (a published copy of the mirror) when set.
The registry (``revem/registry.json``, shipped in the package; rebuilt by ``datasets/build_registry.py``) records each file's public origin, licence and checksum.
A file that is absent raises :class:`DataUnavailable`, whose message names the file; tests turn
that into a skip.
"""
from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path

from .safe_io import Refused

REGISTRY = Path(__file__).resolve().parent / "registry.json"


class DataUnavailable(FileNotFoundError):
    """A registered data file is not available locally."""


class DataCorrupt(Refused):
    """A data file that cannot be used: its checksum does not match the registry, or it cannot be read
    within the limits of :mod:`revem.safe_io` or parsed (the message names it)."""


@lru_cache(maxsize=1)
def registry() -> dict:
    return json.loads(REGISTRY.read_text())["files"]


def data_dir() -> Path | None:
    d = os.environ.get("REVEM_DATA_DIR")
    return Path(d).expanduser().resolve() if d else None


@lru_cache(maxsize=None)
def _sha256(path: str, size: int, mtime: float) -> str:
    from .safe_io import open_regular

    h = hashlib.sha256()
    with open_regular(path, "data file") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(path: Path, expected: str, name: str) -> Path:
    st = path.stat()
    got = _sha256(str(path), st.st_size, st.st_mtime)
    if got != expected:
        raise DataCorrupt(f"data file {name} at {path} is corrupt: sha256 {got[:16]}… != registry {expected[:16]}…")
    return path


def fetch(name: str) -> Path:
    """Local path of registry file ``name`` (e.g. ``fitsnap-WBe/W/EOS_Data.extxyz.gz``), checksum-verified."""
    reg = registry()
    if name not in reg:
        raise KeyError(f"'{name}' is not in the data registry ({REGISTRY.name}); known sources: "
                       f"{sorted({k.split('/')[0] for k in reg})}")
    entry = reg[name]
    d = data_dir()
    if d is not None and (d / name).is_file():
        return verify(d / name, entry["sha256"], name)
    url = os.environ.get("REVEM_DATA_URL")
    if url:
        import pooch

        return Path(pooch.retrieve(f"{url.rstrip('/')}/{name}", known_hash=f"sha256:{entry['sha256']}",
                                   path=pooch.os_cache("revem")))
    where = f"REVEM_DATA_DIR={d}" if d else "REVEM_DATA_DIR is not set"
    raise DataUnavailable(
        f"data file '{name}' is not available ({where}). Point REVEM_DATA_DIR at a mirror of the public DFT data "
        f"(e.g. ../shared/datasets) or REVEM_DATA_URL at a published copy. Origin: {entry.get('repo', '?')} "
        f"{entry.get('upstream_path', '')}"
    )


def read_extxyz_fast(path_or_name, index=":"):
    """Frames of an extxyz file (optionally ``.gz``): a path, or a registry name (checksum-verified).

    The file is read and decompressed once into memory and parsed by ASE's extxyz reader from a
    ``StringIO``: ``ase.io.read`` on a ``.gz`` path seeks inside the gzip stream for every frame,
    which takes minutes for a file of thousands of frames.  The read is bounded
    (:func:`revem.safe_io.read_extxyz`): regular files only (checked on the opened descriptor), at most
    ``REVEM_MAX_READ_BYTES`` decompressed bytes and ``REVEM_MAX_FRAMES`` frames, counted while streaming.
    ``index`` as in ``ase.io.read`` (``":"``: a list).  A file that cannot be read, is too large or cannot
    be parsed raises :class:`DataCorrupt` whose one-line message names it and the limit; a registry name
    that is unavailable raises :class:`DataUnavailable` (from :func:`fetch`).
    """
    from .safe_io import Refused, read_extxyz

    p = Path(path_or_name)
    label = str(path_or_name)
    if os.path.lexists(p):
        path = p
    elif label in registry():
        path = fetch(label)
    else:
        raise DataUnavailable(f"data file {label} does not exist (and is not a registry name)")
    where = f"{label} ({path})" if str(path) != label else label
    try:
        return read_extxyz(path, "data file", index=index, label=where)
    except Refused as exc:
        raise DataCorrupt(str(exc)) from None


def read_frames(name: str, index=":"):
    """Read a registry extxyz file (the fast reader, :func:`read_extxyz_fast`); a malformed file
    raises DataCorrupt naming it."""
    path = fetch(name)
    from .safe_io import read_extxyz

    try:
        return read_extxyz(path, "data file", index=index, label=f"{name} ({path})")
    except Refused as exc:
        raise DataCorrupt(str(exc)) from None


#: a revem generator database has ASE's tables plus these (``revem_leases`` is added by the first writer)
REVEM_DB_TABLES = frozenset({"systems", "revem_meta", "revem_streams"})
META_MAX_BYTES = 16 << 20


class Database:
    """A dataset database opened for reading only (:func:`open_database`): ``kind`` ``'revem-db'`` (a revem
    generator database, placeholder species X at ``meta['v_ref']``) or ``'ase-db'``; ``db`` an ``ase.db``
    connection whose every SQLite connection is read-only; ``meta`` the generator run's settings (checked:
    ``v_ref`` and ``rcutfac`` finite and positive) or ``{}``."""

    def __init__(self, path: str, kind: str, db, meta: dict):
        self.path, self.kind, self.db, self.meta = path, kind, db, meta

    @property
    def v_ref(self) -> float:
        return float(self.meta.get("v_ref", 15.9))

    def rows(self, **selection):
        return self.db.select(**selection, sort="id")


def open_database(path, what: str = "database") -> Database:
    """Open an ASE or revem database for reading, without writing to it or to any foreign SQLite file: its
    tables are read through a read-only connection first (:func:`revem.safe_io.sqlite_tables`), a file that is
    neither an ASE nor a revem database is refused before ASE could add its tables, the rows are capped
    (``REVEM_MAX_FRAMES``), and the generator's settings that the rescaling rests on are checked where they
    enter (``v_ref`` and ``rcutfac`` finite and > 0).  :class:`revem.safe_io.Refused` naming the file."""
    import sqlite3

    from .safe_io import _ro_uri, ase_db_readonly, json_depth, number, sqlite_tables

    p = str(path)
    tables = sqlite_tables(p, what)
    meta: dict = {}
    if "revem_streams" in tables or "revem_meta" in tables:
        missing = sorted(REVEM_DB_TABLES - tables)
        if missing:
            raise Refused(f"{what} {p} is not a complete revem database (no {', '.join(missing)} table)")
        con = sqlite3.connect(_ro_uri(p), uri=True, timeout=5.0)
        try:
            row = con.execute("SELECT value FROM revem_meta WHERE key='run'").fetchone()
        except sqlite3.Error as exc:
            raise Refused(f"{what} {p}: cannot read its run settings ({exc})") from None
        finally:
            con.close()
        if row is not None:
            text = row[0]
            raw = text.encode() if isinstance(text, str) else bytes(text or b"")
            if len(raw) > META_MAX_BYTES or json_depth(raw) > 16:
                raise Refused(f"{what} {p}: its run settings (revem_meta) exceed {META_MAX_BYTES} bytes or 16 levels")
            try:
                meta = json.loads(raw.decode("utf-8"), parse_constant=lambda c: float(c))
            except (ValueError, UnicodeDecodeError) as exc:
                raise Refused(f"{what} {p}: its run settings (revem_meta) are not valid JSON ({exc})") from None
            if not isinstance(meta, dict):
                raise Refused(f"{what} {p}: its run settings (revem_meta) are not a JSON object")
        for key, unit in (("v_ref", " A^3/atom"), ("rcutfac", " A")):
            if meta.get(key) is not None:
                meta[key] = number(meta[key], f"{what} {p}: its run setting {key}", lo=0, lo_open=True, unit=unit)
        kind = "revem-db"
    elif "systems" in tables:
        kind = "ase-db"
    else:
        raise Refused(f"{what} {p} is an SQLite file but not an ASE or revem database (tables: "
                      f"{', '.join(sorted(tables)) or 'none'}); nothing was written to it")
    return Database(p, kind, ase_db_readonly(p, what), meta)


def available(name: str) -> bool:
    try:
        fetch(name)
        return True
    except (DataUnavailable, KeyError):
        return False
