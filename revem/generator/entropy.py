"""Gaussian feature entropy of a dataset held as running sums (seed paper Sec. 2.1, eqs. 3-4).

S = log det Sigma, with Sigma the covariance of the (standardised) feature vectors of the dataset:
one vector per atom ("per-atom" mode) or the mean over each configuration's atoms ("per-config").
Features are standardised with a fixed per-stream centre c and scale s (z = (B - c) / s, taken
from the stream's bootstrap atoms) and a ridge eps I is added, so

    S = log det[ (sum z z^T - n zbar zbar^T) / (n - ddof) + eps I ].

With eps = 0, log det Sigma_B = S + 2 sum log s (a constant per stream).  The ridge keeps S finite
while a dataset has fewer samples than features (the generator's start rule gives every stream
>= 2 x 55 rows, see :func:`revem.generator.stream.bootstrap`, so there it is negligible).  Adding a candidate's k rows is a rank-k update of (n, sum z, sum z z^T).

``objective_and_grad`` is the closed form; ``jax_logdet`` is the JAX reference it is checked
against (JAX: Bradbury et al. 2018, as used in the seed paper).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import cho_factor, cho_solve

MODES = ("per-atom", "per-config")


class DegenerateCovariance(RuntimeError):
    """Sigma is not positive definite even with the ridge."""


@dataclass
class Normalization:
    """z = (B - center) / scale; covariance with ``ddof`` and ridge ``ridge`` (dimensionless)."""

    center: np.ndarray
    scale: np.ndarray
    ridge: float = 1e-6
    ddof: int = 1

    @classmethod
    def from_features(cls, feats: np.ndarray, ridge: float = 1e-6, ddof: int = 1) -> "Normalization":
        center = feats.mean(axis=0)
        scale = feats.std(axis=0)
        scale = np.where(scale > 1e-12 * max(1.0, float(np.abs(center).max())), scale, 1.0)
        return cls(center, scale, ridge, ddof)

    def apply(self, feats: np.ndarray) -> np.ndarray:
        return (np.asarray(feats, float) - self.center) / self.scale

    def as_dict(self) -> dict:
        return {"center": self.center.tolist(), "scale": self.scale.tolist(),
                "ridge": self.ridge, "ddof": self.ddof}

    @classmethod
    def from_dict(cls, d: dict) -> "Normalization":
        return cls(np.array(d["center"], float), np.array(d["scale"], float), float(d["ridge"]), int(d["ddof"]))


def sample_rows(z: np.ndarray, mode: str) -> np.ndarray:
    """Rows a configuration contributes: all atoms (per-atom) or their mean (per-config)."""
    if mode == "per-atom":
        return z
    if mode == "per-config":
        return z.mean(axis=0, keepdims=True)
    raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")


@dataclass
class RunningMoments:
    """n, sum z and sum z z^T of the dataset (standardised features)."""

    m: int
    n: int = 0
    s: np.ndarray = field(default=None)
    M: np.ndarray = field(default=None)

    def __post_init__(self):
        if self.s is None:
            self.s = np.zeros(self.m)
        if self.M is None:
            self.M = np.zeros((self.m, self.m))

    def add(self, rows: np.ndarray) -> None:
        rows = np.atleast_2d(rows)
        self.n += len(rows)
        self.s = self.s + rows.sum(axis=0)
        self.M = self.M + rows.T @ rows

    def copy(self) -> "RunningMoments":
        return RunningMoments(self.m, self.n, self.s.copy(), self.M.copy())

    def to_bytes(self) -> bytes:
        return np.concatenate([[float(self.n)], self.s, self.M.ravel()]).astype("<f8").tobytes()

    @classmethod
    def from_bytes(cls, m: int, blob: bytes) -> "RunningMoments":
        a = np.frombuffer(blob, dtype="<f8")
        return cls(m, int(a[0]), a[1:1 + m].copy(), a[1 + m:].reshape(m, m).copy())


def _covariance(n, s, M, ridge, ddof):
    if n - ddof <= 0:
        raise DegenerateCovariance(f"covariance needs more than {ddof} samples, have {n}")
    mu = s / n
    C = (M - n * np.outer(mu, mu)) / (n - ddof)
    C = 0.5 * (C + C.T)
    if ridge:
        C[np.diag_indices_from(C)] += ridge
    return C


def logdet(mom: RunningMoments, norm: Normalization, rows: np.ndarray | None = None) -> float:
    """S of the dataset, or of dataset + ``rows`` (k, m) standardised rows."""
    return objective_and_grad(mom, norm, rows, gradient=False)[0]


def objective_and_grad(mom: RunningMoments, norm: Normalization, rows: np.ndarray | None,
                       gradient: bool = True) -> tuple[float, np.ndarray | None]:
    """log det Sigma(S u C) and its gradient with respect to the k added rows (k, m).

    d logdet / d z_r = 2 Sigma^-1 (z_r - zbar') / (n' - ddof), primes for the updated dataset.
    """
    n, s, M = mom.n, mom.s, mom.M
    if rows is not None and len(rows):
        rows = np.atleast_2d(rows)
        n, s, M = n + len(rows), s + rows.sum(axis=0), M + rows.T @ rows
    if n <= mom.m and norm.ridge <= 0:
        warnings.warn(f"covariance from {n} samples for {mom.m} features is singular; set a ridge > 0",
                      stacklevel=2)
    C = _covariance(n, s, M, norm.ridge, norm.ddof)
    try:
        cf = cho_factor(C, lower=True, check_finite=True)
    except (np.linalg.LinAlgError, ValueError) as exc:
        sign, ld = np.linalg.slogdet(C)
        raise DegenerateCovariance(
            f"covariance of {n} samples x {mom.m} features is not positive definite "
            f"(sign {sign}, log|det| {ld}); increase the ridge") from exc
    ld = 2.0 * float(np.log(np.diag(cf[0])).sum())
    if not gradient or rows is None:
        return ld, None
    g = 2.0 / (n - norm.ddof) * cho_solve(cf, (rows - s / n).T).T
    return ld, g


def rows_and_chain(z: np.ndarray, mode: str) -> tuple[np.ndarray, float]:
    """Rows for ``mode`` and the factor dRow/dz_i (1 or 1/N)."""
    return sample_rows(z, mode), (1.0 if mode == "per-atom" else 1.0 / len(z))


def feature_gradient(mom: RunningMoments, norm: Normalization, feats: np.ndarray, mode: str
                     ) -> tuple[float, np.ndarray]:
    """S(S u C) and dS/dB_i (N, m) for a candidate with raw features ``feats`` (N, m)."""
    z = norm.apply(feats)
    rows, chain = rows_and_chain(z, mode)
    ld, g = objective_and_grad(mom, norm, rows)
    if mode == "per-atom":
        gz = g
    else:
        gz = np.broadcast_to(g * chain, z.shape)
    return ld, gz / norm.scale


def jax_logdet(n, s, M, rows, ridge, ddof=1):
    """JAX reference of log det Sigma(S u C) (float64); use with jax.grad over ``rows``."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    n2 = n + rows.shape[0]
    s2 = s + rows.sum(axis=0)
    M2 = M + rows.T @ rows
    mu = s2 / n2
    C = (M2 - n2 * jnp.outer(mu, mu)) / (n2 - ddof) + ridge * jnp.eye(len(s))
    return jnp.linalg.slogdet(C)[1]


def recompute_entropy(feature_sets: list[np.ndarray], norm: Normalization, mode: str) -> float:
    """log det Sigma from scratch, from the raw features (N_c, m) of each configuration."""
    rows = np.vstack([sample_rows(norm.apply(f), mode) for f in feature_sets])
    C = np.cov(rows.T, ddof=norm.ddof) + norm.ridge * np.eye(rows.shape[1])
    sign, ld = np.linalg.slogdet(C)
    if sign <= 0:
        raise DegenerateCovariance("recomputed covariance is not positive definite")
    return float(ld)


# -- several datasets on one normalisation (``revem info``: the whole dataset of a mode) ----------
def affine_moments(mom: RunningMoments, a: np.ndarray, b: np.ndarray) -> RunningMoments:
    """Moments of z' = a * z + b (elementwise) from those of z, exactly."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    As = a * mom.s
    M = (a[:, None] * mom.M * a[None, :]) + np.outer(As, b) + np.outer(b, As) + mom.n * np.outer(b, b)
    return RunningMoments(mom.m, mom.n, As + mom.n * b, 0.5 * (M + M.T))


def to_normalization(mom: RunningMoments, src: Normalization, dst: Normalization) -> RunningMoments:
    """Moments of rows standardised with ``src`` re-expressed in the standardisation ``dst``
    (both affine maps of the raw features: z_dst = (src.scale z_src + src.center - dst.center) / dst.scale)."""
    return affine_moments(mom, src.scale / dst.scale, (src.center - dst.center) / dst.scale)


@dataclass
class UnionEntropy:
    """S of the union of several datasets on the union's own standardisation (see :func:`union_entropy`)."""

    S: float
    n: int
    norm: Normalization
    parts_S: list  # S of each part on ``norm``
    parts_n: list


def union_entropy(parts: list[tuple[RunningMoments, Normalization]], ridge: float, ddof: int = 1
                  ) -> UnionEntropy:
    """log det(Sigma + ridge I) of the union of datasets held as running sums, each in its own
    standardisation (the generator's streams).

    Each stream's standardisation is an affine map of the raw features, so its sums are converted
    exactly (:func:`affine_moments`) and added.  The common normalisation is the union's own: centre
    and scale are the mean and (ddof 0) standard deviation of the union's rows (atoms per-atom,
    configuration means per-config), so Sigma is the rows' correlation matrix and, without the
    ridge, S = log det Sigma_B - 2 sum log scale does not depend on the feature units.  The S of each
    part on the same normalisation is returned too (comparable with the union's; a stream's stored S
    uses its own bootstrap standardisation instead).
    """
    if not parts:
        raise ValueError("no dataset")
    ref = parts[0][1]
    tot = RunningMoments(parts[0][0].m)
    for mom, norm in parts:
        t = to_normalization(mom, norm, ref)
        tot.n, tot.s, tot.M = tot.n + t.n, tot.s + t.s, tot.M + t.M
    mu = tot.s / tot.n
    var = np.clip(np.diag(tot.M) / tot.n - mu ** 2, 0.0, None)
    center = ref.center + ref.scale * mu
    scale = ref.scale * np.sqrt(var)
    scale = np.where(scale > 1e-12 * max(1.0, float(np.abs(center).max())), scale, 1.0)
    common = Normalization(center, scale, ridge, ddof)
    union = to_normalization(tot, ref, common)
    S_parts = []
    for mom, norm in parts:
        try:
            S_parts.append(logdet(to_normalization(mom, norm, common), common))
        except DegenerateCovariance:
            S_parts.append(float("nan"))
    return UnionEntropy(logdet(union, common), union.n, common, S_parts, [mom.n for mom, _ in parts])
