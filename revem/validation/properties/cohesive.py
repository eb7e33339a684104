"""Cohesive energy E_coh = E(isolated atom) − E(bulk ground state, per atom), eV/atom.

Method: the isolated atom is one atom in a cubic box of side ``box_A`` (Å), periodic, so it sees no
image within any potential's cutoff; the bulk energy is the relaxed ground state of the element's
lattice (:func:`revem.validation.properties.common.ground_state` with the element's
:func:`~revem.validation.elements.ground_lattice`: bcc, fcc, hcp with c/a relaxed, or diamond; same
calculator).  The box is checked: the atom's energy in a box ``box_check_A`` wide must agree within
``box_tolerance_eV`` (else the number is reported as unconverged).  Every element with a ground
lattice has one case, named after the lattice.

Energy zero: a potential fitted to DFT total energies usually does *not* put the free atom at zero
(a SNAP's constant term, an ACE's E0 shift, the non-spin-polarised VASP reference atom).  E_coh uses
the potential's own isolated-atom energy, which is recorded (``E_atom``) and named in the note when
it is not zero; that is the energy the potential would assign to sublimation.

References: experimental cohesive energies, C. Kittel, *Introduction to Solid State Physics*, 8th
ed. (Wiley, 2005), Table 3.1, for every element revem ships
(``revem/validation/reference_data/<El>/cohesive_kittel.json``, written by
:mod:`revem.validation.references_build.cohesive`).  An experimental value includes zero-point energy
and the spin-polarised free atom, which a 0 K static potential fitted to non-spin-polarised DFT does
not: the reference is shown with the error, and only DFT references of the same protocol
(``"kind": "dft"``, none stored today) are scored.

Disclaimers: static 0 K energies, no zero-point energy; the free atom of a potential has no spin
or orbital physics: a potential can reproduce DFT bulk energies perfectly and still have an
arbitrary E_atom.
"""
from __future__ import annotations

from ase import Atoms

from .. import references
from ..protocol import Measurement, Protocol, merge_settings
from ..target import Target
from .common import ground_state, lattice_of, single_threaded

PROPERTY = "cohesive"
PROTOCOL_VERSION = 1  # other lattices added; the bcc number of W is computed as before
UNIT = "eV/atom"
DEFAULTS = {"box_A": 25.0, "box_check_A": 35.0, "box_tolerance_eV": 1e-3, "atom_zero_tolerance_eV": 1e-3}
TIER_SETTINGS: dict = {}


def cases(element: str, tier: str) -> list[str]:
    """The element's ground lattice (one case), for every element whose lattice revem knows."""
    lat = lattice_of(element)
    return [lat] if lat else []


def isolated_atom(element: str, box_A: float) -> Atoms:
    """One atom at the centre of a periodic cubic box of side ``box_A`` (Å)."""
    return Atoms(element, positions=[[box_A / 2] * 3], cell=[box_A] * 3, pbc=True)


def atom_energy(target: Target, element: str, box_A: float) -> float:
    """Energy (eV) of the isolated atom in a box of side ``box_A`` (Å), with a fresh calculator of ``target``."""
    at = isolated_atom(element, box_A)
    at.calc = target.calculator()
    return float(at.get_potential_energy())


@single_threaded
def _compute(target: Target, element: str, structure: str, tier: str) -> dict:
    s = merge_settings(DEFAULTS, TIER_SETTINGS, tier)
    e_atom = atom_energy(target, element, s["box_A"])
    e_check = atom_energy(target, element, s["box_check_A"])
    gs = ground_state(target, element, structure)
    return {"E_coh": e_atom - gs["e0"], "E_atom": e_atom, "E_bulk": gs["e0"],
            "box_converged": bool(abs(e_check - e_atom) <= s["box_tolerance_eV"]),
            "box_change_eV": abs(e_check - e_atom), "box_A": s["box_A"], "box_check_A": s["box_check_A"],
            "atom_is_zero": bool(abs(e_atom) <= s["atom_zero_tolerance_eV"])}


def compute(target, element: str, structure: str = "ground", tier: str = "standard") -> dict:
    """``E_coh`` (eV/atom), ``E_atom`` (eV, the potential's isolated atom), ``E_bulk`` (eV/atom),
    ``box_converged`` and the box sizes used; ``structure`` ``"ground"``: the element's lattice.
    Cached in the target's session."""
    if structure == "ground":
        structure = lattice_of(element) or "bcc"
    t = Target.of(target)
    return t.memo(PROPERTY, element, structure, tier, PROTOCOL_VERSION,
                  compute=lambda: _compute(t, element, structure, tier))


class CohesiveProtocol(Protocol):
    """Cohesive energy from the potential's own isolated atom and bulk ground state."""

    name, version, defaults, tier_settings = PROPERTY, PROTOCOL_VERSION, DEFAULTS, TIER_SETTINGS

    def cases(self, element, tier):
        return cases(element, tier)

    def measure(self, target, element, case, tier):
        res = compute(target, element, case, tier)
        zero = ("the isolated atom is the potential's zero of energy" if res["atom_is_zero"] else
                f"the potential's isolated atom is NOT its zero of energy: E_atom = {res['E_atom']:.4f} eV "
                "(E_coh uses it)")
        note = (f"{zero}; E_bulk({case}) = {res['E_bulk']:.4f} eV/atom; atom in a {res['box_A']:g} Å box "
                f"(changes by {res['box_change_eV']:.1e} eV at {res['box_check_A']:g} Å)")
        refs = references.find(element, PROPERTY, case, "E_coh")
        dft = [r for r in refs if r.extra.get("kind") == "dft"]
        if refs and not dft:
            note += "; experimental reference shown, not scored (zero-point energy, spin-polarised free atom)"
        return [Measurement("E_coh", res["E_coh"], UNIT, note=note, converged=res["box_converged"],
                            policy="reference" if dft else "reported", refs=dft or None),
                Measurement("E_atom", res["E_atom"], "eV", policy="reported", note=zero)]


PROTOCOL = CohesiveProtocol()
