"""D-optimal selection from an existing pool of configurations (``revem select``).

Greedy maximisation of the generator's entropy S = log det(Sigma + eps I) (seed paper eq. 3;
:mod:`revem.generator.entropy`) over subsets of a pool: at each step the configuration whose
addition raises S most is taken, for a subset of N configurations.  Rows are, as in the
generator, every atom (``per-atom``) or each configuration's mean (``per-config``) of the 55
standardised SNAP bispectrum components.

**Features.**  The generator's featurizer (:class:`~revem.generator.featurizer.LammpsSnapFeaturizer`,
single species, the paper's W cutoff 4.73442 A at the reference density v_ref = 15.9 A^3/atom).
Each configuration is first rescaled uniformly to the generator's reference density: lengths are
multiplied by (v_ref / V_eq)^(1/3), with V_eq the composition-weighted mean of its elements'
equilibrium volumes per atom (Materials Project, ``equilibrium_volumes.json``; the inverse of
``revem rescale``) or ``pool_volume`` when given.  A compressed or expanded configuration thus
stays compressed or expanded relative to the element's equilibrium, as the generator's windows are
relative to v_ref.  Species are not distinguished (the descriptor is the generator's single-species
one).  A frame without a cell (no periodicity) is put in a box with a margin of cutoff + 1 A.

**Normalisation.**  z = (B - c) / s with c and s the mean and standard deviation of all atoms of
the pool (the generator takes them from its bootstrap atoms), ridge eps = 1e-6, ddof 1.

**Updates.**  The subset is held as (n, mean, scatter W).  Adding a configuration with k rows,
mean x and within-configuration scatter C gives W' = W + C + (n k / (n + k)) (x - mean)(x - mean)^T,
S' = log det(W' + (n' - 1) eps I) - m log(n' - 1).  With A = W + (n' - 1) eps I (one Cholesky
factor per step and per distinct k), the matrix determinant lemma gives
log det(A + V^T V) = log det A + log det(I + V A^-1 V^T) with V the k + 1 update rows, so a
per-config candidate costs one triangular solve (rank one) and a per-atom candidate with k + 1 < m
rows a (k + 1) x (k + 1) determinant; larger cells use the m x m matrix directly (batched).
With fewer rows than features the ridge term makes the greedy step take the configuration furthest
from the affine span of those chosen (volume sampling); the first configuration (when every score is
undefined, e.g. per-config) is the one furthest from the pool mean.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import cho_factor, solve_triangular

from .entropy import MODES, Normalization, sample_rows
from .featurizer import W_REFERENCE_VOLUME, DescriptorSettings

RIDGE = 1e-6


class SelectError(ValueError):
    """Input that ``revem select`` cannot use; the message names the problem."""


# -- reading ------------------------------------------------------------------------------
POOL_SUFFIXES = (".extxyz", ".extxyz.gz", ".xyz", ".xyz.gz", ".db", ".json")
OUT_SUFFIXES = (".extxyz", ".xyz", ".extxyz.gz", ".xyz.gz")


def read_pool(path: str, element: str | None = None) -> list:
    """Frames of one pool input, through the one input loader (:func:`revem.data.load_configurations`): a
    registry name (``NAME@every=N``), an extxyz(.gz) file, an ASE database (SQLite or ASE's JSON), a revem
    generator database or its export (placeholder species X at the run's v_ref; rescaled to ``element`` when
    given, as ``revem rescale``) or a ``revem rescale`` output; every read bounded and read-only.  A placeholder
    frame carries its v_ref in ``info['revem_v_ref']`` (its reference density, :func:`equilibrium_volume_of`).
    SelectError naming the input."""
    return load_pool(path, element).frames


def load_pool(path: str, element: str | None = None):
    """:func:`read_pool` with the loader's :class:`revem.data.Loaded` record."""
    from ..data import load_configurations
    from ..safe_io import Refused

    try:
        return load_configurations(path, element, what="pool")
    except Refused as exc:
        raise SelectError(str(exc)) from None


# -- features -------------------------------------------------------------------------------
def equilibrium_volume_of(atoms, pool_volume: float | None = None) -> float:
    """V_eq (A^3/atom) of a configuration: ``pool_volume`` or the composition-weighted mean of its
    elements' equilibrium volumes; SelectError for an element without one."""
    if pool_volume is not None:
        return float(pool_volume)
    from ..data import PLACEHOLDER, V_REF_KEY
    from .rescale import equilibrium_volume

    syms = atoms.get_chemical_symbols()
    if set(syms) == {PLACEHOLDER} and atoms.info.get(V_REF_KEY) is not None:  # the generator's reduced units
        return float(atoms.info[V_REF_KEY])
    vols = {}
    for el in set(syms):
        try:
            vols[el] = equilibrium_volume(el)
        except KeyError:
            raise SelectError(f"no equilibrium volume for element {el!r}; give the pool's volume per atom "
                              f"with --pool-volume") from None
    return float(np.mean([vols[s] for s in syms]))


def reference_structure(atoms, v_ref: float, pool_volume: float | None, margin: float):
    """(cell, positions) of a configuration rescaled to ``v_ref`` (see the module docstring)."""
    factor = (v_ref / equilibrium_volume_of(atoms, pool_volume)) ** (1.0 / 3.0)
    pos = atoms.get_positions() * factor
    cell = np.asarray(atoms.get_cell(), float) * factor
    if abs(np.linalg.det(cell)) < 1e-6:  # no cell: an isolated cluster in a box with a margin
        lo, hi = pos.min(axis=0), pos.max(axis=0)
        cell = np.diag(hi - lo + 2 * margin)
        pos = pos - lo + margin
    return cell, pos


def pool_features(frames: list, v_ref: float = W_REFERENCE_VOLUME, pool_volume: float | None = None,
                  featurizer=None, progress: bool = False) -> list[np.ndarray]:
    """Raw bispectrum features (N_c, 55) of each frame, at the reference density (a progress bar with ETA
    when ``progress``)."""
    from ..progress import each
    from .featurizer import FeaturizerError, LammpsSnapFeaturizer

    own = featurizer is None
    f = featurizer or LammpsSnapFeaturizer(DescriptorSettings.for_reference_volume(v_ref))
    margin = f.settings.rcutfac + 1.0
    out = []
    try:
        for i, a in enumerate(each(frames, "select: features", progress, unit="config")):
            if len(a) == 0:
                raise SelectError(f"frame {i} of the pool has no atoms")
            cell, pos = reference_structure(a, v_ref, pool_volume, margin)
            try:
                out.append(f.features_of(cell, pos))
            except FeaturizerError as exc:
                raise SelectError(f"frame {i} of the pool: {exc}") from None
    finally:
        if own:
            f.close()
    return out


# -- entropy of a subset --------------------------------------------------------------------
def subset_entropy(rows_list: list[np.ndarray], idx, ridge: float = RIDGE) -> float:
    """S = log det(cov + ridge I) (ddof 1) of the rows of the configurations ``idx``, from scratch."""
    X = np.vstack([rows_list[i] for i in idx])
    if len(X) < 2:
        return float("nan")
    C = np.atleast_2d(np.cov(X.T, ddof=1)) + ridge * np.eye(X.shape[1])
    sign, ld = np.linalg.slogdet(C)
    return float(ld) if sign > 0 else float("nan")


@dataclass
class Selection:
    order: list  # pool indices, in the order chosen
    S_path: list  # S after each pick (nan while undefined)
    rows_list: list = field(repr=False, default=None)
    norm: Normalization = field(repr=False, default=None)


def _candidate_data(rows_list):
    k = np.array([len(r) for r in rows_list])
    mean = np.array([r.mean(axis=0) for r in rows_list])
    return k, mean


def greedy_select(rows_list: list[np.ndarray], n_select: int, ridge: float = RIDGE,
                  lemma_max_rank: int | None = None, progress: bool = False) -> Selection:
    """Greedy D-optimal subset of ``n_select`` configurations (rows of each: (k_c, m), standardised).

    Exact greedy on S = log det(W/(n-1) + ridge I) with rank-(k+1) updates (module docstring).
    ``lemma_max_rank``: use the determinant lemma for candidates with k + 1 <= that (default m - 1),
    the batched m x m log det above it (the two agree; a test checks it).
    """
    P = len(rows_list)
    m = rows_list[0].shape[1]
    if lemma_max_rank is None:
        lemma_max_rank = m - 1
    k, xbar = _candidate_data(rows_list)
    Xc = [r - xbar[i] for i, r in enumerate(rows_list)]  # within-configuration centred rows
    big = np.flatnonzero(k + 1 > lemma_max_rank)
    Cc = {int(i): Xc[i].T @ Xc[i] for i in big}
    center_dist = np.einsum("ij,ij->i", xbar, xbar)  # pool rows are centred: distance from the pool mean
    chosen = np.zeros(P, bool)
    n, mu, W = 0, np.zeros(m), np.zeros((m, m))
    order, path = [], []
    eye = np.eye(m)
    from ..progress import each

    for _ in each(range(n_select), "select: greedy", progress, unit="pick"):
        score = np.full(P, -np.inf)
        for kk in np.unique(k[~chosen]):
            cand = np.flatnonzero((k == kk) & ~chosen)
            n2 = n + kk
            if n2 - 1 <= 0:
                continue
            A = W + (n2 - 1) * ridge * eye
            L = cho_factor(A, lower=True)[0]
            ldA = 2.0 * np.log(np.diag(L)).sum()
            w = np.sqrt(n * kk / n2)
            d = (xbar[cand] - mu) * w  # (G, m)
            if kk == 1:  # rank one: log(1 + d^T A^-1 d)
                Y = solve_triangular(L, d.T, lower=True, check_finite=False)
                upd = np.log1p(np.einsum("ij,ij->j", Y, Y))
            elif kk + 1 <= lemma_max_rank:  # rank k + 1 through the lemma
                V = np.concatenate([np.stack([Xc[i] for i in cand]), d[:, None, :]], axis=1)  # (G, k+1, m)
                Y = solve_triangular(L, V.reshape(-1, m).T, lower=True, check_finite=False)
                Y = Y.T.reshape(len(cand), kk + 1, m)
                G = np.einsum("gim,gjm->gij", Y, Y) + np.eye(kk + 1)
                upd = np.linalg.slogdet(G)[1]
            else:  # full m x m, batched
                upd = np.empty(len(cand))
                for s in range(0, len(cand), 256):
                    cc = cand[s:s + 256]
                    Ms = np.stack([A + Cc[int(i)] for i in cc]) + np.einsum("gi,gj->gij", d[s:s + 256], d[s:s + 256])
                    sign, ld = np.linalg.slogdet(Ms)
                    upd[s:s + 256] = np.where(sign > 0, ld - ldA, -np.inf)
            score[cand] = ldA + upd - m * np.log(n2 - 1)
        if np.all(~np.isfinite(score[~chosen])):  # nothing defined yet: the farthest from the pool mean
            cd = np.where(chosen, -np.inf, center_dist)
            best = int(np.argmax(cd))
            S_new = float("nan")
        else:
            best = int(np.argmax(np.where(chosen, -np.inf, score)))
            S_new = float(score[best])
        kk = int(k[best])
        n2 = n + kk
        dlt = xbar[best] - mu
        W = W + Xc[best].T @ Xc[best] + (n * kk / n2) * np.outer(dlt, dlt)
        W = 0.5 * (W + W.T)
        mu = mu + dlt * kk / n2
        n = n2
        chosen[best] = True
        order.append(best)
        path.append(S_new)
    return Selection(order, path, rows_list)


def random_subsets(rows_list: list[np.ndarray], n_select: int, n_random: int, seed: int = 0,
                   ridge: float = RIDGE, progress: bool = False) -> np.ndarray:
    from ..progress import each

    rng = np.random.default_rng(seed)
    return np.array([subset_entropy(rows_list, rng.choice(len(rows_list), n_select, replace=False), ridge)
                     for _ in each(range(n_random), "select: random subsets", progress, unit="subset")])


@dataclass
class SelectResult:
    order: list
    S: float
    S_random: np.ndarray
    S_pool: float
    n_pool: int
    rows_subset: int
    rows_pool: int
    times: dict
    frames: list = field(repr=False, default=None)
    S_path: list = field(repr=False, default=None)

    def summary(self) -> dict:
        """Numbers for the report; S values are None where undefined (fewer than 2 rows)."""
        r = self.S_random[np.isfinite(self.S_random)]
        num = lambda x: float(x) if x is not None and np.isfinite(x) else None  # noqa: E731
        mean = float(r.mean()) if len(r) else None
        sd = float(r.std(ddof=1)) if len(r) > 1 else None
        return {"n_select": len(self.order), "n_pool": self.n_pool, "S_subset": num(self.S),
                "S_random_mean": mean, "S_random_sd": sd, "S_random_max": float(r.max()) if len(r) else None,
                "n_random": len(self.S_random),
                "z_score": num((self.S - mean) / sd) if mean is not None and sd else None,
                "S_pool": num(self.S_pool), "rows_subset": self.rows_subset, "rows_pool": self.rows_pool,
                "order": [int(i) for i in self.order], "times_s": self.times}


def select(paths: list[str], n_select: int, mode: str = "per-config", n_random: int = 20, seed: int = 0,
           pool_volume: float | None = None, ridge: float = RIDGE, element: str | None = None,
           progress: bool = False) -> SelectResult:
    """Read the pool(s), featurize, select greedily, and score random subsets of the same size.
    SelectError (nothing written) for a missing or unreadable pool, N outside [1, pool size], an
    unknown mode, or an element without an equilibrium volume (and no ``pool_volume``)."""
    if mode not in MODES:
        raise SelectError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    if n_select < 1:
        raise SelectError(f"--n must be >= 1 (got {n_select})")
    if pool_volume is not None and not (np.isfinite(pool_volume) and pool_volume > 0):
        raise SelectError(f"--pool-volume must be > 0 A^3/atom (got {pool_volume})")
    t0 = time.perf_counter()
    frames = [a for p in paths for a in read_pool(p, element)]
    if n_select > len(frames):
        raise SelectError(f"--n {n_select} is larger than the pool ({len(frames)} configurations in "
                          f"{', '.join(paths)})")
    for a in frames:  # every element has a volume, before the (slower) features
        equilibrium_volume_of(a, pool_volume)
    t1 = time.perf_counter()
    feats = pool_features(frames, pool_volume=pool_volume, progress=progress)
    t2 = time.perf_counter()
    norm = Normalization.from_features(np.vstack(feats), ridge=ridge)
    rows_list = [sample_rows(norm.apply(f), mode) for f in feats]
    sel = greedy_select(rows_list, n_select, ridge, progress=progress)
    t3 = time.perf_counter()
    S = subset_entropy(rows_list, sel.order, ridge)
    S_rand = random_subsets(rows_list, n_select, n_random, seed, ridge, progress=progress)
    t4 = time.perf_counter()
    return SelectResult(sel.order, S, S_rand, subset_entropy(rows_list, range(len(rows_list)), ridge),
                        len(frames), int(sum(len(rows_list[i]) for i in sel.order)),
                        int(sum(len(r) for r in rows_list)),
                        {"read": round(t1 - t0, 3), "features": round(t2 - t1, 3),
                         "greedy": round(t3 - t2, 3), "random_subsets": round(t4 - t3, 3)},
                        frames, sel.S_path)


def subset_frames(res: SelectResult) -> list:
    """The chosen frames (as read, not rescaled) in the order chosen, with their rank, pool index and S."""
    frames = []
    for rank, (i, s) in enumerate(zip(res.order, res.S_path)):
        a = res.frames[i].copy()
        a.calc = res.frames[i].calc
        a.info.update({"select_rank": rank, "pool_index": int(i),
                       "select_S_after": float(s) if np.isfinite(s) else "nan"})
        frames.append(a)
    return frames


def write_subset(res: SelectResult, out: str, folder=None) -> list[str]:
    """Write the subset (:func:`subset_frames`) as extxyz: through a temporary file in the output folder,
    renamed at the end, so ``out`` is never half-written; info values extxyz cannot carry are escaped or
    dropped (:func:`revem.safe_io.write_extxyz`).  ``folder``: the planned
    :class:`revem.safe_io.OutputFolder` of ``out`` (made here when None).  Returns the notes."""
    from ..safe_io import check_output_file, write_extxyz

    folder = folder or check_output_file(out, suffixes=OUT_SUFFIXES)
    notes: list = []
    folder.write_with(os.path.basename(out), lambda tmp: notes.extend(write_extxyz(subset_frames(res), tmp)))
    folder.finish(remove_stale=False)
    return notes


def check_options(args) -> None:
    """The numeric options in range (finite), before any file is read (argparse checks them too; this is the
    check for a namespace made otherwise); :class:`revem.safe_io.Refused` naming the option."""
    from ..safe_io import number

    number(args.n, "--n", lo=1, integer=True)
    number(args.random, "--random", lo=2, hi=100000, integer=True)
    number(args.seed, "--seed", lo=0, integer=True)
    if args.pool_volume is not None:
        number(args.pool_volume, "--pool-volume", lo=0, lo_open=True, unit=" A^3/atom")
    if args.mode not in MODES:
        raise SelectError(f"--mode {args.mode!r}: expected one of {', '.join(MODES)}")
    if getattr(args, "element", None) is not None:
        from ..data import _check_element

        _check_element(args.element)


def run(args) -> int:
    """``revem select``: every option and path checked before any work (``--out`` not an input, not a
    directory, not a file revem did not write; the pools regular files), then select and write."""
    import json
    import sys

    from ..safe_io import OutputError, Refused, check_output_file

    def refuse(exc, rc=2):
        print(f"revem select: {exc}", file=sys.stderr)
        return rc

    try:
        check_options(args)
        from ..data import resolve_input

        local = [resolve_input(p, "pool")[1] for p in args.pool]  # a file or a registry name, before any work
        folder = check_output_file(args.out, inputs=local, suffixes=OUT_SUFFIXES)
        res = select(args.pool, args.n, args.mode, n_random=args.random, seed=args.seed,
                     pool_volume=args.pool_volume, element=getattr(args, "element", None),
                     progress=not getattr(args, "no_progress", True))
        notes = write_subset(res, args.out, folder)
    except OutputError as exc:
        return refuse(exc, 1)
    except (SelectError, Refused) as exc:
        return refuse(exc)
    for n in notes:
        print(f"revem select: {args.out}: {n}", file=sys.stderr)
    d = res.summary()
    if args.json:
        print(json.dumps(d, indent=2))
        return 0
    print(f"selected {d['n_select']} of {d['n_pool']} configurations ({args.mode}, {d['rows_subset']} rows) "
          f"-> {args.out}")
    f = lambda x: "undefined (< 2 rows)" if x is None else f"{x:.4f}"  # noqa: E731
    print(f"S (log det of the standardised covariance + 1e-6 I): subset {f(d['S_subset'])}; "
          f"{d['n_random']} random subsets of the same size {f(d['S_random_mean'])} +- {f(d['S_random_sd'])} "
          f"(max {f(d['S_random_max'])}); whole pool {f(d['S_pool'])} ({d['rows_pool']} rows)")
    print("times (s): " + ", ".join(f"{k} {v:.2f}" for k, v in d["times_s"].items()))
    return 0
