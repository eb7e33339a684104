"""A validation run through the engine directly: local, on Dask, or one shard of it, with one progress bar.

The engine path of ``revem validate`` (taken with ``--dask``, ``--shard`` or ``--resume``) and of
:func:`revem.validate`: no pytest in between, the same :class:`Engine` and :class:`RunWriter` as the
pytest front door, so the report folders are the same.

1. select: the engine's collected cases, filtered by ``keyword`` (pytest's ``-k`` grammar over the test
   ids, an exact chemical symbol meaning that element), then shard ``I/N``
   (:func:`revem.validation.sharding.shard_of`, balanced by the costs of ``costs``);
2. connect to the Dask scheduler (or start a ``LocalCluster`` of ``workers`` processes) *before* anything
   is written, so an unreachable scheduler leaves nothing behind;
3. take the report folders (:meth:`RunWriter.begin`, which folds in a killed run's journal); with
   ``resume`` drop the cases that already have a comparable result there (:meth:`RunWriter.finished_cases`);
4. run the cases -- in this process in collection order, or as Dask tasks longest first -- recording each
   outcome as it arrives (journal, in-progress report) and advancing the progress bar
   (:class:`~revem.validation.progress.CaseProgress`, ETA from measured case costs);
5. check the baseline's coverage and write the final reports (:meth:`RunWriter.finish`), also after an
   interruption or a stopped Dask run (whatever finished is kept; the report says INCOMPLETE).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path


from .engine import CaseId, CaseOutcome, ConfigError, Engine
from .progress import CaseProgress
from .sharding import CaseCosts, parse_shard, shard_of



@dataclass
class RunSummary:
    """What an engine-path run did."""

    selected: list = field(default_factory=list)  # the cases of this run (after -k and --shard)
    outcomes: list = field(default_factory=list)  # CaseOutcome of every case that ran now
    resumed: list = field(default_factory=list)  # cases left out by resume: their earlier result stands
    resumed_failed: list = field(default_factory=list)  # of those, the ones whose earlier result failed
    lost: list = field(default_factory=list)  # cases whose Dask workers died too often: no result
    report_dirs: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    error: str = ""  # why the run stopped early (a Dask worker that cannot run the cases, ...)
    interrupted: bool = False
    wall_s: float = 0.0
    where: str = "this process"
    cases_s: float = 0.0  # wall time of the cases alone (from the first submitted to the last finished)

    @property
    def failed(self) -> list[CaseOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]


def select(engine: Engine, keyword: str | None = None, shard=None, costs=None) -> list[CaseId]:
    """The cases of this run: collected, ``-k`` filtered, sharded (``shard``: "I/N" or (I, N); ``costs``: an
    earlier run's report folder or results.json balancing the shards)."""
    cases = engine.collect()
    if keyword:
        cases = keyword_filter(cases, keyword)
    if shard is not None:
        cases = shard_of(cases, parse_shard(shard), CaseCosts(engine.config.tier, [costs] if costs else []))
    return cases


def keyword_filter(cases: list[CaseId], expr: str) -> list[CaseId]:
    """pytest's ``-k`` over the cases' test ids (case-insensitive substrings, ``and``/``or``/``not``), where an
    identifier spelled like a chemical symbol means that element exactly (as the pytest front door does)."""
    from _pytest.mark.expression import Expression
    from ase.data import chemical_symbols

    try:
        compiled = Expression.compile(expr)
    except SyntaxError as exc:
        raise ConfigError(f"-k {expr!r}: {exc}") from None
    symbols = frozenset(chemical_symbols[1:])

    def matcher(c: CaseId):
        names = [c.test_id.lower(), f"test_{c.property}", "test_properties.py"]

        def match(name: str, /, **kwargs) -> bool:
            if name in symbols:
                return name == c.element
            return any(name.lower() in n for n in names)

        return match

    return [c for c in cases if compiled.evaluate(matcher(c))]


def run(engine: Engine, *, dask=None, workers: int = 1, shard=None, resume: bool = False, costs=None,
        keyword: str | None = None, progress: bool = True, log=None) -> RunSummary:
    """Run the engine's cases (module docstring).  ``dask``: a scheduler address, a ``distributed.Client`` or a
    cluster object; ``workers`` > 1 without ``dask``: a LocalCluster of that many processes; ``shard``: "I/N";
    ``resume``: leave out cases with a comparable result in the report folders; ``costs``: an earlier run's
    report folder (shard balance and ETA).  Raises :class:`ConfigError` (and its kin) for what cannot start."""
    from .writer import RunWriter

    log = log or (lambda *_: None)
    t0 = time.perf_counter()
    cases = select(engine, keyword, shard, costs)
    out = RunSummary(selected=list(cases))
    if not cases:
        return out
    cluster = client = None
    owned = False
    if dask is not None:
        from .distributed import connect

        client, owned = connect(dask)
        out.where = f"the Dask cluster of {client.scheduler.address}"
    elif workers > 1:
        from .distributed import connect, local_cluster

        cluster = local_cluster(workers)
        try:
            client, owned = connect(cluster)
        except BaseException:
            cluster.close()
            raise
        out.where = f"a LocalCluster of {workers} worker processes"
    writer = None
    try:
        if engine.config.report_dir is not None:
            Path(engine.config.report_dir).mkdir(parents=True, exist_ok=True)
            writer = RunWriter(engine)
            writer.begin(cases)
        todo = list(cases)
        if resume and writer is not None:
            done = writer.finished_cases()
            out.resumed = [c for c in cases if c in done]
            out.resumed_failed = [c for c in out.resumed if done[c] == "failed"]
            todo = [c for c in cases if c not in done]
            writer.narrow(todo)
            if out.resumed:
                log(f"revem validate: --resume: {len(out.resumed)} of {len(cases)} cases have a result already; "
                    f"running {len(todo)}")
        cost_dirs = [costs] + ([f.path for f in writer.folders.values()] if writer is not None else [])
        est = CaseCosts(engine.config.tier, cost_dirs, strict=False)
        bar = CaseProgress(todo, est, enabled=progress and bool(todo))

        def finished(o: CaseOutcome) -> None:
            out.outcomes.append(o)
            if writer is not None:
                writer.record(o)
            bar.finished(o)

        def lost(cid: CaseId) -> None:
            out.lost.append(cid)
            bar.lost_case(cid)

        t_cases = time.perf_counter()
        try:
            if client is None:
                for cid in todo:
                    finished(engine.run_seeded(cid))
            elif todo:
                from .distributed import DaskRunError, run_cases

                order = sorted(todo, key=lambda c: (-est.seconds(c), c))  # longest first: the shortest makespan
                try:
                    run_cases(client, engine, order, finished, lost, bar)
                except DaskRunError as exc:
                    out.error = str(exc)
                except Exception as exc:  # noqa: BLE001 - the scheduler went away, a comm closed: keep what finished
                    out.error = f"lost the Dask cluster ({type(exc).__name__}: {str(exc)[:300]})"
        except KeyboardInterrupt:
            out.interrupted = True
        finally:
            bar.close()
            out.cases_s = time.perf_counter() - t_cases
        out.problems, out.notes = engine.baseline_problems(out.outcomes)
        if engine.baseline is not None and out.outcomes and not any(o.records for o in out.outcomes):
            out.problems.append("the baseline was given but no number was computed: nothing was compared")
        if writer is not None:
            try:
                out.report_dirs = writer.finish(out.problems, out.notes)
            except Exception as exc:  # noqa: BLE001 - the journal keeps the finished cases; say so (exit code 3)
                out.error = (f"could not write the reports ({type(exc).__name__}: {str(exc)[:300]}); the finished cases "
                             "stay in each folder's journal.jsonl and the next run merges them")
    finally:
        if writer is not None:
            writer.release()
        if owned:
            client.close()
        if cluster is not None:
            cluster.close()
        engine.session.close()
    out.wall_s = time.perf_counter() - t0
    return out


def exit_code(s: RunSummary, allow_partial_baseline: bool = False) -> int:
    """``revem validate``'s exit code of an engine-path run (pytest's codes: ``revem validate --help``)."""
    if not s.selected:
        return 5
    if s.error:
        return 3
    if s.interrupted or s.lost:
        return 2
    if s.failed or s.resumed_failed or (s.problems and not allow_partial_baseline):
        return 1
    return 0


def describe(s: RunSummary, n_slowest: int = 5) -> list[str]:
    """The lines printed at the end of a run: where it ran, per-case times, wall time and speed-up, what is missing."""
    lines = []
    secs = sorted(s.outcomes, key=lambda o: -o.seconds)
    total = sum(o.seconds for o in s.outcomes)
    if s.outcomes:
        lines.append(f"{len(s.outcomes)} cases ran in {s.where} ({len(s.failed)} failed, "
                     f"{sum(o.status == 'skipped' for o in s.outcomes)} skipped): {s.cases_s:.1f} s wall time for the "
                     f"cases ({s.wall_s:.1f} s with the reports); the cases took {total:.1f} s together "
                     f"({total / max(s.cases_s, 1e-9):.2f} case-seconds per second); longest case {secs[0].seconds:.1f} s")
        lines.append("slowest cases: " + ", ".join(f"{o.case.potential} {o.case.property}/{o.case.case} {o.seconds:.1f} s"
                                                   for o in secs[:n_slowest]))
    if s.resumed:
        lines.append(f"{len(s.resumed)} cases kept their earlier result (--resume; {len(s.resumed_failed)} of them "
                     "failed)")
    if s.lost:
        lines.append(f"{len(s.lost)} cases lost (their Dask workers died too often): "
                     + ", ".join(f"{c.potential} {c.property}/{c.case}" for c in s.lost[:5])
                     + "; rerun with --resume to compute only what is missing")
    if s.interrupted:
        lines.append("interrupted: the finished cases are in the reports; rerun with --resume to compute the rest")
    if s.error:
        lines.append(f"the run stopped early: {s.error} (the finished cases are kept: rerun with --resume to compute "
                     "only what is missing)")
    return lines


def cli_validate(args) -> int:
    """``revem validate`` with ``--dask``, ``--shard`` or ``--resume``: the engine path, with pytest's exit codes
    (:data:`revem.cli.EXIT_CODES`; ``--report-only`` turns 1 into 0).  Bad input is one line and exit code 4."""
    import os
    import shlex
    import sys

    from ase.data import atomic_numbers

    from .engine import RunConfig, load_targets
    from .sharding import ShardError
    from .writer import FolderLocked

    def usage(msg: str) -> int:
        print(f"revem validate: {msg}", file=sys.stderr)
        return 4

    from ..lammps_runtime import pin_blas_threads

    pin_blas_threads(int(os.environ.get("REVEM_BLAS_THREADS", "1") or 1))  # as the pytest front door does
    el = args.element
    if el != "all" and (el not in atomic_numbers or not el[:1].isupper()):
        return usage(f"--element {el!r} is not a chemical symbol")
    workers = 1
    if args.workers not in (None, "", "1"):
        if args.dask:
            return usage("-n/--workers and --dask exclude each other (the Dask cluster has the workers)")
        if args.workers == "auto":
            workers = os.cpu_count() or 1
        else:
            try:
                workers = int(args.workers)
            except ValueError:
                workers = 0
        if workers < 1:
            return usage(f"-n {args.workers!r}: expected a number of worker processes or 'auto'")
    try:
        shard = parse_shard(args.shard) if args.shard else None
        elements = [] if el == "all" else [el]
        config = RunConfig(tier=args.tier, fail_on=args.fail_on or "auto", report_dir=args.report_dir,
                           baseline=args.baseline, allow_partial_baseline=args.allow_partial_baseline,
                           elements=elements, properties=list(args.property or []),
                           command=" ".join(shlex.quote(a) for a in ["revem", *sys.argv[1:]]))
        engine = Engine(load_targets(args.potential or [], elements=elements), config)
        pots = ", ".join(engine.targets) or "no potential"
        where = (f" on Dask {args.dask}" if args.dask else f" on {workers} local worker processes" if workers > 1 else "")
        part = f", shard {shard[0]}/{shard[1]}" if shard else ""
        print(f"revem validate: {el} with {pots} (tier {args.tier}{part}){where}", flush=True)
        s = run(engine, dask=args.dask, workers=workers, shard=shard, resume=args.resume, costs=args.costs,
                keyword=args.keyword, progress=sys.stderr.isatty() or bool(args.progress), log=print)
    except (ConfigError, ShardError, FolderLocked) as exc:
        return usage(str(exc))
    except OSError as exc:
        return usage(f"--report-dir {args.report_dir}: {exc.strerror or exc}")
    if not s.selected:
        what = f"shard {shard[0]}/{shard[1]} of " if shard else ""
        print(f"revem validate: no case was selected ({what}{el})", file=sys.stderr)
        return 5
    from .plugin import report_lines

    for line in describe(s) + report_lines(s.report_dirs):
        print(line)
    rc = exit_code(s, args.allow_partial_baseline)
    for p in s.problems:
        print(("" if args.allow_partial_baseline else "ERROR: ") + p)
    if rc == 1 and args.report_only:
        print("revem validate: cases failed; --report-only: exit 0 (the reports above say which)")
        return 0
    return rc
