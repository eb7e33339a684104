"""The pytest machinery of the validation harness (``validation/conftest.py`` imports it).

Options: ``--potential`` (repeatable), ``--report-dir``, ``--baseline``, ``--tier``.
Test ids read ``test_<property>[<potential>-<element>-<case>]``.  Each test scores numbers
through the ``revem`` fixture; the records travel to the controller in ``user_properties``
(so ``-n auto`` works) and are written as reports at the end of the session.
"""
from __future__ import annotations

import json
import os
import platform
import random
import sys
from pathlib import Path

import numpy as np
import pytest

from . import references
from .data import DataCorrupt, DataUnavailable, fetch, read_frames
from .scoring import Record, compare_baseline, load_baseline, score

TIERS = ("smoke", "standard", "full")
_RECORD_KEY = "revem_record"


def pytest_addoption(parser):
    g = parser.getgroup("revem", "revem validation harness")
    g.addoption("--potential", action="append", default=[], metavar="POT",
                help="catalog name, potential card (.yaml) or potential file; repeatable (default: every catalog potential)")
    g.addoption("--report-dir", default="reports", help="where <potential>/<element>/results.json, report.md and plots go (default: reports)")
    g.addoption("--baseline", default=None, help="an earlier results.json (or report dir): fail cases that moved by more than their noise")
    g.addoption("--tier", default="standard", choices=TIERS, help="smoke (CI minutes), standard (default), full (papers)")
    g.addoption("--fail-on", default="auto", choices=("auto", "all", "reference", "regression"),
                help="what fails a test: disagreement with the DFT reference, a move from --baseline, or both. "
                     "auto (default): 'reference' without --baseline, 'regression' with it (a CI regression check). "
                     "Exact identities (verification checks) always fail.")


def _specs(config) -> list[str]:
    from .potentials import catalog

    return list(config.getoption("--potential") or catalog())


def pytest_configure(config):
    config.addinivalue_line("markers", "revem_cases(func): func(element, tier) -> list of case names for this test")
    config.addinivalue_line("markers", "slow: long-running case")
    config._revem_records = []
    base = config.getoption("--baseline")
    config._revem_baseline = load_baseline(base) if base else {}
    from .lammps_runtime import pin_blas_threads

    pin_blas_threads(1)  # small cells: threaded BLAS only adds overhead, and xdist workers share the cores


def pytest_report_header(config):
    from . import __version__
    from .lammps_runtime import lammps_version
    from .potentials import load_potential

    import ase

    try:
        import pyace

        pyace_v = getattr(pyace, "__version__", "?")
    except ImportError:
        pyace_v = "not installed"
    try:
        lmp_v = lammps_version()
    except Exception as exc:  # noqa: BLE001
        lmp_v = f"unavailable ({exc})"
    lines = [f"revem {__version__}, LAMMPS {lmp_v}, pyace {pyace_v}, ASE {ase.__version__}, numpy {np.__version__}, "
             f"python {platform.python_version()}; tier {config.getoption('--tier')}"]
    for spec in _specs(config):
        try:
            p = load_potential(spec)
            lines.append(f"potential {p.name}: {p.kind}, elements {','.join(p.elements)}, sha256 {p.file_hash[:16]}")
        except Exception as exc:  # noqa: BLE001
            lines.append(f"potential {spec}: cannot load ({exc})")
    lines.append(f"REVEM_DATA_DIR={os.environ.get('REVEM_DATA_DIR', '(unset: data-backed cases skip)')}")
    return lines


def pytest_generate_tests(metafunc):
    if "potential" not in metafunc.fixturenames:
        return
    from .potentials import load_potential

    tier = metafunc.config.getoption("--tier")
    marker = metafunc.definition.get_closest_marker("revem_cases")
    cases_fn = marker.args[0] if marker else None
    with_case = "case" in metafunc.fixturenames
    params, ids = [], []
    for spec in _specs(metafunc.config):
        pot = load_potential(spec)
        for el in pot.elements:
            cases = list(cases_fn(el, tier)) if (cases_fn and with_case) else [None]
            for c in cases:
                params.append((spec, el, c) if with_case else (spec, el))
                ids.append(f"{pot.name}-{el}" + (f"-{c}" if with_case else ""))
    names = ("potential", "element", "case") if with_case else ("potential", "element")
    metafunc.parametrize(names, params, ids=ids, scope="function")


class Checker:
    """Scores numbers against stored references and the baseline; failures fail the test at its end."""

    def __init__(self, request, potential: str, element: str):
        self.request = request
        self.potential_spec = potential
        self.element = element
        self.tier = request.config.getoption("--tier")
        self.fail_on = request.config.getoption("--fail-on")
        if self.fail_on == "auto":
            self.fail_on = "regression" if request.config.getoption("--baseline") else "reference"
        self.failures: list[str] = []
        self.records: list[Record] = []
        from .potentials import load_potential

        self.potential = load_potential(potential)

    @property
    def test_id(self) -> str:
        return self.request.node.name

    def check(self, prop: str, case: str, quantity: str, value, unit: str, *, note: str = "",
              data: dict | None = None, refs=None, assert_reference: bool = True) -> list[Record]:
        """Record ``value`` against every stored reference of (element, prop, case, quantity)."""
        refs = references.find(self.element, prop, case, quantity) if refs is None else refs
        recs = []
        for ref in (refs or [None]):
            rec = score(value, ref if assert_reference else None, test_id=self.test_id, potential=self.potential.name,
                        element=self.element, prop=prop, case=case, quantity=quantity, unit=unit, note=note, data=data)
            if not assert_reference and ref is not None:  # reported against the reference, not asserted
                rec.reference, rec.reference_source = ref.value, ref.source
                rec.error = None if value is None else float(value) - ref.value
                rec.error_pct = 100 * rec.error / ref.value if (rec.error is not None and ref.value) else None
            strict = bool(ref is not None and ref.extra.get("strict"))
            if rec.passed is False and (strict or self.fail_on in ("all", "reference")):
                self.failures.append(rec.describe())
            msg = compare_baseline(rec, self.request.config._revem_baseline)
            if msg and self.fail_on in ("all", "regression"):
                self.failures.append(msg)
            self.request.node.user_properties.append((_RECORD_KEY, json.dumps(rec.to_json())))
            recs.append(rec)
            data = None  # attach bulky data once
        self.records += recs
        return recs

    def report(self, prop, case, quantity, value, unit, **kw) -> list[Record]:
        """Record a number without asserting it (shown against a reference if one exists)."""
        return self.check(prop, case, quantity, value, unit, assert_reference=False, **kw)

    def fail(self, message: str) -> None:
        self.failures.append(message)

    def require_data(self, name: str) -> Path:
        """The local path of a registry data file, or skip the test naming the missing file."""
        try:
            return fetch(name)
        except DataUnavailable as exc:
            pytest.skip(str(exc))

    def frames(self, name: str, index=":"):
        self.require_data(name)
        return read_frames(name, index)


@pytest.fixture
def revem(request, potential, element):
    return Checker(request, potential, element)


@pytest.fixture(autouse=True)
def _revem_seed():
    random.seed(20261121)
    np.random.seed(20261121)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    outcome = yield
    checker = getattr(item, "funcargs", {}).get("revem")
    if not isinstance(checker, Checker):
        return
    exc = outcome.excinfo[1] if outcome.excinfo else None
    if exc is not None and not isinstance(exc, (pytest.skip.Exception, pytest.fail.Exception, AssertionError)):
        # the potential or protocol broke (e.g. atoms collapsed): keep it in the report as a failed case
        prop = item.originalname.removeprefix("test_") if hasattr(item, "originalname") else item.name
        case = item.callspec.params.get("case") if hasattr(item, "callspec") else None
        rec = score(None, None, test_id=checker.test_id, potential=checker.potential.name, element=checker.element,
                    prop=prop, case=str(case), quantity="error", unit="",
                    note=f"{type(exc).__name__}: {exc}"[:500])
        rec.passed = False
        item.user_properties.append((_RECORD_KEY, json.dumps(rec.to_json())))
        known = (checker.test_id, str(case), "error") in item.config._revem_baseline
        if checker.fail_on == "regression" and known:
            outcome.force_result(None)  # it broke the same way in the baseline: not a regression
    elif exc is None and checker.failures:
        outcome.force_exception(AssertionError("\n".join(checker.failures)))


def pytest_runtest_logreport(report):
    if report.when != "call":
        return
    for key, val in getattr(report, "user_properties", []):
        if key == _RECORD_KEY:
            _COLLECTED.append(json.loads(val) if isinstance(val, str) else val)


_COLLECTED: list[dict] = []


def _is_worker(config) -> bool:
    return hasattr(config, "workerinput")


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    if _is_worker(config) or not _COLLECTED:
        return
    from .report import write_reports
    from . import __version__

    header = {"revem": __version__, "tier": config.getoption("--tier"), "python": sys.version.split()[0]}
    config._revem_report_folders = write_reports(_COLLECTED, config.getoption("--report-dir"), header)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    folders = getattr(config, "_revem_report_folders", None)
    if folders:
        terminalreporter.section("revem reports")
        for f in folders:
            recs = json.loads((f / "results.json").read_text())
            n_f = sum(r["passed"] is False for r in recs)
            terminalreporter.write_line(f"{f}/report.md  ({len(recs)} numbers, {n_f} failing)")
