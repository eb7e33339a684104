"""The protocol contract: what every property of the validation harness is, as code.

A :class:`Protocol` declares its ``name``, ``version``, ``defaults`` (units in the key names),
``tier_settings``, the ``cases(element, tier)`` it runs, the data files a case needs, and
``measure(target, element, case, tier)``, which returns :class:`Measurement` s -- value, unit,
uncertainty, converged flag, policy (scored against a reference, reported, or an exact identity),
note and plot data.  The protocol never scores: :mod:`revem.validation.scoring` and the harness turn
measurements into records and verdicts, one generic path for every property
(``validation/test_properties.py``).  Adding a property means adding its module (with a
``PROTOCOL`` instance) and its reference file; nothing else.

A :class:`~revem.validation.target.Target` is what a protocol runs on: a revem potential, any ASE
calculator object, or a zero-argument factory of calculators (so a DFT code runs the same protocol and
produces references).  Protocols take a target and nothing else; :meth:`Protocol.run` caches
measurements in the target's session per (target content, element, case, tier, protocol version).

Pattern: kim-tools' ``TestDriver._calculate`` filling declared properties, and matcalc's property
calculators returning plain dicts with the scoring kept elsewhere (``benchmark.py``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from .target import Target  # noqa: F401  (re-exported: protocols run on a Target)

POLICIES = ("reference", "reported", "identity")


class Skip(Exception):
    """A case that cannot run here (no reference to compare with, no data); the message says why."""


@dataclass
class Measurement:
    """One number a protocol measured.

    ``case`` overrides the record's case (e.g. the elastic case ``C11`` records ``bcc``/``C11``);
    ``refs`` overrides the stored references (identities, references derived at run time);
    ``failure`` fails the case with that message after the number is recorded (e.g. a defect that
    relaxed into another one); ``uncertainty_covers`` says what the uncertainty is the spread of (fit forms
    and windows, strain amplitudes, residual forces), shown with the record.
    """

    quantity: str
    value: float | None
    unit: str
    case: str | None = None
    uncertainty: float | None = None
    converged: bool = True
    policy: str = "reference"
    note: str = ""
    data: dict | None = None
    refs: list | None = None
    failure: str | None = None
    uncertainty_covers: str = ""

    def __post_init__(self):
        if self.policy not in POLICIES:
            raise ValueError(f"measurement {self.quantity}: policy {self.policy!r} is not one of {POLICIES}")
        if self.value is not None:
            try:
                v = float(self.value)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"measurement {self.quantity}: value {self.value!r} is not a number") from exc
            self.value = v if math.isfinite(v) else None


def merge_settings(defaults: dict, tier_settings: dict, tier: str) -> dict:
    """Defaults overridden by the tier's settings (the one place tiers are merged)."""
    if tier not in ("smoke", "standard", "full"):
        raise ValueError(f"unknown tier {tier!r}; expected smoke, standard or full")
    return {**defaults, **(tier_settings or {}).get(tier, {})}


class Protocol:
    """Base of every property protocol (see the module docstring)."""

    name: ClassVar[str] = ""
    version: ClassVar[int] = 1
    defaults: ClassVar[dict] = {}
    tier_settings: ClassVar[dict] = {}
    disclaimers: ClassVar[str] = ""

    def settings(self, tier: str = "standard") -> dict:
        return merge_settings(self.defaults, self.tier_settings, tier)

    def cases(self, element: str, tier: str) -> list[str]:
        raise NotImplementedError

    def required_data(self, element: str, case: str) -> list[str]:
        """Registry names of the data files ``case`` needs (absent: the case is skipped, naming them)."""
        return []

    def measure(self, target: Target, element: str, case: str, tier: str) -> list[Measurement]:
        raise NotImplementedError

    def run(self, target, element: str, case: str, tier: str = "standard") -> list[Measurement]:
        """:meth:`measure`, cached in the target's session per (target content, element, case, tier, protocol
        version); ``target`` may be anything :meth:`Target.of` takes."""
        t = Target.of(target)

        def measure():
            out = self.measure(t, element, case, tier)
            if not all(isinstance(m, Measurement) for m in out):
                raise TypeError(f"{self.name}.measure must return Measurements")
            return out

        return list(t.memo("protocol", self.name, self.version, element, case, tier, compute=measure))

    def __repr__(self):
        return f"<protocol {self.name} v{self.version}>"
