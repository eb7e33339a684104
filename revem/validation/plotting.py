"""Shared plotting helpers of the property reports: one colour convention (DFT/reference black, the
potential red, tolerance bands grey) and the reference-vs-potential bar chart used by several properties."""
from __future__ import annotations

import numpy as np

# one colour convention for every plot: DFT/reference vs the potential
DFT_COLOUR = "black"
POTENTIAL_COLOUR = "tab:red"
TOLERANCE_COLOUR = "0.85"

_HATCHES = ("", "////", "....", "xxx", "\\\\\\\\", "++")


def finite(x) -> bool:
    try:
        return x is not None and bool(np.isfinite(float(x)))
    except (TypeError, ValueError):
        return False


def scored(records: list[dict], case: str, quantity: str) -> dict | None:
    """The first record of ``case``/``quantity`` with a finite reference and tolerance (plot helper)."""
    return next((r for r in records if r.get("case") == case and r.get("quantity") == quantity
                 and finite(r.get("reference")) and finite(r.get("tolerance"))), None)


def reference_bars(ax, labels, values, refs, pot_label):
    """Grouped bars, one group per label: a hollow black bar per reference (sources told apart by
    hatching), the potential's bar in red, and behind the group a grey band reference ± tolerance.

    ``values``: the potential's numbers (None allowed); ``refs``: per label a list of
    ``(source label, reference, tolerance or None)``.  Returns the group centres.
    """
    from matplotlib.patches import Patch, Rectangle


    x = np.arange(len(labels), dtype=float)
    w = 0.8 / (1 + max((len(g) for g in refs), default=0))
    sources = sorted({g[0] for group in refs for g in group if finite(g[1])})  # same hatch, whatever the order
    hatch = {src: _HATCHES[k % len(_HATCHES)] for k, src in enumerate(sources)}
    handles = {}
    for i, group in enumerate(refs):
        group = sorted(((s, float(r), t) for s, r, t in group if finite(r)), key=lambda g: g[0])
        m = len(group) + 1
        left = x[i] - m * w / 2
        for k, (src, ref, tol) in enumerate(group):
            h = hatch[src]
            if finite(tol) and float(tol) > 0:
                ax.add_patch(Rectangle((left - 0.06, ref - float(tol)), m * w + 0.12, 2 * float(tol),
                                       facecolor=TOLERANCE_COLOUR, edgecolor="none", zorder=0))
            ax.bar(left + w * (k + 0.5), ref, w, facecolor="none", edgecolor=DFT_COLOUR, lw=1, hatch=h, zorder=2)
            handles.setdefault(src, Patch(facecolor="none", edgecolor=DFT_COLOUR, hatch=h, label=src))
            if finite(tol) and float(tol) > 0:
                handles.setdefault(None, Patch(color=TOLERANCE_COLOUR, label="reference ± tolerance"))
        if finite(values[i]):
            ax.bar(left + w * (m - 0.5), float(values[i]), w, color=POTENTIAL_COLOUR, zorder=2)
            handles.setdefault("\0pot", Patch(color=POTENTIAL_COLOUR, label=pot_label))
    order = [k for k in sources if k in handles] + [k for k in ("\0pot", None) if k in handles]
    ax.set_xlim(-0.6, len(labels) - 0.4)
    if order:
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo, hi + 0.25 * (hi - lo))  # headroom for the legend
        ax.legend(handles=[handles[k] for k in order], fontsize=7, ncol=2, loc="upper left")
    return x
