"""Robustness away from the training data: the dimer curve, prototypes from broken-symmetry starts,
and a random-structure search for spurious minima below the ground state.

Method, three cases:

``dimer``
    Two atoms of the element in a cubic box of ``dimer_box_A`` (periodic; the images are more than
    twice the largest scanned distance away), scanned from ``dimer_r_min_A`` (0.5 Å) to
    ``dimer_r_max_A`` in steps of ``dimer_step_A``.  The energy zero is the last point; the cutoff is
    the largest r where E(r) still differs from it by more than ``cutoff_tolerance_eV``; the curve is
    analysed from 0.5 Å to the cutoff.  Checks (each failure names where it happens):

    * repulsive wall: E(0.5 Å) − E(∞) ≥ ``min_wall_eV``;
    * monotonic below the well: E decreases with r for every step below the global minimum r_min
      (below the cutoff if there is no minimum), increases smaller than ``energy_flip_tolerance_eV``
      ignored;
    * no spurious minimum: at most one local minimum of E(r) whose depth on both sides (its
      topographic prominence) exceeds ``minimum_prominence_eV``;
    * continuity and energy-force consistency (:func:`continuity_screen`): over each pair of steps
      the Simpson residual E_i+2 − E_i + Δr/3 (F_i + 4 F_i+1 + F_i+2) (F the force on the second atom
      along the bond, −dE/dr) is compared with its truncation error estimated from Δ⁴F, and |Δ²F| is
      searched for isolated spikes; the most suspicious windows are bisected down to
      ``bisect_width_A`` (:func:`bisect_jump`), where a continuous curve leaves nothing: the remaining
      trapezoid residual ΔE + F̄ Δr is an energy jump (eV), the remaining ΔF a force jump (eV/Å);
      they fail above ``energy_jump_tolerance_eV`` (10 meV) / ``force_jump_tolerance_eV_per_A``
      (0.1 eV/Å).

    Reported besides: r_min (Å), well depth (eV), wall height (eV), cutoff (Å), the number of minima,
    and the metrics of MLIP Arena's homonuclear-diatomics task, computed as defined there
    (``mlip_arena/tasks/diatomics``, Y. Chiang et al., MLIP Arena: Advancing Fairness and
    Transparency in Machine Learning Interatomic Potentials via an Open, Accessible Benchmark
    Platform, arXiv:2509.20630 (2025), NeurIPS 2025 Datasets and Benchmarks) over their range r ≥ 0.9
    × the covalent radius: force flips (sign changes of F, |F| < 10 meV/Å taken as zero), energy-
    difference flips (|ΔE| < 1 meV taken as zero), energy jump (the |ΔE| on both sides of each flip,
    summed), tortuosity (total variation of E over the two descents into the well; 1 for a single
    well), conservation deviation (mean |F + dE/dr|, dE/dr by central differences, eV/Å), and the
    Spearman rank coefficients of E(r) on the repulsive (r < r_min; −1 ideal) and attractive
    (r > r_min; +1 ideal) branches.

``prototype_starts``
    Prototypes of :mod:`revem.validation.properties.eos` (AFLOW library) scaled to the bcc volume (no bond
    shorter than 0.9 × the bcc nearest-neighbour distance), repeated to at least ``min_atoms`` atoms,
    strained along z (the unique axis of the hexagonal and tetragonal prototypes) to c/a ×
    ``c_over_a_factors`` at constant volume, rattled (seeded normal displacements of
    ``rattle_A``), and relaxed in positions and cell without any symmetry constraint
    (``ase.filters.UnitCellFilter`` + BFGS).  The lowest end point of each prototype is reported
    as E − E(bcc) (eV/atom, E(bcc) from :func:`revem.validation.properties.common.ground_state`).  The case
    fails when any end point lies below bcc by more than ``margin_eV_per_atom`` or collapsed.

``random_search``
    Ab initio random structure searching as in AIRSS (C. J. Pickard and R. J. Needs, J. Phys.:
    Condens. Matter 23, 053201 (2011), doi:10.1088/0953-8984/23/5/053201), with the potential in
    place of DFT: ``search_count`` cells drawn like the generator's candidates
    (:func:`revem.generator.candidate.random_cell` and ``random_positions``): N uniform in
    [``search_atoms_min``, ``search_atoms_max``], random triclinic cell of volume N·V with V uniform
    in ``search_volume_factors`` × V(bcc), atoms placed at least ``search_min_distance_fraction`` ×
    d_nn(bcc) apart, from one seeded ``numpy.random.Generator`` (``seed``: the same structures every
    run), each relaxed in positions and cell (UnitCellFilter + BFGS, ``search_fmax_eV_per_A``,
    at most ``search_steps`` steps).  A relaxation only lowers the energy, so an end point below bcc
    is below bcc whether or not it converged: loose settings can miss a spurious minimum, never
    invent one.  A search *collapsed* when the potential refused the structure (overlapping atoms,
    non-finite energy or forces, a calculator error) or two atoms ended closer than
    ``collapse_distance_fraction`` × d_nn(bcc).  The case fails when an end point lies below bcc by
    more than ``margin_eV_per_atom`` or a search collapsed; reported: the lowest E − E(bcc), how
    many searches ended below bcc, at bcc (within the margin), collapsed and unconverged.

The offending structures and the lowest few end points (with energies, start and space group) are
kept in the records and written by :func:`plot` to ``robustness_structures.extxyz`` in the report
folder, beside ``robustness.png`` (dimer E(r), F(r) and the end-point energies).

Disclaimers: a finite random search proves nothing about structures it did not find (AIRSS needs
hundreds to thousands of starts for 16 atoms); static 0 K energies without zero-point or entropy;
the margin (5 meV/atom) is a stated choice, about the fitting error of good potentials, so a
competing phase within it is not flagged; the dimer of a bulk-fitted potential is far outside its
training data, and a non-spin-polarised DFT dimer (for W bound by several eV near 2 Å) is not a
reference here: only the shape of the curve is judged, not its depth or position.  The prototype
and random-search cases need a bcc ground state (bcc elements only); other elements run the dimer.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..coverage import recorded_cache
from ..protocol import Measurement, Protocol, merge_settings
from .common import ground_state, single_threaded

PROPERTY = "robustness"
PROTOCOL_VERSION = 1
CASES = ("dimer", "prototype_starts", "random_search")
DEFAULTS = {
    # dimer
    "dimer_r_min_A": 0.5, "dimer_r_max_A": 8.0, "dimer_step_A": 0.02, "dimer_box_A": 40.0,
    "cutoff_tolerance_eV": 1e-6, "min_wall_eV": 10.0, "minimum_prominence_eV": 0.01,
    "energy_flip_tolerance_eV": 1e-3, "force_flip_tolerance_eV_per_A": 1e-2,  # MLIP Arena's roundings
    "energy_jump_tolerance_eV": 1e-2, "force_jump_tolerance_eV_per_A": 0.1, "bisect_width_A": 1e-6,
    "n_bisect_candidates": 4, "continuity_floor_eV": 1e-3, "arena_r_min_covalent_fraction": 0.9,
    # shared by the relaxation cases
    "margin_eV_per_atom": 5e-3, "collapse_distance_fraction": 0.55, "symprec_A": 0.1, "seed": 20260417,
    "n_structures_reported": 3,
    # prototype starts
    "prototypes": ("fcc", "hcp", "A15", "beta-Sn", "omega", "simple-hex"), "c_over_a_factors": (0.9, 1.0, 1.1),
    "n_rattles": 1, "rattle_A": 0.05, "min_atoms": 4, "fmax_eV_per_A": 1e-3, "relax_steps": 300,
    # random search
    "search_count": 20, "search_atoms_min": 2, "search_atoms_max": 16, "search_volume_factors": (0.7, 1.5),
    "search_min_distance_fraction": 0.8, "search_fmax_eV_per_A": 0.05, "search_steps": 300,
}
TIER_SETTINGS = {
    "smoke": {"dimer_step_A": 0.05, "prototypes": ("hcp", "A15"), "c_over_a_factors": (1.1,),
              "relax_steps": 150, "fmax_eV_per_A": 1e-2, "search_count": 3, "search_atoms_max": 8,
              "search_steps": 150},
    "standard": {},
    "full": {"dimer_step_A": 0.01, "dimer_r_max_A": 10.0,
             "prototypes": ("fcc", "hcp", "A15", "beta-Sn", "omega", "simple-hex", "bct-In", "sc", "dhcp",
                            "diamond", "alpha-As", "C15", "C14"),
             "c_over_a_factors": (0.8, 0.9, 1.0, 1.1, 1.25), "n_rattles": 2, "fmax_eV_per_A": 1e-4,
             "relax_steps": 1000, "search_count": 100, "search_fmax_eV_per_A": 1e-2, "search_steps": 1000},
}


def settings(tier: str = "standard") -> dict:
    return merge_settings(DEFAULTS, TIER_SETTINGS, tier)


def cases(element: str, tier: str) -> list[str]:
    """The dimer for every element; the prototype and random-search cases need a bcc ground state."""
    from .common import is_bcc

    return list(CASES) if is_bcc(element) else ["dimer"]


def _is_bad_structure(exc: Exception) -> bool:
    from ...potentials import BadStructure

    return isinstance(exc, BadStructure)


# -- the dimer ----------------------------------------------------------------------------------------
def dimer_atoms(element: str, r: float, box: float = DEFAULTS["dimer_box_A"]):
    """Two atoms ``r`` Å apart along x, centred in a periodic cube of edge ``box`` Å."""
    from ase import Atoms

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
            if not (_is_bad_structure(exc) or isinstance(exc, (ArithmeticError, ValueError))):
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
    from scipy.signal import find_peaks

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
    from scipy import stats

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


@single_threaded
@recorded_cache(maxsize=32)
def dimer(target, element: str, tier: str = "standard") -> dict:
    """The dimer curve of ``target`` (a :class:`revem.validation.protocol.Target`) and its analysis
    (:func:`analyse_dimer`), cached per (target, element, tier)."""
    from ase.data import atomic_numbers, covalent_radii

    s = settings(tier)
    evaluate = dimer_evaluator(target.calculator(), element, s["dimer_box_A"])
    n = round((s["dimer_r_max_A"] - s["dimer_r_min_A"]) / s["dimer_step_A"]) + 1
    rs = s["dimer_r_min_A"] + s["dimer_step_A"] * np.arange(n)
    ef = np.array([evaluate(float(x)) for x in rs])
    r_arena = s["arena_r_min_covalent_fraction"] * covalent_radii[atomic_numbers[element]]
    out = analyse_dimer(rs, ef[:, 0], ef[:, 1], s, evaluate=evaluate, r_arena=r_arena, refusal=evaluate.first_error)
    out.update({"r_from": float(rs[0]), "r_to": float(rs[-1]), "step": s["dimer_step_A"]})
    return out


# -- relaxations ----------------------------------------------------------------------------------------
def relax_free(atoms, fmax: float, steps: int) -> dict:
    """Relax positions and cell without constraints (UnitCellFilter + BFGS).  Returns ``converged``,
    ``steps`` and ``error`` (None, or why the potential refused the structure on the way).

    FrechetCellFilter finds the same end points in as many steps, but its matrix logarithms and
    exponentials double the cost of a step of these small cells (measured on W_2940_2017_2)."""
    from ase.filters import UnitCellFilter
    from ase.optimize import BFGS

    opt = BFGS(UnitCellFilter(atoms), logfile=None)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ok = bool(opt.run(fmax=fmax, steps=steps))
        return {"converged": ok, "steps": int(opt.nsteps), "error": None}
    except Exception as exc:  # noqa: BLE001 - the potential broke on this structure: a finding
        return {"converged": False, "steps": int(opt.nsteps), "error": f"{type(exc).__name__}: {exc}"[:300]}


def min_distance(atoms) -> float:
    """Shortest interatomic distance (Å), periodic images included (inf for one atom far from its images)."""
    from ase.neighborlist import neighbor_list

    d = neighbor_list("d", atoms, 6.0)
    return float(d.min()) if len(d) else float("inf")


def describe(atoms, symprec: float = DEFAULTS["symprec_A"]) -> str:
    """Space group (spglib, ``symprec`` Å) and atoms per primitive cell, e.g. ``Im-3m (229), 1/prim``."""
    import spglib

    cell = (atoms.cell.array, atoms.get_scaled_positions(), atoms.numbers)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ds = spglib.get_symmetry_dataset(cell, symprec=symprec)
            prim = spglib.find_primitive(cell, symprec=symprec)
        return f"{ds.international} ({ds.number}), {len(prim[2])}/prim"
    except Exception:  # noqa: BLE001 - a broken cell has no space group
        return "no space group"


def structure_record(atoms, d_e: float | None, label: str, **extra) -> dict:
    """A structure as plain lists (the ``data`` of a record; written to extxyz by :func:`plot`)."""
    return {"symbols": atoms.get_chemical_symbols(), "cell": np.round(atoms.cell.array, 6).tolist(),
            "positions": np.round(atoms.get_positions(), 6).tolist(),
            "dE_eV_per_atom": None if d_e is None or not np.isfinite(d_e) else float(d_e), "label": label, **extra}


def _end_point(atoms, make_calc, e0: float, d_nn: float, s: dict, fmax: float, steps: int) -> dict:
    """Relax ``atoms`` and classify the end point: E − E(bcc) (eV/atom), collapsed, converged, space group."""
    atoms.calc = make_calc()
    run = relax_free(atoms, fmax, steps)
    d_e, err = float("nan"), run["error"]
    if err is None:
        try:
            d_e = float(atoms.get_potential_energy()) / len(atoms) - e0
        except Exception as exc:  # noqa: BLE001
            err = f"{type(exc).__name__}: {exc}"[:300]
    dmin = min_distance(atoms) if np.all(np.isfinite(atoms.positions)) else float("nan")
    collapsed = err is not None or not np.isfinite(d_e) or not dmin >= s["collapse_distance_fraction"] * d_nn
    why = err or (f"atoms {dmin:.2f} Å apart (< {s['collapse_distance_fraction']:g} × d_nn(bcc))"
                  if collapsed else None)
    return {"dE": d_e, "converged": run["converged"] and err is None, "steps": run["steps"],
            "collapsed": bool(collapsed),
            "why": why, "d_min": dmin, "volume": float(atoms.get_volume() / len(atoms)), "n_atoms": len(atoms),
            "found": describe(atoms, s["symprec_A"]) if err is None else "error"}


def _bcc(target, element: str) -> tuple[float, float, float]:
    """(E0 eV/atom, V0 Å^3/atom, d_nn Å) of the relaxed bcc ground state of ``target``."""
    gs = ground_state(target, element, "bcc")
    return gs["e0"], gs["volume"], gs["a0"] * np.sqrt(3) / 2


def _select_structures(ends: list[dict], atoms_list: list, s: dict) -> list[dict]:
    """The offending end points (below bcc − margin, or collapsed; at most 10) and the lowest few,
    one per distinct end point (space group and energy)."""
    m = s["margin_eV_per_atom"]
    order = sorted(range(len(ends)), key=lambda i: (ends[i]["dE"] if np.isfinite(ends[i]["dE"]) else np.inf))
    seen, uniq = set(), []
    for i in order:  # several starts often end in the same structure: keep the first of each
        key = (ends[i]["found"], round(ends[i]["dE"], 4) if np.isfinite(ends[i]["dE"]) else i, ends[i]["collapsed"])
        if key not in seen:
            seen.add(key)
            uniq.append(i)
    pick = [i for i in uniq if ends[i]["collapsed"] or ends[i]["dE"] < -m][:10]
    pick += [i for i in uniq if np.isfinite(ends[i]["dE"]) and i not in pick][:s["n_structures_reported"]]
    out = []
    for i in pick:
        x = ends[i]
        flag = "collapsed" if x["collapsed"] else ("BELOW bcc" if x["dE"] < -m else "lowest")
        out.append(structure_record(atoms_list[i], x["dE"], f"{flag}: {x['start']} -> {x['found']}",
                                    converged=bool(x["converged"]), why=x["why"]))
    return out


# -- prototype starts -----------------------------------------------------------------------------------
def prototype_start(case: str, element: str, v_bcc: float, d_nn: float, c_factor: float, rng, rattle: float,
                    min_atoms: int = DEFAULTS["min_atoms"]):
    """The prototype ``case`` at the bcc volume, repeated to >= ``min_atoms`` atoms, strained along z by
    ``c_factor`` at constant volume (c/a × c_factor for the hexagonal and tetragonal prototypes, whose
    unique axis is z), rattled by normal displacements of ``rattle`` Å (``rng``)."""
    from . import eos

    atoms = eos.initial_scale(eos.prototype_atoms(case, element), v_bcc, d_nn)
    while len(atoms) < min_atoms:
        k = int(np.argmin(atoms.cell.lengths()))
        rep = [1, 1, 1]
        rep[k] = 2
        atoms = atoms.repeat(rep)
    strain = np.diag([c_factor ** -0.5, c_factor ** -0.5, c_factor])
    atoms.set_cell(atoms.cell.array @ strain, scale_atoms=True)
    atoms.positions = atoms.positions + rng.normal(scale=rattle, size=atoms.positions.shape)
    atoms.wrap()
    return atoms


def run_prototype_starts(make_calc, element: str, e0: float, v_bcc: float, d_nn: float, s: dict) -> dict:
    """Relax every (prototype, c/a factor, rattle) start; ``ends`` per start, lowest per prototype."""
    rng = np.random.default_rng(s["seed"])
    ends, atoms_list = [], []
    for case in s["prototypes"]:
        for cf in s["c_over_a_factors"]:
            for k in range(s["n_rattles"]):
                atoms = prototype_start(case, element, v_bcc, d_nn, cf, rng, s["rattle_A"], s["min_atoms"])
                x = _end_point(atoms, make_calc, e0, d_nn, s, s["fmax_eV_per_A"], s["relax_steps"])
                x.update({"prototype": case, "c_over_a_factor": cf, "rattle": k,
                          "start": f"{case} c/a×{cf:g}" + (f" #{k}" if s["n_rattles"] > 1 else "")})
                ends.append(x)
                atoms_list.append(atoms)
    return _summary(ends, atoms_list, s)


def _summary(ends: list[dict], atoms_list: list, s: dict) -> dict:
    m = s["margin_eV_per_atom"]
    fin = [x["dE"] for x in ends if np.isfinite(x["dE"]) and not x["collapsed"]]
    clean = [{k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in x.items()} for x in ends]
    return {"ends": clean,
            "lowest_dE": min(fin) if fin else None,
            "n_below_bcc": sum(1 for x in ends if not x["collapsed"] and x["dE"] < -m),
            "n_at_bcc": sum(1 for x in ends if not x["collapsed"] and abs(x["dE"]) <= m),
            "n_collapsed": sum(1 for x in ends if x["collapsed"]),
            "n_unconverged": sum(1 for x in ends if not x["converged"] and not x["collapsed"]),
            "structures": _select_structures(ends, atoms_list, s), "margin": m}


@single_threaded
@recorded_cache(maxsize=32)
def prototype_starts(target, element: str, tier: str = "standard") -> dict:
    """:func:`run_prototype_starts` for ``target``, cached per (target, element, tier)."""
    s = settings(tier)
    e0, v_bcc, d_nn = _bcc(target, element)
    return run_prototype_starts(target.calculator, element, e0, v_bcc, d_nn, s)


# -- random search --------------------------------------------------------------------------------------
def random_start(rng, element: str, v_bcc: float, d_nn: float, s: dict, max_tries: int = 100):
    """A random cell like the generator's candidates: N uniform in [search_atoms_min, search_atoms_max],
    V/atom uniform in search_volume_factors × V(bcc), atoms at least search_min_distance_fraction × d_nn apart."""
    from ase import Atoms

    from ...generator.candidate import random_cell, random_positions

    d_min = s["search_min_distance_fraction"] * d_nn
    lo, hi = s["search_volume_factors"]
    for _ in range(max_tries):
        n = int(rng.integers(s["search_atoms_min"], s["search_atoms_max"] + 1))
        v = float(rng.uniform(lo, hi)) * v_bcc
        cell = random_cell(rng, n, v, min_length=d_min)
        pos = random_positions(rng, cell, n, d_min)
        if pos is not None:
            return Atoms([element] * n, positions=pos, cell=cell, pbc=True), v / v_bcc
    raise RuntimeError(f"no random {element} cell with atoms {d_min:.2f} Å apart in {max_tries} tries")


def run_random_search(make_calc, element: str, e0: float, v_bcc: float, d_nn: float, s: dict) -> dict:
    """``search_count`` seeded random starts relaxed with the potential (see the module docstring)."""
    rng = np.random.default_rng(s["seed"])
    ends, atoms_list = [], []
    for i in range(s["search_count"]):
        atoms, vf = random_start(rng, element, v_bcc, d_nn, s)
        start = f"random #{i} ({len(atoms)} atoms, V = {vf:.2f} V_bcc)"
        x = _end_point(atoms, make_calc, e0, d_nn, s, s["search_fmax_eV_per_A"], s["search_steps"])
        x.update({"start": start, "index": i})
        ends.append(x)
        atoms_list.append(atoms)
    return _summary(ends, atoms_list, s)


@single_threaded
@recorded_cache(maxsize=32)
def random_search(target, element: str, tier: str = "standard") -> dict:
    """:func:`run_random_search` for ``target``, cached per (target, element, tier)."""
    s = settings(tier)
    e0, v_bcc, d_nn = _bcc(target, element)
    return run_random_search(target.calculator, element, e0, v_bcc, d_nn, s)


# -- measurements ---------------------------------------------------------------------------------------
def _f(x, fmt=".3g"):
    return "–" if x is None else format(x, fmt)


def _dimer_measurements(res: dict, s: dict) -> list[Measurement]:
    mins = ", ".join(f"{m['r']:.2f} Å ({m['E']:+.3f} eV)" for m in res.get("minima", [])) or "none (no bound well)"
    note = (f"r = {res['r_from']:g}-{res['r_to']:g} Å step {res['step']:g} Å; "
            f"cutoff {_f(res.get('cutoff'), '.2f')} Å; minima: {mins}; "
            f"E(0.5 Å) − E(∞) = {_f(res.get('wall'))} eV; "
            f"largest energy jump {_f(res.get('energy_jump'))} eV "
            f"at {_f(res.get('energy_jump_r'), '.3f')} Å, force jump {_f(res.get('force_jump'))} eV/Å at "
            f"{_f(res.get('force_jump_r'), '.3f')} Å (after bisection to {s['bisect_width_A']:g} Å)")
    failure = "; ".join(res["problems"]) if res["problems"] else None
    data = None
    if "r" in res:
        data = {"r_A": np.round(res["r"], 5).tolist(), "E_eV": np.round(res["E"], 6).tolist(),
                "F_eV_per_A": np.round(res["F"], 6).tolist(), "minima": res["minima"], "cutoff_A": res.get("cutoff")}
    out = [Measurement("n_minima", res.get("n_minima"), "", policy="reported", note=note, data=data, failure=failure),
           Measurement("r_min", res.get("r_min"), "Å", policy="reported", note="position of the deepest minimum"),
           Measurement("depth", res.get("depth"), "eV", policy="reported", note="E(r_min) − E(∞)"),
           Measurement("wall", res.get("wall"), "eV", policy="reported", note="E(0.5 Å) − E(∞)"),
           Measurement("cutoff", res.get("cutoff"), "Å", policy="reported",
                       note="largest r where E still changes by > 1e-6 eV" if res.get("cutoff") is not None
                       else "the energy still changes at the end of the scan"),
           Measurement("energy_jump", res.get("energy_jump"), "eV", policy="reported",
                       note="largest energy-force inconsistency left after bisection"),
           Measurement("force_jump", res.get("force_jump"), "eV/Å", policy="reported",
                       note="largest force change left after bisection")]
    arena = res.get("arena") or {}
    anote = f"MLIP Arena metric (arXiv:2509.20630) over r >= {_f(res.get('arena_r_from'), '.2f')} Å"
    for q, unit in (("force_flips", ""), ("energy_diff_flips", ""), ("tortuosity", ""),
                    ("conservation_deviation", "eV/Å"), ("spearman_repulsion_energy", ""),
                    ("spearman_attraction_energy", "")):
        if q in arena:
            out.append(Measurement(q, arena[q], unit, policy="reported", note=anote))
    return out


def _relax_measurements(case: str, res: dict, s: dict) -> list[Measurement]:
    m = s["margin_eV_per_atom"]
    n = len(res["ends"])
    below = [x for x in res["ends"] if not x["collapsed"] and x["dE"] is not None and x["dE"] < -m]
    coll = [x for x in res["ends"] if x["collapsed"]]
    msgs = []
    if below:
        lo = min(below, key=lambda x: x["dE"])
        msgs.append(f"{len(below)} of {n} relaxations ended below bcc by more than {1000 * m:g} meV/atom; lowest "
                    f"{1000 * lo['dE']:.1f} meV/atom from {lo['start']} -> {lo['found']}")
    if coll:
        msgs.append(f"{len(coll)} of {n} relaxations collapsed (e.g. {coll[0]['start']}: {coll[0]['why']})")
    failure = ("; ".join(msgs) + f" (structures in {STRUCTURES_FILE} of the report folder)") if msgs else None
    lowest = min((x for x in res["ends"] if x["dE"] is not None and not x["collapsed"]), key=lambda x: x["dE"],
                 default=None)
    note = (f"{n} relaxations (UnitCellFilter + BFGS, no symmetry); margin {1000 * m:g} meV/atom; lowest "
            + (f"{1000 * lowest['dE']:.1f} meV/atom from {lowest['start']} -> {lowest['found']}" if lowest else "none"))
    data = {"dE_eV_per_atom": [x["dE"] for x in res["ends"]], "starts": [x["start"] for x in res["ends"]],
            "found": [x["found"] for x in res["ends"]], "collapsed": [x["collapsed"] for x in res["ends"]],
            "converged": [x["converged"] for x in res["ends"]], "margin_eV_per_atom": m,
            "structures": res["structures"]}
    out = [Measurement("lowest_dE", res["lowest_dE"], "eV/atom", policy="reported", note=note, data=data,
                       failure=failure),
           Measurement("n_below_bcc", res["n_below_bcc"], "", policy="reported",
                       note=f"end points below E(bcc) − {1000 * m:g} meV/atom"),
           Measurement("n_at_bcc", res["n_at_bcc"], "", policy="reported",
                       note=f"end points within ±{1000 * m:g} meV/atom of bcc"),
           Measurement("n_collapsed", res["n_collapsed"], "", policy="reported",
                       note="refused by the potential, non-finite, or atoms closer than "
                            f"{s['collapse_distance_fraction']:g} × d_nn(bcc)"),
           Measurement("n_unconverged", res["n_unconverged"], "", policy="reported",
                       note="end points that did not reach fmax (their energy is an upper bound)")]
    if case == "prototype_starts":
        for proto in s["prototypes"]:
            xs = [x for x in res["ends"] if x["prototype"] == proto and x["dE"] is not None and not x["collapsed"]]
            best = min(xs, key=lambda x: x["dE"], default=None)
            out.append(Measurement(f"dE_{proto}", best["dE"] if best else None, "eV/atom", policy="reported",
                                   note=(f"lowest of {sum(x['prototype'] == proto for x in res['ends'])} starts: "
                                         f"{best['start']} -> {best['found']}") if best else "every start collapsed"))
    return out


class RobustnessProtocol(Protocol):
    """Dimer curve (MLIP Arena metrics), prototypes from broken-symmetry starts, random-structure search."""

    name, version, defaults, tier_settings = PROPERTY, PROTOCOL_VERSION, DEFAULTS, TIER_SETTINGS
    disclaimers = "finite random search; static 0 K; the margin is a stated choice; the dimer shape only"

    def cases(self, element, tier):
        return cases(element, tier)

    def measure(self, target, element, case, tier):
        s = settings(tier)
        if case == "dimer":
            return _dimer_measurements(dimer(target, element, tier), s)
        if case == "prototype_starts":
            return _relax_measurements(case, prototype_starts(target, element, tier), s)
        if case == "random_search":
            return _relax_measurements(case, random_search(target, element, tier), s)
        raise ValueError(f"robustness: unknown case {case!r} (known: {', '.join(CASES)})")


# -- plots ----------------------------------------------------------------------------------------------
STRUCTURES_FILE = "robustness_structures.extxyz"


def write_structures(records: list[dict], path: Path) -> int:
    """Write every structure kept in the records' data to ``path`` (extxyz, energies in ``info``);
    returns how many (an existing file is removed when there are none)."""
    from ase import Atoms
    from ase.io import write

    frames = []
    for r in records:
        for st in (r.get("data") or {}).get("structures") or []:
            at = Atoms(st["symbols"], positions=st["positions"], cell=st["cell"], pbc=True)
            d_e = st.get("dE_eV_per_atom")
            at.info.update({"case": str(r.get("case", "")), "label": str(st.get("label", "")),
                            "potential": str(r.get("potential", "")),
                            "dE_eV_per_atom": float("nan") if d_e is None else float(d_e),
                            "converged": bool(st.get("converged", True))})
            frames.append(at)
    path = Path(path)
    if not frames:
        path.unlink(missing_ok=True)
        return 0
    write(path, frames, format="extxyz")
    return len(frames)


def plot(records: list[dict], outdir) -> list[Path]:
    """``robustness_structures.extxyz`` (kept structures) and ``robustness.png``: the dimer E(r) and F(r),
    and the relaxation end points relative to bcc with the margin band."""
    import matplotlib.pyplot as plt

    from ..plotting import DFT_COLOUR, POTENTIAL_COLOUR, TOLERANCE_COLOUR

    outdir = Path(outdir)
    write_structures(records, outdir / STRUCTURES_FILE)
    dim = next((r["data"] for r in records if r.get("case") == "dimer" and (r.get("data") or {}).get("r_A")), None)
    ends = {r["case"]: r["data"] for r in records
            if r.get("case") in ("prototype_starts", "random_search")
            and (r.get("data") or {}).get("dE_eV_per_atom") is not None}
    if dim is None and not ends:
        return []
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    ax_e, ax_f, ax_s = axes
    if dim is not None:
        r, e, f = (np.asarray(dim[k], float) for k in ("r_A", "E_eV", "F_eV_per_A"))
        lo = min(float(e.min()), 0.0)
        ax_e.plot(r, e, color=POTENTIAL_COLOUR, lw=1.3)
        ax_e.axhline(0.0, color=DFT_COLOUR, lw=0.8)
        e_top = max(2.0, 3 * abs(lo) + 1.0)
        ax_e.set_ylim(1.3 * lo - 0.5, e_top)
        for m in dim.get("minima") or []:
            ax_e.plot(m["r"], m["E"], "v", color=POTENTIAL_COLOUR, ms=6)
        if dim.get("cutoff_A"):
            ax_e.axvline(dim["cutoff_A"], color=TOLERANCE_COLOUR, ls="--", lw=1)
        ax_e.set_xlabel("r (Å)")
        ax_e.set_ylabel("E − E(∞) (eV)")
        pot = next((str(x["potential"]) for x in records if x.get("potential")), "")
        el = next((str(x["element"]) for x in records if x.get("element")), "")
        ax_e.set_title(f"{pot}: {el}$_2$ dimer, E({r[0]:.1f} Å) = {e[0]:.3g} eV", fontsize=9)
        fl = max(2.0, 1.5 * float(np.abs(f[e <= e_top]).max(initial=1.0)))  # the range the energy panel shows
        ax_f.plot(r, f, color=POTENTIAL_COLOUR, lw=1.3)
        ax_f.axhline(0.0, color=DFT_COLOUR, lw=0.8)
        ax_f.set_ylim(-fl, fl)
        ax_f.set_xlabel("r (Å)")
        ax_f.set_ylabel("F along the bond (eV/Å, > 0 repulsive)")
        ax_f.set_title("dimer force", fontsize=9)
    else:
        ax_e.axis("off")
        ax_f.axis("off")
    if ends:
        margin = next(iter(ends.values())).get("margin_eV_per_atom", DEFAULTS["margin_eV_per_atom"])
        ax_s.axhspan(-1000 * margin, 1000 * margin, color=TOLERANCE_COLOUR, label=f"bcc ± {1000 * margin:g} meV/atom")
        ax_s.axhline(0.0, color=DFT_COLOUR, lw=0.8)
        rng, labels = np.random.default_rng(0), []
        for k, (case, d) in enumerate(sorted(ends.items())):
            de = np.array([np.nan if v is None else v for v in d["dE_eV_per_atom"]], float) * 1000
            coll = np.asarray(d.get("collapsed") or [False] * len(de), bool)
            x = k + rng.uniform(-0.15, 0.15, size=len(de))
            ax_s.plot(x[~coll], de[~coll], "o", color=POTENTIAL_COLOUR, ms=4, alpha=0.7)
            shown = coll & np.isfinite(de)
            if shown.any():
                ax_s.plot(x[shown], de[shown], "x", color=DFT_COLOUR, ms=7, label="collapsed" if k == 0 else None)
            labels.append(case.replace("_", " ") + (f"\n({int(coll.sum())} collapsed)" if coll.any() else ""))
        ax_s.set_xticks(range(len(ends)), labels)
        ax_s.set_ylabel("end point E − E(bcc) (meV/atom)")
        ax_s.set_yscale("symlog", linthresh=10)
        vals = np.array([v for d in ends.values() for v in d["dE_eV_per_atom"] if v is not None], float) * 1000
        vals = vals[np.isfinite(vals)]
        if len(vals):
            ax_s.set_ylim(min(-20.0, 2 * vals.min()), max(20.0, 2 * vals.max()))
        ax_s.set_title("relaxation end points", fontsize=9)
        ax_s.legend(fontsize=7)
    else:
        ax_s.axis("off")
    fig.tight_layout()
    p = outdir / "robustness.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return [p]


PROTOCOL = RobustnessProtocol()
