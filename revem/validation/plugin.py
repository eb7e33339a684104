"""The revem pytest plugin: the validation harness as pytest tests, one test per case.

Registered through the ``pytest11`` entry point of the revem package, so once revem is installed::

    pytest --pyargs revem.validation --element W --potential my_W.yace [--property eos] [-k EXPR]
    pytest validation --element W --potential my_W.yace          # the same from a checkout

Options: ``--potential`` (repeatable), ``--element`` (repeatable, exact symbol), ``--property``
(repeatable), ``--report-dir``, ``--baseline``, ``--allow-partial-baseline``, ``--tier``, ``--fail-on``.
Test ids read ``test_<property>[<potential>-<element>-<case>]``.  In ``-k`` expressions an identifier
spelled exactly like a chemical symbol means that element.

The plugin is a front door of :class:`revem.validation.engine.Engine` (the other is
:func:`revem.validate`): collection is :meth:`Engine.collect`, each test is :meth:`Engine.run_case`,
and the process that owns the session (the xdist controller) writes the report folders through
:class:`revem.validation.writer.RunWriter` as each case finishes.  In any other pytest session (a
project that has revem installed runs its own tests) the plugin is passive.  Everything that can be
checked before a case runs is checked in ``pytest_configure`` and stops the run with a usage error
naming the problem.  Session state lives on ``config.stash``.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # before numpy loads BLAS
    os.environ.setdefault(_var, "1")

import json  # noqa: E402
import math  # noqa: E402
import random  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

_OUTCOME_KEY = "revem_outcome"


@dataclass
class _Harness:
    """Per-session state of the harness (on ``config.stash``)."""

    active: bool = False
    engine: object = None  # revem.validation.engine.Engine
    writer: object = None  # revem.validation.writer.RunWriter (controller only)
    outcomes: list = field(default_factory=list)  # CaseOutcome s received by the controller
    problems: list = field(default_factory=list)  # baseline coverage errors at the end
    notes: list = field(default_factory=list)
    n_done: int = 0


STATE = pytest.StashKey[_Harness]()


def pytest_addoption(parser):
    from .engine import FAIL_ON, FAIL_ON_HELP, TIERS

    g = parser.getgroup("revem", "revem validation harness")
    g.addoption("--potential", action="append", default=[], metavar="POT",
                help="catalog name, potential card (.yaml) or potential file; repeatable (default: every catalog "
                     "potential covering --element)")
    g.addoption("--element", action="append", default=[], metavar="EL",
                help="validate only this element (exact chemical symbol, repeatable). Default: every element of the potentials")
    g.addoption("--property", action="append", default=[], metavar="PROP", dest="revem_property",
                help="run only this property protocol (exact name, repeatable: eos, elastic, defects, ...)")
    g.addoption("--report-dir", default="reports",
                help="where <potential>/<element>/<tier>/results.json, report.md and plots go (default: reports)")
    g.addoption("--baseline", default=None,
                help="an earlier results.json or report dir: fail cases that moved by more than their noise")
    g.addoption("--allow-partial-baseline", action="store_true",
                help="accept a baseline that lacks some of the numbers computed now (they are listed, not failed)")
    g.addoption("--tier", default="standard", choices=TIERS, help="smoke (CI minutes), standard (default), full (papers)")
    g.addoption("--fail-on", default="auto", choices=FAIL_ON, help=FAIL_ON_HELP)


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


def _state(config) -> _Harness:
    return config.stash[STATE]


def pytest_configure(config):
    config.addinivalue_line("markers", "revem_property(name): the validation test of property `name`")
    st = _Harness()
    config.stash[STATE] = st
    if not harness_requested(config):  # an unrelated pytest session: the plugin stays passive
        return
    from ..lammps_runtime import pin_blas_threads
    from .engine import ConfigError, Engine, RunConfig, load_targets

    # small cells: threaded BLAS only adds overhead, and xdist workers share the cores.  REVEM_BLAS_THREADS
    # changes it (tests/test_noise.py shows the numbers stay within their noise when it does)
    pin_blas_threads(int(os.environ.get("REVEM_BLAS_THREADS", "1") or 1))
    try:
        rc = RunConfig(tier=config.getoption("--tier"), fail_on=config.getoption("--fail-on"),
                       report_dir=config.getoption("--report-dir"), baseline=config.getoption("--baseline"),
                       allow_partial_baseline=config.getoption("--allow-partial-baseline"),
                       elements=list(config.getoption("--element")), properties=list(config.getoption("revem_property")),
                       command=" ".join(shlex.quote(a) for a in [Path(sys.argv[0]).name, *sys.argv[1:]]))
        targets = load_targets(config.getoption("--potential"), elements=rc.elements)
        run_id = config.workerinput.get("revem_run_id") if _is_worker(config) else None
        st.engine = Engine(targets, rc, run_id=run_id)
    except ConfigError as exc:
        raise pytest.UsageError(f"revem: {exc}") from None
    st.active = True
    if not _is_worker(config):
        config.pluginmanager.register(_Controller(config), "revem-controller")


def _check_report_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".revem-write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise pytest.UsageError(f"revem: --report-dir {path} cannot be written ({exc.strerror or exc}); nothing was run") from None


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """xdist: workers share the controller's run id (their records belong to one run)."""
    st = _state(node.config)
    if st.active:
        node.workerinput["revem_run_id"] = st.engine.run_id


def pytest_report_header(config):
    st = _state(config)
    if not st.active:
        return None
    from .. import __version__
    from .engine import versions

    eng, v = st.engine, versions()
    lines = [f"revem {__version__}, LAMMPS {v['lammps']}, pyace {v['pyace']}, ASE {v['ase']}, numpy {v['numpy']}, "
             f"python {v['python']}; tier {eng.config.tier}; fail on {eng.config.fail_on}"]
    for t in eng.targets.values():
        trust = getattr(t.potential, "trust", None) if t.potential is not None else None
        lines.append(f"potential {t.name}: {t.kind}, elements {','.join(t.elements) or 'any'}, sha256 {t.key[:16]}"
                     + (f", TRUSTED: {'; '.join(trust)}" if trust else ""))
    if eng.baseline:
        lines.append(f"baseline {eng.baseline.path} ({len(eng.baseline.files)} results files)")
    lines.append(f"REVEM_DATA_DIR={os.environ.get('REVEM_DATA_DIR', '(unset: data-backed cases skip)')}")
    return lines


# -- collection ------------------------------------------------------------------------------------
def pytest_generate_tests(metafunc):
    st = _state(metafunc.config)
    marker = metafunc.definition.get_closest_marker("revem_property")
    if marker is None or "case" not in metafunc.fixturenames:
        return
    if not st.active:
        metafunc.parametrize("case", [], ids=[])
        return
    prop = marker.args[0]
    cases = [c for c in _collected(st) if c.property == prop]
    metafunc.parametrize("case", cases, ids=[f"{c.potential}-{c.element}-{c.case}" for c in cases])


def _collected(st: _Harness) -> list:
    if not hasattr(st, "_collected"):
        st._collected = st.engine.collect()
    return st._collected


def _case_of(item):
    from .engine import CaseId

    cs = getattr(item, "callspec", None)
    c = cs.params.get("case") if cs is not None else None
    return c if isinstance(c, CaseId) else None


def _keyword_matcher(item, symbols: frozenset):
    """pytest's ``-k`` matcher for ``item``, except that an identifier spelled exactly like a chemical
    symbol (``W``, ``Mo``, ``C``) matches the item's *element* only, exactly and case-sensitively."""
    from _pytest.mark import KeywordMatcher

    base = KeywordMatcher.from_item(item)
    c = _case_of(item)
    element = c.element if c is not None else None

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
    """A property without cases for the element is not collected (not a skip); ``-k`` with exact element symbols."""
    if not _state(config).active:
        return
    empty = [it for it in items if it.get_closest_marker("revem_property") is not None and _case_of(it) is None]
    if empty:
        config.hook.pytest_deselected(items=empty)
        items[:] = [it for it in items if it not in empty]
    _select_by_keyword(config, items)


# -- running ---------------------------------------------------------------------------------------
class _Runner:
    """The ``revem`` fixture: runs one case through the engine and hands its outcome to pytest."""

    def __init__(self, request):
        self.request = request
        self.engine = _state(request.config).engine

    def run(self, case) -> None:
        outcome = self.engine.run_case(case)
        self.request.node.user_properties.append((_OUTCOME_KEY, json.dumps(outcome.to_json())))
        if outcome.status == "skipped":
            pytest.skip(outcome.reason)
        if outcome.failures:
            pytest.fail("\n".join(outcome.failures), pytrace=False)


@pytest.fixture
def revem(request):
    if not _state(request.config).active:
        pytest.skip("the revem validation harness is not active in this session")
    return _Runner(request)


@pytest.fixture(autouse=True)
def _revem_seed(request):
    if not _state(request.config).active:
        return
    from .engine import SEED

    random.seed(SEED)
    np.random.seed(SEED)


class _Controller:
    """The session's owner (the xdist controller): writes the report folders as cases finish."""

    def __init__(self, config):
        self.config = config

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtestloop(self, session):
        selected = [c for c in (_case_of(it) for it in session.items) if c is not None]
        if selected:  # without xdist the session's items are the cases; with it, see the next hook
            self._begin(selected)
        yield

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids):
        """xdist: the controller collects nothing itself; the first worker's ids say which cases run."""
        st = _state(self.config)
        if st.writer is not None or self.config.option.collectonly:
            return
        index = {c.test_id: c for c in _collected(st)}
        self._begin([index[i.split("::")[-1]] for i in ids if i.split("::")[-1] in index])

    def _begin(self, selected) -> None:
        st = _state(self.config)
        if self.config.option.collectonly or st.engine.config.report_dir is None or not selected:
            return
        from .writer import FolderLocked, RunWriter

        _check_report_dir(st.engine.config.report_dir)
        st.writer = RunWriter(st.engine)
        try:
            st.writer.begin(selected)
        except (FolderLocked, OSError, ValueError) as exc:
            st.writer = None
            raise pytest.UsageError(f"revem: {exc}") from None

    def pytest_runtest_logreport(self, report):
        st = _state(self.config)
        props = dict(getattr(report, "user_properties", []) or [])
        raw = props.get(_OUTCOME_KEY)
        if raw is None or report.when not in ("call", "setup"):
            return
        from .engine import CaseOutcome

        outcome = CaseOutcome.from_json(json.loads(raw) if isinstance(raw, str) else raw)
        if any(o.case == outcome.case for o in st.outcomes):
            return
        st.outcomes.append(outcome)
        if st.writer is not None:
            st.writer.record(outcome)
        kill_after = os.environ.get("REVEM_TEST_KILL_AFTER_CASES")  # test hook: a kill -9 mid-run (tests/test_hostile_harness.py)
        if kill_after and len(st.outcomes) >= int(kill_after):
            os.kill(os.getpid(), 9)


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    st = _state(config)
    if _is_worker(config) or not st.active:
        return
    eng = st.engine
    st.problems, st.notes = eng.baseline_problems(st.outcomes)
    if eng.baseline is not None and st.outcomes and not any(o.records for o in st.outcomes):
        st.problems.append("the baseline was given but no number was computed: nothing was compared")
    if st.writer is not None:
        try:
            st.writer.finish(st.problems, st.notes)
        except Exception as exc:  # noqa: BLE001 - the journal stays; say so
            tr = config.pluginmanager.get_plugin("terminalreporter")
            if tr:
                tr.write_line(f"revem: could not write the reports ({type(exc).__name__}: {exc}); the finished cases "
                              "stay in each folder's journal.jsonl and the next run merges them")
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
    if st.problems and not eng.config.allow_partial_baseline and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    eng.session.close()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    st = _state(config)
    if _is_worker(config) or not st.active:
        return
    recs = [r for o in st.outcomes for r in o.records]
    regress = [r for r in recs if (r.get("baseline") or {}).get("regression")]
    if regress:
        terminalreporter.section("revem regressions against the baseline")
        for r in regress:
            b = r["baseline"]
            terminalreporter.write_line(
                f"{r['potential']} {r['element']} {r['property']} {r['case']} {r['quantity']}: {_f(b['old'])} -> "
                f"{_f(b['new'])} {r['unit']} (Δ {_f(b['delta'])}, noise ±{_f(b['noise'])}, {b['direction']})")
    if st.problems or st.notes:
        terminalreporter.section("revem baseline coverage")
        partial = st.engine.config.allow_partial_baseline
        for p in st.problems:
            terminalreporter.write_line(("" if partial else "ERROR: ") + p)
        for p in st.notes:
            terminalreporter.write_line("note: " + p)
        if st.problems and not partial:
            terminalreporter.write_line("(pass --allow-partial-baseline to accept a partial baseline)")
    if st.writer is not None and st.writer.written:
        terminalreporter.section("revem reports")
        for line in report_lines(st.writer.written):
            terminalreporter.write_line(line)


def report_lines(folders) -> list[str]:
    """``<folder>/report.md: <verdict>`` for each report folder (the same words as the report's first line)."""
    out = []
    for f in folders:
        try:
            first = (Path(f) / "report.md").read_text(encoding="utf-8").splitlines()[0]
        except (OSError, IndexError):
            continue
        out.append(f"{Path(f) / 'report.md'}: {first.replace('**', '')}")
    return out


def _f(x) -> str:
    if x is None:
        return "none"
    return f"{x:.6g}" if isinstance(x, float) and math.isfinite(x) else str(x)
