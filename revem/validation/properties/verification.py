"""Verification checks every potential must pass, whatever its accuracy.

* forces equal −∇E (central finite differences, step ``h`` Å) on a rattled bcc supercell;
* stress equals the derivative of the energy with respect to a homogeneous strain (central differences);
* the energy is invariant under translation, rotation and permutation of the atoms.

Reported quantities are the maximum absolute deviations (eV/Å, eV/Å^3, eV).

Disclaimers: finite differences probe smoothness only near the sampled structure; a potential
can pass here and still have discontinuities elsewhere (e.g. at its cutoff).
"""
from __future__ import annotations

import numpy as np

from ..coverage import recorded_cache
from ...potentials import load_potential
from ..protocol import Measurement, Protocol
from .common import ground_state_atoms

PROPERTY = "verification"
PROTOCOL_VERSION = 1
DEFAULTS = {"supercell": (2, 2, 2), "rattle_A": 0.05, "fd_step_A": 1e-3, "strain_step": 1e-4, "seed": 7}
TOLERANCES = {"forces_fd": 1e-3, "stress_fd": 1e-5, "translation": 1e-6, "rotation": 1e-6, "permutation": 1e-6}
UNITS = {"forces_fd": "eV/Å", "stress_fd": "eV/Å^3", "translation": "eV", "rotation": "eV", "permutation": "eV"}
CASES = list(TOLERANCES)


def cases(element: str, tier: str) -> list[str]:
    return CASES


def _sample(potential, element):
    d = DEFAULTS
    atoms = ground_state_atoms(potential, element, "ground", repeat=d["supercell"])
    atoms.rattle(d["rattle_A"], seed=d["seed"])
    atoms.calc = load_potential(potential).calculator()
    return atoms


def _energy(atoms):
    return atoms.get_potential_energy()


@recorded_cache(maxsize=64)
def compute(potential: str, element: str, case: str) -> float:
    """Maximum deviation for ``case`` (unit in :data:`UNITS`)."""
    atoms = _sample(potential, element)
    h = DEFAULTS["fd_step_A"]
    if case == "forces_fd":
        f = atoms.get_forces()
        rng = np.random.default_rng(DEFAULTS["seed"])
        idx = rng.choice(len(atoms), size=min(4, len(atoms)), replace=False)
        dev = 0.0
        for i in idx:
            for k in range(3):
                p = atoms.positions.copy()
                atoms.positions[i, k] = p[i, k] + h
                ep = _energy(atoms)
                atoms.positions[i, k] = p[i, k] - h
                em = _energy(atoms)
                atoms.positions = p
                dev = max(dev, abs(-(ep - em) / (2 * h) - f[i, k]))
        return dev
    if case == "stress_fd":
        s = atoms.get_stress(voigt=False)
        cell0, v = atoms.cell.array.copy(), atoms.get_volume()
        eps = DEFAULTS["strain_step"]
        dev = 0.0
        for a, b in [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]:
            es = []
            for sgn in (1, -1):
                e = np.zeros((3, 3))
                e[a, b] += sgn * eps / (1 if a == b else 2)
                e[b, a] += 0 if a == b else sgn * eps / 2
                atoms.set_cell(cell0 @ (np.eye(3) + e), scale_atoms=True)
                es.append(_energy(atoms))
            atoms.set_cell(cell0, scale_atoms=True)
            dev = max(dev, abs((es[0] - es[1]) / (2 * eps) / v - s[a, b]))
        return dev
    e0 = _energy(atoms)
    other = atoms.copy()
    other.calc = load_potential(potential).calculator()
    if case == "translation":
        other.translate([0.37, -1.21, 2.05])
        other.wrap()
    elif case == "rotation":
        other.rotate(33.0, (1, 2, 3), rotate_cell=True)
    elif case == "permutation":
        perm = np.random.default_rng(DEFAULTS["seed"]).permutation(len(other))
        other = other[perm]
        other.calc = load_potential(potential).calculator()
    else:
        raise ValueError(f"unknown verification case '{case}'")
    return abs(_energy(other) - e0)


#: unit round-off of the arithmetic a model evaluates in
EPSILON = {"float64": float(np.finfo(np.float64).eps), "float32": float(np.finfo(np.float32).eps)}


@recorded_cache(maxsize=64)
def precision_and_scale(potential: str, element: str) -> dict:
    """The model's numeric precision -- declared on the card (``precision: float32``) or detected from
    the dtype of its forces -- and the energy and volume scale of the sample (|E| in eV, V in Å^3)."""
    atoms = _sample(potential, element)
    e = abs(float(atoms.get_potential_energy()))
    forces = atoms.calc.results.get("forces")
    inner = getattr(atoms.calc, "inner", None)
    if inner is not None and getattr(inner, "results", None):
        forces = inner.results.get("forces", forces)
    declared = getattr(load_potential(potential), "precision", None)
    detected = "float32" if getattr(forces, "dtype", None) == np.float32 else "float64"
    return {"precision": declared or detected, "declared": bool(declared), "energy_eV": e,
            "volume_A3": float(atoms.get_volume())}


def tolerance(case: str, precision: str = "float64", energy_eV: float = 0.0, volume_A3: float = 1.0) -> float:
    """Tolerance of an identity check, scaled to the model's precision: the larger of
    :data:`TOLERANCES` and the round-off that arithmetic at ``precision`` makes in the check
    (16 ε |E| for an energy difference, 4 ε |E| / h for a central difference with step h)."""
    eps = EPSILON.get(precision, EPSILON["float64"])
    d = DEFAULTS
    floor = {"forces_fd": 4 * eps * energy_eV / d["fd_step_A"],
             "stress_fd": 4 * eps * energy_eV / (d["strain_step"] * volume_A3)}.get(case, 16 * eps * energy_eV)
    return max(TOLERANCES[case], floor)


def reference(element: str, case: str, precision: str = "float64", energy_eV: float = 0.0, volume_A3: float = 1.0):
    """The exact identity each check tests: deviation 0 within :func:`tolerance`."""
    from ..references import Reference

    tol = tolerance(case, precision, energy_eV, volume_A3)
    return Reference(element=element, property=PROPERTY, case=case, quantity="max_deviation", value=0.0,
                     unit=UNITS[case], source=f"exact identity (finite differences / symmetry), {precision} model",
                     tolerance={"abs": tol}, noise={"abs": tol / 10}, extra={"strict": True})


class VerificationProtocol(Protocol):
    """Exact identities every potential must satisfy (forces, stress, invariances)."""

    name, version, defaults = PROPERTY, PROTOCOL_VERSION, DEFAULTS

    def cases(self, element, tier):
        return cases(element, tier)

    def measure(self, target, element, case, tier):
        spec, _ = target.compute_args
        dev = compute(spec, element, case)
        scale = precision_and_scale(spec, element)
        ref = reference(element, case, scale["precision"], scale["energy_eV"], scale["volume_A3"])
        note = (f"{scale['precision']} model ({'declared on the card' if scale['declared'] else 'detected'}); "
                f"tolerance {ref.bound():.3g} {UNITS[case]}")
        return [Measurement("max_deviation", dev, UNITS[case], policy="identity", refs=[ref], note=note)]


PROTOCOL = VerificationProtocol()
