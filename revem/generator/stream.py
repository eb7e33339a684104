"""One greedy entropy-maximisation stream: a (window, mode) pair (seed paper Fig. 1, Sec. 5.1).

The stream starts from a bootstrap of random, unoptimised configurations (:func:`bootstrap`; the
start rule is described there).  Iteration k draws a random candidate from
``np.random.default_rng([seed, window, mode, 1, k])``,
maximises F = K log det Sigma(S u C) - V_core(C) over its positions, rejects it if two atoms are
closer than R_min, and accepts it iff S(S u C) > S(S).  K adapts: ``patience`` consecutive
failures to raise S multiply K by ``k_up``; an R_min rejection multiplies it by ``k_down``.
Everything a stream does is a function of its checkpoint and the iteration number, so a resumed
stream repeats an uninterrupted one exactly.  One process at a time owns a stream (its lease in
the database, :mod:`revem.generator.locking`), so a stream is never advanced twice.
"""
from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field

import numpy as np
from ase import Atoms

from .candidate import DEFAULT_ATOMS, LEGACY_ATOMS, OPTIMIZERS, Objective, min_distance, random_structure
from .entropy import (MODES, DegenerateCovariance, Normalization, RunningMoments, logdet,
                      sample_rows)
from .featurizer import DescriptorSettings, FeaturizerError, LammpsSnapFeaturizer
from .locking import Owner
from .storage import SPECIES, Store
from .windows import Window

log = logging.getLogger("revem.generator")

# spec fields that may change on --resume (everything else must match the stored stream)
RESUMABLE_FIELDS = ("iterations",)

#: spec fields added after databases were first written, with the value that reproduces what a
#: stream stored without them did: such a stream is resumed (and compared) with that value, so a
#: run created before keeps its rule
LEGACY_SPEC = {"bootstrap_rows": 0, "atoms": LEGACY_ATOMS}

#: the bootstrap stops drawing configurations after this many (a guard; 2 x 55 rows need ~110)
MAX_BOOTSTRAP_CONFIGS = 10000


def default_bootstrap_rows(n_features: int) -> int:
    """The default start rule: at least 2 x (number of features) sample rows (110 for 2J_max = 8)."""
    return 2 * int(n_features)


def spec_differences(stored: dict, mine: dict) -> list[str]:
    """Fields of ``mine`` that differ from a stored spec (a field the stored spec lacks counts
    with its :data:`LEGACY_SPEC` value), except the :data:`RESUMABLE_FIELDS`."""
    return [k for k in mine if k not in RESUMABLE_FIELDS and stored.get(k, LEGACY_SPEC.get(k)) != mine[k]]


@dataclass
class StreamSpec:
    window: Window
    mode: str
    seed: int = 0
    iterations: int = 25000
    descriptor: DescriptorSettings = field(default_factory=DescriptorSettings)
    optimizer: str = "lbfgs"
    steps: int = 30  # max F+grad evaluations (lbfgs) or steps (steepest); runner.DEFAULT_STEPS
    k0: float = 1.0
    k_up: float = 1.05
    k_down: float = 0.9
    patience: int = 3
    n_bootstrap: int = 10
    ridge: float = 1e-6
    v_ref: float = 15.9
    #: start rule: the bootstrap holds >= n_bootstrap configurations and >= bootstrap_rows sample
    #: rows (atoms per-atom, configurations per-config); None: 2 x n_features; 0: n_bootstrap only
    bootstrap_rows: int | None = None
    #: cell-size distribution of the candidates and the bootstrap, as text
    #: (:func:`~revem.generator.candidate.parse_atoms_distribution`); None: DEFAULT_ATOMS
    atoms: str | None = None

    def __post_init__(self):
        if self.bootstrap_rows is None:
            self.bootstrap_rows = default_bootstrap_rows(self.descriptor.n_features)
        if self.atoms is None:
            self.atoms = DEFAULT_ATOMS

    @property
    def name(self) -> str:
        return f"w{self.window.index:02d}-{self.mode}"

    @property
    def mode_index(self) -> int:
        return MODES.index(self.mode)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["window"] = self.window.as_dict()
        d["descriptor"] = self.descriptor.as_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "StreamSpec":
        d = dict(d)
        for k, v in LEGACY_SPEC.items():  # a stream stored before the field existed keeps its rule
            d.setdefault(k, v)
        d["window"] = Window(**d["window"])
        d["descriptor"] = DescriptorSettings(**d["descriptor"])
        return cls(**d)


def _new_state(spec: StreamSpec, S: float) -> dict:
    return {"iteration": 0, "K": spec.k0, "fail_streak": 0, "S": S, "accepted": 0,
            "rejected_rmin": 0, "rejected_no_gain": 0, "errors": 0, "done": False}


_FEATURIZERS: dict = {}


def get_featurizer(settings: DescriptorSettings) -> LammpsSnapFeaturizer:
    """One persistent LAMMPS featurizer per process and descriptor setting."""
    if settings not in _FEATURIZERS:
        from revem.lammps_runtime import pin_blas_threads

        pin_blas_threads(1)
        _FEATURIZERS[settings] = LammpsSnapFeaturizer(settings)
    return _FEATURIZERS[settings]


def rows_per_config(mode: str, n_atoms: int) -> int:
    """Sample rows one configuration adds: its atoms (per-atom) or 1 (per-config)."""
    return n_atoms if mode == "per-atom" else 1


def bootstrap(spec: StreamSpec, featurizer) -> tuple[list, Normalization, RunningMoments]:
    """The stream's start: random configurations (R_min respected, not optimised) and their moments.

    **Start rule.**  Configurations are drawn from ``default_rng([seed, window, mode, 0])``, with
    the candidates' distribution of cell sizes and volumes, until the bootstrap holds at least
    ``n_bootstrap`` configurations (10, the paper) *and* at least ``bootstrap_rows`` sample rows
    (default 2 m = 110 for m = 55 features; atoms in per-atom mode, configurations in per-config
    mode).

    Why: S = log det(Sigma + eps I).  With fewer rows than features, Sigma is singular and every
    direction a candidate adds outside the span of the rows multiplies det by ~variance / eps
    (eps = 1e-6): every candidate "raises" S by ~10 per new direction, the acceptance test never
    rejects, and K only falls (the paper's 10 bootstrap configurations give 10 per-config rows for
    55 features).  With n >= 2 m rows the covariance is full rank and its smallest eigenvalues are
    estimated to within a factor ~(1 - sqrt(m/n))^2 >= 0.09 (Marchenko-Pastur), so the ridge is
    negligible and adding one row changes S by m log((n-1)/n) + log(1 + d'Sigma^-1 d n/(n^2-1)),
    d the row's distance from the mean: a row must lie further out than typical (d'Sigma^-1 d >~
    m + m^2/n) to raise S, so non-improving candidates are rejected from the first iteration.
    The rows are unoptimised random configurations drawn like the candidates, so the bar a
    candidate has to pass is "more informative than a random configuration"; they cost one
    gradient-free feature evaluation each (~0.1 s of set-up per stream, well below one candidate).
    The first ``n_bootstrap`` configurations are those of the earlier rule (same random stream);
    ``bootstrap_rows = 0`` is the earlier rule exactly (streams stored before the rule existed keep
    it, see :data:`LEGACY_SPEC`).  Per-atom streams with the paper's small cells (mean ~6 atoms)
    have ~60 rows from 10 configurations, so the same rule tops them up too; with larger cells
    10 configurations usually give >= 110 atoms and nothing changes.
    """
    rng = np.random.default_rng([spec.seed, spec.window.index, spec.mode_index, 0])
    structs, feats = [], []
    n_rows = 0
    while len(structs) < spec.n_bootstrap or n_rows < spec.bootstrap_rows:
        if len(structs) >= MAX_BOOTSTRAP_CONFIGS:
            raise ValueError(f"stream {spec.name}: {MAX_BOOTSTRAP_CONFIGS} bootstrap configurations give "
                             f"{n_rows} < {spec.bootstrap_rows} rows")
        cell, pos, _ = _random_structure(spec, rng)
        structs.append((cell, pos))
        feats.append(featurizer.features_of(cell, pos))
        n_rows += rows_per_config(spec.mode, len(pos))
    norm = Normalization.from_features(np.vstack(feats), ridge=spec.ridge)
    mom = RunningMoments(featurizer.m)
    for f in feats:
        mom.add(sample_rows(norm.apply(f), spec.mode))
    return list(zip(structs, feats)), norm, mom


def _random_structure(spec: StreamSpec, rng: np.random.Generator):
    """A random candidate (cell, positions, V/atom) of the stream's window and cell-size distribution."""
    w = spec.window
    return random_structure(rng, w.v_start, w.v_end, w.r_min, atoms=spec.atoms)


def _row_kvp(spec: StreamSpec, kind: str, iteration: int, **extra) -> dict:
    w = spec.window
    return {"kind": kind, "stream": spec.name, "window": w.index, "mode": spec.mode,
            "iteration": iteration, "seed": spec.seed, "v_start": w.v_start, "v_end": w.v_end,
            "r_core": w.r_core, "r_min": w.r_min, **extra}


def _atoms(cell, pos) -> Atoms:
    return Atoms(SPECIES * len(pos), positions=pos, cell=cell, pbc=True)


def open_stream(store: Store, spec: StreamSpec, featurizer,
                owner: Owner) -> tuple[dict, Normalization, RunningMoments]:
    """Load the stream's checkpoint, or bootstrap and store it (``owner`` holds its lease)."""
    rec = store.load_stream(spec.name)
    if rec is None:
        boot, norm, mom = bootstrap(spec, featurizer)
        try:
            S = logdet(mom, norm)
        except DegenerateCovariance as exc:
            raise ValueError(f"stream {spec.name}: the covariance of its {len(boot)} bootstrap "
                             f"configurations is singular ({exc}); use a --ridge > 0 or more --bootstrap "
                             f"configurations (nothing of the stream was written)") from None
        if mom.n <= mom.m:
            log.info("%s: %d samples for %d features; S uses the ridge %g", spec.name, mom.n, mom.m, spec.ridge)
        state = _new_state(spec, S)
        rows = [(_atoms(c, p), _row_kvp(spec, "bootstrap", i), f) for i, ((c, p), f) in enumerate(boot)]
        store.init_stream(spec.name, spec.as_dict(), norm.as_dict(), state, mom.to_bytes(), rows, owner=owner)
        return state, norm, mom
    stored = dict(rec["spec"])
    mine = spec.as_dict()
    diff = spec_differences(stored, mine)
    if diff:
        raise ValueError(f"stream {spec.name} in {store.path} was made with different settings "
                         f"({', '.join(diff)}); use the same options to resume")
    if stored["iterations"] != spec.iterations:
        store.update_spec(spec.name, mine, owner)
    state = rec["state"]
    if state["iteration"] < spec.iterations:
        state["done"] = False
    return state, Normalization.from_dict(rec["norm"]), RunningMoments.from_bytes(featurizer.m, rec["sums"])


def run_iteration(spec: StreamSpec, featurizer, state: dict, norm: Normalization,
                  mom: RunningMoments) -> tuple[str, dict | None]:
    """One candidate; returns (outcome, accepted payload or None).  Does not touch ``state``."""
    it = state["iteration"]
    w = spec.window
    rng = np.random.default_rng([spec.seed, w.index, spec.mode_index, 1, it])
    cell, pos, _ = _random_structure(spec, rng)
    try:
        featurizer.set_structure(cell, pos, w.r_core)
        obj = Objective(featurizer, mom, norm, spec.mode, state["K"])
        res = OPTIMIZERS[spec.optimizer](obj, pos, spec.steps)
        x = res.positions
        if min_distance(cell, x, w.r_min) < w.r_min:
            return "rejected_rmin", None
        feats = featurizer.evaluate(x, gradient=False).features
        rows = sample_rows(norm.apply(feats), spec.mode)
        S_new = logdet(mom, norm, rows)
    except (FeaturizerError, DegenerateCovariance) as exc:
        log.warning("%s iteration %d: candidate dropped: %s", spec.name, it, exc)
        return "errors", None
    if not S_new > state["S"]:
        return "rejected_no_gain", None
    frac = np.linalg.solve(cell.T, x.T).T
    x = (frac - np.floor(frac)) @ cell
    return "accepted", {"cell": cell, "positions": x, "features": feats, "rows": rows, "S": S_new,
                        "n_evals": res.n_evals}


def advance(spec: StreamSpec, state: dict, outcome: str) -> dict:
    """Counters and K after one iteration (the paper's on-the-fly K adaptation)."""
    st = dict(state)
    st[outcome] += 1
    st["iteration"] += 1
    if outcome == "accepted":
        st["fail_streak"] = 0
    elif outcome == "rejected_rmin":
        st["K"] *= spec.k_down
        st["fail_streak"] = 0
    elif outcome == "rejected_no_gain":
        st["fail_streak"] += 1
        if st["fail_streak"] >= spec.patience:
            st["K"] *= spec.k_up
            st["fail_streak"] = 0
    st["done"] = st["iteration"] >= spec.iterations
    return st


def run_stream(db_path: str, spec_dict: dict, parent_pid: int | None = None,
               max_iterations: int | None = None, progress_cb=None) -> dict:
    """Run (or resume) a stream to ``spec.iterations``; checkpoint after every iteration.

    The stream's lease is acquired first (:class:`~revem.generator.locking.LeaseHeld` at once,
    before anything is written, when a live process owns it; a dead owner's lease is taken over)
    and given up at the end; every commit re-checks it in its transaction.  Whoever calls this (the
    launching process, a local worker process, a Dask worker on another host) owns the stream
    while it runs.  The database must exist (``prepare`` makes it): a worker that does not see the
    file (no shared file system) fails instead of creating an empty one.

    ``parent_pid``: stop when the launching process has died (a killed run must not keep
    writing).  ``max_iterations``: stop after that many iterations in this call (tests).
    """
    spec = StreamSpec.from_dict(spec_dict)
    store = Store(db_path, create=False)
    owner = store.acquire_lease(spec.name)
    try:
        return _run_owned(store, spec, owner, parent_pid, max_iterations, progress_cb)
    finally:
        try:
            store.release_lease(spec.name, owner)
        except Exception as exc:  # never hide the run's own outcome; a stale lease is taken over later
            log.warning("%s: could not release the lease of stream %s: %s", db_path, spec.name, exc)


def _run_owned(store: Store, spec: StreamSpec, owner: Owner, parent_pid: int | None,
               max_iterations: int | None, progress_cb) -> dict:
    featurizer = get_featurizer(spec.descriptor)
    state, norm, mom = open_stream(store, spec, featurizer, owner)
    done_here = 0
    while state["iteration"] < spec.iterations:
        if parent_pid is not None and os.getppid() != parent_pid:
            log.warning("%s: parent process gone, stopping at iteration %d", spec.name, state["iteration"])
            break
        if max_iterations is not None and done_here >= max_iterations:
            break
        outcome, acc = run_iteration(spec, featurizer, state, norm, mom)
        new_state = advance(spec, state, outcome)
        payload = None
        if acc is not None:
            new_mom = mom.copy()
            new_mom.add(acc["rows"])
            new_state["S"] = acc["S"]
            kvp = _row_kvp(spec, "accepted", state["iteration"], k_factor=state["K"], s_before=state["S"],
                           s_after=acc["S"], n_evals=acc["n_evals"])
            payload = (_atoms(acc["cell"], acc["positions"]), kvp, acc["features"])
        else:
            new_mom = mom
        store.commit(spec.name, new_state, new_mom.to_bytes(), payload, owner=owner)
        state, mom = new_state, new_mom
        done_here += 1
        if progress_cb is not None:
            progress_cb()
    return {"stream": spec.name, **state}
