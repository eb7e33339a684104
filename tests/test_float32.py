"""Identity checks scaled to the model's precision: a float32 model passes forces = −∇E and the
invariances within float32 round-off, and fails them when declared float64 (tolerance 1e-3 eV/Å).

The verification protocol runs directly on a Target (a card of kind ``ase`` naming the float32 model), as a
validation run does; the precision comes from :attr:`Target.precision` (the card's ``precision:``) or is
detected from the dtype of the forces."""
import sys
from pathlib import Path

import pytest

from revem.validation.properties import verification as v
from revem.validation.scoring import score
from revem.validation.target import Target

CALCULATORS = Path(__file__).resolve().parent / "calculators"


@pytest.fixture
def float32_card(tmp_path, monkeypatch):
    monkeypatch.setenv("REVEM_TRUSTED_MODULES", "float32_emt")
    monkeypatch.syspath_prepend(str(CALCULATORS))

    def card(precision_line: str, name: str):
        path = tmp_path / f"{name}.yaml"
        path.write_text(f"name: {name}\nelements: [Cu]\nkind: ase\nase: float32_emt:Float32EMT\n{precision_line}")
        return path

    yield card
    sys.modules.pop("float32_emt", None)


def _records(target, element="Cu"):
    out = {}
    for case in v.cases(element, "smoke"):
        (m,) = v.PROTOCOL.run(target, element, case, "smoke")
        ref = m.refs[0]
        out[case] = (m, score(m.value, ref, test_id=case, potential=str(target.name), element=element, prop=v.PROPERTY,
                              case=case, quantity=m.quantity, unit=m.unit, policy=m.policy))
    return out


def test_float32_model_is_judged_at_float32_precision(float32_card):
    # one Target (and session) per card: the three cards name the same model file, so they share a content
    # hash and would share a session cache (see the report: the declared precision is not part of Target.key)
    recs = _records(Target.of(float32_card("", "f32_detected")))  # precision detected from the dtype of its forces
    m, rec = recs["forces_fd"]
    assert "float32 model (detected)" in m.note
    # the round-off is real: a central difference of float32 energies misses −∇E by far more than the
    # float64 tolerance (1e-3 eV/Å), and the float32 tolerance (4 ε |E| / h) covers it
    assert 1e-3 < rec.value < rec.tolerance
    assert all(r.passed for _, r in recs.values()), {c: (r.value, r.tolerance) for c, (_, r) in recs.items()}
    declared = _records(Target.of(float32_card("precision: float32\n", "f32_declared")))
    assert "float32 model (declared)" in declared["forces_fd"][0].note
    assert all(r.passed for _, r in declared.values())


def test_the_same_model_declared_float64_fails_its_identities(float32_card):
    recs = _records(Target.of(float32_card("precision: float64\n", "f32_as_f64")))
    m, rec = recs["forces_fd"]
    assert rec.passed is False and rec.tolerance == 1e-3 and rec.policy == "identity"
    assert "float64 model (declared)" in m.note


@pytest.mark.parametrize("element,lattice", [("Cu", "fcc"), ("Ni", "fcc"), ("Al", "fcc")])
def test_every_element_passes_its_identities_with_a_float64_model(target, element, lattice):
    from ase.calculators.emt import EMT

    t = target(EMT)
    assert v.cases(element, "standard") == v.CASES
    recs = _records(t, element)
    assert all(r.passed for _, r in recs.values()), {c: (r.value, r.tolerance) for c, (_, r) in recs.items()}
    assert recs["rotation"][1].value < 1e-9 and "float64 model (detected)" in recs["rotation"][0].note


def test_verification_runs_on_the_ground_lattice_of_hcp_and_diamond_elements():
    for el in ("Be", "Re", "Os", "C", "W"):
        assert v.cases(el, "smoke") == v.CASES
    assert v.cases("Ga", "smoke") == []
