"""Robustness away from the training data: the dimer curve, prototypes from broken-symmetry starts,
and a random-structure search for spurious minima below the ground state.

Method, three cases:

``dimer``
    Two atoms of the element in a cubic box of ``dimer_box_A`` (periodic; the images are more than
    twice the largest scanned distance away), scanned from ``dimer_r_min_A`` (0.5 Å) to
    ``dimer_r_max_A`` in steps of ``dimer_step_A``.  The energy zero is the last point; the cutoff is
    the largest r where E(r) still differs from it by more than ``cutoff_tolerance_eV``; the curve is
    analysed from 0.5 Å to the cutoff.  Checks (each failure names where it happens):

    * repulsive wall: E(0.5 Å) − E(∞) ≥ ``min_wall_eV``;
    * monotonic below the well: E decreases with r for every step below the global minimum r_min
      (below the cutoff if there is no minimum), increases smaller than ``energy_flip_tolerance_eV``
      ignored;
    * no spurious minimum: at most one local minimum of E(r) whose depth on both sides (its
      topographic prominence) exceeds ``minimum_prominence_eV``;
    * continuity and energy-force consistency (:func:`continuity_screen`): over each pair of steps
      the Simpson residual E_i+2 − E_i + Δr/3 (F_i + 4 F_i+1 + F_i+2) (F the force on the second atom
      along the bond, −dE/dr) is compared with its truncation error estimated from Δ⁴F, and |Δ²F| is
      searched for isolated spikes; the most suspicious windows are bisected down to
      ``bisect_width_A`` (:func:`bisect_jump`), where a continuous curve leaves nothing: the remaining
      trapezoid residual ΔE + F̄ Δr is an energy jump (eV), the remaining ΔF a force jump (eV/Å);
      they fail above ``energy_jump_tolerance_eV`` (10 meV) / ``force_jump_tolerance_eV_per_A``
      (0.1 eV/Å).

    Reported besides: r_min (Å), well depth (eV), wall height (eV), cutoff (Å), the number of minima,
    and the metrics of MLIP Arena's homonuclear-diatomics task, computed as defined there
    (``mlip_arena/tasks/diatomics``, Y. Chiang et al., MLIP Arena: Advancing Fairness and
    Transparency in Machine Learning Interatomic Potentials via an Open, Accessible Benchmark
    Platform, arXiv:2509.20630 (2025), NeurIPS 2025 Datasets and Benchmarks) over their range r ≥ 0.9
    × the covalent radius: force flips (sign changes of F, |F| < 10 meV/Å taken as zero), energy-
    difference flips (|ΔE| < 1 meV taken as zero), energy jump (the |ΔE| on both sides of each flip,
    summed), tortuosity (total variation of E over the two descents into the well; 1 for a single
    well), conservation deviation (mean |F + dE/dr|, dE/dr by central differences, eV/Å), and the
    Spearman rank coefficients of E(r) on the repulsive (r < r_min; −1 ideal) and attractive
    (r > r_min; +1 ideal) branches.

Every case runs for every element; the relaxation cases measure from the element's ground lattice (its
relaxed ground state from :func:`revem.validation.properties.common.ground_state`: bcc W, Mo, Ta, Nb; fcc Al,
Cu, Ni; hcp Be, Re, Os; diamond C), written E − E(ground) below and named after the lattice in the
quantities (``n_below_bcc`` for W, ``n_below_fcc`` for Cu).

``prototype_starts``
    Prototypes of :mod:`revem.validation.properties.eos` (AFLOW library; the list less the ground lattice
    itself) scaled to the ground-state volume (no bond shorter than 0.9 × its nearest-neighbour distance),
    repeated to at least ``min_atoms`` atoms,
    strained along z (the unique axis of the hexagonal and tetragonal prototypes) to c/a ×
    ``c_over_a_factors`` at constant volume, rattled (seeded normal displacements of
    ``rattle_A``), and relaxed in positions and cell without any symmetry constraint
    (``ase.filters.UnitCellFilter`` + BFGS).  The lowest end point of each prototype is reported
    as E − E(ground) (eV/atom).  The case fails when any end point lies below the ground state by more than
    ``margin_eV_per_atom`` or collapsed.

``random_search``
    Ab initio random structure searching as in AIRSS (C. J. Pickard and R. J. Needs, J. Phys.:
    Condens. Matter 23, 053201 (2011), doi:10.1088/0953-8984/23/5/053201), with the potential in
    place of DFT: ``search_count`` cells drawn like the generator's candidates
    (:func:`revem.generator.candidate.random_cell` and ``random_positions``): N uniform in
    [``search_atoms_min``, ``search_atoms_max``], random triclinic cell of volume N·V with V uniform
    in ``search_volume_factors`` × V(ground), atoms placed at least ``search_min_distance_fraction`` ×
    d_nn(ground) apart, from one seeded ``numpy.random.Generator`` (``seed``: the same structures every
    run), each relaxed in positions and cell (UnitCellFilter + BFGS, ``search_fmax_eV_per_A``,
    at most ``search_steps`` steps).  A relaxation only lowers the energy, so an end point below the ground
    state is below it whether or not it converged: loose settings can miss a spurious minimum, never
    invent one.  A search *collapsed* when the potential refused the structure (overlapping atoms,
    non-finite energy or forces, a calculator error) or two atoms ended closer than
    ``collapse_distance_fraction`` × d_nn(ground).  The case fails when an end point lies below the ground
    state by more than ``margin_eV_per_atom`` or a search collapsed; reported: the lowest E − E(ground), how
    many searches ended below it, at it (within the margin), collapsed and unconverged.

Where the protocols' ground lattice of an element is not its lowest structure (element data
``element_data/robustness.yaml``, ``ground_is_lowest: false``: C, whose base lattice is diamond while graphite
lies ~0.1 eV/atom lower in PBE), an end point below it is physics, not a spurious minimum: it is reported and
does not fail the case (a collapse still does).

The offending structures and the lowest few end points (with energies, start and space group) are
kept in the records and written by :func:`plot` to ``robustness_structures.extxyz`` in the report
folder, beside ``robustness.png`` (dimer E(r), F(r) and the end-point energies).

Disclaimers: a finite random search proves nothing about structures it did not find (AIRSS needs
hundreds to thousands of starts for 16 atoms); static 0 K energies without zero-point or entropy;
the margin (5 meV/atom) is a stated choice, about the fitting error of good potentials, so a
competing phase within it is not flagged; the dimer of a bulk-fitted potential is far outside its
training data, and a non-spin-polarised DFT dimer (for W bound by several eV near 2 Å) is not a
reference here: only the shape of the curve is judged, not its depth or position.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

import spglib
from ase import Atoms
from ase.data import atomic_numbers, covalent_radii
from ase.filters import UnitCellFilter
from ase.io import write
from ase.neighborlist import neighbor_list
from ase.optimize import BFGS

from ...generator.candidate import random_cell, random_positions
from ..plotting import DFT_COLOUR, POTENTIAL_COLOUR, TOLERANCE_COLOUR
from ..protocol import Measurement, Protocol, merge_settings
from ..target import Target
from . import eos
from .common import element_info
from .common import ground_state, lattice_of, single_threaded
from .robustness_dimer import (  # noqa: F401  (re-exported: the dimer analysis)
    DIMER_DEFAULTS,
    analyse_dimer,
    arena_metrics,
    bisect_jump,
    continuity_screen,
    dimer_atoms,
    dimer_evaluator,
    find_cutoff,
    local_minima,
)

PROPERTY = "robustness"
PROTOCOL_VERSION = 2  # v2: the relaxation cases for every element, from its ground lattice
CASES = ("dimer", "prototype_starts", "random_search")
DEFAULTS = {
    **DIMER_DEFAULTS,
    # shared by the relaxation cases
    "margin_eV_per_atom": 5e-3, "collapse_distance_fraction": 0.55, "symprec_A": 0.1, "seed": 20260417,
    "n_structures_reported": 3,
    # prototype starts (less the element's ground lattice)
    "prototypes": ("bcc", "fcc", "hcp", "A15", "beta-Sn", "omega", "simple-hex"), "c_over_a_factors": (0.9, 1.0, 1.1),
    "n_rattles": 1, "rattle_A": 0.05, "min_atoms": 4, "fmax_eV_per_A": 1e-3, "relax_steps": 300,
    # random search
    "search_count": 20, "search_atoms_min": 2, "search_atoms_max": 16, "search_volume_factors": (0.7, 1.5),
    "search_min_distance_fraction": 0.8, "search_fmax_eV_per_A": 0.05, "search_steps": 300,
}
TIER_SETTINGS = {
    "smoke": {"dimer_step_A": 0.05, "prototypes": ("bcc", "hcp", "A15"), "c_over_a_factors": (1.1,),
              "relax_steps": 150, "fmax_eV_per_A": 1e-2, "search_count": 3, "search_atoms_max": 8,
              "search_steps": 150},
    "standard": {},
    "full": {"dimer_step_A": 0.01, "dimer_r_max_A": 10.0,
             "prototypes": ("bcc", "fcc", "hcp", "A15", "beta-Sn", "omega", "simple-hex", "bct-In", "sc", "dhcp",
                            "diamond", "alpha-As", "C15", "C14"),
             "c_over_a_factors": (0.8, 0.9, 1.0, 1.1, 1.25), "n_rattles": 2, "fmax_eV_per_A": 1e-4,
             "relax_steps": 1000, "search_count": 100, "search_fmax_eV_per_A": 1e-2, "search_steps": 1000},
}


def settings(tier: str = "standard", element: str | None = None) -> dict:
    """The tier's settings; with ``element``, its ``prototypes`` less the element's ground lattice."""
    s = merge_settings(DEFAULTS, TIER_SETTINGS, tier)
    if element is not None:
        s["prototypes"] = tuple(p for p in s["prototypes"] if p != lattice_of(element))
    return s


def cases(element: str, tier: str) -> list[str]:
    """Every case for every element with a ground lattice revem builds (the dimer for any other)."""
    return list(CASES) if lattice_of(element) is not None else ["dimer"]


def ground_is_lowest(element: str) -> bool:
    """False where the element data say the protocols' ground lattice is not the element's lowest structure."""
    return bool(element_info(element).prop(PROPERTY).get("ground_is_lowest", True))



def dimer(target, element: str, tier: str = "standard") -> dict:
    """The dimer curve of ``target`` (anything :meth:`Target.of` takes) and its analysis
    (:func:`analyse_dimer`), cached in the target's session per (element, tier)."""
    t = Target.of(target)
    return t.memo(PROPERTY, "dimer", element, tier, PROTOCOL_VERSION, compute=lambda: _dimer(t, element, tier))


@single_threaded
def _dimer(t: Target, element: str, tier: str) -> dict:
    s = settings(tier)
    evaluate = dimer_evaluator(t.calculator(), element, s["dimer_box_A"])
    n = round((s["dimer_r_max_A"] - s["dimer_r_min_A"]) / s["dimer_step_A"]) + 1
    rs = s["dimer_r_min_A"] + s["dimer_step_A"] * np.arange(n)
    ef = np.array([evaluate(float(x)) for x in rs])
    r_arena = s["arena_r_min_covalent_fraction"] * covalent_radii[atomic_numbers[element]]
    out = analyse_dimer(rs, ef[:, 0], ef[:, 1], s, evaluate=evaluate, r_arena=r_arena, refusal=evaluate.first_error)
    out.update({"r_from": float(rs[0]), "r_to": float(rs[-1]), "step": s["dimer_step_A"]})
    return out


# -- relaxations ----------------------------------------------------------------------------------------
def relax_free(atoms, fmax: float, steps: int) -> dict:
    """Relax positions and cell without constraints (UnitCellFilter + BFGS).  Returns ``converged``,
    ``steps`` and ``error`` (None, or why the potential refused the structure on the way).

    FrechetCellFilter finds the same end points in as many steps, but its matrix logarithms and
    exponentials double the cost of a step of these small cells (measured on W_2940_2017_2)."""
    opt = BFGS(UnitCellFilter(atoms), logfile=None)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ok = bool(opt.run(fmax=fmax, steps=steps))
        return {"converged": ok, "steps": int(opt.nsteps), "error": None}
    except Exception as exc:  # noqa: BLE001 - the potential broke on this structure: a finding
        return {"converged": False, "steps": int(opt.nsteps), "error": f"{type(exc).__name__}: {exc}"[:300]}


def min_distance(atoms) -> float:
    """Shortest interatomic distance (Å), periodic images included (inf for one atom far from its images)."""
    d = neighbor_list("d", atoms, 6.0)
    return float(d.min()) if len(d) else float("inf")


def describe(atoms, symprec: float = DEFAULTS["symprec_A"]) -> str:
    """Space group (spglib, ``symprec`` Å) and atoms per primitive cell, e.g. ``Im-3m (229), 1/prim``."""
    cell = (atoms.cell.array, atoms.get_scaled_positions(), atoms.numbers)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ds = spglib.get_symmetry_dataset(cell, symprec=symprec)
            prim = spglib.find_primitive(cell, symprec=symprec)
        return f"{ds.international} ({ds.number}), {len(prim[2])}/prim"
    except Exception:  # noqa: BLE001 - a broken cell has no space group
        return "no space group"


def structure_record(atoms, d_e: float | None, label: str, **extra) -> dict:
    """A structure as plain lists (the ``data`` of a record; written to extxyz by :func:`plot`)."""
    return {"symbols": atoms.get_chemical_symbols(), "cell": np.round(atoms.cell.array, 6).tolist(),
            "positions": np.round(atoms.get_positions(), 6).tolist(),
            "dE_eV_per_atom": None if d_e is None or not np.isfinite(d_e) else float(d_e), "label": label, **extra}


def _end_point(atoms, make_calc, e0: float, d_nn: float, s: dict, fmax: float, steps: int) -> dict:
    """Relax ``atoms`` and classify the end point: E − E(ground) (eV/atom), collapsed, converged, space group."""
    atoms.calc = make_calc()
    run = relax_free(atoms, fmax, steps)
    d_e, err = float("nan"), run["error"]
    if err is None:
        try:
            d_e = float(atoms.get_potential_energy()) / len(atoms) - e0
        except Exception as exc:  # noqa: BLE001
            err = f"{type(exc).__name__}: {exc}"[:300]
    dmin = min_distance(atoms) if np.all(np.isfinite(atoms.positions)) else float("nan")
    collapsed = err is not None or not np.isfinite(d_e) or not dmin >= s["collapse_distance_fraction"] * d_nn
    why = err or (f"atoms {dmin:.2f} Å apart (< {s['collapse_distance_fraction']:g} × d_nn)" if collapsed else None)
    return {"dE": d_e, "converged": run["converged"] and err is None, "steps": run["steps"],
            "collapsed": bool(collapsed),
            "why": why, "d_min": dmin, "volume": float(atoms.get_volume() / len(atoms)), "n_atoms": len(atoms),
            "found": describe(atoms, s["symprec_A"]) if err is None else "error"}


#: nearest-neighbour distance of the cubic lattices in units of their conventional lattice constant (hcp: see ground)
NN_OVER_A = {"bcc": np.sqrt(3) / 2, "fcc": 1 / np.sqrt(2), "diamond": np.sqrt(3) / 4}


def ground(target, element: str) -> tuple[float, float, float, str]:
    """(E0 eV/atom, V0 Å^3/atom, d_nn Å, lattice) of the target's relaxed ground state of the element's lattice
    (:func:`revem.validation.properties.common.ground_state`; hcp d_nn = min(a, sqrt(a²/3 + c²/4)))."""
    gs = ground_state(target, element, "ground")
    lat = gs["structure"]
    if lat == "hcp":
        d_nn = min(gs["a0"], float(np.sqrt(gs["a0"] ** 2 / 3 + gs["c"] ** 2 / 4)))
    else:
        d_nn = gs["a0"] * NN_OVER_A[lat]
    return gs["e0"], gs["volume"], d_nn, lat


def _select_structures(ends: list[dict], atoms_list: list, s: dict, lattice: str) -> list[dict]:
    """The offending end points (below the ground state − margin, or collapsed; at most 10) and the lowest few,
    one per distinct end point (space group and energy)."""
    m = s["margin_eV_per_atom"]
    order = sorted(range(len(ends)), key=lambda i: (ends[i]["dE"] if np.isfinite(ends[i]["dE"]) else np.inf))
    seen, uniq = set(), []
    for i in order:  # several starts often end in the same structure: keep the first of each
        key = (ends[i]["found"], round(ends[i]["dE"], 4) if np.isfinite(ends[i]["dE"]) else i, ends[i]["collapsed"])
        if key not in seen:
            seen.add(key)
            uniq.append(i)
    pick = [i for i in uniq if ends[i]["collapsed"] or ends[i]["dE"] < -m][:10]
    pick += [i for i in uniq if np.isfinite(ends[i]["dE"]) and i not in pick][:s["n_structures_reported"]]
    out = []
    for i in pick:
        x = ends[i]
        flag = "collapsed" if x["collapsed"] else (f"BELOW {lattice}" if x["dE"] < -m else "lowest")
        out.append(structure_record(atoms_list[i], x["dE"], f"{flag}: {x['start']} -> {x['found']}",
                                    converged=bool(x["converged"]), why=x["why"]))
    return out


# -- prototype starts -----------------------------------------------------------------------------------
def prototype_start(case: str, element: str, v0: float, d_nn: float, c_factor: float, rng, rattle: float,
                    min_atoms: int = DEFAULTS["min_atoms"]):
    """The prototype ``case`` at the volume ``v0`` (Å^3/atom; no bond below 0.9 ``d_nn``), repeated to >=
    ``min_atoms`` atoms, strained along z by ``c_factor`` at constant volume (c/a × c_factor for the hexagonal and
    tetragonal prototypes, whose unique axis is z), rattled by normal displacements of ``rattle`` Å (``rng``)."""
    atoms = eos.initial_scale(eos.prototype_atoms(case, element), v0, d_nn)
    while len(atoms) < min_atoms:
        k = int(np.argmin(atoms.cell.lengths()))
        rep = [1, 1, 1]
        rep[k] = 2
        atoms = atoms.repeat(rep)
    strain = np.diag([c_factor ** -0.5, c_factor ** -0.5, c_factor])
    atoms.set_cell(atoms.cell.array @ strain, scale_atoms=True)
    atoms.positions = atoms.positions + rng.normal(scale=rattle, size=atoms.positions.shape)
    atoms.wrap()
    return atoms


def run_prototype_starts(make_calc, element: str, e0: float, v0: float, d_nn: float, s: dict,
                         lattice: str = "bcc") -> dict:
    """Relax every (prototype, c/a factor, rattle) start; ``ends`` per start, lowest per prototype; energies
    relative to ``e0`` (eV/atom), the ground state of ``lattice``."""
    rng = np.random.default_rng(s["seed"])
    ends, atoms_list = [], []
    for case in s["prototypes"]:
        for cf in s["c_over_a_factors"]:
            for k in range(s["n_rattles"]):
                atoms = prototype_start(case, element, v0, d_nn, cf, rng, s["rattle_A"], s["min_atoms"])
                x = _end_point(atoms, make_calc, e0, d_nn, s, s["fmax_eV_per_A"], s["relax_steps"])
                x.update({"prototype": case, "c_over_a_factor": cf, "rattle": k,
                          "start": f"{case} c/a×{cf:g}" + (f" #{k}" if s["n_rattles"] > 1 else "")})
                ends.append(x)
                atoms_list.append(atoms)
    return _summary(ends, atoms_list, s, lattice)


def _summary(ends: list[dict], atoms_list: list, s: dict, lattice: str) -> dict:
    m = s["margin_eV_per_atom"]
    fin = [x["dE"] for x in ends if np.isfinite(x["dE"]) and not x["collapsed"]]
    clean = [{k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in x.items()} for x in ends]
    return {"ends": clean,
            "lowest_dE": min(fin) if fin else None,
            "n_below": sum(1 for x in ends if not x["collapsed"] and x["dE"] < -m),
            "n_at": sum(1 for x in ends if not x["collapsed"] and abs(x["dE"]) <= m),
            "n_collapsed": sum(1 for x in ends if x["collapsed"]),
            "n_unconverged": sum(1 for x in ends if not x["converged"] and not x["collapsed"]),
            "structures": _select_structures(ends, atoms_list, s, lattice), "margin": m, "lattice": lattice}


def prototype_starts(target, element: str, tier: str = "standard") -> dict:
    """:func:`run_prototype_starts` for ``target``, cached in its session per (element, tier)."""
    t = Target.of(target)

    @single_threaded
    def run():
        e0, v0, d_nn, lat = ground(t, element)
        return run_prototype_starts(t.calculator, element, e0, v0, d_nn, settings(tier, element), lat)

    return t.memo(PROPERTY, "prototype_starts", element, tier, PROTOCOL_VERSION, compute=run)


# -- random search --------------------------------------------------------------------------------------
def random_start(rng, element: str, v0: float, d_nn: float, s: dict, max_tries: int = 100):
    """A random cell like the generator's candidates: N uniform in [search_atoms_min, search_atoms_max],
    V/atom uniform in search_volume_factors × ``v0``, atoms at least search_min_distance_fraction × ``d_nn`` apart."""
    d_min = s["search_min_distance_fraction"] * d_nn
    lo, hi = s["search_volume_factors"]
    for _ in range(max_tries):
        n = int(rng.integers(s["search_atoms_min"], s["search_atoms_max"] + 1))
        v = float(rng.uniform(lo, hi)) * v0
        cell = random_cell(rng, n, v, min_length=d_min)
        pos = random_positions(rng, cell, n, d_min)
        if pos is not None:
            return Atoms([element] * n, positions=pos, cell=cell, pbc=True), v / v0
    raise RuntimeError(f"no random {element} cell with atoms {d_min:.2f} Å apart in {max_tries} tries")


def run_random_search(make_calc, element: str, e0: float, v0: float, d_nn: float, s: dict,
                      lattice: str = "bcc") -> dict:
    """``search_count`` seeded random starts relaxed with the potential (see the module docstring)."""
    rng = np.random.default_rng(s["seed"])
    ends, atoms_list = [], []
    for i in range(s["search_count"]):
        atoms, vf = random_start(rng, element, v0, d_nn, s)
        start = f"random #{i} ({len(atoms)} atoms, V = {vf:.2f} V_{lattice})"
        x = _end_point(atoms, make_calc, e0, d_nn, s, s["search_fmax_eV_per_A"], s["search_steps"])
        x.update({"start": start, "index": i})
        ends.append(x)
        atoms_list.append(atoms)
    return _summary(ends, atoms_list, s, lattice)


def random_search(target, element: str, tier: str = "standard") -> dict:
    """:func:`run_random_search` for ``target``, cached in its session per (element, tier)."""
    t = Target.of(target)

    @single_threaded
    def run():
        e0, v0, d_nn, lat = ground(t, element)
        return run_random_search(t.calculator, element, e0, v0, d_nn, settings(tier, element), lat)

    return t.memo(PROPERTY, "random_search", element, tier, PROTOCOL_VERSION, compute=run)


# -- measurements ---------------------------------------------------------------------------------------
def _f(x, fmt=".3g"):
    return "–" if x is None else format(x, fmt)


def _dimer_measurements(res: dict, s: dict) -> list[Measurement]:
    mins = ", ".join(f"{m['r']:.2f} Å ({m['E']:+.3f} eV)" for m in res.get("minima", [])) or "none (no bound well)"
    note = (f"r = {res['r_from']:g}-{res['r_to']:g} Å step {res['step']:g} Å; "
            f"cutoff {_f(res.get('cutoff'), '.2f')} Å; minima: {mins}; "
            f"E(0.5 Å) − E(∞) = {_f(res.get('wall'))} eV; "
            f"largest energy jump {_f(res.get('energy_jump'))} eV "
            f"at {_f(res.get('energy_jump_r'), '.3f')} Å, force jump {_f(res.get('force_jump'))} eV/Å at "
            f"{_f(res.get('force_jump_r'), '.3f')} Å (after bisection to {s['bisect_width_A']:g} Å)")
    failure = "; ".join(res["problems"]) if res["problems"] else None
    data = None
    if "r" in res:
        data = {"r_A": np.round(res["r"], 5).tolist(), "E_eV": np.round(res["E"], 6).tolist(),
                "F_eV_per_A": np.round(res["F"], 6).tolist(), "minima": res["minima"], "cutoff_A": res.get("cutoff")}
    out = [Measurement("n_minima", res.get("n_minima"), "", policy="reported", note=note, data=data, failure=failure),
           Measurement("r_min", res.get("r_min"), "Å", policy="reported", note="position of the deepest minimum"),
           Measurement("depth", res.get("depth"), "eV", policy="reported", note="E(r_min) − E(∞)"),
           Measurement("wall", res.get("wall"), "eV", policy="reported", note="E(0.5 Å) − E(∞)"),
           Measurement("cutoff", res.get("cutoff"), "Å", policy="reported",
                       note="largest r where E still changes by > 1e-6 eV" if res.get("cutoff") is not None
                       else "the energy still changes at the end of the scan"),
           Measurement("energy_jump", res.get("energy_jump"), "eV", policy="reported",
                       note="largest energy-force inconsistency left after bisection"),
           Measurement("force_jump", res.get("force_jump"), "eV/Å", policy="reported",
                       note="largest force change left after bisection")]
    arena = res.get("arena") or {}
    anote = f"MLIP Arena metric (arXiv:2509.20630) over r >= {_f(res.get('arena_r_from'), '.2f')} Å"
    for q, unit in (("force_flips", ""), ("energy_diff_flips", ""), ("tortuosity", ""),
                    ("conservation_deviation", "eV/Å"), ("spearman_repulsion_energy", ""),
                    ("spearman_attraction_energy", "")):
        if q in arena:
            out.append(Measurement(q, arena[q], unit, policy="reported", note=anote))
    return out


def _relax_measurements(case: str, res: dict, s: dict, lowest_is_ground: bool = True) -> list[Measurement]:
    m = s["margin_eV_per_atom"]
    lat = res["lattice"]
    n = len(res["ends"])
    below = [x for x in res["ends"] if not x["collapsed"] and x["dE"] is not None and x["dE"] < -m]
    coll = [x for x in res["ends"] if x["collapsed"]]
    msgs, info = [], ""
    if below:
        lo = min(below, key=lambda x: x["dE"])
        text = (f"{len(below)} of {n} relaxations ended below {lat} by more than {1000 * m:g} meV/atom; lowest "
                f"{1000 * lo['dE']:.1f} meV/atom from {lo['start']} -> {lo['found']}")
        if lowest_is_ground:
            msgs.append(text)
        else:  # the element data say the protocols' lattice is not the lowest structure: physics, not a failure
            info = f"; {text} (not a failure: {lat} is not this element's lowest structure, element data)"
    if coll:
        msgs.append(f"{len(coll)} of {n} relaxations collapsed (e.g. {coll[0]['start']}: {coll[0]['why']})")
    failure = ("; ".join(msgs) + f" (structures in {STRUCTURES_FILE} of the report folder)") if msgs else None
    lowest = min((x for x in res["ends"] if x["dE"] is not None and not x["collapsed"]), key=lambda x: x["dE"],
                 default=None)
    note = (f"{n} relaxations (UnitCellFilter + BFGS, no symmetry), E − E({lat}); margin {1000 * m:g} meV/atom; lowest "
            + (f"{1000 * lowest['dE']:.1f} meV/atom from {lowest['start']} -> {lowest['found']}" if lowest else "none")
            + info)
    data = {"dE_eV_per_atom": [x["dE"] for x in res["ends"]], "starts": [x["start"] for x in res["ends"]],
            "found": [x["found"] for x in res["ends"]], "collapsed": [x["collapsed"] for x in res["ends"]],
            "converged": [x["converged"] for x in res["ends"]], "margin_eV_per_atom": m,
            "structures": res["structures"], "lattice": lat}
    out = [Measurement("lowest_dE", res["lowest_dE"], "eV/atom", policy="reported", note=note, data=data,
                       failure=failure),
           Measurement(f"n_below_{lat}", res["n_below"], "", policy="reported",
                       note=f"end points below E({lat}) − {1000 * m:g} meV/atom"),
           Measurement(f"n_at_{lat}", res["n_at"], "", policy="reported",
                       note=f"end points within ±{1000 * m:g} meV/atom of {lat}"),
           Measurement("n_collapsed", res["n_collapsed"], "", policy="reported",
                       note="refused by the potential, non-finite, or atoms closer than "
                            f"{s['collapse_distance_fraction']:g} × d_nn({lat})"),
           Measurement("n_unconverged", res["n_unconverged"], "", policy="reported",
                       note="end points that did not reach fmax (their energy is an upper bound)")]
    if case == "prototype_starts":
        for proto in s["prototypes"]:
            xs = [x for x in res["ends"] if x["prototype"] == proto and x["dE"] is not None and not x["collapsed"]]
            best = min(xs, key=lambda x: x["dE"], default=None)
            out.append(Measurement(f"dE_{proto}", best["dE"] if best else None, "eV/atom", policy="reported",
                                   note=(f"lowest of {sum(x['prototype'] == proto for x in res['ends'])} starts: "
                                         f"{best['start']} -> {best['found']}") if best else "every start collapsed"))
    return out


class RobustnessProtocol(Protocol):
    """Dimer curve (MLIP Arena metrics), prototypes from broken-symmetry starts, random-structure search."""

    name, version, defaults, tier_settings = PROPERTY, PROTOCOL_VERSION, DEFAULTS, TIER_SETTINGS
    disclaimers = "finite random search; static 0 K; the margin is a stated choice; the dimer shape only"

    def cases(self, element, tier):
        return cases(element, tier)

    def measure(self, target, element, case, tier):
        s = settings(tier, element)
        if case == "dimer":
            return _dimer_measurements(dimer(target, element, tier), s)
        if case == "prototype_starts":
            return _relax_measurements(case, prototype_starts(target, element, tier), s, ground_is_lowest(element))
        if case == "random_search":
            return _relax_measurements(case, random_search(target, element, tier), s, ground_is_lowest(element))
        raise ValueError(f"robustness: unknown case {case!r} (known: {', '.join(CASES)})")


# -- plots ----------------------------------------------------------------------------------------------
STRUCTURES_FILE = "robustness_structures.extxyz"


def write_structures(records: list[dict], path: Path) -> int:
    """Write every structure kept in the records' data to ``path`` (extxyz, energies in ``info``);
    returns how many (an existing file is removed when there are none)."""
    frames = []
    for r in records:
        for st in (r.get("data") or {}).get("structures") or []:
            at = Atoms(st["symbols"], positions=st["positions"], cell=st["cell"], pbc=True)
            d_e = st.get("dE_eV_per_atom")
            at.info.update({"case": str(r.get("case", "")), "label": str(st.get("label", "")),
                            "potential": str(r.get("potential", "")),
                            "dE_eV_per_atom": float("nan") if d_e is None else float(d_e),
                            "converged": bool(st.get("converged", True))})
            frames.append(at)
    path = Path(path)
    if not frames:
        path.unlink(missing_ok=True)
        return 0
    write(path, frames, format="extxyz")
    return len(frames)


def plot(records: list[dict], outdir) -> list[Path]:
    """``robustness_structures.extxyz`` (kept structures) and ``robustness.png``: the dimer E(r) and F(r),
    and the relaxation end points relative to the ground lattice with the margin band."""
    import matplotlib.pyplot as plt

    outdir = Path(outdir)
    write_structures(records, outdir / STRUCTURES_FILE)
    dim = next((r["data"] for r in records if r.get("case") == "dimer" and (r.get("data") or {}).get("r_A")), None)
    ends = {r["case"]: r["data"] for r in records
            if r.get("case") in ("prototype_starts", "random_search")
            and (r.get("data") or {}).get("dE_eV_per_atom") is not None}
    if dim is None and not ends:
        return []
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    ax_e, ax_f, ax_s = axes
    if dim is not None:
        r, e, f = (np.asarray(dim[k], float) for k in ("r_A", "E_eV", "F_eV_per_A"))
        lo = min(float(e.min()), 0.0)
        ax_e.plot(r, e, color=POTENTIAL_COLOUR, lw=1.3)
        ax_e.axhline(0.0, color=DFT_COLOUR, lw=0.8)
        e_top = max(2.0, 3 * abs(lo) + 1.0)
        ax_e.set_ylim(1.3 * lo - 0.5, e_top)
        for m in dim.get("minima") or []:
            ax_e.plot(m["r"], m["E"], "v", color=POTENTIAL_COLOUR, ms=6)
        if dim.get("cutoff_A"):
            ax_e.axvline(dim["cutoff_A"], color=TOLERANCE_COLOUR, ls="--", lw=1)
        ax_e.set_xlabel("r (Å)")
        ax_e.set_ylabel("E − E(∞) (eV)")
        pot = next((str(x["potential"]) for x in records if x.get("potential")), "")
        el = next((str(x["element"]) for x in records if x.get("element")), "")
        ax_e.set_title(f"{pot}: {el}$_2$ dimer, E({r[0]:.1f} Å) = {e[0]:.3g} eV", fontsize=9)
        fl = max(2.0, 1.5 * float(np.abs(f[e <= e_top]).max(initial=1.0)))  # the range the energy panel shows
        ax_f.plot(r, f, color=POTENTIAL_COLOUR, lw=1.3)
        ax_f.axhline(0.0, color=DFT_COLOUR, lw=0.8)
        ax_f.set_ylim(-fl, fl)
        ax_f.set_xlabel("r (Å)")
        ax_f.set_ylabel("F along the bond (eV/Å, > 0 repulsive)")
        ax_f.set_title("dimer force", fontsize=9)
    else:
        ax_e.axis("off")
        ax_f.axis("off")
    if ends:
        margin = next(iter(ends.values())).get("margin_eV_per_atom", DEFAULTS["margin_eV_per_atom"])
        lat = next(iter(ends.values())).get("lattice", "bcc")
        ax_s.axhspan(-1000 * margin, 1000 * margin, color=TOLERANCE_COLOUR, label=f"{lat} ± {1000 * margin:g} meV/atom")
        ax_s.axhline(0.0, color=DFT_COLOUR, lw=0.8)
        rng, labels = np.random.default_rng(0), []
        for k, (case, d) in enumerate(sorted(ends.items())):
            de = np.array([np.nan if v is None else v for v in d["dE_eV_per_atom"]], float) * 1000
            coll = np.asarray(d.get("collapsed") or [False] * len(de), bool)
            x = k + rng.uniform(-0.15, 0.15, size=len(de))
            ax_s.plot(x[~coll], de[~coll], "o", color=POTENTIAL_COLOUR, ms=4, alpha=0.7)
            shown = coll & np.isfinite(de)
            if shown.any():
                ax_s.plot(x[shown], de[shown], "x", color=DFT_COLOUR, ms=7, label="collapsed" if k == 0 else None)
            labels.append(case.replace("_", " ") + (f"\n({int(coll.sum())} collapsed)" if coll.any() else ""))
        ax_s.set_xticks(range(len(ends)), labels)
        ax_s.set_ylabel(f"end point E − E({lat}) (meV/atom)")
        ax_s.set_yscale("symlog", linthresh=10)
        vals = np.array([v for d in ends.values() for v in d["dE_eV_per_atom"] if v is not None], float) * 1000
        vals = vals[np.isfinite(vals)]
        if len(vals):
            ax_s.set_ylim(min(-20.0, 2 * vals.min()), max(20.0, 2 * vals.max()))
        ax_s.set_title("relaxation end points", fontsize=9)
        ax_s.legend(fontsize=7)
    else:
        ax_s.axis("off")
    fig.tight_layout()
    p = outdir / "robustness.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return [p]


PROTOCOL = RobustnessProtocol()
