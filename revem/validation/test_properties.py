"""Every property protocol of ``revem.validation.properties``, one test function each: ``test_<property>``.

Test ids read ``test_<property>[<potential>-<element>-<case>]``; each test is one case of the run
(:class:`revem.validation.engine.CaseId`), measured and scored by the engine
(:meth:`revem.validation.engine.Engine.run_case`) through the ``revem`` fixture of the plugin.
A new property needs its module in ``revem/validation/properties/`` (with a ``PROTOCOL``) and its
reference file: nothing here changes.  Run with ``pytest --pyargs revem.validation --element W ...``.
"""
import pytest

from revem.validation.properties import protocols


def _make_test(name: str, proto):
    @pytest.mark.revem_property(name)
    def test(case, revem):
        revem.run(case)

    test.__name__ = test.__qualname__ = f"test_{name}"
    test.__doc__ = (proto.__doc__ or "").strip()
    return test


for _name, _proto in protocols().items():
    globals()[f"test_{_name}"] = _make_test(_name, _proto)
