"""One progress bar for a validation run: cases done, failed and remaining, with an ETA from case costs.

The bar advances by each finished case's *expected cost* (:class:`~revem.validation.sharding.CaseCosts`:
its seconds measured by an earlier run, else its property's median, else a fixed guess), so a run whose
first cases are cheap does not promise to end in a minute, and the ETA is tqdm's (remaining cost over the
rate measured so far, which includes the parallelism of a Dask cluster).  Without any earlier
measurement every case weighs the same and the bar counts cases.  The same bar serves local and Dask
runs: the Dask loop refreshes it every second and shows the workers connected.

    validating: 12/58 cases done, 1 failed, 46 remaining |█████▏     | 41% [00:31<00:45, 2 workers]
"""
from __future__ import annotations

from .engine import CaseId, CaseOutcome
from .sharding import CaseCosts

BAR_FORMAT = "{desc} |{bar}| {percentage:3.0f}% [{elapsed}<{remaining}{postfix}]"


class CaseProgress:
    """A tqdm bar over ``cases`` weighted by ``costs`` (silent when ``enabled`` is false)."""

    def __init__(self, cases: list[CaseId], costs: CaseCosts | None, enabled: bool = True, what: str = "validating"):
        from tqdm.auto import tqdm

        self.n = len(cases)
        weighted = costs is not None and costs.any_measured
        self.weight = {c: (costs.seconds(c) if weighted else 1.0) for c in cases}
        self.done = self.failed = self.lost = 0
        self.what = what
        self.total = round(sum(self.weight.values()), 3) or 1.0  # expected seconds (or cases) of the run
        self.cost_done = 0.0  # of which done: what the ETA extrapolates
        self.bar = tqdm(total=self.total, disable=not enabled, bar_format=BAR_FORMAT,
                        desc=self._desc(), dynamic_ncols=True, mininterval=0.5)

    def _desc(self) -> str:
        rest = self.n - self.done - self.lost
        lost = f", {self.lost} lost" if self.lost else ""
        return f"{self.what}: {self.done}/{self.n} cases done, {self.failed} failed{lost}, {rest} remaining"

    def finished(self, outcome: CaseOutcome) -> None:
        """A case finished (passed, failed or skipped)."""
        self.done += 1
        self.failed += outcome.status == "failed"
        self._advance(outcome.case)

    def lost_case(self, cid: CaseId) -> None:
        """A case that will not finish in this run (its worker died too often)."""
        self.lost += 1
        self._advance(cid)

    def _advance(self, cid: CaseId) -> None:
        w = min(self.weight.get(cid, 0.0), max(self.total - self.cost_done, 0.0))
        self.cost_done += w
        self.bar.set_description_str(self._desc(), refresh=False)
        self.bar.update(w)

    def note(self, text: str) -> None:
        """A short state shown after the ETA (e.g. the number of Dask workers); refreshes the ETA."""
        self.bar.set_postfix_str(text, refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()
