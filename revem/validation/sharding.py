"""Case costs and shards: which 1/N of a run's cases a batch job runs (``revem validate --shard I/N``).

A validation run is a list of independent cases (:class:`~revem.validation.engine.CaseId`).  A batch
scheduler (a Slurm job array, PBS array jobs) runs it as N jobs, each with ``--shard I/N``
(``I`` = 1..N); ``revem merge`` folds the N report folders into one
(:mod:`revem.validation.merging`).  Every job computes its shard on its own, so the split must be the
same on any machine, at any moment:

* the cases are the run's collected cases in their canonical order (``CaseId`` sorts by potential,
  element, property, case);
* each case has a cost: its measured ``seconds`` in the results files of ``--costs PATH`` (an earlier
  run's report folder: read-only, so every job of an array sees the same numbers), else the median
  measured cost of its property there, else a fixed guess per property and tier (:data:`GUESS_SECONDS`);
* longest-processing-time greedy (LPT): cases by decreasing cost (ties: canonical order) go to the shard
  with the least cost so far (ties: the lowest index).  LPT's makespan is within 4/3 of the optimum.

The report folders of the run itself are *not* a cost source for sharding: jobs of one array finishing
at different times would see different costs and split the cases differently.  They are a cost source
for the progress bar's ETA (:class:`CaseCosts` with ``extra`` folders), where a moving estimate is fine.
"""
from __future__ import annotations

import re
import statistics
from pathlib import Path

from . import results as results_io
from .engine import CaseId

#: mean seconds of a case of each property at the standard tier on one core (W_zhou and W_2940_2017_2, EAM and
#: MEAM, 206 cases in 181 s on the 2-core development machine); only their ratios matter for balancing
GUESS_SECONDS = {"eos": 0.5, "elastic": 0.1, "cohesive": 0.4, "defects": 0.8, "surfaces": 0.3, "gsfe": 0.5,
                 "paths": 0.2, "phonons": 1.4, "grain_boundaries": 1.5, "nve": 6.6, "robustness": 7.1,
                 "dataset_errors": 0.3, "verification": 0.1}
TIER_FACTOR = {"smoke": 0.3, "standard": 1.0, "full": 10.0}
MAX_COST_FILES = 10000  # results files read from one --costs folder


class ShardError(ValueError):
    """A ``--shard`` or ``--costs`` that cannot be used; the message names it."""


def parse_shard(text) -> tuple[int, int]:
    """``"I/N"`` (1 <= I <= N) -> (I, N); a (I, N) tuple is checked and returned."""
    if isinstance(text, (tuple, list)) and len(text) == 2:
        i, n = text
    else:
        m = re.fullmatch(r"\s*(\d{1,6})\s*/\s*(\d{1,6})\s*", str(text))
        if not m:
            raise ShardError(f"--shard {str(text)[:40]!r}: expected I/N with 1 <= I <= N (e.g. 2/8; in a Slurm job "
                             "array: $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT with --array=1-N)")
        i, n = int(m.group(1)), int(m.group(2))
    if not (isinstance(i, int) and isinstance(n, int)) or n < 1 or not 1 <= i <= n:
        raise ShardError(f"--shard {i}/{n}: expected 1 <= I <= N")
    return i, n


class CaseCosts:
    """Seconds per case: measured (from results files), else the property's median measured cost, else a guess.

    ``sources``: report folders or results.json files of earlier runs (any potential; the tier must match to
    count).  A case's own measurement is matched by (potential, element, property, case), else by (element,
    property, case) over any potential (another version of the potential takes about as long)."""

    def __init__(self, tier: str, sources=(), *, strict: bool = True):
        self.tier = tier
        self.exact: dict = {}  # (potential, element, property, case) -> seconds
        self.by_case: dict = {}  # (element, property, case) -> [seconds]
        self.by_property: dict = {}  # property -> [seconds]
        self.files = 0
        for src in sources:
            if src is None:
                continue
            for f in self._files(Path(src), strict):
                self._read(f, strict)

    @staticmethod
    def _files(src: Path, strict: bool) -> list[Path]:
        if src.is_file():
            return [src]
        if not src.is_dir():
            if strict:
                raise ShardError(f"--costs {src}: no such results file or report folder")
            return []
        out = []
        for f in sorted(src.rglob("results.json")):
            if any(p.startswith("previous-") for p in f.relative_to(src).parts):
                continue  # results moved aside by a later run
            out.append(f)
            if len(out) >= MAX_COST_FILES:
                break
        if not out and strict:
            raise ShardError(f"--costs {src}: no results.json below this folder (give an earlier run's --report-dir)")
        return out

    def _read(self, f: Path, strict: bool) -> None:
        try:
            d = results_io.load(f)
        except results_io.ResultsFileError as exc:
            if strict:
                raise ShardError(f"--costs: {exc}") from None
            return
        meta = d["meta"]
        if meta.get("tier") != self.tier:
            return
        pot, el = str((meta.get("potential") or {}).get("name", "")), str(meta.get("element"))
        self.files += 1
        for c in d.get("cases") or []:
            s = c.get("seconds")
            if not isinstance(s, (int, float)) or isinstance(s, bool) or not 0 <= s < 1e7:
                continue
            prop, case = str(c["property"]), str(c["case"])
            self.exact[(pot, el, prop, case)] = float(s)
            self.by_case.setdefault((el, prop, case), []).append(float(s))
            self.by_property.setdefault(prop, []).append(float(s))

    def measured(self, cid: CaseId) -> float | None:
        """The case's measured seconds (this potential, else any potential), None when never measured."""
        s = self.exact.get((cid.potential, cid.element, cid.property, cid.case))
        if s is None and (cid.element, cid.property, cid.case) in self.by_case:
            s = statistics.median(self.by_case[(cid.element, cid.property, cid.case)])
        return s

    def seconds(self, cid: CaseId) -> float:
        """The case's expected seconds (measured, else its property's median, else the fixed guess)."""
        s = self.measured(cid)
        if s is None and cid.property in self.by_property:
            s = statistics.median(self.by_property[cid.property])
        if s is None:
            s = GUESS_SECONDS.get(cid.property, 1.0) * TIER_FACTOR.get(self.tier, 1.0)
        return max(float(s), 1e-3)  # a cached case costs little, never nothing: keeps ties deterministic

    @property
    def any_measured(self) -> bool:
        return bool(self.exact)


def partition(cases: list[CaseId], n: int, costs: CaseCosts) -> list[list[CaseId]]:
    """The cases split into ``n`` shards by LPT greedy on ``costs`` (module docstring); each shard in canonical order."""
    loads = [0.0] * n
    shards: list[list[CaseId]] = [[] for _ in range(n)]
    # rounding the costs to ms keeps the split stable against the last digits of a float sum
    order = sorted(set(cases), key=lambda c: (-round(costs.seconds(c), 3), c))
    for c in order:
        k = min(range(n), key=lambda j: (round(loads[j], 3), j))
        shards[k].append(c)
        loads[k] += round(costs.seconds(c), 3)
    return [sorted(s) for s in shards]


def shard_of(cases: list[CaseId], shard: tuple[int, int], costs: CaseCosts) -> list[CaseId]:
    """The cases of shard ``I/N`` (1-based), in the order they were collected."""
    i, n = shard
    mine = set(partition(cases, n, costs)[i - 1])
    return [c for c in cases if c in mine]
