"""The pytest machinery of the validation harness (``validation/conftest.py`` imports it).

Options: ``--potential`` (repeatable), ``--element`` (repeatable, exact symbol), ``--report-dir``,
``--baseline``, ``--allow-partial-baseline``, ``--tier``, ``--fail-on``.  Test ids read
``test_<property>[<potential>-<element>-<case>]``.  Each test scores numbers through the ``revem``
fixture; the records travel to the controller in ``user_properties`` (so ``-n auto`` works), are
appended to a journal in the report folder as each case finishes, and are merged into
``results.json`` and written as reports at the end of the session (see :mod:`revem.validation.results`).

Everything that can be checked before a single case runs is checked in ``pytest_configure`` and
stops the run with a usage error naming the problem: potentials that cannot be loaded or share a
name, an element no requested potential covers, a report directory that cannot be written, a
baseline that is not a revem results file or was made with another tier or protocol version.
Session state lives on ``config.stash``.
"""
from __future__ import annotations

import datetime
import json
import math
import os
import platform
import random
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from . import references
from . import results as results_io
from ..data import DataUnavailable, fetch, read_frames
from .scoring import Record, compare_baseline, score

TIERS = ("smoke", "standard", "full")
FAIL_ON = ("auto", "all", "reference", "regression", "worse")
_RECORD_KEY = "revem_record"
_CASE_KEY = "revem_case"
_CASE_COVERAGE: dict = {}  # (protocol, potential content, element, case, tier) -> coverage.CaseCoverage


@dataclass
class HarnessState:
    """Per-session state of the harness (on ``config.stash``)."""

    active: bool = False  # the session runs the validation tests (see harness_requested)
    potentials: dict = field(default_factory=dict)  # spec -> Potential
    elements: list = field(default_factory=list)  # --element, [] = every element of the potentials
    properties: list = field(default_factory=list)  # --property, [] = every property
    tier: str = "standard"
    fail_on: str = "reference"
    report_dir: Path = Path("reports")
    baseline: results_io.Baseline | None = None
    allow_partial: bool = False
    protocol_versions: dict = field(default_factory=dict)
    collected: list = field(default_factory=list)  # records received by the controller
    skipped_cases: list = field(default_factory=list)  # (potential, element, property, case, reason)
    ran_cases: set = field(default_factory=set)  # (potential, element, property, case)
    folders: list = field(default_factory=list)
    problems: list = field(default_factory=list)  # end-of-session errors (baseline coverage)
    notes: list = field(default_factory=list)  # end-of-session notes (vanished baseline records)
    regressions: list = field(default_factory=list)
    run_id: str = field(default_factory=lambda: f"{os.getpid()}-{datetime.datetime.now().timestamp():.6f}")
    date: str = field(default_factory=lambda: datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    targets: dict = field(default_factory=dict)  # spec -> Target (content hash computed once per session)
    metas: dict = field(default_factory=dict)  # (potential, element) -> results meta


STATE = pytest.StashKey[HarnessState]()


def pytest_addoption(parser):
    g = parser.getgroup("revem", "revem validation harness")
    g.addoption("--potential", action="append", default=[], metavar="POT",
                help="catalog name, potential card (.yaml) or potential file; repeatable (default: every catalog potential)")
    g.addoption("--element", action="append", default=[], metavar="EL",
                help="validate only this element (exact chemical symbol, repeatable; unlike -k, 'W' does not match "
                     "'twist' or 'MoNbTaW'). Default: every element of the potentials")
    g.addoption("--property", action="append", default=[], metavar="PROP", dest="revem_property",
                help="run only this property protocol (exact name, repeatable: eos, elastic, defects, ...). "
                     "Default: every property")
    g.addoption("--report-dir", default="reports", help="where <potential>/<element>/results.json, report.md and plots go (default: reports)")
    g.addoption("--baseline", default=None, help="an earlier results.json (or report dir): fail cases that moved by more than their noise")
    g.addoption("--allow-partial-baseline", action="store_true",
                help="accept a baseline that lacks some of the numbers computed now (they are listed, not failed)")
    g.addoption("--tier", default="standard", choices=TIERS, help="smoke (CI minutes), standard (default), full (papers)")
    g.addoption("--fail-on", default="auto", choices=FAIL_ON,
                help="what fails a test: disagreement with the DFT reference ('reference'), any move from --baseline "
                     "beyond its noise ('regression'), only moves away from the reference ('worse'), or 'all'. "
                     "auto (default): 'reference' without --baseline, 'regression' with it. Exact identities and "
                     "unconverged protocols always fail.")


def harness_requested(config) -> bool:
    """Whether this pytest session runs the validation harness: a revem option was given, or an argument
    names the packaged tests (``--pyargs revem.validation``) or a folder/file that collects them."""
    o = config.option
    if getattr(o, "potential", None) or getattr(o, "element", None) or getattr(o, "revem_property", None) \
            or getattr(o, "baseline", None):
        return True
    pkg = Path(__file__).resolve().parent
    for a in config.args:
        a = str(a).split("::")[0]
        if a == "revem.validation" or a.startswith("revem.validation."):
            return True
        try:
            p = Path(a).resolve()
        except (OSError, ValueError):
            continue
        if p == pkg or pkg in p.parents:
            return True
        f = p / "test_properties.py" if p.is_dir() else p
        try:
            if f.name == "test_properties.py" and f.is_file() and f.stat().st_size < 65536 \
                    and "revem.validation" in f.read_text(errors="replace"):
                return True
        except OSError:
            continue
    return False


def _is_worker(config) -> bool:
    return hasattr(config, "workerinput")


def _usage(msg: str):
    raise pytest.UsageError(f"revem: {msg}")


def _load_potentials(specs: list[str]) -> dict:
    from ..potentials import PotentialError, catalog, load_potential

    out, by_name = {}, {}
    for spec in specs or list(catalog()):
        try:
            pot = load_potential(spec)
        except (PotentialError, OSError, ValueError) as exc:
            _usage(f"--potential {spec}: {exc}")
        try:
            results_io.check_name(pot.name)
        except results_io.ResultsFileError as exc:
            _usage(f"--potential {spec}: {exc}")
        if pot.name in by_name:
            _usage(f"two potentials are called '{pot.name}' ({by_name[pot.name]} and {spec}); their reports would "
                   "be merged into one folder. Give one of them another 'name:' in its card")
        by_name[pot.name] = spec
        out[spec] = pot
    return out


def _check_report_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".revem-write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        _usage(f"--report-dir {path} cannot be written ({exc.strerror or exc}); nothing was run")


def pytest_configure(config):
    config.addinivalue_line("markers", "revem_cases(func): func(element, tier) -> list of case names for this test")
    config.addinivalue_line("markers", "slow: long-running case")
    from ..lammps_runtime import pin_blas_threads
    from .properties import protocol_versions

    # small cells: threaded BLAS only adds overhead, and xdist workers share the cores.  REVEM_BLAS_THREADS
    # changes it (tests/test_noise.py shows the numbers stay within their noise when it does)
    pin_blas_threads(int(os.environ.get("REVEM_BLAS_THREADS", "1") or 1))
    st = HarnessState()
    config.stash[STATE] = st
    if not harness_requested(config):  # an unrelated pytest session: the plugin stays passive
        return
    st.active = True
    st.tier = config.getoption("--tier")
    st.report_dir = Path(config.getoption("--report-dir")).resolve()
    st.allow_partial = config.getoption("--allow-partial-baseline")
    st.protocol_versions = protocol_versions()
    st.fail_on = config.getoption("--fail-on")
    base = config.getoption("--baseline")
    if st.fail_on == "auto":
        st.fail_on = "regression" if base else "reference"
    if st.fail_on in ("regression", "worse") and not base:
        _usage(f"--fail-on {st.fail_on} needs --baseline (an earlier results.json or report dir)")
    st.potentials = _load_potentials(config.getoption("--potential"))
    from .protocol import Target

    st.targets = {spec: Target.of(pot) for spec, pot in st.potentials.items()}
    from ase.data import atomic_numbers

    for el in config.getoption("--element"):
        if el not in atomic_numbers or not el[:1].isupper():
            _usage(f"--element {el}: not a chemical symbol")
        if not any(el in p.elements for p in st.potentials.values()):
            covered = ", ".join(f"{p.name}: {' '.join(p.elements)}" for p in st.potentials.values())
            _usage(f"--element {el}: no requested potential covers {el} ({covered})")
        st.elements.append(el)
    explicit = bool(config.getoption("--potential"))
    for spec, p in list(st.potentials.items()):
        if st.elements and not any(el in p.elements for el in st.elements):
            if explicit:
                _usage(f"--potential {p.name} covers {' '.join(p.elements)}, not {' '.join(st.elements)}: it would "
                       "run nothing")
            del st.potentials[spec], st.targets[spec]  # the catalog by default: only potentials of the element
    from .properties import protocols

    for prop in config.getoption("revem_property"):
        if prop not in protocols():
            _usage(f"--property {prop}: no such property protocol (known: {', '.join(protocols())})")
        st.properties.append(prop)
    if base:
        try:
            st.baseline = results_io.Baseline(base)
            st.baseline.check_against(st.tier, st.protocol_versions)
        except results_io.ResultsFileError as exc:
            _usage(str(exc))
    if not _is_worker(config):
        _check_report_dir(st.report_dir)
        config.pluginmanager.register(_Journal(config), "revem-journal")


def _state(config) -> HarnessState:
    return config.stash[STATE]


def _versions() -> dict:
    import ase

    from ..lammps_runtime import lammps_version

    try:
        import pyace

        pyace_v = getattr(pyace, "__version__", "?")
    except ImportError:
        pyace_v = "not installed"
    try:
        lmp_v = lammps_version()
    except Exception as exc:  # noqa: BLE001
        lmp_v = f"unavailable ({exc})"
    return {"lammps": lmp_v, "pyace": pyace_v, "ase": ase.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def run_meta(config, pot, element: str) -> dict:
    """The ``meta`` of a results file: what was run, with what, where and when (made once per potential
    and element: it is written with every journalled case)."""
    from .. import __version__

    st = _state(config)
    key = (pot.name, element)
    if key not in st.metas:
        target = st.targets[next(spec for spec, p in st.potentials.items() if p.name == pot.name)]
        st.metas[key] = {
            "revem": __version__, "tier": st.tier, "element": element, "fail_on": st.fail_on,
            "potential": {"name": pot.name, "kind": pot.kind, "source": pot.source, "sha256": target.key,
                          "elements": list(pot.elements), "citation": pot.citation,
                          "commands": list(getattr(pot, "lammps_commands", []) or []),
                          "callable": getattr(pot, "ase_callable", ""),
                          "files": [str(f) for f in (getattr(pot, "files", []) or [])],
                          "trust": list(getattr(pot, "trust", []) or [])},
            "protocol_versions": dict(st.protocol_versions), "versions": _versions(),
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]), "date": st.date,
            "host": socket.gethostname(), "run_id": st.run_id,
            "baseline": str(st.baseline.path) if st.baseline else None}
        if getattr(pot, "training_data", None):
            st.metas[key]["potential"]["training_data"] = [
                {"name": e["name"], "every": e["every"], "registry": e["registry"]} for e in pot.training_data]
            st.metas[key]["training_domain"] = _domain_summary(pot, element)
    return st.metas[key]


def _domain_summary(pot, element: str) -> dict:
    """What the coverage labels of ``pot`` are calibrated on (:mod:`revem.validation.coverage`), or why there are none."""
    from . import coverage

    try:
        return coverage.domain_for(pot, element).summary()
    except (coverage.CoverageError, DataUnavailable, OSError, ValueError) as exc:
        return {"error": str(exc)[:300]}


def pytest_report_header(config):
    from .. import __version__

    st = _state(config)
    v = _versions()
    lines = [f"revem {__version__}, LAMMPS {v['lammps']}, pyace {v['pyace']}, ASE {v['ase']}, numpy {v['numpy']}, "
             f"python {v['python']}; tier {st.tier}; fail on {st.fail_on}"]
    for spec, p in st.potentials.items():
        lines.append(f"potential {p.name}: {p.kind}, elements {','.join(p.elements)}, sha256 {st.targets[spec].key[:16]}"
                     + (f", TRUSTED: {'; '.join(p.trust)}" if getattr(p, "trust", None) else ""))
    if st.baseline:
        lines.append(f"baseline {st.baseline.path} ({len(st.baseline.files)} results files)")
    lines.append(f"REVEM_DATA_DIR={os.environ.get('REVEM_DATA_DIR', '(unset: data-backed cases skip)')}")
    return lines


def pytest_generate_tests(metafunc):
    if "potential" not in metafunc.fixturenames or not _state(metafunc.config).active:
        return
    st = _state(metafunc.config)
    marker = metafunc.definition.get_closest_marker("revem_cases")
    cases_fn = marker.args[0] if marker else None

    with_case = "case" in metafunc.fixturenames
    params, ids = [], []
    for spec, pot in st.potentials.items():
        for el in pot.elements:
            if st.elements and el not in st.elements:
                continue
            cases = list(cases_fn(el, st.tier)) if (cases_fn and with_case) else [None]
            for c in cases:
                params.append((spec, el, c) if with_case else (spec, el))
                ids.append(f"{pot.name}-{el}" + (f"-{c}" if with_case else ""))
    names = ("potential", "element", "case") if with_case else ("potential", "element")
    metafunc.parametrize(names, params, ids=ids, scope="function")


def _item_case(item) -> dict | None:
    cs = getattr(item, "callspec", None)
    if cs is None or "potential" not in cs.params or not isinstance(cs.params["potential"], str):
        return None  # not a revem case, or pytest's placeholder of an empty parameter set
    st = _state(item.config)
    pot = st.potentials.get(cs.params["potential"])
    prop = getattr(item, "originalname", item.name).removeprefix("test_")
    return {"potential": pot.name if pot else str(cs.params["potential"]), "element": cs.params.get("element"),
            "property": prop, "case": str(cs.params.get("case"))}


def _is_empty_parameter_set(item) -> bool:
    cs = getattr(item, "callspec", None)
    return cs is not None and "potential" in cs.params and not isinstance(cs.params["potential"], str)


def _keyword_matcher(item, symbols: frozenset):
    """pytest's ``-k`` matcher for ``item``, except that an identifier spelled exactly like a chemical
    symbol (``W``, ``Mo``, ``C``) matches the item's *element* only, exactly and case-sensitively."""
    from _pytest.mark import KeywordMatcher

    base = KeywordMatcher.from_item(item)
    info = _item_case(item)
    element = info["element"] if info else None

    def match(name: str, /, **kwargs) -> bool:
        if element is not None and name in symbols:
            return name == element
        return base(name, **kwargs)

    return match


def _select_by_keyword(config, items) -> None:
    """``-k`` with exact element symbols: ``-k W`` selects element W's tests, not ``twist``, ``MoNbTaW`` or
    another element of a W-named potential; ``-k "Mo and vacancy"`` Mo's vacancy.  Other identifiers keep
    pytest's case-insensitive substring meaning.  pytest's own ``-k`` pass is then switched off (it would
    re-apply substring matching: ``-k "not W"`` would drop ``twist``)."""
    expr_text = (config.option.keyword or "").lstrip()
    if not expr_text:
        return
    from _pytest.mark.expression import Expression
    from ase.data import chemical_symbols

    try:
        expr = Expression.compile(expr_text)
    except SyntaxError:
        return  # pytest reports the malformed expression itself
    symbols = frozenset(chemical_symbols[1:])
    keep, drop = [], []
    for it in items:
        (keep if expr.evaluate(_keyword_matcher(it, symbols)) else drop).append(it)
    config.option.keyword = ""
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session, config, items):
    """``-k`` with exact element symbols (see :func:`_select_by_keyword`); ``--property``: keep only the
    tests of the named protocols (exact names, unlike -k)."""
    st = _state(config)
    if not st.active:
        return
    empty = [it for it in items if _is_empty_parameter_set(it)]
    if empty:  # a property without cases for this element is not collected (not a skip per property)
        config.hook.pytest_deselected(items=empty)
        items[:] = [it for it in items if not _is_empty_parameter_set(it)]
    _select_by_keyword(config, items)
    if not st.properties:
        return
    keep, drop = [], []
    for it in items:
        info = _item_case(it)
        (keep if info is None or info["property"] in st.properties else drop).append(it)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    info = _item_case(item)
    if info is not None:
        item.user_properties.append((_CASE_KEY, json.dumps(info)))


class Checker:
    """Scores numbers against stored references and the baseline; failures fail the test at its end."""

    def __init__(self, request, potential: str, element: str):
        self.request = request
        self.state = _state(request.config)
        self.potential_spec = potential
        self.element = element
        self.tier = self.state.tier
        self.fail_on = self.state.fail_on
        self.failures: list[str] = []
        self.records: list[Record] = []
        self.potential = self.state.potentials[potential]
        self.target = self.state.targets[potential]
        self._baseline = (self.state.baseline.records(self.potential.name, self.target.key, element)
                          if self.state.baseline else {})
        self.coverage = None  # revem.validation.coverage.CaseCoverage of the case, when the potential names training data

    @property
    def test_id(self) -> str:
        return self.request.node.name

    def baseline_record(self, prop: str, case: str, quantity: str) -> dict | None:
        return self._baseline.get((self.element, prop, str(case), quantity))

    def check(self, prop: str, case: str, quantity: str, value, unit: str, *, note: str = "",
              data: dict | None = None, refs=None, assert_reference: bool = True, uncertainty: float | None = None,
              converged: bool = True, flag: str | None = None) -> list[Record]:
        """Record ``value`` against every stored reference of (element, prop, case, quantity).

        ``uncertainty`` (same unit) is the protocol's own estimate; ``converged=False`` marks a number
        whose protocol did not converge: it is recorded, never scored, and the case fails.
        """
        refs = references.find(self.element, prop, case, quantity) if refs is None else refs
        recs = []
        for ref in (refs or [None]):
            policy = None if assert_reference else "reported"
            rec = score(value, ref, test_id=self.test_id, potential=self.potential.name, element=self.element,
                        prop=prop, case=str(case), quantity=quantity, unit=unit, note=note, data=data,
                        uncertainty=uncertainty, converged=converged, policy=policy,
                        protocol_version=self.state.protocol_versions.get(prop))
            self._label(rec)
            if flag:  # a physical red flag of the protocol: the number is shown, the case fails
                rec.passed = False
                rec.note = (rec.note + "; " if rec.note else "") + f"FLAG: {flag}"
            old = self.baseline_record(prop, str(case), quantity)
            if not rec.converged:
                if old is not None and old.get("converged") is False and self.fail_on in ("regression", "worse"):
                    rec.baseline = {"old": old.get("value"), "new": rec.value, "delta": None, "noise": rec.noise,
                                    "moved": False, "direction": "unknown", "regression": False}
                    rec.note = (rec.note + "; " if rec.note else "") + "unconverged in the baseline too"
                else:  # an unconverged relaxation is not a number: the case fails, saying so
                    self.failures.append(f"UNCONVERGED {rec.describe()}")
                    if old is not None and old.get("converged", True):
                        rec.baseline = {"old": old.get("value"), "new": rec.value, "delta": None, "noise": rec.noise,
                                        "moved": True, "direction": "away", "regression": True}
                self.request.node.user_properties.append((_RECORD_KEY, json.dumps(rec.to_json())))
                recs.append(rec)
                data = None
                continue
            if rec.passed is False and (rec.policy == "identity" or self.fail_on in ("all", "reference")):
                self.failures.append(rec.describe())
            cmp = compare_baseline(rec, old)
            if cmp is not None:
                regress = cmp["moved"] and (self.fail_on in ("all", "regression")
                                            or (self.fail_on == "worse" and cmp["direction"] == "away"))
                cmp["regression"] = bool(regress)
                rec.baseline = {k: cmp[k] for k in ("old", "new", "delta", "noise", "moved", "direction", "regression")}
                if regress and self.fail_on != "reference":
                    self.failures.append(cmp["message"])
            self.request.node.user_properties.append((_RECORD_KEY, json.dumps(rec.to_json())))
            recs.append(rec)
            data = None  # attach bulky data once
        self.records += recs
        return recs

    def run(self, protocol, case: str):
        """The protocol's measurements of ``case`` on this potential (a Skip becomes a pytest skip).

        For a potential whose card names its ``training_data``, the structures its calculator evaluates
        meanwhile are recorded and the case's coverage (:mod:`revem.validation.coverage`) is attached to every record
        of the case."""
        from .protocol import Skip

        try:
            if not getattr(self.potential, "training_data", None):
                return protocol.run(self.target, self.element, case, self.tier)
            return self._run_recorded(protocol, case)
        except Skip as exc:
            pytest.skip(str(exc))
        except DataUnavailable as exc:
            pytest.skip(str(exc))

    def _run_recorded(self, protocol, case: str):
        from . import coverage

        key = (getattr(protocol, "name", str(protocol)), self.target.key, self.element, str(case), self.tier)
        try:
            domain = coverage.domain_for(self.potential, self.element)
        except (coverage.CoverageError, DataUnavailable, OSError, ValueError) as exc:
            self.coverage = coverage.CaseCoverage(None, None, 0, 0, note=f"no training domain: {exc}"[:300])
            return protocol.run(self.target, self.element, case, self.tier)
        with coverage.recording() as rec:
            try:
                return protocol.run(self.target, self.element, case, self.tier)
            finally:
                if rec.n_seen or rec.n_too_large:
                    try:
                        self.coverage = coverage.case_coverage(domain, rec)
                    except Exception as exc:  # noqa: BLE001 - a label must never lose the case's numbers
                        self.coverage = coverage.CaseCoverage(None, None, rec.n_seen, 0,
                                                              note=f"coverage failed: {type(exc).__name__}: {exc}"[:300])
                    _CASE_COVERAGE[key] = self.coverage
                elif key in _CASE_COVERAGE:  # the protocol's own cache answered: the coverage of that run
                    self.coverage = _CASE_COVERAGE[key]
                else:  # everything it needed was computed (and cached) by an earlier case
                    self.coverage = coverage.CaseCoverage(
                        None, None, 0, 0, note="no structure evaluated in this case (results cached by an earlier case)")

    def _label(self, rec: Record) -> None:
        cov = self.coverage
        if cov is None:
            return
        rec.coverage, rec.domain = cov.ratio, cov.domain
        rec.coverage_structures = cov.n_structures
        if cov.note and cov.ratio is None:
            rec.note = (rec.note + "; " if rec.note else "") + f"coverage: {cov.note}"

    def measure(self, prop: str, case: str, m) -> list[Record]:
        """Score one :class:`revem.validation.protocol.Measurement` (its policy decides how).

        A measurement's ``failure`` (a physical red flag: Born or dynamical instability, a defect that
        left its configuration, ...) fails the case and marks the record ``FLAG:`` in the report -- unless
        the baseline already had it and this is a regression check."""
        flag = None
        if m.failure:
            old = self.baseline_record(prop, m.case or case, m.quantity)
            known = old is not None and (old.get("converged") is False or "FLAG:" in (old.get("note") or "")
                                         or "not scored" in (old.get("note") or ""))
            if not (known and self.fail_on in ("regression", "worse")):  # failed in the baseline too: no regression
                flag = m.failure
                self.fail(m.failure)
        return self.check(prop, m.case or case, m.quantity, m.value, m.unit, note=m.note, data=m.data, refs=m.refs,
                          assert_reference=m.policy != "reported", uncertainty=m.uncertainty, converged=m.converged,
                          flag=flag)

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
def _revem_seed(request):
    if not _state(request.config).active:
        return
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
        info = _item_case(item) or {}
        rec = score(None, None, test_id=checker.test_id, potential=checker.potential.name, element=checker.element,
                    prop=info.get("property", item.name), case=info.get("case", "None"), quantity="error", unit="",
                    note=f"{type(exc).__name__}: {exc}"[:500], policy="identity")
        rec.passed = False
        checker._label(rec)
        item.user_properties.append((_RECORD_KEY, json.dumps(rec.to_json())))
        known = checker.baseline_record(rec.property, rec.case, "error") is not None
        if checker.fail_on in ("regression", "worse") and known:
            outcome.force_result(None)  # it broke the same way in the baseline: not a regression
    elif exc is None and checker.failures:
        outcome.force_exception(pytest.fail.Exception("\n".join(checker.failures), pytrace=False))


class _Journal:
    """Controller-side plugin: journals each finished case's records at once (a killed run keeps them)."""

    def __init__(self, config):
        self.config = config

    def pytest_runtest_logreport(self, report):
        _journal_report(self.config, report)


def _journal_report(config, report):
    props = dict(getattr(report, "user_properties", []) or [])
    info = props.get(_CASE_KEY)
    if info is None:
        return
    info = json.loads(info) if isinstance(info, str) else info
    st = _state(config)
    if report.skipped and report.when in ("setup", "call"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        st.skipped_cases.append({**info, "reason": reason})
        return
    if report.when != "call":
        return
    recs = [json.loads(v) if isinstance(v, str) else v for k, v in report.user_properties if k == _RECORD_KEY]
    st.ran_cases.add((info["potential"], info["element"], info["property"], info["case"]))
    if not recs:
        return
    st.collected += recs
    pot = next((p for p in st.potentials.values() if p.name == info["potential"]), None)
    if pot is None:
        return
    folder = results_io.report_folder(st.report_dir, pot.name, info["element"])
    results_io.append_journal(folder, recs, run_meta(config, pot, info["element"]))
    kill_after = os.environ.get("REVEM_TEST_KILL_AFTER_CASES")  # test hook: a kill -9 mid-run (tests/test_hostile_harness.py)
    if kill_after and len(st.ran_cases) >= int(kill_after):
        os.kill(os.getpid(), 9)


def _baseline_coverage(config) -> list[str]:
    """Numbers computed now that the baseline lacks, and baseline cases skipped now (e.g. missing data)."""
    st = _state(config)
    if st.baseline is None:
        return []
    problems = []
    by_folder: dict = {}
    for r in st.collected:
        by_folder.setdefault((r["potential"], r["element"]), []).append(r)
    for spec, p in st.potentials.items():
        for el in p.elements:
            if st.elements and el not in st.elements:
                continue
            base = st.baseline.records(p.name, st.targets[spec].key, el)
            recs = by_folder.get((p.name, el), [])
            ran = any(pot == p.name and e == el for pot, e, _, _ in st.ran_cases)
            if not ran and not any(s["potential"] == p.name and s["element"] == el for s in st.skipped_cases):
                continue
            if not base:
                problems.append(f"{p.name} / {el}: the baseline {st.baseline.path} has no results for it; nothing was compared")
                continue
            missing = sorted({results_io.record_key(r) for r in recs} - set(base))
            if missing:
                ex = "; ".join("/".join(k[1:]) for k in missing[:5])
                problems.append(f"{p.name} / {el}: {len(missing)} numbers computed now are not in the baseline "
                                f"(e.g. {ex})")
            ran_now = {(prop, case) for pot, e, prop, case in st.ran_cases if pot == p.name and e == el}
            now_keys = {results_io.record_key(r) for r in recs}
            vanished = sorted(k for k in base if (k[1], k[2]) in ran_now and k not in now_keys)
            if vanished:  # reported, not failed: a protocol may drop a quantity (its version says so)
                st.notes.append(f"{p.name} / {el}: {len(vanished)} baseline numbers of the cases run are no longer "
                                f"produced (e.g. {'; '.join('/'.join(k[1:]) for k in vanished[:5])})")
            base_cases = {(k[1], k[2]) for k in base}
            skipped = [s for s in st.skipped_cases if s["potential"] == p.name and s["element"] == el
                       and (s["property"], s["case"]) in base_cases]
            if skipped:
                ex = "; ".join(f"{s['property']}/{s['case']}: {str(s['reason'])[:120]}" for s in skipped[:3])
                problems.append(f"{p.name} / {el}: {len(skipped)} cases the baseline holds were skipped now ({ex})")
    return problems


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    if _is_worker(config) or STATE not in config.stash or not _state(config).active:
        return
    st = _state(config)
    from .report import finalize_folder, write_summary

    st.problems = _baseline_coverage(config)
    if st.baseline is not None and not st.collected:
        st.problems.append("the baseline was given but no number was computed: nothing was compared")
    folders = sorted({results_io.report_folder(st.report_dir, r["potential"], r["element"]) for r in st.collected}
                     | {f.parent for f in st.report_dir.glob(f"*/*/{results_io.JOURNAL}")})
    metas = {}
    for p in st.potentials.values():
        for el in p.elements:
            m = dict(run_meta(config, p, el))
            m["baseline_problems"] = [x for x in st.problems + st.notes if x.startswith(f"{p.name} / {el}:")]
            metas[results_io.report_folder(st.report_dir, p.name, el)] = m
    tr = config.pluginmanager.get_plugin("terminalreporter")
    for folder in folders:
        try:
            out = finalize_folder(folder, metas.get(folder), st.protocol_versions)
        except Exception as exc:  # noqa: BLE001 - the journal stays; say so
            if tr:
                tr.write_line(f"revem: could not write the report of {folder} ({exc}); its records stay in "
                              f"{results_io.JOURNAL}")
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
            continue
        if out is not None:
            st.folders.append(out)
    if st.folders or any(st.report_dir.glob("*/*/results.json")):
        write_summary(st.report_dir)
    if st.problems and not st.allow_partial:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if STATE not in config.stash or _is_worker(config) or not _state(config).active:
        return
    st = _state(config)
    regress = [r for r in st.collected if (r.get("baseline") or {}).get("regression")]
    if regress:
        terminalreporter.section("revem regressions against the baseline")
        for r in regress:
            b = r["baseline"]
            terminalreporter.write_line(
                f"{r['potential']} {r['element']} {r['property']} {r['case']} {r['quantity']}: {_f(b['old'])} -> "
                f"{_f(b['new'])} {r['unit']} (Δ {_f(b['delta'])}, noise ±{_f(b['noise'])}, {b['direction']})")
    if st.problems or st.notes:
        terminalreporter.section("revem baseline coverage")
        for p in st.problems:
            terminalreporter.write_line(("" if st.allow_partial else "ERROR: ") + p)
        for p in st.notes:
            terminalreporter.write_line("note: " + p)
        if st.problems and not st.allow_partial:
            terminalreporter.write_line("(pass --allow-partial-baseline to accept a partial baseline)")
    if st.folders:
        terminalreporter.section("revem reports")
        for f in st.folders:
            try:
                recs = results_io.load(f / "results.json")["records"]
            except results_io.ResultsFileError:
                continue
            n_f = sum(r["passed"] is False for r in recs)
            terminalreporter.write_line(f"{f}/report.md  ({len(recs)} numbers, {n_f} failing)")


def _f(x) -> str:
    if x is None:
        return "none"
    return f"{x:.6g}" if isinstance(x, float) and math.isfinite(x) else str(x)
