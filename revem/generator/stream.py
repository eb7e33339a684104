"""One greedy entropy-maximisation stream: a (window, mode) pair (seed paper Fig. 1, Sec. 5.1).

Iteration k draws a random candidate from ``np.random.default_rng([seed, window, mode, 1, k])``,
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

from .candidate import OPTIMIZERS, Objective, min_distance, random_structure
from .entropy import (MODES, DegenerateCovariance, Normalization, RunningMoments, logdet,
                      sample_rows)
from .featurizer import DescriptorSettings, FeaturizerError, LammpsSnapFeaturizer
from .locking import Owner
from .storage import SPECIES, Store
from .windows import Window

log = logging.getLogger("revem.generator")

# spec fields that may change on --resume (everything else must match the stored stream)
RESUMABLE_FIELDS = ("iterations",)


@dataclass
class StreamSpec:
    window: Window
    mode: str
    seed: int = 0
    iterations: int = 25000
    descriptor: DescriptorSettings = field(default_factory=DescriptorSettings)
    optimizer: str = "lbfgs"
    steps: int = 60  # max F+grad evaluations (lbfgs) or steps (steepest)
    k0: float = 1.0
    k_up: float = 1.05
    k_down: float = 0.9
    patience: int = 3
    n_bootstrap: int = 10
    ridge: float = 1e-6
    v_ref: float = 15.9

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


def bootstrap(spec: StreamSpec, featurizer) -> tuple[list, Normalization, RunningMoments]:
    """n_bootstrap random configurations (R_min respected, not optimised) and their moments."""
    rng = np.random.default_rng([spec.seed, spec.window.index, spec.mode_index, 0])
    w = spec.window
    structs, feats = [], []
    for _ in range(spec.n_bootstrap):
        cell, pos, _ = random_structure(rng, w.v_start, w.v_end, w.r_min)
        structs.append((cell, pos))
        feats.append(featurizer.features_of(cell, pos))
    norm = Normalization.from_features(np.vstack(feats), ridge=spec.ridge)
    mom = RunningMoments(featurizer.m)
    for f in feats:
        mom.add(sample_rows(norm.apply(f), spec.mode))
    return list(zip(structs, feats)), norm, mom


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
            raise ValueError(f"stream {spec.name}: the covariance of its {spec.n_bootstrap} bootstrap "
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
    diff = [k for k in mine if k not in RESUMABLE_FIELDS and stored.get(k) != mine[k]]
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
    cell, pos, _ = random_structure(rng, w.v_start, w.v_end, w.r_min)
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
