"""Physics primitives every part of revem shares: units, lattices, relaxations, the EOS fit.

Each primitive is written once here: the validation protocols, the DFT runner (:mod:`revem.datasets.dft`)
and the reference builders use the same ones.  Nothing here knows about potentials, runs or references;
functions take ASE ``Atoms`` with a calculator attached, or plain numbers.
"""
from __future__ import annotations

import functools
import os
import warnings

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.eos import EquationOfState
from ase.optimize import BFGS, FIRE
from threadpoolctl import threadpool_limits

FMAX = 1e-4  # eV/Å, force criterion of static relaxations of small cells
FMAX_LARGE = 1e-3  # eV/Å, for large cells (defects, surfaces, GBs)
EV_PER_A3_TO_GPA = 160.21766208
EV_PER_A2_TO_MJ_PER_M2 = 16021.766208
EV_PER_A2_TO_J_PER_M2 = 16.021766208
IDEAL_C_OVER_A = float(np.sqrt(8.0 / 3.0))
#: EOS forms with a B0' parameter in ``ase.eos`` (the four-parameter forms revem fits)
FOUR_PARAMETER_FORMS = ("birchmurnaghan", "murnaghan", "birch", "vinet", "pouriertarantola", "antonschmidt")


class ConvergenceWarning(UserWarning):
    pass


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
def relax_symmetric(atoms: Atoms, fmax: float, steps: int, constant_volume: bool = False,
                    hydrostatic: bool = False) -> tuple[bool, int]:
    """Relax cell and positions under the current space group (``FixSymmetry`` + ``FrechetCellFilter``,
    BFGS); ``hydrostatic``: the cell shape is kept, only the volume relaxes.  Returns (converged, steps)."""
    from ase.constraints import FixSymmetry
    from ase.filters import FrechetCellFilter

    atoms.set_constraint(FixSymmetry(atoms, symprec=1e-3))
    filt = FrechetCellFilter(atoms, constant_volume=constant_volume, hydrostatic_strain=hydrostatic)
    opt = BFGS(filt, logfile=None)
    ok = bool(opt.run(fmax=fmax, steps=steps))
    atoms.set_constraint()
    return ok, opt.nsteps


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


def fit_eos(volumes, energies, eos: str = "birchmurnaghan") -> dict:
    """Fit E(V) per atom with ``ase.eos``: ``E0`` (eV/atom), ``V0`` (Å^3/atom), ``B0`` (GPa), ``B0_prime``.

    ``in_range`` is False (and a warning is issued) when V0 lies outside the sampled volumes.
    ``uncertainty`` is :func:`form_sensitivity` (the change with the fit form).
    """
    v, e = np.asarray(volumes, float), np.asarray(energies, float)
    out = _fit(v, e, eos)
    if not out["in_range"]:
        warnings.warn(f"EOS minimum V0 = {out['V0']:.3f} Å^3/atom lies outside the sampled range "
                      f"[{v.min():.3f}, {v.max():.3f}] Å^3/atom", RuntimeWarning)
    out["uncertainty"] = form_sensitivity(v, e, out, eos)
    return out


def _fit(v: np.ndarray, e: np.ndarray, eos: str) -> dict:
    fit = EquationOfState(v, e, eos=eos)
    v0, e0, b0 = fit.fit(warn=False)
    params = getattr(fit, "eos_parameters", None)
    bp = float(params[2]) if params is not None and eos in FOUR_PARAMETER_FORMS else None
    return {"E0": float(e0), "V0": float(v0), "B0": float(b0) * EV_PER_A3_TO_GPA, "B0_prime": bp,
            "in_range": bool(v.min() <= v0 <= v.max())}


def _deviation(alt: dict, fit: dict) -> dict:
    d = {"E0": abs(alt["E0"] - fit["E0"]), "V0": abs(alt["V0"] - fit["V0"]), "B0": abs(alt["B0"] - fit["B0"]),
         "B0_prime": None if fit["B0_prime"] is None or alt["B0_prime"] is None
         else abs(alt["B0_prime"] - fit["B0_prime"])}
    return {k: (None if x is None or not np.isfinite(x) else float(x)) for k, x in d.items()}


def form_sensitivity(volumes, energies, fit: dict, eos: str) -> dict:
    """Uncertainty of the fitted parameters: the largest change when the same points are fitted with
    another four-parameter form (Birch–Murnaghan <-> Vinet, P. Vinet et al., J. Geophys. Res. 92, 9319
    (1987)).  Keys as in :func:`fit_eos`, same units; None where the other fit fails."""
    other = "vinet" if eos != "vinet" else "birchmurnaghan"
    try:
        alt = _fit(np.asarray(volumes, float), np.asarray(energies, float), other)
    except Exception:  # noqa: BLE001 - no alternative fit, no estimate
        return {"E0": None, "V0": None, "B0": None, "B0_prime": None}
    return _deviation(alt, fit)


def window_form_sensitivity(volumes, energies, fit: dict, eos: str, windows, v_ref: float) -> dict:
    """Uncertainty over the choices an EOS fit makes: the largest change of each parameter over the fit
    forms (``eos`` and Vinet/Birch–Murnaghan) × the volume windows ``windows`` (fractions: the points with
    |V/v_ref − 1| ≤ w; a window with fewer than 5 points is skipped).  ``fit`` is the primary fit.
    Returns the deviations (keys of :func:`fit_eos`) and ``covers``: the fits that entered."""
    v, e = np.asarray(volumes, float), np.asarray(energies, float)
    forms = [eos, "vinet" if eos != "vinet" else "birchmurnaghan"]
    worst = {"E0": 0.0, "V0": 0.0, "B0": 0.0, "B0_prime": 0.0 if fit.get("B0_prime") is not None else None}
    covers = []
    for w in windows:
        k = np.abs(v / v_ref - 1.0) <= w + 1e-9
        if k.sum() < 5:
            continue
        for form in forms:
            try:
                alt = _fit(v[k], e[k], form)
            except Exception:  # noqa: BLE001 - a window that cannot be fitted adds nothing
                continue
            covers.append(f"{form} ±{100 * w:.0f} %")
            for q, d in _deviation(alt, fit).items():
                if d is not None and worst.get(q) is not None:
                    worst[q] = max(worst[q], d)
    return {**worst, "covers": covers}


def finite(x) -> bool:
    return bool(np.all(np.isfinite(x)))
