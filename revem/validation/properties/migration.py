"""Vacancy migration: the barrier of the nearest-neighbour vacancy hop by climbing-image NEB, and from it the
self-diffusion activation energy.

Method: the periodic supercell of the defects protocol (:func:`revem.validation.properties.defects.perfect`,
:func:`~revem.validation.properties.defects.supercell_of`) at the potential's own relaxed ground state
(:func:`~revem.validation.properties.common.ground_state`), cell fixed.  The vacancy is the site nearest the
cell centre (the site :func:`~revem.validation.properties.defects.build_defect` removes); the hopping atom is
its nearest neighbour along the case's hop vector.  Initial endpoint: the vacancy cell (the atom on its
site); final endpoint: the same cell with the atom on the vacancy site.  Both are relaxed (LBFGS) to
``fmax_endpoints_eV_per_A``.  The band: ``n_images`` images interpolated linearly between them, ASE's
:class:`ase.mep.NEB` with ``climb=True`` and ``method="improvedtangent"`` (G. Henkelman, H. Jónsson,
J. Chem. Phys. 113, 9978 (2000), doi:10.1063/1.1323224; G. Henkelman, B. P. Uberuaga, H. Jónsson,
J. Chem. Phys. 113, 9901 (2000), doi:10.1063/1.1329672), relaxed with FIRE to ``fmax_band_eV_per_A``::

    E_m = max_i E(image_i) - E(initial)                       [eV]
    E_a_self_diffusion = E_f(vacancy) + E_m                   [eV]

with ``E_f`` the vacancy formation energy of the defects protocol for the same target and tier
(:func:`revem.validation.properties.defects.compute`, cached in the run).  The profile (image energies
against the reaction coordinate: the cumulative distance between images in configuration space, Å) and
ASE's force-based spline through it (:func:`ase.utils.forcecurve.fit_images`) are kept for the plot.

Cases per lattice (:data:`LATTICE_CASES`): bcc ``vacancy_hop_111`` (⟨111⟩/2), fcc ``vacancy_hop_110``
(⟨110⟩/2), hcp ``vacancy_hop_basal`` (to a neighbour in the same basal plane, distance a) and
``vacancy_hop_nonbasal`` (to a neighbour in the next plane).  Diamond: none.  The vacancy of the covalent
diamond-structure crystals reconstructs (Jahn-Teller distortion) and its DFT barrier depends on the charge
state and on the spin state (neutral, singly, doubly charged vacancies in C and Si have different barriers
and paths); a neutral-cell ⟨110⟩/4 hop would be scored against no comparable reference, so it is not built.

Tiers (:data:`TIER_SETTINGS`): smoke -- the small cell (54-site bcc, 32-site fcc, 48-site hcp), 3 images,
loose tolerances, no convergence check (the record says so).  Standard -- 128-site bcc, 108-site fcc,
96-site hcp (the defects protocol's cells), 5 images, endpoints to 1e-3 eV/Å, band to 1e-2 eV/Å; the
number of images is checked by a band of 7 images started from the converged one (resampled along its
arc length), the supercell by the next size (250-site bcc, 256-site fcc, 240-site hcp; hcp's non-basal hop is
left to the full tier, for the CPU budget) with the same 5 images (3 images
would put the climbing image on the middle of a double-humped path and miss the humps), its endpoints and
band started from the converged band of the smaller cell embedded in the larger one (:func:`embed`: the
displacements of the atoms within the small cell around the hop, the others on their sites; the hop of
the larger cell is the one nearest its centre with the same hop vector and surroundings), then relaxed to
the same criteria.
Full: 7 images, band 5e-3 eV/Å, checks with 9 images and the next size at 5 images.

Cost (process CPU time on one core, measured with ``time.process_time``): smoke 0.6 (W_zhou) to 1.8
(SNAP W_2940_2017_2) CPU-s per W potential; standard 6.5 (W_zhou), 9.5 (W_quadratic), 26-30 (the SNAP W
potentials: main band ~10, 7-image check ~7, 250-site check ~11); a band is capped at ``max_band_steps``
FIRE steps (converging bands of the shipped potentials take 20-60), so a band that does not converge
costs ~20 CPU-s and is reported unconverged, without checks.

Uncertainty of E_m (``uncertainty_covers`` says which parts were computed): |ΔE_m| with the next supercell,
|ΔE_m| with more images, and the harmonic bound of the energy still to gain from the residual forces of
the climbing image and of the initial endpoint (:func:`~revem.atomistic.residual_energy`).  E_m is
*converged* when the relaxations reached their force criteria and both checks moved it by less than
``convergence_eV`` (not converged otherwise: the record is then not scored).

Red flags (``failure``): an endpoint that did not stay a vacancy next to its hopping atom (the atom moved
more than a quarter of the hop length while relaxing), a band with an image below the initial endpoint by
more than ``below_endpoint_eV`` (the vacancy has a lower-energy state on the path), an inner minimum of the
band less than ``intermediate_eV`` above the endpoints (the band went through another vacancy configuration:
not one hop), a barrier ≤ 0, a check whose band the potential refused (atoms overlapping).  The
convergence checks are not run on a flagged or unconverged band.

References: fcc Al, Cu, Ni -- PBE barriers of T. Angsten, T. Mayeshiba, H. Wu, D. Morgan, New J. Phys. 16,
015018 (2014), doi:10.1088/1367-2630/16/1/015018, Table A1, read from the transcription in
atomind-ai/mlip-arena ``benchmarks/vacancy_migration/Table-A1-fcc.csv`` (MLIP Arena's vacancy-migration
benchmark; :mod:`revem.validation.references_build.migration`).  The paper's hcp table (A2) has two barrier
columns (basal and z-direction hops) whose transcription (``e_vacmig_v``, ``e_vacmig``) does not say which
is which, so hcp barriers (Be, Re, Os) are reported, not scored.  No bcc barrier (W, Mo, Ta, Nb) could be
read in a source available here: reported.  E_a_self_diffusion is always reported.

Disclaimers: static 0 K barriers at constant volume (no migration volume, no vibrational prefactor or
entropy, no anharmonicity); the hcp endpoints in a 96-site cell carry the elastic image interaction; the
⟨111⟩ hop in bcc is the only path measured (no second-neighbour or ring paths).  A double-humped path (a
metastable state at the middle of the hop, seen with some EAM W potentials) gives the higher hump as E_m.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.mep import NEB
from ase.optimize import FIRE, LBFGS
from ase.utils.forcecurve import fit_images
from scipy.spatial import cKDTree

from ...potentials.calculators import BadStructure
from .. import references
from ..plotting import DFT_COLOUR, POTENTIAL_COLOUR, TOLERANCE_COLOUR
from ..plotting import finite as _finite
from ..protocol import Measurement, Protocol, merge_settings
from ..target import Target
from . import defects
from .common import ground_state, lattice_of, relax_positions, residual_energy

PROPERTY = "migration"
PROTOCOL_VERSION = 1
UNIT = "eV"
#: the hop cases of each lattice (no diamond case: see the module docstring)
LATTICE_CASES = {
    "bcc": ("vacancy_hop_111",),
    "fcc": ("vacancy_hop_110",),
    "hcp": ("vacancy_hop_basal", "vacancy_hop_nonbasal"),
}
SMOKE_CASES = ("vacancy_hop_111", "vacancy_hop_110", "vacancy_hop_basal")
#: hop vectors of the cubic cases, in units of the conventional lattice constant
HOP_VECTOR_A = {"vacancy_hop_111": (0.5, 0.5, 0.5), "vacancy_hop_110": (0.5, 0.5, 0.0)}
DEFAULTS = {
    # supercells as the defects protocol names them (bcc/fcc/diamond: n conventional cells; hcp: repeats of
    # the orthorhombic 4-atom cell)
    "supercell": 4, "supercell_fcc": 3, "supercell_hcp": (4, 2, 3), "supercell_diamond": 3,
    "next_supercell": 5, "next_supercell_fcc": 4, "next_supercell_hcp": (5, 3, 4), "next_supercell_diamond": 4,
    "n_images": 5,
    "fmax_endpoints_eV_per_A": 1e-3,
    "fmax_band_eV_per_A": 1e-2,
    "max_steps": 1000,          # endpoint relaxations
    "max_band_steps": 200,      # FIRE steps of a band (a converging band takes 20-60 with the shipped potentials)
    "check_images": 7,          # images of the more-images check (0: not checked)
    "check_supercell_images": 5,  # images of the next-supercell check (0: not checked)
    "no_supercell_check": (),   # cases whose next-supercell check is left out (the tier's CPU budget)
    "convergence_eV": 0.05,     # |ΔE_m| of a check above which E_m is not converged
    "below_endpoint_eV": 0.01,  # an image this far below the initial endpoint is a red flag
    "intermediate_eV": 0.05,    # an inner minimum of the band this close to the endpoints is a red flag
}
TIER_SETTINGS = {
    "smoke": {"supercell": 3, "supercell_fcc": 2, "supercell_hcp": (3, 2, 2), "n_images": 3,
              "fmax_endpoints_eV_per_A": 1e-2, "fmax_band_eV_per_A": 5e-2,
              "check_images": 0, "check_supercell_images": 0},
    # hcp's non-basal hop: its 240-site check costs ~20 CPU-s with a SNAP; the basal hop's check of the same
    # cells stands for it at this tier (the full tier checks both)
    "standard": {"no_supercell_check": ("vacancy_hop_nonbasal",)},
    "full": {"n_images": 7, "fmax_band_eV_per_A": 5e-3, "max_band_steps": 1000, "check_images": 9,
             "check_supercell_images": 7},
}
#: arc-length samples of the spline fit kept for the plot
N_FIT = 60


def cases(element: str, tier: str) -> list[str]:
    """The hop cases of the element's lattice (:data:`LATTICE_CASES`); smoke: those in :data:`SMOKE_CASES`."""
    own = LATTICE_CASES.get(lattice_of(element), ())
    return [c for c in own if c in SMOKE_CASES] if tier == "smoke" else list(own)


def _lattice_of_case(case: str) -> str:
    for lat, own in LATTICE_CASES.items():
        if case in own:
            return lat
    raise ValueError(f"migration: unknown case {case!r}")


def _mic(v, L):
    return v - L * np.round(v / L)


def hop_sites(cell: Atoms, case: str, a0: float, c: float | None = None) -> tuple[int, int]:
    """(vacancy site, hopping atom) of ``case`` in the perfect orthogonal supercell ``cell``: the site nearest
    the cell centre (the one :func:`defects.build_defect` removes) and its nearest neighbour along the hop
    (cubic: :data:`HOP_VECTOR_A`; hcp basal: a neighbour at distance a in the same plane; hcp non-basal: a
    nearest neighbour in the plane above).  Among equivalent neighbours the one with the largest x (then y)
    component of the hop wins."""
    L = cell.cell.lengths()
    centre = cell.cell.array.sum(axis=0) / 2
    i = int(np.argmin(np.linalg.norm(cell.positions - centre, axis=1)))
    d = _mic(cell.positions - cell.positions[i], L)
    r = np.linalg.norm(d, axis=1)
    if case in HOP_VECTOR_A:
        want = a0 * np.array(HOP_VECTOR_A[case])
        j = int(np.argmin(np.linalg.norm(d - want, axis=1)))
        if np.linalg.norm(d[j] - want) > 0.05 * a0:
            raise ValueError(f"migration: no site at {HOP_VECTOR_A[case]} a from the vacancy")
        return i, j
    nn = np.flatnonzero((r > 0.1) & (r < 1.05 * a0))  # the 12 nearest neighbours of ideal-c/a hcp
    dz = d[nn, 2]
    if case == "vacancy_hop_basal":
        pick = nn[np.abs(dz) < 0.05 * a0]
    elif case == "vacancy_hop_nonbasal":
        pick = nn[(dz > 0.05 * a0) & (np.abs(dz - c / 2) < 0.05 * a0)]
    else:
        raise ValueError(f"migration: unknown case {case!r}")
    if not len(pick):
        raise ValueError(f"migration: no neighbour for {case} (c/a far from ideal?)")
    # by geometry, not by index: the largest x, then y component (the same hop direction in every cell)
    return i, int(min(pick, key=lambda q: (-round(float(d[q, 0]), 3), -round(float(d[q, 1]), 3))))


def endpoints(cell: Atoms, i: int, j: int) -> tuple[Atoms, Atoms, int]:
    """Unrelaxed endpoints of the hop of atom ``j`` into the vacancy at site ``i`` (same atom order): the
    vacancy cell, the cell with atom ``j`` on site ``i``, and the index of the hopping atom in them."""
    ini = cell.copy()
    fin = cell.copy()
    fin.positions[j] = cell.positions[i]
    del ini[i]
    del fin[i]
    return ini, fin, j - (j > i)


def _band(target: Target, images: list[Atoms], fmax: float, steps: int) -> tuple[NEB, bool, int]:
    """Climbing-image NEB (improved tangent) on ``images`` (endpoints carry their calculators), FIRE."""
    for im in images[1:-1]:
        im.calc = target.calculator()
    neb = NEB(images, climb=True, method="improvedtangent", allow_shared_calculator=target.shared_instance)
    opt = FIRE(neb, logfile=None)
    ok = bool(opt.run(fmax=fmax, steps=steps))
    return neb, ok, int(opt.nsteps)


def resample(images: list[Atoms], n: int) -> list[Atoms]:
    """``n`` inner images placed at equal arc length along the piecewise-linear path through ``images``
    (configuration space), endpoints kept: a start for a band with more images."""
    pos = np.array([im.positions for im in images])
    seg = np.linalg.norm((pos[1:] - pos[:-1]).reshape(len(pos) - 1, -1), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    out = [images[0]]
    for t in np.linspace(0, s[-1], n + 2)[1:-1]:
        k = min(int(np.searchsorted(s, t, side="right")) - 1, len(seg) - 1)
        w = (t - s[k]) / seg[k] if seg[k] > 0 else 0.0
        im = images[0].copy()
        im.positions = (1 - w) * pos[k] + w * pos[k + 1]
        out.append(im)
    return out + [images[-1]]


def _hop_frame(cell: Atoms, case: str, a0: float, c: float | None):
    """(vacancy site, hop vector, positions of the endpoint atoms relative to the hop midpoint, minimum image)."""
    i, j = hop_sites(cell, case, a0, c)
    L = cell.cell.lengths()
    d = _mic(cell.positions[j] - cell.positions[i], L)
    return i, d, _mic(np.delete(cell.positions, i, axis=0) - (cell.positions[i] + d / 2), L)


def embed(band: list[Atoms], small: Atoms, big: Atoms, case: str, a0: float,
          c: float | None) -> tuple[int, int, list[np.ndarray]] | None:
    """A band in the larger perfect supercell ``big`` started from a converged ``band`` of the perfect supercell
    ``small``: (vacancy site, hopping atom, positions of each image).  The hop of ``big`` is the one nearest
    its centre with the same hop vector and the same surroundings (in hcp the vacancy may sit on either
    stacking); every atom whose place relative to the hop midpoint lies inside the small cell takes the
    displacement of its counterpart in each image, the others stay on their sites.  None when no hop of
    ``big`` matches."""
    i1, d1, rel1 = _hop_frame(small, case, a0, c)
    L = big.cell.lengths()
    tree = cKDTree(rel1)
    p1 = np.delete(small.positions, i1, axis=0)
    order = np.argsort(np.linalg.norm(big.positions - big.cell.array.sum(axis=0) / 2, axis=1))
    for i2 in order[:16]:
        i2 = int(i2)
        rel2 = _mic(np.delete(big.positions, i2, axis=0) - (big.positions[i2] + d1 / 2), L)
        dist, idx = tree.query(rel2)
        inside = np.all(np.abs(rel2) < small.cell.lengths() / 2 - 0.05 * a0, axis=1)
        if np.any(dist[inside] > 0.05 * a0):
            continue
        j2 = int(np.argmin(np.linalg.norm(_mic(big.positions - (big.positions[i2] + d1), L), axis=1)))
        p2 = np.delete(big.positions, i2, axis=0)
        out = []
        for im in band:
            pos = p2.copy()
            pos[inside] += (im.positions - p1)[idx[inside]]
            out.append(pos)
        return i2, j2, out
    return None


def _hop(target: Target, element: str, case: str, structure: str, n, n_images: int, s: dict,
         start: dict | None = None) -> dict:
    """Relaxed endpoints and the converged band of ``case`` in supercell ``n``; returns numbers and the band.
    ``start``: the result of a smaller supercell, whose band is embedded (:func:`embed`) as the start."""
    gs = ground_state(target, element, structure)
    a0, coa = gs["a0"], gs.get("c_over_a")
    cell = defects.perfect(element, a0, n, structure, coa)
    i, j = hop_sites(cell, case, a0, gs.get("c"))
    pos = None
    if start is not None:
        band = start["images"] if len(start["images"]) == n_images + 2 else resample(start["images"], n_images)
        emb = embed(band, start["cell"], cell, case, a0, gs.get("c"))
        if emb is not None:
            i, j, pos = emb
    hop_A = float(np.linalg.norm(_mic(cell.positions[j] - cell.positions[i], cell.cell.lengths())))
    ini, fin, k = endpoints(cell, i, j)
    if pos is not None:
        ini.positions, fin.positions = pos[0], pos[-1]
    fmax_end, fmax_band, steps = (float(s["fmax_endpoints_eV_per_A"]), float(s["fmax_band_eV_per_A"]),
                                  int(s["max_steps"]))
    band_steps = int(s["max_band_steps"])
    ok_end = True
    stayed = True
    for im, site in ((ini, cell.positions[j]), (fin, cell.positions[i])):
        im.calc = target.calculator()
        ok_end &= relax_positions(im, fmax=fmax_end, steps=steps, optimizer=LBFGS)
        stayed &= bool(np.linalg.norm(im.positions[k] - site) < hop_A / 4)
    e_ini = float(ini.get_potential_energy())
    e_fin = float(fin.get_potential_energy())
    images = [ini] + [ini.copy() for _ in range(n_images)] + [fin]
    if pos is None:
        NEB(images, method="improvedtangent").interpolate()
    else:
        for im, p in zip(images[1:-1], pos[1:-1]):
            im.positions = p
    _, ok_band, nsteps = _band(target, images, fmax_band, band_steps)
    energies = np.array([im.get_potential_energy() for im in images]) - e_ini
    top = int(np.argmax(energies))
    return {"E_m": float(energies[top]), "E_m_reverse": float(energies[top] - (e_fin - e_ini)),
            "energies": energies, "images": images, "cell": cell, "top": top, "n_atoms": len(ini),
            "hop_A": hop_A, "converged": bool(ok_end and ok_band), "endpoints_converged": bool(ok_end),
            "band_converged": bool(ok_band), "band_steps": nsteps, "stayed": stayed,
            "dE_endpoints": float(e_fin - e_ini), "E_f_endpoint": float(e_ini - len(ini) * gs["e0"]),
            "residual_eV": residual_energy(images[top]) + residual_energy(ini), "a0_A": a0}


def _profile(images: list[Atoms]) -> dict:
    """Reaction coordinate (Å) and energies (eV, from the initial endpoint) of the images, and ASE's
    force-based spline through them (:data:`N_FIT` points)."""
    fit = fit_images(images)
    e0 = images[0].get_potential_energy()
    take = np.linspace(0, len(fit.fit_path) - 1, N_FIT).round().astype(int)
    return {"path_A": [round(float(x), 5) for x in fit.path],
            "energies_eV": [round(float(im.get_potential_energy() - e0), 6) for im in images],
            "fit_path_A": [round(float(x), 5) for x in np.asarray(fit.fit_path)[take]],
            "fit_energies_eV": [round(float(x), 6) for x in np.asarray(fit.fit_energies)[take]]}


def _compute(target: Target, element: str, case: str, tier: str) -> dict:
    s = merge_settings(DEFAULTS, TIER_SETTINGS, tier)
    structure = _lattice_of_case(case)
    n = defects.supercell_of(structure, s)
    t0 = time.process_time()
    main = _hop(target, element, case, structure, n, int(s["n_images"]), s)
    cpu = {"main": time.process_time() - t0}
    out = {k: v for k, v in main.items() if k not in ("images", "energies", "cell")}
    out.update(_profile(main["images"]), structure=structure, n_images=int(s["n_images"]),
               fmax_endpoints_eV_per_A=float(s["fmax_endpoints_eV_per_A"]),
               fmax_band_eV_per_A=float(s["fmax_band_eV_per_A"]), checks=[])
    out["red_flag"] = _red_flag(out, s)
    check = main["converged"] and not out["red_flag"]  # checks of an unconverged or flagged band say nothing
    try:
        if int(s["check_images"]) and check:
            more = resample(main["images"], int(s["check_images"]))
            _, ok, _ = _band(target, more, float(s["fmax_band_eV_per_A"]), int(s["max_band_steps"]))
            e = max(im.get_potential_energy() for im in more) - more[0].get_potential_energy()
            out["dE_m_more_images"] = float(e - main["E_m"])
            out["checks"].append(f"{int(s['check_images'])} images: ΔE_m = {out['dE_m_more_images']:+.4f} eV")
            out["converged"] &= ok
            cpu["more_images"] = time.process_time() - t0 - sum(cpu.values())
        if case in s["no_supercell_check"]:
            out["checks"].append("next supercell not checked at this tier")
        elif int(s["check_supercell_images"]) and check:
            nxt = {k.replace("next_", ""): v for k, v in s.items() if k.startswith("next_supercell")}
            n2 = defects.supercell_of(structure, nxt)
            big = _hop(target, element, case, structure, n2, int(s["check_supercell_images"]), s, start=main)
            out["dE_m_next_supercell"] = float(big["E_m"] - main["E_m"])
            out["next_supercell_atoms"] = big["n_atoms"]
            out["next_supercell_band_steps"] = big["band_steps"]
            out["checks"].append(f"{big['n_atoms']} atoms ({int(s['check_supercell_images'])} images): "
                                 f"ΔE_m = {out['dE_m_next_supercell']:+.4f} eV")
            out["converged"] &= big["converged"]
            cpu["next_supercell"] = time.process_time() - t0 - sum(cpu.values())
    except BadStructure as exc:  # the potential refused a structure of a check's band (atoms overlapping)
        out["converged"] = False
        out["red_flag"] = f"a convergence check's band broke down: {exc}"
        out["checks"].append("a check's band broke down (see the failure)")
    if not check:
        out["checks"].append("checks not run: the band itself is " + ("flagged" if out["red_flag"] else "not converged"))
    out["cpu_s"] = {k: round(v, 2) for k, v in cpu.items()}  # process CPU time of each part (not in records)
    deltas = [abs(out[k]) for k in ("dE_m_more_images", "dE_m_next_supercell") if k in out]
    out["size_converged"] = all(d <= float(s["convergence_eV"]) for d in deltas)
    out["uncertainty_eV"] = float(sum(deltas) + out["residual_eV"])
    out["convergence_eV"] = float(s["convergence_eV"])
    return out


def compute(target, element: str, case: str, tier: str = "standard") -> dict:
    """The migration barrier ``E_m`` (eV) of ``case``, its profile, its checks and ``uncertainty_eV``;
    cached in the target's session."""
    t = Target.of(target)
    return t.memo(PROPERTY, element, case, tier, PROTOCOL_VERSION,
                  compute=lambda: _compute(t, element, case, tier))


def _red_flag(res: dict, s: dict) -> str | None:
    """A physical red flag of a band (None when there is none; see the module docstring)."""
    e = res["energies_eV"]
    if not res["stayed"]:
        return "an endpoint did not stay a vacancy next to its hopping atom (the atom left its site on relaxing)"
    if min(e) < -float(s["below_endpoint_eV"]):
        return f"an image lies {-min(e):.3f} eV below the initial vacancy: a lower-energy state on the hop path"
    low = [i for i in range(1, len(e) - 1) if e[i] <= min(e[i - 1], e[i + 1]) and e[i] < float(s["intermediate_eV"])]
    if low:
        return (f"image {low[0]} of the band is a minimum {e[low[0]]:.3f} eV above the initial vacancy: the band "
                "passes through another vacancy configuration, not one hop")
    if res["E_m"] <= 0:
        return f"no barrier (E_m = {res['E_m']:.3f} eV)"
    return None


class MigrationProtocol(Protocol):
    """Vacancy migration barrier (climbing-image NEB) and self-diffusion activation energy."""

    name, version, defaults, tier_settings = PROPERTY, PROTOCOL_VERSION, DEFAULTS, TIER_SETTINGS
    disclaimers = "static 0 K barrier at constant volume; nearest-neighbour hop only"

    def cases(self, element, tier):
        return cases(element, tier)

    def measure(self, target, element, case, tier):
        res = compute(target, element, case, tier)
        vac = defects.compute(target, element, "vacancy", tier, lattice=res["structure"])
        has_ref = bool(references.find(element, PROPERTY, case, "E_m"))
        checks = "; ".join(res["checks"]) if res["checks"] else "supercell and images not checked at this tier"
        converged = bool(res["converged"] and res["size_converged"])
        note = (f"{res['structure']}, {res['n_atoms']} atoms, {res['n_images']} images (climbing, improved "
                f"tangent), endpoints to {res['fmax_endpoints_eV_per_A']:g} eV/Å, band to "
                f"{res['fmax_band_eV_per_A']:g} eV/Å; {checks}"
                + ("" if res["converged"] else "; NOT converged (a relaxation or band missed its force criterion"
                   + ("" if res["band_converged"] else f": the band in {res['band_steps']} FIRE steps") + ")")
                + ("" if res["size_converged"] else f"; NOT converged: a check moved E_m by more than "
                   f"{res['convergence_eV']:g} eV")
                + ("" if has_ref else "; no stored reference: reported"))
        covers = ("harmonic bound of the energy still to gain from the residual forces of the climbing image and "
                  "the initial endpoint" + "".join(f" + |ΔE_m| with {w}" for k, w in
                                                   (("dE_m_more_images", "more images"),
                                                    ("dE_m_next_supercell", "the next supercell")) if k in res))
        data = {k: res[k] for k in ("path_A", "energies_eV", "fit_path_A", "fit_energies_eV", "hop_A", "top",
                                    "n_atoms", "n_images", "E_m_reverse", "dE_endpoints", "band_steps",
                                    "E_f_endpoint")}
        data.update({k: res[k] for k in ("dE_m_more_images", "dE_m_next_supercell", "next_supercell_atoms")
                     if k in res})
        flag = res["red_flag"]
        e_m = Measurement("E_m", res["E_m"], UNIT, note=note, policy="reference" if has_ref and not flag else
                          "reported", uncertainty=res["uncertainty_eV"], converged=converged, data=data,
                          failure=flag, uncertainty_covers=covers)
        e_a = Measurement("E_a_self_diffusion", vac["E_f"] + res["E_m"], UNIT, policy="reported",
                          uncertainty=res["uncertainty_eV"] + vac["uncertainty_eV"],
                          converged=bool(converged and vac["converged"]),
                          note=f"E_f (defects vacancy, {vac['n_atoms']} atoms) {vac['E_f']:.3f} eV + E_m",
                          uncertainty_covers="the E_m uncertainty plus the residual-force bound of the vacancy "
                                             "relaxation of the defects protocol")
        return [e_m, e_a]


def plot(records: list[dict], outdir: Path) -> list[Path]:
    """Energy profile of each hop (potential red: images and spline) against the DFT barrier (black line,
    grey band ± tolerance)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = [r for r in records if r.get("property") == PROPERTY and r.get("quantity") == "E_m" and r.get("data")]
    if not recs:
        return []
    fig, axes = plt.subplots(1, len(recs), figsize=(4.2 * len(recs), 3.6), squeeze=False)
    for ax, r in zip(axes[0], recs):
        d = r["data"]
        ax.plot(d["fit_path_A"], d["fit_energies_eV"], color=POTENTIAL_COLOUR, lw=1.2)
        ax.plot(d["path_A"], d["energies_eV"], "o", color=POTENTIAL_COLOUR,
                label=f"{r.get('potential', 'potential')}: {r['value']:.3f} eV" if _finite(r.get("value")) else None)
        if _finite(r.get("reference")):
            ref, tol = float(r["reference"]), r.get("tolerance")
            if _finite(tol):
                ax.axhspan(ref - tol, ref + tol, color=TOLERANCE_COLOUR, zorder=0, label="DFT ± tolerance")
            ax.axhline(ref, color=DFT_COLOUR, lw=1.2, label=f"DFT {ref:.2f} eV")
        ax.set_title(r["case"])
        ax.set_xlabel("reaction coordinate (Å)")
        ax.set_ylabel("E - E(initial) (eV)")
        ax.legend(fontsize="small")
    fig.tight_layout()
    path = Path(outdir) / "migration.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]


PROTOCOL = MigrationProtocol()
