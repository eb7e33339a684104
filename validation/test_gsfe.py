"""Generalized stacking faults (110)[111] and (112)[111] (seed 000 Fig. 8) against the GAP-W DFT rigid-shift cells."""
import pytest

from revem.properties import gsfe as prop
from revem.references import Reference


@pytest.mark.revem_cases.with_args(prop.cases)
def test_gsfe(potential, element, case, revem):
    if case.endswith("_relaxed"):  # own cells, no DFT data needed; reported only
        res = prop.compute(potential, element, case, revem.tier)
        note = f"atoms relaxed normal to the plane, cells at the potential's a0 = {res['data']['a0_A']:.4f} Å"
        revem.report(prop.PROPERTY, case, "gamma_us", res["gamma_us"], prop.UNIT, note=note, data=res["data"])
        if "asymmetry" in res:
            revem.report(prop.PROPERTY, case, "asymmetry", res["asymmetry"], prop.UNIT, note=note)
        return
    revem.require_data(prop.DATA)
    res = prop.compute(potential, element, case, revem.tier)
    note = "unrelaxed, on the GAP-W DFT cells at a = 3.1805 Å (the DFT lattice constant)"
    if case.endswith("_unrelaxed"):
        revem.check(prop.PROPERTY, case, "gamma_us", res["gamma_us"], prop.UNIT, note=note, data=res["data"])
        revem.check(prop.PROPERTY, case, "rmse", res["rmse"], prop.UNIT, note=note)
        revem.report(prop.PROPERTY, case, "gamma_us_dense", res["gamma_us_dense"], prop.UNIT,
                     note="largest γ of the dense unrelaxed line (not only the DFT-sampled shifts)")
        # the curve itself, point by point against the DFT cells (scored as a whole by `rmse` above)
        d = res["data"]
        for f, g, gd in zip(d["f"], d["gamma"], d["gamma_dft"]):
            point = f"{case}@{f:.2f}b"
            ref = Reference(element=element, property=prop.PROPERTY, case=point, quantity="gamma", value=float(gd),
                            unit=prop.UNIT, source="GAP-W DFT rigid-shift cell (Szlachta et al., PRB 90, 104108 (2014)), unrelaxed")
            revem.report(prop.PROPERTY, point, "gamma", g, prop.UNIT, refs=[ref], note=note)
    elif case == "110_symmetry":
        revem.check(prop.PROPERTY, case, "max_asymmetry", res["max_asymmetry"], prop.UNIT, note=note)
    else:
        revem.check(prop.PROPERTY, case, "asymmetry", res["asymmetry"], prop.UNIT,
                    note=note + "; γ(1−f) − γ(f) averaged over f < 0.5 (antitwinning − twinning)")
