"""The dimer curve of the robustness protocol (:mod:`revem.validation.properties.robustness`): scan and analysis.

Two atoms in a periodic box far larger than the potential's range, E(r) and the force along the bond; the
analysis (:func:`analyse_dimer`) judges the repulsive wall, monotonicity below the well, spurious minima,
continuity and energy-force consistency (bisected down to ``bisect_width_A``), and computes the metrics of
MLIP Arena's homonuclear-diatomics task (Y. Chiang et al., arXiv:2509.20630 (2025)).  The checks and their
thresholds are described in the protocol's module docstring.
"""
from __future__ import annotations

import numpy as np
from ase import Atoms
from scipy import stats
from scipy.signal import find_peaks

from ...potentials import BadStructure

#: settings of the dimer case (part of the protocol's ``DEFAULTS``)
DIMER_DEFAULTS = {
    "dimer_r_min_A": 0.5, "dimer_r_max_A": 8.0, "dimer_step_A": 0.02, "dimer_box_A": 40.0,
    "cutoff_tolerance_eV": 1e-6, "min_wall_eV": 10.0, "minimum_prominence_eV": 0.01,
    "energy_flip_tolerance_eV": 1e-3, "force_flip_tolerance_eV_per_A": 1e-2,  # MLIP Arena's roundings
    "energy_jump_tolerance_eV": 1e-2, "force_jump_tolerance_eV_per_A": 0.1, "bisect_width_A": 1e-6,
    "n_bisect_candidates": 4, "continuity_floor_eV": 1e-3, "arena_r_min_covalent_fraction": 0.9,
}
DEFAULTS = DIMER_DEFAULTS


def dimer_atoms(element: str, r: float, box: float = DEFAULTS["dimer_box_A"]):
    """Two atoms ``r`` Å apart along x, centred in a periodic cube of edge ``box`` Å."""
    c = box / 2
    return Atoms([element, element], positions=[[c - r / 2, c, c], [c + r / 2, c, c]], cell=[box] * 3, pbc=True)


def dimer_evaluator(calc, element: str, box: float = DEFAULTS["dimer_box_A"]):
    """``f(r) -> (E in eV, F in eV/Å)``: energy and the force on the second atom along the bond
    (positive: repulsive); ``(nan, nan)`` where the potential refuses the structure or returns
    non-finite numbers (the first reason is kept in ``f.first_error``)."""

    def evaluate(r: float) -> tuple[float, float]:
        at = dimer_atoms(element, r, box)
        at.calc = calc
        try:
            e = float(at.get_potential_energy())
            f = float(at.get_forces()[1, 0])
        except Exception as exc:  # a refused structure is a finding, not a crash
            if not isinstance(exc, (BadStructure, ArithmeticError, ValueError)):
                raise
            evaluate.first_error = evaluate.first_error or f"at r = {r:.3f} Å: {exc}"[:300]
            return float("nan"), float("nan")
        if not (np.isfinite(e) and np.isfinite(f)):
            evaluate.first_error = evaluate.first_error or f"at r = {r:.3f} Å: E = {e}, F = {f}"
            return float("nan"), float("nan")
        return e, f

    evaluate.first_error = None
    return evaluate


def find_cutoff(r, e, tol: float = DEFAULTS["cutoff_tolerance_eV"]) -> float | None:
    """The largest r (Å) where |E(r) − E(r_last)| > ``tol`` eV, or None if the energy still changes
    within the last two points (the scan did not reach the cutoff)."""
    r, e = np.asarray(r, float), np.asarray(e, float)
    changed = np.nonzero(np.abs(e - e[-1]) > tol)[0]
    if len(changed) == 0:
        return float(r[0])
    k = int(changed[-1])
    return None if k >= len(r) - 2 else float(r[k])


def local_minima(r, e, prominence: float = DEFAULTS["minimum_prominence_eV"]) -> list[dict]:
    """Local minima of E(r) deeper than ``prominence`` eV on both sides (scipy's topographic
    prominence: a plateau at the end of the scan is not a minimum): ``[{"r", "E", "prominence"}]``."""
    e = np.asarray(e, float)
    idx, props = find_peaks(-e, prominence=prominence)
    return [{"r": float(r[i]), "E": float(e[i]), "prominence": float(p)} for i, p in zip(idx, props["prominences"])]


def _flips(x, tol: float) -> tuple[int, np.ndarray]:
    """Sign changes of ``x`` with |x| < tol taken as zero (and dropped), and their positions in the
    reduced array (MLIP Arena's counting)."""
    x = np.where(np.abs(x) < tol, 0.0, np.asarray(x, float))
    keep = np.nonzero(x)[0]
    s = np.sign(x[keep])
    flips = np.nonzero(np.diff(s) != 0)[0]
    return len(flips), keep[flips] if len(flips) else np.array([], int)


def arena_metrics(r, e, f, *, energy_tol: float = DEFAULTS["energy_flip_tolerance_eV"],
                  force_tol: float = DEFAULTS["force_flip_tolerance_eV_per_A"]) -> dict:
    """MLIP Arena's homonuclear-diatomics metrics of one curve (energies relative to the far end;
    ``f`` the force on the second atom along the bond, −dE/dr).  Definitions as in its ``analyze``
    (arXiv:2509.20630); r in ascending order here."""
    r, e, f = (np.asarray(x, float) for x in (r, e, f))
    e = e - e[-1]
    n_fflip, _ = _flips(f, force_tol)
    de = np.diff(e)
    de_r = np.where(np.abs(de) < energy_tol, 0.0, de)
    nz = de_r[de_r != 0]
    eflip = np.nonzero(np.diff(np.sign(nz)) != 0)[0]
    ejump = float(np.abs(nz[eflip]).sum() + np.abs(nz[eflip + 1]).sum()) if len(eflip) else 0.0
    df = np.diff(f)
    df = df[df != 0]
    fflip = np.nonzero(np.diff(np.sign(df)) != 0)[0]
    fjump = float(np.abs(df[fflip]).sum() + np.abs(df[fflip + 1]).sum()) if len(fflip) else 0.0
    dedr = np.gradient(e, r)
    etv = float(np.abs(de).sum())
    emin = float(e.min())
    denom = abs(e[-1] - emin) + (e[0] - emin)
    ie, i_f = int(np.argmin(e)), int(np.argmin(f))

    def spearman(x, y):
        if len(x) < 3 or np.ptp(y) == 0:
            return None
        v = float(stats.spearmanr(x, y).statistic)
        return v if np.isfinite(v) else None

    return {"force_flips": n_fflip, "force_total_variation": float(np.abs(np.diff(f)).sum()),
            "force_jump": fjump, "energy_diff_flips": len(eflip), "energy_grad_norm_max": float(np.abs(dedr).max()),
            "energy_jump": ejump, "energy_total_variation": etv,
            "tortuosity": etv / denom if denom > 0 else None,
            "conservation_deviation": float(np.mean(np.abs(f + dedr))),
            "spearman_repulsion_energy": spearman(r[:ie + 1], e[:ie + 1]),
            "spearman_attraction_energy": spearman(r[ie:], e[ie:]),
            "spearman_descending_force": spearman(r[:i_f + 1], f[:i_f + 1]),
            "spearman_ascending_force": spearman(r[i_f:], f[i_f:])}


def continuity_screen(r, e, f, floor: float = DEFAULTS["continuity_floor_eV"],
                      n: int = DEFAULTS["n_bisect_candidates"]) -> dict:
    """Where E(r) or F(r) may be discontinuous (uniform r, Å; E in eV; F = −dE/dr in eV/Å).

    Energy: over each pair of steps [r_i, r_i+2] the Simpson residual E_i+2 − E_i + h/3 (F_i + 4 F_i+1 +
    F_i+2) vanishes for a smooth conservative curve up to its truncation error h⁵ F⁗/90, estimated
    as h |Δ⁴F| / 90 from the neighbouring points; the ``n`` windows whose residual most exceeds three
    times that estimate plus ``floor`` eV are candidates, with their excess as a first estimate of the
    jump.  Force: a discontinuity of F is an isolated spike of |Δ²F| (a smooth curve changes its
    curvature slowly); the ``n`` steps with the largest spikes, more than 3× the |Δ²F| two to three
    points away, are candidates.  Returns ``energy`` [(i, j, excess eV)] and ``force`` [(i, j, ratio)]
    (index windows into ``r``)."""
    r, e, f = (np.asarray(x, float) for x in (r, e, f))
    out = {"energy": [], "force": []}
    if len(r) < 7:
        return out
    h = 0.5 * (r[2:] - r[:-2])
    res = e[2:] - e[:-2] + h / 3 * (f[:-2] + 4 * f[1:-1] + f[2:])
    d4 = np.abs(np.diff(f, 4))
    pt4 = np.r_[d4[:1], d4[:1], d4, d4[-1:], d4[-1:]]  # per point
    est = h / 90 * np.maximum.reduce([pt4[:-2], pt4[1:-1], pt4[2:]])
    excess = np.abs(res) - 3 * est
    z = excess / floor
    for i in np.argsort(-z)[:n]:
        if z[i] > 1:
            out["energy"].append((int(i), int(i) + 2, float(excess[i])))
    d2 = np.abs(np.diff(f, 2))
    pt = np.r_[d2[:1], d2, d2[-1:]]
    around = np.array([max(pt[max(i - 3, 0):max(i - 1, 0)].max(initial=0.0), pt[i + 2:i + 4].max(initial=0.0))
                       for i in range(len(pt))])
    spike = pt / (around + 1e-12)
    step = np.maximum(spike[:-1], spike[1:])
    for i in np.argsort(-step)[:n]:
        if step[i] > 3 and max(pt[i], pt[i + 1]) > 1e-9:
            out["force"].append((int(i), int(i) + 1, float(step[i])))
    return out


def bisect_jump(evaluate, a: float, b: float, width: float = DEFAULTS["bisect_width_A"],
                ends: tuple | None = None) -> dict:
    """Bisect [a, b] (Å) towards the largest energy-force inconsistency or force change.

    At each level the half with the larger energy residual |ΔE + F̄ Δr| or (if the forces differ more
    than the energy residual says) the larger |ΔF| is kept, down to ``width``.  A smooth curve leaves
    residual and |ΔF| ~ width; a discontinuity keeps them.  Returns ``r`` (Å), ``energy_jump`` (eV)
    and ``force_jump`` (eV/Å) at the final width."""
    ea, fa = ends[0] if ends else evaluate(a)
    eb, fb = ends[1] if ends else evaluate(b)
    while b - a > width:
        m = 0.5 * (a + b)
        em, fm = evaluate(m)
        if not np.all(np.isfinite([ea, fa, eb, fb, em, fm])):
            return {"r": m, "energy_jump": float("nan"), "force_jump": float("nan")}
        res_l = abs(em - ea + 0.5 * (fa + fm) * (m - a))
        res_r = abs(eb - em + 0.5 * (fm + fb) * (b - m))
        df_l, df_r = abs(fm - fa), abs(fb - fm)
        left = res_l > res_r if max(res_l, res_r) > 1e-9 * max(1.0, abs(em)) else df_l > df_r
        if left:
            b, eb, fb = m, em, fm
        else:
            a, ea, fa = m, em, fm
    return {"r": 0.5 * (a + b), "energy_jump": float(abs(eb - ea + 0.5 * (fa + fb) * (b - a))),
            "force_jump": float(abs(fb - fa))}


def analyse_dimer(r, e, f, s: dict | None = None, evaluate=None, r_arena: float = 0.0,
                  refusal: str | None = None) -> dict:
    """Everything the dimer case judges, from a scanned curve (pure except for the bisections through
    ``evaluate``, skipped when None).  ``r`` ascending (Å), ``e`` (eV), ``f`` (eV/Å, force on the
    second atom along the bond; NaN where the potential refused, ``refusal`` saying why).  Returns the
    metrics and ``problems`` (messages; empty: passed)."""
    s = {**DEFAULTS, **(s or {})}
    r, e, f = (np.asarray(x, float) for x in (r, e, f))
    problems = []
    bad = ~(np.isfinite(e) & np.isfinite(f))
    if bad.any():
        problems.append(f"the potential refused or returned non-finite results for {int(bad.sum())} dimer "
                        f"distances (first at r = {r[bad][0]:.3f} Å" + (f"; {refusal}" if refusal else "") + ")")
        r, e, f = r[~bad], e[~bad], f[~bad]
    out = {"problems": problems, "n_points": len(r)}
    if len(r) < 5:
        problems.append("fewer than 5 dimer distances could be evaluated")
        return out
    e_far = float(e[-1])
    cutoff = find_cutoff(r, e, s["cutoff_tolerance_eV"])
    out["cutoff"] = cutoff
    end = len(r) if cutoff is None else min(len(r), int(np.searchsorted(r, cutoff)) + 3)
    r, e, f = r[:end], e[:end] - e_far, f[:end]
    out.update({"r": r, "E": e, "F": f})
    mins = local_minima(r, e, s["minimum_prominence_eV"])
    out["minima"] = mins
    out["n_minima"] = len(mins)
    # the well: the deepest interior minimum (a minimum at the first point is a collapse, judged below)
    deepest = min(mins, key=lambda m: m["E"], default=None)
    i_min = int(np.argmin(np.abs(r - deepest["r"]))) if deepest else len(r) - 1
    has_well = deepest is not None and deepest["E"] < 0
    out["r_min"] = float(r[i_min]) if has_well else None
    out["depth"] = float(e[i_min]) if has_well else 0.0
    out["wall"] = float(e[0])
    if e[0] < s["min_wall_eV"]:
        problems.append(f"not repulsive at short range: E({r[0]:.2f} Å) − E(∞) = {e[0]:.3g} eV < "
                        f"{s['min_wall_eV']:g} eV")
    stop = i_min if has_well else len(r) - 1
    de = np.diff(e[:stop + 1])
    up = np.nonzero(de > s["energy_flip_tolerance_eV"])[0]
    out["n_rising_steps_below_r_min"] = len(up)
    if len(up):
        problems.append(f"not monotonic below the well: E(r) rises with r in {len(up)} steps below "
                        f"{r[stop]:.2f} Å (first at r = {r[up[0]]:.3f} Å, by {de[up[0]]:.3g} eV)")
    if len(mins) > 1:
        desc = ", ".join(f"r = {m['r']:.2f} Å (E = {m['E']:+.3f} eV, depth {m['prominence']:.3f} eV)" for m in mins)
        problems.append(f"{len(mins)} minima in the dimer curve ({desc}); a single well is expected")
    # MLIP Arena metrics over its range (r >= 0.9 x covalent radius)
    sel = r >= r_arena
    if sel.sum() >= 5:
        out["arena"] = arena_metrics(r[sel], e[sel], f[sel], energy_tol=s["energy_flip_tolerance_eV"],
                                     force_tol=s["force_flip_tolerance_eV_per_A"])
        out["arena_r_from"] = float(r[sel][0])
    # continuity: bisect the suspicious windows down to bisect_width_A
    scr = continuity_screen(r, e, f, s["continuity_floor_eV"], s["n_bisect_candidates"])
    windows = sorted({(i, j) for i, j, _ in scr["energy"] + scr["force"]})
    jumps = []
    if evaluate is not None:
        for i, j in windows:
            jumps.append(bisect_jump(evaluate, float(r[i]), float(r[j]), s["bisect_width_A"],
                                     ends=((e[i] + e_far, f[i]), (e[j] + e_far, f[j]))))
    else:  # without a calculator: the screen's own estimates
        jumps = [{"r": float(0.5 * (r[i] + r[j])), "energy_jump": x, "force_jump": 0.0} for i, j, x in scr["energy"]]
        jumps += [{"r": float(0.5 * (r[i] + r[j])), "energy_jump": 0.0, "force_jump": float(abs(f[j] - f[i]))}
                  for i, j, _ in scr["force"]]
    ej = max(jumps, key=lambda j: j["energy_jump"], default={"r": None, "energy_jump": 0.0})
    fj = max(jumps, key=lambda j: j["force_jump"], default={"r": None, "force_jump": 0.0})
    out.update({"energy_jump": ej["energy_jump"], "energy_jump_r": ej["r"], "force_jump": fj["force_jump"],
                "force_jump_r": fj["r"], "bisected_steps": len(jumps)})
    if ej["energy_jump"] > s["energy_jump_tolerance_eV"]:
        problems.append(f"energy discontinuity of {ej['energy_jump']:.3g} eV at r = {ej['r']:.4f} Å "
                        f"(> {s['energy_jump_tolerance_eV']:g} eV; E and F disagree there)")
    if fj["force_jump"] > s["force_jump_tolerance_eV_per_A"]:
        problems.append(f"force discontinuity of {fj['force_jump']:.3g} eV/Å at r = {fj['r']:.4f} Å "
                        f"(> {s['force_jump_tolerance_eV_per_A']:g} eV/Å)")
    return out

