"""Cubic elastic constants of the bcc ground state (seed 000 Table 2) and B = (C11 + 2 C12)/3 vs EOS B0."""
import pytest

from revem.properties import elastic as prop


@pytest.mark.revem_cases.with_args(prop.cases)
def test_elastic(potential, element, case, revem):
    res = prop.compute(potential, element, revem.tier)
    note = f"relaxed-ion, symmetric strains ±{100 * res['strain_amplitude']:g} %, a0 = {res['a0']:.5f} Å"
    if case == "B_consistency":
        revem.check(prop.PROPERTY, case, "B", res["B"], "GPa", note=note,
                    refs=[prop.b_consistency_reference(element, res["B0_eos"])])
    else:
        revem.check(prop.PROPERTY, "bcc", case, res[case], "GPa", note=note,
                    data={"Cij_GPa": res["Cij"]} if case == "C11" else None)
