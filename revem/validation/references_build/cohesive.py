"""Write the experimental cohesive energies: ``revem/validation/reference_data/<El>/cohesive_kittel.json``.

Run: ``python -m revem.validation.references_build.cohesive`` (no data file needed).

Values: C. Kittel, *Introduction to Solid State Physics*, 8th ed. (Wiley, 2005), Table 3.1 ("Cohesive
energies"), eV/atom, for the elements revem ships.  Checked (2026) against two independent
transcriptions of that table: matminer's ``src/matminer/utils/data_files/cohesive_energies.json``
(hackingmaterials/matminer, commit 8ddb18c; its ``CohesiveEnergyData`` docstring: "from Introduction to
Solid State Physics, 8th Edition, by Charles Kittel (ISBN 978-0-471-41526-8), 2005" via the KnowledgeDoor
elements handbook) -- all eleven values equal -- and a second, per-atomic-number transcription of the
same table (Be 3.32, C 7.37, Al 3.39, Ni 4.44, Cu 3.49 equal).

They are experiments (sublimation enthalpies extrapolated to 0 K): zero-point energy included and the
free atom in its spin-polarised ground state, which a static potential fitted to non-spin-polarised DFT
does not describe, so every reference here carries ``"kind": "experiment"`` and the protocol shows it
next to the measured number without scoring it (:mod:`revem.validation.properties.cohesive`).
Kittel's table gives one value for carbon without naming the allotrope; revem's C case is diamond.
"""
from __future__ import annotations

from pathlib import Path

from .. import references

#: Kittel (8th ed.) Table 3.1, eV/atom
KITTEL_EV_PER_ATOM = {"W": 8.90, "Mo": 6.82, "Ta": 8.10, "Nb": 7.57, "Al": 3.39, "Cu": 3.49, "Ni": 4.44,
                      "Be": 3.32, "Re": 8.03, "Os": 8.17, "C": 7.37}
SOURCE = ("C. Kittel, Introduction to Solid State Physics, 8th ed. (Wiley, 2005), Table 3.1 (cohesive energy of "
          "{el}: {v:.2f} eV/atom, experiment); checked against matminer cohesive_energies.json (commit 8ddb18c)")
PROTOCOL = ("experiment: energy of the free (spin-polarised) atom minus the crystal at 0 K, zero-point included; "
            "shown, not scored (kind 'experiment'): a potential is compared with DFT of its own protocol")
TOLERANCE_BASIS = ("10 %, as revem's earlier W experimental reference; informational only: an experimental "
                   "reference is shown with the error and never scored")


def rows(element: str) -> list[dict]:
    from ..properties.common import lattice_of

    v = KITTEL_EV_PER_ATOM[element]
    return [{"case": lattice_of(element), "quantity": "E_coh", "value": v, "unit": "eV/atom",
             "tolerance": {"rel": 0.10}, "noise": {"abs": 0.001}, "kind": "experiment",
             "source": SOURCE.format(el=element, v=v), "protocol": PROTOCOL, "tolerance_basis": TOLERANCE_BASIS}]


def main(*elements: str) -> list[Path]:
    out = []
    for el in elements or tuple(KITTEL_EV_PER_ATOM):
        out.append(references.write(el, "cohesive", rows(el), "cohesive_kittel",
                                    provenance={"generated_by": "python -m revem.validation.references_build.cohesive"}))
        print(out[-1])
    return out


if __name__ == "__main__":
    import sys

    main(*sys.argv[1:])
