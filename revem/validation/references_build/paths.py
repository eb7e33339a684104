"""DFT references for the transformation paths, computed with GPAW by the revem protocol itself.

    nice -n 10 python -m revem.validation.references_build.paths setup   # -> revem/validation/reference_data/W/dft_setup_gpaw.json
    nice -n 10 python -m revem.validation.references_build.paths paths   # -> revem/validation/reference_data/W/paths_gpaw.json

``setup`` checks the DFT settings first (:func:`revem.datasets.dft.setup_check`): the bcc V0 and B0 against
WIEN2k (ase.collections.dcdft, within 1 % and 5 %), and the fcc−bcc and A15−bcc energy differences
against the stored DFT EOS data (``fitsnap-WBe/W/EOS_Data.extxyz.gz``, each E–V curve fitted with
ase.eos; within 30 meV/atom; needs REVEM_DATA_DIR, otherwise that part is recorded as not checked).
``paths`` runs :func:`revem.validation.properties.paths.reference_entries` at the DFT bcc V0 recorded by
``setup`` (the same as ``revem reference compute paths --element W --calculator gpaw``).
Both need GPAW (``pip install 'revem[dft]'``); settings: :class:`revem.datasets.dft.DFTSettings` defaults.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from ..references import REFERENCE_DIR

EOS_DATA = "fitsnap-WBe/W/EOS_Data.extxyz.gz"
EOS_GROUPS = {"BCCEOS": "bcc", "FCCEOS": "fcc", "15EOS": "A15"}  # source_id prefixes in EOS_Data


def stored_eos(name: str = EOS_DATA, points_each_side: int = 4) -> dict:
    """EOS fits (V0 Å^3/atom, E0 eV/atom, B0 GPa) of the stored DFT bcc/fcc/A15 W curves.

    Each curve is fitted (Birch–Murnaghan, ase.eos) on the 2·``points_each_side``+1 points around
    its lowest energy, where the EOS form holds.
    """
    from ...data import read_frames
    from ...datasets.dft import eos_fit

    groups: dict[str, list] = {}
    for at in read_frames(name):
        key = EOS_GROUPS.get(at.info["source_id"].split("_")[0])
        if key:
            groups.setdefault(key, []).append((at.get_volume() / len(at), at.get_potential_energy() / len(at)))
    out = {}
    for key, pts in groups.items():
        v, e = np.array(sorted(pts)).T
        m = int(np.argmin(e))
        sl = slice(max(0, m - points_each_side), m + points_each_side + 1)
        out[key] = {**eos_fit(v[sl], e[sl]), "n_points": int(len(v[sl]))}
    return out


def evaluate(setup: dict, element: str = "W", stored: dict | None = None) -> dict:
    """Scores of a setup check against dcdft WIEN2k and the stored EOS data (pure)."""
    from ase.collections import dcdft

    from ...datasets.dft import TOLERANCES

    w = dcdft.data[element]
    bcc = setup["bcc"]
    res = {
        "V0_bcc": {"value": bcc["V0"], "reference": w["wien2k_volume"], "unit": "Å^3/atom",
                   "error_rel": bcc["V0"] / w["wien2k_volume"] - 1, "tolerance_rel": TOLERANCES["V0_rel"],
                   "source": "WIEN2k PBE, ase.collections.dcdft (Lejaeghere et al., Science 351, aad3000 (2016))"},
        "B0_bcc": {"value": bcc["B0"], "reference": w["wien2k_B"], "unit": "GPa",
                   "error_rel": bcc["B0"] / w["wien2k_B"] - 1, "tolerance_rel": TOLERANCES["B0_rel"],
                   "source": "WIEN2k PBE, ase.collections.dcdft"},
    }
    for k in ("V0_bcc", "B0_bcc"):
        res[k]["passed"] = bool(abs(res[k]["error_rel"]) <= res[k]["tolerance_rel"])
    for s in ("fcc", "A15"):
        if s not in setup:
            continue
        d = 1000 * (setup[s]["E0"] - bcc["E0"])
        entry = {"value": d, "unit": "meV/atom", "tolerance_abs": TOLERANCES["dE_abs_meV"]}
        if stored:
            ref = 1000 * (stored[s]["E0"] - stored["bcc"]["E0"])
            entry.update(reference=ref, error=d - ref, passed=bool(abs(d - ref) <= TOLERANCES["dE_abs_meV"]),
                         source=f"{EOS_DATA} (FitSNAP WBe, VASP PBE), Birch–Murnaghan fits by revem.validation.references_build.paths")
        else:
            entry.update(reference=None, passed=None, source="stored EOS data unavailable (REVEM_DATA_DIR unset)")
        res[f"dE_{s}_bcc"] = entry
    return res


def run_setup(element: str = "W", out: Path | None = None) -> dict:
    from ...data import DataUnavailable
    from ...datasets.dft import gpaw_calculator, setup_check

    factory = gpaw_calculator()
    t = time.time()
    setup = setup_check(factory, element)
    try:
        stored = stored_eos()
    except DataUnavailable:
        stored = None
    doc = {"element": element, "what": "check of the GPAW setup used for the DFT references (revem.datasets.dft.setup_check)",
           "provenance": {**factory.provenance((element,)), "generated_by": "python -m revem.validation.references_build.paths setup",
                          "wall_time_s": round(time.time() - t, 1)},
           "eos": setup, "stored_eos": stored, "checks": evaluate(setup, element, stored)}
    out = out or REFERENCE_DIR / element / "dft_setup_gpaw.json"
    out.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps(doc["checks"], indent=1, ensure_ascii=False))
    return doc


def run_paths(element: str = "W", out: Path | None = None) -> dict:
    from ...datasets.dft import gpaw_calculator
    from ..properties import paths
    from ..reference_cli import write_reference

    setup_file = REFERENCE_DIR / element / "dft_setup_gpaw.json"
    factory = gpaw_calculator()
    vol = json.loads(setup_file.read_text())["eos"]["bcc"]["V0"] if setup_file.is_file() else None
    t = time.time()
    doc = write_reference(paths, element, factory, out or REFERENCE_DIR / element / "paths_gpaw.json",
                          volume=vol, generated_by="python -m revem.validation.references_build.paths paths")
    print(f"paths: {time.time() - t:.0f} s")
    return doc


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m revem.validation.references_build.paths", description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["setup", "paths", "all"])
    ap.add_argument("--element", default="W")
    a = ap.parse_args(argv)
    if a.what in ("setup", "all"):
        run_setup(a.element)
    if a.what in ("paths", "all"):
        run_paths(a.element)
    return 0


if __name__ == "__main__":
    sys.exit(main())
