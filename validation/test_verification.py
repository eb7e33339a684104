"""Verification checks (forces, stress, invariances) for every potential."""
import pytest

from revem.properties import verification as prop


@pytest.mark.revem_cases.with_args(prop.cases)
def test_verification(potential, element, case, revem):
    dev = prop.compute(potential, element, case)
    scale = prop.precision_and_scale(potential, element)
    ref = prop.reference(element, case, scale["precision"], scale["energy_eV"], scale["volume_A3"])
    note = (f"{scale['precision']} model ({'declared on the card' if scale['declared'] else 'detected'}); "
            f"tolerance {ref.bound():.3g} {prop.UNITS[case]}")
    revem.check(prop.PROPERTY, case, "max_deviation", dev, prop.UNITS[case], refs=[ref], note=note)
