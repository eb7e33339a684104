"""The Python front door of the validation engine: :func:`validate`.

Validate what you hold in a notebook -- a catalog name, a card or potential file, an ASE calculator
object (a MACE or CHGNet model, a pyace calculator with an active set, ASE's EMT) or a factory returning
one -- with the same protocols, references, scoring, baselines, coverage labels and reports as
``pytest --pyargs revem.validation`` and ``revem validate`` (one engine, two front doors)::

    >>> import revem
    >>> from ase.calculators.emt import EMT
    >>> res = revem.validate(EMT(), element="Cu", tier="smoke", report_dir="reports")
    >>> res.verdict                      # the first line of report.md
    >>> res.to_dataframe()               # pandas, one row per record
    >>> res.failed_cases, res.regressions, res.report_paths

A calculator object says nothing about the elements it covers or the data it was fitted on: pass
``elements=`` and ``training_data=`` (ASE Atoms, extxyz paths or registry names of the data mirror) to
get the same coverage labels as a card's ``training_data``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import runner
from .engine import CaseOutcome, ConfigError, Engine, RunConfig, load_targets
from .session import Session
from .target import Target


@dataclass
class Results:
    """What :func:`validate` returns: every case's outcome and record, and where the reports are."""

    outcomes: list = field(default_factory=list)  # CaseOutcome, one per case run
    report_dirs: list = field(default_factory=list)  # folders written (report.md, results.json, plots)
    problems: list = field(default_factory=list)  # baseline coverage problems (they fail a regression check)
    notes: list = field(default_factory=list)
    tier: str = "standard"
    resumed: list = field(default_factory=list)  # CaseId s left out by resume=True (their earlier result stands)
    resumed_failed: list = field(default_factory=list)  # of those, the ones whose earlier result failed
    lost: list = field(default_factory=list)  # CaseId s whose Dask workers died too often (no result: resume)
    error: str = ""  # why a Dask run stopped early (the finished cases are in the reports)

    @property
    def records(self) -> list[dict]:
        """Every number of the run, as in ``results.json``."""
        return [r for o in self.outcomes for r in o.records]

    @property
    def passed(self) -> bool:
        """True when every case that ran passed, none was lost, and the baseline (if any) covered the run."""
        return not (self.failed_cases or self.resumed_failed or self.problems or self.lost or self.error)

    @property
    def failed_cases(self) -> list[CaseOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def skipped_cases(self) -> list[CaseOutcome]:
        return [o for o in self.outcomes if o.status == "skipped"]

    @property
    def regressions(self) -> list[dict]:
        """Records that moved beyond their noise from the baseline (``--fail-on regression``)."""
        return [r for r in self.records if (r.get("baseline") or {}).get("regression")]

    @property
    def report_paths(self) -> list[Path]:
        return [Path(d) / "report.md" for d in self.report_dirs]

    @property
    def verdict(self) -> str:
        """The first line of each report (one per potential and element), as plain text."""
        from .plugin import report_lines

        if self.report_dirs:
            return "\n".join(report_lines(self.report_dirs))
        n_f, n = len(self.failed_cases), len(self.outcomes)
        return f"{'FAIL' if n_f else 'PASS'}: {n_f} of {n} cases failed (no report written)"

    def to_dataframe(self):
        """A pandas DataFrame with one row per record (plot data left out)."""
        import pandas as pd

        rows = []
        for r in self.records:
            row = {k: v for k, v in r.items() if k not in ("data", "baseline")}
            b = r.get("baseline") or {}
            row.update({"baseline_old": b.get("old"), "baseline_delta": b.get("delta"),
                        "regression": b.get("regression")})
            rows.append(row)
        return pd.DataFrame(rows)

    def __repr__(self):
        return (f"Results({len(self.outcomes)} cases: {len(self.failed_cases)} failed, {len(self.skipped_cases)} "
                f"skipped; {len(self.records)} records; reports {[str(p) for p in self.report_paths]})")


def validate(potential, element: str | None = None, *, properties=None, tier: str = "standard", baseline=None,
             report_dir: str | Path | None = "reports", fail_on: str = "auto", allow_partial_baseline: bool = False,
             name: str | None = None, elements=None, training_data=None, precision: str | None = None,
             progress: bool = True, dask=None, workers: int = 1, shard=None, resume: bool = False,
             costs=None) -> Results:
    """Validate ``potential`` for ``element`` and return :class:`Results`.

    ``potential``: a catalog name, a card or potential file, a :class:`~revem.potentials.Potential`, an ASE
    calculator object, a zero-argument factory returning one, a :class:`Target`, or a list of these.
    ``element``: the element to validate (default: every element the potential covers).
    ``properties``: property names (default: all); ``tier``: smoke, standard or full; ``baseline``: an
    earlier results.json or report folder to regression-check against; ``report_dir``: where the reports
    go (None: write nothing); ``fail_on``: as ``--fail-on``.  For a calculator object or factory:
    ``name`` (its report folder), ``elements`` it covers, ``training_data`` (for coverage labels) and
    ``precision`` (``float32``/``float64``).

    Past one process (:mod:`revem.validation.runner`): ``dask`` -- a scheduler address (``tcp://host:8786``),
    a ``distributed.Client`` or a cluster object (``LocalCluster``, dask-jobqueue's ``SLURMCluster``) -- runs
    every case as a task there; ``workers`` > 1 starts a LocalCluster of that many processes; ``shard`` ("I/N")
    runs the I-th of N shards balanced by the case costs of ``costs`` (an earlier run's report folder);
    ``resume`` leaves out the cases that already have a comparable result in ``report_dir``.  A bad option
    raises :class:`ValueError` naming it."""
    session = Session()
    specs = potential if isinstance(potential, (list, tuple)) else [potential]
    wanted = [element] if element else []
    targets = []
    for spec in specs:
        if isinstance(spec, (str, Path, Target)) or type(spec).__name__ == "Potential":
            targets += load_targets([spec], session=session, elements=wanted)
        else:
            covered = elements or ([element] if element else None)
            t = Target.of(spec, name=name, elements=covered, precision=precision, training_data=training_data,
                          session=session)
            targets += load_targets([t], session=session, elements=wanted)
    if not targets:
        raise ConfigError("validate: no potential given")
    if element is None and any(not t.elements for t in targets):
        raise ConfigError("validate: a calculator object covers no declared element: pass element= (or elements=)")
    config = RunConfig(tier=tier, fail_on=fail_on, report_dir=report_dir, baseline=baseline,
                       allow_partial_baseline=allow_partial_baseline, elements=wanted,
                       properties=list(properties or []), command=f"revem.validate({', '.join(t.name for t in targets)})")
    engine = Engine(targets, config, session=session)
    run = runner.run(engine, dask=dask, workers=workers, shard=shard, resume=resume, costs=costs, progress=progress)
    if run.interrupted:  # the reports of the finished cases are written; the caller's Ctrl-C goes on
        raise KeyboardInterrupt
    return Results(outcomes=run.outcomes, report_dirs=run.report_dirs, problems=run.problems, notes=run.notes,
                   tier=tier, resumed=run.resumed, resumed_failed=run.resumed_failed, lost=run.lost,
                   error=run.error)
