"""Bounded reading and one output discipline, for every revem command that reads or writes a user's data.

Why (issue #19): an audit of ``label``, ``fit``, ``select``, ``diversity``, ``experiment`` and the reference and
baseline loaders, tried with hostile but realistic inputs, found commands that overwrote their own input, wrote
outside their output folder, inflated a 400 kB ``.gz`` to 2.3 GB, read ``/dev/zero`` through a size check made
with ``stat``, or wrote ASE's tables into another program's SQLite file.  Every such command now goes through
this module, so the rules are written once.

**Reading** (every loader: extxyz, ASE and generator databases, reference files, baselines, a card's
``training_data``):

* :func:`open_regular` opens without blocking (``O_NONBLOCK``: a FIFO would block ``open``) and checks the
  *opened descriptor* with ``fstat``: only regular files are read (no devices, FIFOs, sockets, directories);
  a symbolic link to ``/dev/zero`` is therefore refused, whatever ``stat`` of the link's name said;
* :func:`read_bytes` / :func:`read_text` count bytes while they read, and a gzip stream is inflated in chunks
  with the cap applied to the *decompressed* bytes (``gzip.decompress`` has no bound);
* :func:`load_json` refuses nesting deeper than :data:`MAX_JSON_DEPTH` before parsing (no RecursionError);
* :func:`read_extxyz` caps the frames while parsing (:func:`frame_limit`);
* :func:`sqlite_tables` and :func:`ase_db_readonly` open SQLite files read-only (``mode=ro`` URI) until they
  are known to be ASE or revem databases, so a foreign file is never written.

Limits: ``REVEM_MAX_READ_BYTES`` (default :data:`DEFAULT_MAX_READ_BYTES`, decompressed bytes of one data
file) and ``REVEM_MAX_FRAMES`` (default :data:`DEFAULT_MAX_FRAMES`, frames of one file).  Every refusal is a
:class:`Refused` whose message is one line naming the file and the limit.

**Writing**:

* options are checked before any work (:func:`number`, :func:`arg_number` for argparse, :func:`check_name`:
  ``[A-Za-z0-9_-]``, at most :data:`MAX_NAME_LENGTH` characters);
* :class:`OutputFolder` checks an output folder before any work (not an existing file, not equal to or inside
  an input, no input among the files it will write), writes each file to a temporary file in the folder and
  renames it at the end (``os.replace``), and keeps a manifest (:data:`MANIFEST`, name -> sha256) of what revem
  wrote there: an existing file is replaced only when the manifest says revem wrote it and it is unchanged,
  and only such files are ever deleted (stale outputs of an earlier run);
* :func:`write_extxyz` never writes a comment line that cannot be read back: info values with newlines and
  other characters ASE's extxyz reader does not return unchanged are escaped, or dropped when escaping does
  not help, and each change is reported.

A failed write (a full disk included) is a one-line :class:`OutputError` naming the file; nothing
half-written is left (the temporary file is removed, the target is untouched).
"""
from __future__ import annotations

import argparse
import errno
import fcntl
import gzip
import hashlib
import io
import json
import math
import os
import re
import stat
import time
import zlib
from contextlib import contextmanager
from pathlib import Path

DEFAULT_MAX_READ_BYTES = 512 << 20  # decompressed bytes of one data file (the largest mirror file: 9.7 MB)
DEFAULT_MAX_FRAMES = 1_000_000  # frames / rows of one file (the paper's datasets: ~30,000 per element)
MAX_JSON_DEPTH = 64  # results, references and manifests are at most ~6 levels deep
MAX_NAME_LENGTH = 64
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")
MANIFEST = ".revem-manifest.json"
MANIFEST_FORMAT = "revem-output-manifest"
MANIFEST_MAX_BYTES = 16 << 20
CHUNK = 1 << 20


class Refused(ValueError):
    """Input, option or path that revem refuses; the message is one line naming it and the limit."""


class OutputError(Refused):
    """An output that cannot be written (full disk, read-only folder); nothing half-written is left."""


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _limit_from_env(var: str, default: int) -> int:
    text = os.environ.get(var, "").strip()
    if not text:
        return default
    try:
        value = int(float(text))
    except ValueError:
        raise Refused(f"{var}={text!r} is not a whole number") from None
    if value < 1:
        raise Refused(f"{var}={text!r} must be >= 1")
    return value


def read_limit() -> int:
    """Bytes (decompressed) one data file may hold: ``REVEM_MAX_READ_BYTES`` or the default (512 MiB)."""
    return _limit_from_env("REVEM_MAX_READ_BYTES", DEFAULT_MAX_READ_BYTES)


def frame_limit() -> int:
    """Frames (or database rows) one file may hold: ``REVEM_MAX_FRAMES`` or the default (1,000,000)."""
    return _limit_from_env("REVEM_MAX_FRAMES", DEFAULT_MAX_FRAMES)


def _size(n: int) -> str:
    for unit, k in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= k:
            return f"{n / k:.4g} {unit}"
    return f"{n} bytes"


# ----------------------------------------------------------------------------------------------------- reading
_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _kind(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path, what: str = "file"):
    """A binary file object of ``path`` opened for reading, after checking with ``fstat`` on the opened
    descriptor that it is a regular file (a symbolic link is followed to what it names).  ``O_NONBLOCK``
    keeps ``open`` of a FIFO from blocking.  :class:`Refused` naming the file otherwise."""
    p = str(path)
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise Refused(f"{what} {p} does not exist" + (" (a dangling symbolic link)" if os.path.islink(p) else "")) from None
    except IsADirectoryError:
        raise Refused(f"{what} {p} is a directory, not a regular file") from None
    except OSError as exc:
        raise Refused(f"{what} {p} cannot be opened: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Refused(f"{what} {p} is {_kind(st.st_mode)}, not a regular file; refusing to read it")
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def check_regular(path, what: str = "file") -> None:
    """:func:`open_regular` and close (for files another library opens itself, e.g. SQLite)."""
    open_regular(path, what).close()


def _read_capped(fh, limit: int, label: str, what: str, stream: str = "") -> bytes:
    parts, n = [], 0
    while True:
        chunk = fh.read(min(CHUNK, limit + 1 - n))
        if not chunk:
            return b"".join(parts)
        n += len(chunk)
        if n > limit:
            raise Refused(f"{what} {label}: more than {_size(limit)}{stream} (limit {limit} bytes, "
                          f"REVEM_MAX_READ_BYTES); refusing to read it")
        parts.append(chunk)


def read_bytes(path, what: str = "file", limit: int | None = None, decompress: bool = False) -> bytes:
    """The bytes of a regular file, at most ``limit`` (default :func:`read_limit`), counted while reading.
    With ``decompress``, a gzip file (magic ``1f 8b``) is inflated in chunks and the cap applies to the
    decompressed bytes.  :class:`Refused` naming the file and the limit."""
    limit = read_limit() if limit is None else int(limit)
    label = str(path)
    with open_regular(path, what) as fh:
        head = fh.read(2)
        if decompress and head == b"\x1f\x8b":
            fh.seek(0)
            try:
                with gzip.GzipFile(fileobj=fh, mode="rb") as gz:
                    return _read_capped(gz, limit, label, what, " once decompressed")
            except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
                raise Refused(f"{what} {label}: damaged gzip data ({_one_line(exc) or type(exc).__name__})") from None
        fh.seek(0)
        return _read_capped(fh, limit, label, what)


def read_text(path, what: str = "file", limit: int | None = None, decompress: bool = True) -> str:
    """UTF-8 text of a (optionally gzip-compressed) regular file, bounded as :func:`read_bytes`."""
    raw = read_bytes(path, what, limit, decompress=decompress)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused(f"{what} {path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except MemoryError:
        raise Refused(f"{what} {path}: out of memory decoding {_size(len(raw))}") from None


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


def json_depth(data: bytes) -> int:
    """Deepest nesting of arrays and objects in JSON text (strings skipped), computed without recursion."""
    import numpy as np

    skeleton = _JSON_STRING.sub(b"", data).translate(None, bytes(c for c in range(256) if c not in b"[]{}"))
    if not skeleton:
        return 0
    a = np.frombuffer(skeleton, dtype=np.uint8)
    step = np.where((a == ord("[")) | (a == ord("{")), 1, -1)
    return int(np.cumsum(step).max())


def _no_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def load_json(path, what: str = "file", limit: int | None = None, max_depth: int = MAX_JSON_DEPTH,
              allow_nan: bool = False):
    """A JSON document of a regular file: at most ``limit`` bytes, nesting at most ``max_depth``, and
    (unless ``allow_nan``) no ``NaN``/``Infinity`` constants.  :class:`Refused` naming the file."""
    raw = read_bytes(path, what, limit)
    depth = json_depth(raw)
    if depth > max_depth:
        raise Refused(f"{what} {path}: JSON nested {depth} levels deep (limit {max_depth}); refusing to parse it")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused(f"{what} {path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        return json.loads(text, parse_constant=None if allow_nan else _no_constant)
    except json.JSONDecodeError as exc:
        raise Refused(f"{what} {path}: not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno})") from None
    except ValueError as exc:  # NaN / Infinity
        raise Refused(f"{what} {path}: not valid JSON ({exc})") from None
    except RecursionError:
        raise Refused(f"{what} {path}: JSON nested too deeply to parse") from None


def read_extxyz(path, what: str = "data file", index=":", label: str | None = None):
    """Frames of an extxyz file (optionally gzip-compressed), bounded: the file is read and inflated once with
    the byte cap (:func:`read_bytes`), then parsed by ASE's extxyz reader from memory, frame by frame, with
    the frame cap (:func:`frame_limit`).  ``index`` as in ``ase.io.read`` (``":"``: a list).
    :class:`Refused` naming the file (``label``, default the path) for anything it cannot read."""
    import ase.io
    from ase.io.formats import string2index

    label = str(path) if label is None else label
    text = read_text(path, what, decompress=True)
    cap = frame_limit()
    idx = string2index(index) if isinstance(index, str) else index
    whole = isinstance(idx, slice) and idx == slice(None)
    frames = []
    try:  # ASE parses only the frames an index selects; for ":" the cap is counted while parsing
        for at in ase.io.iread(io.StringIO(text), index=":" if whole else index, format="extxyz"):
            frames.append(at)
            if len(frames) > cap:
                raise Refused(f"{what} {label}: more than {cap} frames (limit REVEM_MAX_FRAMES); refusing to read it")
    except Refused:
        raise
    except MemoryError:
        raise Refused(f"{what} {label}: out of memory parsing {_size(len(text))} of extxyz") from None
    except IndexError:
        raise Refused(f"{what} {label}: no frame {index}") from None
    except Exception as exc:  # noqa: BLE001 (ASE raises many types for a broken file)
        raise Refused(f"{what} {label} cannot be read as extxyz: {_one_line(exc) or type(exc).__name__}") from None
    if isinstance(idx, int):
        if not frames:
            raise Refused(f"{what} {label}: no frame {index}")
        return frames[0]
    return frames


# ------------------------------------------------------------------------------------------------ SQLite
SQLITE_MAGIC = b"SQLite format 3\x00"


def _ro_uri(path) -> str:
    return Path(os.path.abspath(str(path))).as_uri() + "?mode=ro"


def sqlite_tables(path, what: str = "database") -> set[str]:
    """Table names of an SQLite file, read through a read-only connection (``mode=ro``): nothing is created
    or written, a foreign file included.  :class:`Refused` naming the file for one that is not a regular
    SQLite file, is damaged, or holds an unfinished write of another program (a hot journal, which only
    that program should roll back)."""
    import sqlite3

    with open_regular(path, what) as fh:
        head = fh.read(100)
    if not head.startswith(SQLITE_MAGIC):
        raise Refused(f"{what} {path} is not an SQLite database (no SQLite header)")
    try:
        con = sqlite3.connect(_ro_uri(path), uri=True, timeout=5.0)
    except sqlite3.Error as exc:
        raise Refused(f"{what} {path} cannot be opened read-only: {exc}") from None
    try:
        return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.Error as exc:
        hot = os.path.exists(f"{path}-journal") and os.path.getsize(f"{path}-journal") > 0
        raise Refused(f"{what} {path} cannot be read" + (" (it holds an unfinished write, a hot journal "
                      f"{path}-journal, that only the program which wrote it should roll back: for a revem "
                      f"database `revem info {path}` does)" if hot else "") + f": {exc}") from None
    finally:
        con.close()


def sqlite_count(path, table: str) -> int:
    """Rows of ``table`` (a name from :func:`sqlite_tables`), through a read-only connection."""
    import sqlite3

    con = sqlite3.connect(_ro_uri(path), uri=True, timeout=5.0)
    try:
        return int(con.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0])
    finally:
        con.close()


def ase_db_readonly(path, what: str = "database"):
    """An ``ase.db`` connection to an ASE SQLite database that can only read: its tables are checked
    read-only first (a file without ASE's ``systems`` table is refused before ASE could create its tables
    in it), its rows are capped (:func:`frame_limit`), and every connection ASE makes is ``mode=ro``."""
    import sqlite3

    import ase.db

    tables = sqlite_tables(path, what)
    if "systems" not in tables:
        raise Refused(f"{what} {path} is an SQLite file but not an ASE database (tables: "
                      f"{', '.join(sorted(tables)) or 'none'}); nothing was written to it")
    n, cap = sqlite_count(path, "systems"), frame_limit()
    if n > cap:
        raise Refused(f"{what} {path}: {n} rows, more than {cap} (limit REVEM_MAX_FRAMES); refusing to read it")
    db = ase.db.connect(str(path), type="db", use_lock_file=False, create_indices=False)
    uri = _ro_uri(path)
    db._connect = lambda: sqlite3.connect(uri, uri=True, timeout=5.0)  # every read goes through mode=ro
    return db


# ------------------------------------------------------------------------------------------------- options
def number(value, what: str, lo=None, hi=None, lo_open: bool = False, hi_open: bool = False,
           integer: bool = False, unit: str = ""):
    """``value`` as a finite number (an int with ``integer``) within [lo, hi] (open ends with ``lo_open`` /
    ``hi_open``); :class:`Refused` naming ``what`` and the range otherwise."""
    fmt = lambda x: str(x) if isinstance(x, int) else f"{x:g}"  # noqa: E731
    rng = " and ".join(s for s in (
        "" if lo is None else f"{'>' if lo_open else '>='} {fmt(lo)}",
        "" if hi is None else f"{'<' if hi_open else '<='} {fmt(hi)}") if s)
    kind = "a whole number" if integer else "a finite number"
    wrong = f"{what} must be {kind}{' ' + rng if rng else ''}{unit}"
    if isinstance(value, bool):
        raise Refused(f"{wrong} (got {value!r})")
    try:
        v = float(value) if isinstance(value, float) or not integer else int(value)
    except (TypeError, ValueError, OverflowError):
        raise Refused(f"{wrong} (got {str(value)[:40]!r})") from None
    if isinstance(v, float):
        if not math.isfinite(v) or (integer and not v.is_integer()):
            raise Refused(f"{wrong} (got {value!r})")
        if integer:
            v = int(v)
    bad = ((lo is not None and (v <= lo if lo_open else v < lo)) or (hi is not None and (v >= hi if hi_open else v > hi)))
    if bad:
        raise Refused(f"{what} must be {rng}{unit} (got {value!r})")
    return v


def arg_number(kind=float, lo=None, hi=None, lo_open: bool = False, hi_open: bool = False, unit: str = ""):
    """An argparse ``type``: :func:`number` of the option's text (finite, in range); argparse names the
    option and exits with status 2 before any work."""
    def parse(text: str):
        try:
            raw = int(text) if kind is int else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a{'n integer' if kind is int else ' number'}") from None
        try:
            return number(raw, "the value", lo, hi, lo_open, hi_open, integer=kind is int, unit=unit)
        except Refused as exc:
            raise argparse.ArgumentTypeError(str(exc).replace("the value ", "")) from None
    parse.__name__ = kind.__name__  # argparse's "invalid int value" wording
    return parse


def check_name(name, what: str = "--name", max_len: int = MAX_NAME_LENGTH) -> str:
    """A name that becomes part of file names: ``[A-Za-z0-9_-]``, 1 to ``max_len`` characters."""
    if not isinstance(name, str) or not name or len(name) > max_len or not NAME_PATTERN.match(name):
        shown = repr(name) if not isinstance(name, str) or len(name) <= 40 else repr(name[:40]) + "..."
        raise Refused(f"{what} {shown}: use 1 to {max_len} letters, digits, '_' or '-' (it becomes a file name)")
    return name


# --------------------------------------------------------------------------------------------------- paths
def _real(path) -> str:
    return os.path.realpath(os.path.abspath(str(path)))


def same_or_inside(path, other) -> bool:
    """Whether ``path`` is ``other`` or lies inside it (after resolving symbolic links)."""
    a, b = _real(path), _real(other)
    return a == b or a.startswith(b.rstrip(os.sep) + os.sep)


def _same_file(a, b) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return _real(a) == _real(b)


def check_input_exists(path, what: str) -> None:
    """An input that must exist (a file or, where allowed, a folder)."""
    if not os.path.lexists(str(path)):
        raise Refused(f"{what} {path} does not exist")
    if not os.path.exists(str(path)):
        raise Refused(f"{what} {path} is a dangling symbolic link")


def sha256_of(path) -> str | None:
    h = hashlib.sha256()
    try:
        with open_regular(path) as fh:
            for chunk in iter(lambda: fh.read(CHUNK), b""):
                h.update(chunk)
    except Refused:
        return None
    return h.hexdigest()


class OutputFolder:
    """An output folder written by the discipline of the module docstring.

    ``OutputFolder(folder, what="--out", inputs=[...])`` checks, before any work, that ``folder`` is not an
    existing file, is not one of the inputs nor inside an input folder, and that its parent exists (the
    folder is created at the first write, so a refusal leaves nothing).  :meth:`plan` then checks the names
    of every file the command will write: a name that is an input, an existing directory, or an existing
    file revem did not write (not in the manifest, or changed since) is refused.  :meth:`write_with` /
    :meth:`write_bytes` write through a temporary file in the folder and ``os.replace``; :meth:`finish`
    records what was written in the manifest and removes stale outputs of an earlier run (files the old
    manifest lists, unchanged, that this run did not write).
    """

    def __init__(self, folder, what: str = "--out", inputs=(), command: str = ""):
        self.folder = Path(folder)
        self.what, self.command = what, command
        self.inputs = [str(p) for p in inputs if p is not None]
        self.written: dict[str, str] = {}
        self.created_folder = False
        p = str(folder)
        if os.path.lexists(p) and not os.path.isdir(p):
            raise Refused(f"{what} {p} is an existing file, not a folder; choose another {what}")
        for inp in self.inputs:
            if os.path.exists(inp) and same_or_inside(p, inp):
                raise Refused(f"{what} {p} is {'the input' if _same_file(p, inp) else 'inside the input'} {inp}; "
                              f"choose an output folder outside the inputs")
        parent = os.path.dirname(os.path.abspath(p))
        if not os.path.isdir(parent) and not self.folder.is_dir():
            raise Refused(f"{what} {p}: its parent folder {parent} does not exist")
        self.manifest = self._read_manifest()

    # -- the manifest --------------------------------------------------------------------------------------
    def _read_manifest(self) -> dict:
        path = self.folder / MANIFEST
        if not os.path.lexists(path):
            return {}
        try:
            data = load_json(path, "manifest", MANIFEST_MAX_BYTES)
        except Refused as exc:
            raise Refused(f"{self.what} {self.folder}: {exc}; it is not revem's manifest (remove it or choose "
                          f"another {self.what})") from None
        files = data.get("files") if isinstance(data, dict) and data.get("format") == MANIFEST_FORMAT else None
        if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, dict) and isinstance(v.get("sha256"), str)
                                                  for k, v in files.items()):
            raise Refused(f"{self.what} {self.folder}: {MANIFEST} is not revem's manifest (remove it or choose "
                          f"another {self.what})")
        return files

    def is_revems(self, name: str) -> bool:
        """Whether ``folder/name`` exists as revem wrote it (listed in the manifest with the same sha256)."""
        entry = self.manifest.get(name)
        return entry is not None and sha256_of(self.folder / name) == entry["sha256"]

    # -- checks ------------------------------------------------------------------------------------------
    def _check_name(self, name: str) -> None:
        if not name or name != os.path.basename(name) or name in (".", "..", MANIFEST) or "\x00" in name:
            raise Refused(f"{self.what} {self.folder}: output name {name!r} is not a plain file name")

    def plan(self, *names: str) -> None:
        """Refuse, before any work, every output name that would overwrite an input, a directory or a file
        revem did not write."""
        for name in names:
            self._check_name(name)
            if name in self.written:  # written by this run already
                continue
            target = self.folder / name
            for inp in self.inputs:
                if os.path.exists(inp) and os.path.exists(target) and _same_file(target, inp):
                    raise Refused(f"{self.what} {self.folder}: writing {name} would overwrite the input {inp}; "
                                  f"choose another {self.what}")
            if os.path.lexists(target):
                if os.path.isdir(target) and not os.path.islink(target):
                    raise Refused(f"{self.what} {self.folder}: {name} is an existing directory")
                if not self.is_revems(name):
                    raise Refused(f"{self.what} {self.folder}: {name} exists and was not written by revem (or was "
                                  f"changed since); remove it or choose another {self.what}")

    def path(self, name: str) -> Path:
        return self.folder / name

    # -- writing -----------------------------------------------------------------------------------------
    def _ensure(self) -> None:
        if not self.folder.is_dir():
            try:
                self.folder.mkdir(parents=False)
            except FileExistsError:
                if not self.folder.is_dir():
                    raise OutputError(f"{self.what} {self.folder} appeared as a file meanwhile") from None
            except OSError as exc:
                raise OutputError(f"cannot create {self.what} {self.folder}: {exc.strerror or exc}") from None
            else:
                self.created_folder = True

    def write_with(self, name: str, writer) -> Path:
        """``writer(tmp_path)`` writes the file; it is then renamed to ``folder/name``.  A failure removes the
        temporary file and raises :class:`OutputError` naming the file (the target is untouched)."""
        self.plan(name)
        self._ensure()
        target = self.folder / name
        tmp = atomic_file(target, writer, self.what)
        self.written[name] = tmp
        return target

    def write_bytes(self, name: str, data: bytes | str) -> Path:
        data = data.encode("utf-8") if isinstance(data, str) else data
        return self.write_with(name, lambda tmp: Path(tmp).write_bytes(data))

    def record(self, name: str) -> None:
        """Record a file another program wrote in the folder for revem (e.g. pacemaker's potential)."""
        h = sha256_of(self.folder / name)
        if h is not None:
            self.written[name] = h

    def finish(self, remove_stale=True) -> list[str]:
        """Write the manifest (this run's files, plus earlier ones still present); with ``remove_stale``
        (True, or the names that may go) remove the earlier runs' files (unchanged, revem's) that this run
        did not write.  Returns their names."""
        removed = []
        files = {}
        for name, entry in self.manifest.items():
            if name in self.written:
                continue
            if self.is_revems(name):
                if remove_stale is True or (remove_stale and name in remove_stale):
                    try:
                        os.unlink(self.folder / name)
                        removed.append(name)
                        continue
                    except OSError:
                        pass
                files[name] = entry
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        for name, h in self.written.items():
            files[name] = {"sha256": h, "written": stamp, "command": self.command}
        if not files and not self.folder.is_dir():
            return removed
        self._ensure()
        doc = json.dumps({"format": MANIFEST_FORMAT, "files": dict(sorted(files.items()))}, indent=1) + "\n"
        atomic_file(self.folder / MANIFEST, lambda tmp: Path(tmp).write_text(doc), self.what)
        return removed

    def abort(self) -> None:
        """After a refusal or a failure: the files this run wrote whole are recorded in the manifest (so a
        later run may replace them); a folder this run created and left empty is removed."""
        if self.written:
            try:
                self.finish(remove_stale=False)
            except Refused:
                pass
        elif self.created_folder:
            try:
                self.folder.rmdir()
            except OSError:
                pass


def atomic_file(target, writer, what: str = "output") -> str:
    """Write ``target`` through ``writer(tmp)`` (a temporary file beside it), fsync and ``os.replace``;
    returns the sha256 of what was written.  :class:`OutputError` (one line, the target named) on failure,
    with the temporary file removed and ``target`` untouched."""
    target = Path(target)
    base = target.name
    suffix = "".join(target.suffixes[-2:]) if base.endswith(".gz") else target.suffix
    tmp = target.with_name(f".{base}.tmp-{os.getpid()}{suffix}")
    try:
        writer(str(tmp))
        h = hashlib.sha256()
        with open(tmp, "rb") as fh:
            for chunk in iter(lambda: fh.read(CHUNK), b""):
                h.update(chunk)
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        tmp = None
        return h.hexdigest()
    except Refused:
        raise
    except OSError as exc:
        why = exc.strerror or errno.errorcode.get(exc.errno or 0, "") or str(exc)
        raise OutputError(f"cannot write {target}: {why}; nothing was written there") from None
    except MemoryError:
        raise OutputError(f"cannot write {target}: out of memory; nothing was written there") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def check_output_file(out, inputs=(), what: str = "--out", suffixes=None) -> OutputFolder:
    """The :class:`OutputFolder` of a single-file output ``out``, planned: ``out`` is not an input, not a
    directory, not an existing file revem did not write; its folder exists."""
    p = str(out)
    if suffixes and not p.endswith(tuple(suffixes)):
        raise Refused(f"{what} {p}: name it *{' or *'.join(suffixes)}")
    if os.path.isdir(p):
        raise Refused(f"{what} {p} is a directory; name the output file")
    for inp in inputs:
        if inp is not None and os.path.exists(str(inp)) and (_same_file(p, inp) if os.path.exists(p) else _real(p) == _real(inp)):
            raise Refused(f"{what} {p} is the input {inp}; choose another {what}")
    parent = os.path.dirname(os.path.abspath(p))
    if not os.path.isdir(parent):
        raise Refused(f"{what} {p}: folder {parent} does not exist")
    folder = OutputFolder(parent, what, inputs=[i for i in inputs if i is not None and not os.path.isdir(str(i))])
    folder.plan(os.path.basename(p))
    return folder


# -------------------------------------------------------------------------------------------------- extxyz
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def _reads_back(key, value) -> bool:
    from ase.io.extxyz import key_val_dict_to_str, key_val_str_to_dict

    probe = "revem_probe_"  # a key after the value: an empty value would swallow it
    try:
        line = key_val_dict_to_str({key: value, probe: 1})
        if line.splitlines() != [line]:  # a line break of any kind ends the comment line early
            return False
        got = key_val_str_to_dict(line)
    except Exception:  # noqa: BLE001
        return False
    if list(got) != [key, probe] or got[probe] != 1:
        return False
    if isinstance(value, str) and isinstance(got[key], str):
        return got[key] == value
    return True


def _escaped(value: str) -> str:
    return _CONTROL.sub(" ", value).replace("\\", "/").strip() or "-"


def writable_info(frames) -> tuple[list, list[str]]:
    """Copies of ``frames`` whose ``info`` values all survive ASE's extxyz comment line: a string with
    newlines or other characters the reader does not return unchanged is escaped (control characters to
    spaces, backslashes to '/'; an empty string to '-'); a key or value that still does not read back is
    dropped.  Returns ``(frames, notes)``, one note per change (key, frames, what was done)."""
    out, changes = [], {}
    cache: dict = {}
    for i, at in enumerate(frames):
        new = None
        for k, v in list(at.info.items()):
            key = (k, v) if isinstance(v, (str, int, float, bool)) else None
            ok = cache.get(key) if key is not None else None
            if ok is None:
                ok = _reads_back(k, v)
                if key is not None:
                    cache[key] = ok
            if ok:
                continue
            if new is None:
                new = at.copy()
                new.calc = at.calc
            if isinstance(v, str) and isinstance(k, str) and _reads_back(k, _escaped(v)):
                new.info[k] = _escaped(v)
                changes.setdefault((k, "escaped (control characters to spaces, backslashes to '/')"), []).append(i)
            else:
                del new.info[k]
                changes.setdefault((k, "dropped (cannot be written to extxyz and read back)"), []).append(i)
        out.append(new if new is not None else at)
    notes = []
    for (k, how), idx in changes.items():
        shown = ", ".join(map(str, idx[:5])) + (f", ... ({len(idx)} frames)" if len(idx) > 5 else "")
        notes.append(f"info {str(k)[:40]!r} of frame(s) {shown} {how}")
    return out, notes


def write_extxyz(frames, path) -> list[str]:
    """Write ``frames`` as extxyz to ``path`` (gzip-compressed when it ends with ``.gz``; no timestamp in
    the gzip header, so equal frames give equal bytes), after :func:`writable_info`; returns its notes."""
    import ase.io

    frames, notes = writable_info(list(frames))
    buf = io.StringIO()
    if frames:
        ase.io.write(buf, frames, format="extxyz")
    data = buf.getvalue().encode("utf-8")
    with open(path, "wb") as fh:
        if str(path).endswith(".gz"):
            with gzip.GzipFile(fileobj=fh, mode="wb", mtime=0) as gz:
                gz.write(data)
        else:
            fh.write(data)
    return notes


# ---------------------------------------------------------------------------------------------- the lock
class LockHeld(Refused):
    """Another live process writes the same output; the message names it."""


@contextmanager
def output_lock(path, what: str = "output"):
    """Exclusive ownership of ``path`` (e.g. a labelling run's progress file) for the ``with`` block: a lock
    file ``path.lock`` held with ``flock`` (released by the kernel when the process dies, ``kill -9``
    included) and holding its owner (host, PID, start time; :class:`revem.generator.locking.Owner`, the
    generator's lock), so a second writer is refused at once with a message naming the owner."""
    from .generator.locking import Lease, Owner

    lock = f"{path}.lock"
    me = Owner.me()
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as exc:
            raise OutputError(f"cannot create the lock {lock}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                info = json.loads(os.pread(fd, 4096, 0).decode("utf-8", "replace") or "{}")
                lease = Lease(stream=os.path.basename(str(path)), owner=str(info.get("owner")), host=str(info.get("host")),
                              pid=int(info.get("pid", 0)), started=info.get("started"),
                              acquired=float(info.get("acquired", 0)), heartbeat=float(info.get("acquired", 0)))
                who = lease.describe()
            except (ValueError, TypeError):
                who = "an unidentified process"
            os.close(fd)
            raise LockHeld(f"{what} {path} is being written by another process: {who}; refusing to run twice "
                           f"(wait for that run to end or stop it)") from None
        try:  # the lock file may have been removed (and re-created) by the previous owner: lock the current one
            same = os.path.exists(lock) and os.path.samestat(os.fstat(fd), os.stat(lock))
        except OSError:
            same = False
        if not same:
            os.close(fd)
            continue
        break
    try:
        info = {"owner": me.id, "host": me.host, "pid": me.pid, "started": me.started, "acquired": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        yield me
    finally:
        try:
            os.unlink(lock)
        except OSError:
            pass
        os.close(fd)


# ----------------------------------------------------------------------------------------- schedulers
#: seconds a Dask scheduler has to answer before ``--scheduler`` / ``--dask`` is refused
SCHEDULER_TIMEOUT = 5.0


def _scheduler_identity(address: str, timeout: float):
    """The scheduler's answer to ``identity`` (a dict), within ``timeout`` seconds in all: a port that accepts
    connections but never answers (not a Dask scheduler) cannot hang the caller."""
    import asyncio

    from distributed.comm import connect

    async def go():
        comm = await asyncio.wait_for(connect(address, timeout=timeout), timeout)
        try:
            await asyncio.wait_for(comm.write({"op": "identity", "reply": True}), timeout)
            return await asyncio.wait_for(comm.read(), timeout)
        finally:
            comm.abort()

    return asyncio.run(asyncio.wait_for(go(), timeout + 1.0))


def connect_scheduler(address: str, what: str = "--scheduler", timeout: float = SCHEDULER_TIMEOUT):
    """A ``dask.distributed`` Client of the scheduler at ``address``, reached before any output is created:
    the address is parsed, a TCP connection is tried (a refused or unresolvable address fails at once) and
    the scheduler must answer Dask's ``identity`` within ``timeout`` seconds.  :class:`Refused`, one line naming
    ``what``, the address and why, otherwise; nothing is created."""
    try:
        from distributed import Client
        from distributed.comm import parse_address
        from distributed.comm.addressing import parse_host_port
    except ImportError:
        raise Refused(f"{what} needs dask.distributed: pip install 'revem[dist]'") from None
    import socket

    addr = str(address).strip()
    if "://" not in addr:
        addr = f"tcp://{addr}"
    why = None
    try:
        scheme, loc = parse_address(addr)
        if scheme in ("tcp", "tls"):
            host, port = parse_host_port(loc)
            with socket.create_connection((host, int(port)), timeout=timeout):
                pass
        if scheme != "inproc":
            ident = _scheduler_identity(addr, timeout)
            if not (isinstance(ident, dict) and ident.get("type") == "Scheduler"):
                why = "it does not answer as a Dask scheduler"
    except (ValueError, TypeError) as exc:
        why = f"not a scheduler address ({_one_line(exc)})"
    except socket.gaierror as exc:
        why = f"unknown host ({exc.strerror or exc})"
    except (OSError, TimeoutError, EOFError) as exc:  # refused, unreachable, no answer within the timeout
        msg = getattr(exc, "strerror", None) or _one_line(exc) or type(exc).__name__
        why = f"no answer within {timeout:g} s ({msg})" if isinstance(exc, TimeoutError) or "Timed out" in msg else msg
    except Exception as exc:  # noqa: BLE001 (the comm layer raises its own types: CommClosedError, a garbled reply)
        why = f"it does not answer as a Dask scheduler ({type(exc).__name__}: {_one_line(exc)[:120]})"
    if why is None:
        try:
            return Client(addr, timeout=timeout)
        except Exception as exc:  # noqa: BLE001
            why = f"{type(exc).__name__}: {_one_line(exc)}"
    raise Refused(f"{what} {address}: cannot reach a Dask scheduler there: {why}; nothing was started or written")
