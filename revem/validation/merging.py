"""``revem merge DIR... --out DIR``: the report folders of shards (or of any runs) folded into one.

Each input is a ``--report-dir`` of ``revem validate`` (``<dir>/<potential>/<element>/<tier>/results.json``,
plus the ``journal.jsonl`` of a run that was killed).  For every (potential, element, tier) the inputs
hold, the output folder ``<out>/<potential>/<element>/<tier>/`` gets one ``results.json`` whose records
and cases are those the unsharded run would have written, then its ``report.md`` and plots, and
``<out>/summary.md`` is rewritten -- the same writer as a run's (:func:`revem.validation.writer.write_report`).

* Compatible only: the parts of one folder must be of the same tier, element and potential content
  (sha256), with the same protocol versions, ``--fail-on`` and ``--baseline`` (they decide the verdicts)
  and the same list of planned cases; anything else is refused naming the two inputs that differ.
* A case found in several parts (a shard rerun, a folder that held earlier results) keeps the result of
  the latest run (meta ``date``; a journal counts after its folder's results.json).
* An existing output folder is one more (the oldest) part when it is comparable -- as a run folds new cases
  over earlier ones -- else its files are moved to ``previous-<sha256[:12]>/``, never deleted.
* The inputs are only read: an input still being written by a live run (its ``.revem.lock`` held) is
  refused, and so is an ``--out`` that is an input or lies inside one.  Output folders are locked while
  written, as a run's are.
"""
from __future__ import annotations

import datetime
import fcntl
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from . import results as results_io

LOCK_FILE = ".revem.lock"  # revem.validation.writer.LOCK_FILE (not imported here: `revem --help` stays light)


class MergeError(ValueError):
    """Inputs that cannot be merged (or an --out that would overwrite one); the message names them."""


@dataclass
class _Part:
    where: str  # what to call it in messages
    meta: dict
    planned: list | None
    cases: list
    records: list
    order: tuple  # sorts the parts oldest first


def _locked_by_live_run(folder: Path) -> bool:
    """Whether a live run holds the folder's lock (checked with a shared ``flock`` on a read-only descriptor:
    nothing is written)."""
    path = folder / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def _parts_of(folder: Path, index: int, shown: str) -> list[_Part]:
    """The parts of one input folder: its results.json and the entries of a killed run's journal."""
    parts = []
    res = folder / "results.json"
    if res.is_file():
        try:
            d = results_io.load(res)
        except results_io.ResultsFileError as exc:
            raise MergeError(str(exc)) from None
        parts.append(_Part(shown, d["meta"], d.get("planned"), list(d["cases"]), list(d["records"]),
                           (str(d["meta"].get("date", "")), index, 0)))
    journal = folder / results_io.JOURNAL
    if journal.is_file():
        if journal.stat().st_size > results_io.MAX_RESULTS_BYTES:
            raise MergeError(f"{journal}: larger than {results_io.MAX_RESULTS_BYTES >> 20} MiB; not a revem journal")
        base_date = parts[0].order[0] if parts else ""
        for k, (meta, o) in enumerate(results_io.read_journal(folder)):
            c = o["case"]
            entry = {"property": str(c.get("property")), "case": str(c.get("case")), "status": o.get("status"),
                     "failures": list(o.get("failures") or [])[:20], "reason": o.get("reason", ""),
                     "seconds": o.get("seconds"), "run_id": meta.get("run_id")}
            # a journal entry is newer than its folder's results.json (a killed run wrote it afterwards)
            date = max(str(meta.get("date", "")), base_date)
            parts.append(_Part(f"{shown} (journal)", meta, None, [entry], list(o.get("records") or []),
                               (date, index, 1 + k)))
    return parts


def _check(parts: list[_Part], key: tuple) -> None:
    first = parts[0]
    for p in parts[1:]:
        why = results_io.incompatible(first.meta, p.meta)
        if why is None and first.meta.get("protocol_versions") != p.meta.get("protocol_versions"):
            why = "other protocol versions"
        if why is None and first.meta.get("fail_on") != p.meta.get("fail_on"):
            why = f"--fail-on {first.meta.get('fail_on')} != {p.meta.get('fail_on')}"
        if why is None and first.meta.get("baseline") != p.meta.get("baseline"):
            why = f"--baseline {first.meta.get('baseline')} != {p.meta.get('baseline')}"
        if why is None and first.planned is not None and p.planned is not None and first.planned != p.planned:
            why = "other planned cases (another revem version?)"
        if why:
            raise MergeError(f"cannot merge {'/'.join(key)}: {first.where} and {p.where} differ ({why}); merge only "
                             "shards of one run (same tier, potential content, revem and options)")


def _fold(parts: list[_Part]) -> tuple[list, list, int]:
    """(records, cases, n_duplicates): the parts folded oldest first, each case's latest result winning."""
    pv = parts[-1].meta.get("protocol_versions") or {}
    records, cases, seen, dup = [], [], set(), 0
    for p in sorted(parts, key=lambda p: p.order):
        ran = {(str(c["property"]), str(c["case"])) for c in p.cases}
        dup += len(ran & seen)
        seen |= ran
        records = results_io.merge(records, p.records, pv, ran)
        cases = [c for c in cases if (str(c["property"]), str(c["case"])) not in ran] + list(p.cases)
    return records, cases, dup


def merge(inputs, out, log=print) -> list[Path]:
    """Merge the report dirs ``inputs`` into ``out`` (module docstring); returns the output folders written."""
    out = Path(out).resolve()
    ins = []
    for i in inputs:
        p = Path(i)
        if not p.is_dir():
            raise MergeError(f"{i}: not a report directory")
        ins.append(p.resolve())
    if not ins:
        raise MergeError("give at least one report directory to merge")
    if len(set(ins)) != len(ins):
        raise MergeError("an input directory is given twice")
    for p in ins:
        if out == p or p in out.parents:
            raise MergeError(f"--out {out} is (inside) the input {p}: the inputs are never modified; give another --out")
    groups: dict = {}
    for n, p in enumerate(ins):
        for folder in sorted({f.parent for pat in ("*/*/*/results.json", f"*/*/*/{results_io.JOURNAL}")
                              for f in p.glob(pat)}):
            pot, el, tier = folder.relative_to(p).parts
            if _locked_by_live_run(folder):
                raise MergeError(f"{folder} is being written by a running revem run; merge after it has finished")
            parts = _parts_of(folder, n, str(folder))
            for part in parts:
                m = part.meta
                if (str(m.get("element")), str(m.get("tier"))) != (el, tier):
                    raise MergeError(f"{part.where}: holds {m.get('element')}/{m.get('tier')} results in a folder "
                                     f"named {el}/{tier}")
            groups.setdefault((pot, el, tier), []).extend(parts)
    if not groups:
        raise MergeError(f"no results below {', '.join(map(str, ins))} (expected <dir>/<potential>/<element>/<tier>/"
                         "results.json, as `revem validate --report-dir <dir>` writes)")
    for key, parts in groups.items():
        _check(parts, key)
        try:
            dest = results_io.report_folder(out, *key)
        except results_io.ResultsFileError as exc:
            raise MergeError(str(exc)) from None
        for p in ins:
            if dest == p or p in dest.parents or dest in p.parents:
                raise MergeError(f"--out {out}: its folder {dest} overlaps the input {p}; give another --out")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    command = " ".join(["revem", *sys.argv[1:]]) if sys.argv and "merge" in sys.argv[1:2] else "revem merge"
    for key, parts in sorted(groups.items()):
        written.append(_write(key, parts, out, command, log))
    from .report import write_summary

    write_summary(out)
    return written


def _write(key: tuple, parts: list[_Part], out: Path, command: str, log) -> Path:
    from .writer import FolderLock, RunWriter, write_report

    pot, el, tier = key
    dest = results_io.report_folder(out, pot, el, tier)
    latest = max(parts, key=lambda p: p.order)
    lock = FolderLock(dest, f"merge-{os.getpid()}", command)
    lock.acquire()
    try:
        moved = ""
        existing = _parts_of(dest, -1, f"--out {dest}") if (dest / "results.json").is_file() or \
            (dest / results_io.JOURNAL).is_file() else []
        for e in existing:
            e.order = ("",) + e.order[1:]  # what --out held is older than anything merged into it
        if existing:
            try:
                _check([latest, *existing], key)
                parts = existing + parts
            except MergeError as exc:
                sha = str((existing[0].meta.get("potential") or {}).get("sha256", ""))[:12] or "unknown"
                moved = RunWriter._move_aside(dest, sha, str(exc).split(" differ (")[-1].rstrip(")"))
        records, cases, dup = _fold(parts)
        planned = next((p.planned for p in parts if p.planned is not None), None)
        meta = dict(latest.meta)
        meta["command"] = command
        meta["merged"] = {"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                          "from": sorted({p.where.removesuffix(" (journal)") for p in parts})}
        meta["baseline_problems"] = sorted({x for p in parts for x in (p.meta.get("baseline_problems") or [])})
        results_io.dump(dest / "results.json", meta, records, cases, planned=planned)
        (dest / results_io.JOURNAL).unlink(missing_ok=True)
        write_report(dest, pot, el, records, meta, cases, [tuple(k) for k in planned] if planned else
                     [(c["property"], c["case"]) for c in cases], moved=moved)
        if dup:
            log(f"revem merge: {pot}/{el}/{tier}: {dup} cases were in more than one input; the latest run's result kept")
    finally:
        lock.release()
    return dest


def _cmd_merge(args) -> int:
    from .plugin import report_lines
    from .writer import FolderLocked

    try:
        written = merge(args.inputs, args.out)
    except (MergeError, FolderLocked) as exc:
        print(f"revem merge: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"revem merge: {exc.filename or args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    for line in report_lines(written):
        print(line)
    print(f"revem merge: {len(written)} report folders in {Path(args.out).resolve()} (summary.md)")
    return 0


def register(sub) -> None:
    p = sub.add_parser("merge", help="merge the report dirs of shards (revem validate --shard I/N) into one",
                       description="Fold the report directories of `revem validate --shard I/N` runs (or of any runs "
                                   "of the same potentials, element and tier) into one report directory whose "
                                   "results.json, report.md, plots and summary.md are those of one unsharded run. "
                                   "The inputs are only read.")
    p.add_argument("inputs", nargs="+", metavar="DIR", help="report directories (--report-dir of each shard)")
    p.add_argument("--out", required=True, metavar="DIR", help="the merged report directory (not one of the inputs)")
    p.set_defaults(func=_cmd_merge)
