"""Grain-boundary energies E_gb (J/m^2): CSL boundaries of bcc W, and the GBDB bicrystals of every element.

Two sets of cases, both periodic bicrystals holding two equivalent GBs,
``E_gb = (E_cell − N·e_bulk) / (2A)`` with ``e_bulk`` the potential's relaxed ground-state energy per atom
(bcc, fcc or hcp: :func:`revem.validation.properties.common.ground_lattice`) and
``A`` the GB area:

* **Table S1 of seed 000** (Subramanyam & Perez), DFT values of D. Scheiber, R. Pippan, P. Puschnig,
  L. Romaner, Modelling Simul. Mater. Sci. Eng. 24, 035013 (2016), doi:10.1088/0965-0393/24/3/035013:
  Σ3[1-10](112) tilt, Σ3[1-10](110) twist, Σ3[1-10](111) tilt, Σ5[100](013) tilt, Σ5[100](001) twist.
  Built with aimsgb (J. Cheng, J. Luo, K. Yang, Comput. Mater. Sci. 155, 92 (2018),
  doi:10.1016/j.commatsci.2018.08.029) at the potential's a0. aimsgb names the equivalent planes
  (11-2), (1-10) [twist: plane normal ∥ axis], (-1-1-1), (013) and (100). The GB energy is the
  minimum over a grid of rigid in-plane translations of grain B; each translation is relaxed (atoms and
  the cell length normal to the GB). Atoms of grain B closer than ``min_distance_A`` to another atom are
  deleted. ``S5_013_broken_symmetry`` reports ``dE_broken`` = E_gb(mirror-symmetric, zero shift) −
  min E_gb over every start, J/m^2; positive means a broken-symmetry variant is the more stable one (DFT:
  +0.089 J/m^2, Scheiber et al. as quoted by the seed, which describes the broken-symmetry structure as the
  grains shifted along [100]; T. Ochs et al., Phil. Mag. A 80, 351 (2000) found W's Σ5(310)[001] grains displaced parallel to the
  tilt axis).  The starts: the Σ5(013) translation grid (with a/2 along the [100] tilt axis), and starts
  that break the mirror symmetry (:func:`broken_symmetry`): the zero shift and the midpoints between the grid's
  points along the axis, every atom displaced randomly (0.05 Å rms, seeded), since a relaxation that starts
  mirror-symmetric, or on any other symmetric point of the grid, keeps that symmetry (symmetric forces) even
  where it is a saddle; the full tier adds those starts with one atom of grain B deleted next to each GB.
  Each start reports where it relaxed to (``relaxed_shift``).  ``tests/test_gb_broken_symmetry.py`` plants a
  broken-symmetry minimum (W_zhou plus a double well in the grains' shift along the axis) that the grid
  alone misses and checks that the search finds its shift and energy.
* **GBDB** (H. Zheng et al., Acta Mater. 186, 40 (2020), doi:10.1016/j.actamat.2019.12.030; registry
  ``gbdb/<El>.extxyz.gz``, every element it holds): the potential relaxes (atoms and the full cell) starting from each DFT-relaxed
  bicrystal, first scaled isotropically to the potential's volume per atom. Compared with the stored DFT
  ``gb_energy``.

Cases (:func:`cases`): the boundaries with a stored reference only -- the Table S1 set where the element has
its references (W; the aimsgb construction is bcc) and the element's GBDB records (every element GBDB holds: Al,
Be, Cu, Mo, Nb, Ni, Os, Re, Ta, W of revem's elements).  GB relaxations are the most expensive cases of the
harness and a GB without a DFT energy says little on its own, so an element without GB references gets no GB
case (C has none).  Each ``E_gb`` states an ``uncertainty``: the harmonic bound Σ F² / (2k) of the energy still
to gain from the residual forces of its relaxation (k ≥ 1 eV/Å², :func:`revem.atomistic.residual_energy`),
over the two GB areas.

Disclaimers: static 0 K relaxations; the translation grid is coarse in the standard tier, so a lower
minimum between grid points is missed unless a relaxation slides into it (the Σ5(013) symmetry case adds
perturbed starts, not a finer grid); the minimal CSL cell (one period along the tilt axis) holds no
reconstruction longer than that period, and besides the overlap deletion and the full tier's one atom per GB
the search never changes the number of atoms at the GB, as a full GB structure search would (Chen & Frolov,
arXiv:2501.15723, find "split kite" Σ5 phases that way). Bicrystal cells are small (grains about 8–20 Å thick), so the two GBs
of a cell interact; the GBDB cells keep the DFT cell sizes. Scheiber et al. used other DFT settings than
GBDB, so the two DFT sets disagree by up to about 0.1–0.4 J/m^2 for the same GB.
"""
from __future__ import annotations

import itertools
import warnings
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.filters import UnitCellFilter
from ase.optimize import BFGS

from ...data import read_frames
from .. import references
from ..plotting import finite as _finite
from ..plotting import reference_bars as _reference_bars
from ..protocol import Measurement, Protocol, merge_settings
from ..target import Target
from .common import EV_PER_A2_TO_J_PER_M2, ground_state, lattice_of, residual_energy, single_threaded

PROPERTY = "grain_boundaries"
PROTOCOL_VERSION = 3  # v2: E_gb states its residual-force uncertainty; Table S1 cases only for bcc elements;
# v3: the Σ5(013) broken-symmetry search adds perturbed starts off the symmetric points
UNIT = "J/m^2"
UNCERTAINTY_COVERS = "residual forces after the relaxation (harmonic bound, k ≥ 1 eV/Å²), over the two GB areas"

# name: aimsgb axis, sigma, plane (aimsgb's spelling of the seed's plane), grains' thickness in CSL cells,
# standard-tier translation grid (points along in-plane cell vectors a, b; the full tier uses 3x as many)
TABLE_S1 = {
    "S3_112_tilt": {"axis": (1, -1, 0), "sigma": 3, "plane": (1, 1, -2), "uc": 2, "grid": (2, 2)},
    "S3_110_twist": {"axis": (1, -1, 0), "sigma": 3, "plane": (1, -1, 0), "uc": 3, "grid": (2, 2)},
    "S3_111_tilt": {"axis": (1, -1, 0), "sigma": 3, "plane": (-1, -1, -1), "uc": 2, "grid": (2, 2)},
    "S5_013_tilt": {"axis": (1, 0, 0), "sigma": 5, "plane": (0, 1, 3), "uc": 1, "grid": (2, 4)},  # b = [100] axis
    "S5_001_twist": {"axis": (1, 0, 0), "sigma": 5, "plane": (1, 0, 0), "uc": 3, "grid": (2, 1)},
}
DEFAULTS = {"grid_scale": 1, "uc_scale": 1, "fmax_eV_per_A": 1e-2, "max_steps": 400, "min_distance_A": 1.5,
            "gbdb_max_atoms": 80, "break_rms_A": 0.05, "break_seed": 0, "delete_near_plane": 0}
TIER_SETTINGS = {
    # smoke: one Table S1 GB at zero shift and the smallest GBDB cell
    "smoke": {"table": ("S3_112_tilt",), "grid_scale": 0, "gbdb_max_atoms": 24, "broken_symmetry": False},
    "standard": {"table": tuple(TABLE_S1), "grid_scale": 1, "gbdb_max_atoms": 80, "broken_symmetry": True},
    "full": {"table": tuple(TABLE_S1), "grid_scale": 3, "uc_scale": 2, "fmax_eV_per_A": 1e-3,
             "max_steps": 2000, "gbdb_max_atoms": 100000, "broken_symmetry": True, "delete_near_plane": 1},
}


def settings(tier: str) -> dict:
    return merge_settings(DEFAULTS, TIER_SETTINGS, tier)


def gbdb_cases(element: str, max_atoms: int = 10**9) -> list[str]:
    """GBDB case names stored in the references (``gbdb_S<sigma>_<type>_<plane>``), smallest cells first."""
    refs = [r for r in references.load(element, PROPERTY) if r.case.startswith("gbdb_") and r.quantity == "E_gb"]
    refs = sorted(refs, key=lambda r: (r.extra.get("n_atoms", 0), r.case))
    return [r.case for r in refs if r.extra.get("n_atoms", 0) <= max_atoms]


def cases(element: str, tier: str) -> list[str]:
    """The Table S1 boundaries (bcc elements, built with aimsgb) where the element has their reference (W:
    Scheiber et al.), then the element's GBDB records, smallest cells first (any lattice: the cells come from
    DFT).  No reference, no case (see the module docstring)."""
    s = settings(tier)
    out = []
    if lattice_of(element) == "bcc":
        out = [c for c in s["table"] if references.has(element, PROPERTY, c)]
        if s["broken_symmetry"] and references.has(element, PROPERTY, "S5_013_broken_symmetry"):
            out.append("S5_013_broken_symmetry")
    return out + gbdb_cases(element, s["gbdb_max_atoms"])


# ---------------------------------------------------------------------------------------------- pure helpers
def gb_area(cell) -> float:
    """Area (Å^2) of the GB plane spanned by cell vectors a and b (the GB normal is along c)."""
    cell = np.asarray(cell, float)
    return float(np.linalg.norm(np.cross(cell[0], cell[1])))


def gb_energy(e_cell: float, n_atoms: int, e_bulk: float, area: float, n_gb: int = 2) -> float:
    """E_gb (J/m^2) from the cell energy (eV), atom count, bulk energy (eV/atom) and GB area (Å^2)."""
    return (e_cell - n_atoms * e_bulk) / (n_gb * area) * EV_PER_A2_TO_J_PER_M2


def shift_grid(n1: int, n2: int) -> list[tuple[float, float]]:
    """Fractional in-plane shifts (i/n1, j/n2) of grain B."""
    return [(i / n1, j / n2) for i, j in itertools.product(range(n1), range(n2))]


def to_ase_oriented(grain, direction: int) -> Atoms:
    """A pymatgen/aimsgb grain as ASE atoms with the stacking direction moved to c (cyclic, proper rotation)."""
    order = [(direction + 1) % 3, (direction + 2) % 3, direction]
    cell = np.asarray(grain.lattice.matrix)[order][:, order]
    pos = np.asarray(grain.cart_coords)[:, order]
    return Atoms([str(s.specie) for s in grain], positions=pos, cell=cell, pbc=True)


def aimsgb_grains(element: str, a: float, axis, sigma: int, plane, uc: int) -> tuple[Atoms, Atoms]:
    """Grains A and B of an aimsgb CSL bicrystal (bcc, lattice constant ``a`` Å), GB normal along c."""
    from aimsgb import Grain, GrainBoundary
    from pymatgen.core import Lattice, Structure

    bcc = Grain.from_dict(Structure(Lattice.cubic(a), [element] * 2, [[0, 0, 0], [0.5, 0.5, 0.5]]).as_dict())
    gb = GrainBoundary(list(axis), sigma, list(plane), bcc, uc_a=uc, uc_b=uc)
    return to_ase_oriented(gb.grain_a, gb.direction), to_ase_oriented(gb.grain_b, gb.direction)


def stack(grain_a: Atoms, grain_b: Atoms, shift_frac=(0.0, 0.0), min_distance_A: float = 1.5) -> Atoms:
    """Periodic bicrystal: B on top of A, B shifted in-plane by ``shift_frac`` of a and b.

    Atoms of B closer than ``min_distance_A`` (Å) to any atom are deleted. Per-atom array ``grain``: 0 (A), 1 (B).
    """
    ca, cb = grain_a.cell.array, grain_b.cell.array
    if not np.allclose(ca[:2], cb[:2], atol=1e-6):
        raise ValueError("grains A and B have different in-plane cells")
    t = shift_frac[0] * ca[0] + shift_frac[1] * ca[1]
    cell = np.array([ca[0], ca[1], ca[2] + cb[2]])
    pos = np.vstack([grain_a.positions, grain_b.positions + ca[2] + t])
    at = Atoms(list(grain_a.symbols) + list(grain_b.symbols), positions=pos, cell=cell, pbc=True)
    at.set_array("grain", np.array([0] * len(grain_a) + [1] * len(grain_b)))
    at.wrap()
    d = at.get_all_distances(mic=True)
    np.fill_diagonal(d, np.inf)
    drop = []
    for i in range(len(grain_a), len(at)):  # greedy: drop a B atom if it is too close to a kept atom
        if i in drop:
            continue
        close = [j for j in np.nonzero(d[i] < min_distance_A)[0] if j not in drop]
        if close:
            drop.append(i)
    if drop:
        del at[drop]
    return at


def axis_shift_fraction(grain_a: Atoms, axis, a: float) -> tuple[float, float]:
    """The in-plane fractional shift equal to a/2·axis/|axis| · |axis|, i.e. half the tilt-axis period.

    Returns (½, 0) or (0, ½): which in-plane cell vector is the tilt axis (its length is a·|axis|).
    """
    period = a * float(np.linalg.norm(axis))
    lengths = grain_a.cell.lengths()[:2]
    k = int(np.argmin(np.abs(lengths - period)))
    if abs(lengths[k] - period) > 1e-3 * period:
        raise ValueError(f"no in-plane cell vector of length {period:.4f} Å (the tilt axis period)")
    return (0.5, 0.0) if k == 0 else (0.0, 0.5)


# ------------------------------------------------------------------------------------------------ relaxation
@single_threaded
def relax_gb(atoms: Atoms, calc, fmax: float, steps: int, cell_mask=(0, 0, 1, 0, 0, 0)) -> bool:
    """Relax atoms and the cell components in ``cell_mask`` (Voigt: xx yy zz yz xz xy) with BFGS."""
    atoms.calc = calc
    filt = UnitCellFilter(atoms, mask=list(cell_mask))
    opt = BFGS(filt, logfile=None)
    return bool(opt.run(fmax=fmax, steps=steps))


def _uncertainty(atoms) -> float:
    """E_gb uncertainty (J/m^2) of a relaxed bicrystal: :func:`residual_energy` over its two GB areas."""
    return residual_energy(atoms) / (2 * gb_area(atoms.cell)) * EV_PER_A2_TO_J_PER_M2


def relaxed_shift(atoms: Atoms, start_positions, shift) -> list[float]:
    """In-plane shift of grain B relative to grain A after a relaxation (fractions of cell vectors a, b): the
    start's rigid ``shift`` plus the mean displacement of B's atoms minus that of A's."""
    g = atoms.arrays["grain"]
    d = atoms.positions - np.asarray(start_positions)
    rel = d[g == 1].mean(axis=0) - d[g == 0].mean(axis=0)
    frac = np.linalg.solve(atoms.cell.array.T, rel)
    return [round(float(shift[0] + frac[0]), 5), round(float(shift[1] + frac[1]), 5)]


def delete_near_planes(atoms: Atoms, n: int) -> Atoms:
    """Delete the ``n`` atoms of grain B nearest to each of the cell's two GB planes (``2n`` atoms in all)."""
    if n <= 0:
        return atoms
    cell = atoms.cell.array
    normal = np.cross(cell[0], cell[1])
    h = atoms.positions @ (normal / np.linalg.norm(normal))
    b = np.nonzero(atoms.arrays["grain"] == 1)[0]
    order = b[np.argsort(h[b])]  # B's atoms from the A|B boundary (low h) to the B|A boundary (high h)
    del atoms[sorted(set(order[:n]) | set(order[-n:]))]
    return atoms


def perturb(atoms: Atoms, rms_A: float, seed) -> Atoms:
    """Displace every atom by a seeded Gaussian vector of rms length ``rms_A`` (Å): breaks every symmetry
    of the start, so that a relaxation can leave a symmetric saddle point."""
    if rms_A > 0:
        rng = np.random.default_rng(seed)
        atoms.positions += rng.standard_normal(atoms.positions.shape) * rms_A / np.sqrt(3)
    return atoms


def table_scan(target, element: str, name: str, shifts, uc_scale: int = 1, fmax: float = 1e-2, steps: int = 400,
               min_distance: float = 1.5, perturb_A: float = 0.0, seed: int = 0, delete: int = 0,
               start: str = "grid") -> dict:
    """E_gb (J/m^2) of the Table S1 boundary ``name`` for each rigid shift in ``shifts`` (relaxed: atoms and the
    cell length normal to the GB) at the target's relaxed bcc a0; the minimum, its shift and its uncertainty.

    ``perturb_A`` > 0 displaces the atoms of each start randomly (:func:`perturb`, seed ``(seed, i)``) and
    ``delete`` removes that many atoms of grain B near each GB (:func:`delete_near_planes`); each row holds its
    start shift, its ``relaxed_shift`` and ``start`` (a label of how the start was made)."""
    t = Target.of(target)
    gs = ground_state(t, element, "bcc")
    spec = TABLE_S1[name]
    ga, gb = aimsgb_grains(element, gs["a0"], spec["axis"], spec["sigma"], spec["plane"], spec["uc"] * uc_scale)
    calc = t.calculator()
    rows, unconverged = [], []
    for i, sh in enumerate(shifts):
        at = perturb(delete_near_planes(stack(ga, gb, sh, min_distance), delete), perturb_A, (seed, i))
        p0 = at.positions.copy()
        ok = relax_gb(at, calc, fmax, steps)
        if not ok:
            unconverged.append(sh)
        rows.append({"shift": list(sh), "E_gb": float(gb_energy(at.get_potential_energy(), len(at), gs["e0"],
                                                              gb_area(at.cell))), "n_atoms": len(at),
                     "converged": ok, "uncertainty": _uncertainty(at), "relaxed_shift": relaxed_shift(at, p0, sh),
                     "start": start})
    if unconverged:
        warnings.warn(f"{name}: relaxation did not reach fmax={fmax} eV/Å for shifts {unconverged}")
    best = min(rows, key=lambda r: r["E_gb"])
    return {"E_gb": best["E_gb"], "best_shift": best["shift"], "uncertainty": best["uncertainty"],
            "converged": best["converged"], "scan": rows, "a0_A": gs["a0"]}


def tier_grid(name: str, tier: str) -> tuple[int, int]:
    """Points of the translation grid of ``name`` along the in-plane cell vectors a, b in ``tier``."""
    k = settings(tier)["grid_scale"]
    n1, n2 = TABLE_S1[name]["grid"]
    return max(1, k * n1), max(1, k * n2)


def tier_shifts(name: str, tier: str) -> tuple:
    """The translation grid of ``name`` in ``tier`` (smoke: zero shift only)."""
    return tuple(shift_grid(*tier_grid(name, tier)))


def table_gb(target, element: str, name: str, tier: str = "standard") -> dict:
    """E_gb (J/m^2) of a Table S1 GB: the minimum over the tier's translation grid (``scan`` holds all); cached
    in the target's session (the Σ5(013) symmetry case reuses the Σ5(013) scan)."""
    t = Target.of(target)
    s = settings(tier)
    args = (tier_shifts(name, tier), s["uc_scale"], s["fmax_eV_per_A"], s["max_steps"], s["min_distance_A"])
    return t.memo(PROPERTY, "table", element, name, *args, PROTOCOL_VERSION,
                  compute=lambda: table_scan(t, element, name, *args))


def breaking_starts(grid: tuple[int, int], axis_k: int) -> tuple:
    """Starts off the grid's symmetric points: the zero shift, and the midpoints between the grid's points along
    the tilt axis (in-plane cell vector ``axis_k``); :func:`broken_symmetry` perturbs them all."""
    n = grid[axis_k]
    mids = [(i + 0.5) / n for i in range(n)]
    return ((0.0, 0.0),) + tuple((0.0, f) if axis_k == 1 else (f, 0.0) for f in mids)


def broken_symmetry(target, element: str, tier: str = "standard") -> dict:
    """Σ5(013): dE_broken = E_gb(zero shift: mirror-symmetric) − min over every start, J/m^2 (positive: broken wins).

    Starts: the tier's translation grid of the Σ5(013) E_gb case (it holds the unperturbed zero shift, the
    mirror-symmetric reference ``E_mirror``, and a/2 along the [100] tilt axis, ``E_half_axis``); then
    :func:`breaking_starts` (zero shift and midpoints along the axis), every atom displaced randomly by
    ``break_rms_A`` rms, since a start that keeps a mirror symmetry keeps it in the relaxation whatever the
    energy on either side; the full tier repeats those with ``delete_near_plane`` atoms of grain B deleted
    next to each GB.  ``best_relaxed_shift`` is where the lowest start ended (:func:`relaxed_shift`).
    """
    t = Target.of(target)
    s = settings(tier)
    name = "S5_013_tilt"
    r = table_gb(t, element, name, tier)
    spec = TABLE_S1[name]
    ga, _ = aimsgb_grains(element, r["a0_A"], spec["axis"], spec["sigma"], spec["plane"], 1)
    half = axis_shift_fraction(ga, spec["axis"], r["a0_A"])
    starts = breaking_starts(tier_grid(name, tier), 1 if half[1] else 0)
    common = (s["uc_scale"], s["fmax_eV_per_A"], s["max_steps"], s["min_distance_A"], s["break_rms_A"],
              s["break_seed"])
    n_cut = s["delete_near_plane"]
    variants = [(0, "perturbed")] + ([(n_cut, f"perturbed, {n_cut} atom(s) deleted per GB")] if n_cut else [])
    rows = list(r["scan"])
    for n_del, label in variants:
        rows += t.memo(PROPERTY, "broken", element, name, starts, *common, n_del, PROTOCOL_VERSION,
                       compute=lambda n_del=n_del, label=label: table_scan(
                           t, element, name, starts, *common, delete=n_del, start=label))["scan"]
    grid = {tuple(row["shift"]): row for row in r["scan"]}
    mirror = grid[(0.0, 0.0)]
    best = min(rows, key=lambda row: row["E_gb"])
    searched = {"grid": list(tier_grid(name, tier)), "grid_shifts": len(r["scan"]),
                "breaking_starts": [list(x) for x in starts], "perturbation_rms_A": s["break_rms_A"],
                "seed": s["break_seed"], "deleted_per_gb": s["delete_near_plane"], "relaxations": len(rows),
                "relaxation": {"fmax_eV_per_A": s["fmax_eV_per_A"], "max_steps": s["max_steps"], "optimizer": "BFGS",
                               "cell_dof": "atoms + cell length normal to the GB (UnitCellFilter zz)",
                               "uc": spec["uc"] * s["uc_scale"]}}
    return {"dE_broken": mirror["E_gb"] - best["E_gb"], "E_mirror": mirror["E_gb"], "E_min": best["E_gb"],
            "best_shift": best["shift"], "best_relaxed_shift": best["relaxed_shift"], "best_start": best["start"],
            "best_n_atoms": best["n_atoms"], "mirror_relaxed_shift": mirror["relaxed_shift"],
            "E_half_axis": grid[half]["E_gb"] if half in grid else None, "half_axis_shift": list(half),
            "scan": rows, "searched": searched,
            "uncertainty": float(np.hypot(mirror["uncertainty"], best["uncertainty"])),
            "converged": bool(mirror["converged"] and best["converged"])}


def gbdb_relax(dft_final: Atoms, target, gs: dict, fmax: float = 1e-2, steps: int = 400) -> dict:
    """Relax a DFT-relaxed GBDB bicrystal with ``target``; E_gb (J/m^2) with two GBs per cell.

    The cell is first scaled isotropically to the target's bulk volume per atom ``gs['volume']``
    (the slight GB excess volume is then relaxed with the cell).
    """
    at = Atoms(dft_final.get_chemical_symbols(), positions=dft_final.positions, cell=dft_final.cell, pbc=True)
    scale = (gs["volume"] * len(at) / at.get_volume()) ** (1 / 3)
    at.set_cell(at.cell.array * scale, scale_atoms=True)
    ok = relax_gb(at, Target.of(target).calculator(), fmax, steps, cell_mask=(1, 1, 1, 1, 1, 1))
    if not ok:
        warnings.warn(f"GBDB {dft_final.info.get('source_id')}: relaxation did not reach fmax={fmax} eV/Å")
    return {"E_gb": gb_energy(at.get_potential_energy(), len(at), gs["e0"], gb_area(at.cell)), "n_atoms": len(at),
            "converged": ok, "area_A2": gb_area(at.cell), "uncertainty": _uncertainty(at)}


def gbdb_gb(target, element: str, source_id: str, tier: str = "standard") -> dict:
    """:func:`gbdb_relax` of the GBDB record ``source_id`` (its final, DFT-relaxed structure)."""
    t = Target.of(target)
    s = settings(tier)
    frames = [f for f in read_frames(f"gbdb/{element}.extxyz.gz")
              if f.info.get("source_id") == source_id and f.info.get("structure_kind") == "final"]
    if not frames:
        raise KeyError(f"GBDB record {source_id} has no final structure")
    return gbdb_relax(frames[0], t, ground_state(t, element, "ground"), s["fmax_eV_per_A"], s["max_steps"])


def compute(target, element: str, case: str, tier: str = "standard") -> dict:
    """Numbers of ``case`` in J/m^2 (``E_gb``, or ``dE_broken`` for the Σ5(013) symmetry case) with their
    ``uncertainty`` and ``converged``; cached in the target's session.  A GBDB case reads its record id
    (``source_id``) from its stored reference."""
    t = Target.of(target)
    return t.memo(PROPERTY, element, case, tier, PROTOCOL_VERSION, compute=lambda: _compute(t, element, case, tier))


def _compute(t: Target, element: str, case: str, tier: str) -> dict:
    if case in TABLE_S1:
        return table_gb(t, element, case, tier)
    if case == "S5_013_broken_symmetry":
        return broken_symmetry(t, element, tier)
    if case.startswith("gbdb_"):
        refs = references.find(element, PROPERTY, case, "E_gb")
        if not refs or "source_id" not in refs[0].extra:
            raise ValueError(f"GBDB case {case} of {element}: its reference (with the record's source_id) is not stored")
        return gbdb_gb(t, element, refs[0].extra["source_id"], tier)
    raise ValueError(f"unknown grain-boundary case '{case}'")


# ---------------------------------------------------------------------------------------------------- plot


def plot(records: list[dict], outdir: Path) -> list[Path]:
    """E_gb of the potential (red) vs the DFT references (black), grey band ± tolerance (bar chart)."""
    import matplotlib.pyplot as plt

    rows = [r for r in records
            if r.get("quantity") == "E_gb" and (_finite(r.get("value")) or _finite(r.get("reference")))]
    if not rows:
        return []
    labels, pot, ref = [], [], []
    for r in rows:
        labels.append(r["case"] + ("" if r["case"].startswith("gbdb_") else " (Scheiber)"))
        pot.append(r.get("value"))
        # one DFT reference per boundary: the case name says whose (GBDB or Scheiber et al.)
        ref.append([("DFT", r["reference"], r.get("tolerance"))] if _finite(r.get("reference")) else [])
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(rows) + 2), 4))
    x = _reference_bars(ax, labels, pot, ref, rows[0].get("potential", "potential"))
    ax.set_xticks(x, labels, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("E_gb (J/m²)")
    fig.tight_layout()
    path = Path(outdir) / "grain_boundaries.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]


class GrainBoundariesProtocol(Protocol):
    """Grain-boundary energies (Table S1 CSL boundaries, GBDB bicrystals) and the Σ5(013) broken symmetry."""

    name, version, defaults, tier_settings = PROPERTY, PROTOCOL_VERSION, DEFAULTS, TIER_SETTINGS

    def cases(self, element, tier):
        return cases(element, tier)

    def required_data(self, element, case):
        return [f"gbdb/{element}.extxyz.gz"] if case.startswith("gbdb_") else []

    def measure(self, target, element, case, tier):
        res = compute(target, element, case, tier)

        def m(q, note, **kw):
            return Measurement(q, res[q], UNIT, note=note, policy=references.policy(element, PROPERTY, case, q),
                               converged=res["converged"],
                               uncertainty=res["uncertainty"], uncertainty_covers=UNCERTAINTY_COVERS, **kw)

        if case.startswith("gbdb_"):
            return [m("E_gb", "relaxed (atoms + cell) from the DFT-relaxed GBDB bicrystal, two GBs per cell")]
        if case == "S5_013_broken_symmetry":
            half, sr = res["E_half_axis"], res["searched"]
            note = (f"E_mirror {res['E_mirror']:.4f} J/m^2, best {res['E_min']:.4f} J/m^2 ({res['best_n_atoms']} atoms, "
                    f"start {res['best_start']} at shift {res['best_shift']}, relaxed to {res['best_relaxed_shift']}); "
                    f"a/2 along [100]: {half if half is None else round(half, 4)} J/m^2; searched: {sr['relaxations']} "
                    f"relaxations, the {sr['grid'][0]}x{sr['grid'][1]} rigid-shift grid and "
                    f"{len(sr['breaking_starts'])} starts (zero shift, axis midpoints) perturbed by "
                    f"{sr['perturbation_rms_A']} Å rms" + (f", also with {sr['deleted_per_gb']} atom(s) deleted per GB"
                                                           if sr["deleted_per_gb"] else "")
                    + f"; BFGS to {sr['relaxation']['fmax_eV_per_A']} eV/Å, atoms + cell length normal to the GB")
            return [m("dE_broken", note, data={"scan": res["scan"], "searched": sr,
                                               "best_relaxed_shift": res["best_relaxed_shift"],
                                               "mirror_relaxed_shift": res["mirror_relaxed_shift"]})]
        return [m("E_gb", f"aimsgb bicrystal, min over {len(res['scan'])} rigid shifts (best {res['best_shift']})",
                  data={"scan": res["scan"]})]


PROTOCOL = GrainBoundariesProtocol()
