"""Check which DFT vacancy formation energies the mirror allows; today it writes none (W keeps its seed set).

Run: ``REVEM_DATA_DIR=/work/shared/datasets python -m revem.validation.references_build.defects``

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
  or C with a matching bulk.  No published value is typed in here (the rule: only numbers and
  citations the author is certain of).
"""
from __future__ import annotations

import numpy as np

from ...data import read_frames


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
    print("no defect reference written")
    return out


if __name__ == "__main__":
    main()
