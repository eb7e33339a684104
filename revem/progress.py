"""Progress bars for long dataset work (``revem diversity``, ``select``, ``label``, ``generate``, ...).

One rule everywhere: a tqdm bar on stderr with the count, the rate and the ETA (tqdm's ``elapsed<remaining``),
updated at most twice a second; none when the command runs with ``--no-progress`` / ``--quiet``.  A stage whose
inner work cannot be counted (one library call) is one step of its stage bar, so the ETA is the measured time
per step times the steps left.
"""
from __future__ import annotations

import sys
import time


class _Null:
    """A bar that shows nothing (progress disabled)."""

    n = 0

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix_str(self, *a, **k) -> None:
        pass

    def set_description_str(self, *a, **k) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def bar(total: int | None, desc: str, enabled: bool = True, unit: str = "it", leave: bool = True):
    """A tqdm bar on stderr (count, rate, ETA), or a silent stand-in when ``enabled`` is false."""
    if not enabled:
        return _Null()
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True, mininterval=0.5,
                smoothing=0.1, leave=leave)


def each(items, desc: str, enabled: bool = True, unit: str = "it", total: int | None = None):
    """``items`` with a progress bar (:func:`bar`)."""
    if total is None:
        try:
            total = len(items)
        except TypeError:
            total = None
    with bar(total, desc, enabled, unit) as b:
        for x in items:
            yield x
            b.update(1)


class Ticker:
    """One line per finished step, for work whose steps are long and few (a DFT calculation each): ``[k/n]``,
    the step's wall time, the mean so far and, when ``n`` is known, the ETA (mean time per step x steps left).
    Lines go to ``stream`` (stdout by default) and are flushed at once."""

    def __init__(self, total: int | None, what: str, stream=None, clock=time.monotonic):
        self.total, self.what, self.clock = total, what, clock
        self.stream = stream if stream is not None else sys.stdout
        self.t0 = self.last = clock()
        self.done = 0

    @staticmethod
    def _fmt(s: float) -> str:
        s = max(0.0, float(s))
        if s < 60:
            return f"{s:.1f} s"
        m, s = divmod(int(round(s)), 60)
        if m < 60:
            return f"{m} min {s:02d} s"
        h, m = divmod(m, 60)
        return f"{h} h {m:02d} min"

    def line(self, note: str = "") -> str:
        now = self.clock()
        step, self.last = now - self.last, now
        self.done += 1
        mean = (now - self.t0) / self.done
        of = f"/{self.total}" if self.total else ""
        eta = ""
        if self.total:
            left = max(self.total - self.done, 0)
            eta = f", ETA {self._fmt(mean * left)}" if left else ", done"
        return (f"{self.what} [{self.done}{of}] {note + ': ' if note else ''}{self._fmt(step)} (mean "
                f"{self._fmt(mean)}, elapsed {self._fmt(now - self.t0)}{eta})")

    def tick(self, note: str = "") -> None:
        print(self.line(note), file=self.stream, flush=True)
