"""EOS of AFLOW prototypes: E0 − E0(bcc), V0, B0 (and a0 of bcc) vs DFT (seed 000 Fig. 6)."""
import pytest

from revem.data import DataUnavailable, read_frames
from revem.properties import eos as prop


@pytest.mark.revem_cases.with_args(prop.cases)
def test_eos(potential, element, case, revem):
    res = prop.compute(potential, element, case, revem.tier)
    dft = {}
    if element == "W" and case in prop.EOS_DATA_GROUPS.values():
        try:  # DFT points decorate the E-V plot only; the stored references need no data file
            dft = {case: prop.dft_curves(read_frames(prop.EOS_DATA))[case]}
        except (DataUnavailable, KeyError):
            dft = {}
    note = "; ".join(res["notes"])
    # a prototype that relaxed into another structure is reported, never scored
    check = revem.report if res["relaxed_into"] else revem.check
    unc, ok = res["uncertainty"], res["converged"]
    check(prop.PROPERTY, case, "V0", res["V0"], prop.UNITS["V0"], note=note, data=prop.curve_data(res, dft),
          uncertainty=unc["V0"], converged=ok)
    check(prop.PROPERTY, case, "B0", res["B0"], prop.UNITS["B0"], note=note, uncertainty=unc["B0"], converged=ok)
    check(prop.PROPERTY, case, "B0_prime", res["B0_prime"], prop.UNITS["B0_prime"], note=note,
          uncertainty=unc["B0_prime"], converged=ok)
    if case == "bcc":
        check(prop.PROPERTY, case, "a0", res["a0"], prop.UNITS["a0"], note=note, uncertainty=unc.get("a0"), converged=ok)
    else:
        check(prop.PROPERTY, case, "E0_rel", res["E0_rel"], prop.UNITS["E0_rel"], note=note,
              uncertainty=unc["E0_rel"], converged=ok)
