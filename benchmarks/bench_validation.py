"""asv benchmarks of the validation harness: the time of each property protocol, per element.

Each benchmark runs every smoke-tier case of one protocol for one (element, shipped potential) pair, the way
``pytest validation --tier smoke`` does (``Protocol.run``), in a fresh process with no cached result (asv runs each
benchmark in its own process; ``number = repeat = 1``, no warm-up, so the single sample is the uncached cost).
A slower protocol shows up on the dashboard next to the generator's numbers.

    asv run --python=same --quick -b ValidationProtocol

``ValidationStandardTier`` is the whole campaign the budget is about: every case of every protocol at the
standard tier for one potential and element, one shared target (so shared steps are computed once, as in a
run), timed in process CPU seconds (the budget is "under 3 minutes on one core" per LAMMPS potential).
"""
import os
import time

from revem.lammps_runtime import pin_blas_threads

pin_blas_threads(1)  # as in the harness

#: one shipped potential per lattice: bcc W (the paper's case study), fcc Cu, hcp Be
PAIRS = ["W:W_zhou", "Cu:Cu_mishin1", "Be:WBe_Wood_PRB2019"]
PROTOCOLS = ["cold_curves", "cohesive", "defects", "elastic", "eos", "grain_boundaries", "gsfe", "md_stability", "migration", "nve",
             "paths", "phonons", "robustness", "speed", "surfaces", "thermal_expansion", "verification"]


class ValidationProtocol:
    """Wall time (s) of all smoke-tier cases of one protocol for one element and potential (uncached)."""

    params = (PAIRS, PROTOCOLS)
    param_names = ["element:potential", "protocol"]
    number = 1
    repeat = 1
    warmup_time = 0
    timeout = 900

    def setup(self, pair, name):
        from revem.validation.properties import protocols
        from revem.validation.target import Target

        if not os.environ.get("REVEM_DATA_DIR"):
            os.environ["REVEM_DATA_DIR"] = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..",
                                                                        "shared", "datasets"))
        self.element, pot = pair.split(":")
        self.proto = protocols()[name]
        self.cases = self.proto.cases(self.element, "smoke")
        if not self.cases:
            raise NotImplementedError(f"{name} has no smoke case for {self.element}")  # asv: skipped
        self.target = Target.of(pot)

    def time_smoke_cases(self, pair, name):
        for case in self.cases:
            self.proto.run(self.target, self.element, case, "smoke")


class ValidationStandardTier:
    """Process CPU time (s) of the whole standard tier of one element and potential: every protocol, every case."""

    params = (PAIRS,)
    param_names = ["element:potential"]
    number = 1
    repeat = 1
    warmup_time = 0
    timeout = 1800
    timer = time.process_time

    def setup(self, pair):
        from revem.validation.properties import protocols
        from revem.validation.target import Target

        if not os.environ.get("REVEM_DATA_DIR"):
            os.environ["REVEM_DATA_DIR"] = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..",
                                                                        "shared", "datasets"))
        self.element, pot = pair.split(":")
        self.work = [(p, c) for p in protocols().values() for c in p.cases(self.element, "standard")]
        self.target = Target.of(pot)

    def time_standard_tier(self, pair):
        for proto, case in self.work:
            try:
                proto.run(self.target, self.element, case, "standard")
            except Exception:  # a failing case still costs its time, as in a run (Skip, a red flag, a crash)
                pass
