"""Uniform volumetric rescaling of a generated dataset to an element (seed paper Sec. 5.3).

Lengths are multiplied by (V_El / v_ref)^(1/3), with V_El the element's equilibrium volume per
atom (``equilibrium_volumes.json``, Materials Project) and v_ref the run's reference volume.
Stored features stay those of the unscaled structure (equal to the scaled structure's features
with the cutoff scaled by the same factor).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import ase.db

from .storage import Store, check_directory

_VOLS = Path(__file__).with_name("equilibrium_volumes.json")


def equilibrium_volume(element: str) -> float:
    """Equilibrium volume per atom of an element, A^3/atom (Materials Project PBE ground state)."""
    d = json.loads(_VOLS.read_text())["elements"]
    if element not in d:
        raise KeyError(f"no equilibrium volume for {element!r}; known: {', '.join(sorted(d))}")
    return float(d[element]["volume_per_atom"])


def length_factor(element: str, v_ref: float) -> float:
    """Length scale from the generator's reference volume v_ref (A^3/atom) to the element's equilibrium volume."""
    return (equilibrium_volume(element) / v_ref) ** (1.0 / 3.0)


def rescaled(atoms, element: str, factor: float):
    """``atoms`` (placeholder species) scaled by ``factor`` in place, every atom made ``element``; returned."""
    atoms.set_cell(atoms.cell * factor, scale_atoms=True)
    atoms.set_chemical_symbols([element] * len(atoms))
    return atoms


def rescale_db(db: str, element: str, out: str | None = None) -> tuple[int, float]:
    """Write ``out`` (default DB-<El>.db) with every row rescaled; returns (rows, length factor).

    Refused before anything is written: a ``db`` that is not an existing revem database
    (:class:`~revem.generator.storage.StoreError`; it is never created), an unknown element
    (KeyError), an existing ``out`` (FileExistsError) and a missing or unwritable output directory.
    The rows go to a hidden temporary file in the output directory that is linked to ``out`` only
    when complete, so ``out`` is never half-written.
    """
    store = Store(db, create=False)
    meta = store.get_meta() or {}
    v_ref = float(meta.get("v_ref", 15.9))
    factor = length_factor(element, v_ref)
    if out is None:
        root, ext = os.path.splitext(db)
        out = f"{root}-{element}{ext or '.db'}"
    if os.path.lexists(out):
        raise FileExistsError(f"{out} exists")
    check_directory(out)
    d, base = os.path.split(os.path.abspath(out))
    tmp = os.path.join(d, f".{base}.tmp-{os.getpid()}")
    try:
        n = 0
        target = ase.db.connect(tmp, type="db", append=False, use_lock_file=False)
        with target:
            for row in store.rows():
                atoms = rescaled(row.toatoms(), element, factor)
                kvp = dict(row.key_value_pairs, element=element, length_factor=factor)
                target.write(atoms, key_value_pairs=kvp, data=row.data)
                n += 1
        target.metadata = {"rescaled_from": os.path.abspath(db), "element": element,
                           "length_factor": factor, "v_ref": v_ref,
                           "volume_per_atom": equilibrium_volume(element), "run": meta}
        try:
            os.link(tmp, out)  # atomic, and never replaces a file made meanwhile
        except FileExistsError:
            raise FileExistsError(f"{out} exists") from None
        except OSError:  # a file system without hard links
            if os.path.lexists(out):
                raise FileExistsError(f"{out} exists") from None
            os.replace(tmp, out)
    finally:
        for f in (tmp, tmp + "-journal"):
            if os.path.exists(f):
                os.unlink(f)
    return n, factor
