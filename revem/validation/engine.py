"""The validation engine: the cases of a run, each measured on its target and scored into records.

One engine, two front doors: the pytest plugin (:mod:`revem.validation.plugin`: one test per case,
``pytest --pyargs revem.validation`` or ``revem validate``) and the Python API
(:func:`revem.validation.api.validate`).  Both build an :class:`Engine` from the same
:class:`RunConfig`, collect the same :class:`CaseId` s and call :meth:`Engine.run_case`, which

1. runs the property's protocol on the target (cached in the run's :class:`Session`),
2. records the structures the case evaluated and labels its coverage of the potential's training data,
3. scores every measurement against the stored references and the baseline (:mod:`.scoring`), and
4. returns a :class:`CaseOutcome`: the records, whether the case failed and why, or why it was skipped.

Writing the report folders (locks, the run's plan, the journal, ``results.json``, ``report.md``) is
:mod:`revem.validation.writer`'s job, on the process that owns the run (the pytest controller).
"""
from __future__ import annotations

import datetime
import math
import os
import platform
import socket
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from ..data import DataUnavailable, fetch
from ..potentials.extras import MissingExtra
from . import coverage, references
from . import results as results_io
from .properties import protocol_versions, protocols
from .protocol import Measurement, Skip
from .scoring import Record, compare_baseline, score
from .session import Session
from .target import Target

TIERS = ("smoke", "standard", "full")
#: the seed of Python's and numpy's global generators before every case, whichever front door or process runs it
SEED = 20261121
FAIL_ON = ("auto", "all", "reference", "regression", "worse")
FAIL_ON_HELP = ("what fails a case: disagreement with the DFT reference ('reference'), any move from --baseline beyond "
                "its noise ('regression'), only moves away from the reference ('worse'), or 'all'. auto (default): "
                "'reference' without --baseline, 'regression' with it. Broken identities, unconverged protocols and "
                "crashes always fail a case.")


class ConfigError(ValueError):
    """A run that cannot start (bad option, potential, element or baseline); the message names the problem."""


@dataclass(frozen=True, order=True)
class CaseId:
    """One case of a run: the unit of work, of scheduling and of pass/fail."""

    potential: str
    element: str
    property: str
    case: str

    @property
    def test_id(self) -> str:
        return f"test_{self.property}[{self.potential}-{self.element}-{self.case}]"

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class CaseOutcome:
    """What one case gave: its records (JSON dicts), its status, and why."""

    case: CaseId
    status: str  # "passed", "failed", "skipped"
    records: list = field(default_factory=list)
    failures: list = field(default_factory=list)  # messages of what failed the case
    reason: str = ""  # why it was skipped
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {"case": self.case.as_dict(), "status": self.status, "records": self.records,
                "failures": self.failures, "reason": self.reason, "seconds": round(self.seconds, 3)}

    @classmethod
    def from_json(cls, d: dict) -> "CaseOutcome":
        return cls(CaseId(**d["case"]), d["status"], list(d.get("records") or []), list(d.get("failures") or []),
                   d.get("reason", ""), float(d.get("seconds") or 0.0))


@dataclass
class RunConfig:
    """The options of a run (the same for the CLI, pytest and the API)."""

    tier: str = "standard"
    fail_on: str = "auto"
    report_dir: Path | None = Path("reports")
    baseline: str | Path | None = None
    allow_partial_baseline: bool = False
    elements: list = field(default_factory=list)  # [] = every element of the targets
    properties: list = field(default_factory=list)  # [] = every property
    command: str = ""

    def __post_init__(self):
        if self.tier not in TIERS:
            raise ConfigError(f"--tier {self.tier!r}: expected one of {', '.join(TIERS)}")
        if self.fail_on not in FAIL_ON:
            raise ConfigError(f"--fail-on {self.fail_on!r}: expected one of {', '.join(FAIL_ON)}")
        if self.fail_on == "auto":
            self.fail_on = "regression" if self.baseline else "reference"
        if self.fail_on in ("regression", "worse") and not self.baseline:
            raise ConfigError(f"--fail-on {self.fail_on} needs --baseline (an earlier results.json or report dir)")
        known = protocols()
        for p in self.properties:
            if p not in known:
                raise ConfigError(f"--property {p}: no such property protocol (known: {', '.join(known)})")
        from ase.data import atomic_numbers

        for el in self.elements:
            if el not in atomic_numbers or not str(el)[:1].isupper():
                raise ConfigError(f"--element {el}: not a chemical symbol")
        if self.report_dir is not None:
            self.report_dir = Path(self.report_dir).resolve()


def versions() -> dict:
    """Versions of the codes a run used (shown in every report)."""
    import ase

    from ..lammps_runtime import lammps_version

    try:
        import pyace

        pyace_v = getattr(pyace, "__version__", "?")
    except ImportError:
        pyace_v = "not installed"
    try:
        lmp_v = lammps_version()
    except Exception as exc:  # noqa: BLE001 - a report without LAMMPS still says why
        lmp_v = f"unavailable ({exc})"
    out = {"lammps": lmp_v, "pyace": pyace_v, "ase": ase.__version__, "numpy": np.__version__,
           "python": platform.python_version()}
    from importlib import metadata

    for dist in ("chgnet", "torch"):  # the universal potential's extra, when installed (read, not imported)
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def load_targets(specs, session: Session | None = None, elements=()) -> list[Target]:
    """Targets of ``specs`` (catalog names, cards, files, calculators, factories, Targets; default: every
    catalog potential, or those covering ``elements``), with names safe as report folders and unique."""
    from ..potentials import PotentialError, catalog, load_potential

    session = session or Session()
    explicit = bool(specs)
    out, by_name = [], {}
    if not specs:
        specs = []
        for name in catalog():
            try:
                pot = load_potential(name)
            except (PotentialError, OSError, ValueError):
                continue  # `revem potentials` shows why a shipped card does not load
            if not elements or any(el in pot.elements for el in elements):
                specs.append(pot)
    for spec in specs:
        shown = spec if isinstance(spec, (str, Path)) else getattr(spec, "name", type(spec).__name__)
        try:
            t = Target.of(spec, session=session)
        except (PotentialError, OSError, ValueError, TypeError) as exc:
            raise ConfigError(f"--potential {str(shown)[:200]}: {exc}") from None
        try:
            results_io.check_name(t.name)
        except results_io.ResultsFileError as exc:
            raise ConfigError(f"--potential {str(shown)[:200]}: {exc}") from None
        if t.name in by_name:
            raise ConfigError(f"two potentials are called '{t.name}' ({by_name[t.name]} and {shown}); their reports "
                              "would be merged into one folder. Give one of them another name")
        by_name[t.name] = shown
        out.append(t)
    if explicit and elements:
        for t in out:
            if t.elements and not any(el in t.elements for el in elements):
                raise ConfigError(f"--potential {t.name} covers {' '.join(t.elements)}, not {' '.join(elements)}: "
                                  "it would run nothing")
    return out


class Engine:
    """A validation run: targets × elements × properties × cases, measured and scored (module docstring)."""

    def __init__(self, targets: list[Target], config: RunConfig, session: Session | None = None,
                 run_id: str | None = None, baseline: results_io.Baseline | None = None):
        self.config = config
        self.session = session or (targets[0].session if targets else Session())
        self.targets = {t.name: t.bound(self.session) if t.session is not self.session else t for t in targets}
        self.protocol_versions = protocol_versions()
        self.run_id = run_id or f"{os.getpid()}-{datetime.datetime.now().timestamp():.6f}"
        self.date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        self._metas: dict = {}
        self._versions: dict | None = None
        for el in config.elements:
            if self.targets and not any(t.covers(el) for t in self.targets.values()):
                covered = ", ".join(f"{t.name}: {' '.join(t.elements) or 'any'}" for t in self.targets.values())
                raise ConfigError(f"--element {el}: no requested potential covers {el} ({covered})")
        self.baseline = baseline  # given: the run's baseline as loaded elsewhere (a Dask worker gets the client's)
        if baseline is None and config.baseline:
            try:
                self.baseline = results_io.Baseline(config.baseline, tier=config.tier)
                self.baseline.check_against(config.tier, self.protocol_versions)
            except results_io.ResultsFileError as exc:
                raise ConfigError(str(exc)) from None

    # -- collection ------------------------------------------------------------------------------
    def elements_of(self, target: Target) -> list[str]:
        if self.config.elements:
            return [el for el in self.config.elements if target.covers(el)]
        return list(target.elements)

    def planned(self, target: Target, element: str) -> list[CaseId]:
        """Every case the tier collects for (target, element), whatever this run selects: the report of a
        folder is complete only when all of them have numbers."""
        out = []
        for name, proto in protocols().items():
            try:
                cases = proto.cases(element, self.config.tier)
            except Exception:  # noqa: BLE001 - a protocol that cannot list cases for the element has none
                cases = []
            out += [CaseId(target.name, element, name, str(c)) for c in cases]
        return out

    def collect(self) -> list[CaseId]:
        """The cases this run selects (``properties``/``elements`` filters applied)."""
        out = []
        for t in self.targets.values():
            for el in self.elements_of(t):
                out += [c for c in self.planned(t, el)
                        if not self.config.properties or c.property in self.config.properties]
        return out

    # -- metadata --------------------------------------------------------------------------------
    def meta(self, target_name: str, element: str) -> dict:
        """The ``meta`` of a results file: what was run, with what, where and when."""
        key = (target_name, element)
        if key not in self._metas:
            t = self.targets[target_name]
            if self._versions is None:
                self._versions = versions()
            m = {"revem": __version__, "tier": self.config.tier, "element": element, "fail_on": self.config.fail_on,
                 "potential": t.describe(), "protocol_versions": dict(self.protocol_versions),
                 "versions": self._versions, "command": self.config.command or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
                 "date": self.date, "host": socket.gethostname(), "run_id": self.run_id,
                 "baseline": str(self.baseline.path) if self.baseline else None}
            if t.training_data:
                m["training_domain"] = self._domain_summary(t, element)
            self._metas[key] = m
        return self._metas[key]

    def _domain_summary(self, t: Target, element: str) -> dict:
        try:
            dom = coverage.domain_for(t, element)
            return dom.summary() if dom is not None else {}
        except (coverage.CoverageError, DataUnavailable, OSError, ValueError) as exc:
            return {"error": str(exc)[:300]}

    def baseline_records(self, target_name: str, element: str) -> dict:
        if self.baseline is None:
            return {}
        return self.baseline.records(target_name, self.targets[target_name].key, element)

    # -- running a case --------------------------------------------------------------------------
    def run_seeded(self, cid: CaseId) -> CaseOutcome:
        """:meth:`run_case` with Python's and numpy's global generators seeded (:data:`SEED`) first, as the pytest
        front door seeds them before every test: a case gives the same numbers in any process and order."""
        import random

        random.seed(SEED)
        np.random.seed(SEED)
        return self.run_case(cid)

    def run_case(self, cid: CaseId) -> CaseOutcome:
        """Measure and score one case (never raises for a failure of the potential or the protocol: a crash
        is a failed case with an ``error`` record)."""
        t0 = time.perf_counter()
        proto = protocols()[cid.property]
        target = self.targets[cid.potential]
        scorer = _CaseScorer(self, cid)
        try:
            missing = target.potential.missing_extra() if target.potential is not None else None
            if missing:  # an optional extra (e.g. the universal potential's chgnet) that is not installed
                raise Skip(missing)
            for name in proto.required_data(cid.element, cid.case):
                fetch(name)
            domain = None
            if target.training_data:
                try:
                    domain = coverage.domain_for(target, cid.element)
                except (coverage.CoverageError, DataUnavailable, OSError, ValueError) as exc:
                    scorer.coverage = coverage.CaseCoverage(None, None, 0, 0, note=f"no training domain: {exc}"[:300])
            with self.session.recording() as rec:
                measurements = proto.run(target, cid.element, cid.case, self.config.tier)
            if domain is not None:
                scorer.label_with(domain, rec)
            for m in measurements:
                scorer.measure(m)
        except (Skip, DataUnavailable, MissingExtra) as exc:
            return CaseOutcome(cid, "skipped", reason=str(exc), seconds=time.perf_counter() - t0)
        except Exception as exc:  # noqa: BLE001 - the potential or protocol broke: a failed case, kept in the report
            scorer.crash(exc)
        failed = bool(scorer.failures)
        return CaseOutcome(cid, "failed" if failed else "passed", [r.to_json() for r in scorer.records],
                           list(scorer.failures), seconds=time.perf_counter() - t0)

    # -- baseline coverage (after the run) -------------------------------------------------------
    def baseline_problems(self, outcomes: list[CaseOutcome]) -> tuple[list[str], list[str]]:
        """(problems, notes): numbers computed now that the baseline lacks, baseline cases skipped now (problems,
        which fail a run unless ``allow_partial_baseline``), baseline numbers no longer produced (notes)."""
        if self.baseline is None:
            return [], []
        problems, notes = [], []
        by_pe: dict = {}
        for o in outcomes:
            by_pe.setdefault((o.case.potential, o.case.element), []).append(o)
        for (pot, el), outs in sorted(by_pe.items()):
            base = self.baseline_records(pot, el)
            where = f"{pot} / {el}"
            if not base:
                problems.append(f"{where}: the baseline {self.baseline.path} has no {self.config.tier}-tier results for "
                                "it; nothing was compared")
                continue
            recs = [r for o in outs for r in o.records]
            now_keys = {results_io.record_key(r) for r in recs}
            missing = sorted(now_keys - set(base))
            if missing:
                ex = "; ".join("/".join(k[1:]) for k in missing[:5])
                problems.append(f"{where}: {len(missing)} numbers computed now are not in the baseline (e.g. {ex})")
            ran = {(o.case.property, o.case.case) for o in outs if o.status != "skipped"}
            ran |= {(r["property"], r["case"]) for r in recs}
            vanished = sorted(k for k, b in base.items()
                              if ((k[1], k[2]) in ran or results_io.source_case(b) in ran) and k not in now_keys)
            if vanished:
                notes.append(f"{where}: {len(vanished)} baseline numbers of the cases run are no longer produced "
                             f"(e.g. {'; '.join('/'.join(k[1:]) for k in vanished[:5])})")
            base_cases = {(k[1], k[2]) for k in base}
            skipped = [o for o in outs if o.status == "skipped" and (o.case.property, o.case.case) in base_cases]
            if skipped:
                ex = "; ".join(f"{o.case.property}/{o.case.case}: {o.reason[:120]}" for o in skipped[:3])
                problems.append(f"{where}: {len(skipped)} cases the baseline holds were skipped now ({ex})")
        return problems, notes


class _CaseScorer:
    """Turns one case's measurements into records and the case's failures (the one place a verdict is made)."""

    def __init__(self, engine: Engine, cid: CaseId):
        self.engine, self.cid = engine, cid
        self.fail_on = engine.config.fail_on
        self.records: list[Record] = []
        self.failures: list[str] = []
        self.coverage = None  # coverage.CaseCoverage when the potential names its training data
        self._baseline = engine.baseline_records(cid.potential, cid.element)
        self._data_attached = False

    def _fail(self, message: str) -> None:
        self.failures.append(message)

    def baseline_record(self, case: str, quantity: str) -> dict | None:
        return self._baseline.get((self.cid.element, self.cid.property, str(case), quantity))

    def label_with(self, domain, recorder) -> None:
        if recorder.n_seen or recorder.n_too_large:
            try:
                self.coverage = coverage.case_coverage(domain, recorder)
            except Exception as exc:  # noqa: BLE001 - a label must never lose the case's numbers
                self.coverage = coverage.CaseCoverage(None, None, recorder.n_seen, 0,
                                                      note=f"coverage failed: {type(exc).__name__}: {exc}"[:300])
        else:
            self.coverage = coverage.CaseCoverage(None, None, 0, 0, note="no structure evaluated in this case")

    def _label(self, rec: Record) -> None:
        cov = self.coverage
        if cov is None:
            return
        rec.coverage, rec.domain, rec.coverage_structures = cov.ratio, cov.domain, cov.n_structures
        if cov.note and cov.ratio is None:
            rec.note = (rec.note + "; " if rec.note else "") + f"coverage: {cov.note}"

    def measure(self, m: Measurement) -> None:
        """Score one measurement (its policy decides how).  A measurement's ``failure`` (a physical red flag:
        Born or dynamical instability, a defect that left its configuration) fails the case and marks the
        record ``FLAG:`` -- unless the baseline had it too and this is a regression check."""
        cid, case = self.cid, str(m.case or self.cid.case)
        flag = None
        if m.failure:
            old = self.baseline_record(case, m.quantity)
            known = old is not None and (old.get("converged") is False or "FLAG:" in (old.get("note") or "")
                                         or "not scored" in (old.get("note") or ""))
            if not (known and self.fail_on in ("regression", "worse")):
                flag = m.failure
                self._fail(m.failure)
        refs = references.find(cid.element, cid.property, case, m.quantity) if m.refs is None else m.refs
        policy = "reported" if m.policy == "reported" else None
        data = m.data
        for ref in (refs or [None]):
            rec = score(m.value, ref, test_id=cid.test_id, potential=cid.potential, element=cid.element,
                        prop=cid.property, case=case, quantity=m.quantity, unit=m.unit, note=m.note,
                        data=data, uncertainty=m.uncertainty, converged=m.converged, policy=policy,
                        protocol_version=self.engine.protocol_versions.get(cid.property),
                        uncertainty_covers=m.uncertainty_covers)
            data = None  # attach bulky plot data once
            rec.from_case = cid.case
            self._label(rec)
            if flag:  # a physical red flag: the number is shown, the case fails
                rec.passed = False
                rec.note = (rec.note + "; " if rec.note else "") + f"FLAG: {flag}"
            self._judge(rec, self.baseline_record(case, m.quantity))
            self.records.append(rec)

    def _judge(self, rec: Record, old: dict | None) -> None:
        if not rec.converged:
            if old is not None and old.get("converged") is False and self.fail_on in ("regression", "worse"):
                rec.baseline = {"old": old.get("value"), "new": rec.value, "delta": None, "noise": rec.noise,
                                "moved": False, "direction": "unknown", "regression": False}
                rec.note = (rec.note + "; " if rec.note else "") + "unconverged in the baseline too"
            else:  # an unconverged relaxation is not a number: the case fails, saying so
                self._fail(f"UNCONVERGED {rec.describe()}")
                if old is not None and old.get("converged", True):
                    rec.baseline = {"old": old.get("value"), "new": rec.value, "delta": None, "noise": rec.noise,
                                    "moved": True, "direction": "away", "regression": True}
            return
        if rec.passed is False and (rec.policy == "identity" or self.fail_on in ("all", "reference")):
            self._fail(rec.describe())
        cmp = compare_baseline(rec, old)
        if cmp is not None:
            regress = cmp["moved"] and (self.fail_on in ("all", "regression")
                                        or (self.fail_on == "worse" and cmp["direction"] == "away"))
            cmp["regression"] = bool(regress)
            rec.baseline = {k: cmp[k] for k in ("old", "new", "delta", "noise", "moved", "direction", "regression")}
            if regress:
                self._fail(cmp["message"])

    def crash(self, exc: BaseException) -> None:
        """The potential or the protocol broke (atoms collapsed, a calculator error): one ``error`` record."""
        cid = self.cid
        rec = score(None, None, test_id=cid.test_id, potential=cid.potential, element=cid.element, prop=cid.property,
                    case=cid.case, quantity="error", unit="", note=f"{type(exc).__name__}: {exc}"[:500], policy="identity")
        rec.passed = False
        rec.from_case = cid.case
        self._label(rec)
        self.records.append(rec)
        known = self.baseline_record(cid.case, "error") is not None
        if not (self.fail_on in ("regression", "worse") and known):  # broke the same way in the baseline: no regression
            self._fail(f"{cid.property} {cid.case} crashed: {type(exc).__name__}: {str(exc)[:300]}")


def _finite(x) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)
