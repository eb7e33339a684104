"""Point-defect formation energies (vacancy, divacancies, SIAs) in the 4x4x4 bcc supercell."""
import pytest

from revem.properties import defects as prop


@pytest.mark.revem_cases.with_args(prop.cases)
def test_defects(potential, element, case, revem):
    res = prop.compute(potential, element, case, revem.tier)
    cls = res["classification"]
    note = (f"{res['n_atoms']} atoms, relaxed into {res['relaxed_into']}"
            + (f" (pair axis {cls['axis']}, midpoint {cls['offset_A']} Å off the site)" if cls.get("axis") else "")
            + ("" if res["converged"] else f"; NOT converged to fmax {res['fmax_eV_per_A']} eV/Å"))
    if res["relaxed_into"] == case:
        revem.check(prop.PROPERTY, case, "E_f", res["E_f"], prop.UNIT, note=note, data=cls,
                    uncertainty=res.get("uncertainty_eV"), converged=res["converged"])
    else:  # policy (see revem.properties.defects): reported, never scored as the defect it left
        revem.report(prop.PROPERTY, case, "E_f", res["E_f"], prop.UNIT, note=note + "; not scored", data=cls)
        revem.fail(f"{case} relaxed into {res['relaxed_into']} (E_f = {res['E_f']:.3f} eV); not scored against the "
                   f"{case} reference")
