"""Transformation paths (tetragonal, trigonal, orthorhombic, hexagonal) against GPAW PBE paths."""
import pytest

from revem.properties import paths as prop


@pytest.mark.revem_cases.with_args(prop.cases)
def test_paths(potential, element, case, revem):
    ref = prop.reference_curve(element, case)
    res = prop.compute(potential, element, case, p_values=tuple(ref["p"]) if ref else None)
    m = prop.metrics(case, res["p"], res["E_meV"])
    data = {"p": res["p"], "E_meV": res["E_meV"], "volume_A3_per_atom": res["volume_A3_per_atom"],
            "extrema": m["extrema"]}
    fine = prop.compute(potential, element, case, p_values=prop.fine_grid(case))
    data.update(fine_p=fine["p"], fine_E_meV=fine["E_meV"])
    if ref:
        data.update(ref_p=ref["p"], ref_E_meV=ref["E_meV"])
    revem.check(prop.PROPERTY, case, "E_path", m["E_path"], "meV/atom", data=data,
                note="barrier: highest interior maximum of E − E(bcc) along the path, at the potential's own bcc V0")
    if ref is None:
        return
    revem.check(prop.PROPERTY, case, "E_path_rmse", prop.rmse(res["E_meV"], ref["E_meV"]), "meV/atom",
                note=f"RMSE along the path vs the DFT curve ({len(ref['p'])} points)")
    revem.check(prop.PROPERTY, case, "p_max", m["p_max"], "", note="position of the barrier (path coordinate p)")
