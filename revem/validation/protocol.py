"""The protocol contract: what every property of the validation harness is, as code.

A :class:`Protocol` declares its ``name``, ``version``, ``defaults`` (units in the key names),
``tier_settings``, the ``cases(element, tier)`` it runs, the data files a case needs, and
``measure(target, element, case, tier)``, which returns :class:`Measurement` s -- value, unit,
uncertainty, converged flag, policy (scored against a reference, reported, or an exact identity),
note and plot data.  The protocol never scores: :mod:`revem.validation.scoring` and the harness turn
measurements into records and verdicts, one generic path for every property
(``validation/test_properties.py``).  Adding a property means adding its module (with a
``PROTOCOL`` instance) and its reference file; nothing else.

A :class:`Target` is what a protocol runs on: a revem potential, or any ASE calculator given as a
zero-argument factory (so a DFT code runs the same protocol and produces references).  Targets are
hashable by content (the potential's sha256), and :meth:`Protocol.run` caches measurements per
(target, element, case, tier, protocol version).

Pattern: kim-tools' ``TestDriver._calculate`` filling declared properties, and matcalc's property
calculators returning plain dicts with the scoring kept elsewhere (``benchmark.py``).
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar

POLICIES = ("reference", "reported", "identity")


class Skip(Exception):
    """A case that cannot run here (no reference to compare with, no data); the message says why."""


@dataclass
class Measurement:
    """One number a protocol measured.

    ``case`` overrides the record's case (e.g. the elastic case ``C11`` records ``bcc``/``C11``);
    ``refs`` overrides the stored references (identities, references derived at run time);
    ``failure`` fails the case with that message after the number is recorded (e.g. a defect that
    relaxed into another one).
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

    def __post_init__(self):
        if self.policy not in POLICIES:
            raise ValueError(f"measurement {self.quantity}: policy {self.policy!r} is not one of {POLICIES}")
        if self.value is not None:
            try:
                v = float(self.value)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"measurement {self.quantity}: value {self.value!r} is not a number") from exc
            self.value = v if math.isfinite(v) else None


class Target:
    """What a protocol is run on: a potential (catalog name, card, file, ``Potential``) or an ASE
    calculator factory.  Hashable and comparable by content."""

    def __init__(self, name: str, factory: Callable, key: str, elements: list[str] | None = None,
                 potential=None, spec: str | None = None):
        self.name, self.factory, self.key = name, factory, key
        self.elements = list(elements or [])
        self.potential = potential
        self.spec = spec or name

    @classmethod
    def of(cls, x, name: str | None = None) -> "Target":
        from ..potentials import Potential, load_potential

        if isinstance(x, Target):
            return x
        if isinstance(x, (str, Path, Potential)):
            pot = load_potential(x)
            spec = pot.source or pot.name if isinstance(x, Potential) else str(x)
            return cls(pot.name, pot.calculator, pot.file_hash, pot.elements, potential=pot, spec=spec)
        if callable(x):
            label = name or getattr(x, "__name__", type(x).__name__)
            key = hashlib.sha256(f"factory:{label}:{id(x)}".encode()).hexdigest()
            return cls(label, x, key)
        raise TypeError(f"cannot run a protocol on {x!r}: give a potential (name, card, file) or a zero-argument "
                        "factory returning a fresh ASE calculator (e.g. lambda: EMT())")

    def calculator(self):
        """A fresh ASE calculator."""
        return self.factory()

    # legacy compute functions take (potential spec, ..., calc_factory)
    @property
    def compute_args(self) -> tuple:
        return (self.spec, None) if self.potential is not None else (self.name, self.factory)

    def __hash__(self):
        return hash(self.key)

    def __eq__(self, other):
        return isinstance(other, Target) and other.key == self.key

    def __repr__(self):
        return f"Target({self.name!r}, {self.key[:12]})"


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

    def __init__(self):
        self._cache: dict = {}

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
        """:meth:`measure`, cached per (target content, element, case, tier, protocol version)."""
        from . import coverage

        t = Target.of(target)
        key = (t.key, element, case, tier, self.version)
        recorded = self.__dict__.setdefault("_recorded", {})  # key -> structures the measure evaluated
        if key not in self._cache:
            with coverage.recording() as rec:  # nested in the case's recorder, which sees them too
                out = self.measure(t, element, case, tier)
            if not all(isinstance(m, Measurement) for m in out):
                raise TypeError(f"{self.name}.measure must return Measurements")
            self._cache[key] = out
            recorded[key] = rec.export()
        elif key in recorded:  # a cache hit: the active recorders see what the first run evaluated
            coverage.replay(recorded[key])
        return list(self._cache[key])

    def plot(self, records: list[dict], outdir: Path) -> list[Path]:
        return []

    def __repr__(self):
        return f"<protocol {self.name} v{self.version}>"
