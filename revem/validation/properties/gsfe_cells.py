"""Cells and DFT series of the γ-line protocol (:mod:`revem.validation.properties.gsfe`): pure geometry.

Nothing here evaluates a potential.  Tilted periodic cells (the stacking vector tilted by f·b, one fault
per cell, no surface), the DFT series of the data mirror (GAP-W rigid-shift cells, FitSNAP vacuum slabs,
each frame checked to be the rigid shift its label says), the oriented perfect crystals the potential's
own lines are computed on (bcc (110)/(112) with the fault normal along x; fcc (111) and hcp (0001) with
the normal along z), and the analysis of a sampled line (maximum, asymmetry).
"""
from __future__ import annotations

from itertools import pairwise

import numpy as np
from ase.build import bulk
from ase.lattice.cubic import BodyCenteredCubic, FaceCenteredCubic
from scipy.optimize import minimize_scalar

from ...atomistic import EV_PER_A2_TO_MJ_PER_M2, IDEAL_C_OVER_A

# Cartesian axes x (fault normal), y, z of the bcc tilted cells (the labelling of the GAP-W cells) and b
PLANES = {
    "110": {"directions": ((1, 1, 0), (-1, 1, 0), (0, 0, 1)), "b": (-1, 1, 1), "label": "(110)"},
    "112": {"directions": ((1, 1, 2), (-1, -1, 1), (1, -1, 0)), "b": (-1, -1, 1), "label": "(112)"},
}
#: own-cell lines of the close-packed lattices: case -> (lattice, line kind); fault normal along z (stack 2)
OWN_LINES = {"111_partial": ("fcc", "partial"), "111_full": ("fcc", "full"),
             "0001_partial": ("hcp", "partial"), "0001_full": ("hcp", "full")}
#: relaxed partial lines of the close-packed lattices: case -> the unrelaxed line it follows
OWN_RELAXED = {"111_partial_relaxed": "111_partial", "0001_partial_relaxed": "0001_partial"}
#: the stacking fault a partial line passes through, by lattice: the quantity it is reported as
STACKING_FAULT = {"fcc": "gamma_isf", "hcp": "gamma_I2"}


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


def dft_series(frames, plane: str, lattice_a: float | None = None) -> list[dict]:
    """The [111] line of ``plane`` in rigid-shift frames of the GAP-W kind (``info``: ``gsf_plane``,
    ``gsf_b_fraction``, ``gsf_shift``, ``gsf_stack_vector``, ``lattice_a``, ``gamma_unrelaxed_Jm2``): f,
    atoms, DFT γ (mJ/m^2), the f = 0 cell.  ``lattice_a`` (Å) is used where a frame states none."""
    label = PLANES[plane]["label"]
    out = []
    for at in frames:
        info = at.info
        if info.get("gsf_plane") != label or "gsf_b_fraction" not in info:
            continue
        stack = int(info.get("gsf_stack_vector", 0))
        if info.get("lattice_a", lattice_a) is None:
            raise ValueError(f"{plane}: frame {info.get('source_id')} states no lattice_a (give the element data's lattice_a_A)")
        a = float(info.get("lattice_a", lattice_a))
        ref = untilted(at, info["gsf_shift"], stack)
        f = float(info["gsf_b_fraction"])
        if not shift_matches(info["gsf_shift"], f, burgers_cartesian(plane, a), ref.cell.array, stack):
            raise ValueError(f"{plane}: frame {info.get('source_id')} shift {info['gsf_shift']} is not f·b with f={f}")
        out.append({"f": f, "atoms": at, "untilted": ref, "stack": stack, "lattice_a": a,
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



def relaxed_cell(element: str, plane: str, a: float, height_A: float):
    """Perfect bcc crystal oriented for ``plane`` (x = normal), at least ``height_A`` Å high."""
    unit = BodyCenteredCubic(directions=[list(d) for d in PLANES[plane]["directions"]], symbol=element,
                             latticeconstant=a, size=(1, 1, 1), pbc=True)
    n = max(1, int(np.ceil(height_A / unit.cell[0, 0])))
    return unit.repeat((n, 1, 1))


def line_maximum(gamma, points: int):
    """(f samples, γ samples, f_max, γ_max) of ``gamma`` on ``points`` samples of [0, 1], the maximum refined by
    a bounded scalar maximisation (xatol 1e-6) between the neighbours of the largest sample (kept when the
    refinement does not beat it)."""
    fs = np.linspace(0.0, 1.0, points)
    gs = np.array([gamma(f) for f in fs])
    k = int(np.argmax(gs))
    lo, hi = fs[max(k - 1, 0)], fs[min(k + 1, len(fs) - 1)]
    res = minimize_scalar(lambda f: -gamma(f), bounds=(lo, hi), method="bounded", options={"xatol": 1e-6})
    f_max, g_max = (float(res.x), float(-res.fun)) if -res.fun >= gs[k] else (float(fs[k]), float(gs[k]))
    return fs, gs, f_max, g_max



def own_cell(element: str, lattice: str, a: float, c_over_a: float | None = None, height_A: float = 20.0):
    """Perfect fcc (111) or hcp (0001) crystal with the fault normal along z, at least ``height_A`` Å
    high, and its line vectors (Å): ``partial`` = the shortest lattice translation along the partial
    direction (fcc a/2[11-2], hcp a[1-100]·… of length a·sqrt(3); the stacking faults sit at 1/3 or
    2/3 of it), ``full`` = the full-dislocation Burgers vector (fcc a/2[1-10], hcp a/3[11-20])."""
    if lattice == "fcc":
        unit = FaceCenteredCubic(directions=[[1, -1, 0], [1, 1, -2], [1, 1, 1]], symbol=element,
                                 latticeconstant=a, size=(1, 1, 1), pbc=True)
        lines = {"partial": np.array([0.0, a * np.sqrt(6) / 2, 0.0]), "full": np.array([a / np.sqrt(2), 0.0, 0.0])}
    elif lattice == "hcp":
        unit = bulk(element, "hcp", a=a, c=a * (c_over_a or IDEAL_C_OVER_A), orthorhombic=True)
        lines = {"partial": np.array([0.0, a * np.sqrt(3), 0.0]), "full": np.array([a, 0.0, 0.0])}
    else:
        raise ValueError(f"no own-cell γ lines for lattice {lattice!r}")
    n = max(1, int(np.ceil(height_A / unit.cell[2, 2])))
    return unit.repeat((1, 1, n)), lines
