"""asv benchmarks of the Rev-EM generator (revem.generator): a dashboard of its speed, memory and
entropy gain per CPU-second on a dense, a middle and a sparse window.

    make bench                                  # asv machine --yes, asv run (results kept), asv publish
    asv run --python=same --quick -b Generator  # these only, results not kept
"""
import os
import time

import numpy as np

from revem.generator.entropy import Normalization, RunningMoments, feature_gradient
from revem.generator.featurizer import LammpsSnapFeaturizer
from revem.generator.runner import build_specs
from revem.generator.stream import advance, bootstrap, get_featurizer, logdet, run_iteration
from revem.lammps_runtime import pin_blas_threads

pin_blas_threads(1)  # as in the generator's workers

#: dense (0.45-0.50 v_ref), middle and sparse (2.7-3 v_ref) standard windows
WINDOWS = [0, 8, 16]
MODES = ["per-atom", "per-config"]
#: iterations of each fresh (window, mode) stream in GeneratorStreams
ITERATIONS = 12


def _w_like(n, seed=0, v=15.9):
    rng = np.random.default_rng(seed)
    L = (v * n) ** (1 / 3)
    cell = np.array([[L, 0, 0], [0.2, L, 0], [-0.3, 0.1, L]])
    return cell, rng.random((n, 3)) @ cell


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


class GeneratorFeaturize:
    """LAMMPS features (+ gradients, + V_core) of N atoms at W density (15.9 A^3/atom)."""

    params = [2, 8, 16, 25]
    param_names = ["n_atoms"]

    def setup(self, n):
        self.f = LammpsSnapFeaturizer()
        self.cell, self.pos = _w_like(n)
        self.f.set_structure(self.cell, self.pos, 2.1)

    def teardown(self, n):
        self.f.close()

    def time_features_and_gradient(self, n):
        self.f.evaluate(self.pos, gradient=True)

    def time_features_only(self, n):
        self.f.evaluate(self.pos, gradient=False)


class GeneratorMemory:
    """Resident memory of a worker over many gradient evaluations (compute snap used to leak its
    global array at every run: 1.2 MB per evaluation at 20 atoms)."""

    timeout = 300

    def setup(self):
        self.f = LammpsSnapFeaturizer()
        self.cell, self.pos = _w_like(20)
        self.f.set_structure(self.cell, self.pos, 2.1)
        for k in range(10):
            self.f.evaluate(self.pos + 1e-3 * k)

    def teardown(self):
        self.f.close()

    def peakmem_500_gradient_evaluations_20_atoms(self):
        for k in range(500):
            if k % 50 == 0:  # a new candidate every 50 evaluations, as in a run
                self.f.set_structure(self.cell, self.pos, 2.1)
            self.f.evaluate(self.pos + 1e-3 * k)

    def track_rss_growth_per_evaluation(self):
        r0 = _rss_mb()
        for k in range(300):
            self.f.evaluate(self.pos + 1e-3 * k)
        return (_rss_mb() - r0) / 300 * 1e3

    track_rss_growth_per_evaluation.unit = "kB/evaluation"


class GeneratorObjective:
    """log det Sigma(S u C) and its gradient; S: 180,000 x 55 features held as running sums."""

    params = ["per-atom", "per-config"]
    param_names = ["mode"]

    def setup(self, mode):
        rng = np.random.default_rng(0)
        x = rng.normal(size=(180_000, 55)) @ rng.normal(size=(55, 55))
        self.norm = Normalization.from_features(x[:1000])
        self.mom = RunningMoments(55)
        self.mom.add(self.norm.apply(x))
        self.cand = rng.normal(size=(6, 55)) @ rng.normal(size=(55, 55))

    def time_objective_and_gradient(self, mode):
        feature_gradient(self.mom, self.norm, self.cand, mode)


class GeneratorCandidate:
    """One full candidate (random structure, optimisation, R_min test, scoring), default settings."""

    params = (WINDOWS, MODES)
    param_names = ["window", "mode"]
    number = 1
    repeat = 5

    def setup(self, window, mode):
        self.spec = build_specs([window], [mode], 10, seed=5)[0]
        self.f = get_featurizer(self.spec.descriptor)
        _, self.norm, self.mom = bootstrap(self.spec, self.f)
        self.state = {"iteration": 0, "K": self.spec.k0, "S": logdet(self.mom, self.norm)}

    def time_candidate(self, window, mode):
        run_iteration(self.spec, self.f, self.state, self.norm, self.mom)
        self.state["iteration"] += 1  # a new random candidate at each repeat


def _run_stream(window, mode, iterations, seed=3):
    spec = build_specs([window], [mode], iterations, seed=seed)[0]
    f = get_featurizer(spec.descriptor)
    _, norm, mom = bootstrap(spec, f)
    state = {"iteration": 0, "K": spec.k0, "fail_streak": 0, "S": logdet(mom, norm), "accepted": 0,
             "rejected_rmin": 0, "rejected_no_gain": 0, "errors": 0}
    S0, atoms = state["S"], 0
    t = time.process_time()
    for _ in range(iterations):
        outcome, acc = run_iteration(spec, f, state, norm, mom)
        new = advance(spec, state, outcome)
        if acc:
            mom = mom.copy()
            mom.add(acc["rows"])
            new["S"] = acc["S"]
            atoms += len(acc["positions"])
        state = new
    cpu = time.process_time() - t
    return {"cpu": cpu, "candidates": iterations, "gain": state["S"] - S0, "accepted": state["accepted"],
            "atoms": atoms}


class GeneratorStreams:
    """Fresh default streams (paper cell sizes, default optimiser and cap) of a dense, a middle and a
    sparse window, ITERATIONS candidates each: CPU-time throughput and log det gain (the figure of
    merit: gain per CPU-second).  CPU seconds of this process (``time.process_time``)."""

    params = (WINDOWS, MODES)
    param_names = ["window", "mode"]
    timeout = 900

    def setup_cache(self):
        return {(w, m): _run_stream(w, m, ITERATIONS) for w in WINDOWS for m in MODES}

    def track_candidates_per_cpu_second(self, cache, window, mode):
        r = cache[(window, mode)]
        return r["candidates"] / r["cpu"]

    track_candidates_per_cpu_second.unit = "candidates/CPU-s"

    def track_logdet_gain_per_cpu_second(self, cache, window, mode):
        r = cache[(window, mode)]
        return r["gain"] / r["cpu"]

    track_logdet_gain_per_cpu_second.unit = "log det/CPU-s"

    def track_logdet_gain_per_atom_added(self, cache, window, mode):
        r = cache[(window, mode)]
        return r["gain"] / r["atoms"] if r["atoms"] else float("nan")

    track_logdet_gain_per_atom_added.unit = "log det/atom"

    def track_atoms_per_accepted_configuration(self, cache, window, mode):
        r = cache[(window, mode)]
        return r["atoms"] / r["accepted"] if r["accepted"] else float("nan")

    track_atoms_per_accepted_configuration.unit = "atoms"
