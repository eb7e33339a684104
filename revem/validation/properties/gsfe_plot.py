"""Figures of the γ-line protocol (:mod:`revem.validation.properties.gsfe`): seed 000 Fig. 8 style."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..plotting import DFT_COLOUR, POTENTIAL_COLOUR, TOLERANCE_COLOUR
from ..plotting import finite as _finite
from ..plotting import scored as _scored
from .gsfe_cells import OWN_LINES, OWN_RELAXED, STACKING_FAULT


def plot(records: list[dict], outdir: Path) -> list[Path]:
    """γ(u) of both bcc planes, potential (red) vs DFT (black), seed 000 Fig. 8 (fcc/hcp: the own lines).

    Grey: the DFT points ± the tolerance of the curve's RMSE (a band) and the DFT γ_us ± its tolerance
    (dashed box).  Secondary potential lines (own a0, relaxed) are red in other line styles.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    curves = {r.get("case"): r["data"] for r in records if r.get("data")}
    if not any(str(k).endswith(("_unrelaxed", "_relaxed", "_gamma_us", "_relaxed_slab")) and k not in OWN_RELAXED
               for k in curves):
        return _plot_own_lines(records, curves, outdir)
    pot = records[0].get("potential", "potential")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, plane in zip(axes, ("110", "112")):
        u = curves.get(f"{plane}_unrelaxed")
        if u and u.get("f") and u.get("gamma_dft"):
            f = np.asarray(u["f"], float)
            g = np.asarray([x if _finite(x) else np.nan for x in u["gamma_dft"]], float)
            ok = np.isfinite(f) & np.isfinite(g)
            fu = np.unique(f[ok])
            gu = np.array([g[ok][f[ok] == x].mean() for x in fu])
            rm = _scored(records, f"{plane}_unrelaxed", "rmse")
            if rm and rm["tolerance"] > 0 and len(fu) > 1:
                t = float(rm["tolerance"])
                ax.fill_between(fu, gu - t, gu + t, color=TOLERANCE_COLOUR, lw=0, zorder=0,
                                label="DFT ± tolerance of the RMSE")
            us = _scored(records, f"{plane}_unrelaxed", "gamma_us_sampled")
            if us and us["tolerance"] > 0 and len(gu):
                t, ref = float(us["tolerance"]), float(us["reference"])
                fx = fu[int(np.argmin(np.abs(gu - ref)))]
                ax.add_patch(Rectangle((fx - 0.03, ref - t), 0.06, 2 * t, facecolor=TOLERANCE_COLOUR,
                                       edgecolor=DFT_COLOUR, lw=0.6, ls="--", zorder=0.5,
                                       label="DFT γ_us ± tolerance"))
            cells = "DFT slabs" if u.get("variant") else "DFT cells"
            a_dft = f"{u['lattice_a_A']:.4f}".rstrip("0") if _finite(u.get("lattice_a_A")) else "?"
            ax.plot(f[ok], g[ok], "o", ms=5, color=DFT_COLOUR, zorder=4, label=f"DFT ({cells}, unrelaxed)")
            if u.get("f_dense") and u.get("gamma_dense"):
                ax.plot(u["f_dense"], u["gamma_dense"], "-", color=POTENTIAL_COLOUR, lw=1.4, zorder=3,
                        label=f"{pot} unrelaxed (DFT a = {a_dft} Å)")
            elif u.get("gamma"):
                ax.plot(u["f"], u["gamma"], "-", color=POTENTIAL_COLOUR, lw=1.4, zorder=3,
                        label=f"{pot} unrelaxed (DFT a = {a_dft} Å)")
        rs = curves.get(f"{plane}_relaxed_slab")
        if rs and rs.get("f") and rs.get("gamma_dft"):
            ax.plot(rs["f"], rs["gamma_dft"], "^", ms=5, mfc="none", color=DFT_COLOUR, zorder=4,
                    label="DFT (slabs, relaxed ⊥)")
            ax.plot(rs["f"], rs["gamma"], "--^", ms=3, color=POTENTIAL_COLOUR, lw=1, zorder=3,
                    label=f"{pot} relaxed ⊥ (DFT slabs)")
        d = curves.get(f"{plane}_gamma_us")
        if d and d.get("f") and d.get("gamma"):
            a0 = f" {d['a0_A']:.4f} Å" if _finite(d.get("a0_A")) else ""
            ax.plot(d["f"], d["gamma"], ":", color=POTENTIAL_COLOUR, lw=1.2, zorder=3,
                    label=f"{pot} unrelaxed (own a0{a0})")
            if _finite(d.get("f_max")) and _finite(d.get("gamma_us")):
                ax.plot([d["f_max"]], [d["gamma_us"]], "*", color=POTENTIAL_COLOUR, ms=9, zorder=5,
                        label="γ_us (own a0)")
        r = curves.get(f"{plane}_relaxed")
        if r and r.get("f") and r.get("gamma"):
            ax.plot(r["f"], r["gamma"], "--s", ms=3, color=POTENTIAL_COLOUR, lw=1, zorder=3,
                    label=f"{pot} relaxed ⊥ (own a0)")
        notes = []
        for case, q in ((f"{plane}_unrelaxed", "rmse"), (f"{plane}_symmetry", "max_asymmetry"),
                        (f"{plane}_asymmetry", "asymmetry")):
            a = _scored(records, case, q)
            if a and _finite(a.get("value")):
                ref = "tolerance " if q == "rmse" else f"DFT {a['reference']:.0f} ± "
                notes.append(f"{q}: {a['value']:.0f} ({ref}{a['tolerance']:.0f}) mJ/m²")
        if notes:
            ax.text(0.5, 0.02, "\n".join(notes), transform=ax.transAxes, ha="center", va="bottom", fontsize=7)
        ax.set_title(f"({plane})[111]")
        ax.set_xlabel("displacement (b)")
        ax.set_ylabel("γ (mJ/m²)")
        ax.set_xlim(0, 1)
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo, hi + 0.15 * (hi - lo))  # room for the legend
    handles = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in handles:
                handles[lab] = h
    if handles:
        fig.legend(list(handles.values()), list(handles.keys()), fontsize=7, loc="lower center", ncol=3, frameon=False)
    fig.tight_layout(rect=(0, 0.03 + 0.045 * ((len(handles) + 2) // 3), 1, 1))
    path = Path(outdir) / "gsfe.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]


def _plot_own_lines(records: list[dict], curves: dict, outdir: Path) -> list[Path]:
    """fcc/hcp own-cell γ lines (potential, red; relaxed dashed) with the stacking-fault and unstable energies
    against their references (black dashed) where stored."""
    import matplotlib.pyplot as plt

    own = [(c, d) for c, d in curves.items() if c in OWN_LINES and d.get("f") and d.get("gamma")]
    if not own:
        return []
    pot = records[0].get("potential", "potential")
    fig, axes = plt.subplots(1, len(own), figsize=(5 * len(own), 4), squeeze=False)
    for ax, (case, d) in zip(axes[0], own):
        ax.plot(d["f"], d["gamma"], "-", color=POTENTIAL_COLOUR, lw=1.4, label=f"{pot} unrelaxed (own a0)")
        relaxed = next((c for c, line in OWN_RELAXED.items() if line == case), None)
        r = curves.get(relaxed) if relaxed else None
        if r and r.get("f") and r.get("gamma"):
            ax.plot(r["f"], r["gamma"], "--s", ms=3, color=POTENTIAL_COLOUR, lw=1, label=f"{pot} relaxed ⊥")
        for c in (case, relaxed):
            for q in ("gamma_us", STACKING_FAULT.get(d.get("lattice"), "gamma_isf")):
                a = _scored(records, c, q) if c else None
                if a and _finite(a.get("reference")):
                    ax.axhline(a["reference"], color=DFT_COLOUR, ls="--", lw=0.8, label=f"reference {q} ({c})")
        ax.set_title(case)
        ax.set_xlabel(d.get("f_unit", "f"))
        ax.set_ylabel("γ (mJ/m²)")
        ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    path = Path(outdir) / "gsfe.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]
