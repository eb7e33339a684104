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


# ------------------------------------------------------------------------------------------ the one input loader
#: ``info`` key an exported generator frame carries: the run's reference volume per atom (Å^3/atom) of its
#: placeholder species X, so that ``revem label --element`` (and every loader) can rescale it as ``revem rescale``
V_REF_KEY = "revem_v_ref"
PLACEHOLDER = "X"
EXTXYZ_SUFFIXES = (".extxyz", ".extxyz.gz", ".xyz", ".xyz.gz")
#: what the loader reads, for messages
INPUT_KINDS = ("a registry name (e.g. fitsnap-WBe/W/EOS_Data.extxyz.gz, optionally NAME@every=N), an extxyz(.gz) "
               "file, an ASE database (.db, .json) or a revem generator database (rescaled or not)")


class Loaded:
    """Configurations read by :func:`load_configurations`, with where they came from.

    ``frames``: ``ase.Atoms`` (labels, where the input has them, in a SinglePointCalculator; the input's
    key-value pairs / info in ``info``); ``index``: the source index of each frame (the frame's index in the
    file, before ``@every`` slicing; a database's row id); ``group``: the generator stream of a generator row,
    else None; ``features``: per frame ``(raw features, DescriptorSettings, v_ref of the run)`` stored by the
    generator (at its reduced units), else None.  ``kind``: ``extxyz``, ``ase-db``, ``ase-json``, ``revem-db``
    (a generator database) or ``rescaled-db`` (the output of ``revem rescale``).  ``v_ref``: the frames are the
    generator's placeholder species X at this reference volume (Å^3/atom), not rescaled; ``element`` and
    ``length_factor``: the frames were rescaled to ``element`` (here, when ``rescaled_here``, or by
    ``revem rescale``)."""

    def __init__(self, spec: str, name: str, path: str, kind: str, every: int = 1, registry: bool = False):
        self.spec, self.name, self.path, self.kind, self.every, self.registry = spec, name, path, kind, every, registry
        self.frames: list = []
        self.index: list[int] = []
        self.group: list = []
        self.features: list = []
        self.v_ref: float | None = None
        self.element: str | None = None
        self.length_factor: float | None = None
        self.rescaled_here = False
        self.meta: dict = {}

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def label(self) -> str:
        """Short name of the source (file name without its suffixes): a group label for fits."""
        return Path(self.name).name.split(".")[0]

    @property
    def placeholder(self) -> bool:
        """Whether the frames are the generator's placeholder species X (not rescaled to an element)."""
        return self.v_ref is not None

    def elements(self) -> list[str]:
        return sorted({s for at in self.frames for s in at.get_chemical_symbols()})

    def sha256(self) -> str | None:
        if self.registry:
            return registry()[self.name].get("sha256")
        from .safe_io import sha256_of

        return sha256_of(self.path)

    def describe(self) -> str:
        """One line: what was read, and the rescaling done or pending."""
        what = {"extxyz": "extxyz", "ase-db": "ASE database", "ase-json": "ASE database (JSON)",
                "revem-db": "revem generator database", "rescaled-db": "revem rescale database"}[self.kind]
        s = f"{self.spec}: {len(self.frames)} configurations ({what}"
        if self.placeholder:
            s += f"; placeholder species X at v_ref = {self.v_ref:g} Å^3/atom, not rescaled"
        elif self.rescaled_here:
            s += (f"; placeholder species X rescaled to {self.element} here as revem rescale does: lengths x "
                  f"{self.length_factor:.6f}")
        elif self.kind == "rescaled-db":
            s += f"; rescaled to {self.element} by revem rescale (lengths x {self.length_factor:.6f})"
        return s + ")"


def parse_spec(spec: str) -> tuple[str, int]:
    """``NAME@every=N`` -> (NAME, N); N = 1 without the suffix.  :class:`Refused` for a bad N."""
    spec = str(spec)
    if "@every=" not in spec:
        return spec, 1
    name, _, n = spec.partition("@every=")
    try:
        every = int(n)
        if not 1 <= every <= 10**9:
            raise ValueError
    except ValueError:
        raise Refused(f"{spec}: '@every=' needs a whole number from 1 to 10^9") from None
    return name, every


def resolve_input(spec: str, what: str = "input") -> tuple[str, str, int, bool]:
    """``(name, local path, every, is a registry name)`` of an input spec: an existing path (a file), or a
    registry name (fetched, checksum-verified).  :class:`Refused` naming it otherwise (no file created)."""
    name, every = parse_spec(spec)
    if os.path.lexists(name):
        if not os.path.exists(name):
            raise Refused(f"{what} {name} is a dangling symbolic link")
        if os.path.isdir(name):
            raise Refused(f"{what} {name} is a directory, not a dataset file")
        return name, name, every, False
    if name in registry():
        try:
            return name, str(fetch(name)), every, True
        except DataUnavailable as exc:
            raise Refused(" ".join(str(exc).split())) from None
    hint = ""
    if "/" in name and name.split("/")[0] in {k.split("/")[0] for k in registry()}:
        hint = f" (registry names of {name.split('/')[0]}: revem/registry.json)"
    raise Refused(f"{what} {name} does not exist (neither a file nor a registry name{hint})")


def _plain_info(d: dict) -> dict:
    import numpy as np

    out = {}
    for k, v in d.items():
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, (str, bool, int, float)):
            out[k] = v
    return out


def _row_frame(row):
    """An Atoms of a database row: its labels (if any) in a calculator, its key-value pairs in info."""
    at = row.toatoms()
    at.info.update(_plain_info(row.key_value_pairs))
    return at


def _check_element(element: str | None) -> None:
    if element is None:
        return
    from ase.data import atomic_numbers

    if element not in atomic_numbers or not element[:1].isupper() or element == PLACEHOLDER:
        raise Refused(f"--element {element!r} is not a chemical symbol")


def _factor(element: str, v_ref: float) -> float:
    from .generator.rescale import length_factor

    try:
        return length_factor(element, v_ref)
    except KeyError as exc:
        raise Refused(f"--element {element}: {exc.args[0]}") from None


def load_configurations(spec, element: str | None = None, *, rescale: bool = True, include_bootstrap: bool = False,
                        what: str = "input") -> Loaded:
    """The configurations of one input, whatever its kind: every command that reads a dataset (label, fit snap,
    fit pacemaker, select, diversity, export, the transferability experiment) reads through here.

    ``spec``: a registry name of the data mirror (``fitsnap-WBe/W/EOS_Data.extxyz.gz``), an extxyz(.gz) file,
    an ASE database (SQLite ``.db`` or ASE's JSON), a revem generator database or the output of ``revem rescale``;
    ``NAME@every=N`` keeps every N-th configuration.  A generator database gives its accepted configurations
    (``include_bootstrap``: the bootstrap rows too; the same for a ``revem rescale`` database), its stream as
    ``group`` and its stored features.

    The generator's configurations are the placeholder species X at the run's reference volume v_ref (a
    database's run settings; an export's ``revem_v_ref`` info).  With ``element`` and ``rescale`` they are
    rescaled to the element exactly as ``revem rescale`` does (lengths x (V_El / v_ref)^(1/3), every atom made
    ``element``); otherwise they stay X with :attr:`Loaded.v_ref` set.  Placeholder frames without a known
    v_ref cannot be rescaled (refused when ``element`` is given).  A ``revem rescale`` database of another
    element than ``element`` is refused.

    Every read is bounded and read-only (:mod:`revem.safe_io`); anything unusable raises :class:`Refused`
    (one line naming the input) and nothing is written."""
    from .safe_io import load_json, open_regular, read_extxyz

    _check_element(element)
    name, path, every, reg = resolve_input(str(spec), what)
    label = f"{name} ({path})" if reg else name
    with open_regular(path, what) as fh:
        head = fh.read(16)
    try:
        if head.startswith(b"SQLite format 3"):
            out = _load_database(str(spec), name, path, every, reg, element, rescale, include_bootstrap, what)
        elif name.endswith(".json"):
            import ase.db

            load_json(path, what)  # bounded, depth-capped; ASE's reader then parses the checked file
            out = Loaded(str(spec), name, path, "ase-json", every, reg)
            for row in ase.db.connect(path, type="json").select():
                out.frames.append(_row_frame(row))
                out.index.append(int(row.id))
        elif name.endswith(".db"):
            raise Refused(f"{what} {label} is not an SQLite database (no SQLite header)")
        elif name.endswith(EXTXYZ_SUFFIXES) or reg:
            out = Loaded(str(spec), name, path, "extxyz", every, reg)
            try:
                out.frames = read_extxyz(path, what, label=label)
            except Refused as exc:
                raise (DataCorrupt(str(exc)) if reg else exc) from None
            out.index = list(range(len(out.frames)))
            _placeholder_extxyz(out, element, rescale, what)
        else:
            raise Refused(f"{what} {name}: unknown format; expected {INPUT_KINDS}")
    except Refused:
        raise
    except Exception as exc:  # noqa: BLE001 (ASE raises many types for a broken file)
        raise Refused(f"{what} {label} cannot be read: {' '.join(str(exc).split()) or type(exc).__name__}") from None
    if not out.group:
        out.group = [None] * len(out.frames)
    if not out.features:
        out.features = [None] * len(out.frames)
    if every > 1:
        for attr in ("frames", "index", "group", "features"):
            setattr(out, attr, getattr(out, attr)[::every])
    return out


def _placeholder_extxyz(out: Loaded, element, rescale, what) -> None:
    """Placeholder frames of an extxyz file (a generator export): kept with their v_ref, or rescaled."""
    xs = [PLACEHOLDER in at.get_chemical_symbols() for at in out.frames]
    if not any(xs):
        return
    if not all(xs) or any(set(at.get_chemical_symbols()) != {PLACEHOLDER} for at in out.frames):
        raise Refused(f"{what} {out.name} mixes the placeholder species X with elements; it is not a generator export")
    refs = {at.info.get(V_REF_KEY) for at in out.frames}
    if None in refs or len(refs) != 1:
        raise Refused(f"{what} {out.name} holds the placeholder species X without the generator's reference volume "
                      f"({V_REF_KEY}): label or rescale the revem generator database itself (revem label DB --element "
                      f"El, revem rescale DB --element El), or export it again with revem export")
    from .safe_io import number

    v_ref = number(refs.pop(), f"{what} {out.name}: its {V_REF_KEY}", lo=0, lo_open=True, unit=" Å^3/atom")
    if element is None or not rescale:
        out.v_ref = float(v_ref)
        return
    from .generator.rescale import rescaled

    f = _factor(element, v_ref)
    for at in out.frames:
        rescaled(at, element, f)
        at.info.pop(V_REF_KEY, None)
        at.info.update(element=element, length_factor=f)
    out.element, out.length_factor, out.rescaled_here = element, f, True
    out.meta = {"v_ref": float(v_ref)}


def _load_database(spec, name, path, every, reg, element, rescale, include_bootstrap, what) -> Loaded:
    import numpy as np

    db = open_database(path, what)
    kind = db.kind
    md = {}
    if kind == "ase-db":
        try:
            md = db.db.metadata or {}
        except Exception:  # noqa: BLE001 (no metadata: a plain ASE database)
            md = {}
        if isinstance(md, dict) and md.get("rescaled_from") and isinstance(md.get("element"), str):
            kind = "rescaled-db"
    out = Loaded(spec, name, path, kind, every, reg)
    if kind == "ase-db":
        for row in db.rows():
            out.frames.append(_row_frame(row))
            out.index.append(int(row.id))
        return out
    from .generator.featurizer import DescriptorSettings
    from .safe_io import number

    sel = {} if include_bootstrap else {"kind": "accepted"}
    if kind == "revem-db":
        run, v_ref = db.meta, db.v_ref
    else:
        run = md.get("run") if isinstance(md.get("run"), dict) else {}
        v_ref = number(md.get("v_ref", run.get("v_ref", 15.9)), f"{what} {name}: its v_ref", lo=0, lo_open=True)
        out.element = md["element"]
        out.length_factor = number(md.get("length_factor"), f"{what} {name}: its length_factor", lo=0, lo_open=True)
        if element is not None and element != out.element:
            raise Refused(f"--element {element}: {name} was rescaled to {out.element} by revem rescale; rescale the "
                          f"generator database ({md['rescaled_from']}) to {element} instead")
    rc = run.get("rcutfac")
    try:
        settings = DescriptorSettings(rcutfac=float(rc)) if rc else DescriptorSettings.for_reference_volume(v_ref)
    except (TypeError, ValueError):
        settings = None
    out.meta = {**run, "v_ref": v_ref}
    factor = None
    if kind == "revem-db":
        if element is not None and rescale:
            factor = _factor(element, v_ref)
            out.element, out.length_factor, out.rescaled_here = element, factor, True
        else:
            out.v_ref = v_ref
    from .generator.rescale import rescaled

    for row in db.rows(**sel):
        at = row.toatoms()
        at.info.update(_plain_info(row.key_value_pairs))
        if factor is not None:
            rescaled(at, element, factor)
            at.info.update(element=element, length_factor=factor)
        elif kind == "revem-db":
            at.info[V_REF_KEY] = v_ref
        feats = row.data.get("features") if row.data else None
        out.frames.append(at)
        out.index.append(int(row.id))
        out.group.append(row.key_value_pairs.get("stream"))
        out.features.append((np.asarray(feats, float), settings, v_ref) if feats is not None and settings else None)
    return out


def load_many(specs, element: str | None = None, **kw) -> list[Loaded]:
    """:func:`load_configurations` of each spec (in order)."""
    return [load_configurations(s, element, **kw) for s in specs]
