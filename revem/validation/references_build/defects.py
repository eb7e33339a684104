"""Defect references: published PBE vacancy formation energies (``defects_angsten2014.json``), and the check of
which DFT vacancy energies the data mirror allows (none; W keeps its seed set ``defects_seed.json``).

Run: ``python -m revem.validation.references_build.defects`` (writes the published set; with
``REVEM_DATA_DIR`` set it also prints the mirror check).

Published set (:data:`ANGSTEN_EV`): T. Angsten, T. Mayeshiba, H. Wu, D. Morgan, "Elemental vacancy diffusion
database from high-throughput first-principles calculations for fcc and hcp structures", New J. Phys. 16,
015018 (2014), doi:10.1088/1367-2630/16/1/015018 (data: Zenodo record 17888), Table A1 (fcc) and Table
A2 (hcp), column "vacancy formation energy" (PBE).  Only the elements whose ground lattice is the
table's lattice are used (fcc Al, Cu, Ni from A1; hcp Be, Re, Os from A2): the tables also list every
element in the lattice it does not take (bcc W in fcc, ...), which revem does not measure.  The values
were read from the tables as transcribed in atomind-ai/mlip-arena
``benchmarks/vacancy_migration/Table-A1-fcc.csv`` and ``Table-A2-hcp.csv`` (commit 6239aea), whose
README cites the paper; the paper's PDF could not be opened offline, so the transcription is the
checked source (stated in each reference).

A reference needs E_f = E(N-1) - (N-1)/N E(N) with both energies *relaxed* (0 K) and from the same
source and settings.  What the mirror holds (checked by :func:`mlearn_vacancy` and
:func:`be_vacancy`, printed by :func:`main`):

* ``mlearn/{Mo,Cu,Ni}/Vacancy`` (Y. Zuo et al., J. Phys. Chem. A 124, 731 (2020),
  doi:10.1021/acs.jpca.9b08723): every frame is a snapshot of an AIMD NVT run with a vacancy
  (descriptions "Snapshot k of n of Vacancy AIMD NVT simulation at 300/3000/6000 K"; max |F| 0.4-7.8
  eV/Å).  Their potential energy contains the thermal energy (about 3/2 k_B T per atom, 2-20 eV for
  53-107 atoms), so no relaxed E_f follows from them: declined.
* ``fitsnap-WBe/Be/Defect_Vacancy`` (M. A. Wood et al., Phys. Rev. B 99, 184305 (2019),
  doi:10.1103/PhysRevB.99.184305): 13 frames of a 255-atom hcp cell (a = 2.286 Å, c/a = 1.568; 256
  sites), not a monotonic relaxation (energies -793 to -846.7 eV, max |F| 0.02-0.25 eV/Å), no
  stress.  Their lowest energy per atom (-3.3205 eV) lies *below* that of the perfect crystal of the
  same source at the same volume (``Elast_HCP_Shear``, least-strained frame -3.3148 eV/atom) and
  below the ``EOS_HCP`` minimum (-3.3193 eV/atom), giving E_f < 0 (about -1.4 eV) where DFT values
  are positive: the 255-atom cells are on another energy zero (other k-point/basis settings) than
  every Be bulk group, so declined.
* No other group of the mirror holds a relaxed vacancy cell of Mo, Ta, Nb, Cu, Ni, Al, Be, Re, Os
  or C with a matching bulk.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...data import read_frames
from .. import references

#: Angsten et al. (2014) PBE vacancy formation energies (eV): element -> (lattice, value, table)
ANGSTEN_EV = {"Al": ("fcc", 0.61, "A1"), "Cu": ("fcc", 1.07, "A1"), "Ni": ("fcc", 1.39, "A1"),
              "Be": ("hcp", 1.04, "A2"), "Re": ("hcp", 3.42, "A2"), "Os": ("hcp", 3.03, "A2")}
ANGSTEN_SOURCE = ("T. Angsten, T. Mayeshiba, H. Wu, D. Morgan, New J. Phys. 16, 015018 (2014), "
                  "doi:10.1088/1367-2630/16/1/015018, Table {table} ({lattice}), vacancy formation energy of {el} "
                  "(PBE); read from the transcription atomind-ai/mlip-arena benchmarks/vacancy_migration/"
                  "Table-{table}-{lattice}.csv (commit 6239aea)")
ANGSTEN_PROTOCOL = ("PBE mono-vacancy of the {lattice} crystal in a periodic supercell, ions relaxed, E_f = E(N-1) - "
                    "(N-1)/N E(N) (high-throughput settings of the paper, not restated here); revem: {cell}, cell fixed "
                    "at the potential's relaxed lattice, positions relaxed")
ANGSTEN_CELL = {"fcc": "108-site 3x3x3 fcc supercell", "hcp": "96-site 4x2x3 orthorhombic hcp supercell"}
TOLERANCE_BASIS = "same as W: seed 000 Table 2 counts defect errors of ~5–12 % as good agreement"


def angsten_rows(element: str) -> list[dict]:
    """The published vacancy formation energy of ``element`` as a reference row."""
    lattice, value, table = ANGSTEN_EV[element]
    return [{"case": "vacancy", "quantity": "E_f", "value": value, "unit": "eV", "tolerance": {"rel": 0.12},
             "noise": {"abs": 0.002}, "lattice": lattice,
             "source": ANGSTEN_SOURCE.format(table=table, lattice=lattice, el=element),
             "protocol": ANGSTEN_PROTOCOL.format(lattice=lattice, cell=ANGSTEN_CELL[lattice]),
             "tolerance_basis": TOLERANCE_BASIS}]


def write_angsten() -> list[Path]:
    return [references.write(el, "defects", angsten_rows(el), "defects_angsten2014",
                             provenance={"generated_by": "python -m revem.validation.references_build.defects"})
            for el in ANGSTEN_EV]


def mlearn_vacancy(element: str) -> dict:
    """What ``mlearn/<element>/Vacancy`` holds: frame count, AIMD snapshot flag, temperatures, forces."""
    frames = read_frames(f"mlearn/{element}/Vacancy.extxyz.gz")
    desc = [f.info.get("description", "") for f in frames]
    temps = sorted({d.split(" at ")[-1] for d in desc if " at " in d})
    fmax = [float(np.abs(f.get_forces()).max()) for f in frames]
    aimd = all("AIMD" in d and "Snapshot" in d for d in desc)
    return {"element": element, "frames": len(frames), "n_atoms": sorted({len(f) for f in frames}),
            "all_aimd_snapshots": aimd, "temperatures": temps, "max_force_range_eV_per_A": [min(fmax), max(fmax)],
            "usable": not aimd}


def be_vacancy() -> dict:
    """Energy per atom of the fitsnap Be vacancy cells against the perfect hcp crystal of the same source."""
    vac = read_frames("fitsnap-WBe/Be/Defect_Vacancy.extxyz.gz")
    v_site = vac[0].get_volume() / (len(vac[0]) + 1)
    best = min(vac, key=lambda f: f.get_potential_energy())
    shear = [f for f in read_frames("fitsnap-WBe/Be/Elast_HCP_Shear.extxyz.gz")
             if abs(f.get_volume() / len(f) - v_site) < 1e-3]
    if not shear:
        raise RuntimeError("no Elast_HCP_Shear frame at the vacancy cell's volume per site")
    e_bulk = min(f.get_potential_energy() / len(f) for f in shear)  # least-strained = lowest energy at that volume
    e_eos = min(f.get_potential_energy() / len(f) for f in read_frames("fitsnap-WBe/Be/EOS_HCP.extxyz.gz"))
    n = len(best)
    e_f = best.get_potential_energy() - n * e_bulk
    return {"n_atoms": n, "volume_per_site_A3": v_site, "e_vacancy_cell_per_atom": best.get_potential_energy() / n,
            "e_bulk_same_volume": e_bulk, "n_bulk_frames": len(shear), "e_eos_hcp_min": e_eos,
            "E_f_naive_eV": e_f, "usable": e_f > 0 and best.get_potential_energy() / n > e_eos}


def main() -> list:
    from ...data import DataUnavailable

    for path in write_angsten():
        print(path)
    try:
        return check_mirror()
    except DataUnavailable as exc:
        print(f"mirror check skipped: {exc}")
        return []


def check_mirror() -> list:
    out = []
    for el in ("Mo", "Cu", "Ni"):
        r = mlearn_vacancy(el)
        out.append(r)
        print(f"{el}: {r['frames']} frames of {r['n_atoms']} atoms, AIMD snapshots: {r['all_aimd_snapshots']} "
              f"({', '.join(r['temperatures'])}), max|F| {r['max_force_range_eV_per_A'][0]:.2f}-"
              f"{r['max_force_range_eV_per_A'][1]:.2f} eV/Å -> {'usable' if r['usable'] else 'declined'}")
    b = be_vacancy()
    out.append(b)
    print(f"Be: vacancy cell {b['e_vacancy_cell_per_atom']:.4f} eV/atom vs perfect hcp at the same volume "
          f"{b['e_bulk_same_volume']:.4f} (EOS_HCP min {b['e_eos_hcp_min']:.4f}); naive E_f = {b['E_f_naive_eV']:.2f} eV"
          f" -> {'usable' if b['usable'] else 'declined (energy zeros differ)'}")
    print("no defect reference derived from the mirror")
    return out


if __name__ == "__main__":
    main()
