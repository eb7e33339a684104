"""Surface energies of the 11 bcc facets of seed Table 2, and their ordering (Spearman rho)."""
import pytest

from revem import references
from revem.properties import surfaces as prop
from revem.references import Reference


@pytest.mark.revem_cases.with_args(prop.cases)
def test_surfaces(potential, element, case, revem):
    if case == "ordering":
        gamma = prop.all_facets(potential, element, revem.tier)
        stored = references.load(element, prop.PROPERTY)
        rho_refs = [r for r in stored if r.case == "ordering"]
        if not rho_refs:
            pytest.skip(f"no stored DFT surface energies of {element} to rank against")
        for ref in rho_refs:  # one DFT set per reference: the gamma values sharing its source
            dft = {r.case: r.value for r in stored if r.quantity == "gamma" and r.source == ref.source}
            rho = prop.spearman_rho(gamma, dft)
            revem.check(prop.PROPERTY, case, ref.quantity, rho, "", refs=[ref],
                        note=f"threshold rho >= {ref.value - ref.bound():.2f}", data={"gamma": gamma, "dft": dft})
    elif case == "convergence":
        for facet in ("110", "100", "211", "321"):
            res = prop.convergence(potential, element, facet, revem.tier)
            ref = Reference(element=element, property=prop.PROPERTY, case=case, quantity=f"max_deviation_{facet}",
                            value=0.0, unit=prop.UNIT, source="convergence of the slab thickness and vacuum",
                            tolerance={"abs": prop.CONVERGENCE["tolerance_mJ_per_m2"]})
            revem.check(prop.PROPERTY, case, ref.quantity, res["max_deviation"], prop.UNIT, refs=[ref], data=res)
    else:
        res = prop.compute(potential, element, case, revem.tier)
        note = (f"{res['n_atoms']} atoms, {res['area_A2']:.2f} Å^2, unrelaxed {res['gamma_unrelaxed']:.1f} mJ/m^2"
                + ("" if res["converged"] else f"; NOT converged to fmax {res['fmax_eV_per_A']} eV/Å"))
        revem.check(prop.PROPERTY, case, "gamma", res["gamma"], prop.UNIT, note=note,
                    uncertainty=res.get("uncertainty_mJ_per_m2"), converged=res["converged"])
