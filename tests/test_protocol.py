"""The protocol contract (revem.validation.protocol): targets, measurements, settings, caching, and any ASE
calculator running the same protocol as a potential."""
import pytest
from ase.calculators.emt import EMT

from revem.validation.properties import protocol_versions, protocols
from revem.validation.protocol import Measurement, Protocol, Target, merge_settings


def test_every_property_is_a_protocol_with_a_version():
    ps = protocols()
    assert set(ps) >= {"eos", "elastic", "defects", "surfaces", "gsfe", "grain_boundaries", "paths", "nve",
                       "dataset_errors", "verification", "cohesive", "phonons", "robustness"}
    for name, p in ps.items():
        assert isinstance(p, Protocol) and p.name == name and p.version >= 1
        assert callable(p.cases) and callable(p.measure)
    assert protocol_versions()["common"] >= 1


def test_target_is_hashable_by_content():
    a, b = Target.of("W_zhou"), Target.of("W_zhou")
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != Target.of("W_quadratic")
    from revem.potentials import load_potential

    assert Target.of(load_potential("W_zhou")) == a  # a Potential object is the same target


def test_target_wraps_any_ase_calculator_factory_or_object():
    t = Target.of(EMT, name="emt")
    assert t.name == "emt" and t.calculator() is not t.calculator()  # fresh calculators
    obj = EMT()
    o = Target.of(obj, elements=["Cu"])  # an object: every calculator() evaluates with that object
    assert o.name == "EMT" and o.elements == ["Cu"] and o.shared_instance
    assert o.calculator().inner is obj
    assert Target.of(obj).key == Target.of(obj).key and Target.of(obj).key != Target.of(EMT()).key
    with pytest.raises(TypeError, match="zero-argument factory"):
        Target.of(3.14)


def test_targets_share_the_session_they_are_bound_to():
    from revem.validation.session import Session

    s = Session()
    a = Target.of("W_zhou", session=s)
    b = Target.of(a, session=Session())
    assert b.session is not s and b.key == a.key and a.session is s
    assert a.memo("x", compute=lambda: 1) == 1 and a.memo("x", compute=lambda: 2) == 1  # cached in its session
    assert b.memo("x", compute=lambda: 2) == 2  # another session (another run) computes again


def test_measurement_checks_policy_and_value():
    with pytest.raises(ValueError, match="policy"):
        Measurement("x", 1.0, "eV", policy="sometimes")
    with pytest.raises(TypeError, match="not a number"):
        Measurement("x", "abc", "eV")
    assert Measurement("x", float("nan"), "eV").value is None


def test_settings_merge_in_one_place():
    assert merge_settings({"a": 1, "b": 2}, {"smoke": {"b": 3}}, "smoke") == {"a": 1, "b": 3}
    assert merge_settings({"a": 1}, {}, "full") == {"a": 1}
    with pytest.raises(ValueError, match="tier"):
        merge_settings({}, {}, "quick")


def test_an_ase_calculator_runs_the_same_protocol_as_a_potential():
    # ASE's EMT copper through the EOS protocol: the fitted fcc volume per atom is EMT's own (a = 3.59 Å)
    eos = protocols()["eos"]
    ms = {m.quantity: m for m in eos.run(Target.of(EMT, name="emt-Cu"), "Cu", "fcc", "smoke")}
    assert ms["V0"].unit == "Å^3/atom" and ms["V0"].value == pytest.approx(3.59 ** 3 / 4, rel=0.01)
    assert ms["B0"].uncertainty is not None and ms["B0"].uncertainty < 0.05 * ms["B0"].value
    assert all(m.converged for m in ms.values())


def test_run_caches_per_target_element_case_tier():
    calls = []

    class Count(Protocol):
        name = "count"

        def cases(self, element, tier):
            return ["x"]

        def measure(self, target, element, case, tier):
            calls.append((target.name, element, case, tier))
            return [Measurement("n", len(calls), "")]

    p = Count()
    t = Target.of(EMT, name="emt")
    assert p.run(t, "Cu", "x", "smoke")[0].value == 1
    assert p.run(t, "Cu", "x", "smoke")[0].value == 1  # cached
    assert p.run(t, "Cu", "x", "full")[0].value == 2  # another tier
    assert len(calls) == 2
