"""Run many streams: worker processes on this machine, or a Dask cluster (``--scheduler``).

Each (window, mode) stream is one task; a worker keeps one LAMMPS instance for all the streams it
runs.  Workers write their own checkpoints to the SQLite file (it must be on a file system with
working POSIX locks when a cluster is used); this process polls the file to draw the progress bars.
Each worker owns the streams it runs through their leases (:mod:`revem.generator.locking`);
``prepare`` refuses, before writing anything, streams that a live process owns.
"""
from __future__ import annotations

import json
import logging
import os
import time
from concurrent.futures import ProcessPoolExecutor, wait, FIRST_COMPLETED
import multiprocessing as mp

import numpy as np

from .candidate import DEFAULT_ATOMS, LEGACY_ATOMS, parse_atoms_distribution
from .entropy import MODES
from .featurizer import DescriptorSettings
from .locking import LeaseHeld, LeaseLost
from .storage import Store, StoreError, file_kind
from .stream import StreamSpec, run_stream
from .windows import make_windows

log = logging.getLogger("revem.generator")

# settings that define a run; they must match on --resume
RUN_KEYS = ("seed", "v_ref", "core_factor", "low_density", "optimizer", "steps", "k0", "k_up",
            "k_down", "patience", "n_bootstrap", "ridge", "rcutfac", "bootstrap_rows", "atoms")
#: run settings added later, with the value that reproduces a run stored without them
LEGACY_RUN = {"bootstrap_rows": 0, "atoms": LEGACY_ATOMS}
#: default cap on objective evaluations per candidate (L-BFGS) or steepest-ascent steps.  Measured over all 17
#: windows x 2 modes (272 candidates per setting, CPU time): cap 60 -> 3.6 candidates and 10.3 log det gain per
#: CPU-second (slowest window 2.0 candidates/CPU-s); cap 30 -> 6.1 and 15.1 (slowest window 4.1), at 14 % less
#: gain per accepted atom; cap 15 -> 11.2 and 20.2, 34 % less per atom.  30 keeps every window above the
#: issue's 3 candidates per CPU-second with the better gain per CPU-second; runs stored with 60 keep 60.
DEFAULT_STEPS = 30


def stored_run_settings(out: str) -> dict | None:
    """The run settings stored in ``out`` (None: no file or no run yet), with the
    :data:`LEGACY_RUN` value for settings a run stored before they existed lacks.  ``--resume``
    takes the start rule (``bootstrap_rows``) and cell sizes (``atoms``) from here when they are
    not given, so a run keeps the rule it was created with.  StoreError: not a revem database."""
    if file_kind(out) != "sqlite":
        return None
    meta = Store(out, create=False).get_meta()
    if meta is None:
        return None
    return {**LEGACY_RUN, **meta}


#: the options of ``revem generate`` that are run settings: (run-settings key, option, value when not given)
RUN_OPTIONS = (("seed", "--seed", 0), ("v_ref", "--v-ref", 15.9), ("core_factor", "--core-factor", 0.85),
               ("low_density", "--low-density", False), ("optimizer", "--optimizer", "lbfgs"),
               ("steps", "--steps", DEFAULT_STEPS), ("k0", "--k0", None), ("n_bootstrap", "--bootstrap", 10),
               ("ridge", "--ridge", 1e-6), ("rcutfac", "--rcutfac", None), ("bootstrap_rows", "--bootstrap-rows", None),
               ("atoms", "--atoms", None))
#: iterations per stream of a new run when --iterations is not given (the paper's)
DEFAULT_ITERATIONS = 25000
DEFAULT_WINDOWS = list(range(17))


def _show(v) -> str:
    return "not set" if v is None else (json.dumps(v) if isinstance(v, str) else f"{v:g}" if isinstance(v, float)
                                         else str(v).lower() if isinstance(v, bool) else str(v))


def resolve_run(out: str, given: dict, resume: bool) -> dict:
    """The settings of a run from the options the user gave (``given``: run-settings key -> value, None where
    the option was not given; also ``windows``, ``modes``, ``iterations``).

    A new run: every option not given takes its default (:data:`RUN_OPTIONS`, 25000 iterations, windows 0-16,
    both modes).  ``resume``: the settings stored in ``out`` (its ``revem_meta`` run settings and the specs of
    its streams) are applied -- an option that is not given takes the stored value, so ``revem generate --out DB
    --resume`` alone continues the run as it was made; windows and modes not given are the stored streams,
    iterations not given each stream's own.  An option given with a value that differs from the stored one is
    refused (ValueError, one line naming each option with the value given and the value stored); one given with
    the stored value is accepted.  Returns ``{key: value}`` for every :data:`RUN_OPTIONS` key plus ``windows``,
    ``modes``, ``iterations`` (an int) and ``stream_iterations`` (stream name -> iterations, resumed streams)."""
    stored = stored_run_settings(out) if resume else None
    streams = Store(out, create=False).streams() if stored is not None else {}
    res: dict = {}
    conflicts = []
    for key, opt, default in RUN_OPTIONS:
        g = given.get(key)
        if stored is None:
            res[key] = default if g is None else g
            continue
        st = stored.get(key)
        if g is None or g == st:
            res[key] = st
            continue
        if key == "k0" and st is None and streams and all(r["spec"].get("k0") == g for r in streams.values()):
            res[key] = None  # the per-mode default the streams were made with
            continue
        if key == "rcutfac" and st is None:
            d = stored.get("descriptor") or {}
            eff = d.get("rcutfac") if isinstance(d, dict) else None
            if eff is None:
                eff = DescriptorSettings.for_reference_volume(float(stored.get("v_ref") or 15.9)).rcutfac
            if eff == g:
                res[key] = None
                continue
            st = eff
        shown = st
        if key == "k0" and st is None:
            shown = ", ".join(sorted({f"{r['spec']['mode']} {r['spec'].get('k0'):g}" for r in streams.values()})) or None
            conflicts.append(f"{opt} {_show(g)} (stored: the per-mode default{', ' + shown if shown else ''})")
            continue
        conflicts.append(f"{opt} {_show(g)} (stored {key} = {_show(shown)})")
    if conflicts:
        raise ValueError(f"--resume: {'; '.join(conflicts)} conflict{'s' if len(conflicts) == 1 else ''} with the run "
                         f"stored in {out}; leave {'it' if len(conflicts) == 1 else 'them'} out to resume with the "
                         "stored settings, or choose another --out for a new run")
    stored_streams = {n: r["spec"] for n, r in streams.items()}
    windows, modes = given.get("windows"), given.get("modes")
    res["only_stored_streams"] = bool(stored_streams) and windows is None and modes is None
    res["stored_streams"] = sorted(stored_streams)
    if windows is None:
        windows = sorted({int(sp["window"]["index"]) for sp in stored_streams.values()}) or DEFAULT_WINDOWS
    if modes is None:
        modes = [m for m in MODES if any(sp["mode"] == m for sp in stored_streams.values())] or list(MODES)
    it = given.get("iterations")
    res["stream_iterations"] = {} if it is not None else {n: int(sp["iterations"]) for n, sp in stored_streams.items()}
    if it is None:
        it = max(res["stream_iterations"].values(), default=DEFAULT_ITERATIONS)
    res.update(windows=list(windows), modes=list(modes), iterations=int(it))
    return res


def specs_for(res: dict) -> list[StreamSpec]:
    """The streams of a resolved run (:func:`resolve_run`): :func:`build_specs` of its settings, limited to the
    stored streams when neither windows nor modes were given on ``--resume``, each resumed stream with its own
    iterations unless ``--iterations`` was given."""
    specs = build_specs(res["windows"], res["modes"], res["iterations"], seed=res["seed"], v_ref=res["v_ref"],
                        core_factor=res["core_factor"], low_density=res["low_density"], optimizer=res["optimizer"],
                        steps=res["steps"], k0=res["k0"], ridge=res["ridge"], n_bootstrap=res["n_bootstrap"],
                        rcutfac=res["rcutfac"], bootstrap_rows=res["bootstrap_rows"], atoms=res["atoms"])
    own = res.get("stream_iterations") or {}
    if res.get("only_stored_streams"):
        specs = [s for s in specs if s.name in res["stored_streams"]]
    for s in specs:
        if s.name in own:
            s.iterations = own[s.name]
    return specs


def build_specs(windows: list[int], modes: list[str], iterations: int, seed: int = 0,
                v_ref: float = 15.9, core_factor: float = 0.85, low_density: bool = False,
                optimizer: str = "lbfgs", steps: int | None = None, k0: float | None = None,
                k_up: float = 1.05, k_down: float = 0.9, patience: int = 3, n_bootstrap: int = 10,
                ridge: float = 1e-6, rcutfac: float | None = None, bootstrap_rows: int | None = None,
                atoms: str | None = None) -> list[StreamSpec]:
    """The streams of a run; ValueError (a message naming the option) for settings that cannot
    make one, checked before any file is touched (the CLI also checks each option's range).

    ``bootstrap_rows``: the start rule (see :func:`revem.generator.stream.bootstrap`), None for
    the default 2 x n_features, 0 for exactly ``n_bootstrap`` configurations (the earlier rule).
    ``atoms``: the candidates' cell-size distribution (text, see
    :func:`~revem.generator.candidate.parse_atoms_distribution`), None for its DEFAULT_ATOMS."""
    if steps is None:
        steps = DEFAULT_STEPS
    checks = [(iterations >= 1, f"--iterations must be >= 1 (got {iterations})"),
              (seed >= 0, f"--seed must be >= 0 (got {seed})"),
              (np.isfinite(v_ref) and v_ref > 0, f"--v-ref must be a volume > 0 A^3/atom (got {v_ref})"),
              (np.isfinite(core_factor) and core_factor > 0, f"--core-factor must be > 0 (got {core_factor})"),
              (steps >= 1, f"--steps must be >= 1 (got {steps})"),
              (k0 is None or (np.isfinite(k0) and k0 > 0), f"--k0 must be > 0 (got {k0})"),
              (np.isfinite(ridge) and ridge >= 0, f"--ridge must be >= 0 (got {ridge})"),
              (n_bootstrap >= 2, f"--bootstrap must be >= 2 (got {n_bootstrap}); the covariance needs "
                                 f"at least 2 samples"),
              (bootstrap_rows is None or bootstrap_rows >= 0,
               f"--bootstrap-rows must be >= 0 (got {bootstrap_rows})"),
              (rcutfac is None or (np.isfinite(rcutfac) and rcutfac > 0), f"--rcutfac must be > 0 A (got {rcutfac})"),
              (optimizer in ("lbfgs", "steepest"), f"unknown --optimizer {optimizer!r}"),
              (len(windows) > 0, "no window selected"),
              (len(modes) > 0, "no mode selected")]
    for ok, msg in checks:
        if not ok:
            raise ValueError(msg)
    allw = make_windows(v_ref, core_factor, low_density=low_density)
    desc = (DescriptorSettings(rcutfac=rcutfac) if rcutfac else DescriptorSettings.for_reference_volume(v_ref))
    from .stream import default_bootstrap_rows

    if bootstrap_rows is None:
        bootstrap_rows = default_bootstrap_rows(desc.n_features)
    if atoms is None:
        atoms = DEFAULT_ATOMS
    parse_atoms_distribution(atoms)  # ValueError naming the problem, before any file is touched
    if ridge == 0:  # without a ridge the bootstrap covariance must have more samples than features
        m = desc.n_features
        for mode in modes:
            n_min = max(n_bootstrap * (1 if mode == "per-config" else 2), bootstrap_rows)
            if n_min <= m:
                raise ValueError(f"--ridge 0 with {mode} streams needs more bootstrap samples than the "
                                 f"{m} features (--bootstrap {n_bootstrap} --bootstrap-rows {bootstrap_rows} "
                                 f"gives {n_min}); use a --ridge > 0")
    specs = []
    for wi in windows:
        if wi < 0 or wi >= len(allw):
            raise ValueError(f"window {wi} does not exist (0-{len(allw) - 1}"
                             f"{'' if low_density else '; 17-20 need --low-density'})")
        for mode in modes:
            if mode not in MODES:
                raise ValueError(f"unknown mode {mode!r}; expected {', '.join(MODES)}")
            kk = k0 if k0 is not None else default_k0(mode, bootstrap_rows)
            specs.append(StreamSpec(window=allw[wi], mode=mode, seed=seed, iterations=iterations,
                                    descriptor=desc, optimizer=optimizer, steps=steps, k0=kk,
                                    k_up=k_up, k_down=k_down, patience=patience,
                                    n_bootstrap=n_bootstrap, ridge=ridge, v_ref=v_ref,
                                    bootstrap_rows=bootstrap_rows, atoms=atoms))
    return specs


#: initial K per mode (K then adapts); per-atom log det moves less per candidate atom.  Per-config
#: 0.1 with the start rule (full-rank covariance from the first iteration): over windows 2, 8, 14 x
#: 15 iterations (paper cell sizes) K0 = 0.5 / 0.2 / 0.1 / 0.05 gave 31 / 16 / 2 / 0 R_min
#: rejections of 45 and a total S gain of 30 / 53 / 70 / 61 in the same time
DEFAULT_K0 = {"per-atom": 0.05, "per-config": 0.1}
#: initial K of the earlier start (bootstrap_rows 0: a ridge-dominated covariance), kept for those runs
LEGACY_K0 = {"per-atom": 0.05, "per-config": 0.5}


def default_k0(mode: str, bootstrap_rows: int) -> float:
    """K0 when --k0 is not given: :data:`DEFAULT_K0`, or :data:`LEGACY_K0` for the earlier start
    rule (so a run stored before the rule resumes with the K0 it was made with)."""
    return (LEGACY_K0 if bootstrap_rows == 0 else DEFAULT_K0)[mode]


def _worker_init():
    from revem.lammps_runtime import pin_blas_threads

    pin_blas_threads(1)
    logging.basicConfig(level=logging.WARNING)


class Progress:
    """One tqdm bar per stream: iterations done, accepted / rejected, S and K."""

    def __init__(self, store: Store, specs: list[StreamSpec], enabled: bool = True):
        self.store, self.specs, self.bars = store, specs, {}
        if not enabled:
            return
        from tqdm import tqdm

        for i, s in enumerate(specs):
            self.bars[s.name] = tqdm(total=s.iterations, desc=s.name, position=i, unit="it",
                                     leave=True, dynamic_ncols=True)

    def update(self) -> None:
        if not self.bars:
            return
        try:
            streams = self.store.streams()
        except Exception:  # the file is busy; next poll
            return
        for name, bar in self.bars.items():
            st = streams.get(name, {}).get("state")
            if not st:
                continue
            bar.n = st["iteration"]
            rej = st["rejected_rmin"] + st["rejected_no_gain"] + st["errors"]
            bar.set_postfix_str(f"acc {st['accepted']} rej {rej} S {st['S']:.2f} K {st['K']:.3g}", refresh=False)
            bar.refresh()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def prepare(out: str, specs: list[StreamSpec], run_meta: dict, resume: bool) -> Store:
    """Create (or check, with ``resume``) the run's database before any stream runs.

    Refused, with nothing created or written: ``--resume`` of a file that does not exist; a file
    that is not a revem database (:class:`StoreError`); a new run into a file that holds streams
    (FileExistsError); settings that differ from the stored run or stream (ValueError); a stream
    that a live process owns (:class:`LeaseHeld`; dead owners' leases are taken over later).
    A file holding run settings but no stream (a run that failed before its first stream) is
    not a run yet: its settings are replaced.
    """
    kind = file_kind(out)
    if resume and kind == "missing":
        raise StoreError(f"--resume: {out} does not exist (nothing to resume; drop --resume to start a new run)")
    store = Store(out)
    store.check_leases([s.name for s in specs])
    from .stream import spec_differences

    for sp in specs:
        rec = store.load_stream(sp.name)
        if rec is not None and resume:
            diff = spec_differences(rec["spec"], sp.as_dict())
            if diff:
                raise ValueError(f"stream {sp.name} in {out} was made with different settings "
                                 f"({', '.join(diff)}); use the same options to resume")

    def update(meta: dict | None, n_streams: int) -> dict:
        if n_streams and not resume:
            raise FileExistsError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
        if meta is not None and n_streams:
            diff = [k for k in RUN_KEYS if meta.get(k, LEGACY_RUN.get(k)) != run_meta.get(k, LEGACY_RUN.get(k))]
            if diff:
                raise ValueError(f"--resume with settings that differ from the stored run in {out}: "
                                 f"{', '.join(diff)} (stored: {json.dumps({k: meta.get(k) for k in diff})})")
        elif resume and kind == "sqlite":
            log.warning("%s holds no stream yet; starting a new run", out)
        return run_meta

    store.update_meta(update)
    return store


def _collect(results: list, errors: list, fut_result) -> None:
    try:
        results.append(fut_result())
    except (LeaseHeld, LeaseLost, StoreError, ValueError) as exc:  # the other streams go on
        errors.append(exc)


def _raise_first(errors: list) -> None:
    for exc in errors[1:]:
        log.error("%s", exc)
    if errors:
        raise errors[0]


def run_local(out: str, specs: list[StreamSpec], workers: int = 1, progress: bool = True) -> list[dict]:
    """Run the streams here (workers <= 1) or in ``workers`` spawned processes.  A stream that
    fails with a clear error (e.g. owned by another live process) does not stop the others; the
    first such error is raised once they are done."""
    store = Store(out, create=False)
    bars = Progress(store, specs, progress)
    results, errors = [], []
    try:
        if workers <= 1:
            _worker_init()
            for s in specs:  # in this process: the LAMMPS instance is shared by the streams
                _collect(results, errors, lambda s=s: run_stream(out, s.as_dict(), progress_cb=bars.update))
        else:
            ctx = mp.get_context("spawn")
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init) as ex:
                futs = {ex.submit(run_stream, out, s.as_dict(), os.getpid()): s for s in specs}
                pending = set(futs)
                while pending:
                    done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
                    bars.update()
                    for f in done:
                        _collect(results, errors, f.result)
    finally:
        bars.update()
        bars.close()
    _raise_first(errors)
    return results


def run_dask(out: str, specs: list[StreamSpec], scheduler, progress: bool = True) -> list[dict]:
    """Submit every stream to a Dask scheduler: ``scheduler`` a connected ``Client`` (kept open), or an address
    (e.g. tcp://host:8786; reached with :func:`revem.safe_io.connect_scheduler`, closed at the end)."""
    from contextlib import nullcontext

    from dask.distributed import wait as dwait

    from ..safe_io import connect_scheduler

    own = isinstance(scheduler, str)
    client_cm = connect_scheduler(scheduler, "--scheduler") if own else nullcontext(scheduler)
    store = Store(out, create=False)
    bars = Progress(store, specs, progress)
    results, errors = [], []
    try:
        with client_cm as client:
            futs = [client.submit(run_stream, os.path.abspath(out), s.as_dict(), None, pure=False,
                                  key=f"revem-{s.name}-{time.time_ns()}") for s in specs]
            pending = list(futs)
            while pending:
                try:
                    res = dwait(pending, timeout=1.0, return_when="FIRST_COMPLETED")
                except TimeoutError:
                    bars.update()
                    continue
                bars.update()
                for f in res.done:
                    _collect(results, errors, f.result)
                pending = list(res.not_done)
    finally:
        bars.update()
        bars.close()
    _raise_first(errors)
    return results
