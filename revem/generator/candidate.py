"""Random candidate configurations and their local optimisation (seed paper Sec. 2.1, 5.1).

A candidate has N atoms (drawn from a cell-size distribution, :func:`parse_atoms_distribution`;
default :data:`DEFAULT_ATOMS`, a truncated geometric law on [2, 25] with mean 6, the paper's
dataset: 179,367 atoms in 30,349 structures, mean 5.9, "predominantly less than 10 atoms", up to
25) in a random triclinic cell of volume N * V, V uniform in the window [V_start, V_end]
(A^3/atom).  Its positions maximise

    F = K log det Sigma(S u C) - V_core(C)                                  (eq. 4)

with the cell fixed.  Two optimisers: ``steepest`` (steepest ascent with an adaptive maximum
displacement, the paper's choice and our baseline) and ``lbfgs`` (scipy L-BFGS-B on -F, default;
see the benchmarks for the measured time and entropy gain of both).
"""
from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.geometry import cellpar_to_cell
from ase.geometry.cell import Cell
from ase.geometry.minkowski_reduction import minkowski_reduce
from ase.neighborlist import neighbor_list

from .entropy import Normalization, RunningMoments, feature_gradient
from .featurizer import FeaturizerError

N_MIN, N_MAX = 2, 25

#: default cell-size distribution of the candidates: N in [2, 25] (the paper's range), P(N)
#: proportional to q^(N - 2) with q set so that the mean is 6 atoms (the paper's dataset: mean 5.9)
DEFAULT_ATOMS = "2-25:geometric:6"
#: the distribution of revem before DEFAULT_ATOMS (N uniform in [2, 25]); a stream stored without
#: an ``atoms`` setting was made with it
LEGACY_ATOMS = "2-25:uniform"
#: largest cell accepted in a distribution (LAMMPS compute snap's dgradflag array is 3 N^2 x 58)
N_LIMIT = 200


@dataclass(frozen=True)
class AtomsDistribution:
    """Distribution of the number of atoms N of a candidate: ``pmf[k]`` = P(N = n_min + k).

    ``text`` is the specification it was parsed from (stored with a run).  ``uniform`` draws
    with ``rng.integers(n_min, n_max + 1)`` (the draw of revem before the distributions existed,
    so "2-25:uniform" repeats the candidates of a stream made then); the others by inverse CDF
    of one ``rng.random()``.
    """

    text: str
    n_min: int
    n_max: int
    pmf: tuple
    uniform: bool = False

    @property
    def sizes(self) -> np.ndarray:
        return np.arange(self.n_min, self.n_max + 1)

    @property
    def mean(self) -> float:
        return float(np.dot(self.sizes, self.pmf))

    def sample(self, rng: np.random.Generator) -> int:
        if self.uniform:
            return int(rng.integers(self.n_min, self.n_max + 1))
        cdf = np.cumsum(self.pmf)
        k = int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))
        return self.n_min + min(k, len(self.pmf) - 1)

    def fraction_below(self, n: int) -> float:
        """P(N < n)."""
        return float(sum(p for s, p in zip(self.sizes, self.pmf) if s < n))


def truncated_geometric(n_min: int, n_max: int, mean: float) -> np.ndarray:
    """P(N) proportional to q^(N - n_min) on [n_min, n_max], q in (0, inf) such that E[N] = mean.

    ValueError unless n_min < mean < n_max (q = 1 is the uniform law, q > 1 favours large N)."""
    if not (n_min < mean < n_max):
        raise ValueError(f"the mean of a geometric law on [{n_min}, {n_max}] must lie strictly between "
                         f"{n_min} and {n_max} (got {mean})")
    k = np.arange(n_max - n_min + 1, dtype=float)

    def pmf(lq):
        w = np.exp(lq * k - (lq * k).max())
        return w / w.sum()

    lo, hi = -50.0, 50.0  # log q; the mean is increasing in log q
    for _ in range(120):  # 100 / 2^120: exact in double precision
        mid = 0.5 * (lo + hi)
        if n_min + float(k @ pmf(mid)) < mean:
            lo = mid
        else:
            hi = mid
    return pmf(0.5 * (lo + hi))


_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")
_NUM = r"[+]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"


@functools.lru_cache(maxsize=64)
def parse_atoms_distribution(text: str | None) -> AtomsDistribution:
    """Cell-size distribution from its text (the ``--atoms`` option); None: :data:`DEFAULT_ATOMS`.

    * ``"6"``: always 6 atoms;
    * ``"2-25"`` or ``"2-25:uniform"``: N uniform in [2, 25] (revem's distribution before 2025-08);
    * ``"2-25:geometric:6"``: P(N) proportional to q^(N - 2) on [2, 25] with q such that the mean
      is 6 (the default; 82 % of the candidates have fewer than 10 atoms);
    * ``"2-6:weights:5,4,3,2,1"``: P(N) proportional to the weights listed for N = 2, 3, ..., 6
      (one non-negative weight per size; e.g. a histogram of an existing dataset).

    Sizes must lie in [1, 200].  ValueError, with a message naming the offending part, otherwise.
    """
    if text is None:
        text = DEFAULT_ATOMS
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"--atoms: empty cell-size distribution {text!r} (e.g. {DEFAULT_ATOMS!r})")
    parts = [p.strip() for p in text.strip().split(":")]
    m = _RANGE.match(parts[0])
    if not m:
        raise ValueError(f"--atoms {text!r}: {parts[0]!r} is not a number of atoms or a range such as 2-25")
    lo = int(m.group(1))
    hi = int(m.group(2)) if m.group(2) is not None else lo
    if lo < 1 or hi > N_LIMIT:
        raise ValueError(f"--atoms {text!r}: sizes must lie in [1, {N_LIMIT}] atoms")
    if hi < lo:
        raise ValueError(f"--atoms {text!r}: the range {lo}-{hi} is empty; write {hi}-{lo}")
    law = parts[1].lower() if len(parts) > 1 else "uniform"
    args = parts[2:]
    n = hi - lo + 1
    if law == "uniform":
        if args:
            raise ValueError(f"--atoms {text!r}: 'uniform' takes no parameter")
        return AtomsDistribution(text, lo, hi, tuple([1.0 / n] * n), uniform=True)
    if law == "geometric":
        if len(args) != 1 or not re.fullmatch(_NUM, args[0]):
            raise ValueError(f"--atoms {text!r}: write geometric:MEAN, e.g. 2-25:geometric:6")
        try:
            pmf = truncated_geometric(lo, hi, float(args[0]))
        except ValueError as exc:
            raise ValueError(f"--atoms {text!r}: {exc}") from None
        return AtomsDistribution(text, lo, hi, tuple(float(x) for x in pmf))
    if law == "weights":
        ws = [w.strip() for w in ":".join(args).split(",")] if args else []
        if not ws or not all(re.fullmatch(_NUM, w) for w in ws):
            raise ValueError(f"--atoms {text!r}: write weights:W{lo},W{lo + 1},... (non-negative numbers)")
        if len(ws) != n:
            raise ValueError(f"--atoms {text!r}: {len(ws)} weights for the {n} sizes {lo}-{hi}")
        w = np.array([float(x) for x in ws])
        if not np.isfinite(w).all() or w.sum() <= 0:
            raise ValueError(f"--atoms {text!r}: the weights must be finite and not all zero")
        return AtomsDistribution(text, lo, hi, tuple(float(x) for x in w / w.sum()))
    raise ValueError(f"--atoms {text!r}: unknown law {parts[1]!r} (uniform, geometric:MEAN or weights:W,W,...)")


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


#: lattice translations of a Minkowski-reduced cell that hold every minimum image (as in ASE's
#: general_find_mic), (0, 0, 0) first
_HKL = np.array([(0, 0, 0)] + list(itertools.product((-1, 0, 1), repeat=3)), float)


class _MinImage:
    """Minimum-image distances in one periodic cell (ASE's ``general_find_mic``, vectorised)."""

    def __init__(self, cell: np.ndarray):
        self.rcell, _ = minkowski_reduce(np.asarray(cell, float))
        self.inv = np.linalg.inv(self.rcell)
        self.vr = _HKL @ self.rcell  # (28, 3)

    def nearest(self, p: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """For each trial point p (B, 3): its smallest periodic distance to the points pos (k, 3)."""
        d = pos[None, :, :] - p[:, None, :]  # (B, k, 3)
        f = d @ self.inv
        d = (f - np.floor(f)) @ self.rcell  # wrapped into the reduced cell
        x = d[:, :, None, :] + self.vr  # (B, k, 28, 3)
        return np.sqrt(np.einsum("bkvi,bkvi->bkv", x, x).min(axis=(1, 2)))


def random_positions(rng: np.random.Generator, cell: np.ndarray, n_atoms: int, d_min: float,
                     tries_per_atom: int = 200) -> np.ndarray | None:
    """Random sequential addition: uniform positions at least d_min (A) apart, or None.

    Each atom gets at most ``tries_per_atom`` uniform trial points; the first at least d_min from
    every atom already placed (periodic images included) is kept.  The trial points are tested in
    batches, and the generator is left as if they had been drawn one by one up to the kept one
    (so the positions are those of a one-at-a-time loop over ``rng.random(3)``).
    """
    cell = np.asarray(cell, float)
    pos = np.empty((n_atoms, 3))
    if n_atoms == 0:
        return pos
    pos[0] = rng.random(3) @ cell
    mic = _MinImage(cell)
    bg = rng.bit_generator
    for i in range(1, n_atoms):
        left, batch = tries_per_atom, 4
        while left > 0:
            b = min(batch, left)
            state = bg.state
            u = rng.random((b, 3))
            p = u[:, 0:1] * cell[0] + u[:, 1:2] * cell[1] + u[:, 2:3] * cell[2]  # = u_t @ cell, bitwise
            ok = np.flatnonzero(mic.nearest(p, pos[:i]) >= d_min)
            if len(ok):
                t = int(ok[0])
                if t < b - 1:  # give back the draws after the kept point
                    bg.state = state
                    rng.random(3 * (t + 1))
                pos[i] = p[t]
                break
            left -= b
            batch *= 2
        else:
            return None
    return pos


def min_distance(cell: np.ndarray, positions: np.ndarray, cutoff: float) -> float:
    """Shortest interatomic distance (periodic images included) if below cutoff, else inf (A)."""
    atoms = Atoms(numbers=[1] * len(positions), positions=positions, cell=cell, pbc=True)
    d = neighbor_list("d", atoms, cutoff)
    return float(d.min()) if len(d) else float("inf")


def random_structure(rng: np.random.Generator, v_start: float, v_end: float, r_min: float,
                     max_tries: int = 100, atoms: AtomsDistribution | str | None = None
                     ) -> tuple[np.ndarray, np.ndarray, float]:
    """(cell, positions, V per atom) of a random candidate respecting r_min (A).

    ``atoms``: the cell-size distribution (parsed or text; None: :data:`DEFAULT_ATOMS`)."""
    if not isinstance(atoms, AtomsDistribution):
        atoms = parse_atoms_distribution(atoms)
    for _ in range(max_tries):
        n = atoms.sample(rng)
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
