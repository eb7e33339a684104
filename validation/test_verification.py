"""Verification checks (forces, stress, invariances) for every potential."""
import pytest

from revem.properties import verification as prop


@pytest.mark.revem_cases.with_args(prop.cases)
def test_verification(potential, element, case, revem):
    dev = prop.compute(potential, element, case)
    revem.check(prop.PROPERTY, case, "max_deviation", dev, prop.UNITS[case], refs=[prop.reference(element, case)])
