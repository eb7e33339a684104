"""What a validation protocol runs on: a :class:`Target`.

A target is one model of the potential-energy surface, whatever produces it:

* a revem potential -- a catalog name, a card, a bare potential file or a
  :class:`~revem.potentials.Potential` (its :class:`~revem.potentials.kinds.Kind` builds the calculator);
* any ASE calculator object (a MACE or CHGNet model, a pyace calculator with an active set, ASE's EMT);
* a zero-argument factory returning a fresh ASE calculator (``lambda: EMT()``, a DFT code's settings).

It carries everything a protocol may ask of the model: a fresh checked calculator
(:meth:`Target.calculator`), the content hash that keys caches and matches baselines (:attr:`key`),
the elements it covers, its declared floating-point precision, the configurations it was fitted on
(:meth:`training_frames`, for coverage labels), and the LAMMPS commands of a potential LAMMPS runs
itself (:attr:`lammps_commands`).  Protocols take a target and nothing else: no potential names, no
calculator factories, no ``load_potential`` inside ``revem/validation/properties``.

Every target belongs to a :class:`~revem.validation.session.Session` (its own, unless a run binds it
to the run's with :meth:`bound`): :meth:`memo` caches a protocol's shared steps there, and every
structure its calculators evaluate is shown to the session's recorders.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable

from ..potentials import Potential, load_potential
from ..potentials.calculators import CheckedCalculator
from .session import Session


class Target:
    """A model of the potential-energy surface that protocols measure (see the module docstring)."""

    def __init__(self, name: str, make_calculator: Callable, key: str, elements=(), *,
                 potential: Potential | None = None, precision: str = "", training_data=None,
                 source: str = "", session: Session | None = None, shared_instance: bool = False):
        self.name = name
        self._make = make_calculator  # observer -> a fresh checked calculator
        self.key = key
        self.elements = list(elements or [])
        self.potential = potential
        self.precision = precision or ""
        self.training_data = list(training_data or [])
        self.source = source
        self.session = session if session is not None else Session()
        #: True when every calculator() is one shared object (a calculator instance handed in)
        self.shared_instance = shared_instance

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def of(cls, x, *, name: str | None = None, elements=None, precision: str | None = None,
           training_data=None, session: Session | None = None) -> "Target":
        """A target from a potential (catalog name, card, file, :class:`Potential`), an ASE calculator
        object, or a zero-argument factory of ASE calculators.

        ``name`` names it in reports (default: the potential's name, the calculator's class, the factory's
        name); ``elements`` the elements it covers (a calculator says nothing about that: default any);
        ``precision`` ``float32``/``float64`` when known; ``training_data`` the frames it was fitted on
        (ASE Atoms, extxyz paths or registry names of the data mirror) for coverage labels."""
        from ase.calculators.calculator import BaseCalculator

        if isinstance(x, Target):
            return x.bound(session) if session is not None and session is not x.session else x
        if isinstance(x, (str, Path, Potential)):
            pot = load_potential(x)
            prec = precision or pot.precision
            return cls(name or pot.name, pot.calculator, _with_precision(pot.file_hash, prec), pot.elements,
                       potential=pot, precision=prec, training_data=training_data or pot.training_data,
                       source=pot.source or pot.name, session=session)
        if isinstance(x, BaseCalculator):
            label = name or type(x).__name__
            key = _with_precision(_instance_key(x), precision)
            return cls(label, lambda observer=None: x, key, elements, precision=precision or "",
                       training_data=training_data, source=f"{type(x).__module__}.{type(x).__qualname__} object",
                       session=session, shared_instance=True)._wrap_plain(elements)
        if callable(x):
            label = name or getattr(x, "__name__", type(x).__name__)
            if label == "<lambda>":
                label = "calculator"
            key = _with_precision(
                hashlib.sha256(f"factory:{getattr(x, '__module__', '')}:{label}:{id(x)}".encode()).hexdigest(), precision)
            return cls(label, x, key, elements, precision=precision or "", training_data=training_data,
                       source=f"factory {getattr(x, '__module__', '')}.{getattr(x, '__qualname__', label)}",
                       session=session)._wrap_plain(elements)
        raise TypeError(f"cannot run a protocol on {x!r}: give a potential (name, card, file), an ASE calculator "
                        "object, or a zero-argument factory returning a fresh ASE calculator (e.g. lambda: EMT())")

    def _wrap_plain(self, elements) -> "Target":
        """Plain calculators get revem's structure checks and the session's observer (as a potential's do)."""
        inner = self._make

        def make(observer=None):
            return CheckedCalculator(inner(), self.name, elements or None, observer)

        self._make = make
        self._plain = True
        return self

    def bound(self, session: Session) -> "Target":
        """The same target in another session (a run binds every target to the run's session)."""
        t = object.__new__(Target)
        t.__dict__.update(self.__dict__)
        t.session = session
        return t

    # -- what protocols use ------------------------------------------------------------------------
    def calculator(self):
        """A fresh ASE calculator (one shared object for a calculator instance), input- and output-checked,
        showing every structure it evaluates to the session's recorders."""
        if getattr(self, "_plain", False):
            return self._make(self.session.observe)
        return self._make(observer=self.session.observe)

    def memo(self, *key, compute: Callable, keep: str = "all"):
        """``compute()`` cached in the target's session under (content hash, \\*key) (see :meth:`Session.memo`)."""
        return self.session.memo((self.key, *key), compute, keep=keep)

    @property
    def lammps_commands(self) -> list[str] | None:
        """The LAMMPS commands of a potential LAMMPS evaluates itself (MD can then run inside LAMMPS), else None."""
        if self.potential is None:
            return None
        return self.potential.kind_class.lammps_commands(self.potential)

    @property
    def kind(self) -> str:
        return self.potential.kind if self.potential is not None else "ase-object"

    def covers(self, element: str) -> bool:
        return not self.elements or element in self.elements

    def training_frames(self) -> list:
        """The configurations it was fitted on (each entry's ``every``-th frame), [] when none were named."""
        from ..data import read_extxyz_fast, read_frames

        out = []
        for entry in self.training_data:
            if hasattr(entry, "get_positions"):  # an ASE Atoms
                out.append(entry)
            elif isinstance(entry, dict):  # a card's training_data entry
                frames = read_frames(entry["name"]) if entry.get("registry") else read_extxyz_fast(entry["path"])
                out += list(frames)[::int(entry.get("every", 1))]
            elif isinstance(entry, (str, Path)):
                from ..data import registry

                frames = read_frames(str(entry)) if str(entry) in registry() else read_extxyz_fast(Path(entry))
                out += list(frames)
            else:
                raise TypeError(f"training_data entry {entry!r}: give ASE Atoms, an extxyz path or a registry name")
        return out

    def training_sources(self) -> list[str]:
        out = []
        for e in self.training_data:
            if isinstance(e, dict):
                out.append(e["name"] + (f" (every {e['every']})" if e.get("every", 1) != 1 else ""))
            elif isinstance(e, (str, Path)):
                out.append(str(e))
        n_atoms = sum(1 for e in self.training_data if hasattr(e, "get_positions"))
        if n_atoms:
            out.append(f"{n_atoms} Atoms objects")
        return out

    def describe(self) -> dict:
        """The ``meta.potential`` of a results file: what the target is, with its kind's provenance."""
        d = {"name": self.name, "kind": self.kind, "source": self.source, "sha256": self.key,
             "elements": list(self.elements), "precision": self.precision}
        pot = self.potential
        if pot is not None:
            d.update({"citation": pot.citation, "trust": list(pot.trust),
                      "commands": list(pot.lammps_commands), "callable": pot.ase_callable,
                      "files": [str(f) for f in pot.files]})
            d.update(pot.kind_class.provenance(pot))
            if pot.training_data:
                d["training_data"] = [{"name": e["name"], "every": e["every"], "registry": e["registry"]}
                                      for e in pot.training_data]
        elif self.training_data:
            d["training_data"] = [{"name": s} for s in self.training_sources()]
        return d

    def __hash__(self):
        return hash(self.key)

    def __eq__(self, other):
        return isinstance(other, Target) and other.key == self.key

    def __repr__(self):
        return f"Target({self.name!r}, {self.key[:12]})"


def _instance_key(calc) -> str:
    """Content key of a calculator object: its class and parameters (``todict()``); an object whose
    parameters say nothing (empty or not serialisable) is keyed by its identity as well."""
    cls = f"{type(calc).__module__}.{type(calc).__qualname__}"
    try:
        params = calc.todict()
        text = json.dumps(params, sort_keys=True, default=repr)
    except Exception:  # noqa: BLE001 - any calculator may be handed in
        params, text = None, ""
    ident = "" if params else f":id{id(calc)}"
    return hashlib.sha256(f"instance:{cls}:{text}{ident}".encode()).hexdigest()


def _with_precision(key: str, precision: str | None) -> str:
    """The content key of a target whose floating-point precision is declared: the same model declared
    float32 and float64 gets its tolerances from it, so its results must not share a cache entry."""
    if not precision:
        return key
    return hashlib.sha256(f"{key}:precision={precision}".encode()).hexdigest()
