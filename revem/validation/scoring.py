"""Scoring a computed value against a stored reference, and against a baseline run.

Computing a property (``revem.validation.properties``) and scoring it are separate steps, so the same
protocol can run with a DFT calculator to produce references.

Every record carries what is needed to judge it without re-running anything:

* ``uncertainty`` -- how well the protocol determined the number (EOS fit-window sensitivity,
  force tolerance of a relaxation, ...), in the record's unit, when the protocol states one;
* ``converged`` -- False when the protocol did not converge (a relaxation that missed its force
  criterion): such a number is *not* scored against DFT and the case fails, saying so;
* ``policy`` -- ``reference`` (scored against a stored DFT/published value), ``identity`` (an exact
  identity such as forces = -grad E: always fails when broken), or ``reported`` (shown only);
* ``noise`` -- how far the number may move between two runs of the same potential on different
  machines before ``--baseline`` calls it a regression.  It is never set at floating-point level:
  it is the largest of the reference's stated noise, a per-unit floor (:data:`DEFAULT_NOISE`), a
  relative floor (:data:`RELATIVE_NOISE`) and twice the protocol's uncertainty.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from .references import Reference

# run-to-run noise by unit when a reference states none: what --baseline tolerates.  These are
# physical resolutions of the protocols (a relaxation converged to fmax 1e-3 eV/Å, an EOS sampled
# at 1 % volume steps), not floating-point noise: a baseline made on one machine must pass on another.
DEFAULT_NOISE = {"Å": 2e-4, "Å^3/atom": 2e-3, "eV/atom": 5e-4, "eV": 5e-3, "GPa": 0.5, "mJ/m^2": 2.0,
                 "J/m^2": 2e-3, "meV/atom": 0.2, "meV/Å": 0.5, "eV/Å": 1e-4, "eV/Å^3": 1e-5,
                 "meV/atom/ps": 0.02, "fs": 0.0, "": 2e-3}
RELATIVE_NOISE = 1e-4  # fraction of |value|: no regression gate below this, whatever the unit
POLICIES = ("reference", "identity", "reported")


@dataclass
class Record:
    """One scored number, as written to the ``records`` of ``results.json``."""

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
    # the reference's tolerance as its file gives it ({"abs": ..., "rel": ...}); ``tolerance`` is the bound it gives
    tolerance_spec: dict | None = None
    passed: bool | None = None
    noise: float | None = None
    uncertainty: float | None = None
    uncertainty_covers: str = ""  # what the uncertainty is the spread of (fit forms and windows, strain amplitudes, ...)
    converged: bool = True
    policy: str = "reported"
    protocol_version: int | None = None
    note: str = ""
    baseline: dict | None = None
    data: dict = field(default_factory=dict)
    # coverage-aware verdicts (revem.validation.coverage; None unless the potential's card names its training data):
    # the case's largest per-atom Mahalanobis distance over the training set's 99th percentile (unitless),
    # its label "in-domain" (<= 1) or "extrapolating", and how many distinct structures the case evaluated
    coverage: float | None = None
    domain: str | None = None
    coverage_structures: int | None = None
    # the case of the run that produced the record (the elastic case "C11" records case "bcc"): a later run of
    # that case replaces exactly its records (revem.validation.results.merge)
    from_case: str | None = None

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What the number *is*, whatever the potential is called: (element, property, case, quantity)."""
        return (self.element, self.property, self.case, self.quantity)

    @property
    def error_over_tolerance(self) -> float | None:
        if self.error is None or not self.tolerance:
            return None
        return abs(self.error) / self.tolerance

    def to_json(self) -> dict:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, float) and not math.isfinite(v):
                d[k] = None
        return d

    def describe(self) -> str:
        unc = "" if not self.uncertainty else f" ± {_fmt(self.uncertainty)}"
        if not self.converged:
            return (f"{self.case} {self.quantity} = {_fmt(self.value)}{unc} {self.unit} is NOT CONVERGED: not scored"
                    f"{'' if not self.note else f' ({self.note})'}")
        if self.reference is None:
            return f"{self.case} {self.quantity} = {_fmt(self.value)}{unc} {self.unit} (no reference: reported only)"
        return (f"{self.case} {self.quantity} = {_fmt(self.value)}{unc} {self.unit}; reference {_fmt(self.reference)} "
                f"{self.unit} ({self.reference_source}); error {_fmt(self.error)} {self.unit}"
                f"{'' if self.error_pct is None else f' ({self.error_pct:+.1f} %)'}; tolerance ±{_fmt(self.tolerance)} "
                f"{self.unit} -> {'PASS' if self.passed else 'FAIL'}")


def _fmt(x) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:.4g}" if abs(x) < 1e5 else f"{x:.4e}"
    return str(x)


def _finite(value) -> bool:
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def noise_for(value: float | None, unit: str, ref_noise: float | None = None, uncertainty: float | None = None) -> float:
    """Regression noise of a number (see module docstring): never below a physical floor."""
    parts = [DEFAULT_NOISE.get(unit, DEFAULT_NOISE[""])]
    if ref_noise is not None:
        parts.append(float(ref_noise))
    if _finite(uncertainty):
        parts.append(2.0 * abs(float(uncertainty)))
    if _finite(value):
        parts.append(RELATIVE_NOISE * abs(float(value)))
    return max(parts)


def score(value: float | None, ref: Reference | None, *, test_id: str, potential: str, element: str,
          prop: str, case: str, quantity: str, unit: str, note: str = "", data: dict | None = None,
          uncertainty: float | None = None, converged: bool = True, policy: str | None = None,
          protocol_version: int | None = None, uncertainty_covers: str = "") -> Record:
    """A :class:`Record` for ``value`` against ``ref`` (``ref`` None: reported only, passed None).

    An unconverged number (``converged=False``) is never scored: ``passed`` is False and the
    reference is shown alongside for information only.
    """
    if policy is None:
        policy = "reported" if ref is None else ("identity" if ref.extra.get("strict") else "reference")
    if policy not in POLICIES:
        raise ValueError(f"{test_id}: policy '{policy}' is not one of {POLICIES}")
    rec = Record(test_id=test_id, potential=potential, element=element, property=prop, case=case,
                 quantity=quantity, value=float(value) if _finite(value) else None, unit=unit, note=note,
                 data=data or {}, uncertainty=float(uncertainty) if _finite(uncertainty) else None,
                 uncertainty_covers=uncertainty_covers if _finite(uncertainty) else "",
                 converged=bool(converged), policy=policy, protocol_version=protocol_version)
    if ref is not None:
        if ref.unit != unit:
            raise ValueError(f"{test_id}: reference unit '{ref.unit}' differs from computed unit '{unit}'")
        rec.reference, rec.reference_source = ref.value, ref.source
        origin = getattr(ref, "origin", "")
        if origin and not origin.startswith("package:"):  # a user reference (REVEM_REFERENCE_DIR): say so
            rec.reference_source = f"{ref.source} [user file {origin}]"
        rec.tolerance = ref.bound("tolerance")
        rec.tolerance_spec = dict(ref.tolerance) if ref.tolerance else None
        if rec.value is not None:
            rec.error = rec.value - ref.value
            rec.error_pct = 100.0 * rec.error / ref.value if ref.value else None
        if policy != "reported":
            if rec.value is None or not rec.converged:
                rec.passed = False
            else:
                rec.passed = rec.tolerance is None or abs(rec.error) <= rec.tolerance
    elif not rec.converged:
        rec.passed = False
    rec.noise = noise_for(rec.value, unit, ref.bound("noise") if ref is not None else None, rec.uncertainty)
    return rec


# quantities whose ideal value is 0 (lower is better) when no reference is stored
_ZERO_TARGET_PREFIXES = ("rmse", "mae", "max_deviation", "max_asymmetry", "drift", "E_path_rmse")


def target_of(reference: float | None, quantity: str) -> float | None:
    """The value a number should approach: its reference, 0 for error-like quantities, else None."""
    if reference is not None:
        return float(reference)
    if str(quantity).startswith(_ZERO_TARGET_PREFIXES):
        return 0.0
    return None


#: a number whose own stated uncertainty grew by more than this factor since the baseline has regressed,
#: whatever its value: a protocol (or a potential) that became noisy must not hide its own moves
UNCERTAINTY_GROWTH = 3.0


def compare_baseline(rec: Record, old: dict | None) -> dict | None:
    """Compare ``rec`` with the baseline record ``old`` of the same key.

    The move is judged against the **baseline's** noise (the noise it was made with; the new record's
    own noise only when the baseline states none), so a version whose number got noisier cannot widen
    the gate that judges it; and a number whose stated uncertainty grew more than
    :data:`UNCERTAINTY_GROWTH` times (above its unit's noise floor) has moved in itself.

    Returns None when there is nothing to compare, else a dict with ``old``, ``new``, ``delta``,
    ``noise``, ``moved``, ``direction`` (``towards``/``away`` from the reference, ``unknown`` without
    one) and ``message``.  ``moved`` is a regression for ``--fail-on regression``; for ``--fail-on
    worse`` only a move ``away`` is (a grown uncertainty counts as ``away``).
    """
    if old is None:
        return None
    ov, nv = old.get("value"), rec.value
    if ov is None and nv is None:
        return None
    unit = rec.unit
    old_noise = old.get("noise")
    noise = float(old_noise) if _finite(old_noise) and float(old_noise) > 0 else float(rec.noise or 0.0)
    if ov is None or nv is None:
        msg = (f"REGRESSION {rec.property} {rec.case} {rec.quantity}: baseline "
               f"{'no value' if ov is None else f'{ov:.6g} {unit}'} -> now {'no value' if nv is None else f'{nv:.6g} {unit}'}")
        return {"old": ov, "new": nv, "delta": None, "noise": noise, "moved": True,
                "direction": "away" if nv is None else "towards", "message": msg}
    delta = nv - float(ov)
    target = target_of(rec.reference, rec.quantity)
    if target is None:
        direction = "unknown"
    else:
        direction = "away" if abs(nv - target) > abs(float(ov) - target) else "towards"
    moved = abs(delta) > noise
    msg = (f"REGRESSION {rec.property} {rec.case} {rec.quantity}: {float(ov):.6g} -> {nv:.6g} {unit} "
           f"(Δ {delta:+.4g} {unit}, noise ±{noise:.3g} {unit}, {direction}"
           f"{'' if target is None else (' from DFT' if rec.reference is not None else ' from 0')})")
    ou, nu = old.get("uncertainty"), rec.uncertainty
    floor = DEFAULT_NOISE.get(unit, DEFAULT_NOISE[""]) / 2.0  # an uncertainty below half the noise floor is no signal
    grown = _finite(nu) and _finite(ou) and float(nu) > floor and float(nu) > UNCERTAINTY_GROWTH * max(float(ou), floor)
    if grown and not moved:
        moved, direction = True, "away"
        msg = (f"REGRESSION {rec.property} {rec.case} {rec.quantity}: its uncertainty grew from ±{float(ou):.3g} to "
               f"±{float(nu):.3g} {unit} (more than {UNCERTAINTY_GROWTH:g}x; value {float(ov):.6g} -> {nv:.6g} {unit})")
    return {"old": float(ov), "new": nv, "delta": delta, "noise": noise, "moved": moved, "direction": direction,
            "message": msg, "uncertainty_old": ou, "uncertainty_new": nu}
