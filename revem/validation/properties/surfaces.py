"""Surface energies of the low-index facets of every lattice, and their ordering.

Method: a slab of the relaxed crystal of the element's ground lattice
(:func:`revem.validation.properties.common.ground_lattice`), at least ``min_thickness_A`` thick with
``vacuum_A`` of vacuum on each side, the in-plane cell Minkowski-reduced and kept fixed at the bulk
lattice constants, positions relaxed (LBFGS).  With ``N`` atoms, slab energy ``E_slab`` and in-plane area
``A`` (both faces exposed)::

    gamma = (E_slab - N * e_bulk) / (2 A)        [mJ/m^2]

``e_bulk`` is the relaxed bulk energy per atom of the same potential in the same lattice
(:func:`revem.validation.properties.common.ground_state`; hcp with its relaxed c/a).

Slabs (:func:`build_slab`): bcc and fcc -- the conventional cubic cell cut by :func:`ase.build.surface`
(in a monatomic Bravais lattice every termination of a facet is equivalent); hcp and diamond -- the
primitive cell (2 atoms: the 1×1 surface cell, so no reconstruction can form) cut by
:func:`ase.build.surface`, terminated across the widest gap between atomic planes (the termination
that breaks the fewest bonds: hcp (10-10) type A, between the widely spaced planes, keeping the close
pairs; diamond (111) between bilayers, one dangling bond per surface atom), the same cut on both faces.
Facet names: three Miller digits for cubic lattices (bcc, fcc and diamond facets refer to the
conventional cubic cell), four Bravais-Miller indices for hcp (``0001`` basal, ``10-10`` prismatic).

Cases per element (:func:`cases`): the low-index facets of its lattice (:data:`LOW_INDEX`: bcc and fcc
(100), (110), (111); hcp (0001), (10-10); diamond (100), (110), (111), unreconstructed), plus every facet
with a stored reference (W: the 11 Table-2 facets, (221) and (331) in ``full``; Mo, Ta, Nb: the maml
facets; Cu, Ni: the two mlearn facets each), ``ordering`` where an ordering reference exists, and
``convergence`` (a physical verdict) in ``full``.  A facet without a stored reference is ``reported``.
Smoke tier: :data:`SMOKE_FACETS` of the lattice (W: (110), (100), as before).  The facet *ordering* is
scored by the Spearman rank correlation of the computed energies with the DFT values over the facets of
a reference set.  Where a reference set holds the non-relaxed (bulk-terminated) slab energy
(``gamma_unrelaxed``, fitsnap Ta), the unrelaxed slab of the potential is scored against it too.

References: the DFT slab sets of the data mirror (:mod:`revem.validation.references_build.surfaces`).  The
Materials Project / Crystalium values (R. Tran et al., Sci. Data 3, 160080 (2016),
doi:10.1038/sdata.2016.80) are stored for W (seed paper's Table 2) only: no per-facet value of the other
elements could be checked against its published source offline, so Al, Be, Re, Os, C and the low-index
facets of the others without a mirror slab are reported.

Converged defaults (measured with W_zhou and W_2940_2017_2 on (110), (100), (211), (321), see
:func:`convergence`, run in the ``full`` tier): 12 Å of slab and 10 Å of vacuum on each side;
thicker slabs (16, 20 Å) and more vacuum (15 Å) change gamma by < 0.1 mJ/m^2.

Literature: R. Tran et al., *Surface energies of elemental crystals*, Sci. Data 3, 160080 (2016),
doi:10.1038/sdata.2016.80 (Crystalium; the seed paper's Table 2 references); X.-G. Li et al.,
npj Comput. Mater. 6, 70 (2020), doi:10.1038/s41524-020-0339-0 (the maml W slabs); A. P. Thompson et
al., J. Comput. Phys. 285, 316 (2015), doi:10.1016/j.jcp.2014.12.018 (fitsnap Ta slabs); Y. Zuo et al.,
J. Phys. Chem. A 124, 731 (2020), doi:10.1021/acs.jpca.9b08723 (mlearn Cu, Ni slabs).

Disclaimers: unreconstructed, bulk-terminated surfaces only (no reconstructions -- diamond (100) and
(111) reconstruct in reality --, adsorbates or steps); static (0 K) relaxation; gamma is a surface
energy, not a surface free energy; hcp slabs keep the bulk c/a in plane.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk, surface
from ase.geometry import minkowski_reduce
from ase.optimize import LBFGS

from .. import references
from ..plotting import finite as _finite
from ..plotting import reference_bars as _reference_bars
from ..protocol import Measurement, Protocol, Skip, merge_settings
from ..references import Reference
from ..target import Target
from .common import (
    EV_PER_A2_TO_MJ_PER_M2,
    build_lattice,
    ground_state,
    lattice_of,
    relax_positions,
    residual_energy,
)

PROPERTY = "surfaces"
PROTOCOL_VERSION = 1  # hcp and diamond facets added; bcc and fcc slabs built as before (baselines stay valid)
UNIT = "mJ/m^2"
# the 11 facets of the seed paper's Table 2, in its (DFT) order
FACETS = ("110", "111", "321", "332", "322", "320", "311", "210", "310", "100", "211")
EXTRA_FACETS = ("221", "331")  # in the maml DFT set only; full tier
DEFAULTS = {"min_thickness_A": 12.0, "vacuum_A": 10.0, "fmax_eV_per_A": 1e-3, "max_steps": 500}
TIER_SETTINGS = {
    "smoke": {"fmax_eV_per_A": 1e-2, "ordering": False},
    "standard": {"fmax_eV_per_A": 1e-3, "ordering": True},
    "full": {"fmax_eV_per_A": 1e-4, "ordering": True, "convergence": True},
}
CONVERGENCE = {"min_thickness_A": (8.0, 12.0, 16.0, 20.0), "vacuum_A": (6.0, 10.0, 15.0), "tolerance_mJ_per_m2": 5.0}
LATTICES = ("bcc", "fcc", "hcp", "diamond")
#: the low-index facets every element of a lattice runs (bcc: the Table-2 facets contain them)
LOW_INDEX = {"bcc": ("110", "100", "111"), "fcc": ("111", "100", "110"), "hcp": ("0001", "10-10"),
             "diamond": ("111", "110", "100")}
#: smoke facets per lattice (the lowest-index ones)
SMOKE_FACETS = {"bcc": ("110", "100"), "fcc": ("111", "100"), "hcp": ("0001",), "diamond": ("111",)}
CONVERGENCE_FACETS = {"bcc": ("110", "100", "211", "321"), "fcc": ("111", "100", "110"), "hcp": ("0001", "10-10"),
                      "diamond": ("111", "100")}
#: lattices whose slabs are cut from the primitive cell across the widest interplanar gap
TERMINATED = ("hcp", "diamond")


def _lattice(element: str) -> str | None:
    lat = lattice_of(element)
    return lat if lat in LATTICES else None


def miller(case: str, structure: str = "bcc") -> tuple[int, int, int]:
    """'321' -> (3, 2, 1) (single-digit indices, as the facet names of Table 2); hcp four-index Bravais-Miller
    names -> the three-index (h, k, l) of the hexagonal cell: '0001' -> (0, 0, 1), '10-10' -> (1, 0, 0)."""
    digits = [int(x) for x in re.findall(r"-?\d", case)]
    if structure == "hcp":
        if len(digits) != 4 or digits[0] + digits[1] + digits[2] != 0:
            raise ValueError(f"hcp facet {case!r}: give four Bravais-Miller indices h k i l with i = -(h + k)")
        return digits[0], digits[1], digits[3]
    if len(digits) != 3:
        raise ValueError(f"facet {case!r}: give three Miller digits")
    return tuple(digits)


def _index_key(f: str):
    h = [int(x) for x in re.findall(r"-?\d", f)]
    return (sum(i * i for i in h), f)


def reference_facets(element: str) -> list[str]:
    """Facets with a stored gamma reference for ``element`` (any source), lowest index first."""
    return sorted({r.case for r in references.load(element, PROPERTY)
                   if r.quantity in ("gamma", "gamma_unrelaxed") and r.case not in ("ordering", "convergence")},
                  key=_index_key)


def cases(element: str, tier: str) -> list[str]:
    """The facets of ``tier`` for ``element`` (see the module docstring) + 'ordering' where an ordering reference
    exists (standard, full) + 'convergence' (full); none for a lattice revem builds no slabs of."""
    lat = _lattice(element)
    if lat is None:
        return []
    s = TIER_SETTINGS[tier]
    if tier == "smoke":
        return list(SMOKE_FACETS[lat])
    wanted = set(LOW_INDEX[lat]) | set(reference_facets(element))
    if lat == "bcc" and tier != "full":
        wanted -= set(EXTRA_FACETS)  # the maml-only bcc facets run in full (as before)
    facets = [f for f in (FACETS if lat == "bcc" else LOW_INDEX[lat]) if f in wanted]
    facets += sorted(wanted - set(facets), key=_index_key)
    has_ordering = any(r.case == "ordering" for r in references.load(element, PROPERTY))
    return facets + (["ordering"] if s["ordering"] and has_ordering else []) \
        + (["convergence"] if s.get("convergence") else [])


def _primitive_miller(hkl) -> tuple[int, int, int]:
    """Miller indices of a conventional-cubic facet of an fcc lattice in the basis of ASE's primitive fcc vectors
    (0, a/2, a/2), (a/2, 0, a/2), (a/2, a/2, 0): h'_i = p_i · (h, k, l) / a, made integer and coprime."""
    p = np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]])
    hp = p @ np.asarray(hkl, int)  # twice the fractions
    g = math.gcd(*[int(abs(x)) for x in hp])
    return tuple(int(x) // g for x in hp)


def _terminated_slab(prim: Atoms, hkl, min_thickness_A: float, vacuum_A: float) -> Atoms:
    """A slab of ``prim`` (a primitive cell) with surface ``hkl`` (Miller indices in ``prim``'s basis), cut
    across the widest gap between atomic planes on both faces (a whole number of repeats, so the two faces
    are equivalent), c normal to the surface.  (``ase.build.surface`` stacks the repeats correctly but its
    cell is not periodic along the normal, so the slab is cut out of a taller one.)"""
    one = surface(prim, hkl, 1, vacuum=None)
    # height of one repeat: the surface basis spans the primitive cell's volume (ASE puts the normal along z)
    d = abs(prim.get_volume()) / float(np.linalg.norm(np.cross(one.cell.array[0], one.cell.array[1])))
    z = np.sort(np.unique(np.round(np.mod(one.positions[:, 2], d), 6)))
    gaps = np.diff(np.concatenate([z, [z[0] + d]]))
    k = int(np.argmax(gaps > gaps.max() - 1e-6))  # the first widest gap
    cut = z[k] + gaps[k] / 2
    m = max(1, math.ceil((min_thickness_A + gaps[k]) / d))  # repeats: first to last plane >= min_thickness_A
    tall = surface(prim, hkl, m + 2, vacuum=None)
    h = tall.positions[:, 2]
    slab = tall[(h > cut) & (h < cut + m * d)]
    if len(slab) != m * len(one):
        raise RuntimeError(f"surface {tuple(hkl)}: cut {len(slab)} atoms, expected {m} x {len(one)}")
    c = tall.cell.array
    h = slab.positions[:, 2]
    slab.positions[:, 2] += vacuum_A - h.min()
    slab.set_cell([c[0], c[1], [0.0, 0.0, np.ptp(h) + 2 * vacuum_A]], scale_atoms=False)
    return slab


def build_slab(element: str, a0: float, hkl, min_thickness_A: float = DEFAULTS["min_thickness_A"],
               vacuum_A: float = DEFAULTS["vacuum_A"], structure: str = "bcc", c_over_a: float | None = None) -> Atoms:
    """A slab with surface normal along z: at least ``min_thickness_A`` Å thick, ``vacuum_A`` Å each side.
    ``hkl``: Miller indices of the conventional cubic cell (bcc, fcc, diamond) or of the hexagonal cell (hcp,
    three-index: see :func:`miller`); hcp needs ``c_over_a``."""
    if structure in TERMINATED:
        if structure == "hcp":
            prim, hkl_p = build_lattice(element, "hcp", a0, c_over_a), tuple(hkl)
        else:
            prim, hkl_p = bulk(element, structure, a=a0), _primitive_miller(hkl)
        slab = _terminated_slab(prim, hkl_p, min_thickness_A, vacuum_A)
    else:
        cubic = bulk(element, structure, a=a0, cubic=True)
        one = surface(cubic, hkl, 1, vacuum=None, periodic=True)
        c = one.cell.array
        area = np.linalg.norm(np.cross(c[0], c[1]))
        d = abs(one.get_volume()) / area  # height of one repeat (Å)
        layers = max(1, math.ceil(min_thickness_A / d) + 1)  # thickness (first to last plane) >= min_thickness_A
        slab = surface(cubic, hkl, layers, vacuum=vacuum_A, periodic=False)
    cell = slab.cell.array.copy()
    red, _ = minkowski_reduce(cell, pbc=[True, True, False])  # compact in-plane cell (LAMMPS tilt limits)
    slab.set_cell(red, scale_atoms=False)
    slab.wrap()
    slab.pbc = True
    return slab


def slab_area(atoms: Atoms) -> float:
    """In-plane area (Å^2) of a slab whose surface normal is the third cell vector's complement."""
    c = atoms.cell.array
    return float(np.linalg.norm(np.cross(c[0], c[1])))


def surface_energy(e_slab: float, n_atoms: int, e_bulk: float, area: float) -> float:
    """gamma = (E_slab - N e_bulk) / (2 A) in mJ/m^2 (energies in eV, area in Å^2)."""
    return (e_slab - n_atoms * e_bulk) / (2.0 * area) * EV_PER_A2_TO_MJ_PER_M2


def spearman_rho(computed: dict, reference: dict, keys=FACETS) -> float:
    """Spearman rank correlation of computed vs reference values over ``keys`` (dimensionless)."""
    from scipy.stats import spearmanr

    keys = [k for k in keys if k in computed and k in reference and computed[k] is not None]
    if len(keys) < 3:
        return float("nan")
    return float(spearmanr([computed[k] for k in keys], [reference[k] for k in keys])[0])


def _gamma(target: Target, element: str, case: str, structure: str, min_thickness_A: float, vacuum_A: float,
           fmax: float, max_steps: int) -> dict:
    gs = ground_state(target, element, structure)
    a0, e0, coa = gs["a0"], gs["e0"], gs.get("c_over_a")
    slab = build_slab(element, a0, miller(case, structure), min_thickness_A, vacuum_A, structure, coa)
    slab.calc = target.calculator()
    e_unrelaxed = slab.get_potential_energy()
    converged = relax_positions(slab, fmax=fmax, steps=max_steps, optimizer=LBFGS)
    area = slab_area(slab)
    return {"gamma": surface_energy(slab.get_potential_energy(), len(slab), e0, area),
            "gamma_unrelaxed": surface_energy(e_unrelaxed, len(slab), e0, area),
            "n_atoms": len(slab), "area_A2": area, "converged": converged,
            "uncertainty_mJ_per_m2": residual_energy(slab) / (2 * area) * EV_PER_A2_TO_MJ_PER_M2,
            "fmax_eV_per_A": fmax, "min_thickness_A": min_thickness_A, "vacuum_A": vacuum_A, "a0_A": a0,
            "structure": structure}


def compute(target, element: str, case: str, tier: str = "standard", min_thickness_A: float | None = None,
            vacuum_A: float | None = None, lattice: str | None = None) -> dict:
    """gamma (mJ/m^2) of facet ``case`` (e.g. '110', hcp '0001') of the element's ground lattice (``lattice``
    overrides it), plus the unrelaxed value and the slab size.  Cached in the target's session per slab
    setting."""
    s = merge_settings(DEFAULTS, TIER_SETTINGS, tier)
    structure = lattice or _lattice(element) or "bcc"
    t = Target.of(target)
    key = (float(min_thickness_A or s["min_thickness_A"]), float(vacuum_A or s["vacuum_A"]),
           float(s["fmax_eV_per_A"]), int(s["max_steps"]))
    return t.memo(PROPERTY, element, case, structure, *key, PROTOCOL_VERSION,
                  compute=lambda: _gamma(t, element, case, structure, *key))


def all_facets(target, element: str, tier: str = "standard", facets=FACETS, **kw) -> dict:
    """{facet: gamma (mJ/m^2)} for ``facets``."""
    return {f: compute(target, element, f, tier, **kw)["gamma"] for f in facets}


def convergence(target, element: str, case: str, tier: str = "full", **kw) -> dict:
    """Largest |gamma - gamma(default)| (mJ/m^2) over the thickness and vacuum scans of :data:`CONVERGENCE`."""
    base = compute(target, element, case, tier, **kw)["gamma"]
    rows = []
    for t in CONVERGENCE["min_thickness_A"]:
        rows.append(("min_thickness_A", t, compute(target, element, case, tier, min_thickness_A=t, **kw)["gamma"]))
    for v in CONVERGENCE["vacuum_A"]:
        rows.append(("vacuum_A", v, compute(target, element, case, tier, vacuum_A=v, **kw)["gamma"]))
    # converged = the change from the default to every larger setting
    dev = max(abs(g - base) for k, x, g in rows if x >= DEFAULTS[k])
    return {"max_deviation": dev, "scan": [{"setting": k, "value_A": x, "gamma": g} for k, x, g in rows]}


def plot(records: list[dict], outdir: Path) -> list[Path]:
    """Bar chart of gamma per facet (Table 2 order): potential (red) vs the DFT references (black, one
    hatching per source), grey band ± tolerance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = [r for r in records if r.get("property") == PROPERTY and r.get("quantity") == "gamma"]
    if not recs:
        return []
    known = FACETS + EXTRA_FACETS + tuple(f for fs in LOW_INDEX.values() for f in fs)
    order = list(dict.fromkeys(f for f in known if any(r["case"] == f for r in recs)))
    order += sorted({r["case"] for r in recs} - set(order))
    out = []
    for pot in sorted({r.get("potential") or "potential" for r in recs}):
        rs = [r for r in recs if (r.get("potential") or "potential") == pot]
        val, refs = {}, {f: [] for f in order}
        for r in rs:
            if _finite(r.get("value")):
                val.setdefault(r["case"], r["value"])
            if _finite(r.get("reference")):
                src = r.get("reference_source") or "DFT"
                src = "DFT, seed Table 2 (Crystalium)" if "Table 2" in src else "DFT, maml slabs" if "maml" in src \
                    else src[:40]
                refs[r["case"]].append((src, r["reference"], r.get("tolerance")))
        fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(order) + 2.5), 4))
        x = _reference_bars(ax, order, [val.get(f) for f in order], [refs[f] for f in order], pot)
        ax.set_xticks(x, [f"({f})" for f in order])
        ax.set_ylabel("surface energy (mJ/m$^2$)")
        low = [float(v) for v in val.values()] + [float(r[1]) - float(r[2] or 0) for g in refs.values() for r in g]
        if low and min(low) > 0:
            ax.set_ylim(0.8 * min(low), None)
        ax.set_title(f"{pot}: surface energies")
        fig.tight_layout()
        path = Path(outdir) / "surfaces.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        out.append(path)
    return out


class SurfacesProtocol(Protocol):
    """Relaxed surface energies of the low-index facets and those with references, their ordering, and slab convergence."""

    name, version, defaults, tier_settings = PROPERTY, PROTOCOL_VERSION, DEFAULTS, TIER_SETTINGS

    def cases(self, element, tier):
        return cases(element, tier)

    def measure(self, target, element, case, tier):
        lat = _lattice(element) or "bcc"
        if case == "ordering":
            facets = [f for f in cases(element, tier) if f not in ("ordering", "convergence")]
            gamma = all_facets(target, element, tier, facets=facets)
            stored = references.load(element, PROPERTY)
            rho_refs = [r for r in stored if r.case == "ordering"]
            if not rho_refs:
                raise Skip(f"no stored DFT surface energies of {element} to rank against")
            out = []
            for ref in rho_refs:  # one DFT set per reference: the gamma values sharing its source
                dft = {r.case: r.value for r in stored if r.quantity == "gamma" and r.source == ref.source}
                out.append(Measurement(ref.quantity, spearman_rho(gamma, dft, keys=facets), "", refs=[ref],
                                       note=f"threshold rho >= {ref.value - ref.bound():.2f}",
                                       data={"gamma": gamma, "dft": dft}))
            return out
        if case == "convergence":
            out = []
            for facet in CONVERGENCE_FACETS[lat]:
                res = convergence(target, element, facet, tier)
                ref = Reference(element=element, property=PROPERTY, case=case, quantity=f"max_deviation_{facet}",
                                value=0.0, unit=UNIT, source="convergence of the slab thickness and vacuum",
                                tolerance={"abs": CONVERGENCE["tolerance_mJ_per_m2"]})
                out.append(Measurement(ref.quantity, res["max_deviation"], UNIT, refs=[ref], data=res))
            return out
        res = compute(target, element, case, tier)
        scored = bool(references.find(element, PROPERTY, case, "gamma"))
        note = (f"{res['structure']} ({case}), {res['n_atoms']} atoms, {res['area_A2']:.2f} Å^2, unrelaxed "
                f"{res['gamma_unrelaxed']:.1f} mJ/m^2"
                + ("" if res["converged"] else f"; NOT converged to fmax {res['fmax_eV_per_A']} eV/Å")
                + ("" if scored else "; no stored reference: reported"))
        out = [Measurement("gamma", res["gamma"], UNIT, note=note, uncertainty=res["uncertainty_mJ_per_m2"],
                           converged=res["converged"], policy="reference" if scored else "reported",
                           uncertainty_covers="energy still to gain from the residual forces after relaxation "
                                              "(harmonic bound, stiffness >= 1 eV/Å^2)")]
        if references.find(element, PROPERTY, case, "gamma_unrelaxed"):  # a bulk-terminated DFT slab exists
            out.append(Measurement("gamma_unrelaxed", res["gamma_unrelaxed"], UNIT,
                                   note=f"bulk-terminated slab at the potential's a0, {res['n_atoms']} atoms"))
        return out


PROTOCOL = SurfacesProtocol()
