"""Potentials: catalog names, YAML cards and bare files resolved into ASE calculators."""
from .calculators import BadStructure, check_structure
from .core import Potential, PotentialError, catalog, load_card, load_file, load_potential
from .lammps_input import PotentialFileMissing, UnsafeCommand

__all__ = [
    "BadStructure", "Potential", "PotentialError", "PotentialFileMissing", "UnsafeCommand",
    "catalog", "check_structure", "load_card", "load_file", "load_potential",
]
