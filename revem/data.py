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

REGISTRY = Path(__file__).resolve().parent / "registry.json"


class DataUnavailable(FileNotFoundError):
    """A registered data file is not available locally."""


class DataCorrupt(ValueError):
    """A data file whose checksum does not match the registry."""


@lru_cache(maxsize=1)
def registry() -> dict:
    return json.loads(REGISTRY.read_text())["files"]


def data_dir() -> Path | None:
    d = os.environ.get("REVEM_DATA_DIR")
    return Path(d).expanduser().resolve() if d else None


@lru_cache(maxsize=None)
def _sha256(path: str, size: int, mtime: float) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
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


def _extxyz_text(path: Path) -> str:
    """The whole text of an extxyz file, gunzipped in memory when it is gzip-compressed."""
    import gzip

    with open(path, "rb") as fh:
        raw = fh.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return raw.decode()


def read_extxyz_fast(path_or_name, index=":"):
    """Frames of an extxyz file (optionally ``.gz``): a path, or a registry name (checksum-verified).

    The file is read and decompressed once into memory and parsed by ASE's extxyz reader from a
    ``StringIO``: ``ase.io.read`` on a ``.gz`` path seeks inside the gzip stream for every frame,
    which takes minutes for a file of thousands of frames.  ``index`` as in ``ase.io.read``
    (``":"``: a list).  A file that cannot be read or parsed raises :class:`DataCorrupt` naming it;
    a registry name that is unavailable raises :class:`DataUnavailable` (from :func:`fetch`).
    """
    import io

    import ase.io

    p = Path(path_or_name)
    label = str(path_or_name)
    if p.is_file():
        path = p
    elif p.exists():
        raise DataCorrupt(f"data file {label} is not a regular file")
    elif label in registry():
        path = fetch(label)
    else:
        raise DataUnavailable(f"data file {label} does not exist (and is not a registry name)")
    try:
        text = _extxyz_text(path)
        return ase.io.read(io.StringIO(text), index=index, format="extxyz")
    except Exception as exc:  # ASE raises many types for a broken file; gzip/decoding errors too
        where = f"{label} ({path})" if str(path) != label else label
        raise DataCorrupt(f"data file {where} cannot be read as extxyz: {exc}") from exc


def read_frames(name: str, index=":"):
    """Read a registry extxyz file (the fast reader, :func:`read_extxyz_fast`); a malformed file
    raises DataCorrupt naming it."""
    path = fetch(name)
    try:
        return read_extxyz_fast(path, index=index)
    except DataCorrupt as exc:
        raise DataCorrupt(f"data file {name} ({path}) cannot be read as extxyz: "
                          f"{exc.__cause__ if exc.__cause__ is not None else exc}") from exc


def available(name: str) -> bool:
    try:
        fetch(name)
        return True
    except (DataUnavailable, KeyError):
        return False
