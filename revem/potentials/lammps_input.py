"""Parsing LAMMPS potential definitions with an allow-list.

A potential card or file may only define the interaction: ``pair_style``, ``pair_coeff``,
``pair_modify``, ``mass``, numeric ``variable ... equal`` definitions and ``include`` of a
file in the card's own folder.  Everything else (``shell``, ``python``, ``variable ...
python/file/getenv/...``, ``$(...)`` immediate expressions, ``run``, ``write_*`` ...) is refused
with an error naming the offending line, so a card cannot smuggle in code execution.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ALLOWED = {"pair_style", "pair_coeff", "pair_modify", "mass", "variable", "include"}
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
_VARREF = re.compile(r"\$\{(\w+)\}|\$(\w)")
_ELEMENT_OR_WILDCARD = re.compile(r"^(\*|\d+\*?\d*|\*\d+|NULL|[A-Z][a-z]?)$")
_FILE_LIKE = re.compile(r"^[\w./+-]+\.[\w.]+$")
# pair (sub)styles that run Python code or unpickle objects in LAMMPS builds with the PYTHON package
CODE_RUNNING_STYLES = {"python", "mliappy", "unified"}


class UnsafeCommand(ValueError):
    """A LAMMPS line outside the allow-list."""


class PotentialFileMissing(FileNotFoundError):
    """A file named by a potential does not exist."""


@dataclass
class ParsedInput:
    commands: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def _logical_lines(text: str):
    buf, start = "", None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].rstrip()
        if start is None:
            start = lineno
        if line.endswith("&"):
            buf += line[:-1] + " "
            continue
        buf += line
        if buf.strip():
            yield start, buf.strip()
        buf, start = "", None
    if buf.strip():
        yield start, buf.strip()


def _resolve_file(token: str, base: Path, where: str) -> Path:
    p = Path(token)
    p = p if p.is_absolute() else (base / p)
    if not p.is_file():
        raise PotentialFileMissing(f"{where}: file '{token}' not found (looked for {p})")
    return p.resolve()


def parse_lammps_lines(text: str, base: Path, origin: str = "card", _depth: int = 0) -> ParsedInput:
    """Check ``text`` against the allow-list and resolve file names relative to ``base``.

    Returns the commands with absolute file paths and numeric variables substituted.
    """
    if _depth > 3:
        raise UnsafeCommand(f"{origin}: include nested too deeply")
    out = ParsedInput()
    variables: dict[str, str] = {}
    base = Path(base).resolve()
    for lineno, line in _logical_lines(text):
        where = f"{origin}, line {lineno} ('{line}')"
        if "$(" in line or "`" in line:
            raise UnsafeCommand(f"{where}: immediate expressions '$(...)' are not allowed in a potential definition")

        def subst(m, where=where):
            name = m.group(1) or m.group(2)
            if name not in variables:
                raise UnsafeCommand(f"{where}: variable '{name}' is not a numeric 'variable {name} equal <number>' defined above")
            return variables[name]

        line = _VARREF.sub(subst, line)
        try:
            tokens = shlex.split(line, posix=True)
        except ValueError as exc:
            raise UnsafeCommand(f"{where}: cannot parse ({exc})") from exc
        cmd = tokens[0]
        if cmd not in ALLOWED:
            raise UnsafeCommand(
                f"{where}: command '{cmd}' is not allowed in a potential definition "
                f"(allowed: {', '.join(sorted(ALLOWED))})"
            )
        if cmd == "variable":
            if len(tokens) != 4 or tokens[2] != "equal" or not _NUMBER.match(tokens[3]):
                raise UnsafeCommand(f"{where}: only 'variable NAME equal <number>' is allowed (no python/file/getenv/shell styles)")
            variables[tokens[1]] = tokens[3]
            continue
        if cmd == "include":
            if len(tokens) != 2:
                raise UnsafeCommand(f"{where}: include takes one file name")
            inc = _resolve_file(tokens[1], base, where)
            if base not in inc.parents:
                raise UnsafeCommand(f"{where}: include of a file outside the card's folder {base} is refused")
            sub = parse_lammps_lines(inc.read_text(errors="replace"), base, f"{inc.name}", _depth + 1)
            out.commands += sub.commands
            out.files += sub.files
            continue
        if cmd == "pair_style":
            bad = [t for t in tokens[1:] if t in CODE_RUNNING_STYLES]
            if bad:
                raise UnsafeCommand(f"{where}: pair style '{bad[0]}' runs Python code and is not allowed in a potential definition")
        resolved = [cmd]
        for tok in tokens[1:]:
            if cmd in ("pair_style", "pair_coeff") and _FILE_LIKE.match(tok) and not _NUMBER.match(tok) and not _ELEMENT_OR_WILDCARD.match(tok):
                f = _resolve_file(tok, base, where)
                out.files.append(f)
                resolved.append(str(f))
            else:
                resolved.append(tok)
        out.commands.append(" ".join(resolved))
    if not any(c.startswith("pair_style") for c in out.commands):
        raise UnsafeCommand(f"{origin}: no pair_style line")
    return out
