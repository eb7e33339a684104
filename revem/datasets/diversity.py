"""How diverse is a dataset? ``revem diversity``: feature entropy, whitened widths and QUESTS.

Every number is computed on the same descriptor, the generator's: the 55 SNAP bispectrum components
(2J_max = 8, single species, cutoff 4.73442 A at the reference density v_ref = 15.9 A^3/atom;
:mod:`revem.generator.featurizer`), of configurations rescaled uniformly to v_ref exactly as
``revem select`` does (:func:`revem.generator.select.reference_structure`): lengths x
(v_ref / V_eq)^(1/3), V_eq the composition-weighted equilibrium volume per atom of the elements
(Materials Project, ``equilibrium_volumes.json``).  A revem generator database is already in the
generator's reduced units (its own v_ref), so it is scaled by (v_ref / v_ref_run)^(1/3) and, when
its descriptor settings are those used here, its stored features are used as they are.

**Log det (seed 000, Fig. 3 and Fig. S2).**  log det Sigma of the raw features' sample covariance
(ddof 1, no ridge), per atom (one row per atom) and per configuration (one row per configuration:
the mean of its atoms' rows).  Two selections: ``truncated`` keeps the configurations whose volume
per atom is within +-25 % of the element's equilibrium volume (0.75 <= V / V_eq <= 1.25; a frame
without a cell has no volume and is left out), as in Fig. 3; ``all`` keeps every configuration
(Fig. S2).  The value is undefined (None) when the rows do not exceed the 55 features or the
covariance is singular.  Only differences between datasets are meaningful: the absolute value
changes with the units of B (any common linear map of the features shifts every log det by the
same constant).

**Uncertainties.**  ``bootstrap_sd``: standard deviation over resamples (with replacement) of a
set's configurations, at its own size.  ``matched``: mean +- sd of the log det of random subsets
(without replacement) of ``n_matched`` configurations, n_matched the smallest configuration count
among the datasets compared, so sets of different sizes compare at the same size (for the smallest
set the subsets are the whole set: its spread is the bootstrap's).  Configurations, not atoms, are
the sampling unit (the atoms of a configuration are correlated).  ``curve``: log det vs number of
configurations (random subsets, mean +- sd) for the plot.

**ZCA comparison (seed 002).**  Features are standardised with the reference set's per-feature mean
and standard deviation; C_r, C_o the two covariances in those units.  Both are regularised by the
same ridge delta I (default 1e-6, i.e. 1e-6 of a reference feature's variance: a common noise
floor), and the frame is whitened with W = (C_r + delta I)^(-1/2) (ZCA), in which the reference
has unit variance along every axis.  Widths are standard-deviation ratios sigma_o / sigma_r:
* ``zca_axes``: sqrt(diag(W (C_o + delta I) W)), one per whitened axis (the axes closest to the
  original features);
* ``ref_principal_axes``: along each eigenvector u_k of C_r, sqrt((u_k' C_o u_k + delta) / (lambda_k + delta));
* ``generalized``: sqrt of the eigenvalues of W (C_o + delta I) W, the directions of extreme
  ratio; these are invariant under any invertible linear map of the features.
For each, how many of the 55 are > 1 (broader) and >= 5 (five times broader).  C_r's condition
number is reported with and without the ridge: a large one means the reference is nearly flat in
some directions and any set looks much broader along them; ``ridge_sensitivity`` repeats the counts
with delta = 1e-3.

**QUESTS (Schwalbe-Koda et al., PyPI ``quests``).**  An independent, model-free estimate on a
different descriptor (sorted neighbour distances, k = 32, cutoff 5 A) of the same rescaled,
truncated configurations: the kernel-density entropy H (nats, Gaussian kernel of bandwidth
h = 0.015) of each set's atoms on an equal number of atoms (H grows with the number of atoms, at
most log N), and the differential entropy dH(Y | X) = -log sum_i K(y, x_i) of every atom y of one set
against the other set X: ``overlap`` is the fraction of y with dH <= 0 (y lies where X has at least
one point's worth of kernel mass; every point of X itself has dH <= 0).  Skipped with a message when
``quests`` is not installed (``pip install revem[diversity]``).
"""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np

TRUNCATION = 0.25
BROADER = 5.0
ZCA_RIDGE = 1e-6
ZCA_RIDGE_CHECK = 1e-3
QUESTS_K = 32
QUESTS_CUTOFF = 5.0
QUESTS_BANDWIDTH = 0.015
EXTXYZ_SUFFIXES = (".extxyz", ".extxyz.gz", ".xyz", ".xyz.gz")
DB_SUFFIXES = (".db",)
MODES = ("per-atom", "per-config")
SELECTIONS = ("truncated", "all")


class DiversityError(ValueError):
    """Input that ``revem diversity`` cannot use; the message names the file."""


# -- pure functions ------------------------------------------------------------------------------
def logdet_cov(X: np.ndarray) -> float | None:
    """log det of the sample covariance (ddof 1) of the rows of X; None when there are not more rows
    than columns or the covariance is not positive definite."""
    X = np.asarray(X, float)
    n, m = X.shape
    if n <= m:
        return None
    return logdet_psd(np.cov(X.T, ddof=1))


def logdet_psd(C: np.ndarray) -> float | None:
    """log det of a symmetric positive-definite matrix (Cholesky); None when it is not one."""
    try:
        L = np.linalg.cholesky(0.5 * (C + C.T))
    except np.linalg.LinAlgError:
        return None
    d = np.diag(L)
    if not np.all(np.isfinite(d)) or np.any(d <= 0):
        return None
    return float(2.0 * np.log(d).sum())


def numerical_rank(C: np.ndarray | None, rtol: float = 1e-12) -> int:
    """Eigenvalues of C above rtol x the largest (0 for None): why a log det is undefined."""
    if C is None:
        return 0
    lam = np.linalg.eigvalsh(0.5 * (C + C.T))
    return int(np.sum(lam > rtol * max(lam.max(), 0.0))) if lam.max() > 0 else 0


def truncation_mask(rel_volume: np.ndarray, window: float = TRUNCATION) -> np.ndarray:
    """Configurations with (1 - window) <= V / V_eq <= (1 + window); NaN (no cell) is outside."""
    r = np.asarray(rel_volume, float)
    with np.errstate(invalid="ignore"):
        return np.isfinite(r) & (r >= 1.0 - window - 1e-12) & (r <= 1.0 + window + 1e-12)


class Moments:
    """Per-configuration sufficient statistics of a list of (k_i, 55) feature arrays, so the
    covariance of any multiset of configurations (per atom or per configuration) is a weighted sum."""

    def __init__(self, feats: list[np.ndarray]):
        if not feats:
            raise ValueError("no configurations")
        self.m = feats[0].shape[1]
        allrows = np.vstack(feats)
        self.shift = allrows.mean(axis=0)  # covariance is shift-invariant; this keeps sums small
        self.k = np.array([len(f) for f in feats], float)
        self.S = np.stack([(f - self.shift).sum(axis=0) for f in feats])
        self.M = np.stack([(f - self.shift).T @ (f - self.shift) for f in feats]).reshape(len(feats), -1)
        self.means = self.S / self.k[:, None]

    def __len__(self) -> int:
        return len(self.k)

    def cov(self, w: np.ndarray, mode: str) -> tuple[np.ndarray | None, int]:
        """(covariance, rows) of the configurations weighted by counts ``w`` (len = configurations)."""
        w = np.asarray(w, float)
        if mode == "per-atom":
            n = float(w @ self.k)
            s = w @ self.S
            M = (w @ self.M).reshape(self.m, self.m)
        elif mode == "per-config":
            n = float(w.sum())
            s = w @ self.means
            M = (self.means * w[:, None]).T @ self.means
        else:
            raise ValueError(f"unknown mode {mode!r}")
        if n <= 1:
            return None, int(n)
        return (M - np.outer(s, s) / n) / (n - 1), int(round(n))

    def logdet(self, w: np.ndarray, mode: str) -> tuple[float | None, int]:
        C, n = self.cov(w, mode)
        if C is None or n <= self.m:
            return None, n
        return logdet_psd(C), n

    def logdet_subset(self, idx, mode: str) -> float | None:
        return self.logdet(np.bincount(np.asarray(idx, int), minlength=len(self)), mode)[0]


def _mean_sd(vals: list) -> dict:
    v = np.array([x for x in vals if x is not None], float)
    return {"mean": float(v.mean()) if len(v) else None, "sd": float(v.std(ddof=1)) if len(v) > 1 else None,
            "n_defined": int(len(v)), "n_draws": len(vals)}


def _ticked(values, tick):
    for v in values:
        if tick is not None:
            tick()
        yield v


def bootstrap(mom: Moments, mode: str, reps: int, rng: np.random.Generator, tick=None) -> dict:
    """log det over ``reps`` resamples (with replacement) of the configurations, at full size (``tick()`` after
    each: a progress bar)."""
    n = len(mom)
    vals = []
    for _ in range(reps):
        vals.append(mom.logdet(np.bincount(rng.integers(0, n, n), minlength=n), mode)[0])
        if tick is not None:
            tick()
    return _mean_sd(vals)


def subsample_draws(n: int, size: int, reps: int) -> int:
    """Random subsets :func:`subsample` draws (1 when the subset is the whole set)."""
    return 1 if min(size, n) == n else reps


def subsample(mom: Moments, mode: str, size: int, reps: int, rng: np.random.Generator, tick=None) -> dict:
    """log det of ``reps`` random subsets (without replacement) of ``size`` configurations."""
    n = len(mom)
    size = min(size, n)
    draws = subsample_draws(n, size, reps)
    vals = []
    for _ in range(draws):
        vals.append(mom.logdet_subset(rng.choice(n, size, replace=False), mode))
        if tick is not None:
            tick()
    out = _mean_sd(vals)
    out["whole_set"] = size == n  # no subsampling spread: use the bootstrap sd for this set
    if size == n:
        out["sd"] = None
    out["n_configs"] = int(size)
    return out


def curve_sizes(n: int, m: int, mode: str, points: int = 12) -> np.ndarray:
    """Subset sizes of :func:`entropy_curve` (none when the set is too small)."""
    lo = 2 if mode == "per-atom" else m + 2
    if n < lo:
        return np.zeros(0, int)
    return np.unique(np.geomspace(lo, n, points).astype(int))


def entropy_curve(mom: Moments, mode: str, reps: int, rng: np.random.Generator, points: int = 12, tick=None) -> dict:
    """log det vs number of configurations (random subsets; mean, sd per size)."""
    n = len(mom)
    sizes = curve_sizes(n, mom.m, mode, points)
    if not len(sizes):
        return {"n_configs": [], "mean": [], "sd": []}
    res = [subsample(mom, mode, int(s), reps, rng, tick) for s in sizes]
    return {"n_configs": [int(s) for s in sizes], "mean": [r["mean"] for r in res], "sd": [r["sd"] for r in res]}


def _ratio_summary(r: np.ndarray, factor: float) -> dict:
    r = np.asarray(r, float)
    return {"broader": int(np.sum(r > 1.0)), "broader_5x": int(np.sum(r >= factor)), "narrower": int(np.sum(r < 1.0)),
            "of": int(len(r)), "median_ratio": float(np.median(r)), "min_ratio": float(r.min()),
            "max_ratio": float(r.max())}


def zca_compare(ref_rows: np.ndarray, other_rows: np.ndarray, ridge: float = ZCA_RIDGE,
                factor: float = BROADER, ridge_check: float | None = ZCA_RIDGE_CHECK) -> dict:
    """Widths of ``other_rows`` in the ZCA-whitened frame of ``ref_rows`` (module docstring)."""
    R = np.asarray(ref_rows, float)
    O = np.asarray(other_rows, float)
    m = R.shape[1]
    if len(R) < 2 or len(O) < 2:
        return {"defined": False, "reason": f"needs >= 2 rows in each set (reference {len(R)}, other {len(O)})"}
    mu = R.mean(axis=0)
    sd = R.std(axis=0, ddof=1)
    sd = np.where(sd > 0, sd, 1.0)
    Cr = np.cov(((R - mu) / sd).T, ddof=1)
    Co = np.cov(((O - mu) / sd).T, ddof=1)
    lam, U = np.linalg.eigh(Cr)

    def counts(delta):
        lr = lam + delta
        if np.any(lr <= 0):
            return None
        W = (U / np.sqrt(lr)) @ U.T
        Cw = W @ (Co + delta * np.eye(m)) @ W
        zca = np.sqrt(np.clip(np.diag(Cw), 0, None))
        pc = np.sqrt(np.clip((np.einsum("ik,ij,jk->k", U, Co, U) + delta) / lr, 0, None))
        gen = np.sqrt(np.clip(np.linalg.eigvalsh(0.5 * (Cw + Cw.T)), 0, None))
        return {"zca_axes": _ratio_summary(zca, factor), "ref_principal_axes": _ratio_summary(pc, factor),
                "generalized": _ratio_summary(gen, factor), "_zca": zca, "_pc": pc, "_gen": gen}

    main = counts(ridge)
    if main is None:
        return {"defined": False, "reason": "reference covariance is not positive even with the ridge"}
    out = {"defined": True, "ridge": ridge, "ridge_units": "reference per-feature variance (features standardised "
           "by the reference's mean and sd; the same ridge is added to both covariances)",
           "factor": factor, "n_ref_rows": int(len(R)), "n_other_rows": int(len(O)),
           "ref_condition_number": float(lam.max() / lam.min()) if lam.min() > 0 else float("inf"),
           "ref_condition_number_regularised": float((lam.max() + ridge) / (lam.min() + ridge)),
           "ref_eigenvalues_min_max": [float(lam.min()), float(lam.max())],
           **{k: v for k, v in main.items() if not k.startswith("_")},
           "ratios": {"zca_axes": main["_zca"].tolist(), "ref_principal_axes": main["_pc"].tolist(),
                      "generalized": main["_gen"].tolist()}}
    if ridge_check is not None:
        chk = counts(ridge_check)
        out["ridge_sensitivity"] = {"ridge": ridge_check, **{k: {"broader": chk[k]["broader"],
                                    "broader_5x": chk[k]["broader_5x"], "median_ratio": chk[k]["median_ratio"]}
                                    for k in ("zca_axes", "ref_principal_axes", "generalized")}}
    return out


def pca_frame(ref_rows: np.ndarray):
    """(mean, sd, eigenvectors sorted by decreasing variance) of the reference's standardised rows."""
    mu = ref_rows.mean(axis=0)
    sd = ref_rows.std(axis=0, ddof=1)
    sd = np.where(sd > 0, sd, 1.0)
    lam, U = np.linalg.eigh(np.cov(((ref_rows - mu) / sd).T, ddof=1))
    order = np.argsort(lam)[::-1]
    return mu, sd, lam[order], U[:, order]


# -- reading -------------------------------------------------------------------------------------
@dataclass
class Dataset:
    name: str
    path: str
    kind: str  # 'extxyz', 'ase-db', 'revem-db'
    groups: dict = field(default_factory=dict)  # group -> {"read": n, "used": n}
    frames: list = field(default_factory=list, repr=False)  # ase.Atoms as read
    v_eq: list = field(default_factory=list, repr=False)  # V_eq per frame (A^3/atom) the rescaling uses
    stored: list = field(default_factory=list, repr=False)  # stored raw features (revem db) or None
    feats: list = field(default_factory=list, repr=False)  # raw B (k_i, 55) at the reference density
    rel_volume: np.ndarray = field(default=None, repr=False)


def _is_data_file(p: str) -> bool:
    return p.endswith(EXTXYZ_SUFFIXES + DB_SUFFIXES)


def discover(path: str) -> list[str]:
    """The data files of a dataset argument: the file itself, or a folder's extxyz/.db files
    (sorted; searched recursively when the folder itself holds none)."""
    if not os.path.exists(path):
        from ..data import parse_spec, registry
        from ..safe_io import Refused

        try:
            name, _ = parse_spec(path)
        except Refused as exc:
            raise DiversityError(str(exc)) from None
        if name in registry() or os.path.isfile(name):  # a registry name (NAME@every=N), or a file with @every
            return [path]
        raise DiversityError(f"dataset {path} does not exist (neither a file, a folder nor a registry name)")
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise DiversityError(f"dataset {path} is not a file or a folder")
    files = sorted(os.path.join(path, f) for f in os.listdir(path)
                   if _is_data_file(f) and os.path.isfile(os.path.join(path, f)))
    if not files:
        files = sorted(os.path.join(r, f) for r, _, fs in os.walk(path) for f in fs if _is_data_file(f))
    if not files:
        raise DiversityError(f"dataset {path} holds no extxyz / extxyz.gz / .db files")
    return files


def _group_name(root: str, f: str) -> str:
    f = f.partition("@every=")[0]
    rel = os.path.relpath(f, root) if os.path.isdir(root) else os.path.basename(f)
    for suf in sorted(EXTXYZ_SUFFIXES + DB_SUFFIXES, key=len, reverse=True):
        if rel.endswith(suf):
            return rel[: -len(suf)]
    return rel


def _read_file(f: str, include_bootstrap: bool):
    """(kind, [(group, frames, v_run or None, stored feats per frame)]) of one input, read through the one input
    loader (:func:`revem.data.load_configurations`: a registry name, extxyz, an ASE database, a revem generator
    database or its export (placeholder X at its v_ref: reduced units) or a ``revem rescale`` output; every read
    bounded and read-only).  A generator's rows are grouped by stream; their stored features come along.
    DiversityError naming the input."""
    from ..data import load_configurations
    from ..safe_io import Refused

    try:
        src = load_configurations(f, include_bootstrap=include_bootstrap, what="dataset file")
    except Refused as exc:
        raise DiversityError(str(exc)) from None
    v_run = src.v_ref if src.placeholder else None
    if src.kind not in ("revem-db", "rescaled-db"):
        return src.kind, [(None, src.frames, v_run, src.features)]
    groups: dict = {}
    for at, g, st in zip(src.frames, src.group, src.features):
        e = groups.setdefault(g or "?", ([], []))
        e[0].append(at)
        e[1].append(st)
    return src.kind, [(name, fr, v_run, st) for name, (fr, st) in groups.items()]


def load_dataset(path: str, max_configs: int | None = None, seed: int = 0, include_bootstrap: bool = False,
                 name: str | None = None) -> Dataset:
    """Read a dataset argument (file or folder); at most ``max_configs`` per group (file, or stream of
    a revem database), a seeded random subset in file order.  DiversityError naming the file for a
    missing, unreadable or empty dataset, or an element without an equilibrium volume."""
    from ..generator.select import SelectError, equilibrium_volume_of

    ds = Dataset(name or path.rstrip("/"), path, "extxyz")
    rng = np.random.default_rng(seed)
    for f in discover(path):
        kind, parts = _read_file(f, include_bootstrap)
        if kind != "extxyz":
            ds.kind = kind
        for gname, frames, v_run, stored in parts:
            group = _group_name(path, f) + (f":{gname}" if gname else "")
            idx = np.arange(len(frames))
            if max_configs is not None and len(frames) > max_configs:
                idx = np.sort(rng.choice(len(frames), max_configs, replace=False))
            ds.groups[group] = {"read": len(frames), "used": int(len(idx))}
            for i in idx:
                a = frames[i]
                if len(a) == 0:
                    raise DiversityError(f"dataset file {f}: configuration {i} has no atoms")
                if v_run is not None:
                    veq = v_run
                else:
                    try:
                        veq = equilibrium_volume_of(a)
                    except SelectError as exc:
                        raise DiversityError(f"dataset file {f}: {exc}") from None
                ds.frames.append(a)
                ds.v_eq.append(veq)
                ds.stored.append(stored[i] if stored is not None else None)
    if not ds.frames:
        raise DiversityError(f"dataset {path} is empty (no configurations"
                             + ("" if include_bootstrap or ds.kind != "revem-db" else " accepted") + ")")
    return ds


def featurize(ds: Dataset, featurizer, v_ref: float, bar=None) -> None:
    """Raw features at v_ref and V / V_eq of every configuration of ``ds`` (in place); ``bar``: a progress bar
    advanced once per configuration."""
    from ..generator.featurizer import FeaturizerError
    from ..generator.select import reference_structure

    margin = featurizer.settings.rcutfac + 1.0
    rel = []
    for i, (a, veq, st) in enumerate(zip(ds.frames, ds.v_eq, ds.stored)):
        det = abs(float(np.linalg.det(np.asarray(a.get_cell(), float))))
        rel.append(det / len(a) / veq if det > 1e-6 else np.nan)
        if bar is not None:
            bar.update(1)
        if st is not None and st[1] == featurizer.settings and abs(st[2] - v_ref) < 1e-12 \
                and st[0].shape == (len(a), featurizer.settings.n_features):
            ds.feats.append(st[0])
            continue
        cell, pos = reference_structure(a, v_ref, veq, margin)
        try:
            ds.feats.append(featurizer.features_of(cell, pos))
        except FeaturizerError as exc:
            raise DiversityError(f"dataset {ds.path}: configuration {i}: {exc}") from None
    ds.rel_volume = np.array(rel, float)


def rescaled_atoms(ds: Dataset, idx, v_ref: float, margin: float) -> list:
    """The configurations ``idx`` rescaled to v_ref (as featurized), for QUESTS."""
    from ase import Atoms

    from ..generator.select import reference_structure

    out = []
    for i in idx:
        cell, pos = reference_structure(ds.frames[i], v_ref, ds.v_eq[i], margin)
        out.append(Atoms(numbers=ds.frames[i].numbers, positions=pos, cell=cell, pbc=True))
    return out


# -- QUESTS ----------------------------------------------------------------------------------------
def quests_available() -> tuple[bool, str]:
    try:
        import quests.descriptor  # noqa: F401
        import quests.entropy  # noqa: F401
    except Exception as exc:  # noqa: BLE001 (ImportError, or numba failing to load)
        return False, f"QUESTS not usable ({type(exc).__name__}: {exc}); install it with pip install 'revem[diversity]'"
    return True, ""


#: configurations per QUESTS descriptor call and query atoms per kernel sum (one progress step each)
QUESTS_CONFIG_CHUNK = 64
QUESTS_ATOM_CHUNK = 2000


def _quests_entropy(x: np.ndarray, h: float, tick=None) -> float:
    """QUESTS' ``entropy(x, h)`` (-mean log of the kernel density at each point), the kernel sums taken over
    chunks of query points so that a bar can advance (the same numbers: each point's sum is its own)."""
    from quests.entropy import kernel_sum

    n = len(x)
    p = np.concatenate([_ks(kernel_sum, x[i:i + QUESTS_ATOM_CHUNK], x, h, tick) for i in range(0, n, QUESTS_ATOM_CHUNK)])
    return float(-np.mean(np.log(p / n)))


def _quests_delta(y: np.ndarray, x: np.ndarray, h: float, tick=None) -> np.ndarray:
    """QUESTS' ``delta_entropy(y, x, h)`` = -log sum_i K(y, x_i), over chunks of ``y``."""
    from quests.entropy import kernel_sum

    return np.concatenate([-np.log(_ks(kernel_sum, y[i:i + QUESTS_ATOM_CHUNK], x, h, tick))
                           for i in range(0, len(y), QUESTS_ATOM_CHUNK)])


def _ks(kernel_sum, q, x, h, tick):
    out = kernel_sum(q, x, h=h)
    if tick is not None:
        tick(len(q))
    return out


def quests_metrics(atoms_by_ds: dict, reference: str, max_atoms: int = 10000, seed: int = 0,
                   k: int = QUESTS_K, cutoff: float = QUESTS_CUTOFF, h: float = QUESTS_BANDWIDTH,
                   progress: bool = False) -> dict:
    """QUESTS entropy per dataset (on an equal number of atoms) and dH / overlap of each other
    dataset against the reference and back (module docstring).  ``progress``: two bars with ETA, the
    descriptors (configurations) and the kernel sums (query atoms)."""
    ok, why = quests_available()
    if not ok:
        return {"available": False, "reason": why}
    from quests.descriptor import get_descriptors

    import warnings

    from ..progress import bar

    rng = np.random.default_rng(seed)
    X = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba type-safety chatter
        b = bar(sum(len(a) for a in atoms_by_ds.values()), "diversity: QUESTS descriptors", progress, unit="config")
        for name, atoms in atoms_by_ds.items():
            if not atoms:
                continue
            parts = []
            for i in range(0, len(atoms), QUESTS_CONFIG_CHUNK):
                chunk = atoms[i:i + QUESTS_CONFIG_CHUNK]
                parts.append(get_descriptors(chunk, k=k, cutoff=cutoff))
                b.update(len(chunk))
            x = np.concatenate(parts)
            n_all = len(x)
            if len(x) > max_atoms:
                x = x[np.sort(rng.choice(len(x), max_atoms, replace=False))]
            X[name] = (x, n_all)
        out = {"available": True, "settings": {"k": k, "cutoff_A": cutoff, "bandwidth": h, "max_atoms": max_atoms,
                                               "units": "nats", "overlap": "fraction of atoms with dH <= 0"},
               "datasets": {}}
        b.close()
        if not X:
            return {**out, "available": True, "reason": "no configurations"}
        n_eq = min(len(x) for x, _ in X.values())
        total = sum(n_eq + len(x) for x, _ in X.values())
        if reference in X:
            total += sum(len(x) + len(X[reference][0]) for n, (x, _) in X.items() if n != reference)
        b = bar(total, "diversity: QUESTS kernel sums", progress, unit="atom")
        for name, (x, n_all) in X.items():
            xe = x if len(x) == n_eq else x[np.sort(rng.choice(len(x), n_eq, replace=False))]
            out["datasets"][name] = {"entropy": _quests_entropy(xe, h, b.update), "entropy_n_atoms": int(n_eq),
                                     "entropy_own_size": _quests_entropy(x, h, b.update), "n_atoms_used": int(len(x)),
                                     "n_atoms": int(n_all), "max_entropy_log_n": float(np.log(n_eq))}
        if reference in X:
            xr = X[reference][0]
            for name, (x, _) in X.items():
                if name == reference:
                    continue
                d_or = _quests_delta(x, xr, h, b.update)  # other given reference
                d_ro = _quests_delta(xr, x, h, b.update)  # reference given other
                out["datasets"][name]["vs_reference"] = {
                    "overlap_in_reference": float(np.mean(d_or <= 0)),
                    "dH_median": float(np.median(d_or)), "dH_p90": float(np.percentile(d_or, 90)),
                    "reference_overlap_in_this": float(np.mean(d_ro <= 0)),
                    "reference_dH_median": float(np.median(d_ro))}
    return out


# -- the analysis ------------------------------------------------------------------------------------
def _num(x):
    return None if x is None or not np.isfinite(x) else float(x)


def analyse(datasets: list[Dataset], reference: str, reps: int = 30, seed: int = 0,
            quests: bool = True, quests_max_atoms: int = 10000, v_ref: float | None = None,
            progress: bool = False) -> dict:
    """All numbers for featurized datasets (see the module docstring); the first key order is the
    one printed.  ``progress``: bars with ETA over the resampling (log dets) and the QUESTS stages."""
    from ..generator.featurizer import W_REFERENCE_VOLUME
    from ..progress import bar

    v_ref = W_REFERENCE_VOLUME if v_ref is None else v_ref
    rng = np.random.default_rng(seed)
    sel_idx = {ds.name: {"truncated": np.flatnonzero(truncation_mask(ds.rel_volume)),
                         "all": np.arange(len(ds.feats))} for ds in datasets}
    moms = {(ds.name, s): (Moments([ds.feats[i] for i in sel_idx[ds.name][s]]) if len(sel_idx[ds.name][s]) else None)
            for ds in datasets for s in SELECTIONS}
    n_match = {s: min(len(sel_idx[ds.name][s]) for ds in datasets) for s in SELECTIONS}
    creps = max(5, reps // 3)
    total = 0
    for (name, s), mom in moms.items():
        if mom is None:
            continue
        for mode in MODES:
            n = len(mom)
            total += reps + subsample_draws(n, n_match[s], reps)
            total += sum(subsample_draws(n, int(z), creps) for z in curve_sizes(n, mom.m, mode))
    b = bar(total, "diversity: log det resampling", progress, unit="logdet")
    tick = b.update
    out = {"datasets": {}}
    for ds in datasets:
        d = {"path": ds.path, "kind": ds.kind, "groups": ds.groups, "n_configs_read": len(ds.feats)}
        for s in SELECTIONS:
            mom = moms[(ds.name, s)]
            r = {"n_configs": int(len(sel_idx[ds.name][s])),
                 "n_atoms": int(sum(len(ds.feats[i]) for i in sel_idx[ds.name][s]))}
            for mode in MODES:
                key = mode.replace("-", "_")
                if mom is None:
                    r[f"logdet_{key}"] = None
                    r[f"uncertainty_{key}"] = None
                    continue
                ld, _ = mom.logdet(np.ones(len(mom)), mode)
                r[f"logdet_{key}"] = ld
                r[f"rank_{key}"] = numerical_rank(mom.cov(np.ones(len(mom)), mode)[0])
                r[f"uncertainty_{key}"] = {"bootstrap": bootstrap(mom, mode, reps, rng, tick),
                                           "matched": subsample(mom, mode, n_match[s], reps, rng, tick)}
                r[f"curve_{key}"] = entropy_curve(mom, mode, creps, rng, tick=tick)
            d[s] = r
        t = d["truncated"]
        d.update({"logdet_per_atom": t["logdet_per_atom"], "logdet_per_config": t["logdet_per_config"],
                  "n_atoms": t["n_atoms"], "n_configs": t["n_configs"],
                  "uncertainty_per_atom": t["uncertainty_per_atom"],
                  "uncertainty_per_config": t["uncertainty_per_config"]})
        out["datasets"][ds.name] = d
    b.close()
    # ZCA comparisons, truncated selection, in the reference's frame
    rows = {}
    for ds in datasets:
        idx = sel_idx[ds.name]["truncated"]
        rows[ds.name] = {"per-atom": np.vstack([ds.feats[i] for i in idx]) if len(idx) else np.zeros((0, 55)),
                         "per-config": np.array([ds.feats[i].mean(axis=0) for i in idx]) if len(idx)
                         else np.zeros((0, 55))}
    for ds in datasets:
        if ds.name == reference:
            continue
        out["datasets"][ds.name]["zca_vs_reference"] = {
            mode: zca_compare(rows[reference][mode], rows[ds.name][mode]) for mode in MODES}
    if quests:
        from ..generator.featurizer import DescriptorSettings

        margin = DescriptorSettings.for_reference_volume(v_ref).rcutfac + 1.0
        atoms = {ds.name: rescaled_atoms(ds, sel_idx[ds.name]["truncated"], v_ref, margin) for ds in datasets}
        q = quests_metrics(atoms, reference, max_atoms=quests_max_atoms, seed=seed, progress=progress)
    else:
        q = {"available": False, "reason": "skipped (--no-quests)"}
    out["quests"] = {k: v for k, v in q.items() if k != "datasets"}
    for name, v in q.get("datasets", {}).items():
        out["datasets"][name]["quests"] = v
    out["_rows"] = rows
    out["n_matched"] = n_match
    return out


# -- plots ----------------------------------------------------------------------------------------------
PLOTS = ("logdet_bars.png", "logdet_vs_configs.png", "density_pairs.png", "pca_reference_frame.png")


def _save(fig, out_dir, name: str, dpi: int) -> str:
    """Lay out, write ``out_dir/name`` (through a temporary file renamed at the end: :class:`revem.safe_io.
    OutputFolder`) and close ``fig``; returns the path."""
    import matplotlib.pyplot as plt

    from ..safe_io import OutputFolder

    fig.subplots_adjust(left=0.08, right=0.97, bottom=0.12, top=0.9, wspace=0.3, hspace=0.45)
    folder = out_dir if isinstance(out_dir, OutputFolder) else OutputFolder(out_dir)
    try:
        path = folder.write_with(name, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png"))
    finally:
        plt.close(fig)
    if not isinstance(out_dir, OutputFolder):
        folder.finish(remove_stale=False)
    return str(path)


def write_plots(res: dict, reference: str, out_dir: str) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(res["datasets"])
    files = []
    # 1. bar chart, Fig. 3 (truncated) and Fig. S2 (all)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    width = 0.8 / max(1, len(names))
    for ax, s, title in zip(axes, SELECTIONS, ("within +-25 % of V_eq (Fig. 3)", "all configurations (Fig. S2)")):
        for j, n in enumerate(names):
            d = res["datasets"][n][s]
            vals, errs = [], []
            for mode in MODES:
                key = mode.replace("-", "_")
                v = d.get(f"logdet_{key}")
                u = d.get(f"uncertainty_{key}") or {}
                vals.append(np.nan if v is None else v)
                errs.append((u.get("bootstrap") or {}).get("sd") or 0.0)
            x = np.arange(len(MODES)) + (j - (len(names) - 1) / 2) * width
            bars = ax.bar(x, vals, width, yerr=errs, capsize=3, label=f"{os.path.basename(n) or n}")
            for b, mode in zip(bars, MODES):
                key = "n_atoms" if mode == "per-atom" else "n_configs"
                ax.annotate(f"n={d[key]}", (b.get_x() + b.get_width() / 2, 0), ha="center", va="bottom", fontsize=7,
                            rotation=90)
        ax.set_xticks(np.arange(len(MODES)), MODES)
        ax.axhline(0, color="k", lw=0.5)
        ax.set_title(title, fontsize=10)
    axes[0].set_ylabel("log det Sigma (raw SNAP B, 55 components)")
    axes[0].legend(fontsize=8)
    files.append(_save(fig, out_dir, "logdet_bars.png", dpi=120))
    # 2. entropy vs number of configurations
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, mode in zip(axes, MODES):
        key = mode.replace("-", "_")
        for n in names:
            c = res["datasets"][n]["truncated"].get(f"curve_{key}") or {}
            xs = np.array(c.get("n_configs", []), float)
            ms = np.array([np.nan if v is None else v for v in c.get("mean", [])], float)
            sd = np.array([0.0 if v is None else v for v in c.get("sd", [])], float)
            if len(xs):
                ax.errorbar(xs, ms, yerr=sd, marker="o", ms=3, capsize=2, label=os.path.basename(n) or n)
        ax.set_xscale("log")
        ax.set_xlabel("configurations (random subsets, truncated selection)")
        ax.set_ylabel(f"log det Sigma, {mode}")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    files.append(_save(fig, out_dir, "logdet_vs_configs.png", dpi=120))
    rows = res["_rows"]
    # 3. 2D densities of pairs of low-order components (per atom, raw B)
    pairs = [(0, 1), (0, 2), (1, 2)]
    fig, axes = plt.subplots(len(names), len(pairs), figsize=(4 * len(pairs), 3.4 * len(names)), squeeze=False)
    allr = np.vstack([rows[n]["per-atom"] for n in names if len(rows[n]["per-atom"])])
    for j, (a, b) in enumerate(pairs):
        lo = np.percentile(allr[:, [a, b]], 0.5, axis=0)
        hi = np.percentile(allr[:, [a, b]], 99.5, axis=0)
        for i, n in enumerate(names):
            ax = axes[i, j]
            r = rows[n]["per-atom"]
            if len(r):
                ax.hist2d(r[:, a], r[:, b], bins=80, range=[[lo[0], hi[0]], [lo[1], hi[1]]], density=True,
                          norm=matplotlib.colors.LogNorm(), cmap="viridis")
            ax.set_xlabel(f"B{a}")
            ax.set_ylabel(f"B{b}")
            ax.set_title(f"{os.path.basename(n) or n}", fontsize=9)
    files.append(_save(fig, out_dir, "density_pairs.png", dpi=110))
    # 4. PCA projection in the reference's principal axes
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, mode in zip(axes, MODES):
        R = rows[reference][mode]
        if len(R) < 3:
            continue
        mu, sd, lam, U = pca_frame(R)
        for n in [reference] + [x for x in names if x != reference]:
            r = rows[n][mode]
            if not len(r):
                continue
            if len(r) > 5000:  # a readable (and fast) scatter: a seeded subset of the rows
                r = r[np.sort(np.random.default_rng(0).choice(len(r), 5000, replace=False))]
            p = ((r - mu) / sd) @ U[:, :2]
            ax.scatter(p[:, 0], p[:, 1], s=2 if mode == "per-atom" else 6, alpha=0.4,
                       label=f"{os.path.basename(n) or n}{' (reference)' if n == reference else ''}")
        ax.set_xlabel(f"PC1 of reference ({lam[0] / lam.sum():.0%} of its variance)")
        ax.set_ylabel(f"PC2 of reference ({lam[1] / lam.sum():.0%})")
        ax.set_title(f"{mode}, standardised by the reference", fontsize=10)
        ax.legend(fontsize=8, markerscale=4)
    files.append(_save(fig, out_dir, "pca_reference_frame.png", dpi=120))
    return files


# -- CLI ----------------------------------------------------------------------------------------------
def _fmt(x, nd=1):
    return "n/a" if x is None else f"{x:.{nd}f}"


def _pm(u):
    if not u or u.get("mean") is None:
        return "n/a"
    if u.get("whole_set"):
        return "(whole set)"
    return f"{u['mean']:.1f} +- {_fmt(u.get('sd'))}"


def text_report(res: dict, reference: str) -> str:
    s = res["settings"]
    L = [f"descriptor: SNAP 2J_max={s['twojmax']} ({s['n_features']} components), single species, cutoff "
         f"{s['rcutfac']:.5f} A at v_ref {s['v_ref']} A^3/atom; configurations rescaled by (v_ref/V_eq)^(1/3)",
         "log det Sigma of the raw features (ddof 1, no ridge); only differences between sets mean anything.",
         f"uncertainty: bootstrap sd over configurations ({s['reps']} resamples); matched = random subsets of the "
         f"smallest set's size (mean +- sd)", ""]
    for sel, title in (("truncated", "within +-25 % of V_eq (seed 000 Fig. 3)"), ("all", "all configurations (Fig. S2)")):
        L.append(f"== {title}; matched size: {res['n_matched'][sel]} configurations")
        L.append(f"{'dataset':<40} {'configs':>7} {'atoms':>7} | {'per-atom':>9} {'boot sd':>7} {'matched':>16} | "
                 f"{'per-config':>10} {'boot sd':>7} {'matched':>16}")
        for n, d in res["datasets"].items():
            r = d[sel]
            ua, uc = r.get("uncertainty_per_atom") or {}, r.get("uncertainty_per_config") or {}
            L.append(f"{n[-40:]:<40} {r['n_configs']:>7} {r['n_atoms']:>7} | {_fmt(r['logdet_per_atom']):>9} "
                     f"{_fmt((ua.get('bootstrap') or {}).get('sd')):>7} {_pm(ua.get('matched')):>16} | "
                     f"{_fmt(r['logdet_per_config']):>10} {_fmt((uc.get('bootstrap') or {}).get('sd')):>7} "
                     f"{_pm(uc.get('matched')):>16}")
        undefined = [f"{n} {m} (rank {d[sel].get('rank_' + m.replace('-', '_'))} of {s['n_features']})"
                     for n, d in res["datasets"].items() for m in MODES
                     if d[sel].get("logdet_" + m.replace("-", "_")) is None and d[sel]["n_configs"]]
        if undefined:
            L.append("n/a: covariance singular or too few rows: " + "; ".join(undefined))
        L.append("")
    L.append(f"== ZCA-whitened widths in the frame of {reference} (truncated selection; sd ratio other/reference)")
    for n, d in res["datasets"].items():
        for mode, z in (d.get("zca_vs_reference") or {}).items():
            if not z.get("defined"):
                L.append(f"{n} {mode}: undefined ({z.get('reason')})")
                continue
            parts = [f"{k.replace('_', ' ')}: broader {z[k]['broader']}/{z[k]['of']}, >=5x {z[k]['broader_5x']}, "
                     f"median x{z[k]['median_ratio']:.3g}" for k in ("zca_axes", "ref_principal_axes", "generalized")]
            rs = z["ridge_sensitivity"]
            L.append(f"{n} {mode} ({z['n_other_rows']} vs {z['n_ref_rows']} rows): " + "; ".join(parts))
            L.append(f"    reference condition number {z['ref_condition_number']:.3g} (with ridge {z['ridge']:g}: "
                     f"{z['ref_condition_number_regularised']:.3g}); with ridge {rs['ridge']:g}: whitened axes "
                     f"broader {rs['zca_axes']['broader']}, >=5x {rs['zca_axes']['broader_5x']}; principal "
                     f"{rs['ref_principal_axes']['broader']}/{rs['ref_principal_axes']['broader_5x']}")
    L.append("")
    q = res["quests"]
    if not q.get("available"):
        L.append(f"== QUESTS: skipped: {q.get('reason')}")
    else:
        st = q["settings"]
        L.append(f"== QUESTS (k={st['k']}, cutoff {st['cutoff_A']} A, bandwidth {st['bandwidth']}; nats; truncated "
                 f"selection, rescaled)")
        for n, d in res["datasets"].items():
            qd = d.get("quests")
            if not qd:
                continue
            line = (f"{n[-40:]:<40} H = {qd['entropy']:.3f} on {qd['entropy_n_atoms']} atoms (max log N "
                    f"{qd['max_entropy_log_n']:.2f}); H = {qd['entropy_own_size']:.3f} on its {qd['n_atoms_used']} atoms")
            v = qd.get("vs_reference")
            if v:
                line += (f"; overlap with reference {v['overlap_in_reference']:.3f} (median dH {v['dH_median']:.2f}), "
                         f"reference inside this {v['reference_overlap_in_this']:.3f}")
            L.append(line)
    return "\n".join(L)


def check_options(args) -> None:
    """Every numeric option in range (finite), before any file is read; DiversityError naming it."""
    from ..safe_io import Refused, number

    try:
        number(args.reps, "--reps", lo=2, hi=100000, integer=True)
        number(args.seed, "--seed", lo=0, integer=True)
        number(args.v_ref, "--v-ref", lo=0, hi=1e4, lo_open=True, unit=" A^3/atom")
        number(args.quests_max_atoms, "--quests-max-atoms", lo=2, integer=True)
        if args.max_configs is not None:
            number(args.max_configs, "--max-configs", lo=1, integer=True)
    except Refused as exc:
        raise DiversityError(str(exc)) from None


def run(args) -> int:
    from ..generator.featurizer import DescriptorSettings, FeaturizerError, LammpsSnapFeaturizer
    from ..safe_io import OutputError, OutputFolder, Refused

    t0 = time.perf_counter()
    folder = None
    try:
        check_options(args)
        paths = list(dict.fromkeys(args.datasets))  # a dataset named twice is one dataset
        if args.reference and args.reference not in paths:
            paths = [args.reference] + paths
        for p in paths:
            discover(p)  # every input exists before any work
        if args.out:
            folder = OutputFolder(args.out, "--out", inputs=paths, command="revem diversity")
            folder.plan(*PLOTS)
        datasets = [load_dataset(p, args.max_configs, args.seed, args.include_bootstrap) for p in paths]
        if not getattr(args, "no_progress", True):
            for ds in datasets:
                print(f"revem diversity: {ds.name}: {len(ds.frames)} configurations ({ds.kind}; "
                      f"{len(ds.groups)} group(s))", file=sys.stderr, flush=True)
        reference = (args.reference or paths[0]).rstrip("/")
        settings = DescriptorSettings.for_reference_volume(args.v_ref)
        from ..progress import bar

        progress = not getattr(args, "no_progress", True)
        f = LammpsSnapFeaturizer(settings)
        b = bar(sum(len(ds.frames) for ds in datasets), "diversity: features", progress, unit="config")
        try:
            for ds in datasets:
                featurize(ds, f, args.v_ref, b)
        finally:
            b.close()
            f.close()
        t1 = time.perf_counter()
        res = analyse(datasets, reference, reps=args.reps, seed=args.seed, quests=not args.no_quests,
                      quests_max_atoms=args.quests_max_atoms, v_ref=args.v_ref, progress=progress)
        t2 = time.perf_counter()
        res["settings"] = {**settings.as_dict(), "n_features": settings.n_features, "v_ref": args.v_ref,
                           "truncation": TRUNCATION, "reps": args.reps, "seed": args.seed,
                           "max_configs_per_group": args.max_configs, "include_bootstrap": args.include_bootstrap,
                           "reference": reference, "zca_ridge": ZCA_RIDGE, "broader_factor": BROADER}
        res["reference"] = reference
        res["plots"] = write_plots(res, reference, folder) if folder is not None else []
        if folder is not None:
            folder.finish(remove_stale=False)
    except OutputError as exc:
        if folder is not None:
            folder.abort()
        print(f"revem diversity: {exc}", file=sys.stderr)
        return 1
    except (DiversityError, FeaturizerError, Refused) as exc:
        if folder is not None:
            folder.abort()
        print(f"revem diversity: {exc}", file=sys.stderr)
        return 2
    res["times_s"] = {"read_and_features": round(t1 - t0, 2), "analysis": round(t2 - t1, 2),
                      "plots": round(time.perf_counter() - t2, 2)}
    if args.json:
        print(json.dumps({k: v for k, v in res.items() if not k.startswith("_")}, indent=1))
    else:
        print(text_report(res, reference))
        if res["plots"]:
            print("plots: " + ", ".join(res["plots"]))
        print("times (s): " + ", ".join(f"{k} {v}" for k, v in res["times_s"].items()))
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "diversity", help="feature entropy (log det), ZCA-whitened widths and QUESTS entropy of datasets",
        description="Compare the diversity of datasets on the generator's 55 SNAP components, configurations "
                    "rescaled to the reference density: log det of the per-atom and per-configuration feature "
                    "covariance within +-25 %% of the equilibrium density and without truncation, with bootstrap and "
                    "size-matched uncertainties; widths in the ZCA-whitened frame of the reference; QUESTS entropy "
                    "and overlap. See revem/diversity.py for the definitions.",
        epilog="exit status: 0 done; 2 refused (missing, unreadable or empty dataset, element without an "
               "equilibrium volume; the message names it)")
    p.add_argument("datasets", nargs="+", help="registry names (NAME@every=N), extxyz / extxyz.gz files, folders of "
                   "them, ASE databases, revem generator databases, their exports or revem rescale outputs")
    p.add_argument("--reference", default=None, help="dataset whose frame the ZCA / PCA / QUESTS overlap use "
                   "(default: the first)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--out", default=None, help="folder for the plots (none written without it)")
    p.add_argument("--max-configs", type=int, default=None,
                   help="at most N configurations per group (file, or stream of a revem database; seeded random subset)")
    p.add_argument("--include-bootstrap", action="store_true", help="revem databases: also the bootstrap configurations")
    p.add_argument("--reps", type=int, default=30, help="bootstrap resamples / random subsets (default 30)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--v-ref", type=float, default=15.9, help="reference volume per atom, A^3 (default 15.9)")
    p.add_argument("--quests-max-atoms", type=int, default=10000, help="atoms per set for QUESTS (random subset)")
    p.add_argument("--no-quests", action="store_true")
    p.add_argument("--no-progress", "--quiet", dest="no_progress", action="store_true",
                   help="no progress bars (features, log det resampling, QUESTS descriptors and kernel sums)")
    p.set_defaults(func=run)
