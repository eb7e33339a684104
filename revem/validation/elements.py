"""Per-element facts the protocols use, as data: ``revem/validation/element_data/``.

For every element the protocols need its ground-state lattice (bcc, fcc, hcp or diamond), a starting
lattice constant (and c/a for hcp), its melting point and its mass; some properties also need
element-specific inputs (the 18 prototypes of the W paper, the DFT E–V sets of the data mirror,
the DFT γ-line cells).  All of it comes from data, never from element names in protocol code:

1. ``element_data/elements.yaml`` (packaged; one mapping per element, each key optional) and
   ``element_data/<property>.yaml`` (packaged; element -> the inputs of that protocol), then
2. a user file named by ``REVEM_ELEMENT_DATA`` (the format of ``elements.yaml``, property inputs under
   ``properties:``), whose entries extend and override the packaged ones,
3. for what neither says: ASE's reference states (``ase.data.reference_states``: lattice, a, c/a;
   C is taken as diamond) and pymatgen's element data (melting point; the mass is ASE's).

So a new element with a shipped potential needs a catalog card (and, for scored numbers, reference
files) but no Python: every protocol derives its cases from :func:`element`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ase.data import atomic_masses, atomic_numbers, chemical_symbols, reference_states

DATA_DIR = Path(__file__).resolve().parent / "element_data"
DATA_FILE = DATA_DIR / "elements.yaml"
USER_VAR = "REVEM_ELEMENT_DATA"
#: the lattices revem's protocols build ground states of
LATTICES = ("bcc", "fcc", "hcp", "diamond")
IDEAL_C_OVER_A = (8.0 / 3.0) ** 0.5
ENTRY_KEYS = {"lattice", "a", "c_over_a", "melting_point_K", "melting_point_source", "properties", "note"}
MAX_DATA_BYTES = 1 << 20


class ElementDataError(ValueError):
    """An element-data file or entry that cannot be used (the message names the file and the key)."""


@dataclass(frozen=True)
class ElementInfo:
    """What the protocols know about one element (see the module docstring)."""

    symbol: str
    lattice: str | None  # None: a reference state revem has no protocols for
    a: float  # Å, starting lattice constant of ``lattice`` (cubic conventional; hcp: a)
    c_over_a: float | None
    melting_point_K: float | None
    melting_point_source: str
    mass_amu: float
    properties: dict = field(default_factory=dict)  # property -> its element-specific inputs

    def prop(self, name: str) -> dict:
        """The element-specific inputs of property ``name`` ({} when none)."""
        return dict(self.properties.get(name) or {})


def _read_yaml(path: Path, where: str) -> dict:
    from ..potentials.safe_yaml import load_yaml, read_text_capped

    data = load_yaml(read_text_capped(path, MAX_DATA_BYTES, "element data file"), where)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ElementDataError(f"{where}: expected a mapping of element symbol -> facts")
    for sym, entry in data.items():
        if sym not in chemical_symbols[1:]:
            raise ElementDataError(f"{where}: '{str(sym)[:20]}' is not a chemical symbol")
        if not isinstance(entry, dict):
            raise ElementDataError(f"{where}: {sym}: expected a mapping")
        extra = set(entry) - ENTRY_KEYS
        if extra:
            raise ElementDataError(f"{where}: {sym}: unknown key(s) {sorted(map(str, extra))} (allowed: {sorted(ENTRY_KEYS)})")
        if "lattice" in entry and entry["lattice"] not in LATTICES:
            raise ElementDataError(f"{where}: {sym}: lattice {entry['lattice']!r} is not one of {LATTICES}")
        for k in ("a", "c_over_a", "melting_point_K"):
            v = entry.get(k)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < 1e5):
                raise ElementDataError(f"{where}: {sym}: '{k}' must be a positive number, got {v!r}")
        if not isinstance(entry.get("properties", {}) or {}, dict):
            raise ElementDataError(f"{where}: {sym}: 'properties' must be a mapping property -> inputs")
    return data


def _read_property_file(path: Path) -> dict:
    from ..potentials.safe_yaml import load_yaml, read_text_capped

    where = f"element data {path}"
    data = load_yaml(read_text_capped(path, MAX_DATA_BYTES, "element data file"), where) or {}
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ElementDataError(f"{where}: expected a mapping of element symbol -> inputs")
    bad = [s for s in data if s not in chemical_symbols[1:]]
    if bad:
        raise ElementDataError(f"{where}: {str(bad[0])[:20]!r} is not a chemical symbol")
    return data


@lru_cache(maxsize=4)
def _entries(user_file: str) -> dict:
    out = {k: dict(v) for k, v in _read_yaml(DATA_FILE, f"element data {DATA_FILE}").items()}
    for path in sorted(DATA_DIR.glob("*.yaml")):
        if path == DATA_FILE:
            continue
        for sym, inputs in _read_property_file(path).items():
            entry = out.setdefault(sym, {})
            entry["properties"] = {**(entry.get("properties") or {}), path.stem: inputs}
    if user_file:
        p = Path(user_file).expanduser()
        if not p.is_file():
            raise ElementDataError(f"{USER_VAR}={user_file}: not a file")
        for sym, entry in _read_yaml(p, f"element data {p}").items():
            merged = {**out.get(sym, {}), **entry}
            props = dict((out.get(sym) or {}).get("properties") or {})
            props.update(entry.get("properties") or {})
            merged["properties"] = props
            out[sym] = merged
    return out


def entries() -> dict:
    """Every element entry of the packaged file and of ``REVEM_ELEMENT_DATA`` (merged)."""
    return _entries(os.environ.get(USER_VAR, "").strip())


def _melting_point(symbol: str) -> float | None:
    from pymatgen.core import Element

    tm = Element(symbol).melting_point
    return float(tm) if tm is not None else None


@lru_cache(maxsize=256)
def _element(symbol: str, user_file: str) -> ElementInfo:
    if symbol not in chemical_symbols[1:]:
        raise ValueError(f"{symbol!r} is not a chemical symbol")
    z = atomic_numbers[symbol]
    entry = _entries(user_file).get(symbol, {})
    ref = reference_states[z] or {}
    lattice = entry.get("lattice") or (ref.get("symmetry") if ref.get("symmetry") in LATTICES else None)
    a = entry.get("a")
    if a is None:
        if ref.get("symmetry") == lattice and "a" in ref:
            a = ref["a"]
        else:  # the reference state's volume per atom, in the chosen lattice
            from ase.build import bulk

            try:
                at = bulk(symbol)
                v = at.get_volume() / len(at)
            except Exception:  # noqa: BLE001 - ASE has no reference structure: a generic metallic volume
                v = 16.0
            a = {"bcc": (2 * v) ** (1 / 3), "fcc": (4 * v) ** (1 / 3), "diamond": (8 * v) ** (1 / 3),
                 "hcp": (2 * v / (3 ** 0.5 / 2 * IDEAL_C_OVER_A)) ** (1 / 3), None: (2 * v) ** (1 / 3)}[lattice]
    coa = entry.get("c_over_a")
    if lattice == "hcp" and coa is None:
        coa = float(ref.get("c/a", IDEAL_C_OVER_A)) if ref.get("symmetry") == "hcp" else IDEAL_C_OVER_A
    tm = entry.get("melting_point_K")
    src = entry.get("melting_point_source") or ("elements.yaml" if tm is not None else
                                                "pymatgen.core.Element(...).melting_point (pymatgen periodic_table.json)")
    if tm is None:
        tm = _melting_point(symbol)
    return ElementInfo(symbol, lattice, float(a), None if coa is None else float(coa),
                       None if tm is None else float(tm), src, float(atomic_masses[z]),
                       dict(entry.get("properties") or {}))


def element(symbol: str) -> ElementInfo:
    """The :class:`ElementInfo` of ``symbol`` (see the module docstring for where each fact comes from)."""
    return _element(symbol, os.environ.get(USER_VAR, "").strip())


def ground_lattice(symbol: str) -> str:
    """The ground-state lattice the protocols assume (bcc W, Mo, Ta, Nb; fcc Al, Cu, Ni; hcp Be, Re, Os;
    diamond C).  Raises ValueError for a reference state revem has no protocols for."""
    info = element(symbol)
    if info.lattice is None:
        sym = (reference_states[atomic_numbers[symbol]] or {}).get("symmetry")
        raise ValueError(f"{symbol}: ASE's reference state is {sym!r}; revem's protocols know {', '.join(LATTICES)} "
                         f"(give the element a 'lattice' in {USER_VAR})")
    return info.lattice


def lattice_of(symbol: str) -> str | None:
    """:func:`ground_lattice`, or None where revem has no protocol for the element's reference state."""
    try:
        return ground_lattice(symbol)
    except ValueError:
        return None


def is_bcc(symbol: str) -> bool:
    return lattice_of(symbol) == "bcc"


def initial_lattice_constant(symbol: str, structure: str = "bcc") -> float:
    """A starting guess (Å): the element's ``a`` in its own lattice, else rescaled to ``structure`` at equal
    volume per atom (hcp: ``a`` at the ideal c/a)."""
    info = element(symbol)
    if info.lattice == structure:
        return info.a
    lat = info.lattice or "bcc"
    n = {"bcc": 2, "fcc": 4, "diamond": 8, "sc": 1}
    if lat == "hcp":
        coa = info.c_over_a or IDEAL_C_OVER_A
        v = 3 ** 0.5 / 2 * info.a ** 3 * coa / 2
    else:
        v = info.a ** 3 / n[lat]
    if structure == "hcp":
        return (2 * v / (3 ** 0.5 / 2 * IDEAL_C_OVER_A)) ** (1 / 3)
    return (n[structure] * v) ** (1 / 3)


def initial_c_over_a(symbol: str) -> float:
    info = element(symbol)
    return float(info.c_over_a) if info.lattice == "hcp" and info.c_over_a else IDEAL_C_OVER_A


def melting_point_K(symbol: str) -> float:
    tm = element(symbol).melting_point_K
    if tm is None:
        raise ValueError(f"{symbol}: no melting point (pymatgen has none; give 'melting_point_K' in {USER_VAR})")
    return tm
