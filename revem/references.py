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
