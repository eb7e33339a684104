"""Shared steps of the property protocols: relaxations and the cached relaxed ground state.

The relaxed bulk of each potential is computed once per process and cached by the potential's
file hash and :data:`PROTOCOL_VERSION` (pytest-xdist workers each hold their own copy).
"""
from __future__ import annotations

import functools
from pathlib import Path
import warnings
from functools import lru_cache

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.data import atomic_numbers, reference_states
from ase.optimize import BFGS, FIRE

from ..coverage import recorded_cache
from ...potentials import Potential, load_potential

PROTOCOL_VERSION = 1
FMAX = 1e-4  # eV/Å, force criterion of static relaxations
FMAX_LARGE = 1e-3  # eV/Å, for large cells (defects, surfaces, GBs)
EV_PER_A3_TO_GPA = 160.21766208
EV_PER_A2_TO_MJ_PER_M2 = 16021.766208
EV_PER_A2_TO_J_PER_M2 = 16.021766208


class ConvergenceWarning(UserWarning):
    pass


#: lattices the protocols build ground states of; C is taken as diamond (the sp3 reference of the
#: Rev-EM paper's C prototypes; graphite needs a van der Waals treatment most potentials lack)
LATTICES = ("bcc", "fcc", "hcp", "diamond")
IDEAL_C_OVER_A = float(np.sqrt(8.0 / 3.0))


def ground_lattice(element: str) -> str:
    """The ground-state lattice the protocols assume for ``element`` (ASE's reference state: bcc W, Mo, Ta,
    Nb; fcc Al, Cu, Ni; hcp Be, Re, Os; diamond C).  Raises ValueError for other reference states."""
    from ase.data import chemical_symbols

    if element not in chemical_symbols[1:]:
        raise ValueError(f"{element!r} is not a chemical symbol")
    sym = (reference_states[atomic_numbers[element]] or {}).get("symmetry")
    if sym not in LATTICES:
        raise ValueError(f"{element}: ASE's reference state is {sym!r}; revem's protocols know {', '.join(LATTICES)}")
    return sym


def lattice_of(element: str) -> str | None:
    """:func:`ground_lattice`, or None where revem has no protocol for the element's reference state."""
    try:
        return ground_lattice(element)
    except ValueError:
        return None


def initial_lattice_constant(element: str, structure: str = "bcc") -> float:
    """A starting guess (Å) from ASE's reference states, rescaled to ``structure`` at equal volume
    (hcp: ``a`` at the reference c/a, or the ideal one)."""
    ref = reference_states[atomic_numbers[element]] or {}
    if ref.get("symmetry") == structure and "a" in ref:
        return ref["a"]
    v = bulk(element).get_volume() / len(bulk(element))  # volume/atom of the reference structure
    if structure == "hcp":
        return (2 * v / (np.sqrt(3) / 2 * IDEAL_C_OVER_A)) ** (1 / 3)
    return {"bcc": (2 * v) ** (1 / 3), "fcc": (4 * v) ** (1 / 3), "sc": v ** (1 / 3),
            "diamond": (8 * v) ** (1 / 3)}[structure]


def initial_c_over_a(element: str) -> float:
    ref = reference_states[atomic_numbers[element]] or {}
    return float(ref.get("c/a", IDEAL_C_OVER_A)) if ref.get("symmetry") == "hcp" else IDEAL_C_OVER_A


def is_bcc(element: str) -> bool:
    """Whether ASE's reference state of ``element`` is bcc (the ground state the bcc protocols assume)."""
    return (reference_states[atomic_numbers[element]] or {}).get("symmetry") == "bcc"


def build_lattice(element: str, structure: str, a: float, c_over_a: float | None = None,
                  orthorhombic: bool = False) -> Atoms:
    """The cell of ``structure`` the protocols use: cubic conventional (bcc, fcc, sc, diamond) or the
    2-atom hcp cell (``c_over_a`` default ideal; ``orthorhombic``: the 4-atom a x √3a x c cell)."""
    if structure == "hcp":
        return bulk(element, "hcp", a=a, c=a * (c_over_a or IDEAL_C_OVER_A), orthorhombic=orthorhombic)
    return bulk(element, structure, a=a, cubic=True)


def single_threaded(func):
    """Run ``func`` with BLAS limited to one thread: the optimisers' tiny matrices otherwise spend
    most of their time in OpenBLAS thread hand-offs (measured 15-40x slower on a loaded 2-core machine)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):
            return func(*args, **kwargs)

    return wrapper


@single_threaded
def relax_positions(atoms: Atoms, fmax: float = FMAX_LARGE, steps: int = 2000, optimizer=FIRE) -> bool:
    """Relax ionic positions at fixed cell; returns whether ``fmax`` (eV/Å) was reached."""
    jitter(atoms)
    opt = optimizer(atoms, logfile=None)
    ok = opt.run(fmax=fmax, steps=steps)
    if not ok:
        warnings.warn(f"position relaxation did not reach fmax={fmax} eV/Å in {steps} steps", ConvergenceWarning)
    return bool(ok)


@single_threaded
def relax_cell(atoms: Atoms, fmax: float = FMAX, steps: int = 1000, keep_symmetry: bool = True,
               hydrostatic: bool = False) -> bool:
    """Relax positions and cell (FrechetCellFilter), optionally preserving the space group."""
    from ase.filters import FrechetCellFilter

    jitter(atoms)
    if keep_symmetry:
        from ase.constraints import FixSymmetry

        atoms.set_constraint(FixSymmetry(atoms, symprec=1e-3))
    filt = FrechetCellFilter(atoms, hydrostatic_strain=hydrostatic)
    opt = BFGS(filt, logfile=None)
    ok = opt.run(fmax=fmax, steps=steps)
    atoms.set_constraint()
    if not ok:
        warnings.warn(f"cell relaxation did not reach fmax={fmax} eV/Å in {steps} steps", ConvergenceWarning)
    return bool(ok)


@recorded_cache(maxsize=32, keep="last")
def _ground_state(target, element: str, structure: str, version: int) -> dict:
    spec = target.name
    coa0 = initial_c_over_a(element) if structure == "hcp" else None
    atoms = build_lattice(element, structure, initial_lattice_constant(element, structure), coa0)
    atoms.calc = target.calculator()
    # a scalar relaxation of the lattice constant is exact and robust for cubic cells; hcp then also
    # relaxes c/a (2-D, Nelder-Mead from the scalar minimum)
    from scipy.optimize import minimize, minimize_scalar

    cell0 = atoms.cell.array.copy()

    def energy(scale):
        atoms.set_cell(cell0 * scale, scale_atoms=True)
        return atoms.get_potential_energy()

    scales = np.linspace(0.85, 1.30, 46)  # coarse scan first: a guess can be far off for exotic potentials
    es = np.array([energy(s) for s in scales])
    minima = [i for i in range(1, len(es) - 1) if es[i] <= es[i - 1] and es[i] <= es[i + 1]]
    k = min(minima, key=lambda i: abs(scales[i] - 1.0)) if minima else 0  # the local minimum nearest the guess
    if not minima:
        raise RuntimeError(f"{spec}: no {structure} {element} energy minimum between 0.85 and 1.30 x "
                           f"{np.linalg.norm(cell0[0]):.3f} Å")
    res = minimize_scalar(energy, bounds=(scales[k - 1], scales[k + 1]), method="bounded", options={"xatol": 1e-9})
    atoms.set_cell(cell0 * res.x, scale_atoms=True)
    out_extra = {}
    if structure == "hcp":
        a_s = float(atoms.cell.lengths()[0])

        def e_hcp(x):
            a, coa = x
            if a <= 0 or not (1.0 < coa < 2.5):
                return 1e6
            atoms.set_cell(build_lattice(element, "hcp", a, coa).cell, scale_atoms=True)
            return atoms.get_potential_energy() / len(atoms)

        r2 = minimize(e_hcp, x0=[a_s, coa0], method="Nelder-Mead",
                      options={"xatol": 1e-7, "fatol": 1e-10, "maxiter": 2000,
                               "initial_simplex": [[a_s, coa0], [a_s * 1.01, coa0], [a_s, coa0 * 1.01]]})
        a_h, coa = (float(x) for x in r2.x)
        atoms.set_cell(build_lattice(element, "hcp", a_h, coa).cell, scale_atoms=True)
        out_extra = {"c_over_a": coa, "c": a_h * coa}
    a0 = float(atoms.cell.lengths()[0])
    e = atoms.get_potential_energy() / len(atoms)
    p = -atoms.get_stress()[:3].mean() * EV_PER_A3_TO_GPA
    return {"a0": a0, "e0": float(e), "pressure_GPa": float(p), "volume": float(atoms.get_volume() / len(atoms)),
            "structure": structure, **out_extra}


def potential_spec(potential: Potential | str) -> str:
    """A hashable spec (catalog name or path) for a potential, for per-process caches."""
    if isinstance(potential, Potential):
        return potential.source or potential.name
    return potential


def bulk_a0_e0(spec: str, element: str, bulk_ref: tuple[float, float] | None = None) -> tuple[float, float]:
    """(a0 in Å, e0 in eV/atom): ``bulk_ref`` when given (e.g. from a DFT calculator), else the relaxed bcc."""
    if bulk_ref is not None:
        return bulk_ref
    gs = ground_state(spec, element)
    return gs["a0"], gs["e0"]


def ground_state(potential, element: str, structure: str = "bcc") -> dict:
    """Relaxed ground state of ``structure``: ``a0`` (Å; the cubic conventional or the hcp ``a``), ``e0``
    (eV/atom), ``volume`` (Å^3/atom), residual pressure (GPa); hcp also ``c_over_a`` and ``c`` (Å).
    ``structure="ground"`` means the element's :func:`ground_lattice`.

    ``potential``: a potential (name, card, file, ``Potential``) or a :class:`revem.validation.protocol.Target`
    (any ASE calculator factory); cached per target content."""
    if structure == "ground":
        structure = ground_lattice(element)
    return dict(_ground_state(target_of(potential), element, structure, PROTOCOL_VERSION))


def target_of(potential):
    """:class:`revem.validation.protocol.Target` of a potential spec (cached per spec string) or of a target."""
    from ..protocol import Target

    if isinstance(potential, (str, Path)):
        return _target_of_spec(str(potential))
    return Target.of(potential)


@lru_cache(maxsize=64)
def _target_of_spec(spec: str):
    from ..protocol import Target

    return Target.of(spec)


def ground_state_atoms(potential: Potential | str, element: str, structure: str = "bcc", repeat=(1, 1, 1),
                       orthorhombic: bool = False) -> Atoms:
    """The relaxed cell of ``structure`` (``"ground"``: the element's lattice; see :func:`build_lattice`)."""
    gs = ground_state(potential, element, structure)
    return build_lattice(element, gs["structure"], gs["a0"], gs.get("c_over_a"), orthorhombic).repeat(repeat)


#: conservative lower bound of the curvature of a relaxed energy surface along the residual force (eV/Å^2);
#: the softest modes of metallic defects and surfaces are ~1-5 eV/Å^2
MIN_STIFFNESS_EV_PER_A2 = 1.0


def residual_energy(atoms: Atoms, stiffness_eV_per_A2: float = MIN_STIFFNESS_EV_PER_A2) -> float:
    """Uncertainty (eV) of a relaxed energy from its residual forces: a harmonic estimate of the energy
    still to gain, ΔE ≈ Σ_i |F_i|² / (2 k), with ``k`` a lower bound of the stiffness (so an upper bound of
    ΔE).  A relaxation converged to fmax = 1e-3 eV/Å in 128 atoms gives ≤ 2e-4 eV."""
    f = atoms.get_forces()
    return float(np.sum(f * f) / (2.0 * stiffness_eV_per_A2))


def jitter(atoms: Atoms) -> Atoms:
    """Test hook: displace every atom by a seeded random vector of length ``REVEM_TEST_JITTER_A`` (Å)
    when that variable is set, to show that results stay within their noise under perturbations that
    floating point can make (tests/test_noise.py).  A no-op otherwise."""
    import os

    amp = float(os.environ.get("REVEM_TEST_JITTER_A", "0") or 0)
    if amp > 0 and len(atoms):
        rng = np.random.default_rng(len(atoms))
        d = rng.normal(size=(len(atoms), 3))
        d *= amp / np.linalg.norm(d, axis=1)[:, None]
        atoms.positions = atoms.positions + d
    return atoms


def count_calls(calc):
    """Count the evaluations of an ASE calculator (``calc.revem_calls``; cached results do not count)."""
    orig = calc.calculate

    def calculate(*args, **kwargs):
        calc.revem_calls += 1
        return orig(*args, **kwargs)

    calc.revem_calls = 0
    calc.calculate = calculate
    return calc


def calculator_factory(potential, calc_factory=None):
    """The zero-argument calculator factory a protocol uses: ``calc_factory`` when given (any ASE
    calculator, e.g. DFT), else the potential's own (the one place this choice is made)."""
    if calc_factory is not None:
        return calc_factory
    from ..protocol import Target

    if isinstance(potential, Target):
        return potential.calculator
    return load_potential(potential).calculator


def fit_eos(volumes, energies, eos: str = "birchmurnaghan") -> dict:
    """Fit E(V) per atom with ``ase.eos``: ``E0`` (eV/atom), ``V0`` (Å^3/atom), ``B0`` (GPa), ``B0_prime``.

    ``in_range`` is False (and a warning is issued) when V0 lies outside the sampled volumes.
    """
    from ase.eos import EquationOfState

    v, e = np.asarray(volumes, float), np.asarray(energies, float)
    fit = EquationOfState(v, e, eos=eos)
    v0, e0, b0 = fit.fit(warn=False)
    params = getattr(fit, "eos_parameters", None)
    bp = float(params[2]) if params is not None and eos in ("birchmurnaghan", "murnaghan", "birch", "vinet",
                                                            "pouriertarantola", "antonschmidt") else None
    in_range = bool(v.min() <= v0 <= v.max())
    if not in_range:
        warnings.warn(f"EOS minimum V0 = {v0:.3f} Å^3/atom lies outside the sampled range "
                      f"[{v.min():.3f}, {v.max():.3f}] Å^3/atom", RuntimeWarning)
    out = {"E0": float(e0), "V0": float(v0), "B0": float(b0) * EV_PER_A3_TO_GPA, "B0_prime": bp, "in_range": in_range}
    out["uncertainty"] = form_sensitivity(v, e, out, eos)
    return out


def form_sensitivity(volumes, energies, fit: dict, eos: str) -> dict:
    """Uncertainty of the fitted parameters: the largest change when the same points are fitted with
    another four-parameter form (Birch–Murnaghan <-> Vinet, P. Vinet et al., J. Geophys. Res. 92, 9319
    (1987)).  It measures how much the numbers depend on the choice of fit over the sampled window,
    which is far above floating-point noise and is what ``--baseline`` tolerates (twice this value).
    Keys as in :func:`fit_eos`, same units; None where the other fit fails."""
    from ase.eos import EquationOfState

    other = "vinet" if eos != "vinet" else "birchmurnaghan"
    try:
        alt = EquationOfState(np.asarray(volumes, float), np.asarray(energies, float), eos=other)
        v0, e0, b0 = alt.fit(warn=False)
        bp = float(alt.eos_parameters[2])
    except Exception:  # noqa: BLE001 - no alternative fit, no estimate
        return {"E0": None, "V0": None, "B0": None, "B0_prime": None}
    d = {"E0": abs(float(e0) - fit["E0"]), "V0": abs(float(v0) - fit["V0"]),
         "B0": abs(float(b0) * EV_PER_A3_TO_GPA - fit["B0"]),
         "B0_prime": None if fit["B0_prime"] is None else abs(bp - fit["B0_prime"])}
    return {k: (None if x is None or not np.isfinite(x) else float(x)) for k, x in d.items()}


def attach(atoms: Atoms, potential: Potential | str) -> Atoms:
    atoms.calc = load_potential(potential).calculator()
    return atoms


def finite(x) -> bool:
    return bool(np.all(np.isfinite(x)))
