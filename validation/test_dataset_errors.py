"""Energy and force errors on the stored DFT groups of the element (seed 000 Tables 1, 3, 4; Fig. 5).

Reported and regression-checked (--baseline) only: no tolerance is stated for an arbitrary potential."""
import pytest

from revem.properties import dataset_errors as prop


@pytest.mark.revem_cases.with_args(prop.cases)
def test_dataset_errors(potential, element, case, revem):
    for name in prop.group_files(element).values() if case.endswith(":all") else [prop.group_files(element)[case]]:
        revem.require_data(name)
    res = prop.compute(potential, element, case, revem.tier)
    offs = ", ".join(f"{f}: {v:+.4f} eV/atom" for f, v in res["offset_eV_per_atom"].items())
    note = (f"{res['n_frames']} frames ({revem.tier} tier), {res['n_skipped']} refused by the potential; "
            f"energy offset (median E_DFT − E_pot per atom) {offs}")
    data = {**res["parity"], "rmse_F": res["rmse_F"]} if case.endswith(":all") else None
    for suf in ("", "_1eV", "_2eV"):
        for q, unit in prop.QUANTITIES.items():
            if q.endswith("_F") and not res["has_forces"]:
                continue
            revem.check(prop.PROPERTY, case, q + suf, res[q + suf], unit, note=note,
                        data=data if (q == "rmse_E" and suf == "") else None)
