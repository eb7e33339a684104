"""Cohesive energy E_coh = E(isolated atom) − E(bulk ground state, per atom), eV/atom.

Method: the isolated atom is one atom in a cubic box of side ``box_A`` (Å), periodic, so it sees no
image within any potential's cutoff; the bulk energy is the relaxed cubic ground state of
:func:`revem.validation.properties.common.ground_state` (same calculator).  The box is checked: the atom's
energy in a box ``box_check_A`` wide must agree within ``box_tolerance_eV`` (else the number is
reported as unconverged).

Energy zero: a potential fitted to DFT total energies usually does *not* put the free atom at zero
(a SNAP's constant term, an ACE's E0 shift, the non-spin-polarised VASP reference atom).  E_coh uses
the potential's own isolated-atom energy, which is recorded (``E_atom``) and named in the note when
it is not zero; that is the energy the potential would assign to sublimation.

References: experimental cohesive energies, C. Kittel, *Introduction to Solid State Physics*, 8th
ed. (Wiley, 2005), Table 3.1 (W: 8.90 eV/atom), stored in ``revem/validation/reference_data/<El>/cohesive_*.json``.
An experimental value includes zero-point energy and the spin-polarised free atom, which a 0 K
static potential fitted to non-spin-polarised DFT does not: it is shown with the error, and only
DFT references of the same protocol (``"kind": "dft"``) are scored.

Disclaimers: static 0 K energies, no zero-point energy; the free atom of a potential has no spin
or orbital physics: a potential can reproduce DFT bulk energies perfectly and still have an
arbitrary E_atom.
"""
from __future__ import annotations

from ase import Atoms

from .. import references
from ..coverage import recorded_cache
from ..protocol import Measurement, Protocol, merge_settings
from .common import calculator_factory, ground_state, single_threaded

PROPERTY = "cohesive"
PROTOCOL_VERSION = 1
UNIT = "eV/atom"
DEFAULTS = {"box_A": 25.0, "box_check_A": 35.0, "box_tolerance_eV": 1e-3, "atom_zero_tolerance_eV": 1e-3}
TIER_SETTINGS: dict = {}


def cases(element: str, tier: str) -> list[str]:
    """The element's ground lattice, where a cohesive-energy reference of it is stored."""
    from .common import lattice_of

    lat = lattice_of(element)
    return [lat] if lat and references.has(element, PROPERTY, lat) else []


def isolated_atom(element: str, box_A: float) -> Atoms:
    """One atom at the centre of a periodic cubic box of side ``box_A`` (Å)."""
    return Atoms(element, positions=[[box_A / 2] * 3], cell=[box_A] * 3, pbc=True)


def atom_energy(calc_factory, element: str, box_A: float) -> float:
    at = isolated_atom(element, box_A)
    at.calc = calc_factory()
    return float(at.get_potential_energy())


@single_threaded
@recorded_cache(maxsize=32)
def compute(target, element: str, structure: str = "bcc", tier: str = "standard") -> dict:
    """``E_coh`` (eV/atom), ``E_atom`` (eV, the potential's isolated atom), ``E_bulk`` (eV/atom),
    ``box_converged`` and the box sizes used."""
    s = merge_settings(DEFAULTS, TIER_SETTINGS, tier)
    factory = calculator_factory(target)
    e_atom = atom_energy(factory, element, s["box_A"])
    e_check = atom_energy(factory, element, s["box_check_A"])
    gs = ground_state(target, element, structure)
    return {"E_coh": e_atom - gs["e0"], "E_atom": e_atom, "E_bulk": gs["e0"],
            "box_converged": bool(abs(e_check - e_atom) <= s["box_tolerance_eV"]),
            "box_change_eV": abs(e_check - e_atom), "box_A": s["box_A"], "box_check_A": s["box_check_A"],
            "atom_is_zero": bool(abs(e_atom) <= s["atom_zero_tolerance_eV"])}


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
        out = [Measurement("E_coh", res["E_coh"], UNIT, note=note, converged=res["box_converged"],
                           policy="reference" if dft else "reported")]
        out.append(Measurement("E_atom", res["E_atom"], "eV", policy="reported", note=zero))
        return out


PROTOCOL = CohesiveProtocol()
