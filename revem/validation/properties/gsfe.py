"""Generalized stacking fault energies γ(u): bcc (110)[111] and (112)[111], fcc (111), hcp (0001).

A rigid-shift fault: the crystal above a plane displaced rigidly by ``f·b``; ``γ(f) = (E(f) − E(0)) / A``
(mJ/m^2), with ``E(0)`` the unshifted cell of the same series (V. Vitek, Philos. Mag. 18, 773 (1968),
doi:10.1080/14786436808227500).  Two cell types:

* *tilted periodic cells* (no surface): a column of bulk crystal whose stacking vector is tilted by
  ``f·b`` so the periodic image above the cell boundary is displaced (the GAP-W cells: W. J. Szlachta,
  A. P. Bartók, G. Csányi, Phys. Rev. B 90, 104108 (2014), doi:10.1103/PhysRevB.90.104108);
* *vacuum slabs* (FitSNAP Ta, A. P. Thompson et al., J. Comput. Phys. 285, 316 (2015),
  doi:10.1016/j.jcp.2014.12.018): the upper half of a slab is translated by ``f·b`` inside an
  orthogonal cell; ``E(0)`` is the unshifted slab of the same variant, so the surfaces cancel.

The protocol is element-aware.  Cases on DFT cells run only for elements whose own DFT cells and
references exist (``DFT_SETS``; W: GAP-W rigid-shift cells, Ta: FitSNAP GSF slabs).  Cases on the
potential's own cells at its own lattice constant are built for the element's lattice (bcc: the two
planes above; fcc: (111) along the partial direction [11-2] and the full [1-10] line; hcp: basal (0001)
along [1-100] and [11-20]); for every element but W they are collected only where a reference exists
(``REVEM_REFERENCE_DIR`` may add one).  W keeps its reported own-cell cases (the paper's case study).

W (``fitsnap-WBe/W/gamma_surface_rigid.extxyz.gz``; 12-atom cells at the DFT a = 3.1805 Å):

* ``<plane>_unrelaxed``: the potential on the very DFT cells; ``E(0)`` is the potential's energy of the
  same cell with the tilt removed, so no energy zero is shared with DFT. Quantities: ``gamma_us_sampled``
  (largest γ among the DFT-sampled shifts, against the same DFT number), ``rmse`` against the DFT points.
* ``<plane>_gamma_us``: ``gamma_us``, the maximum of the dense unrelaxed γ line on the potential's own
  cells at its own a0 (``dense_points`` samples, then a bounded maximisation, to 1e-6 b); reported.
* ``110_symmetry``: ``max_asymmetry`` = max |γ(1−f) − γ(f)| on the DFT cells ((110)[111] is symmetric).
* ``112_asymmetry``: ``asymmetry`` = mean over the DFT pairs f < 0.5 of γ(1−f) − γ(f), f counted in the
  twinning sense, i.e. antitwinning minus twinning (W DFT +189 mJ/m^2).
* ``<plane>_relaxed`` (standard/full tiers): own tilted cells at a0, atoms relaxed only perpendicular
  to the fault plane (``ase.constraints.FixCartesian``); reported.

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

fcc / hcp own-cell cases (``111_partial``, ``111_full``, ``0001_partial``, ``0001_full``; only with a
reference): unrelaxed line at the potential's own ground state; ``gamma_us`` (maximum on the way from
f = 0 to the intrinsic fault for the partial lines, the line maximum for the full ones) and, for the
partial lines, ``gamma_isf`` (the stacking fault at f = 1/3 of the line's period, fcc ISF / hcp I2).

Seed 000 (Subramanyam & Perez), Fig. 8 shows the (110) and (112) γ lines of W (DFT and ACE).

Disclaimers: the DFT-cell cases probe the potential at the DFT lattice constant; ``gamma_us_sampled``
is the largest *sampled* value (the W (110) series samples f = 0.2, 0.4, …, 7–9 % below the true
maximum). Relaxed lines relax only normal displacements (the standard γ-line protocol) and are
static (0 K).  fcc/hcp own-cell lines are unrelaxed (the relaxed ISF is lower).
"""
from __future__ import annotations

import warnings
from itertools import pairwise
from pathlib import Path

import numpy as np
from ase.constraints import FixCartesian
from ase.lattice.cubic import BodyCenteredCubic
from ase.optimize import BFGS

from ..coverage import recorded_cache
from ..plotting import finite as _finite
from ..plotting import scored as _scored
from ..protocol import Measurement, Protocol, merge_settings
from .common import (
    EV_PER_A2_TO_MJ_PER_M2,
    calculator_factory,
    ground_state,
    relax_positions,
)

PROPERTY = "gsfe"
PROTOCOL_VERSION = 2  # 2: gamma_us is the dense-line maximum at the potential's own a0; gamma_us_sampled
DATA = "fitsnap-WBe/W/gamma_surface_rigid.extxyz.gz"
DFT_LATTICE_A = 3.1805  # Å, lattice constant of the GAP-W rigid-shift cells (their info key lattice_a)
UNIT = "mJ/m^2"

# Cartesian axes x (fault normal), y, z of the tilted cells (same labelling as the GAP-W cells) and b
PLANES = {
    "110": {"directions": ((1, 1, 0), (-1, 1, 0), (0, 0, 1)), "b": (-1, 1, 1), "label": "(110)"},
    "112": {"directions": ((1, 1, 2), (-1, -1, 1), (1, -1, 0)), "b": (-1, -1, 1), "label": "(112)"},
}
DEFAULTS = {"dense_points": 21, "relaxed_points": 11, "relaxed_height_A": 20.0, "fmax_eV_per_A": 2e-3,
            "max_steps": 500}
TIER_SETTINGS = {
    "smoke": {"relaxed": False},
    "standard": {"relaxed": True, "relaxed_points": 11, "relaxed_height_A": 20.0, "fmax_eV_per_A": 2e-3},
    "full": {"relaxed": True, "dense_points": 41, "relaxed_points": 41, "relaxed_height_A": 40.0, "fmax_eV_per_A": 1e-4},
}


def settings(tier: str) -> dict:
    return merge_settings(DEFAULTS, TIER_SETTINGS, tier)


#: DFT γ-line cells per element: registry file per plane and how its frames are laid out
DFT_SETS = {
    "W": {"kind": "tilted", "files": {"110": DATA, "112": DATA},
          "label": "GAP-W DFT rigid-shift cells (Szlachta et al., PRB 90, 104108 (2014))"},
    "Ta": {"kind": "slab", "files": {"110": "fitsnap-Ta/Ta/GSF_110.extxyz.gz", "112": "fitsnap-Ta/Ta/GSF_112.extxyz.gz"},
           "label": "FitSNAP Ta DFT GSF slabs (Thompson et al., J. Comput. Phys. 285, 316 (2015))"},
}
#: own-cell lines per lattice: plane -> line name -> (case) ; the bcc ones are the PLANES above
OWN_CELL_CASES = {"fcc": ("111_partial", "111_full"), "hcp": ("0001_partial", "0001_full")}
#: reported cases (no reference) kept for W, the paper's case study with a committed CI baseline; for
#: every other element a case without a reference is not collected (issue 11)
REPORTED_CASES = {"W": ("110_gamma_us", "112_gamma_us", "110_relaxed", "112_relaxed")}


def candidate_cases(element: str, tier: str) -> list[str]:
    """Every case the protocol can run for ``element`` (its lattice, its DFT cells), before the
    reference filter of :func:`cases`."""
    from .common import lattice_of

    lat = lattice_of(element)
    out = []
    if lat == "bcc":
        out += ["110_gamma_us", "112_gamma_us"]
        if element in DFT_SETS:
            out += ["110_unrelaxed", "112_unrelaxed", "110_symmetry", "112_asymmetry"]
            if DFT_SETS[element]["kind"] == "slab":
                out += ["110_relaxed_slab", "112_relaxed_slab"]
        if settings(tier)["relaxed"]:
            out += ["110_relaxed", "112_relaxed"]
    elif lat in OWN_CELL_CASES:
        out += list(OWN_CELL_CASES[lat])
    return out


def cases(element: str, tier: str) -> list[str]:
    """The cases collected: those with a stored reference for ``element`` (and, for W, its reported
    own-cell cases).  W's list is unchanged: gamma_us, DFT-cell cases, relaxed in higher tiers."""
    from ..references import load

    have = {r.case for r in load(element, PROPERTY)}
    keep = set(REPORTED_CASES.get(element, ()))
    return [c for c in candidate_cases(element, tier) if c in have or c in keep]


def dft_file(element: str, plane: str) -> str:
    """Registry name of ``element``'s DFT γ-line cells of ``plane`` (ValueError if none)."""
    try:
        return DFT_SETS[element]["files"][plane]
    except KeyError:
        raise ValueError(f"gsfe: no DFT γ-line cells of {element} ({plane}) are known; known: "
                         f"{', '.join(sorted(DFT_SETS))}") from None


# ---------------------------------------------------------------------------------------------- pure helpers
def rotation(plane: str) -> np.ndarray:
    """Rows: unit vectors of the cell axes x (normal), y, z in cubic coordinates."""
    d = np.array(PLANES[plane]["directions"], float)
    return d / np.linalg.norm(d, axis=1)[:, None]


def burgers_cartesian(plane: str, a: float) -> np.ndarray:
    """b = a/2<111> of ``plane`` in the Cartesian frame of the tilted cells (Å)."""
    return rotation(plane) @ (0.5 * a * np.array(PLANES[plane]["b"], float))


def fault_area(cell: np.ndarray, stack: int = 0) -> float:
    """Area (Å^2) spanned by the two cell vectors other than ``stack``."""
    i, j = [k for k in range(3) if k != stack]
    return float(np.linalg.norm(np.cross(cell[i], cell[j])))


def untilted(atoms, shift, stack: int = 0):
    """The f = 0 cell of a rigid-shift cell: the tilt ``shift`` (Å) removed, atoms unchanged."""
    ref = atoms.copy()
    ref.calc = None
    cell = ref.cell.array.copy()
    cell[stack] = cell[stack] - np.asarray(shift, float)
    ref.set_cell(cell, scale_atoms=False)
    return ref


def shift_matches(shift, f: float, b: np.ndarray, cell0: np.ndarray, stack: int = 0, tol: float = 1e-3) -> bool:
    """Whether ``shift`` equals f·b modulo the in-plane box vectors of ``cell0`` and b itself (Å)."""
    i, j = [k for k in range(3) if k != stack]
    basis = np.array([cell0[i], cell0[j]]).T
    for n in range(-3, 4):  # b is a lattice translation, but not always one of the box
        d = np.asarray(shift, float) - (f + n) * np.asarray(b, float)
        c, *_ = np.linalg.lstsq(basis, d, rcond=None)
        if np.allclose(basis @ np.round(c), d, atol=tol):
            return True
    return False


def tilted(atoms0, f: float, b: np.ndarray, stack: int = 0):
    """A copy of the f = 0 cell with its stacking vector tilted by f·b."""
    at = atoms0.copy()
    cell = at.cell.array.copy()
    cell[stack] = cell[stack] + f * np.asarray(b, float)
    at.set_cell(cell, scale_atoms=False)
    return at


def gamma_us(fractions, gammas) -> float:
    """The largest γ of a sampled line (its unstable stacking fault energy at the sampled resolution)."""
    return float(np.max(gammas))


def asymmetry_pairs(fractions, gammas, tol: float = 1e-6):
    """Pairs (f, γ(f), γ(1−f)) for 0 < f < 0.5 present in the samples (means of duplicates)."""
    fr, g = np.asarray(fractions, float) % 1.0, np.asarray(gammas, float)
    out = []
    for f in sorted({round(x, 6) for x in fr if tol < x < 0.5 - tol}):
        lo, hi = g[np.abs(fr - f) < tol], g[np.abs(fr - (1 - f)) < tol]
        if len(lo) and len(hi):
            out.append((f, float(lo.mean()), float(hi.mean())))
    return out


def mean_asymmetry(fractions, gammas) -> float:
    """Mean over sampled pairs of γ(1−f) − γ(f), f < 0.5 (for (112): antitwinning − twinning)."""
    p = asymmetry_pairs(fractions, gammas)
    return float(np.mean([h - l for _, l, h in p])) if p else float("nan")


def max_asymmetry(fractions, gammas) -> float:
    p = asymmetry_pairs(fractions, gammas)
    return float(max(abs(h - l) for _, l, h in p)) if p else float("nan")


def dft_series(frames, plane: str) -> list[dict]:
    """The [111] line of ``plane`` in the GAP-W rigid-shift frames: f, atoms, DFT γ (mJ/m^2), f = 0 cell."""
    label = PLANES[plane]["label"]
    out = []
    for at in frames:
        info = at.info
        if info.get("gsf_plane") != label or "gsf_b_fraction" not in info:
            continue
        stack = int(info.get("gsf_stack_vector", 0))
        a = float(info.get("lattice_a", DFT_LATTICE_A))
        ref = untilted(at, info["gsf_shift"], stack)
        f = float(info["gsf_b_fraction"])
        if not shift_matches(info["gsf_shift"], f, burgers_cartesian(plane, a), ref.cell.array, stack):
            raise ValueError(f"{plane}: frame {info.get('source_id')} shift {info['gsf_shift']} is not f·b with f={f}")
        out.append({"f": f, "atoms": at, "untilted": ref, "stack": stack,
                    "gamma_dft": 1000.0 * float(info["gamma_unrelaxed_Jm2"]), "id": str(info.get("source_id"))})
    return sorted(out, key=lambda d: (d["f"], d["id"]))


# ------------------------------------------------------------------------------------ vacuum-slab series
#: the shift direction of the FitSNAP Ta slabs, in units of the two in-plane box vectors: b = half of it
SLAB_B_BOX = {"110": (0.5, 0.5), "112": (0.5, 0.0)}
#: in-plane box of the slabs in units of a: (110) [1-10] x [001], (112) [111] x [1-10]
SLAB_BOX_A = {"110": (np.sqrt(2.0), 1.0), "112": (np.sqrt(3.0), np.sqrt(2.0))}


def slab_label(source_id: str) -> tuple[str, float]:
    """(variant, s) from a FitSNAP GSF ``source_id`` such as ``GSF_112_relax_0.35.json``."""
    stem = str(source_id).rsplit(".json", 1)[0]
    parts = stem.split("_")
    return parts[-2], float(parts[-1])


def inplane_wrap(d, cell, normal: int) -> np.ndarray:
    """In-plane displacement(s) ``d`` (Å) reduced to the minimum image of the two in-plane box vectors."""
    i, j = [k for k in range(3) if k != normal]
    basis = np.array([cell[i], cell[j]]).T
    d = np.atleast_2d(np.asarray(d, float))
    c, *_ = np.linalg.lstsq(basis, d.T, rcond=None)
    return (d.T - basis @ np.round(c)).T


def upper_block(atoms0, atoms, normal: int, tol: float = 1e-3):
    """(mask of the atoms that moved in-plane, their common in-plane shift in Å, modulo the box).

    Checks the geometry of a rigid shift: every moved atom moved by the same vector, the moved atoms
    are exactly those above a plane (a block), and nothing moved along the normal (unrelaxed) or only
    along it (relaxed variants are compared after removing the normal component)."""
    d = atoms.positions - atoms0.positions
    d[:, normal] = 0.0
    w = inplane_wrap(d, atoms0.cell.array, normal)
    moved = np.linalg.norm(w, axis=1) > tol
    if not moved.any():
        return moved, np.zeros(3)
    t = w[moved][0]
    same = np.linalg.norm(inplane_wrap(w[moved] - t, atoms0.cell.array, normal), axis=1) < tol
    if not same.all():
        raise ValueError("the moved atoms do not share one shift vector: not a rigid-shift fault")
    h = atoms0.positions[:, normal]
    if h[moved].min() <= h[~moved].max():
        raise ValueError("the moved atoms are not the block above one plane")
    return moved, t


def slab_a(atoms, plane: str, normal: int = 2, tol: float = 2e-3) -> float:
    """Lattice constant (Å) of a (110)/(112) slab from its in-plane box (checks the box's aspect ratio)."""
    i, j = [k for k in range(3) if k != normal]
    li, lj = np.linalg.norm(atoms.cell[i]), np.linalg.norm(atoms.cell[j])
    ri, rj = SLAB_BOX_A[plane]
    if abs(li / ri - lj / rj) > tol * li / ri:
        raise ValueError(f"({plane}) slab box {li:.4f} x {lj:.4f} Å is not {ri:.4f}a x {rj:.4f}a")
    return float(li / ri)


def slab_burgers(atoms, plane: str, normal: int = 2) -> np.ndarray:
    """b = a/2<111> of the slab (Å, Cartesian): half the box diagonal (110) or half the [111] box edge
    (112); checked to have length a·sqrt(3)/2."""
    i, j = [k for k in range(3) if k != normal]
    fi, fj = SLAB_B_BOX[plane]
    b = fi * atoms.cell.array[i] + fj * atoms.cell.array[j]
    a = slab_a(atoms, plane, normal)
    if abs(np.linalg.norm(b) - a * np.sqrt(3) / 2) > 1e-3 * a:
        raise ValueError(f"({plane}) slab: |b| = {np.linalg.norm(b):.4f} Å is not a·sqrt(3)/2")
    return b


def layers(atoms, normal: int, tol: float = 0.3) -> list[np.ndarray]:
    """Indices of the atomic planes normal to axis ``normal`` (atoms within ``tol`` Å), bottom to top."""
    h = atoms.positions[:, normal]
    order = np.argsort(h)
    out, cur = [], [order[0]]
    for k in order[1:]:
        if h[k] - h[cur[-1]] > tol:
            out.append(np.array(cur))
            cur = []
        cur.append(k)
    out.append(np.array(cur))
    return out


def twinning_sign(atoms, normal: int, b) -> int:
    """+1 if a shift of the upper block along +b is the twinning sense of a bcc (112) fault, −1 if it
    is the antitwinning sense.

    Successive (112) planes going up the normal are offset by ±b/3 along b (modulo b); a shift of the
    upper block by the same +b/3 reverses the stacking across the fault, i.e. a mirror (twin)
    boundary.  So the twinning sense is +b when the planes step by +b/3, −b when they step by
    +2b/3 ≡ −b/3.  Offsets are averaged on the unit circle over all consecutive plane pairs that are
    closer than 2 Å (surface planes of a slab relax a little; the vacuum gap is skipped)."""
    b = np.asarray(b, float)
    bl = float(np.linalg.norm(b))
    u = b / bl
    ls = layers(atoms, normal)
    phase = []
    for lo, hi in pairwise(ls):
        if atoms.positions[hi, normal].mean() - atoms.positions[lo, normal].mean() > 2.0:
            continue
        z = [np.exp(2j * np.pi * (atoms.positions[L] @ u) / bl).mean() for L in (lo, hi)]
        phase.append(z[1] / z[0] / abs(z[1] / z[0]))
    if not phase:
        raise ValueError("no consecutive planes found")
    off = (np.angle(np.mean(phase)) / (2 * np.pi)) % 1.0
    if abs(off - 1 / 3) < 0.1:
        return 1
    if abs(off - 2 / 3) < 0.1:
        return -1
    raise ValueError(f"planes step by {off:.3f} b along b, neither 1/3 nor 2/3: not a bcc (112) stacking")


def slab_series(frames, plane: str, variant: str, normal: int = 2) -> list[dict]:
    """The γ line of one variant (``nonrelax``/``relax``) of the FitSNAP GSF slabs of ``plane``.

    Per frame: f (in b; for (112) counted in the twinning sense, see :func:`twinning_sign`), the
    atoms, the zero-shift slab of the same variant (``ref``), the fault area A (Å^2, from the cell),
    γ_DFT = (E − E_ref)/A (mJ/m^2).  Every frame is checked to be the reference slab with the block
    above the fault shifted by f·b (its ``source_id`` shift s equals f/2, the box-diagonal fraction)."""
    sel = [a for a in frames if slab_label(a.info.get("source_id", ""))[0] == variant]
    zero = [a for a in sel if slab_label(a.info["source_id"])[1] == 0.0]
    if len(zero) != 1:
        raise ValueError(f"({plane}) {variant}: expected one zero-shift slab, found {len(zero)}")
    ref = zero[0]
    b = slab_burgers(ref, plane, normal)
    sign = twinning_sign(ref, normal, b) if plane == "112" else 1
    area = fault_area(ref.cell.array, normal)
    e0 = float(ref.get_potential_energy())
    out = []
    for at in sel:
        if not np.allclose(at.cell.array, ref.cell.array, atol=1e-6):
            raise ValueError(f"{at.info['source_id']}: cell differs from the zero-shift slab")
        s_lab = slab_label(at.info["source_id"])[1]
        f = 2.0 * s_lab
        moved, t = upper_block(ref, at, normal)
        if not np.allclose(inplane_wrap(t - f * b, ref.cell.array, normal), 0.0, atol=2e-3):
            raise ValueError(f"{at.info['source_id']}: shift {t} is not f·b with f = {f}")
        if variant == "nonrelax" and not np.allclose(at.positions[:, normal], ref.positions[:, normal], atol=1e-6):
            raise ValueError(f"{at.info['source_id']}: a non-relaxed slab with atoms moved along the normal")
        g = (float(at.get_potential_energy()) - e0) / area * EV_PER_A2_TO_MJ_PER_M2
        f_tw = f if sign > 0 else (1.0 - f if 0.0 < f < 1.0 else f)
        out.append({"f": round(f_tw, 6), "f_shift": f, "atoms": at, "untilted": ref, "stack": normal,
                    "gamma_dft": g, "id": str(at.info["source_id"]), "moved": moved, "b": b, "sense": sign})
    return sorted(out, key=lambda d: (d["f"], d["id"]))


def gamma_line(energies, e0: float, area: float) -> np.ndarray:
    """γ (mJ/m^2) of total energies (eV) against the zero-shift energy ``e0`` (eV) over ``area`` (Å^2)."""
    return (np.asarray(energies, float) - float(e0)) / float(area) * EV_PER_A2_TO_MJ_PER_M2


def shifted_block(ref, moved, shift):
    """A copy of ``ref`` with the atoms ``moved`` translated by ``shift`` (Å): a rigid-shift slab."""
    at = ref.copy()
    at.calc = None
    at.positions[moved] += np.asarray(shift, float)
    return at


# ------------------------------------------------------------------------------------------------ compute
_calc_factory = calculator_factory


def _energy(atoms, calc) -> float:
    at = atoms.copy()
    at.calc = calc
    return float(at.get_potential_energy())


@recorded_cache(maxsize=16)
def _unrelaxed(potential, element: str, plane: str, dense_points: int, calc_factory=None) -> dict:
    from ...data import read_frames

    if DFT_SETS.get(element, {}).get("kind") == "slab":
        return _slab_line(potential, element, plane, "nonrelax", dense_points, calc_factory=calc_factory)
    if element != "W":
        dft_file(element, plane)  # raises: no DFT cells of this element
    series = dft_series(read_frames(DATA), plane)
    if not series:
        raise ValueError(f"no {plane} rigid-shift frames in {DATA}")
    calc = _calc_factory(potential, calc_factory)()
    f = np.array([s["f"] for s in series])
    g_dft = np.array([s["gamma_dft"] for s in series])
    g_pot = []
    for s in series:
        e0 = _energy(s["untilted"], calc)
        g_pot.append((_energy(s["atoms"], calc) - e0) / fault_area(s["atoms"].cell.array, s["stack"]) * EV_PER_A2_TO_MJ_PER_M2)
    g_pot = np.array(g_pot)
    # dense line on the same (untilted) DFT cell, for the plot and the off-grid maximum
    s0 = series[0]
    b = burgers_cartesian(plane, float(s0["atoms"].info.get("lattice_a", DFT_LATTICE_A)))
    e0 = _energy(s0["untilted"], calc)
    area = fault_area(s0["untilted"].cell.array, s0["stack"])
    fd = np.linspace(0.0, 1.0, dense_points)
    gd = np.array([(_energy(tilted(s0["untilted"], x, b, s0["stack"]), calc) - e0) / area * EV_PER_A2_TO_MJ_PER_M2
                   for x in fd])
    return {"f": f.tolist(), "gamma": g_pot.tolist(), "gamma_dft": g_dft.tolist(), "f_dense": fd.tolist(),
            "gamma_dense": gd.tolist(), "ids": [s["id"] for s in series], "lattice_a_A": DFT_LATTICE_A}


@recorded_cache(maxsize=16)
def _slab_line(potential, element: str, plane: str, variant: str, dense_points: int, fmax: float | None = None,
               max_steps: int = 500, calc_factory=None) -> dict:
    """The potential on ``element``'s DFT vacuum slabs of ``plane`` (one ``variant``).

    ``fmax`` None: single points on the DFT positions (and a dense unrelaxed line: the zero-shift slab
    with its upper block shifted by f·b).  ``fmax`` given: every slab, the zero-shift one included, is
    relaxed by the potential along the fault normal only (as the DFT relaxed variant), starting from
    the DFT positions of that variant."""
    from ...data import read_frames

    series = slab_series(read_frames(dft_file(element, plane)), plane, variant)
    calc = _calc_factory(potential, calc_factory)()
    ref = series[0]["untilted"]
    normal = series[0]["stack"]
    area = fault_area(ref.cell.array, normal)
    mask = tuple(k != normal for k in range(3))  # FixCartesian: True = fixed
    unconverged = []

    def energy(at, label):
        if fmax is None:
            return _energy(at, calc)
        a = at.copy()
        a.calc = calc
        a.set_constraint(FixCartesian(range(len(a)), mask=mask))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if not relax_positions(a, fmax=fmax, steps=max_steps, optimizer=BFGS):
                unconverged.append(label)
        return float(a.get_potential_energy())

    e0 = energy(ref, "0")
    g_pot = gamma_line([energy(x["atoms"], x["id"]) for x in series], e0, area)
    out = {"f": [x["f"] for x in series], "gamma": g_pot.tolist(), "gamma_dft": [x["gamma_dft"] for x in series],
           "ids": [x["id"] for x in series], "lattice_a_A": slab_a(ref, plane, normal), "n_atoms": len(ref),
           "variant": variant, "sense": series[0]["sense"], "relaxed_by_potential": fmax is not None}
    if fmax is not None:
        out["unconverged"] = unconverged
        if unconverged:
            warnings.warn(f"gsfe {element} {plane} slab relaxation: fmax {fmax} eV/Å not reached for {unconverged}")
    else:
        moved = next(x["moved"] for x in series if x["moved"].any())
        b, sign = series[0]["b"], series[0]["sense"]
        fd = np.linspace(0.0, 1.0, dense_points)  # f in the twinning sense: the shift is sign·f·b
        gd = gamma_line([_energy(shifted_block(ref, moved, sign * x * b), calc) for x in fd], e0, area)
        out.update({"f_dense": fd.tolist(), "gamma_dense": gd.tolist()})
    return out


def relaxed_cell(element: str, plane: str, a: float, height_A: float):
    """Perfect crystal oriented for ``plane`` (x = normal), at least ``height_A`` Å high."""
    unit = BodyCenteredCubic(directions=[list(d) for d in PLANES[plane]["directions"]], symbol=element,
                             latticeconstant=a, size=(1, 1, 1), pbc=True)
    n = max(1, int(np.ceil(height_A / unit.cell[0, 0])))
    return unit.repeat((n, 1, 1))


@recorded_cache(maxsize=16)
def _relaxed(potential, element: str, plane: str, points: int, height_A: float, fmax: float, max_steps: int,
             calc_factory=None) -> dict:
    a0 = ground_state(potential, element)["a0"] if calc_factory is None else None
    if a0 is None:
        raise ValueError("relaxed γ with a custom calculator needs its lattice constant: use relaxed_line()")
    return relaxed_line(_calc_factory(potential, calc_factory), element, plane, a0, points, height_A, fmax, max_steps)


def relaxed_line(calc_factory, element: str, plane: str, a0: float, points: int = 11, height_A: float = 20.0,
                 fmax: float = 2e-3, max_steps: int = 500) -> dict:
    """γ(f) (mJ/m^2) with atoms relaxed along the fault normal only, on cells at lattice constant ``a0`` (Å)."""
    base = relaxed_cell(element, plane, a0, height_A)
    calc = calc_factory()
    base.calc = calc
    e0 = base.get_potential_energy()
    area = fault_area(base.cell.array, 0)
    b = burgers_cartesian(plane, a0)
    fs = np.linspace(0.0, 1.0, points)
    gam, unconverged = [], []
    for f in fs:
        at = tilted(base, f, b, 0)
        at.set_constraint(FixCartesian(range(len(at)), mask=(False, True, True)))  # move along x only
        at.calc = calc
        with warnings.catch_warnings():  # one summary warning below
            warnings.simplefilter("ignore")
            ok = relax_positions(at, fmax=fmax, steps=max_steps, optimizer=BFGS)
        if not ok:
            unconverged.append(float(f))
        gam.append((at.get_potential_energy() - e0) / area * EV_PER_A2_TO_MJ_PER_M2)
    if unconverged:
        warnings.warn(f"gsfe {plane} relaxed: fmax {fmax} eV/Å not reached at f = {unconverged}")
    return {"f": fs.tolist(), "gamma": [float(g) for g in gam], "n_atoms": len(base), "a0_A": a0,
            "unconverged_f": unconverged}


def line_maximum(gamma, points: int):
    """(f samples, γ samples, f_max, γ_max) of ``gamma`` on ``points`` samples of [0, 1], the maximum refined by
    a bounded scalar maximisation (xatol 1e-6) between the neighbours of the largest sample (kept when the
    refinement does not beat it)."""
    from scipy.optimize import minimize_scalar

    fs = np.linspace(0.0, 1.0, points)
    gs = np.array([gamma(f) for f in fs])
    k = int(np.argmax(gs))
    lo, hi = fs[max(k - 1, 0)], fs[min(k + 1, len(fs) - 1)]
    res = minimize_scalar(lambda f: -gamma(f), bounds=(lo, hi), method="bounded", options={"xatol": 1e-6})
    f_max, g_max = (float(res.x), float(-res.fun)) if -res.fun >= gs[k] else (float(fs[k]), float(gs[k]))
    return fs, gs, f_max, g_max


def dense_gamma_us(calc_factory, element: str, plane: str, a0: float, points: int = 21,
                   height_A: float = 20.0) -> dict:
    """Unstable stacking-fault energy (mJ/m^2): the maximum of the unrelaxed γ line on cells at ``a0``
    (Å), from ``points`` samples of f in [0, 1] refined by a bounded scalar maximisation (xatol 1e-6)."""
    base = relaxed_cell(element, plane, a0, height_A)
    calc = calc_factory()
    e0 = _energy(base, calc)
    area = fault_area(base.cell.array, 0)
    b = burgers_cartesian(plane, a0)

    def gamma(f):
        return (_energy(tilted(base, float(f), b, 0), calc) - e0) / area * EV_PER_A2_TO_MJ_PER_M2

    fs, gs, f_max, g_max = line_maximum(gamma, points)
    return {"gamma_us": g_max, "f_max": f_max, "f": fs.tolist(), "gamma": gs.tolist(), "a0_A": a0,
            "n_atoms": len(base)}


@recorded_cache(maxsize=16)
def _dense_gamma_us(potential, element, plane, points, height_A, calc_factory=None) -> dict:
    from .common import target_of

    target = target_of(potential) if calc_factory is None else None
    a0 = ground_state(target if target is not None else potential, element)["a0"] if calc_factory is None else None
    if a0 is None:
        raise ValueError("gamma_us with a custom calculator needs its lattice constant: use dense_gamma_us()")
    return dense_gamma_us(_calc_factory(potential, calc_factory), element, plane, a0, points, height_A)


# ------------------------------------------------------------------------------- fcc / hcp own cells
#: own-cell lines: case -> (lattice, line kind); the cells have the fault normal along z (stack 2)
OWN_LINES = {"111_partial": ("fcc", "partial"), "111_full": ("fcc", "full"),
             "0001_partial": ("hcp", "partial"), "0001_full": ("hcp", "full")}


def own_cell(element: str, lattice: str, a: float, c_over_a: float | None = None, height_A: float = 20.0):
    """Perfect fcc (111) or hcp (0001) crystal with the fault normal along z, at least ``height_A`` Å
    high, and its line vectors (Å): ``partial`` = the shortest lattice translation along the partial
    direction (fcc a/2[11-2], hcp a[1-100]·… of length a·sqrt(3); the stacking faults sit at 1/3 or
    2/3 of it), ``full`` = the full-dislocation Burgers vector (fcc a/2[1-10], hcp a/3[11-20])."""
    if lattice == "fcc":
        from ase.lattice.cubic import FaceCenteredCubic

        unit = FaceCenteredCubic(directions=[[1, -1, 0], [1, 1, -2], [1, 1, 1]], symbol=element,
                                 latticeconstant=a, size=(1, 1, 1), pbc=True)
        lines = {"partial": np.array([0.0, a * np.sqrt(6) / 2, 0.0]), "full": np.array([a / np.sqrt(2), 0.0, 0.0])}
    elif lattice == "hcp":
        from ase.build import bulk

        unit = bulk(element, "hcp", a=a, c=a * (c_over_a or np.sqrt(8 / 3)), orthorhombic=True)
        lines = {"partial": np.array([0.0, a * np.sqrt(3), 0.0]), "full": np.array([a, 0.0, 0.0])}
    else:
        raise ValueError(f"no own-cell γ lines for lattice {lattice!r}")
    n = max(1, int(np.ceil(height_A / unit.cell[2, 2])))
    return unit.repeat((1, 1, n)), lines


def own_line(calc_factory, element: str, case: str, a0: float, c_over_a: float | None = None, points: int = 21,
             height_A: float = 20.0) -> dict:
    """Unrelaxed γ line (mJ/m^2) of an fcc/hcp own-cell case at the potential's ``a0`` (Å).

    Partial lines: the stacking fault is the lower of γ(1/3) and γ(2/3) of the line's period (the
    other point is the on-top stacking); ``gamma_isf`` is it and ``gamma_us`` the maximum on the path
    from f = 0 to it.  Full lines: ``gamma_us`` is the maximum of γ(f), f in [0, 1].  The maximum is
    refined by a bounded scalar maximisation around the largest of ``points`` samples (xatol 1e-6)."""
    lattice, kind = OWN_LINES[case]
    base, lines = own_cell(element, lattice, a0, c_over_a, height_A)
    t = lines[kind]
    calc = calc_factory()
    e0 = _energy(base, calc)
    area = fault_area(base.cell.array, 2)

    def gamma_at(f):
        return float(gamma_line([_energy(tilted(base, float(f), t, 2), calc)], e0, area)[0])

    out = {"a0_A": a0, "n_atoms": len(base), "line": kind, "lattice": lattice, "gamma_f1": gamma_at(1.0)}
    if kind == "partial":
        g13, g23 = gamma_at(1 / 3), gamma_at(2 / 3)
        sgn = 1.0 if g13 <= g23 else -1.0
        out.update({"gamma_isf": min(g13, g23), "gamma_ontop": max(g13, g23), "f_isf": 1 / 3 if sgn > 0 else 2 / 3})

        def gamma(p):  # path parameter p in [0, 1]: from the perfect crystal to the stacking fault
            return gamma_at(sgn * p / 3)
    else:
        gamma = gamma_at
    fs, gs, f_max, g_max = line_maximum(gamma, points)
    out.update({"gamma_us": g_max, "f_max": f_max, "f": fs.tolist(), "gamma": gs.tolist(),
                "f_unit": "fraction of the path 0 → stacking fault" if kind == "partial" else "b"})
    return out


@recorded_cache(maxsize=16)
def _own_line(potential, element, case, points, height_A, calc_factory=None) -> dict:
    lattice = OWN_LINES[case][0]
    if calc_factory is not None:
        raise ValueError("own-cell γ lines with a custom calculator need its ground state: use own_line()")
    gs = ground_state(potential, element, lattice)
    return own_line(_calc_factory(potential, None), element, case, gs["a0"], gs.get("c_over_a"), points, height_A)


def compute(potential, element: str, case: str, tier: str = "standard", calc_factory=None) -> dict:
    """Numbers of ``case`` (all mJ/m^2) and the curve behind them (``data``)."""
    s = settings(tier)
    if case in OWN_LINES:
        d = _own_line(potential, element, case, s["dense_points"], s["relaxed_height_A"], calc_factory)
        out = {"gamma_us": d["gamma_us"], "data": d}
        if "gamma_isf" in d:
            out["gamma_isf"] = d["gamma_isf"]
        return out
    plane, kind = case.split("_", 1)
    if kind == "relaxed_slab":
        d = _slab_line(potential, element, plane, "relax", s["dense_points"], s["fmax_eV_per_A"], s["max_steps"],
                       calc_factory=calc_factory)
        f, g, gd = np.array(d["f"]), np.array(d["gamma"]), np.array(d["gamma_dft"])
        return {"gamma_us_sampled": gamma_us(f, g), "rmse": float(np.sqrt(np.mean((g - gd) ** 2))), "data": d}
    if kind == "gamma_us":
        d = _dense_gamma_us(potential, element, plane, s["dense_points"], s["relaxed_height_A"], calc_factory)
        return {"gamma_us": d["gamma_us"], "data": d}
    if kind == "relaxed":
        d = _relaxed(potential, element, plane, s["relaxed_points"], s["relaxed_height_A"], s["fmax_eV_per_A"],
                     s["max_steps"], calc_factory)
        out = {"gamma_us": gamma_us(d["f"], d["gamma"]), "data": d}
        if plane == "112":
            out["asymmetry"] = mean_asymmetry(d["f"], d["gamma"])
        return out
    d = _unrelaxed(potential, element, plane, s["dense_points"], calc_factory)
    f, g, gd = np.array(d["f"]), np.array(d["gamma"]), np.array(d["gamma_dft"])
    if kind == "unrelaxed":
        return {"gamma_us_sampled": gamma_us(f, g), "rmse": float(np.sqrt(np.mean((g - gd) ** 2))),
                "gamma_us_dense": float(np.max(d["gamma_dense"])), "data": d}
    if kind == "symmetry":
        return {"max_asymmetry": max_asymmetry(f, g), "data": {}}
    if kind == "asymmetry":
        return {"asymmetry": mean_asymmetry(f, g), "data": {}}
    raise ValueError(f"unknown gsfe case '{case}'")


# ---------------------------------------------------------------------------------------------------- plot


def plot(records: list[dict], outdir: Path) -> list[Path]:
    """γ(u) of both planes, potential (red) vs DFT (black), seed 000 Fig. 8.

    Grey: the DFT points ± the tolerance of the curve's RMSE (a band) and the DFT γ_us ± its tolerance
    (dashed box).  Secondary potential lines (own a0, relaxed) are red in other line styles.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from ..plotting import DFT_COLOUR, POTENTIAL_COLOUR, TOLERANCE_COLOUR

    curves = {r.get("case"): r["data"] for r in records if r.get("data")}
    if not any(str(k).endswith(("_unrelaxed", "_relaxed", "_gamma_us", "_relaxed_slab")) for k in curves):
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
            cells = "GAP-W cells" if u.get("variant") is None else "DFT slabs"
            a_dft = f"{u.get('lattice_a_A', DFT_LATTICE_A):.4f}".rstrip("0")
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
    """fcc/hcp own-cell γ lines (potential, red) with the scored γ_us / γ_isf against their references."""
    import matplotlib.pyplot as plt

    from ..plotting import DFT_COLOUR, POTENTIAL_COLOUR

    own = [(c, d) for c, d in curves.items() if c in OWN_LINES and d.get("f") and d.get("gamma")]
    if not own:
        return []
    pot = records[0].get("potential", "potential")
    fig, axes = plt.subplots(1, len(own), figsize=(5 * len(own), 4), squeeze=False)
    for ax, (case, d) in zip(axes[0], own):
        ax.plot(d["f"], d["gamma"], "-", color=POTENTIAL_COLOUR, lw=1.4, label=f"{pot} unrelaxed (own a0)")
        for q in ("gamma_us", "gamma_isf"):
            a = _scored(records, case, q)
            if a and _finite(a.get("reference")):
                ax.axhline(a["reference"], color=DFT_COLOUR, ls="--", lw=0.8, label=f"reference {q}")
        ax.set_title(case)
        ax.set_xlabel(d.get("f_unit", "f"))
        ax.set_ylabel("γ (mJ/m²)")
        ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    path = Path(outdir) / "gsfe.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]


class GSFEProtocol(Protocol):
    """Generalized stacking-fault energy lines: bcc (110)[111] and (112)[111], fcc (111), hcp (0001)."""

    name, version, defaults, tier_settings = PROPERTY, PROTOCOL_VERSION, DEFAULTS, TIER_SETTINGS

    def cases(self, element, tier):
        return cases(element, tier)

    def required_data(self, element, case):
        if case in OWN_LINES or case.endswith(("_relaxed", "_gamma_us")):
            return []
        return [dft_file(element, case.split("_", 1)[0])]

    def measure(self, target, element, case, tier):
        from ..references import Reference

        spec, cf = target.compute_args
        res = compute(spec, element, case, tier, calc_factory=cf)
        if case in OWN_LINES:
            d = res["data"]
            note = (f"unrelaxed {d['lattice']} line on the potential's own cells at a0 = {d['a0_A']:.4f} Å "
                    f"({d['n_atoms']} atoms)")
            out = [Measurement("gamma_us", res["gamma_us"], UNIT, note=note, data=d)]
            if "gamma_isf" in res:
                out.append(Measurement("gamma_isf", res["gamma_isf"], UNIT, note=note))
            return out
        if case.endswith("_relaxed_slab"):
            d = res["data"]
            note = (f"{DFT_SETS[element]['label']}, DFT-relaxed variant; the atoms relaxed by the potential along "
                    f"the fault normal only (from the DFT-relaxed positions, zero-shift slab included), "
                    f"a = {d['lattice_a_A']:.4f} Å")
            return [Measurement("gamma_us_sampled", res["gamma_us_sampled"], UNIT, note=note, data=d,
                                converged=not d.get("unconverged")),
                    Measurement("rmse", res["rmse"], UNIT, note=note, converged=not d.get("unconverged"))]
        if case.endswith("_relaxed"):  # own cells, no DFT data needed; reported only
            note = f"atoms relaxed normal to the plane, cells at the potential's a0 = {res['data']['a0_A']:.4f} Å"
            out = [Measurement("gamma_us", res["gamma_us"], UNIT, note=note, data=res["data"], policy="reported")]
            if "asymmetry" in res:
                out.append(Measurement("asymmetry", res["asymmetry"], UNIT, note=note, policy="reported"))
            return out
        if case.endswith("_gamma_us"):
            d = res["data"]
            return [Measurement("gamma_us", res["gamma_us"], UNIT, policy="reported", data=d,
                                note=f"maximum of the dense unrelaxed γ line at the potential's own a0 = {d['a0_A']:.4f} Å "
                                     f"(f = {d['f_max']:.4f} b, {len(d['f'])} samples + bounded maximisation, "
                                     f"{d['n_atoms']} atoms); the DFT-sampled value is gamma_us_sampled")]
        if element == "W":
            note = "unrelaxed, on the GAP-W DFT cells at a = 3.1805 Å (the DFT lattice constant)"
            dense_note = "largest γ of the dense unrelaxed line on the DFT cell (a = 3.1805 Å)"
            point_source = "GAP-W DFT rigid-shift cell (Szlachta et al., PRB 90, 104108 (2014)), unrelaxed"
        else:
            a = res["data"].get("lattice_a_A", float("nan")) if res.get("data") else float("nan")
            label = DFT_SETS[element]["label"]
            note = f"unrelaxed, on the {label}" + (f" at a = {a:.4f} Å (the DFT lattice constant)" if np.isfinite(a) else "")
            if DFT_SETS[element]["kind"] == "slab" and case.startswith("112"):
                note += "; f counted in the twinning sense (the DFT slabs are shifted in the antitwinning sense)"
            dense_note = "largest γ of the dense unrelaxed line on the DFT zero-shift cell"
            point_source = f"{label}, non-relaxed variant"
        if case.endswith("_unrelaxed"):
            out = [Measurement("gamma_us_sampled", res["gamma_us_sampled"], UNIT, note=note, data=res["data"]),
                   Measurement("rmse", res["rmse"], UNIT, note=note),
                   Measurement("gamma_max_dft_cell", res["gamma_us_dense"], UNIT, policy="reported", note=dense_note)]
            d = res["data"]  # the curve point by point against the DFT cells (scored as a whole by `rmse`)
            for f, g, gd in zip(d["f"], d["gamma"], d["gamma_dft"]):
                point = f"{case}@{f:.2f}b"
                ref = Reference(element=element, property=PROPERTY, case=point, quantity="gamma", value=float(gd),
                                unit=UNIT, source=point_source)
                out.append(Measurement("gamma", g, UNIT, case=point, refs=[ref], note=note, policy="reported"))
            return out
        if case == "110_symmetry":
            return [Measurement("max_asymmetry", res["max_asymmetry"], UNIT, note=note)]
        return [Measurement("asymmetry", res["asymmetry"], UNIT,
                            note=note + "; γ(1−f) − γ(f) averaged over f < 0.5 (antitwinning − twinning)")]


PROTOCOL = GSFEProtocol()
