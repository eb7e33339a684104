"""Derive ``equilibrium_volumes.json`` from the Materials Project elemental references.

Input: the public mirror ``<data>/mp-elements/<El>.extxyz.gz`` (MP PBE structures with
``energy_per_atom`` from matcalc 0.7.0 ``MP-PBE-Element-Refs.json.gz``).  The ground state is the
frame with the lowest ``energy_per_atom``; its volume per atom (A^3/atom) is written.
Cite: A. Jain et al., APL Mater. 1, 011002 (2013) (Materials Project); matcalc 0.7.0.

    python -m revem.generator.derive_volumes [/work/shared/datasets]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ELEMENTS = ("Al", "Be", "C", "Cu", "Mo", "Nb", "Ni", "Os", "Re", "Ta", "W")
OUT = Path(__file__).with_name("equilibrium_volumes.json")


def derive(data_dir: str | Path) -> dict:
    import ase.io

    vols = {}
    for el in ELEMENTS:
        f = Path(data_dir) / "mp-elements" / f"{el}.extxyz.gz"
        if not f.exists():
            continue
        frames = ase.io.read(f, index=":")
        gs = min(frames, key=lambda a: a.info["energy_per_atom"])
        vols[el] = {"volume_per_atom": round(gs.get_volume() / len(gs), 4),
                    "energy_per_atom": gs.info["energy_per_atom"],
                    "spacegroup": gs.info.get("spacegroup"), "natoms": len(gs),
                    "source_id": gs.info.get("source_id")}
    return {
        "units": {"volume_per_atom": "A^3/atom", "energy_per_atom": "eV/atom"},
        "source": "Materials Project PBE ground states (lowest energy_per_atom polymorph), "
                  "A. Jain et al., APL Mater. 1, 011002 (2013), via matcalc 0.7.0 "
                  "src/matcalc/elemental_refs/MP-PBE-Element-Refs.json.gz; derived by "
                  "revem/generator/derive_volumes.py",
        "elements": vols,
    }


if __name__ == "__main__":
    data = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/datasets"
    d = derive(data)
    OUT.write_text(json.dumps(d, indent=1) + "\n")
    print(f"wrote {OUT} ({len(d['elements'])} elements)")
