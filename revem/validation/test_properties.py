"""Every property protocol of ``revem.validation.properties``, one test function each: ``test_<property>``.

Test ids read ``test_<property>[<potential>-<element>-<case>]``.  The protocol measures
(``Protocol.run``: cached per potential content, element, case, tier), the ``revem`` fixture scores
each measurement against the stored references and the baseline (``revem.validation.plugin``).  A new
property needs its module in ``revem/validation/properties/`` (with a ``PROTOCOL``) and its reference file:
nothing here changes.
"""
import pytest

from revem.validation.properties import protocols


def _make_test(proto):
    @pytest.mark.revem_cases.with_args(proto.cases)
    def test(potential, element, case, revem):
        for name in proto.required_data(element, case):
            revem.require_data(name)  # absent: skipped, naming the file
        for m in revem.run(proto, case):
            revem.measure(proto.name, case, m)

    test.__name__ = test.__qualname__ = f"test_{proto.name}"
    test.__doc__ = (proto.__doc__ or "").strip()
    return test


for _name, _proto in protocols().items():
    globals()[f"test_{_name}"] = _make_test(_proto)
