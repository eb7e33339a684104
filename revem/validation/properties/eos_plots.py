"""Plots of the eos protocol (:mod:`revem.validation.properties.eos`): parity with the references and E–V curves."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..plotting import DFT_COLOUR, POTENTIAL_COLOUR, TOLERANCE_COLOUR
from ..plotting import finite as _finite
from ...atomistic import EV_PER_A3_TO_GPA

#: the units of the eos protocol's quantities (its records and these plots)
UNITS = {"a0": "Å", "E0_rel": "eV/atom", "V0": "Å^3/atom", "B0": "GPa", "B0_prime": ""}

# -- plots --------------------------------------------------------------------------------------------

_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">")


def _short_source(src) -> str:
    src = (src or "reference").strip()
    return src if len(src) <= 34 else src[:33] + "…"


def _fit_curve(d: dict, volumes):
    """The fitted E(V) of a record's ``data`` on ``volumes`` (None when the form or a parameter is missing)."""
    import ase.eos

    f = getattr(ase.eos, d.get("eos") or "", None)
    pars = [d.get(k) for k in ("E0", "B0", "B0_prime", "V0")]
    if d.get("eos") not in ("birchmurnaghan", "murnaghan", "birch", "vinet", "pouriertarantola") or not callable(f) \
            or not all(_finite(x) for x in pars):
        return None
    e0, b0, bp, v0 = map(float, pars)
    with np.errstate(all="ignore"):
        e = f(np.asarray(volumes, float), e0, b0 / EV_PER_A3_TO_GPA, bp, v0)
    return e if np.all(np.isfinite(e)) else None


def plot(records: list[dict], outdir: Path) -> list[Path]:
    """Parity of E0_rel, V0, B0 (potential vs each reference, like seed 000 Fig. 6) and E–V curves.

    Colours follow :mod:`revem.validation.report`: DFT/reference black, the potential red, tolerances grey
    (vertical bars ± tolerance on the parity plots, boxes V0 ± tol × E0_rel ± tol on the E–V plot).
    Reference sources are told apart by marker shape.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch, Rectangle

    outdir = Path(outdir)
    made = []
    pot = next((r.get("potential") for r in records if r.get("potential")), "potential")
    sources = sorted({_short_source(r.get("reference_source")) for r in records if r.get("reference") is not None})
    marker = {src: _MARKERS[i % len(_MARKERS)] for i, src in enumerate(sources)}

    fig, axes = plt.subplots(1, 3, figsize=(13, 4.4))
    any_point = any_tol = False
    used = set()
    for ax, q in zip(axes, ("E0_rel", "V0", "B0")):
        pts = [r for r in records if r.get("quantity") == q and _finite(r.get("reference")) and _finite(r.get("value"))]
        vals = [float(v) for r in pts for v in (r["reference"], r["value"])]
        vals += [float(r["reference"]) + s * float(r["tolerance"]) for r in pts if _finite(r.get("tolerance"))
                 for s in (-1, 1)]
        if vals:
            lo, hi = min(vals), max(vals)
            pad = 0.05 * (hi - lo or abs(hi) or 1)
            ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "--", color=DFT_COLOUR, lw=0.8, zorder=1)
            ax.set_xlim(lo - pad, hi + pad)
            ax.set_ylim(lo - pad, hi + pad)
        for r in pts:
            x, y = float(r["reference"]), float(r["value"])
            if _finite(r.get("tolerance")) and r["tolerance"] > 0:  # the band a passing potential must hit
                t = float(r["tolerance"])
                ax.plot([x, x], [x - t, x + t], "-", color=TOLERANCE_COLOUR, lw=7, solid_capstyle="butt", zorder=0)
            src = _short_source(r.get("reference_source"))
            filled = r.get("passed") is not None
            ax.plot(x, y, marker[src], ms=5, color=POTENTIAL_COLOUR, mfc=POTENTIAL_COLOUR if filled else "none",
                    linestyle="none", zorder=3)
            ax.annotate(r.get("case", ""), (x, y), fontsize=7, xytext=(4, 3), textcoords="offset points")
            any_point = True
        ax.set_xlabel(f"DFT {q} ({UNITS[q]})")
        ax.set_ylabel(f"{pot} {q} ({UNITS[q]})")
        used |= {_short_source(r.get("reference_source")) for r in pts}
        any_tol = any_tol or any(_finite(r.get("tolerance")) for r in pts)
    if any_point:
        handles = [Line2D([], [], marker=marker[s], color=POTENTIAL_COLOUR, linestyle="none", ms=5,
                          label=f"{pot} vs {s}") for s in sorted(used)]
        if any_tol:
            handles.append(Patch(color=TOLERANCE_COLOUR, label="reference ± tolerance"))
        fig.legend(handles=handles, fontsize=7, loc="lower center", ncol=min(len(handles), 4), frameon=False)
        fig.suptitle(f"{pot} vs DFT (dashed diagonal: agreement; hollow: not scored)", fontsize=9)
        fig.tight_layout(rect=(0, 0.07, 1, 1))
        p = outdir / "eos_parity.png"
        fig.savefig(p, dpi=110)
        made.append(p)
    plt.close(fig)

    curves = {}
    for r in records:
        d = r.get("data") or {}
        if d.get("volumes") and d.get("energies"):
            curves[r["case"]] = d
    base = next((d.get("base") for d in curves.values() if d.get("base")), "bcc")
    e_bcc = curves.get(base, {}).get("E0")  # the zero of the plot: the base case of E0_rel
    if curves and _finite(e_bcc):
        fig, ax = plt.subplots(figsize=(7, 5))
        order = sorted(curves.items(), key=lambda kv: kv[1].get("E0_rel") if _finite(kv[1].get("E0_rel")) else 0.0)
        ref = {}  # (case, quantity) -> [(source, reference, tolerance)]
        for r in records:
            if r.get("quantity") in ("V0", "E0_rel") and _finite(r.get("reference")):
                ref.setdefault((r["case"], r["quantity"]), []).append(
                    (r.get("reference_source"), float(r["reference"]),
                     float(r["tolerance"]) if _finite(r.get("tolerance")) else 0.0))
        any_dft = any_box = False
        for i, (case, d) in enumerate(order):
            mk = _MARKERS[i % len(_MARKERS)]
            v = np.asarray(d["volumes"], float)
            e = np.asarray(d["energies"], float) - float(e_bcc)
            ok = np.isfinite(v) & np.isfinite(e)
            if not ok.any():
                continue
            dense = np.linspace(v[ok].min(), v[ok].max(), 80)
            fit = _fit_curve(d, dense)
            style = ":" if d.get("relaxed_into") else "-"
            if fit is not None:
                ax.plot(dense, fit - float(e_bcc), style, color=POTENTIAL_COLOUR, lw=1.2, zorder=2)
                ax.plot(v[ok], e[ok], mk, ms=4, color=POTENTIAL_COLOUR, zorder=3)
            else:
                ax.plot(v[ok], e[ok], style + mk, ms=4, color=POTENTIAL_COLOUR, lw=1.2, zorder=2)
            label = case + (f" (relaxed into {d['relaxed_into']})" if d.get("relaxed_into") else "")
            j = int(np.argmax(np.where(ok, v, -np.inf)))
            ax.annotate(label, (v[j], e[j]), fontsize=7, color=POTENTIAL_COLOUR, xytext=(4, 0),
                        textcoords="offset points", va="center")
            dft = (d.get("dft") or {}).get(case)
            e0_dft = dft.get("E0_base", dft.get("E0_bcc")) if dft else None
            if dft and _finite(e0_dft) and dft.get("volumes"):
                ax.plot(dft["volumes"], np.asarray(dft["energies"], float) - float(e0_dft), mk, ms=3.5,
                        mfc="none", mew=0.8, color=DFT_COLOUR, zorder=2.5)
                any_dft = True
            for src, v0, tv in ref.get((case, "V0"), []):  # tolerance box around the DFT minimum
                es = ref.get((case, "E0_rel"), [])
                same = [x for x in es if x[0] == src] or es[:1]
                if not same and case != base:  # the base case is the zero of E0_rel
                    continue
                e0, te = (same[0][1], same[0][2]) if same else (0.0, 0.0)
                if te > 0:
                    ax.add_patch(Rectangle((v0 - tv, e0 - te), 2 * tv, 2 * te, facecolor=TOLERANCE_COLOUR,
                                           edgecolor="none", zorder=0))
                else:
                    ax.plot([v0 - tv, v0 + tv], [e0, e0], "-", color=TOLERANCE_COLOUR, lw=7, solid_capstyle="butt",
                            zorder=0)
                any_box = True
        ax.set_xlabel("volume (Å$^3$/atom)")
        ax.set_ylabel(f"E − E0({base}) (eV/atom)")
        ax.set_title(f"E–V: {pot} (red) vs DFT E–V sets (black, relative to the DFT {base} E0)", fontsize=9)
        handles = [Line2D([], [], color=POTENTIAL_COLOUR, marker="o", ms=4, label=f"{pot} (points + fit)")]
        if any_dft:
            handles.append(Line2D([], [], color=DFT_COLOUR, marker="o", mfc="none", ms=4, linestyle="none",
                                  label="DFT E–V points"))
        if any_box:
            handles.append(Patch(color=TOLERANCE_COLOUR, label="DFT V0 ± tol, E0_rel ± tol"))
        ax.legend(handles=handles, fontsize=7, loc="upper left")
        ax.margins(x=0.08)
        fig.tight_layout()
        p = outdir / "eos_curves.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        made.append(p)
    return made


