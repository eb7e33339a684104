"""What a validation run writes: its report folders, owned for the length of the run.

A run writes only the folders of the (potential, element, tier) it runs,
``<report-dir>/<potential>/<element>/<tier>/``, and nothing before its first case starts (so
``pytest --collect-only`` writes nothing):

1. :meth:`RunWriter.begin` takes each folder's lock (``.revem.lock``, an exclusive ``flock``: a second
   run on the same folder is refused with a message naming the owner; the kernel releases the lock when
   the owner dies, even by ``kill -9``), folds in the journal a killed earlier run left, and writes a
   ``report.md`` whose first line says the run is in progress: ``INCOMPLETE: n of N cases not run``.
2. :meth:`RunWriter.record` appends each finished case to ``journal.jsonl`` (fsync'd) and rewrites
   ``report.md`` (text only), so a run killed at any moment leaves a report that says what is missing.
3. :meth:`RunWriter.finish` merges the journal into ``results.json`` (the cases that ran replace their
   earlier records; the others are kept when the earlier run is comparable: same element, tier and
   potential content), draws the plots, writes the final ``report.md`` and ``summary.md``, and releases
   the locks.  Earlier results of other potential content are moved to ``previous-<sha256[:12]>/``,
   never deleted.

A report's verdict covers every case the tier collects for the element (not only those this run
selected): it says PASS or FAIL only when each has a result, ``INCOMPLETE`` otherwise, listing them.
"""
from __future__ import annotations

import datetime
import fcntl
import json
import os
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path

from . import results as results_io
from .engine import CaseId, CaseOutcome, Engine

LOCK_FILE = ".revem.lock"


class FolderLocked(RuntimeError):
    """A report folder another live run is writing; the message names it."""


class FolderLock:
    """An exclusive advisory lock on one report folder (``flock`` on ``.revem.lock``, which says who holds it)."""

    def __init__(self, folder: Path, run_id: str, command: str = ""):
        self.folder, self.run_id, self.command = Path(folder), run_id, command
        self._fd: int | None = None

    def acquire(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                owner = os.read(fd, 4096).decode("utf-8", "replace").strip()
            finally:
                os.close(fd)
            try:
                o = json.loads(owner)
                who = f"pid {o.get('pid')} on {o.get('host')} since {o.get('started')} ({o.get('command', '')[:120]})"
            except (json.JSONDecodeError, AttributeError):
                who = "another process"
            raise FolderLocked(f"report folder {self.folder} is being written by another revem run: {who}; wait for "
                               "it to finish or give another --report-dir") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "run_id": self.run_id,
                                 "started": datetime.datetime.now().isoformat(timespec="seconds"),
                                 "command": self.command}).encode())
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None


@dataclass
class _Folder:
    path: Path
    potential: str
    element: str
    planned: list  # CaseId of every case the tier collects for (potential, element)
    selected: list  # CaseId this run runs
    lock: FolderLock
    old_records: list = field(default_factory=list)  # comparable earlier records (results.json + a killed run's journal)
    old_cases: list = field(default_factory=list)
    old_meta: dict | None = None  # the meta of the comparable earlier results (None when there are none)
    outcomes: list = field(default_factory=list)  # this run's CaseOutcome s
    moved: str = ""  # where earlier results of other content went


class RunWriter:
    """Owns the report folders of one run (module docstring)."""

    def __init__(self, engine: Engine):
        if engine.config.report_dir is None:
            raise ValueError("a RunWriter needs a report directory")
        self.engine = engine
        self.report_dir = Path(engine.config.report_dir)
        self.folders: dict[tuple[str, str], _Folder] = {}
        self.written: list[Path] = []

    # -- begin -----------------------------------------------------------------------------------
    def begin(self, selected: list[CaseId]) -> None:
        """Lock and prepare the folders of ``selected`` (nothing is written when it is empty)."""
        eng = self.engine
        groups: dict = {}
        for c in selected:
            groups.setdefault((c.potential, c.element), []).append(c)
        try:
            for (pot, el), cases in sorted(groups.items()):
                folder = results_io.report_folder(self.report_dir, pot, el, eng.config.tier)
                lock = FolderLock(folder, eng.run_id, eng.config.command)
                lock.acquire()
                f = _Folder(folder, pot, el, eng.planned(eng.targets[pot], el), cases, lock)
                self.folders[(pot, el)] = f
                self._load_earlier(f)
                self._write_report(f, final=False)
        except Exception:
            self.release()
            raise

    def _load_earlier(self, f: _Folder) -> None:
        """Earlier results of this folder: results.json and the journal of a run that was killed before it
        finished, merged; moved to ``previous-<sha>/`` when they are of other potential content."""
        meta = self.engine.meta(f.potential, f.element)
        res = f.path / "results.json"
        old_meta, records, cases = None, [], []
        if res.is_file():
            try:
                d = results_io.load(res)
                old_meta, records, cases = d["meta"], d["records"], d["cases"]
            except results_io.ResultsFileError as exc:
                f.moved = self._move_aside(f.path, "unreadable", str(exc))
        foreign = False
        for emeta, outcome in results_io.read_journal(f.path):
            if old_meta is not None and results_io.incompatible(old_meta, emeta):
                foreign = True  # a journal of other content than the results it would extend: kept aside below
                continue
            o = CaseOutcome.from_json(outcome)
            ran = {(o.case.property, o.case.case)}
            records = results_io.merge(records, o.records, self.engine.protocol_versions, ran)
            cases = [c for c in cases if (c["property"], c["case"]) not in ran] + [_case_entry(o, emeta.get("run_id"))]
            old_meta = old_meta or emeta
        if old_meta is not None and results_io.incompatible(old_meta, meta):
            sha = str((old_meta.get("potential") or {}).get("sha256", ""))[:12] or "unknown"
            f.moved = self._move_aside(f.path, sha, results_io.incompatible(old_meta, meta))
            records, cases, old_meta = [], [], None
        elif (f.path / results_io.JOURNAL).exists():
            # fold the killed run's journal into results.json now, so this run's journal holds only its own cases
            if records or cases:
                results_io.dump(res, old_meta or meta, records, cases)
            journal = f.path / results_io.JOURNAL
            if foreign:
                k = 1
                while (f.path / f"journal.previous-{k}.jsonl").exists():
                    k += 1
                journal.rename(f.path / f"journal.previous-{k}.jsonl")
            else:
                journal.unlink()
        f.old_records, f.old_cases, f.old_meta = records, cases, old_meta

    @staticmethod
    def _move_aside(folder: Path, tag: str, why: str) -> str:
        dest = folder / f"previous-{tag}"
        k = 1
        while dest.exists():
            dest = folder / f"previous-{tag}-{k}"
            k += 1
        dest.mkdir()
        for p in list(folder.iterdir()):
            if p.name in (LOCK_FILE,) or p.name.startswith("previous-"):
                continue
            shutil.move(str(p), dest / p.name)
        (dest / "WHY.txt").write_text(f"moved aside by a later revem run: {why}\n")
        return f"earlier results ({why}) were moved to {dest.name}/"

    def finished_cases(self) -> dict[CaseId, str]:
        """The selected cases that already have a result in their folder (results.json or a killed run's journal)
        that this run would give again: a comparable earlier run (same tier, element and potential content), the
        same protocol version of the case's property, the same ``fail_on`` and baseline (they decide the verdict),
        and a passed or failed status (a skipped case is run again: its data may be there now).  What
        ``--resume`` leaves out; the value is the earlier status (passed or failed)."""
        out = {}
        me = self.engine.meta
        for f in self.folders.values():
            if f.old_meta is None:
                continue
            meta = me(f.potential, f.element)
            if (f.old_meta.get("fail_on"), f.old_meta.get("baseline")) != (meta["fail_on"], meta["baseline"]):
                continue
            old_pv = f.old_meta.get("protocol_versions") or {}
            pv = self.engine.protocol_versions
            stale = {results_io.source_case(r) for r in f.old_records
                     if r.get("protocol_version") != pv.get(r["property"], r.get("protocol_version"))}
            have = {(c["property"], str(c["case"])): c["status"] for c in f.old_cases
                    if c.get("status") in ("passed", "failed")}
            out.update({c: have[(c.property, c.case)] for c in f.selected if (c.property, c.case) in have
                        and (c.property, c.case) not in stale and old_pv.get(c.property) == pv.get(c.property)})
        return out

    def narrow(self, todo: list[CaseId]) -> None:
        """Only ``todo`` of the selected cases will run (``--resume``): the in-progress reports count those."""
        keep = set(todo)
        for f in self.folders.values():
            f.selected = [c for c in f.selected if c in keep]
            self._write_report(f, final=False)

    # -- during the run --------------------------------------------------------------------------
    def record(self, outcome: CaseOutcome) -> None:
        """Journal one finished case and refresh its folder's report."""
        f = self.folders.get((outcome.case.potential, outcome.case.element))
        if f is None:
            return
        results_io.append_journal(f.path, outcome.to_json(), self.engine.meta(f.potential, f.element))
        f.outcomes.append(outcome)
        self._write_report(f, final=False)

    # -- end -------------------------------------------------------------------------------------
    def finish(self, problems: list[str] = (), notes: list[str] = ()) -> list[Path]:
        """Write results.json, plots and the final report of every folder, then summary.md; release the locks."""
        from .report import write_summary

        try:
            for f in self.folders.values():
                records, cases = self._merged(f)
                if not records and not cases:
                    continue
                meta = dict(self.engine.meta(f.potential, f.element))
                where = f"{f.potential} / {f.element}:"
                meta["baseline_problems"] = [x for x in (*problems, *notes) if x.startswith(where)]
                results_io.dump(f.path / "results.json", meta, records, cases,
                                planned=[(c.property, c.case) for c in f.planned])
                (f.path / results_io.JOURNAL).unlink(missing_ok=True)
                self._write_report(f, final=True, meta=meta)
                self.written.append(f.path)
            if self.written:
                write_summary(self.report_dir)
        finally:
            self.release()
        return self.written

    def release(self) -> None:
        for f in self.folders.values():
            f.lock.release()

    # -- helpers ---------------------------------------------------------------------------------
    def _merged(self, f: _Folder) -> tuple[list, list]:
        records, cases = list(f.old_records), list(f.old_cases)
        for o in f.outcomes:
            ran = {(o.case.property, o.case.case)}
            records = results_io.merge(records, o.records, self.engine.protocol_versions, ran)
            cases = [c for c in cases if (c["property"], c["case"]) not in ran] + [_case_entry(o, self.engine.run_id)]
        return records, cases

    def _write_report(self, f: _Folder, final: bool, meta: dict | None = None) -> None:
        records, cases = self._merged(f)
        meta = meta or self.engine.meta(f.potential, f.element)
        running = None if final else {"done": len(f.outcomes), "selected": len(f.selected),
                                      "run": f"of pid {os.getpid()} started {meta.get('date', '')}"}
        write_report(f.path, f.potential, f.element, records, meta, cases, [(c.property, c.case) for c in f.planned],
                     running=running, moved=f.moved)


def write_report(folder: Path, potential: str, element: str, records: list, meta: dict, cases: list, planned: list,
                 running: dict | None = None, moved: str = "") -> None:
    """``report.md`` of a report folder; the final one (``running`` None) with its plots, drawn afresh."""
    from .report import make_plots, markdown

    md = markdown(potential, element, records, meta, cases=cases, planned=planned, running=running, moved=moved)
    if running is None:
        for png in folder.glob("*.png"):
            png.unlink()
        pngs = make_plots(records, folder)
        if pngs:
            md += "## Plots\n\n" + "\n".join(f"![{p.stem}]({p.name})" for p in pngs) + "\n"
    results_io.write_text_atomic(folder / "report.md", md)


def _case_entry(o: CaseOutcome, run_id: str | None) -> dict:
    return {"property": o.case.property, "case": o.case.case, "status": o.status, "failures": o.failures[:20],
            "reason": o.reason, "seconds": round(o.seconds, 3), "run_id": run_id}
