"""Stored references: published or DFT-derived values with unit, tolerance, noise and source.

Files live in ``datasets/references/<El>/<property>.json``::

    {"property": "elastic", "element": "W",
     "references": [{"case": "bcc", "quantity": "C11", "value": 526.0, "unit": "GPa",
                     "tolerance": {"rel": 0.15}, "noise": {"abs": 0.5},
                     "source": "Subramanyam & Perez (seed 000), Table 2: DFT (VASP PBE ...)",
                     "protocol": "bcc ground state, relaxed-ion, ..."}]}

``tolerance`` decides pass/fail against the reference; ``noise`` is how much the value may move
between two runs of the same potential before ``--baseline`` calls it a regression. Each may
give ``abs`` (in the reference's unit), ``rel`` (fraction), or both (the larger bound wins).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

REFERENCE_DIR = Path(__file__).resolve().parent.parent / "datasets" / "references"


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

    def bound(self, which: str = "tolerance") -> float | None:
        spec = getattr(self, which) or {}
        parts = []
        if "abs" in spec:
            parts.append(float(spec["abs"]))
        if "rel" in spec:
            parts.append(float(spec["rel"]) * abs(self.value))
        return max(parts) if parts else None


@lru_cache(maxsize=None)
def _load_file(path: Path) -> tuple[Reference, ...]:
    data = json.loads(path.read_text())
    out = []
    for r in data["references"]:
        known = {"case", "quantity", "value", "unit", "source", "tolerance", "noise", "protocol"}
        out.append(Reference(element=data["element"], property=data["property"],
                             extra={k: v for k, v in r.items() if k not in known},
                             **{k: v for k, v in r.items() if k in known}))
    return tuple(out)


REQUIRED_KEYS = ("case", "quantity", "value", "unit", "source", "protocol")


def write(element: str, prop: str, refs: list[dict], name: str, out: Path | None = None,
          provenance: dict | None = None) -> Path:
    """Write ``datasets/references/<element>/<name>.json`` (or ``out``): the one writer every reference
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
    out = Path(out) if out is not None else REFERENCE_DIR / element / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    _load_file.cache_clear()
    return out


def load(element: str, prop: str) -> list[Reference]:
    """All stored references of ``prop`` for ``element`` (empty if none)."""
    refs = []
    d = REFERENCE_DIR / element
    if not d.is_dir():
        return refs
    for path in sorted(d.glob(f"{prop}*.json")):
        refs += [r for r in _load_file(path) if r.property == prop]
    return refs


def find(element: str, prop: str, case: str, quantity: str) -> list[Reference]:
    """References for one case and quantity (several sources may exist: e.g. two DFT sets)."""
    return [r for r in load(element, prop) if r.case == case and r.quantity == quantity]
