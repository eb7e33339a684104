"""Verification checks every potential must pass, whatever its accuracy.

* forces equal −∇E (central finite differences, step ``fd_step_A`` Å) on a rattled supercell of the
  element's ground lattice;
* stress equals the derivative of the energy with respect to a homogeneous strain (central differences);
* the energy is invariant under translation, rotation and permutation of the atoms.

Every element with a ground lattice (:func:`revem.validation.elements.ground_lattice`: bcc, fcc, hcp,
diamond) runs every check.  Reported quantities are the maximum absolute deviations (eV/Å, eV/Å^3, eV),
scored as exact identities (policy ``identity``) within a tolerance scaled to the model's arithmetic:
the target's declared precision (:attr:`Target.precision`, e.g. ``precision: float32`` on a card), else
the precision detected from the dtype of its forces.

Disclaimers: finite differences probe smoothness only near the sampled structure; a potential
can pass here and still have discontinuities elsewhere (e.g. at its cutoff).
"""
from __future__ import annotations

import numpy as np

from ..protocol import Measurement, Protocol
from ..references import Reference
from ..target import Target
from .common import ground_state_atoms, lattice_of

PROPERTY = "verification"
PROTOCOL_VERSION = 1  # every element added without changing the numbers of existing cases (bcc as before)
DEFAULTS = {"supercell": (2, 2, 2), "rattle_A": 0.05, "fd_step_A": 1e-3, "strain_step": 1e-4, "seed": 7}
TOLERANCES = {"forces_fd": 1e-3, "stress_fd": 1e-5, "translation": 1e-6, "rotation": 1e-6, "permutation": 1e-6}
UNITS = {"forces_fd": "eV/Å", "stress_fd": "eV/Å^3", "translation": "eV", "rotation": "eV", "permutation": "eV"}
CASES = list(TOLERANCES)
#: unit round-off of the arithmetic a model evaluates in
EPSILON = {"float64": float(np.finfo(np.float64).eps), "float32": float(np.finfo(np.float32).eps)}


def cases(element: str, tier: str) -> list[str]:
    """Every check, for every element whose ground lattice revem knows (none otherwise)."""
    return list(CASES) if lattice_of(element) else []


def _sample(target: Target, element: str):
    """The rattled supercell of the relaxed ground lattice, with a fresh calculator of ``target``."""
    d = DEFAULTS
    atoms = ground_state_atoms(target, element, "ground", repeat=d["supercell"])
    atoms.rattle(d["rattle_A"], seed=d["seed"])
    atoms.calc = target.calculator()
    return atoms


def _deviation(target: Target, element: str, case: str) -> float:
    atoms = _sample(target, element)
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
                ep = atoms.get_potential_energy()
                atoms.positions[i, k] = p[i, k] - h
                em = atoms.get_potential_energy()
                atoms.positions = p
                dev = max(dev, abs(-(ep - em) / (2 * h) - f[i, k]))
        return float(dev)
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
                es.append(atoms.get_potential_energy())
            atoms.set_cell(cell0, scale_atoms=True)
            dev = max(dev, abs((es[0] - es[1]) / (2 * eps) / v - s[a, b]))
        return float(dev)
    e0 = atoms.get_potential_energy()
    other = atoms.copy()
    if case == "translation":
        other.translate([0.37, -1.21, 2.05])
        other.wrap()
    elif case == "rotation":
        other.rotate(33.0, (1, 2, 3), rotate_cell=True)
    elif case == "permutation":
        other = other[np.random.default_rng(DEFAULTS["seed"]).permutation(len(other))]
    else:
        raise ValueError(f"unknown verification case '{case}' (known: {', '.join(CASES)})")
    other.calc = target.calculator()
    return float(abs(other.get_potential_energy() - e0))


def compute(target, element: str, case: str) -> float:
    """Maximum deviation of check ``case`` (unit in :data:`UNITS`); cached in the target's session."""
    t = Target.of(target)
    return t.memo(PROPERTY, element, case, PROTOCOL_VERSION, compute=lambda: _deviation(t, element, case))


def _precision_and_scale(target: Target, element: str) -> dict:
    atoms = _sample(target, element)
    e = abs(float(atoms.get_potential_energy()))
    forces = atoms.calc.results.get("forces")
    inner = getattr(atoms.calc, "inner", None)
    if inner is not None and getattr(inner, "results", None):
        forces = inner.results.get("forces", forces)
    detected = "float32" if getattr(forces, "dtype", None) == np.float32 else "float64"
    declared = target.precision
    return {"precision": declared or detected, "declared": bool(declared), "energy_eV": e,
            "volume_A3": float(atoms.get_volume())}


def precision_and_scale(target, element: str) -> dict:
    """The model's numeric precision -- :attr:`Target.precision` when declared (a card's ``precision:``),
    else detected from the dtype of its forces -- and the energy and volume scale of the sample
    (|E| in eV, V in Å^3)."""
    t = Target.of(target)
    # the declared precision is part of the key: the same model file declared float32 or float64 has one content hash
    return t.memo(PROPERTY, "precision_and_scale", element, t.precision, PROTOCOL_VERSION,
                  compute=lambda: _precision_and_scale(t, element))


def tolerance(case: str, precision: str = "float64", energy_eV: float = 0.0, volume_A3: float = 1.0) -> float:
    """Tolerance of an identity check, scaled to the model's precision: the larger of
    :data:`TOLERANCES` and the round-off that arithmetic at ``precision`` makes in the check
    (16 ε |E| for an energy difference, 4 ε |E| / h for a central difference with step h)."""
    eps = EPSILON.get(precision, EPSILON["float64"])
    d = DEFAULTS
    floor = {"forces_fd": 4 * eps * energy_eV / d["fd_step_A"],
             "stress_fd": 4 * eps * energy_eV / (d["strain_step"] * volume_A3)}.get(case, 16 * eps * energy_eV)
    return max(TOLERANCES[case], floor)


def reference(element: str, case: str, precision: str = "float64", energy_eV: float = 0.0,
              volume_A3: float = 1.0) -> Reference:
    """The exact identity each check tests: deviation 0 within :func:`tolerance`."""
    tol = tolerance(case, precision, energy_eV, volume_A3)
    return Reference(element=element, property=PROPERTY, case=case, quantity="max_deviation", value=0.0,
                     unit=UNITS[case], source=f"exact identity (finite differences / symmetry), {precision} model",
                     tolerance={"abs": tol}, noise={"abs": tol / 10}, extra={"strict": True},
                     protocol=f"max |deviation| on a rattled {DEFAULTS['supercell']} supercell of the ground lattice; "
                              "tolerance max(fixed floor, round-off of the model's arithmetic)")


class VerificationProtocol(Protocol):
    """Exact identities every potential must satisfy (forces, stress, invariances)."""

    name, version, defaults = PROPERTY, PROTOCOL_VERSION, DEFAULTS

    def cases(self, element, tier):
        return cases(element, tier)

    def measure(self, target, element, case, tier):
        dev = compute(target, element, case)
        scale = precision_and_scale(target, element)
        ref = reference(element, case, scale["precision"], scale["energy_eV"], scale["volume_A3"])
        note = (f"{scale['precision']} model ({'declared' if scale['declared'] else 'detected'}); "
                f"tolerance {ref.bound():.3g} {UNITS[case]}")
        return [Measurement("max_deviation", dev, UNITS[case], policy="identity", refs=[ref], note=note)]


PROTOCOL = VerificationProtocol()
