"""Vacancy-migration references: published PBE barriers of the nearest-neighbour vacancy hop
(``migration_angsten2014.json``).

Run: ``python -m revem.validation.references_build.migration``.

Source: T. Angsten, T. Mayeshiba, H. Wu, D. Morgan, "Elemental vacancy diffusion database from high-throughput
first-principles calculations for fcc and hcp structures", New J. Phys. 16, 015018 (2014),
doi:10.1088/1367-2630/16/1/015018 (data: Zenodo record 17888), Table A1 (fcc), column "vacancy migration
energy" (PBE, climbing-image NEB of the nearest-neighbour hop).  Read from the transcription that MLIP
Arena's vacancy-migration benchmark uses: atomind-ai/mlip-arena ``benchmarks/vacancy_migration/Table-A1-fcc.csv``
(commit 6239aea, column ``e_vacmig``; its README cites the paper).  Only the elements whose ground lattice
is fcc are taken (Al, Cu, Ni), as for the formation energies of the same table
(:mod:`revem.validation.references_build.defects`).

Not taken:

* hcp (Table A2; Be, Re, Os): the transcription ``Table-A2-hcp.csv`` has two barrier columns, ``e_vacmig_v``
  and ``e_vacmig`` (Be: 0.74 and 0.87 eV), for the paper's two hops (basal plane and z direction); which
  column is which hop is not stated in the transcription and the paper's table could not be read here, so
  the hcp barriers are reported, not scored.
* bcc W, Mo, Ta, Nb: no PBE barrier could be read in a source available offline (the seed papers quote none).
"""
from __future__ import annotations

from pathlib import Path

from .. import references

#: Angsten et al. (2014) Table A1 PBE vacancy migration energies (eV) of the fcc elements revem measures
ANGSTEN_EM_EV = {"Al": 0.58, "Cu": 0.72, "Ni": 0.94}
SOURCE = ("T. Angsten, T. Mayeshiba, H. Wu, D. Morgan, New J. Phys. 16, 015018 (2014), "
          "doi:10.1088/1367-2630/16/1/015018, Table A1 (fcc), vacancy migration energy of {el} (PBE); read from "
          "the transcription atomind-ai/mlip-arena benchmarks/vacancy_migration/Table-A1-fcc.csv (commit 6239aea, "
          "column e_vacmig)")
PROTOCOL = ("PBE climbing-image NEB of the nearest-neighbour <110>/2 vacancy hop in a periodic fcc supercell, "
            "endpoints relaxed, barrier = saddle - initial energy (high-throughput settings of the paper, not "
            "restated here); revem: 108-site 3x3x3 fcc supercell at the potential's relaxed lattice, cell fixed, "
            "5 images, climbing image, improved tangent")
TOLERANCE_BASIS = ("the defects protocol's 12 % (seed 000 Table 2 counts defect-energy errors of ~5-12 % as good "
                   "agreement) widened to 15 % for a saddle-point energy from a high-throughput NEB")


def rows(element: str) -> list[dict]:
    """The published migration barrier of ``element`` as a reference row."""
    return [{"case": "vacancy_hop_110", "quantity": "E_m", "value": ANGSTEN_EM_EV[element], "unit": "eV",
             "tolerance": {"rel": 0.15}, "noise": {"abs": 0.005}, "lattice": "fcc",
             "source": SOURCE.format(el=element), "protocol": PROTOCOL, "tolerance_basis": TOLERANCE_BASIS}]


def main() -> list[Path]:
    out = [references.write(el, "migration", rows(el), "migration_angsten2014",
                            provenance={"generated_by": "python -m revem.validation.references_build.migration"})
           for el in ANGSTEN_EM_EV]
    for p in out:
        print(p)
    return out


if __name__ == "__main__":
    main()
