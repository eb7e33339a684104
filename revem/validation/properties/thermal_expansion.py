"""Quasi-harmonic thermal expansion of the ground lattice: α(T), V(T) and a(T), C_p(T) and the Grüneisen
parameter up to 0.8 T_m (phonopy's QHA), with an NPT molecular-dynamics lattice parameter beside it at the
full tier.

Method (quasi-harmonic approximation, volume-constrained: the v-ZSISA of S. Rostami and X. Gonze,
arXiv:2407.08002): the relaxed ground lattice (:func:`revem.validation.properties.common.ground_state`) is
scaled isotropically to the volumes V0·(1 + s), s in ``volume_strains`` (standard: −4 % … +8 % in 2 % steps,
7 volumes); hcp relaxes c/a at each volume (static energy minimum at fixed V; phonopy's QHA itself is
isotropic in V, and a(T), c(T) follow from c/a(V) at V(T)).  At each volume the phonons protocol's
force-constant step (:func:`revem.validation.properties.phonons.force_constants`: finite displacements of
``displacement_A`` in its supercell, symmetrised) gives the harmonic free energy, entropy and C_V on a
Γ-centred ``mesh``; the three acoustic modes at Γ are left out of the sums (``exclude_gamma_acoustic``:
their numerically tiny frequencies otherwise add a spurious −k_B T ln(k_B T/hν) that made α(300 K) of W move
by 3 % with the mesh; without them a 10³ mesh is converged to 0.1 %).  The static energy E(V) plus the
phonon free energy F(V; T) is fitted per temperature with phonopy's QHA (:class:`phonopy.qha.core.QHA`,
Vinet EOS), giving V(T), the volumetric expansion β = (1/V) dV/dT (central differences on a ``T_step_K``
grid), C_p (phonopy's polynomial-fit route: C_V and S interpolated in V) and the thermodynamic Grüneisen
parameter γ = β B_T V / C_V.  phonopy: A. Togo, J. Phys. Soc. Jpn. 92, 012001 (2023),
doi:10.7566/JPSJ.92.012001; A. Togo and I. Tanaka, Scr. Mater. 108, 1 (2015), doi:10.1016/j.scriptamat.2015.07.021.

Quantities at the element's temperatures (``element_data/thermal_expansion.yaml``: W 300 K and 1500 K, as
issue #22 asks; every other element 300 K and 0.5 T_m rounded to 100 K; only those ≤ 0.8 T_m):
``alpha_<T>K`` linear α = β/3 (unit ``1e-6/K``: values of order 1, so the regression gate's floors mean
something), ``V_<T>K`` (Å³/atom), ``a_<T>K`` (Å; cubic conventional a, hcp a; hcp also ``c_<T>K``),
``dL_L_<T>K`` ((V(T)/V(300 K))^(1/3) − 1, %, the isotropic mean linear expansion from 300 K),
``Cp_<T>K`` (J/(mol K), per mole of atoms), ``gruneisen_<T>K``; and ``T_inside_max_K``.

The free-energy minimum must stay inside the sampled volumes: at every T its V(T) must lie at least half a
volume step inside [V_min, V_max], else the fit extrapolates.  While it leaves them below 0.8 T_m, volumes
are added at the expanded end (one step at a time, up to ``max_volume_strain``); a volume whose phonons are
imaginary (below −``imaginary_tolerance_THz`` on the mesh) ends the set there.  ``T_inside_max`` is the
highest temperature whose minimum is inside; numbers above it are refused (``converged=False``, no value),
and a ``T_inside_max`` below 0.8 T_m is itself unconverged (the case fails saying so).

Uncertainty (every QHA number): the largest change over the EOS form (Vinet ↔ Birch–Murnaghan), the volume
set (without the most compressed, without the most expanded volume) and the supercell (standard: one repeat
smaller, :data:`CHECK_SUPERCELL`; full: the standard supercell against the full one) -- each a rerun of the
same protocol, so it measures how converged the numbers are, not how right the QHA is.

Tiers (CPU-s measured with ``time.process_time()``, ground state excluded): smoke 5 volumes (−3 … +9 %),
supercells 3×3×3 bcc / 2×2×2 fcc / 3×3×2 hcp, 10³ mesh, no supercell check (1.7-2.1 CPU-s per shipped W
potential); standard 7 volumes (−4 … +8 %), the phonons protocol's supercell, 20³ mesh, the supercell check
(9-12 CPU-s per W potential, 23 for Cu_mishin1, 14 for Be with WBe_Wood_PRB2019); full 8 volumes, 30³ mesh,
the full supercell checked against the standard one, and the NPT MD case.

Full tier, case ``<lattice>_npt``: the lattice parameter from NPT molecular dynamics at the element's
temperatures and at 0.8 T_m (:mod:`revem.validation.properties.thermal_expansion_md`: LAMMPS ``fix npt``
where LAMMPS runs the potential, ASE's Berendsen NPT otherwise), ``a_MD_<T>K`` beside the QHA value and
their difference ``da_anh_<T>K`` (Å), the anharmonic part the QHA lacks (classical MD has no zero-point
expansion, which the QHA includes: at T ≪ Θ_D the difference is that, not anharmonicity).

References (``reference_data/<El>/thermal_expansion_exp.json``, built by
``python -m revem.validation.references_build.thermal_expansion``): experiment only -- W α(300 K), α(1500 K)
and ΔL/L(1500 K) from P. Tolias's recommended density of solid W (Nucl. Mater. Energy 13, 42 (2017),
arXiv:1703.06302); Cu α(300 K), α(700 K) from the NIST StRD ``Hahn1`` copper
thermal-expansion data (T. Hahn's study, its certified fit); room-temperature α of Mo, Nb, Al, Ni, Ag, Be from
the CRC Handbook's table.  Every other number (Ta, Re, Os, C; every C_p, γ, V and a) is ``reported``.  No
published DFT-QHA α could be read in a source: none is stored.  Tolerances: 20 % at 300 K, 30 % above --
the measured α includes the intrinsic anharmonicity, thermal vacancies and the electronic free energy the
QHA lacks.

Disclaimers: the QHA lacks intrinsic anharmonicity (phonon–phonon interaction beyond the volume
dependence), thermal vacancies and the electronic free energy, all of which the measured α contains and
which grow with T (for W above ~2000 K the measured α rises faster than any QHA); α of hcp metals is
anisotropic, the QHA here gives the volumetric mean (β/3), which is what a polycrystal measures; the
QHA is classical-nuclei-free (it includes zero-point energy), the NPT MD is classical.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
from scipy.optimize import minimize_scalar

from .. import references
from ..plotting import DFT_COLOUR, POTENTIAL_COLOUR, TOLERANCE_COLOUR
from ..plotting import finite as _finite
from ..protocol import Measurement, Protocol, merge_settings
from ..target import Target
from . import phonons
from .common import build_lattice, element_info, ground_state, lattice_of, melting_point_K, single_threaded

PROPERTY = "thermal_expansion"
PROTOCOL_VERSION = 1
#: the QHA curve (and the inside-the-volumes check) reaches this fraction of the melting point
MELT_FRACTION = 0.8
#: the reference temperature of dL_L (K)
T_REF_K = 300.0
LATTICES = ("bcc", "fcc", "hcp", "diamond")
ATOMS_PER_CELL = {"bcc": 2, "fcc": 4, "diamond": 8, "hcp": 2}
#: smoke supercells: bcc 3x3x3 as the phonons protocol's smoke (2x2x2 halved the α of the long-cutoff W_quadratic SNAP;
#: with 3x3x3 every shipped W potential is within ~0.15e-6/K of its standard α(300 K), at ~2 CPU-s)
SMOKE_SUPERCELL = {"bcc": (3, 3, 3), "fcc": (2, 2, 2), "hcp": (3, 3, 2), "diamond": (2, 2, 2)}
#: the standard tier's supercell check (one repeat smaller than the phonons protocol's supercell)
CHECK_SUPERCELL = {"bcc": (3, 3, 3), "fcc": (3, 3, 3), "hcp": (4, 4, 3), "diamond": (2, 2, 2)}
DEFAULTS = {
    "volume_strains": (-0.04, -0.02, 0.0, 0.02, 0.04, 0.06, 0.08),  # V/V0 - 1
    "max_volume_strain": 0.16,  # volumes are added at the expanded end up to this while the minimum leaves them
    "mesh": 20, "T_step_K": 10.0, "eos": "vinet", "displacement_A": phonons.DEFAULTS["displacement_A"],
    "imaginary_tolerance_THz": phonons.DEFAULTS["imaginary_tolerance_THz"],
    "supercell": None,  # None: the phonons protocol's supercell of the tier (diamond: CHECK_SUPERCELL)
    "check_supercell": CHECK_SUPERCELL,  # the supercell whose change enters the uncertainty (None: none)
    # NPT MD (full tier, case <lattice>_npt)
    "md_repeat": {"bcc": (5, 5, 5), "fcc": (4, 4, 4), "diamond": (3, 3, 3), "hcp": (5, 3, 3)},
    "md_dt_fs": 1.0, "md_equilibration_ps": 5.0, "md_production_ps": 10.0, "md_sample_fs": 20.0,
    "md_tdamp_fs": 100.0, "md_pdamp_fs": 1000.0, "md_blocks": 10, "md_seed": 20240522,
}
TIER_SETTINGS = {
    "smoke": {"volume_strains": (-0.03, 0.0, 0.03, 0.06, 0.09), "max_volume_strain": 0.15, "mesh": 10,
              "T_step_K": 20.0, "supercell": SMOKE_SUPERCELL, "check_supercell": None},
    "standard": {},
    "full": {"volume_strains": (-0.04, -0.02, 0.0, 0.02, 0.04, 0.06, 0.08, 0.10), "mesh": 30, "T_step_K": 5.0,
             "check_supercell": "standard"},
}
UNITS = {"alpha": "1e-6/K", "V": "Å^3/atom", "a": "Å", "c": "Å", "dL_L": "%", "Cp": "J/(mol K)", "gruneisen": ""}


def settings(tier: str) -> dict:
    return merge_settings(DEFAULTS, TIER_SETTINGS, tier)


def supercell(lattice: str, tier: str, s: dict | None = None) -> tuple:
    """The phonon supercell of ``lattice`` at ``tier`` (or of settings ``s``): the phonons protocol's (diamond: one
    repeat smaller) unless the settings name one."""
    sc = (s or settings(tier))["supercell"]
    if sc is None:
        sc = CHECK_SUPERCELL if lattice == "diamond" else phonons.settings(tier)["supercell"]
    return tuple(int(x) for x in np.broadcast_to(sc[lattice], 3))


def t_limit_K(element: str) -> float:
    """0.8 T_m: the QHA curve must reach it with its minimum inside the sampled volumes."""
    return MELT_FRACTION * melting_point_K(element)


def temperatures_K(element: str) -> list[float]:
    """The temperatures reported: ``temperatures_K`` of ``element_data/thermal_expansion.yaml``, else 300 K and
    0.5 T_m rounded to 100 K; only those up to 0.8 T_m."""
    given = element_info(element).prop(PROPERTY).get("temperatures_K")
    temps = given if given else [T_REF_K, round(0.5 * melting_point_K(element), -2)]
    return sorted({float(t) for t in temps if 0 < float(t) <= t_limit_K(element)})


def md_temperatures_K(element: str) -> list[float]:
    """NPT MD temperatures: the reported ones and 0.8 T_m rounded down to 100 K."""
    return sorted(set(temperatures_K(element)) | {math.floor(t_limit_K(element) / 100.0) * 100.0})


def cases(element: str, tier: str) -> list[str]:
    """``<lattice>`` (the QHA); at the full tier also ``<lattice>_npt`` (NPT MD beside it)."""
    lat = lattice_of(element)
    if lat not in LATTICES:
        return []
    return [lat] + ([f"{lat}_npt"] if tier == "full" else [])


def t_label(t: float) -> str:
    return f"{t:.0f}K"


def temperature_grid(element: str, step: float) -> np.ndarray:
    """0 … 0.8 T_m + 2 steps (phonopy's finite differences use one more point than they report)."""
    top = math.ceil(t_limit_K(element) / step) * step + 2 * step
    return np.arange(0.0, top + step / 2, step)


# ---------------------------------------------------------------- one volume

def _cell(element: str, lattice: str, volume: float, c_over_a: float | None):
    """The cell :func:`build_lattice` makes for ``lattice`` at ``volume`` (Å³/atom)."""
    if lattice == "hcp":
        a = (4.0 * volume / (math.sqrt(3.0) * c_over_a)) ** (1.0 / 3.0)
        return build_lattice(element, "hcp", a, c_over_a)
    return build_lattice(element, lattice, (volume * ATOMS_PER_CELL[lattice]) ** (1.0 / 3.0))


def _relaxed_c_over_a(element: str, volume: float, coa0: float, calc) -> float:
    """hcp: c/a of the lowest static energy at fixed volume (bounded scalar search around the 0 K value)."""
    def energy(coa):
        at = _cell(element, "hcp", volume, coa)
        at.calc = calc
        return at.get_potential_energy()

    res = minimize_scalar(energy, bounds=(0.9 * coa0, 1.1 * coa0), method="bounded", options={"xatol": 1e-6})
    return float(res.x)


@single_threaded
def volume_point(target: Target, element: str, lattice: str, strain: float, sc: tuple, s: dict,
                 temps: np.ndarray) -> dict:
    """Static energy and phonon thermodynamics at V0·(1 + ``strain``): per atom, in phonopy's units (E eV,
    F kJ/mol, S and C_V J/(K mol)); ``min_frequency`` (THz) on the mesh; hcp with c/a relaxed at this volume."""
    gs = ground_state(target, element, lattice)
    volume = gs["volume"] * (1.0 + strain)
    calc = target.calculator()
    coa = _relaxed_c_over_a(element, volume, gs["c_over_a"], calc) if lattice == "hcp" else None
    unit = _cell(element, lattice, volume, coa)
    unit.calc = calc
    energy = unit.get_potential_energy() / len(unit)
    ph = phonons.force_constants(unit, target, sc, float(s["displacement_A"]), lattice)
    ph.run_mesh([int(s["mesh"])] * 3, is_gamma_center=True)
    freqs = np.array(ph.mesh.frequencies, float)  # ascending per q-point
    freqs[np.all(np.abs(np.asarray(ph.mesh.qpoints)) < 1e-12, axis=1), :3] = np.inf  # Γ's acoustic modes
    fmin = float(np.min(freqs)) if np.isfinite(freqs).any() else 0.0
    ph.run_thermal_properties(temperatures=temps, exclude_gamma_acoustic=True)
    tp = ph.thermal_properties
    n = len(ph.primitive)  # phonopy's sums are per primitive cell
    return {"strain": float(strain), "volume": float(unit.get_volume() / len(unit)), "energy": float(energy),
            "c_over_a": coa, "min_frequency": fmin, "stable": fmin >= -float(s["imaginary_tolerance_THz"]),
            "free_energy": np.asarray(tp.free_energy) / n, "entropy": np.asarray(tp.entropy) / n,
            "heat_capacity": np.asarray(tp.heat_capacity) / n}


def _point(target, element, lattice, strain, sc, s, temps):
    key = (PROPERTY, "point", element, lattice, round(float(strain), 6), sc, int(s["mesh"]),
           float(temps[1] - temps[0]), float(temps[-1]), float(s["displacement_A"]), PROTOCOL_VERSION)
    return target.memo(*key, compute=lambda: volume_point(target, element, lattice, strain, sc, s, temps))


# ---------------------------------------------------------------- QHA

def run_qha(points: list[dict], temps: np.ndarray, eos: str = "vinet") -> dict:
    """phonopy's QHA on ``points`` (per atom): T (K), V (Å³/atom), linear α (1/K), C_p (J/(mol K)), γ, B_T (GPa),
    at the temperatures ``temps[:-1]``."""
    from phonopy.qha.core import QHA

    pts = sorted(points, key=lambda p: p["volume"])
    q = QHA([p["volume"] for p in pts], [p["energy"] for p in pts], temps,
            np.array([p["heat_capacity"] for p in pts]).T, np.array([p["entropy"] for p in pts]).T,
            np.array([p["free_energy"] for p in pts]).T, eos=eos)
    q.run()
    n = len(q.thermal_expansion)
    return {"T": np.asarray(temps[:n], float), "V": np.asarray(q.volume_temperature[:n], float),
            "alpha": np.asarray(q.thermal_expansion, float) / 3.0, "Cp": np.asarray(q.heat_capacity_P_polyfit, float),
            "gruneisen": np.asarray(q.gruneisen_temperature, float),
            "B_GPa": np.asarray(q.bulk_modulus_temperature[:n], float),
            "volumes": [p["volume"] for p in pts]}


def inside_mask(curve: dict) -> np.ndarray:
    """True where V(T) lies at least half a volume step inside the sampled volumes."""
    v = np.asarray(curve["volumes"])
    lo, hi = v[0] + 0.5 * (v[1] - v[0]), v[-1] - 0.5 * (v[-1] - v[-2])
    return (curve["V"] >= lo) & (curve["V"] <= hi) & np.isfinite(curve["V"])


def t_inside_max(curve: dict) -> float:
    """The highest T up to which every minimum lies inside the sampled volumes (K)."""
    ok = inside_mask(curve)
    bad = np.flatnonzero(~ok)
    if not len(bad):
        return float(curve["T"][-1])
    return float(curve["T"][bad[0] - 1]) if bad[0] > 0 else 0.0


def _stable_block(points: list[dict]) -> tuple[list[dict], list[float]]:
    """The contiguous run of dynamically stable volumes around V0, and the unstable strains."""
    pts = sorted(points, key=lambda p: p["strain"])
    i0 = int(np.argmin([abs(p["strain"]) for p in pts]))
    lo = hi = i0
    if not pts[i0]["stable"]:
        return [], [p["strain"] for p in pts if not p["stable"]]
    while lo > 0 and pts[lo - 1]["stable"]:
        lo -= 1
    while hi < len(pts) - 1 and pts[hi + 1]["stable"]:
        hi += 1
    return pts[lo:hi + 1], [p["strain"] for p in pts if not p["stable"]]


def qha_curve(target: Target, element: str, lattice: str, s: dict, sc: tuple) -> dict:
    """The QHA of ``element``'s ``lattice`` with settings ``s`` and supercell ``sc`` (volumes extended at the
    expanded end while the minimum leaves them below 0.8 T_m).  Not cached itself; its volumes are."""
    temps = temperature_grid(element, float(s["T_step_K"]))
    strains = sorted(float(x) for x in s["volume_strains"])
    step = strains[-1] - strains[-2]
    points = [_point(target, element, lattice, x, sc, s, temps) for x in strains]
    limit = t_limit_K(element)
    while True:
        usable, unstable = _stable_block(points)
        if len(usable) < 5:
            return {"points": points, "usable": usable, "unstable": unstable, "curve": None, "T_inside_max": 0.0}
        curve = run_qha(usable, temps, s["eos"])
        tmax = t_inside_max(curve)
        top = max(p["strain"] for p in points)
        if tmax >= limit or unstable or top + step > float(s["max_volume_strain"]) + 1e-9:
            return {"points": points, "usable": usable, "unstable": unstable, "curve": curve, "T_inside_max": tmax}
        points.append(_point(target, element, lattice, top + step, sc, s, temps))


def _lattice_at(lattice: str, points: list[dict], volume):
    """(a, c or None) in Å at ``volume`` (Å³/atom): hcp from c/a(V) (quadratic fit of the relaxed values)."""
    volume = np.asarray(volume, float)
    if lattice != "hcp":
        return (volume * ATOMS_PER_CELL[lattice]) ** (1.0 / 3.0), None
    v = np.array([p["volume"] for p in points])
    coa = np.polyval(np.polyfit(v, [p["c_over_a"] for p in points], min(2, len(v) - 1)), volume)
    a = (4.0 * volume / (math.sqrt(3.0) * coa)) ** (1.0 / 3.0)
    return a, a * coa


def values_at(res: dict, lattice: str, t: float) -> dict | None:
    """The QHA numbers at ``t`` (K), units of :data:`UNITS`; None beyond the curve or outside the volumes."""
    curve = res["curve"]
    if curve is None or t > res["T_inside_max"] + 1e-9 or t > curve["T"][-1]:
        return None
    at = {k: float(np.interp(t, curve["T"], curve[k])) for k in ("V", "alpha", "Cp", "gruneisen")}
    a, c = _lattice_at(lattice, res["usable"], at["V"])
    out = {"alpha": at["alpha"] * 1e6, "V": at["V"], "a": float(a), "Cp": at["Cp"], "gruneisen": at["gruneisen"]}
    if c is not None:
        out["c"] = float(c)
    if t != T_REF_K and T_REF_K <= res["T_inside_max"]:
        out["dL_L"] = 100.0 * ((at["V"] / float(np.interp(T_REF_K, curve["T"], curve["V"]))) ** (1.0 / 3.0) - 1.0)
    return out


def _variants(target, element, lattice, tier, s, sc, res) -> list[tuple[str, dict]]:
    """The reruns whose change is the uncertainty: EOS form, volume set, supercell."""
    out = []
    temps = temperature_grid(element, float(s["T_step_K"]))
    usable = res["usable"]
    other = "birch_murnaghan" if s["eos"] != "birch_murnaghan" else "vinet"
    c = run_qha(usable, temps, other)
    out.append((f"EOS {other}", {**res, "curve": c, "T_inside_max": t_inside_max(c)}))
    for label, pts in (("without the most compressed volume", usable[1:]),
                       ("without the most expanded volume", usable[:-1])):
        if len(pts) >= 5:
            c = run_qha(pts, temps, s["eos"])
            out.append((label, {**res, "usable": pts, "curve": c, "T_inside_max": t_inside_max(c)}))
    check = s.get("check_supercell")
    if check:
        if check == "standard":
            s2, sc2 = settings("standard"), supercell(lattice, "standard")
            s2 = {**s2, "volume_strains": sorted(p["strain"] for p in res["points"]), "max_volume_strain": 0.0}
        else:
            sc2 = tuple(int(x) for x in np.broadcast_to(check[lattice], 3))
            s2 = {**s, "volume_strains": sorted(p["strain"] for p in res["points"]), "max_volume_strain": 0.0}
        if sc2 != sc:
            r2 = qha_curve(target, element, lattice, s2, sc2)
            if r2["curve"] is not None:
                out.append((f"supercell {'x'.join(map(str, sc2))}", r2))
    return out


@single_threaded
def _compute(target: Target, element: str, tier: str, lattice: str, s: dict | None = None) -> dict:
    """:func:`compute` uncached; ``s`` overrides the tier's settings (tests: a volume set the minimum leaves)."""
    s = s or settings(tier)
    sc = supercell(lattice, tier, s)
    res = qha_curve(target, element, lattice, s, sc)
    temps = temperatures_K(element)
    if tier == "full":  # the NPT MD case compares at these too
        temps = sorted(set(temps) | set(md_temperatures_K(element)))
    values = {t: values_at(res, lattice, t) for t in temps}
    spread = {t: {} for t in temps}
    covers = []
    if res["curve"] is not None:
        for label, var in _variants(target, element, lattice, tier, s, sc, res):
            covers.append(label)
            for t in temps:
                v0, v1 = values[t], values_at(var, lattice, t)
                if v0 is None or v1 is None:
                    continue
                for k, x in v0.items():
                    if k in v1:
                        spread[t][k] = max(spread[t].get(k, 0.0), abs(v1[k] - x))
    curve = res["curve"]
    out = {"lattice": lattice, "supercell": sc, "T_limit_K": t_limit_K(element), "T_inside_max": res["T_inside_max"],
           "temperatures_K": temperatures_K(element), "B_GPa_0K": None if curve is None else float(curve["B_GPa"][0]), "values": values, "uncertainty": spread, "covers": covers,
           "strains": sorted(p["strain"] for p in res["points"]),
           "unstable_strains": res["unstable"], "volumes": [p["volume"] for p in res["usable"]],
           "c_over_a": [p["c_over_a"] for p in res["usable"]], "eos": s["eos"], "mesh": int(s["mesh"])}
    if curve is not None:
        keep = curve["T"] <= min(res["T_inside_max"], out["T_limit_K"]) + 1e-9
        thin = max(1, int(round(25.0 / float(s["T_step_K"]))))  # a point every 25 K or so for the plot
        idx = np.flatnonzero(keep)[::thin]
        a, _ = _lattice_at(lattice, res["usable"], curve["V"][idx])
        out["curve"] = {"T_K": curve["T"][idx].tolist(), "alpha_1e-6_per_K": (curve["alpha"][idx] * 1e6).tolist(),
                        "V_A3": curve["V"][idx].tolist(), "a_A": np.atleast_1d(a).tolist(),
                        "Cp_J_per_molK": curve["Cp"][idx].tolist(), "gruneisen": curve["gruneisen"][idx].tolist()}
    return out


def compute(target, element: str, tier: str = "standard", lattice: str | None = None) -> dict:
    """The QHA numbers of ``element``'s ground lattice at its temperatures (``values``: T -> quantity -> value in
    :data:`UNITS`; None where refused), their ``uncertainty`` and what it ``covers``, ``T_inside_max`` (K), the
    curve for the plot.  Cached in the target's session."""
    lattice = lattice or lattice_of(element)
    t = Target.of(target)
    return t.memo(PROPERTY, element, tier, lattice, PROTOCOL_VERSION, compute=lambda: _compute(t, element, tier, lattice))


# ---------------------------------------------------------------- protocol


def _qha_measurements(res: dict, element: str, case: str) -> list[Measurement]:
    limit, tmax = res["T_limit_K"], res["T_inside_max"]
    sc = "x".join(map(str, res["supercell"]))
    covers = "change with " + ", ".join(res["covers"]) if res["covers"] else ""
    base = (f"phonopy QHA ({res['eos']} EOS), {len(res['volumes'])} volumes V0·(1{res['strains'][0]:+.2f} … "
            f"{res['strains'][-1]:+.2f}), {sc} supercell, {res['mesh']}³ Γ-centred mesh")
    if res["unstable_strains"]:
        base += f"; dynamically unstable at V/V0 − 1 = {', '.join(f'{x:+.2f}' for x in res['unstable_strains'])}"
    inside = tmax >= limit - 1e-9
    data = {"curve": res.get("curve"), "T_limit_K": limit, "T_inside_max": tmax, "lattice": res["lattice"],
            "temperatures_K": res["temperatures_K"], "volumes": res["volumes"]}
    failure = None
    if not res["volumes"] or len(res["volumes"]) < 5:
        failure = (f"{case} {element}: fewer than 5 dynamically stable volumes around V0 "
                   f"(imaginary phonons at V/V0 − 1 = {res['unstable_strains']}): no quasi-harmonic free energy")
    out = [Measurement("T_inside_max_K", tmax, "K", policy="reported", converged=inside, data=data, failure=failure,
                       note=base + (f"; the free-energy minimum stays inside the sampled volumes up to {tmax:.0f} K "
                                    f"≥ 0.8 T_m = {limit:.0f} K" if inside else
                                    f"; the free-energy minimum leaves the sampled volumes above {tmax:.0f} K, "
                                    f"below 0.8 T_m = {limit:.0f} K: QHA numbers beyond it are refused"))]
    for t in res["temperatures_K"]:
        vals, unc = res["values"][t], res["uncertainty"][t]
        keys = ["alpha", "V", "a"] + (["c"] if res["lattice"] == "hcp" else []) + \
               (["dL_L"] if t != T_REF_K else []) + ["Cp", "gruneisen"]
        for k in keys:
            q = f"{k}_{t_label(t)}"
            if vals is None or k not in vals:
                out.append(Measurement(q, None, UNITS[k], converged=False,
                                       policy=references.policy(element, PROPERTY, case, q),
                                       note=f"refused: the free-energy minimum is outside the sampled volumes above "
                                            f"{tmax:.0f} K"))
                continue
            out.append(Measurement(q, vals[k], UNITS[k], uncertainty=unc.get(k), uncertainty_covers=covers,
                                   policy=references.policy(element, PROPERTY, case, q)))
    return out


class ThermalExpansionProtocol(Protocol):
    """Quasi-harmonic α(T), V(T), C_p(T), γ(T) (phonopy QHA) and, at the full tier, the NPT MD lattice parameter."""

    name, version, defaults, tier_settings = PROPERTY, PROTOCOL_VERSION, DEFAULTS, TIER_SETTINGS

    def cases(self, element, tier):
        return cases(element, tier)

    def measure(self, target, element, case, tier):
        lattice = case.removesuffix("_npt")
        if lattice not in LATTICES or case not in cases(element, tier):
            raise ValueError(f"{PROPERTY}: {element}'s cases at {tier} are {cases(element, tier)}, not {case}")
        res = compute(target, element, tier, lattice)
        if not case.endswith("_npt"):
            return _qha_measurements(res, element, case)
        from .thermal_expansion_md import npt_measurements

        return npt_measurements(target, element, lattice, tier, res,
                                policy=lambda q: references.policy(element, PROPERTY, case, q))


PROTOCOL = ThermalExpansionProtocol()


def plot(records: list[dict], outdir) -> list[Path]:
    """α(T), a(T) and C_p(T) of the QHA (the potential red), the references at their temperatures (black, ± the
    tolerance grey), the NPT MD lattice parameters (red open circles), 3R (black dashed) and the limits."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    for rec in records:
        d = rec.get("data") or {}
        if rec.get("quantity") != "T_inside_max_K" or not d.get("curve"):
            continue
        cur, el, pot = d["curve"], rec.get("element", ""), rec.get("potential", "potential")
        fig, axes = plt.subplots(1, 3, figsize=(12.5, 3.6))
        panels = (("alpha", "alpha_1e-6_per_K", "α (10⁻⁶/K)"), ("a", "a_A", "a (Å)"), ("Cp", "Cp_J_per_molK", "C_p (J/(mol K))"))
        for ax, (k, key, label) in zip(axes, panels):
            ax.plot(cur["T_K"], cur[key], "-", color=POTENTIAL_COLOUR, lw=1.3, label=f"{pot} (QHA)")
            for r in records:
                m = re.fullmatch(rf"{k}_(\d+)K", str(r.get("quantity")))
                if not m or r.get("element") != el:
                    continue
                t = float(m.group(1))
                if _finite(r.get("reference")):
                    tol = float(r["tolerance"]) if _finite(r.get("tolerance")) else 0.0
                    if tol > 0:
                        ax.fill_between([t - 40, t + 40], r["reference"] - tol, r["reference"] + tol,
                                        color=TOLERANCE_COLOUR, lw=0, zorder=0)
                    ax.plot([t], [r["reference"]], "s", color=DFT_COLOUR, ms=5, zorder=3,
                            label=None if ax.get_legend_handles_labels()[1].count("experiment") else "experiment")
            if k == "a":  # NPT MD points
                for r in records:
                    m = re.fullmatch(r"a_MD_(\d+)K", str(r.get("quantity")))
                    if m and r.get("element") == el and _finite(r.get("value")):
                        err = float(r["uncertainty"]) if _finite(r.get("uncertainty")) else 0.0
                        ax.errorbar([float(m.group(1))], [r["value"]], yerr=[err], fmt="o", mfc="none",
                                    color=POTENTIAL_COLOUR, ms=6, zorder=4,
                                    label=None if ax.get_legend_handles_labels()[1].count("NPT MD") else "NPT MD")
            if k == "Cp":
                ax.axhline(3 * 8.314462618, color=DFT_COLOUR, ls="--", lw=0.8, label="3R (Dulong–Petit)")
            for x, ls in ((d.get("T_limit_K"), ":"), (d.get("T_inside_max"), "-.")):
                if _finite(x):
                    ax.axvline(float(x), color="0.6", ls=ls, lw=0.8)
            ax.set_xlabel("T (K)")
            ax.set_ylabel(label)
            ax.legend(fontsize=7)
        axes[0].set_title(f"{el} {d.get('lattice', '')}: quasi-harmonic (dotted: 0.8 T_m)", fontsize=9)
        fig.tight_layout()
        path = Path(outdir) / f"thermal_expansion_{pot}_{el}.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        made.append(path)
    return made
