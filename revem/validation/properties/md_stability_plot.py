"""Plots of the ``md_stability`` property (:mod:`revem.validation.properties.md_stability`), from the records' data:
the heating ramp (volume, enthalpy and crystalline order against temperature, the hot liquid's g(r)), the
compression ramp (pressure and shortest distance against V/V0) and the liquid's g(r) against AIMD.

Colours as every revem plot (:mod:`revem.validation.plotting`): the potential red, references (experiment's T_m, the
AIMD g(r), the protocol's thresholds) black, tolerances grey."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..plotting import DFT_COLOUR, POTENTIAL_COLOUR, TOLERANCE_COLOUR


def _arr(values) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in (values or [])], float)


def _failure(ax, d: dict) -> None:
    if d.get("failure"):
        ax.text(0.02, 0.02, f"FAILED: {d['failure'][:90]}", transform=ax.transAxes, fontsize=6.5, color=POTENTIAL_COLOUR,
                va="bottom")


def _heating(r: dict, outdir: Path) -> Path:
    import matplotlib.pyplot as plt

    d = r["data"]
    t, v, pe = _arr(d.get("T_K")), _arr(d.get("V_A3_per_atom")), _arr(d.get("pe_eV_per_atom"))
    q6, bragg = _arr(d.get("q6")), _arr(d.get("bragg"))
    pot = r.get("potential", "potential")
    fig, axs = plt.subplots(1, 3, figsize=(12, 3.6))
    ax = axs[0]
    if len(v):
        ax.plot(t, v / v[0], ".-", color=POTENTIAL_COLOUR, ms=3, lw=0.8, label=f"{pot}: V/V(300 K)")
        axh = ax.twinx()
        axh.plot(t, pe + 1.5 * 8.617333e-5 * t - (pe[0] + 1.5 * 8.617333e-5 * t[0]), "--", color=POTENTIAL_COLOUR,
                 lw=0.8, alpha=0.6, label="H - H(300 K)")
        axh.set_ylabel("H - H(300 K) (eV/atom)")
        axh.legend(fontsize=7, loc="lower right")
    ax.set_xlabel("T (K, chunk average)")
    ax.set_ylabel("V / V(300 K)")
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title(f"{r.get('element', '')} NPT heating ({d.get('natoms')} atoms, {d.get('backend')})", fontsize=9)
    ax = axs[1]
    if len(q6):
        ax.plot(t, q6, ".-", color=POTENTIAL_COLOUR, ms=3, lw=0.8, label="Q6 (bond order)")
        ax.plot(t, bragg, ":", color=POTENTIAL_COLOUR, lw=1, label="Bragg amplitude (initial lattice)")
    ax.axhline(0.2, color=TOLERANCE_COLOUR, lw=6, zorder=0, label="crystalline threshold (Q6 = 0.2)")
    if d.get("T_m_K"):
        ax.axvline(d["T_m_K"], color=DFT_COLOUR, ls="--", lw=1, label=f"T_m, experiment ({d['T_m_K']:.0f} K)")
    if d.get("T_melt_K"):
        ax.axvline(d["T_melt_K"], color=POTENTIAL_COLOUR, lw=1, label=f"order lost ({d['T_melt_K']:.0f} K)")
    ax.set_xlabel("T (K)")
    ax.set_ylabel("order parameter")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=6.5)
    _failure(ax, d)
    ax = axs[2]
    hot = d.get("gr_hot")
    if hot:
        ax.plot(hot["r_A"], hot["g"], color=POTENTIAL_COLOUR, lw=1,
                label=f"{pot}, {hot['T_K'][0]:.0f}-{hot['T_K'][1]:.0f} K")
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no liquid at the hot end", ha="center", transform=ax.transAxes, fontsize=8)
    ax.set_xlabel("r (Å)")
    ax.set_ylabel("g(r)")
    ax.set_title("liquid at the end of the ramp (P = 0)", fontsize=9)
    fig.tight_layout()
    path = Path(outdir) / f"md_stability_heating_{pot}_{r.get('element', '')}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _compression(r: dict, outdir: Path) -> Path:
    import matplotlib.pyplot as plt

    d = r["data"]
    x = _arr(d.get("V_A3_per_atom")) / float(d.get("V0_A3_per_atom") or np.nan)
    pot = r.get("potential", "potential")
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    ax.plot(x, _arr(d.get("P_GPa")), ".-", color=POTENTIAL_COLOUR, ms=3, lw=0.8, label=f"{pot}: P (300 K)")
    ax.axvline(0.5, color=DFT_COLOUR, ls="--", lw=1, label="end of the ramp (0.5 V0)")
    ax.set_xlabel("V / V0")
    ax.set_ylabel("P (GPa)")
    ax.invert_xaxis()
    axr = ax.twinx()
    axr.plot(x, _arr(d.get("r_min_A")), ":", color=POTENTIAL_COLOUR, lw=1, label="shortest distance")
    axr.axhline(0.5, color=TOLERANCE_COLOUR, lw=6, zorder=0, label="collapse (0.5 Å)")
    axr.set_ylabel("shortest distance (Å)")
    axr.set_ylim(0, None)
    ax.legend(fontsize=7, loc="upper left")
    axr.legend(fontsize=7, loc="lower right")
    ax.set_title(f"{r.get('element', '')} compression ({d.get('natoms')} atoms, {d.get('backend')})", fontsize=9)
    _failure(ax, d)
    fig.tight_layout()
    path = Path(outdir) / f"md_stability_compression_{pot}_{r.get('element', '')}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _liquid(r: dict, outdir: Path) -> Path:
    import matplotlib.pyplot as plt

    d = r["data"]
    pot = r.get("potential", "potential")
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    ax.plot(d["r_A"], d["g_aimd"], color=DFT_COLOUR, lw=1.2, label=f"AIMD: {str(d.get('label', ''))[:45]}")
    ax.plot(d["r_A"], _arr(d["g"]), color=POTENTIAL_COLOUR, lw=1, label=f"{pot} (gr_rmse {r.get('value') or float('nan'):.3f})")
    ax.set_xlabel("r (Å)")
    ax.set_ylabel("g(r)")
    ax.set_title(f"{r.get('element', '')} liquid, {d.get('T_K', 0):.0f} K, {d.get('V_A3_per_atom', 0):.2f} Å$^3$/atom",
                 fontsize=9)
    ax.legend(fontsize=7)
    _failure(ax, d)
    fig.tight_layout()
    path = Path(outdir) / f"md_stability_{r.get('case', 'liquid')}_{pot}_{r.get('element', '')}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot(records: list[dict], outdir) -> list:
    """One figure per ramp and per liquid case (see the module docstring)."""
    import matplotlib

    matplotlib.use("Agg")
    made = []
    for r in records:
        if not r.get("data"):
            continue
        q = r.get("quantity")
        if q == "heating_reach_K":
            made.append(_heating(r, outdir))
        elif q == "compression_reach":
            made.append(_compression(r, outdir))
        elif q == "gr_rmse" and r["data"].get("r_A"):
            made.append(_liquid(r, outdir))
    return made
