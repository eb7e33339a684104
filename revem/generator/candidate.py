"""Random candidate configurations and their local optimisation (seed paper Sec. 2.1, 5.1).

A candidate has N in [2, 25] atoms in a random triclinic cell of volume N * V, V uniform in the
window [V_start, V_end] (A^3/atom).  Its positions maximise

    F = K log det Sigma(S u C) - V_core(C)                                  (eq. 4)

with the cell fixed.  Two optimisers: ``steepest`` (steepest ascent with an adaptive maximum
displacement, the paper's choice and our baseline) and ``lbfgs`` (scipy L-BFGS-B on -F, default;
see the benchmarks for the measured time and entropy gain of both).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase.geometry import cellpar_to_cell, get_distances
from ase.geometry.cell import Cell
from ase.neighborlist import neighbor_list
from ase import Atoms

from .entropy import Normalization, RunningMoments, feature_gradient
from .featurizer import FeaturizerError

N_MIN, N_MAX = 2, 25


def random_cell(rng: np.random.Generator, n_atoms: int, v_per_atom: float, min_length: float,
                max_tries: int = 1000) -> np.ndarray:
    """Random triclinic cell (lower triangular, A) of volume n_atoms * v_per_atom.

    Axis ratios log-uniform in [1/2, 2], angles uniform in [60, 120] deg, Niggli-reduced; redrawn
    while the volume is under 0.3 a b c or a period is shorter than ``min_length``.
    """
    vol = n_atoms * v_per_atom
    for _ in range(max_tries):
        ratios = np.exp(rng.uniform(np.log(0.5), np.log(2.0), size=2))
        angles = rng.uniform(60.0, 120.0, size=3)
        cell = cellpar_to_cell([1.0, ratios[0], ratios[1], *angles])
        det = abs(np.linalg.det(cell))
        if not np.isfinite(det) or det < 0.3 * ratios.prod():
            continue
        cell = cell * (vol / det) ** (1.0 / 3.0)
        red, _ = Cell(cell).niggli_reduce()
        cell = cellpar_to_cell(red.cellpar())
        if np.linalg.norm(cell, axis=1).min() >= min_length:
            return cell
    raise RuntimeError(f"no cell with periods >= {min_length} A for {n_atoms} atoms at {v_per_atom} A^3/atom")


def random_positions(rng: np.random.Generator, cell: np.ndarray, n_atoms: int, d_min: float,
                     tries_per_atom: int = 200) -> np.ndarray | None:
    """Random sequential addition: uniform positions at least d_min (A) apart, or None."""
    pos = np.empty((0, 3))
    for _ in range(n_atoms):
        for _ in range(tries_per_atom):
            p = rng.random(3) @ cell
            if len(pos) == 0:
                break
            _, d = get_distances(p[None], pos, cell=cell, pbc=True)
            if d.min() >= d_min:
                break
        else:
            return None
        pos = np.vstack([pos, p])
    return pos


def min_distance(cell: np.ndarray, positions: np.ndarray, cutoff: float) -> float:
    """Shortest interatomic distance (periodic images included) if below cutoff, else inf (A)."""
    atoms = Atoms(numbers=[1] * len(positions), positions=positions, cell=cell, pbc=True)
    d = neighbor_list("d", atoms, cutoff)
    return float(d.min()) if len(d) else float("inf")


def random_structure(rng: np.random.Generator, v_start: float, v_end: float, r_min: float,
                     max_tries: int = 100) -> tuple[np.ndarray, np.ndarray, float]:
    """(cell, positions, V per atom) of a random candidate respecting r_min (A)."""
    for _ in range(max_tries):
        n = int(rng.integers(N_MIN, N_MAX + 1))
        v = float(rng.uniform(v_start, v_end))
        cell = random_cell(rng, n, v, min_length=r_min / 0.9)
        pos = random_positions(rng, cell, n, r_min)
        if pos is not None:
            return cell, pos, v
    raise RuntimeError("could not place atoms at the minimum distance")


@dataclass
class OptimResult:
    positions: np.ndarray
    F: float
    n_evals: int


class Objective:
    """F(positions) and dF/dpositions for one candidate (cell already set on the featurizer)."""

    def __init__(self, featurizer, mom: RunningMoments, norm: Normalization, mode: str, K: float):
        self.f, self.mom, self.norm, self.mode, self.K = featurizer, mom, norm, mode, K
        self.n_evals = 0

    def __call__(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        ev = self.f.evaluate(x.reshape(-1, 3), gradient=True)
        self.n_evals += 1
        ld, gB = feature_gradient(self.mom, self.norm, ev.features, self.mode)
        # dlogdet/dr_j = sum_i gB_i . dB_i/dr_j ; jacobian is (j, i, a, k)
        g = np.einsum("jiak,ik->ja", ev.jacobian, gB)
        F = self.K * ld - ev.vcore
        grad = self.K * g - ev.vcore_grad
        if not (np.isfinite(F) and np.all(np.isfinite(grad))):
            raise FeaturizerError("non-finite objective")
        return F, grad.ravel()


def steepest_ascent(obj: Objective, x0: np.ndarray, steps: int = 200, max_disp: float = 0.05
                    ) -> OptimResult:
    """Steepest ascent; the largest atomic displacement per step starts at max_disp (A), grows x1.2
    after an uphill step and halves (step undone) after a downhill one."""
    x = x0.ravel().copy()
    F, g = obj(x)
    d = max_disp
    for _ in range(steps - 1):
        gmax = np.abs(g.reshape(-1, 3)).max()
        if gmax == 0:
            break
        xn = x + d * g / gmax
        Fn, gn = obj(xn)
        if Fn >= F:
            x, F, g, d = xn, Fn, gn, d * 1.2
        else:
            d *= 0.5
    return OptimResult(x.reshape(-1, 3), F, obj.n_evals)


def lbfgs(obj: Objective, x0: np.ndarray, steps: int = 60) -> OptimResult:
    """scipy L-BFGS-B on -F with at most ``steps`` function+gradient evaluations."""
    from scipy.optimize import minimize

    best = {"F": -np.inf, "x": x0.ravel().copy()}

    def fun(x):
        F, g = obj(x)
        if F > best["F"]:
            best["F"], best["x"] = F, x.copy()
        return -F, -g

    minimize(fun, x0.ravel(), jac=True, method="L-BFGS-B",
             options={"maxfun": steps, "maxiter": steps, "maxcor": 20, "gtol": 1e-8, "ftol": 1e-12})
    return OptimResult(best["x"].reshape(-1, 3), best["F"], obj.n_evals)


OPTIMIZERS = {"lbfgs": lbfgs, "steepest": steepest_ascent}
