"""Stored references: published or DFT-derived values with unit, tolerance, noise and source.

Files ship inside the package, ``revem/validation/reference_data/<El>/<property>[_<set>].json`` (a wheel install
finds them), and users add elements or override references in a folder named by
``REVEM_REFERENCE_DIR`` (same layout and format)::

    {"property": "elastic", "element": "W",
     "references": [{"case": "bcc", "quantity": "C11", "value": 526.0, "unit": "GPa",
                     "tolerance": {"rel": 0.15}, "noise": {"abs": 0.5},
                     "source": "Subramanyam & Perez (seed 000), Table 2: DFT (VASP PBE ...)",
                     "protocol": "bcc ground state, relaxed-ion, ..."}]}

``tolerance`` decides pass/fail against the reference; ``noise`` is how much the value may move
between two runs of the same potential before ``--baseline`` calls it a regression. Each may
give ``abs`` (in the reference's unit), ``rel`` (fraction), or both (the larger bound wins).

A user reference replaces the packaged ones of the same (element, property, case, quantity); every
reference knows the file it came from (``origin``), which the report records next to its source.

The format is published as a JSON Schema (``revem schema reference``, :mod:`revem.schemas`): every file is
checked against it when read, and by :func:`write` before it is written.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

#: the packaged references (shipped in the wheel)
REFERENCE_DIR = Path(__file__).resolve().parent / "reference_data"
#: environment variable naming a folder of user references (same layout), which override packaged ones
USER_DIR_VAR = "REVEM_REFERENCE_DIR"


class ReferenceFileError(ValueError):
    """A reference file that is not valid (names the file and the problem)."""


def user_dir() -> Path | None:
    """The folder named by ``REVEM_REFERENCE_DIR`` (None when unset); a missing folder is an error."""
    v = os.environ.get(USER_DIR_VAR, "").strip()
    if not v:
        return None
    d = Path(v).expanduser()
    if not d.is_dir():
        raise ReferenceFileError(f"{USER_DIR_VAR}={v}: not a folder")
    return d


def reference_dirs() -> list[Path]:
    """Folders searched, packaged first (user files override them)."""
    u = user_dir()
    return [REFERENCE_DIR] + ([u] if u is not None else [])


@dataclass(frozen=True)
class Reference:
    element: str
    property: str
    case: str
    quantity: str
    value: float
    unit: str
    source: str
    tolerance: dict = field(default_factory=dict)
    noise: dict = field(default_factory=dict)
    protocol: str = ""
    extra: dict = field(default_factory=dict)
    origin: str = ""  # the file it was read from ("package:<El>/<file>" or a user path)

    def bound(self, which: str = "tolerance") -> float | None:
        spec = getattr(self, which) or {}
        parts = []
        if "abs" in spec:
            parts.append(float(spec["abs"]))
        if "rel" in spec:
            parts.append(float(spec["rel"]) * abs(self.value))
        return max(parts) if parts else None


MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 16  # a reference file is 4 levels deep


def _bound_problem(spec, which: str, value: float) -> str | None:
    """What the schema cannot say about a ``tolerance`` / ``noise`` (None when it is usable): each bound is a
    finite number (``1e999`` parses to infinity: an infinite tolerance passes any value), and a relative
    tolerance of a zero reference value is zero."""
    import math

    if not spec:
        return None
    for k, v in spec.items():
        if not math.isfinite(v):
            return f"{which}.{k}: {v!r} is not a finite number"
    if which == "tolerance" and "abs" not in spec and value == 0:
        return "tolerance: a relative tolerance of a zero reference value is zero; give 'abs'"
    return None


def check_document(data: object, where: str) -> dict:
    """Check a parsed reference file against the published schema (``revem schema reference``) and what a
    schema cannot say (finite values and bounds; no relative tolerance of a zero value); return it.  Every
    refusal is a :class:`ReferenceFileError` naming ``where`` and the JSON path of the first violation."""
    import math

    from .. import schemas

    if not isinstance(data, dict):
        raise ReferenceFileError(f"{where}: expected an object with 'element', 'property' and a 'references' list, "
                                 f"got {type(data).__name__}")
    schemas.check("reference", data, where, ReferenceFileError)
    for i, r in enumerate(data["references"]):
        at = f"{where}: references[{i}]"
        if not math.isfinite(r["value"]):
            raise ReferenceFileError(f"{at}.value: {r['value']!r} is not a finite number")
        for which in ("tolerance", "noise"):
            why = _bound_problem(r.get(which), which, r["value"])
            if why:
                raise ReferenceFileError(f"{at}.{why} ({r['case']}, {r['quantity']})")
    return data


KNOWN_FIELDS = ("case", "quantity", "value", "unit", "source", "tolerance", "noise", "protocol")


@lru_cache(maxsize=None)
def _load_file(path: Path) -> tuple[Reference, ...]:
    """The references of one file, read within bounds (:func:`revem.safe_io.load_json`: a regular file, at
    most :data:`MAX_FILE_BYTES`, nesting at most :data:`MAX_DEPTH`, no NaN/Infinity) and checked where they
    enter (:func:`check_document`)."""
    from ..safe_io import Refused, load_json

    try:
        data = load_json(path, "reference file", limit=MAX_FILE_BYTES, max_depth=MAX_DEPTH)
    except Refused as exc:
        raise ReferenceFileError(str(exc)) from None
    check_document(data, f"reference file {path}")
    try:
        origin = f"package:{path.relative_to(REFERENCE_DIR)}"
    except ValueError:
        origin = str(path)
    out = []
    for r in data["references"]:
        fields = {k: v for k, v in r.items() if k in KNOWN_FIELDS and v is not None}
        out.append(Reference(element=data["element"], property=data["property"], origin=origin,
                             extra={k: v for k, v in r.items() if k not in KNOWN_FIELDS}, **fields))
    return tuple(out)


def read_file(path: str | Path) -> tuple[Reference, ...]:
    """The references of one reference file, checked as the harness checks them (a :class:`ReferenceFileError`
    naming the file and the JSON path of the first problem otherwise)."""
    return _load_file(Path(path))


REQUIRED_KEYS = ("case", "quantity", "value", "unit", "source", "protocol")


def write(element: str, prop: str, refs: list[dict], name: str, out: Path | None = None,
          provenance: dict | None = None) -> Path:
    """Write ``revem/validation/reference_data/<element>/<name>.json`` (or ``out``): the one writer every reference
    builder uses.  Each reference must state case, quantity, value, unit, source and the protocol it
    assumes; values must be finite numbers.  Returns the path."""
    import math

    for i, r in enumerate(refs):
        missing = [k for k in REQUIRED_KEYS if k not in r or r[k] is None or (r[k] == "" and k != "unit")]
        if missing:
            raise ValueError(f"reference {i} of {prop}/{element} ({r.get('case')}, {r.get('quantity')}) lacks "
                             f"{', '.join(missing)}")
        if not isinstance(r["value"], (int, float)) or not math.isfinite(r["value"]):
            raise ValueError(f"reference {i} of {prop}/{element}: value {r['value']!r} is not a finite number")
    doc = {"property": prop, "element": element}
    if provenance:
        doc["provenance"] = provenance
    doc["references"] = refs
    check_document(doc, f"reference file {name or out} of {prop}/{element}")  # never write what revem would refuse to read
    out = Path(out) if out is not None else REFERENCE_DIR / element / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    _load_file.cache_clear()
    return out


def _load_dir(d: Path, element: str, prop: str) -> list[Reference]:
    d = d / element
    if not d.is_dir():
        return []
    refs = []
    for path in sorted(d.glob(f"{prop}*.json")):
        refs += [r for r in _load_file(path) if r.property == prop and r.element == element]
    return refs


def load(element: str, prop: str) -> list[Reference]:
    """All stored references of ``prop`` for ``element`` (empty if none): the packaged ones, with those of
    the same (case, quantity) replaced by the user's (``REVEM_REFERENCE_DIR``) where given."""
    refs = _load_dir(REFERENCE_DIR, element, prop)
    u = user_dir()
    if u is not None:
        mine = _load_dir(u, element, prop)
        over = {(r.case, r.quantity) for r in mine}
        refs = [r for r in refs if (r.case, r.quantity) not in over] + mine
    return refs


def elements() -> list[str]:
    """Elements with at least one reference file (packaged or user)."""
    out = set()
    for d in reference_dirs():
        out |= {p.name for p in d.iterdir() if p.is_dir() and any(p.glob("*.json"))}
    return sorted(out)


def has(element: str, prop: str, case: str | None = None) -> bool:
    """Whether any reference of ``prop`` (and ``case``) exists for ``element``."""
    return any(case is None or r.case == case for r in load(element, prop))


def find(element: str, prop: str, case: str, quantity: str) -> list[Reference]:
    """References for one case and quantity (several sources may exist: e.g. two DFT sets)."""
    return [r for r in load(element, prop) if r.case == case and r.quantity == quantity]


def policy(element: str, prop: str, case: str, quantity: str) -> str:
    """A measurement's policy by what is stored: ``reference`` where a reference of the quantity exists,
    else ``reported``."""
    return "reference" if find(element, prop, case, quantity) else "reported"
