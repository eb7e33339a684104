"""Volume windows of the Rev-EM generator (seed paper Sec. 5.1 and 5.3).

All volumes are per atom, in A^3, at the reference density ``v_ref`` (default 15.9 A^3/atom,
bcc W).  Our choices, which the paper does not fix numerically:

* the 17 standard windows split [0.45, 3] x v_ref geometrically (equal ratios V_end / V_start);
* R_core = core_factor * V_start^(1/3), so the exclusion volume 4/3 pi R_core^3 scales with
  V_start (paper); core_factor = 0.85 gives R_core = 2.14 A at V_start = 15.9 A^3
  (bcc-W nearest-neighbour distance 2.74 A); R_min = 0.9 R_core (paper);
* the optional low-density windows for open structures such as graphite (Sec. 5.3, "smaller
  R_core and larger volumes") split [3, 6] x v_ref into 4 windows, all with the R_core of the
  densest standard window.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import numpy as np

N_STANDARD = 17
N_LOW_DENSITY = 4


@dataclass(frozen=True)
class Window:
    index: int
    v_start: float  # A^3/atom
    v_end: float  # A^3/atom
    r_core: float  # A
    r_min: float  # A

    def as_dict(self) -> dict:
        return asdict(self)


def make_windows(v_ref: float = 15.9, core_factor: float = 0.85, rmin_fraction: float = 0.9,
                 low_density: bool = False) -> list[Window]:
    """Standard windows 0-16 (and 17-20 when ``low_density``)."""
    edges = v_ref * 0.45 * (3.0 / 0.45) ** (np.arange(N_STANDARD + 1) / N_STANDARD)
    out = []
    for i in range(N_STANDARD):
        rc = core_factor * edges[i] ** (1.0 / 3.0)
        out.append(Window(i, float(edges[i]), float(edges[i + 1]), float(rc), float(rmin_fraction * rc)))
    if low_density:
        low = v_ref * 3.0 * 2.0 ** (np.arange(N_LOW_DENSITY + 1) / N_LOW_DENSITY)
        rc = out[0].r_core
        for k in range(N_LOW_DENSITY):
            out.append(Window(N_STANDARD + k, float(low[k]), float(low[k + 1]), rc, rmin_fraction * rc))
    return out


_DIGITS = re.compile(r"[0-9]+")


def parse_index_list(text: str) -> list[int]:
    """'0-16', '8', '0,3,5-7' -> sorted unique ints.

    ValueError, with a message naming the offending part, for a negative index ('-1'), an empty
    range ('5-2'), anything that is not an index or a range, and an empty list.
    """
    out: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        a, sep, b = part.partition("-")
        a, b = a.strip(), b.strip()
        if sep and not a and _DIGITS.fullmatch(b):
            raise ValueError(f"window index {part} is negative (windows are numbered from 0)")
        if not _DIGITS.fullmatch(a) or (sep and not _DIGITS.fullmatch(b)):
            raise ValueError(f"{part!r} is not a window index or range (e.g. 8, 0-16 or 0,3,5-7)")
        lo, hi = int(a), int(b) if sep else int(a)
        if hi < lo:
            raise ValueError(f"window range {part} is empty (start {lo} > end {hi}); write {hi}-{lo}")
        out.update(range(lo, hi + 1))
    if not out:
        raise ValueError(f"no window index in {text!r}")
    return sorted(out)
