"""Pure analysis of the ``md_stability`` ramps (:mod:`revem.validation.properties.md_stability`): numbers from
positions, cells and thermodynamic samples, with no potential involved.

* :func:`min_distance` -- the shortest interatomic distance (Å, minimum image), for the 0.5 Å collapse check;
* :func:`q6_global` -- the system-averaged Steinhardt bond-orientational order Q6 (Steinhardt, Nelson & Ronchetti,
  Phys. Rev. B 28, 784 (1983), doi:10.1103/PhysRevB.28.784) over the bonds shorter than a cutoff: 0.51 (bcc, 14
  neighbours), 0.57 (fcc), 0.48 (hcp) for perfect crystals, 0.3-0.45 for crystals near melting, about the
  random-phase value (≲ 0.1 for 16-108 atoms) for a liquid, whatever its orientation -- the crystalline-order
  criterion of the melting signal (a numpy stand-in for polyhedral template matching);
* :func:`bragg_vectors` / :func:`bragg_order` -- the amplitude of the initial lattice's strongest Bragg
  reflections, |1/N Σ_j exp(2πi m·s_j)| (s: fractional coordinates of the supercell, m: integer reflections with
  structure factor 1): ≈ exp(-k²<u²>/6) ≥ 0.6 in the crystal, ≈ sqrt(π/4N) in a liquid.  Lost while Q6 stays
  high, it says the crystal transformed into another one rather than melting;
* :func:`rdf`, :func:`first_peak`, :func:`rdf_rmse` -- the pair distribution function g(r) of a set of frames;
* :func:`melting_index`, :func:`jump` -- where the order is lost on a ramp and the jump of a quantity there.
"""
from __future__ import annotations

import math

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list
from scipy.special import sph_harm_y


def min_distance(positions, cell) -> float:
    """Shortest distance (Å) between two atoms of a periodic cell (minimum image; ``cell`` 3x3 rows)."""
    p = np.asarray(positions, float)
    if len(p) < 2:
        return math.inf
    cell = np.asarray(cell, float)
    if not np.all(np.isfinite(p)):
        return math.nan
    frac = p @ np.linalg.inv(cell)
    d = frac[:, None, :] - frac[None, :, :]
    d -= np.round(d)
    r = np.linalg.norm(d @ cell, axis=-1)
    r[np.diag_indices(len(p))] = np.inf
    return float(r.min())


def q6_global(atoms: Atoms, cutoff_A: float) -> float:
    """System-averaged Steinhardt Q6 over every bond shorter than ``cutoff_A`` (0 when there is none)."""
    _, _, vec = neighbor_list("ijD", atoms, float(cutoff_A))
    if len(vec) == 0:
        return 0.0
    r = np.linalg.norm(vec, axis=1)
    theta = np.arccos(np.clip(vec[:, 2] / r, -1.0, 1.0))
    phi = np.arctan2(vec[:, 1], vec[:, 0])
    q = np.array([sph_harm_y(6, m, theta, phi).mean() for m in range(-6, 7)])
    return float(np.sqrt(4 * np.pi / 13 * np.sum(np.abs(q) ** 2)))


def bragg_vectors(scaled_positions, max_index: int, tol: float = 1e-6) -> np.ndarray:
    """Integer reflections m (in the supercell's reciprocal basis) of the perfect crystal ``scaled_positions``
    with |structure factor|/N = 1, the shortest first (those of the shortest |m|, up to ``max_index`` per axis)."""
    s = np.asarray(scaled_positions, float)
    rng = np.arange(-max_index, max_index + 1)
    m = np.array(np.meshgrid(rng, rng, rng, indexing="ij")).reshape(3, -1).T
    m = m[np.any(m != 0, axis=1)]
    amp = np.abs(np.exp(2j * np.pi * (m @ s.T)).mean(axis=1))
    full = m[amp > 1 - tol]
    if not len(full):
        return full
    norm = np.einsum("ij,ij->i", full, full)
    return full[norm == norm.min()]


def reciprocal_lengths(vectors, cell) -> np.ndarray:
    """|k| (1/Å) of integer reflections ``vectors`` of ``cell`` (rows)."""
    return np.linalg.norm(2 * np.pi * np.asarray(vectors, float) @ np.linalg.inv(np.asarray(cell, float)).T, axis=1)


def bragg_order(scaled_positions, vectors) -> float:
    """Mean amplitude |1/N Σ_j exp(2πi m·s_j)| over the reflections ``vectors`` (nan when there are none)."""
    v = np.asarray(vectors, float)
    if not len(v):
        return math.nan
    s = np.asarray(scaled_positions, float)
    return float(np.abs(np.exp(2j * np.pi * (v @ s.T)).mean(axis=1)).mean())


def rdf(frames, r_max_A: float, bin_A: float) -> tuple[np.ndarray, np.ndarray]:
    """g(r) averaged over ``frames`` (one element, periodic cells): bin centres (Å) and g (ideal gas = 1)."""
    edges = np.arange(0.0, r_max_A + 0.5 * bin_A, bin_A)
    hist = np.zeros(len(edges) - 1)
    norm = 0.0
    for a in frames:
        d = neighbor_list("d", a, float(edges[-1]))
        hist += np.histogram(d, bins=edges)[0]
        norm += len(a) * len(a) / a.get_volume()  # pairs i->j per frame: N * rho * shell volume
    shells = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    g = hist / (norm * shells) if norm > 0 else hist * np.nan
    return 0.5 * (edges[1:] + edges[:-1]), g


def first_peak(r, g, half_width_A: float = 0.2) -> tuple[float, float]:
    """Position (Å) and height of the highest maximum of g(r): a least-squares parabola through the bins within
    ``half_width_A`` of the highest bin of the 3-bin running mean (robust to the noise of a few frames); the bin
    itself where the fit has no maximum inside that window."""
    r, g = np.asarray(r, float), np.asarray(g, float)
    if len(g) < 3 or not np.any(np.isfinite(g)):
        return math.nan, math.nan
    smooth = np.convolve(np.nan_to_num(g), np.ones(3) / 3, mode="same")
    i = int(np.argmax(smooth))
    w = np.abs(r - r[i]) <= half_width_A + 1e-9
    if w.sum() >= 3:
        c2, c1, c0 = np.polyfit(r[w] - r[i], g[w], 2)
        if c2 < 0 and abs(-c1 / (2 * c2)) <= half_width_A:
            x = -c1 / (2 * c2)
            return float(r[i] + x), float(c0 + c1 * x + c2 * x * x)
    return float(r[i]), float(smooth[i])


def rdf_rmse(g1, g2) -> float:
    """Root-mean-square difference of two g(r) on the same bins (dimensionless)."""
    a, b = np.asarray(g1, float), np.asarray(g2, float)
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.sqrt(np.mean((a[ok] - b[ok]) ** 2))) if np.any(ok) else math.nan


def melting_index(order, threshold: float) -> int | None:
    """Index of the first sample after which ``order`` stays below ``threshold`` to the end of the ramp (None: the
    last sample is still ordered, or there are no samples)."""
    o = np.asarray(order, float)
    if not len(o) or not (o[-1] < threshold):
        return None
    above = np.nonzero(~(o < threshold))[0]
    return int(above[-1] + 1) if len(above) else 0


def jump(x, y, i: int, window: int) -> tuple[float, float]:
    """y(x) of the two branches at sample ``i``: linear fits over the ``window`` samples before ``i`` (solid) and
    after it (liquid, the melting sample itself excluded), both evaluated at x[i]; nan where a branch has fewer
    than three samples."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    lo, hi = slice(max(0, i - window), i), slice(i + 1, min(len(x), i + 1 + window))
    if (lo.stop - lo.start) < 3 or (hi.stop - hi.start) < 3:
        return math.nan, math.nan
    return float(np.polyval(np.polyfit(x[lo], y[lo], 1), x[i])), float(np.polyval(np.polyfit(x[hi], y[hi], 1), x[i]))
