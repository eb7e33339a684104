"""NVE energy conservation: ΔH(δt) slope ≈ 2 and no drift (seed 002, eq. 2 and Fig. 5)."""
import math

import pytest

from revem.properties import nve as prop


@pytest.mark.revem_cases.with_args(prop.cases)
def test_nve(potential, element, case, revem):
    res = prop.compute(potential, element, revem.tier)
    data = {k: res[k] for k in ("dt_fs", "dH_meV_per_atom", "drift_meV_per_atom_ps", "stable", "prefactor",
                                "max_stable_dt", "backend", "time_ps")}
    note = f"{res['backend']} velocity Verlet, {res['time_ps']} ps per δt; " + "; ".join(res["notes"])
    revem.check(prop.PROPERTY, case, "nve_slope", res["nve_slope"], "", note=note, data=data)
    for dt, dh, dr in zip(res["dt_fs"], res["dH_meV_per_atom"], res["drift_meV_per_atom_ps"]):
        lab = prop.dt_label(dt)
        revem.report(prop.PROPERTY, case, f"dH_{lab}", dh if math.isfinite(dh) else None, "meV/atom")
        revem.check(prop.PROPERTY, case, f"drift_{lab}", dr if math.isfinite(dr) else None, "meV/atom/ps")
    revem.report(prop.PROPERTY, case, "max_stable_dt", res["max_stable_dt"], "fs")
