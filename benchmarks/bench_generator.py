"""asv benchmarks of the Rev-EM generator (revem.generator).

    asv run --python=same --quick -b generator
"""
import time

import numpy as np

from revem.generator.candidate import Objective, random_structure
from revem.generator.entropy import Normalization, RunningMoments, feature_gradient
from revem.generator.featurizer import LammpsSnapFeaturizer
from revem.generator.runner import build_specs
from revem.generator.stream import advance, bootstrap, get_featurizer, logdet, run_iteration
from revem.lammps_runtime import pin_blas_threads

pin_blas_threads(1)  # as in the generator's workers


def _w_like(n, seed=0, v=15.9):
    rng = np.random.default_rng(seed)
    L = (v * n) ** (1 / 3)
    cell = np.array([[L, 0, 0], [0.2, L, 0], [-0.3, 0.1, L]])
    return cell, rng.random((n, 3)) @ cell


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
        self.cand = rng.normal(size=(25, 55)) @ rng.normal(size=(55, 55))

    def time_objective_and_gradient(self, mode):
        feature_gradient(self.mom, self.norm, self.cand, mode)


class GeneratorCandidate:
    """One full candidate (random structure, optimisation, R_min test, scoring), window 8."""

    params = (["lbfgs", "steepest"], ["per-atom", "per-config"])
    param_names = ["optimizer", "mode"]
    number = 1
    repeat = 3

    def setup(self, optimizer, mode):
        steps = 60 if optimizer == "lbfgs" else 200
        self.spec = build_specs([8], [mode], 10, seed=5, optimizer=optimizer, steps=steps)[0]
        self.f = get_featurizer(self.spec.descriptor)
        _, self.norm, self.mom = bootstrap(self.spec, self.f)
        self.state = {"iteration": 0, "K": self.spec.k0, "S": logdet(self.mom, self.norm)}

    def time_candidate(self, optimizer, mode):
        run_iteration(self.spec, self.f, self.state, self.norm, self.mom)


class GeneratorEndToEnd:
    """Candidates per second per core (process CPU time) and log det gain per candidate, over
    12 iterations of a fresh window-8 stream (K adapted as in a run)."""

    params = (["lbfgs", "steepest"], ["per-atom", "per-config"])
    param_names = ["optimizer", "mode"]
    timeout = 300

    def setup_cache(self):
        out = {}
        for opt, steps in (("lbfgs", 60), ("steepest", 200)):
            for mode in ("per-atom", "per-config"):
                spec = build_specs([8], [mode], 12, seed=3, optimizer=opt, steps=steps)[0]
                f = get_featurizer(spec.descriptor)
                _, norm, mom = bootstrap(spec, f)
                state = {"iteration": 0, "K": spec.k0, "fail_streak": 0, "S": logdet(mom, norm),
                         "accepted": 0, "rejected_rmin": 0, "rejected_no_gain": 0, "errors": 0}
                S0 = state["S"]
                t = time.process_time()
                for _ in range(spec.iterations):
                    outcome, acc = run_iteration(spec, f, state, norm, mom)
                    new = advance(spec, state, outcome)
                    if acc:
                        mom = mom.copy()
                        mom.add(acc["rows"])
                        new["S"] = acc["S"]
                    state = new
                dt = time.process_time() - t
                out[(opt, mode)] = (spec.iterations / dt, (state["S"] - S0) / spec.iterations)
        return out

    def track_candidates_per_second_per_core(self, cache, optimizer, mode):
        return cache[(optimizer, mode)][0]

    track_candidates_per_second_per_core.unit = "candidates/s"

    def track_logdet_gain_per_candidate(self, cache, optimizer, mode):
        return cache[(optimizer, mode)][1]

    track_logdet_gain_per_candidate.unit = "log det per candidate"
