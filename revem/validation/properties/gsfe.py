"""Generalized stacking fault energies γ(u): bcc (110)[111] and (112)[111], fcc (111), hcp (0001).

A rigid-shift fault: the crystal above a plane displaced rigidly by ``f·b``; ``γ(f) = (E(f) − E(0)) / A``
(mJ/m^2), with ``E(0)`` the unshifted cell of the same series (V. Vitek, Philos. Mag. 18, 773 (1968),
doi:10.1080/14786436808227500).  Two cell types (:mod:`revem.validation.properties.gsfe_cells`):

* *tilted periodic cells* (no surface): a column of bulk crystal whose stacking vector is tilted by
  ``f·b`` so the periodic image above the cell boundary is displaced (the GAP-W cells: W. J. Szlachta,
  A. P. Bartók, G. Csányi, Phys. Rev. B 90, 104108 (2014), doi:10.1103/PhysRevB.90.104108);
* *vacuum slabs* (FitSNAP Ta, A. P. Thompson et al., J. Comput. Phys. 285, 316 (2015),
  doi:10.1016/j.jcp.2014.12.018): the upper half of a slab is translated by ``f·b`` inside an
  orthogonal cell; ``E(0)`` is the unshifted slab of the same variant, so the surfaces cancel.

Cases come from the element's lattice and its data (:func:`cases`), for every element: the potential's own
cells at its own ground state for the lattice (bcc: the two planes above; fcc: (111) along the partial
direction [11-2] and the full [1-10] line; hcp: basal (0001) along [1-100] and [11-20]; diamond: none, its
{111} shuffle/glide faults are another protocol), and the cases on an element's DFT cells where the element
data name them (``element_data/gsfe.yaml``, ``dft_cells``: W the GAP-W rigid-shift cells, Ta the FitSNAP
GSF slabs).  A number is scored where a reference is stored and reported (regression-gated) otherwise.

DFT-cell cases (W: ``fitsnap-WBe/W/gamma_surface_rigid.extxyz.gz``, 12-atom cells at the DFT a = 3.1805 Å):

* ``<plane>_unrelaxed``: the potential on the very DFT cells; ``E(0)`` is the potential's energy of the
  same cell with the tilt removed, so no energy zero is shared with DFT. Quantities: ``gamma_us_sampled``
  (largest γ among the DFT-sampled shifts, against the same DFT number), ``rmse`` against the DFT points.
* ``110_symmetry``: ``max_asymmetry`` = max |γ(1−f) − γ(f)| on the DFT cells ((110)[111] is symmetric).
* ``112_asymmetry``: ``asymmetry`` = mean over the DFT pairs f < 0.5 of γ(1−f) − γ(f), f counted in the
  twinning sense, i.e. antitwinning minus twinning (W DFT +189 mJ/m^2).

Ta (``fitsnap-Ta/Ta/GSF_110`` / ``GSF_112``; 24-/30-atom slabs at the DFT a = 3.32 Å, shifts 0–1 b in
steps of 0.1 b, a non-relaxed and a relaxed variant, ``source_id`` = ``GSF_<plane>_<variant>_<s>.json``
with the displacement s·(box) = 2s·b, checked on the atoms):

* ``<plane>_unrelaxed``, ``110_symmetry``, ``112_asymmetry``: as for W, on the non-relaxed slabs
  (``f`` of the (112) slabs is converted to the twinning sense from the stacking of the atoms,
  :func:`twinning_sign`: the Ta slabs are shifted in the antitwinning sense).
* ``<plane>_relaxed_slab``: the DFT-relaxed variant (atoms relaxed along the fault normal only).  The
  potential *relaxes the atoms itself under the same constraint* (normal only, from the DFT-relaxed
  positions, every shift and the f = 0 slab alike), then ``gamma_us_sampled`` and ``rmse`` against
  the relaxed DFT line.

Own-cell cases (every element of the lattice; tilted cells at the potential's own relaxed ground state):

* bcc ``<plane>_gamma_us``: ``gamma_us``, the maximum of the dense unrelaxed γ line (``dense_points``
  samples, then a bounded maximisation, to 1e-6 b).
* bcc ``<plane>_relaxed`` (standard/full tiers): atoms relaxed only perpendicular to the fault plane
  (``ase.constraints.FixCartesian``); ``gamma_us`` (largest sampled γ) and, for (112), ``asymmetry``.
* fcc ``111_partial`` / hcp ``0001_partial``: the unrelaxed line from the perfect crystal through the stacking
  fault at 1/3 (or 2/3) of the line's period: ``gamma_isf`` (fcc intrinsic stacking fault) or ``gamma_I2``
  (hcp basal I2, the fault a Shockley partial leaves) and ``gamma_us`` (the maximum on the way to it).
* fcc ``111_full`` / hcp ``0001_full``: ``gamma_us`` of the full-dislocation line (a/2[1-10], a/3[11-20]).
* fcc ``111_partial_relaxed`` / hcp ``0001_partial_relaxed`` (standard/full tiers): the same path with the
  atoms and the cell length relaxed along the fault normal only at every point (the usual DFT protocol of
  published stacking-fault energies; with the cell fixed the relaxation would depend on the cell height):
  ``gamma_isf``/``gamma_I2`` and ``gamma_us`` (the largest of ``relaxed_points`` samples).

Relaxed numbers state an ``uncertainty``: the harmonic bound Σ F_z² / (2k) of the energy still to gain from
the residual normal forces (k ≥ 1 eV/Å², :data:`revem.atomistic.MIN_STIFFNESS_EV_PER_A2`), over the fault area.

Seed 000 (Subramanyam & Perez), Fig. 8 shows the (110) and (112) γ lines of W (DFT and ACE).

Disclaimers: the DFT-cell cases probe the potential at the DFT lattice constant; ``gamma_us_sampled``
is the largest *sampled* value (the W (110) series samples f = 0.2, 0.4, …, 7–9 % below the true
maximum). Relaxed lines relax only normal displacements (the standard γ-line protocol) and are
static (0 K); the bcc relaxed lines keep the cell fixed (no normal dilation), the fcc/hcp ones relax it.  The unrelaxed own-cell lines are upper bounds
of the relaxed ones (fcc: a few % at the ISF, more at γ_us).
"""
from __future__ import annotations

import warnings

import numpy as np
from ase.constraints import FixCartesian
from ase.filters import UnitCellFilter
from ase.optimize import BFGS

from ...atomistic import MIN_STIFFNESS_EV_PER_A2
from ...data import read_frames
from .. import references
from ..plotting import finite as _finite
from ..protocol import Measurement, Protocol, merge_settings
from ..references import Reference
from ..target import Target
from .common import (
    EV_PER_A2_TO_MJ_PER_M2,
    element_info,
    ground_state,
    jitter,
    lattice_of,
    relax_positions,
    single_threaded,
)
from .gsfe_cells import (  # noqa: F401  (re-exported: the protocol's geometry)
    OWN_LINES,
    OWN_RELAXED,
    PLANES,
    STACKING_FAULT,
    asymmetry_pairs,
    burgers_cartesian,
    dft_series,
    fault_area,
    gamma_line,
    gamma_us,
    inplane_wrap,
    layers,
    line_maximum,
    max_asymmetry,
    mean_asymmetry,
    own_cell,
    relaxed_cell,
    rotation,
    shift_matches,
    shifted_block,
    slab_a,
    slab_burgers,
    slab_label,
    slab_series,
    tilted,
    twinning_sign,
    untilted,
    upper_block,
)
from .gsfe_plot import plot  # noqa: F401  (the report's figure of this property)

PROPERTY = "gsfe"
#: 2: gamma_us is the dense-line maximum at the potential's own a0; gamma_us_sampled.  3: every case the
#: lattice defines for every element (fcc/hcp partial lines relaxed along the normal in standard/full),
#: cells of DFT γ lines from element data, uncertainties of relaxed numbers
PROTOCOL_VERSION = 3
UNIT = "mJ/m^2"
DEFAULTS = {"dense_points": 21, "relaxed_points": 11, "relaxed_height_A": 20.0, "fmax_eV_per_A": 2e-3,
            "max_steps": 500}
TIER_SETTINGS = {
    "smoke": {"relaxed": False},
    "standard": {"relaxed": True, "relaxed_points": 11, "relaxed_height_A": 20.0, "fmax_eV_per_A": 2e-3},
    "full": {"relaxed": True, "dense_points": 41, "relaxed_points": 41, "relaxed_height_A": 40.0, "fmax_eV_per_A": 1e-4},
}
#: own-cell cases per lattice (unrelaxed lines at every tier; the relaxed partial lines in standard/full)
OWN_CELL_CASES = {"fcc": ("111_partial", "111_full"), "hcp": ("0001_partial", "0001_full")}
UNCERTAINTY_COVERS = ("residual normal forces after the constrained relaxation (harmonic bound, "
                      f"k ≥ {MIN_STIFFNESS_EV_PER_A2:g} eV/Å²)")


def settings(tier: str) -> dict:
    return merge_settings(DEFAULTS, TIER_SETTINGS, tier)


def dft_cells(element: str) -> dict:
    """The element's DFT γ-line cells (``element_data/gsfe.yaml`` ``dft_cells``): ``kind`` (tilted | slab),
    ``files`` {plane: registry name}, ``label``, ``lattice_a_A``; {} when the element has none."""
    spec = dict(element_info(element).prop(PROPERTY).get("dft_cells") or {})
    if spec:
        spec["files"] = {str(k): str(v) for k, v in (spec.get("files") or {}).items()}
        if spec.get("kind") not in ("tilted", "slab"):
            raise ValueError(f"gsfe element data {element}: dft_cells.kind must be 'tilted' or 'slab', "
                             f"not {spec.get('kind')!r}")
    return spec


def cases(element: str, tier: str) -> list[str]:
    """Every case the element's lattice defines (see the module docstring), then its DFT-cell cases; the
    relaxed own-cell lines in the standard and full tiers only.  W: ``110_gamma_us``, ``112_gamma_us``, the
    GAP-W cases, and ``110_relaxed``, ``112_relaxed`` in standard/full."""
    lat = lattice_of(element)
    relaxed = settings(tier)["relaxed"]
    out = []
    if lat == "bcc":
        out += ["110_gamma_us", "112_gamma_us"]
        spec = dft_cells(element)
        if spec:
            out += ["110_unrelaxed", "112_unrelaxed", "110_symmetry", "112_asymmetry"]
            if spec["kind"] == "slab":
                out += ["110_relaxed_slab", "112_relaxed_slab"]
        if relaxed:
            out += ["110_relaxed", "112_relaxed"]
    elif lat in OWN_CELL_CASES:
        out += list(OWN_CELL_CASES[lat])
        if relaxed:
            out += [c for c, line in OWN_RELAXED.items() if line in OWN_CELL_CASES[lat]]
    return out


def dft_file(element: str, plane: str) -> str:
    """Registry name of ``element``'s DFT γ-line cells of ``plane`` (ValueError if none)."""
    try:
        return dft_cells(element)["files"][plane]
    except KeyError:
        raise ValueError(f"gsfe: no DFT γ-line cells of {element} ({plane}) are known (element data "
                         f"element_data/gsfe.yaml, dft_cells)") from None


# ------------------------------------------------------------------------------------------------ compute
def _energy(atoms, calc) -> float:
    at = atoms.copy()
    at.calc = calc
    return float(at.get_potential_energy())


@single_threaded
def _relax_normal(atoms, calc, normal: int, fmax: float, steps: int, cell: bool = False) -> tuple[float, bool, float]:
    """Relax ``atoms`` along axis ``normal`` only (in place; ``cell``: the cell length along it too, i.e. the
    normal dilation, ``ase.filters.UnitCellFilter`` masked to that strain); returns (energy eV, converged,
    uncertainty eV: the harmonic bound of the energy still to gain from the residual normal forces)."""
    atoms.calc = calc
    atoms.set_constraint(FixCartesian(range(len(atoms)), mask=tuple(k != normal for k in range(3))))
    with warnings.catch_warnings():  # one summary warning by the caller
        warnings.simplefilter("ignore")
        if cell:
            jitter(atoms)
            mask = [0] * 6
            mask[normal] = 1
            opt = BFGS(UnitCellFilter(atoms, mask=mask), logfile=None)
            ok = opt.run(fmax=fmax, steps=steps)
        else:
            ok = relax_positions(atoms, fmax=fmax, steps=steps, optimizer=BFGS)
    fz = atoms.get_forces(apply_constraint=False)[:, normal]
    return float(atoms.get_potential_energy()), bool(ok), float(np.sum(fz * fz) / (2.0 * MIN_STIFFNESS_EV_PER_A2))


def _unrelaxed(t: Target, element: str, plane: str, dense_points: int) -> dict:
    """The potential on the element's DFT cells of ``plane`` (cached per target)."""
    if dft_cells(element).get("kind") == "slab":
        return _slab_line(t, element, plane, "nonrelax", dense_points)
    return t.memo(PROPERTY, "dft_tilted", element, plane, dense_points, PROTOCOL_VERSION,
                  compute=lambda: _tilted_line(t, element, plane, dense_points))


def _tilted_line(t: Target, element: str, plane: str, dense_points: int) -> dict:
    spec = dft_cells(element)
    series = dft_series(read_frames(dft_file(element, plane)), plane, spec.get("lattice_a_A"))
    if not series:
        raise ValueError(f"no {plane} rigid-shift frames in {dft_file(element, plane)}")
    calc = t.calculator()
    f = np.array([s["f"] for s in series])
    g_dft = np.array([s["gamma_dft"] for s in series])
    g_pot = np.array([(_energy(s["atoms"], calc) - _energy(s["untilted"], calc))
                      / fault_area(s["atoms"].cell.array, s["stack"]) * EV_PER_A2_TO_MJ_PER_M2 for s in series])
    # dense line on the same (untilted) DFT cell, for the plot and the off-grid maximum
    s0 = series[0]
    a = float(s0["lattice_a"])
    b = burgers_cartesian(plane, a)
    e0 = _energy(s0["untilted"], calc)
    area = fault_area(s0["untilted"].cell.array, s0["stack"])
    fd = np.linspace(0.0, 1.0, dense_points)
    gd = gamma_line([_energy(tilted(s0["untilted"], x, b, s0["stack"]), calc) for x in fd], e0, area)
    return {"f": f.tolist(), "gamma": g_pot.tolist(), "gamma_dft": g_dft.tolist(), "f_dense": fd.tolist(),
            "gamma_dense": gd.tolist(), "ids": [s["id"] for s in series], "lattice_a_A": a}


def _slab_line(t: Target, element: str, plane: str, variant: str, dense_points: int, fmax: float | None = None,
               max_steps: int = 500) -> dict:
    return t.memo(PROPERTY, "dft_slab", element, plane, variant, dense_points, fmax, max_steps, PROTOCOL_VERSION,
                  compute=lambda: slab_line(t, element, plane, variant, dense_points, fmax, max_steps))


def slab_line(target, element: str, plane: str, variant: str, dense_points: int, fmax: float | None = None,
              max_steps: int = 500) -> dict:
    """The potential on ``element``'s DFT vacuum slabs of ``plane`` (one ``variant``).

    ``fmax`` None: single points on the DFT positions (and a dense unrelaxed line: the zero-shift slab
    with its upper block shifted by f·b).  ``fmax`` given: every slab, the zero-shift one included, is
    relaxed by the potential along the fault normal only (as the DFT relaxed variant), starting from
    the DFT positions of that variant; ``uncertainty`` per point (mJ/m^2, residual normal forces)."""
    t = Target.of(target)
    series = slab_series(read_frames(dft_file(element, plane)), plane, variant)
    calc = t.calculator()
    ref = series[0]["untilted"]
    normal = series[0]["stack"]
    area = fault_area(ref.cell.array, normal)
    unconverged, unc = [], []

    def energy(at, label):
        if fmax is None:
            return _energy(at, calc)
        a = at.copy()
        e, ok, u = _relax_normal(a, calc, normal, fmax, max_steps)
        if not ok:
            unconverged.append(label)
        unc.append(u)
        return e

    e0 = energy(ref, "0")
    g_pot = gamma_line([energy(x["atoms"], x["id"]) for x in series], e0, area)
    out = {"f": [x["f"] for x in series], "gamma": g_pot.tolist(), "gamma_dft": [x["gamma_dft"] for x in series],
           "ids": [x["id"] for x in series], "lattice_a_A": slab_a(ref, plane, normal), "n_atoms": len(ref),
           "variant": variant, "sense": series[0]["sense"], "relaxed_by_potential": fmax is not None}
    if fmax is not None:
        out["unconverged"] = unconverged
        out["uncertainty"] = [(unc[0] + u) / area * EV_PER_A2_TO_MJ_PER_M2 for u in unc[1:]]
        if unconverged:
            warnings.warn(f"gsfe {element} {plane} slab relaxation: fmax {fmax} eV/Å not reached for {unconverged}")
    else:
        moved = next(x["moved"] for x in series if x["moved"].any())
        b, sign = series[0]["b"], series[0]["sense"]
        fd = np.linspace(0.0, 1.0, dense_points)  # f in the twinning sense: the shift is sign·f·b
        gd = gamma_line([_energy(shifted_block(ref, moved, sign * x * b), calc) for x in fd], e0, area)
        out.update({"f_dense": fd.tolist(), "gamma_dense": gd.tolist()})
    return out


def relaxed_line(target, element: str, plane: str, a0: float, points: int = 11, height_A: float = 20.0,
                 fmax: float = 2e-3, max_steps: int = 500) -> dict:
    """γ(f) (mJ/m^2) of the bcc ``plane`` with atoms relaxed along the fault normal only, on cells at lattice
    constant ``a0`` (Å); ``uncertainty`` per point from the residual normal forces."""
    t = Target.of(target)
    base = relaxed_cell(element, plane, a0, height_A)
    calc = t.calculator()
    e0 = _energy(base, calc)
    area = fault_area(base.cell.array, 0)
    b = burgers_cartesian(plane, a0)
    fs = np.linspace(0.0, 1.0, points)
    gam, unc, unconverged = [], [], []
    for f in fs:
        at = tilted(base, f, b, 0)
        e, ok, u = _relax_normal(at, calc, 0, fmax, max_steps)
        if not ok:
            unconverged.append(float(f))
        gam.append((e - e0) / area * EV_PER_A2_TO_MJ_PER_M2)
        unc.append(u / area * EV_PER_A2_TO_MJ_PER_M2)
    if unconverged:
        warnings.warn(f"gsfe {plane} relaxed: fmax {fmax} eV/Å not reached at f = {unconverged}")
    return {"f": fs.tolist(), "gamma": [float(g) for g in gam], "uncertainty": unc, "n_atoms": len(base),
            "a0_A": a0, "unconverged_f": unconverged}


def dense_gamma_us(target, element: str, plane: str, a0: float, points: int = 21, height_A: float = 20.0) -> dict:
    """Unstable stacking-fault energy (mJ/m^2) of the bcc ``plane``: the maximum of the unrelaxed γ line on
    cells at ``a0`` (Å), from ``points`` samples of f in [0, 1] refined by a bounded scalar maximisation
    (xatol 1e-6)."""
    t = Target.of(target)
    base = relaxed_cell(element, plane, a0, height_A)
    calc = t.calculator()
    e0 = _energy(base, calc)
    area = fault_area(base.cell.array, 0)
    b = burgers_cartesian(plane, a0)

    def gamma(f):
        return (_energy(tilted(base, float(f), b, 0), calc) - e0) / area * EV_PER_A2_TO_MJ_PER_M2

    fs, gs, f_max, g_max = line_maximum(gamma, points)
    return {"gamma_us": g_max, "f_max": f_max, "f": fs.tolist(), "gamma": gs.tolist(), "a0_A": a0,
            "n_atoms": len(base)}


def own_line(target, element: str, case: str, a0: float, c_over_a: float | None = None, points: int = 21,
             height_A: float = 20.0) -> dict:
    """Unrelaxed γ line (mJ/m^2) of an fcc/hcp own-cell case at the lattice constant ``a0`` (Å).

    Partial lines: the stacking fault is the lower of γ(1/3) and γ(2/3) of the line's period (the
    other point is the on-top stacking); ``gamma_sf`` is it and ``gamma_us`` the maximum on the path
    from f = 0 to it.  Full lines: ``gamma_us`` is the maximum of γ(f), f in [0, 1].  The maximum is
    refined by a bounded scalar maximisation around the largest of ``points`` samples (xatol 1e-6)."""
    t = Target.of(target)
    lattice, kind = OWN_LINES[case]
    base, lines = own_cell(element, lattice, a0, c_over_a, height_A)
    vec = lines[kind]
    calc = t.calculator()
    e0 = _energy(base, calc)
    area = fault_area(base.cell.array, 2)

    def gamma_at(f):
        return float(gamma_line([_energy(tilted(base, float(f), vec, 2), calc)], e0, area)[0])

    out = {"a0_A": a0, "c_over_a": c_over_a, "n_atoms": len(base), "line": kind, "lattice": lattice,
           "gamma_f1": gamma_at(1.0)}
    if kind == "partial":
        g13, g23 = gamma_at(1 / 3), gamma_at(2 / 3)
        sgn = 1.0 if g13 <= g23 else -1.0
        out.update({"gamma_sf": min(g13, g23), "gamma_ontop": max(g13, g23), "f_sf": 1 / 3 if sgn > 0 else 2 / 3,
                    "sf_sign": sgn})

        def gamma(p):  # path parameter p in [0, 1]: from the perfect crystal to the stacking fault
            return gamma_at(sgn * p / 3)
    else:
        gamma = gamma_at
    fs, gs, f_max, g_max = line_maximum(gamma, points)
    out.update({"gamma_us": g_max, "f_max": f_max, "f": fs.tolist(), "gamma": gs.tolist(),
                "f_unit": "fraction of the path 0 → stacking fault" if kind == "partial" else "b"})
    return out


def own_relaxed_line(target, element: str, case: str, a0: float, c_over_a: float | None, sf_sign: float,
                     points: int = 11, height_A: float = 20.0, fmax: float = 2e-3, max_steps: int = 500) -> dict:
    """The partial line of ``case`` (an :data:`OWN_RELAXED` case) from the perfect crystal (p = 0) to the stacking
    fault (p = 1, at f = ``sf_sign``/3 of the line's period) with the atoms and the cell length relaxed along the
    fault normal at every point (so the number does not depend on the cell height: the fault's dilation is
    free): ``gamma_sf`` (p = 1), ``gamma_us`` (the largest sample), each with its ``uncertainty`` (mJ/m^2)."""
    t = Target.of(target)
    lattice, _ = OWN_LINES[OWN_RELAXED[case]]
    base, lines = own_cell(element, lattice, a0, c_over_a, height_A)
    calc = t.calculator()
    e0 = _energy(base, calc)
    area = fault_area(base.cell.array, 2)
    ps = np.linspace(0.0, 1.0, points)
    gam, unc, unconverged = [], [], []
    for p in ps:
        at = tilted(base, sf_sign * float(p) / 3, lines["partial"], 2)
        e, ok, u = _relax_normal(at, calc, 2, fmax, max_steps, cell=True)
        if not ok:
            unconverged.append(float(p))
        gam.append((e - e0) / area * EV_PER_A2_TO_MJ_PER_M2)
        unc.append(u / area * EV_PER_A2_TO_MJ_PER_M2)
    if unconverged:
        warnings.warn(f"gsfe {case} relaxed: fmax {fmax} eV/Å not reached at p = {unconverged}")
    k = int(np.argmax(gam))
    return {"f": ps.tolist(), "gamma": [float(g) for g in gam], "uncertainty": unc, "gamma_sf": float(gam[-1]),
            "gamma_sf_uncertainty": unc[-1], "gamma_us": float(gam[k]), "gamma_us_uncertainty": unc[k],
            "f_max": float(ps[k]), "a0_A": a0, "c_over_a": c_over_a, "n_atoms": len(base), "lattice": lattice,
            "unconverged_p": unconverged, "f_unit": "fraction of the path 0 → stacking fault"}


def _own_line(t: Target, element: str, case: str, points: int, height_A: float) -> dict:
    def run():
        gs = ground_state(t, element, OWN_LINES[case][0])
        return own_line(t, element, case, gs["a0"], gs.get("c_over_a"), points, height_A)

    return t.memo(PROPERTY, "own_line", element, case, points, height_A, PROTOCOL_VERSION, compute=run)


def compute(target, element: str, case: str, tier: str = "standard") -> dict:
    """Numbers of ``case`` (all mJ/m^2), the curve behind them (``data``) and, for relaxed numbers, their
    ``uncertainty`` (quantity -> mJ/m^2).  Cached in the target's session."""
    t = Target.of(target)
    return t.memo(PROPERTY, element, case, tier, PROTOCOL_VERSION, compute=lambda: _compute(t, element, case, tier))


def _compute(t: Target, element: str, case: str, tier: str) -> dict:
    s = settings(tier)
    if case in OWN_LINES:
        d = _own_line(t, element, case, s["dense_points"], s["relaxed_height_A"])
        out = {"gamma_us": d["gamma_us"], "data": d}
        if "gamma_sf" in d:
            out[STACKING_FAULT[d["lattice"]]] = d["gamma_sf"]
        return out
    if case in OWN_RELAXED:
        line = _own_line(t, element, OWN_RELAXED[case], s["dense_points"], s["relaxed_height_A"])
        d = own_relaxed_line(t, element, case, line["a0_A"], line["c_over_a"], line["sf_sign"], s["relaxed_points"],
                             s["relaxed_height_A"], s["fmax_eV_per_A"], s["max_steps"])
        q = STACKING_FAULT[d["lattice"]]
        return {"gamma_us": d["gamma_us"], q: d["gamma_sf"], "data": d,
                "uncertainty": {"gamma_us": d["gamma_us_uncertainty"], q: d["gamma_sf_uncertainty"]},
                "converged": not d["unconverged_p"]}
    plane, kind = case.split("_", 1)
    if kind == "relaxed_slab":
        d = _slab_line(t, element, plane, "relax", s["dense_points"], s["fmax_eV_per_A"], s["max_steps"])
        f, g, gd = np.array(d["f"]), np.array(d["gamma"]), np.array(d["gamma_dft"])
        return {"gamma_us_sampled": gamma_us(f, g), "rmse": float(np.sqrt(np.mean((g - gd) ** 2))), "data": d,
                "uncertainty": {"gamma_us_sampled": d["uncertainty"][int(np.argmax(g))]},
                "converged": not d["unconverged"]}
    if kind == "gamma_us":
        def run():
            a0 = ground_state(t, element)["a0"]
            return dense_gamma_us(t, element, plane, a0, s["dense_points"], s["relaxed_height_A"])

        d = t.memo(PROPERTY, "dense_gamma_us", element, plane, s["dense_points"], s["relaxed_height_A"],
                   PROTOCOL_VERSION, compute=run)
        return {"gamma_us": d["gamma_us"], "data": d}
    if kind == "relaxed":
        d = relaxed_line(t, element, plane, ground_state(t, element)["a0"], s["relaxed_points"],
                         s["relaxed_height_A"], s["fmax_eV_per_A"], s["max_steps"])
        k = int(np.argmax(d["gamma"]))
        out = {"gamma_us": gamma_us(d["f"], d["gamma"]), "data": d, "uncertainty": {"gamma_us": d["uncertainty"][k]},
               "converged": not d["unconverged_f"]}
        if plane == "112":
            out["asymmetry"] = mean_asymmetry(d["f"], d["gamma"])
        return out
    d = _unrelaxed(t, element, plane, s["dense_points"])
    f, g, gd = np.array(d["f"]), np.array(d["gamma"]), np.array(d["gamma_dft"])
    if kind == "unrelaxed":
        return {"gamma_us_sampled": gamma_us(f, g), "rmse": float(np.sqrt(np.mean((g - gd) ** 2))),
                "gamma_us_dense": float(np.max(d["gamma_dense"])), "data": d}
    if kind == "symmetry":
        return {"max_asymmetry": max_asymmetry(f, g), "data": {}}
    if kind == "asymmetry":
        return {"asymmetry": mean_asymmetry(f, g), "data": {}}
    raise ValueError(f"unknown gsfe case '{case}'")


# ------------------------------------------------------------------------------------------------ protocol
class GSFEProtocol(Protocol):
    """Generalized stacking-fault energy lines: bcc (110)[111] and (112)[111], fcc (111), hcp (0001)."""

    name, version, defaults, tier_settings = PROPERTY, PROTOCOL_VERSION, DEFAULTS, TIER_SETTINGS

    def cases(self, element, tier):
        return cases(element, tier)

    def required_data(self, element, case):
        if case in OWN_LINES or case in OWN_RELAXED or case.endswith(("_relaxed", "_gamma_us")):
            return []
        return [dft_file(element, case.split("_", 1)[0])]

    def measure(self, target, element, case, tier):
        res = compute(target, element, case, tier)
        unc = res.get("uncertainty") or {}
        conv = res.get("converged", True)

        def m(q, note, **kw):
            u = unc.get(q)
            return Measurement(q, res[q], UNIT, note=note, policy=references.policy(element, PROPERTY, case, q),
                               converged=conv,
                               uncertainty=u, uncertainty_covers=UNCERTAINTY_COVERS if u is not None else "", **kw)

        d = res["data"]
        if case in OWN_LINES:
            note = (f"unrelaxed {d['lattice']} line on the potential's own cells at a0 = {d['a0_A']:.4f} Å "
                    f"({d['n_atoms']} atoms)")
            return [m(q, note, data=d if q == "gamma_us" else None) for q in ("gamma_us", *STACKING_FAULT.values())
                    if q in res]
        if case in OWN_RELAXED:
            note = (f"{d['lattice']} partial line, atoms relaxed along the fault normal at every point, own cells at "
                    f"a0 = {d['a0_A']:.4f} Å ({d['n_atoms']} atoms); gamma_us is the largest of {len(d['f'])} samples")
            return [m(q, note, data=d if q == "gamma_us" else None) for q in ("gamma_us", *STACKING_FAULT.values())
                    if q in res]
        spec = dft_cells(element)
        if case.endswith("_relaxed_slab"):
            note = (f"{spec['label']}, DFT-relaxed variant; the atoms relaxed by the potential along "
                    f"the fault normal only (from the DFT-relaxed positions, zero-shift slab included), "
                    f"a = {d['lattice_a_A']:.4f} Å")
            return [m("gamma_us_sampled", note, data=d), m("rmse", note)]
        if case.endswith("_relaxed"):  # own cells, no DFT data needed
            note = f"atoms relaxed normal to the plane, cells at the potential's a0 = {d['a0_A']:.4f} Å"
            return [m(q, note, data=d if q == "gamma_us" else None) for q in ("gamma_us", "asymmetry") if q in res]
        if case.endswith("_gamma_us"):
            return [m("gamma_us", f"maximum of the dense unrelaxed γ line at the potential's own a0 = {d['a0_A']:.4f} Å "
                                  f"(f = {d['f_max']:.4f} b, {len(d['f'])} samples + bounded maximisation, "
                                  f"{d['n_atoms']} atoms); the DFT-sampled value is gamma_us_sampled", data=d)]
        a = d.get("lattice_a_A") if d else None
        if a is None:  # the symmetry cases keep no curve: the DFT cells' a from the cached line
            a = _unrelaxed(Target.of(target), element, case.split("_", 1)[0], settings(tier)["dense_points"]).get(
                "lattice_a_A")
        note = f"unrelaxed, on the {spec['label']}" + (f" at a = {a:.4f} Å (the DFT lattice constant)" if _finite(a) else "")
        if spec["kind"] == "slab" and case.startswith("112"):
            note += "; f counted in the twinning sense (the DFT slabs are shifted in the antitwinning sense)"
        if case.endswith("_unrelaxed"):
            kind = "non-relaxed variant" if spec["kind"] == "slab" else "unrelaxed"
            out = [m("gamma_us_sampled", note, data=d), m("rmse", note),
                   Measurement("gamma_max_dft_cell", res["gamma_us_dense"], UNIT, policy="reported",
                               note=f"largest γ of the dense unrelaxed line on the DFT zero-shift cell (a = {a:.4f} Å)")]
            for f, g, gd in zip(d["f"], d["gamma"], d["gamma_dft"]):  # point by point (scored as a whole by rmse)
                point = f"{case}@{f:.2f}b"
                ref = Reference(element=element, property=PROPERTY, case=point, quantity="gamma", value=float(gd),
                                unit=UNIT, source=f"{spec['label']}, {kind}")
                out.append(Measurement("gamma", g, UNIT, case=point, refs=[ref], note=note, policy="reported"))
            return out
        if case == "110_symmetry":
            return [m("max_asymmetry", note)]
        return [m("asymmetry", note + "; γ(1−f) − γ(f) averaged over f < 0.5 (antitwinning − twinning)")]


PROTOCOL = GSFEProtocol()
