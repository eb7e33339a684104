"""Scoring a computed value against a stored reference, and against a baseline run.

Computing a property (``revem.properties``) and scoring it are separate steps, so the same
protocol can run with a DFT calculator to produce references.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .references import Reference

# run-to-run noise by unit when a reference states none: what --baseline tolerates
DEFAULT_NOISE = {"Å": 1e-4, "Å^3/atom": 1e-3, "eV/atom": 2e-4, "eV": 2e-3, "GPa": 0.5, "mJ/m^2": 2.0,
                 "J/m^2": 2e-3, "meV/atom": 0.1, "meV/Å": 0.5, "eV/Å": 1e-4, "eV/Å^3": 1e-5, "meV/atom/ps": 0.01, "fs": 0.0, "": 1e-6}


@dataclass
class Record:
    """One scored number, as written to ``results.json``."""

    test_id: str
    potential: str
    element: str
    property: str
    case: str
    quantity: str
    value: float | None
    unit: str
    reference: float | None = None
    reference_source: str | None = None
    error: float | None = None
    error_pct: float | None = None
    tolerance: float | None = None
    passed: bool | None = None
    noise: float | None = None
    note: str = ""
    data: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, float) and not math.isfinite(v):
                d[k] = None
        return d

    def describe(self) -> str:
        if self.reference is None:
            return f"{self.quantity} = {_fmt(self.value)} {self.unit} (no reference: reported only)"
        return (f"{self.quantity} = {_fmt(self.value)} {self.unit}; reference {_fmt(self.reference)} {self.unit} "
                f"({self.reference_source}); error {_fmt(self.error)} {self.unit}"
                f"{'' if self.error_pct is None else f' ({self.error_pct:+.1f} %)'}; tolerance ±{_fmt(self.tolerance)} {self.unit}"
                f" -> {'PASS' if self.passed else 'FAIL'}")


def _fmt(x) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:.4g}" if abs(x) < 1e5 else f"{x:.4e}"
    return str(x)


def score(value: float | None, ref: Reference | None, *, test_id: str, potential: str, element: str,
          prop: str, case: str, quantity: str, unit: str, note: str = "", data: dict | None = None) -> Record:
    """A :class:`Record` for ``value`` against ``ref`` (``ref`` None: reported only, passed None)."""
    rec = Record(test_id=test_id, potential=potential, element=element, property=prop, case=case,
                 quantity=quantity, value=None if value is None else float(value), unit=unit, note=note,
                 data=data or {})
    if ref is not None:
        if ref.unit != unit:
            raise ValueError(f"{test_id}: reference unit '{ref.unit}' differs from computed unit '{unit}'")
        rec.reference, rec.reference_source = ref.value, ref.source
        rec.tolerance = ref.bound("tolerance")
        rec.noise = ref.bound("noise")
        if value is None or not math.isfinite(float(value)):
            rec.passed = False
        else:
            rec.error = float(value) - ref.value
            rec.error_pct = 100.0 * rec.error / ref.value if ref.value else None
            rec.passed = rec.tolerance is None or abs(rec.error) <= rec.tolerance
    if rec.noise is None:
        rec.noise = DEFAULT_NOISE.get(unit, 1e-6)
        if value is not None and math.isfinite(float(value)):
            rec.noise = max(rec.noise, 1e-6 * abs(float(value)))
    return rec


def load_baseline(path: str | Path) -> dict[tuple[str, str, str], dict]:
    """Records of an earlier run: a results.json, or a report directory holding <pot>/<el>/results.json."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(path.rglob("results.json"))
    if not files:
        raise FileNotFoundError(f"baseline {path}: no results.json found")
    out = {}
    for f in files:
        for r in json.loads(f.read_text()):
            out[(r["test_id"], r["case"], r["quantity"])] = r
    return out


def compare_baseline(rec: Record, baseline: dict[tuple[str, str, str], dict]) -> str | None:
    """A message if ``rec`` moved from the baseline by more than its noise, else None."""
    old = baseline.get((rec.test_id, rec.case, rec.quantity))
    if old is None or old.get("value") is None:
        return None
    if rec.value is None:
        return f"{rec.quantity}: baseline {old['value']} {rec.unit}, now no value"
    delta = rec.value - old["value"]
    noise = max(rec.noise or 0.0, old.get("noise") or 0.0)
    if abs(delta) > noise:
        return (f"REGRESSION {rec.case} {rec.quantity}: {rec.value:.6g} {rec.unit} vs baseline {old['value']:.6g} {rec.unit} "
                f"(moved {delta:+.4g} {rec.unit}, noise ±{noise:.3g} {rec.unit})")
    return None
