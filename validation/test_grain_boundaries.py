"""Grain-boundary energies: seed 000 Table S1 (Scheiber et al. DFT) and the GBDB DFT bicrystals."""
import pytest

from revem import references
from revem.properties import grain_boundaries as prop


@pytest.mark.revem_cases.with_args(prop.cases)
def test_grain_boundaries(potential, element, case, revem):
    if case.startswith("gbdb_"):
        revem.require_data(f"gbdb/{element}.extxyz.gz")
        ref = references.find(element, prop.PROPERTY, case, "E_gb")[0]
        res = prop.compute(potential, element, case, revem.tier, source_id=ref.extra["source_id"])
        revem.check(prop.PROPERTY, case, "E_gb", res["E_gb"], prop.UNIT,
                    note="relaxed (atoms + cell) from the DFT-relaxed GBDB bicrystal, two GBs per cell")
        return
    if case == "S5_013_broken_symmetry":
        res = prop.compute(potential, element, case, revem.tier)
        note = (f"E_mirror {res['E_mirror']:.4f} J/m^2, best {res['E_min']:.4f} J/m^2 at shift {res['best_shift']}; "
                f"a/2 along [100]: {res['E_half_axis'] if res['E_half_axis'] is None else round(res['E_half_axis'], 4)} J/m^2")
        revem.check(prop.PROPERTY, case, "dE_broken", res["dE_broken"], prop.UNIT, note=note,
                    data={"scan": res["scan"]})
        return
    res = prop.compute(potential, element, case, revem.tier)
    revem.check(prop.PROPERTY, case, "E_gb", res["E_gb"], prop.UNIT,
                note=f"aimsgb bicrystal, min over {len(res['scan'])} rigid shifts (best {res['best_shift']})",
                data={"scan": res["scan"]})
