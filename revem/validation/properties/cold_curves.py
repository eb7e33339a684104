"""Cold curves: E(V) and P(V) of bcc, fcc, hcp, sc and diamond from 0.45 to 3 V0 (seed 000, Supplementary S3.1).

Protocol (seed 000, Fig. S3: "energy-volume cold curves ... across a wide range of volumes", DFT as stars and
the potential as lines): each lattice is scaled isotropically, ions fixed on their lattice sites and cell shape
fixed, over the range of volumes the Rev-EM generator samples, 0.45 to 3 times the equilibrium volume per atom
of the ground state (seed 000 §5.1: "17 windows that span 0.45 to 3 times the equilibrium volume per atom").
Cells: the primitive cells (bcc, fcc and sc 1 atom, hcp and diamond 2 atoms); hcp at the element's c/a when
hcp is its ground lattice (Be, Re, Os: :func:`revem.validation.elements.initial_c_over_a`), else at the ideal
√(8/3).  Energies are per atom relative to the ground lattice at the anchor volume V0 (x = V/V0 = 1), the same
zero for the potential and the reference, so no fitted quantity enters the comparison.

**V0, the anchor.**  Where a DFT reference is stored, V0 is the reference's own ground-lattice equilibrium
volume (a Birch–Murnaghan fit of 5 DFT points around it, recorded in the reference) and the potential is
evaluated at the *same absolute volumes* as the DFT points, plus a dense grid for the plot and the shape
checks.  Without a reference V0 is the potential's own relaxed ground-state volume
(:func:`revem.validation.properties.common.ground_state`).

**Cases**: one per lattice (the ground lattice first) and ``ordering``.  Per lattice:

* ``E_rmse_compressed`` (0.45 ≤ x < 0.8), ``E_rmse_equilibrium`` (0.8 ≤ x ≤ 1.3), ``E_rmse_expanded``
  (1.3 < x ≤ 3) in meV/atom and ``P_rmse_compressed``, ``P_rmse_equilibrium`` in GPa: root-mean-square
  differences from the DFT points of the window, scored against tolerances that scale with the window's
  DFT energies (a few eV/atom at 0.45 V0 vs meV near V0; the rule is stored with each reference:
  :func:`tolerances`);
* shape checks on the dense grid, for every potential with or without a reference (policy ``identity``:
  they hold for any physical cold curve, and the stored DFT curves pass them, ``tests/test_cold_curves.py``):
  ``repulsion_violations``, the grid intervals below the curve's minimum where the energy falls by more
  than ``rise_tolerance_meV`` as the volume shrinks (a "hole" in the repulsive wall); ``spurious_minima``,
  local minima besides the lowest one deeper than ``well_depth_meV``; ``expansion_violations``, intervals
  above the minimum where the energy falls by more than ``rise_tolerance_meV`` as the volume grows (the
  approach to the free-atom limit must be monotonic).

``ordering``: per window, the number of lattice pairs the potential orders differently from DFT by their
mean energy over the window's DFT volumes (``misordered_pairs_<window>``), pairs closer than
``tie_meV`` in DFT not counted.  Without stored DFT curves the potential's ranking is reported.

References: GPAW PBE (:mod:`revem.validation.references_build.cold_curves`, settings recorded in each file).

Disclaimers: static lattices (no relaxation of c/a or internal coordinates, no phonons); the hcp and diamond
curves at fixed shape are not the lowest-energy path of those structures under pressure; the DFT is
non-spin-polarised, so the expanded end approaches the *non-magnetic* atom, and at the smallest volumes the
PAW augmentation spheres of neighbouring atoms overlap (the reference file says by how much), so DFT's own
error grows there; an EAM or short-cutoff potential that was never fitted beyond ±20 % is not expected to
follow DFT at 0.45 V0 — the checks say where it stops doing so.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from ase.build import bulk

from .. import references
from ..plotting import DFT_COLOUR, POTENTIAL_COLOUR, TOLERANCE_COLOUR
from ..plotting import finite as _finite
from ..protocol import Measurement, Protocol, merge_settings
from ..references import Reference
from .common import EV_PER_A3_TO_GPA, IDEAL_C_OVER_A, ground_state, initial_c_over_a, lattice_of, single_threaded

PROPERTY = "cold_curves"
PROTOCOL_VERSION = 1
LATTICES = ("bcc", "fcc", "hcp", "sc", "diamond")
#: (name, lowest x, highest x) with x = V/V0; the equilibrium window holds both ends
WINDOWS = (("compressed", 0.45, 0.80), ("equilibrium", 0.80, 1.30), ("expanded", 1.30, 3.00))
PRESSURE_WINDOWS = ("compressed", "equilibrium")
#: the volumes (x = V/V0) the DFT references are computed at: denser where the energy changes fast
REFERENCE_GRID = (0.45, 0.52, 0.60, 0.70, 0.80, 0.90, 1.00, 1.15, 1.30, 1.60, 2.10, 3.00)
DEFAULTS = {"x_min": 0.45, "x_max": 3.0, "n_dense": 60, "well_depth_meV": 1.0, "rise_tolerance_meV": 1.0,
            "tie_meV": 20.0}
TIER_SETTINGS = {"smoke": {"n_dense": 30}, "standard": {}, "full": {"n_dense": 120}}
#: tolerance rule of the stored references: max(floor, rel × RMS of the window's DFT values)
TOLERANCE_RULE = {"E": {"compressed": (50.0, 0.10), "equilibrium": (25.0, 0.10), "expanded": (50.0, 0.10)},
                  "P": {"compressed": (5.0, 0.15), "equilibrium": (3.0, 0.15)}}
SHAPE_CHECKS = {
    "repulsion_violations": "intervals below the minimum where E falls as the volume shrinks (a hole in the repulsive wall)",
    "spurious_minima": "local minima besides the lowest one, deeper than well_depth_meV",
    "expansion_violations": "intervals above the minimum where E falls as the volume grows (non-monotonic approach to the free atom)",
}


def settings(tier: str = "standard") -> dict:
    return merge_settings(DEFAULTS, TIER_SETTINGS, tier)


def lattices(element: str) -> list[str]:
    """The element's ground lattice first, then the other :data:`LATTICES`."""
    g = lattice_of(element) or "bcc"
    return [g] + [x for x in LATTICES if x != g]


def cases(element: str, tier: str) -> list[str]:
    """Smoke: the ground lattice and one other (hcp for a cubic ground state, else fcc); otherwise every
    lattice and ``ordering``."""
    lat = lattices(element)
    if tier == "smoke":
        return [lat[0], "hcp" if lat[0] != "hcp" else "fcc"]
    return lat + ["ordering"]


def c_over_a(element: str, lattice: str) -> float | None:
    """The fixed c/a of an hcp curve: the element's own where hcp is its ground lattice, else ideal."""
    if lattice != "hcp":
        return None
    return float(initial_c_over_a(element)) if lattice_of(element) == "hcp" else IDEAL_C_OVER_A


def cell(element: str, lattice: str, volume: float):
    """The primitive cell of ``lattice`` at ``volume`` Å^3/atom (hcp at :func:`c_over_a`)."""
    if lattice in ("bcc", "fcc", "sc", "diamond"):
        per_conventional = {"bcc": 2, "fcc": 4, "sc": 1, "diamond": 8}[lattice]
        return bulk(element, lattice, a=(per_conventional * volume) ** (1 / 3))
    if lattice == "hcp":
        coa = c_over_a(element, lattice)
        a = (2 * volume / (np.sqrt(3) / 2 * coa)) ** (1 / 3)
        return bulk(element, "hcp", a=a, c=a * coa)
    raise ValueError(f"cold_curves: unknown lattice '{lattice}' (one of {', '.join(LATTICES)})")


def dense_grid(x_min: float, x_max: float, n: int) -> np.ndarray:
    """``n`` volumes (x = V/V0) spaced evenly in log V from ``x_min`` to ``x_max``, plus x = 1 and the
    window edges (so every window has its ends)."""
    xs = set(np.round(np.geomspace(x_min, x_max, n), 6))
    xs.update([1.0] + [w[1] for w in WINDOWS] + [w[2] for w in WINDOWS])
    return np.array(sorted(x for x in xs if x_min - 1e-9 <= x <= x_max + 1e-9))


@single_threaded
def _evaluate(target, element: str, lattice: str, volumes) -> dict:
    es, ps = [], []
    calc = target.calculator()
    for v in volumes:
        atoms = cell(element, lattice, float(v))
        atoms.calc = calc
        es.append(float(atoms.get_potential_energy()) / len(atoms))
        ps.append(float(-np.trace(atoms.get_stress(voigt=False)) / 3 * EV_PER_A3_TO_GPA))
    return {"V": [float(v) for v in volumes], "E": es, "P": ps}


def curve(target, element: str, lattice: str, volumes) -> dict:
    """E (eV/atom, the calculator's zero) and P (GPa) of ``lattice`` at ``volumes`` (Å^3/atom); cached in the
    target's session."""
    key = tuple(round(float(v), 9) for v in volumes)
    return dict(target.memo(PROPERTY, element, lattice, key, PROTOCOL_VERSION,
                            compute=lambda: _evaluate(target, element, lattice, key)))


# --------------------------------------------------------------------------- references
def reference_curve(element: str, lattice: str) -> dict | None:
    """The stored DFT curve of ``lattice``: ``V`` (Å^3/atom), ``E_rel`` (eV/atom vs the ground lattice at V0),
    ``P`` (GPa), ``V0`` and ``source``; None without one."""
    for r in references.load(element, PROPERTY):
        if r.case == lattice and "curve" in r.extra:
            return {**r.extra["curve"], "source": r.source}
    return None


def anchor_volume(target, element: str) -> tuple[float, str]:
    """(V0 in Å^3/atom, where it comes from): the stored DFT reference's, else the target's own ground state."""
    for lat in lattices(element):
        ref = reference_curve(element, lat)
        if ref:
            return float(ref["V0"]), f"the DFT reference's ground-lattice V0 ({ref['source'].split(';')[0]})"
    gs = ground_state(target, element, "ground")
    return float(gs["volume"]), "the potential's own relaxed ground-state volume (no DFT cold curve stored)"


def in_window(x, name: str) -> np.ndarray:
    lo, hi = next((w[1], w[2]) for w in WINDOWS if w[0] == name)
    x = np.asarray(x, float)
    if name == "equilibrium":
        return (x >= lo - 1e-9) & (x <= hi + 1e-9)
    if name == "compressed":
        return (x >= lo - 1e-9) & (x < hi - 1e-9)
    return (x > lo + 1e-9) & (x <= hi + 1e-9)


def tolerances(x, e_rel_meV, p_GPa) -> dict:
    """{quantity: tolerance} of one lattice's DFT curve by :data:`TOLERANCE_RULE` (meV/atom, GPa)."""
    out = {}
    for kind, values, unit in (("E", e_rel_meV, "meV/atom"), ("P", p_GPa, "GPa")):
        for w, (floor, rel) in TOLERANCE_RULE[kind].items():
            sel = in_window(x, w)
            rms = float(np.sqrt(np.mean(np.asarray(values, float)[sel] ** 2))) if sel.any() else 0.0
            out[f"{kind}_rmse_{w}"] = (round(max(floor, rel * rms), 3), unit)
    return out


# --------------------------------------------------------------------------- shape checks (pure)
def shape_checks(volumes, energies_eV, well_depth_meV: float = 1.0, rise_tolerance_meV: float = 1.0,
                 v0: float | None = None) -> dict:
    """The three shape checks of one E(V) curve (see the module docstring), with where they fail.

    The curve's minimum is its deepest interior local minimum at V ≥ 0.8 ``v0`` (deeper than ``well_depth_meV``;
    else the deepest anywhere, else the lowest point): a hole in the repulsive wall lies at smaller volumes and
    shows as a spurious minimum with repulsion violations around it, an energy that falls again towards 3 V0 as
    expansion violations.  Returns counts ``repulsion_violations``, ``spurious_minima``, ``expansion_violations``, the volume of
    the minimum ``V_min`` (Å^3/atom), whether it lies at an end of the sampled range, and ``where`` (volumes
    of the violations, Å^3/atom)."""
    v = np.asarray(volumes, float)
    e = np.asarray(energies_eV, float) * 1000.0  # meV/atom
    order = np.argsort(v)
    v, e = v[order], e[order]
    if not np.all(np.isfinite(e)):
        bad = v[~np.isfinite(e)]
        return {"repulsion_violations": len(bad), "spurious_minima": 0, "expansion_violations": 0,
                "V_min": None, "min_at_edge": False, "where": {"non_finite": [float(x) for x in bad]}}
    # the curve's own minimum: the deepest interior local minimum at x >= 0.8 (a hole in the repulsive wall lies
    # at smaller volumes), else the deepest interior one, else the lowest point
    lows = [i for i in range(1, len(e) - 1) if e[i] <= e[i - 1] and e[i] <= e[i + 1]
            and min(e[:i].max(), e[i + 1:].max()) - e[i] > well_depth_meV]
    wide = [i for i in lows if v0 is None or v[i] >= 0.8 * v0 - 1e-9] or lows
    k = min(wide, key=lambda i: e[i]) if wide else int(np.argmin(e))
    d = np.diff(e)  # e[i+1] - e[i]
    rep = [float(v[i]) for i in range(k) if d[i] > rise_tolerance_meV]  # below the minimum E must fall towards it
    exp_ = [float(v[i + 1]) for i in range(k, len(d)) if d[i] < -rise_tolerance_meV]
    minima = [float(v[i]) for i in lows if i != k]
    return {"repulsion_violations": len(rep), "spurious_minima": len(minima), "expansion_violations": len(exp_),
            "V_min": float(v[k]), "min_at_edge": k in (0, len(e) - 1),
            "where": {"repulsion_violations": rep, "spurious_minima": minima, "expansion_violations": exp_}}


def misordered_pairs(mean_potential: dict, mean_dft: dict, tie_meV: float) -> tuple[int, list[str]]:
    """Lattice pairs ordered differently from DFT (by mean energy over a window), DFT ties (< ``tie_meV``)
    not counted; returns (count, ["a<b in DFT but not in the potential", ...])."""
    names = [n for n in mean_dft if n in mean_potential]
    bad = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            dd = mean_dft[a] - mean_dft[b]
            if abs(dd) < tie_meV:
                continue
            if np.sign(mean_potential[a] - mean_potential[b]) != np.sign(dd):
                lo, hi = (a, b) if dd < 0 else (b, a)
                bad.append(f"{lo} < {hi} in DFT by {abs(dd):.0f} meV/atom, not in the potential")
    return len(bad), bad


def rmse(a, b) -> float:
    d = np.asarray(a, float) - np.asarray(b, float)
    return float(np.sqrt(np.mean(d ** 2)))


def _shape_reference(element: str, lattice: str, quantity: str) -> Reference:
    return Reference(element=element, property=PROPERTY, case=lattice, quantity=quantity, value=0.0, unit="",
                     source=f"physics of a cold curve: {SHAPE_CHECKS[quantity]}", tolerance={"abs": 0.5},
                     noise={"abs": 0.5}, protocol=f"revem.validation.properties.cold_curves v{PROTOCOL_VERSION}")


def compute(target, element: str, lattice: str, tier: str) -> dict:
    """The lattice's curve on the dense grid and at the reference volumes, relative to the ground lattice at
    V0, with the shape checks (plain numbers: x, V Å^3/atom, E_rel eV/atom, P GPa)."""
    s = settings(tier)
    v0, v0_from = anchor_volume(target, element)
    ground = lattices(element)[0]
    zero = curve(target, element, ground, [v0])["E"][0]
    xs = dense_grid(s["x_min"], s["x_max"], s["n_dense"])
    dense = curve(target, element, lattice, xs * v0)
    out = {"lattice": lattice, "V0": v0, "V0_from": v0_from, "x": [float(x) for x in xs], "V": dense["V"],
           "E_rel": [e - zero for e in dense["E"]], "P": dense["P"],
           "c_over_a": c_over_a(element, lattice)}
    out["checks"] = shape_checks(out["V"], out["E_rel"], s["well_depth_meV"], s["rise_tolerance_meV"], v0)
    ref = reference_curve(element, lattice)
    if ref:
        at = curve(target, element, lattice, ref["V"])
        out["ref"] = {"V": ref["V"], "x": [v / v0 for v in ref["V"]], "E_rel": ref["E_rel"], "P": ref["P"],
                      "source": ref["source"]}
        out["at_ref"] = {"E_rel": [e - zero for e in at["E"]], "P": at["P"]}
    return out


class ColdCurvesProtocol(Protocol):
    """Cold curves of five lattices from 0.45 to 3 V0 (seed 000 Fig. S3)."""

    name, version, defaults, tier_settings = PROPERTY, PROTOCOL_VERSION, DEFAULTS, TIER_SETTINGS

    def cases(self, element, tier):
        return cases(element, tier)

    def measure(self, target, element, case, tier):
        if case == "ordering":
            return self._ordering(target, element, tier)
        res = compute(target, element, case, tier)
        ch = res["checks"]
        data = {k: res[k] for k in ("lattice", "V0", "V0_from", "x", "V", "E_rel", "P", "c_over_a")}
        data["checks"] = ch
        if "ref" in res:
            data["ref"] = res["ref"]
            data["at_ref"] = res["at_ref"]
        edge = " (at an end of the sampled range)" if ch["min_at_edge"] else ""
        out = []
        for q, text in SHAPE_CHECKS.items():
            where = ch["where"].get(q) or ch["where"].get("non_finite") or []
            note = (f"{text}: {ch[q]}" + (f" at V = {', '.join(f'{w:.2f}' for w in where[:6])} Å^3/atom" if where else "")
                    + f"; minimum at V = {ch['V_min'] or float('nan'):.2f} Å^3/atom{edge}; V0 = {res['V0']:.3f} Å^3/atom from {res['V0_from']}")
            out.append(Measurement(q, ch[q], "", policy="identity", refs=[_shape_reference(element, case, q)],
                                   note=note, data=data if q == "repulsion_violations" else None))
        if "ref" not in res:
            return out
        x = np.array(res["ref"]["x"])
        for w, _, _ in WINDOWS:
            sel = in_window(x, w)
            if not sel.any():
                continue
            e = rmse(1000 * np.array(res["at_ref"]["E_rel"])[sel], 1000 * np.array(res["ref"]["E_rel"])[sel])
            out.append(Measurement(f"E_rmse_{w}", e, "meV/atom",
                                   policy=references.policy(element, PROPERTY, case, f"E_rmse_{w}"),
                                   note=f"RMSE of E − E_ground(V0) vs DFT over {int(sel.sum())} volumes, {w} window"))
            if w in PRESSURE_WINDOWS:
                p = rmse(np.array(res["at_ref"]["P"])[sel], np.array(res["ref"]["P"])[sel])
                out.append(Measurement(f"P_rmse_{w}", p, "GPa",
                                       policy=references.policy(element, PROPERTY, case, f"P_rmse_{w}"),
                                       note=f"RMSE of the pressure vs DFT over {int(sel.sum())} volumes, {w} window"))
        return out

    def _ordering(self, target, element, tier):
        got = {lat: compute(target, element, lat, tier) for lat in lattices(element)}
        have_ref = {lat: r for lat, r in got.items() if "ref" in r}
        out = []
        for w, _, _ in WINDOWS:
            if len(have_ref) >= 2:
                mean_dft, mean_pot = {}, {}
                for lat, r in have_ref.items():
                    sel = in_window(r["ref"]["x"], w)
                    mean_dft[lat] = 1000 * float(np.mean(np.array(r["ref"]["E_rel"])[sel]))
                    mean_pot[lat] = 1000 * float(np.mean(np.array(r["at_ref"]["E_rel"])[sel]))
                n, bad = misordered_pairs(mean_pot, mean_dft, settings(tier)["tie_meV"])
                rank = " < ".join(sorted(mean_pot, key=mean_pot.get))
                rank_dft = " < ".join(sorted(mean_dft, key=mean_dft.get))
                ref = Reference(element=element, property=PROPERTY, case="ordering", quantity=f"misordered_pairs_{w}",
                                value=0.0, unit="", tolerance={"abs": 0.5}, noise={"abs": 0.5},
                                source=f"order of the DFT cold curves ({next(iter(have_ref.values()))['ref']['source'].split(';')[0]})",
                                protocol=f"mean E over the {w} window's DFT volumes; DFT pairs closer than "
                                         f"{settings(tier)['tie_meV']:g} meV/atom not counted")
                out.append(Measurement(f"misordered_pairs_{w}", n, "", refs=[ref],
                                       data={"mean_potential_meV": mean_pot, "mean_dft_meV": mean_dft},
                                       note=f"{w}: potential {rank}; DFT {rank_dft}" + (f"; {'; '.join(bad)}" if bad else "")))
            else:
                x = np.array(next(iter(got.values()))["x"])
                sel = in_window(x, w)
                mean_pot = {lat: 1000 * float(np.mean(np.array(r["E_rel"])[sel])) for lat, r in got.items()}
                rank = " < ".join(sorted(mean_pot, key=mean_pot.get))
                out.append(Measurement(f"lowest_lattice_{w}", float(LATTICES.index(min(mean_pot, key=mean_pot.get))), "",
                                       policy="reported", data={"mean_potential_meV": mean_pot},
                                       note=f"{w}: mean energy order {rank} (no DFT cold curves stored for this element; "
                                            f"value = index in {LATTICES})"))
        return out


# --------------------------------------------------------------------------- plot
def plot(records: list[dict], outdir) -> list[Path]:
    """All lattices' E(V)/V0 curves (lines, the potential) with the DFT points (stars), full range and a zoom
    around the minimum (Fig. S3 style); shape-check violations circled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = {}
    for r in records:
        d = r.get("data") or {}
        if r.get("property") == PROPERTY and d.get("E_rel") and d.get("lattice"):
            curves.setdefault((r.get("potential", ""), r.get("element", "")), {})[d["lattice"]] = d
    made = []
    colours = dict(zip(LATTICES, ("tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown")))
    for (pot, el), per in curves.items():
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
        for ax, zoom in zip(axes, (False, True)):
            for lat, d in per.items():
                x, e = np.array(d["x"]), np.array(d["E_rel"])
                ax.plot(x, e, "-", color=colours.get(lat), lw=1.4, label=lat)
                if d.get("ref"):
                    ax.plot(d["ref"]["x"], d["ref"]["E_rel"], "*", color=colours.get(lat), mec=DFT_COLOUR, mew=0.6, ms=9)
                bad = [v for q in SHAPE_CHECKS for v in (d.get("checks", {}).get("where", {}).get(q) or [])]
                if bad:
                    bx = [v / d["V0"] for v in bad]
                    by = [float(np.interp(b, x, e)) for b in bx]
                    ax.plot(bx, by, "o", mfc="none", mec=POTENTIAL_COLOUR, ms=11, mew=1.5)
            for _, lo, hi in WINDOWS[1:]:
                ax.axvline(lo, color=TOLERANCE_COLOUR, lw=0.8, zorder=0)
            ax.axhline(0, color=TOLERANCE_COLOUR, lw=0.8, zorder=0)
            ax.set_xlabel("V / V0")
            if zoom:
                ys = [v for d in per.values() for xv, v in zip(d["x"], d["E_rel"]) if 0.75 <= xv] + \
                     [v for d in per.values() for xv, v in zip((d.get("ref") or {}).get("x", []), (d.get("ref") or {}).get("E_rel", [])) if 0.75 <= xv]
                ys = [y for y in ys if _finite(y)]
                if ys:
                    ax.set_ylim(min(ys) - 0.2, min(max(ys), min(ys) + 8.0) + 0.2)
                ax.set_xlim(0.75, 3.05)
                ax.set_title("zoom: 0.75–3 V0")
            else:
                ax.set_xscale("log")
                ax.set_xticks([0.45, 0.6, 0.8, 1, 1.5, 2, 3])
                ax.set_xticklabels(["0.45", "0.6", "0.8", "1", "1.5", "2", "3"])
                ax.set_title(f"{el} cold curves, 0.45–3 V0 (windows: compressed | equilibrium | expanded)")
        axes[0].set_ylabel(f"E − E_{lattices(el)[0]}(V0) (eV/atom)")
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], color=colours[lat], lw=1.6, label=lat) for lat in LATTICES if lat in per]
        if any(d.get("ref") for d in per.values()):
            handles.append(Line2D([], [], ls="", marker="*", ms=9, color="0.6", mec=DFT_COLOUR, label="DFT (stars)"))
        if any(v for d in per.values() for q in SHAPE_CHECKS for v in (d.get("checks", {}).get("where", {}).get(q) or [])):
            handles.append(Line2D([], [], ls="", marker="o", mfc="none", mec=POTENTIAL_COLOUR, ms=10, mew=1.5,
                                  label="shape check fails"))
        fig.legend(handles=handles, fontsize=8, loc="lower center", ncol=len(handles), frameon=False,
                   title=f"lines: {pot}", title_fontsize=8)
        fig.tight_layout(rect=(0, 0.14, 1, 1))
        out = Path(outdir) / (f"cold_curves_{el}.png" if len(curves) > 1 else "cold_curves.png")
        fig.savefig(out, dpi=110)
        plt.close(fig)
        made.append(out)
    return made


PROTOCOL = ColdCurvesProtocol()
