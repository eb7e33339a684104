"""Surface energies of cubic (bcc, fcc) facets and their ordering.

Method: a symmetric slab of the relaxed crystal of the element's ground lattice
(:func:`revem.validation.properties.common.ground_lattice`: bcc W, Mo, Ta, Nb; fcc Cu, Ni, Al), the
conventional cubic cell cut by :func:`ase.build.surface` (in a monatomic Bravais lattice every
termination of a facet is equivalent), at least ``min_thickness_A`` thick with ``vacuum_A`` of vacuum on each side, the
in-plane cell Minkowski-reduced and kept fixed at the bulk lattice constant, positions relaxed
(LBFGS). With ``N`` atoms, slab energy ``E_slab`` and in-plane area ``A`` (both faces exposed)::

    gamma = (E_slab - N * e_bulk) / (2 A)        [mJ/m^2]

``e_bulk`` is the relaxed bulk energy per atom of the same potential in the same lattice
(:func:`revem.validation.properties.common.ground_state`).  The facet *ordering* is scored by the Spearman
rank correlation of the computed energies with the DFT values over the 11 facets of the seed
paper's Table 2 (for other elements: those of them the DFT set holds).

Cases per element (:func:`cases`): only facets with a stored reference (W: the 11 Table-2 facets,
(221) and (331) in ``full``; Mo, Ta, Nb: the maml facets; Cu, Ni: the two mlearn facets each),
``ordering`` where an ordering reference exists, and ``convergence`` (a physical verdict) in
``full``.  Where a reference set holds the non-relaxed (bulk-terminated) slab energy
(``gamma_unrelaxed``, fitsnap Ta), the unrelaxed slab of the potential is scored against it too.
hcp (Be, Re, Os) and diamond facets are not built: the mirror holds no defensible DFT surface
energy for them (see :mod:`revem.validation.references_build.surfaces`).

Converged defaults (measured with W_zhou and W_2940_2017_2 on (110), (100), (211), (321), see
:func:`convergence`, run in the ``full`` tier): 12 Å of slab and 10 Å of vacuum on each side;
thicker slabs (16, 20 Å) and more vacuum (15 Å) change gamma by < 0.1 mJ/m^2.

Literature: R. Tran et al., *Surface energies of elemental crystals*, Sci. Data 3, 160080 (2016),
doi:10.1038/sdata.2016.80 (Crystalium; the seed paper's Table 2 references); X.-G. Li et al.,
npj Comput. Mater. 6, 70 (2020), doi:10.1038/s41524-020-0339-0 (the maml W slabs).

Literature (other elements): A. P. Thompson et al., J. Comput. Phys. 285, 316 (2015),
doi:10.1016/j.jcp.2014.12.018 (fitsnap Ta slabs); Y. Zuo et al., J. Phys. Chem. A 124, 731 (2020),
doi:10.1021/acs.jpca.9b08723 (mlearn Cu, Ni slabs).

Disclaimers: unreconstructed, bulk-terminated surfaces only (no reconstructions, adsorbates or
steps); static (0 K) relaxation; gamma is a surface energy, not a surface free energy.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk, surface
from ase.geometry import minkowski_reduce
from ase.optimize import LBFGS

from ..coverage import recorded_cache
from ...potentials import load_potential
from ..plotting import finite as _finite, reference_bars as _reference_bars
from ..protocol import Measurement, Protocol, merge_settings
from .common import EV_PER_A2_TO_MJ_PER_M2, bulk_a0_e0, potential_spec, relax_positions, residual_energy

PROPERTY = "surfaces"
PROTOCOL_VERSION = 1
UNIT = "mJ/m^2"
# the 11 facets of the seed paper's Table 2, in its (DFT) order
FACETS = ("110", "111", "321", "332", "322", "320", "311", "210", "310", "100", "211")
EXTRA_FACETS = ("221", "331")  # in the maml DFT set only; full tier
DEFAULTS = {"min_thickness_A": 12.0, "vacuum_A": 10.0, "fmax_eV_per_A": 1e-3, "max_steps": 500}
TIER_SETTINGS = {
    "smoke": {"facets": ("110", "100"), "fmax_eV_per_A": 1e-2, "ordering": False},
    "standard": {"facets": FACETS, "fmax_eV_per_A": 1e-3, "ordering": True},
    "full": {"facets": FACETS + EXTRA_FACETS, "fmax_eV_per_A": 1e-4, "ordering": True, "convergence": True},
}
CONVERGENCE = {"min_thickness_A": (8.0, 12.0, 16.0, 20.0), "vacuum_A": (6.0, 10.0, 15.0), "tolerance_mJ_per_m2": 5.0}


#: smoke facets per lattice (the lowest-index ones; filtered by the references of the element)
SMOKE_FACETS = {"bcc": ("110", "100"), "fcc": ("111", "100")}
CONVERGENCE_FACETS = {"bcc": ("110", "100", "211", "321"), "fcc": ("111", "100", "110")}
LATTICES = ("bcc", "fcc")


def _lattice(element: str) -> str | None:
    from .common import lattice_of

    lat = lattice_of(element)
    return lat if lat in LATTICES else None


def _index_key(f: str):
    h = miller(f)
    return (sum(i * i for i in h), f)


def reference_facets(element: str) -> list[str]:
    """Facets with a stored gamma reference for ``element`` (any source), lowest index first."""
    from .. import references

    return sorted({r.case for r in references.load(element, PROPERTY)
                   if r.quantity in ("gamma", "gamma_unrelaxed") and r.case.isdigit()}, key=_index_key)


def cases(element: str, tier: str) -> list[str]:
    """Facets of ``tier`` that have a reference for ``element`` (+ 'ordering' where an ordering
    reference exists, + 'convergence' in full); none for lattices other than bcc and fcc."""
    from .. import references

    lat = _lattice(element)
    if lat is None:
        return []
    have = reference_facets(element)
    if not have:
        return []
    s = TIER_SETTINGS[tier]
    if tier == "smoke":
        facets = [f for f in SMOKE_FACETS[lat] if f in have] or have[:2]
    elif lat == "bcc":
        wanted = list(s["facets"])
        facets = [f for f in wanted if f in have]
        if tier == "full":
            facets += [f for f in have if f not in facets]
    else:
        facets = list(have)
    has_ordering = any(r.case == "ordering" for r in references.load(element, PROPERTY))
    return facets + (["ordering"] if s["ordering"] and has_ordering else []) \
        + (["convergence"] if s.get("convergence") else [])


def miller(case: str) -> tuple[int, int, int]:
    """'321' -> (3, 2, 1) (single-digit indices, as the facet names of Table 2)."""
    return tuple(int(c) for c in case)


def build_slab(element: str, a0: float, hkl, min_thickness_A: float = DEFAULTS["min_thickness_A"],
               vacuum_A: float = DEFAULTS["vacuum_A"], structure: str = "bcc") -> Atoms:
    """A slab with surface normal along z: at least ``min_thickness_A`` Å thick, ``vacuum_A`` Å each side."""
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


def _bulk(spec, element, bulk_ref, structure):
    """(a0 Å, e0 eV/atom): ``bulk_ref`` when given, else the relaxed bulk of ``structure`` (bcc: as before)."""
    if bulk_ref is not None or structure == "bcc":
        return bulk_a0_e0(spec, element, bulk_ref)
    from .common import ground_state

    gs = ground_state(spec, element, structure)
    return gs["a0"], gs["e0"]


@recorded_cache(maxsize=256)
def _gamma(spec, element, case, min_thickness_A, vacuum_A, fmax, max_steps, calc_factory, bulk_ref) -> dict:
    structure = _lattice(element) or "bcc"
    a0, e0 = _bulk(spec, element, bulk_ref, structure)
    slab = build_slab(element, a0, miller(case), min_thickness_A, vacuum_A, structure=structure)
    slab.calc = (calc_factory or load_potential(spec).calculator)()
    e_unrelaxed = slab.get_potential_energy()
    converged = relax_positions(slab, fmax=fmax, steps=max_steps, optimizer=LBFGS)
    area = slab_area(slab)
    return {"gamma": surface_energy(slab.get_potential_energy(), len(slab), e0, area),
            "gamma_unrelaxed": surface_energy(e_unrelaxed, len(slab), e0, area),
            "n_atoms": len(slab), "area_A2": area, "converged": converged,
            "uncertainty_mJ_per_m2": residual_energy(slab) / (2 * area) * EV_PER_A2_TO_MJ_PER_M2,
            "fmax_eV_per_A": fmax, "min_thickness_A": min_thickness_A, "vacuum_A": vacuum_A, "a0_A": a0}


def compute(potential, element: str, case: str, tier: str = "standard", calc_factory=None, bulk_ref=None,
            min_thickness_A: float | None = None, vacuum_A: float | None = None) -> dict:
    """gamma (mJ/m^2) of facet ``case`` (e.g. '110'), plus the unrelaxed value and the slab size.

    ``calc_factory``: zero-argument callable giving a fresh ASE calculator (default: the potential's);
    then pass ``bulk_ref=(a0 Å, e0 eV/atom)`` of that calculator too.
    """
    s = merge_settings(DEFAULTS, TIER_SETTINGS, tier)
    return dict(_gamma(potential_spec(potential), element, case,
                       float(min_thickness_A or s["min_thickness_A"]), float(vacuum_A or s["vacuum_A"]),
                       float(s["fmax_eV_per_A"]), int(s["max_steps"]), calc_factory, bulk_ref))


def all_facets(potential, element: str, tier: str = "standard", facets=FACETS, **kw) -> dict:
    """{facet: gamma (mJ/m^2)} for ``facets``."""
    return {f: compute(potential, element, f, tier, **kw)["gamma"] for f in facets}


def convergence(potential, element: str, case: str, tier: str = "full", **kw) -> dict:
    """Largest |gamma - gamma(default)| (mJ/m^2) over the thickness and vacuum scans of :data:`CONVERGENCE`."""
    base = compute(potential, element, case, tier, **kw)["gamma"]
    rows = []
    for t in CONVERGENCE["min_thickness_A"]:
        rows.append(("min_thickness_A", t, compute(potential, element, case, tier, min_thickness_A=t, **kw)["gamma"]))
    for v in CONVERGENCE["vacuum_A"]:
        rows.append(("vacuum_A", v, compute(potential, element, case, tier, vacuum_A=v, **kw)["gamma"]))
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
    order = [f for f in FACETS + EXTRA_FACETS if any(r["case"] == f for r in recs)]
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
    """Relaxed surface energies of the bcc/fcc facets with references, their ordering, and slab convergence."""

    name, version, defaults, tier_settings = PROPERTY, PROTOCOL_VERSION, DEFAULTS, TIER_SETTINGS

    def cases(self, element, tier):
        return cases(element, tier)

    def _bulk_ref(self, target, element):
        if target.potential is not None:
            return None
        from .common import ground_state

        gs = ground_state(target, element, _lattice(element) or "bcc")
        return (gs["a0"], gs["e0"])

    def measure(self, target, element, case, tier):
        from .. import references
        from ..protocol import Skip
        from ..references import Reference

        spec, cf = target.compute_args
        kw = {"calc_factory": cf, "bulk_ref": self._bulk_ref(target, element)}
        if case == "ordering":
            facets = [f for f in cases(element, tier) if f.isdigit()]
            gamma = all_facets(spec, element, tier, facets=facets, **kw)
            stored = references.load(element, PROPERTY)
            rho_refs = [r for r in stored if r.case == "ordering"]
            if not rho_refs:
                raise Skip(f"no stored DFT surface energies of {element} to rank against")
            out = []
            for ref in rho_refs:  # one DFT set per reference: the gamma values sharing its source
                dft = {r.case: r.value for r in stored if r.quantity == "gamma" and r.source == ref.source}
                out.append(Measurement(ref.quantity, spearman_rho(gamma, dft), "", refs=[ref],
                                       note=f"threshold rho >= {ref.value - ref.bound():.2f}",
                                       data={"gamma": gamma, "dft": dft}))
            return out
        if case == "convergence":
            out = []
            for facet in CONVERGENCE_FACETS[_lattice(element) or "bcc"]:
                res = convergence(spec, element, facet, tier, **kw)
                ref = Reference(element=element, property=PROPERTY, case=case, quantity=f"max_deviation_{facet}",
                                value=0.0, unit=UNIT, source="convergence of the slab thickness and vacuum",
                                tolerance={"abs": CONVERGENCE["tolerance_mJ_per_m2"]})
                out.append(Measurement(ref.quantity, res["max_deviation"], UNIT, refs=[ref], data=res))
            return out
        res = compute(spec, element, case, tier, **kw)
        note = (f"{res['n_atoms']} atoms, {res['area_A2']:.2f} Å^2, unrelaxed {res['gamma_unrelaxed']:.1f} mJ/m^2"
                + ("" if res["converged"] else f"; NOT converged to fmax {res['fmax_eV_per_A']} eV/Å"))
        out = [Measurement("gamma", res["gamma"], UNIT, note=note, uncertainty=res["uncertainty_mJ_per_m2"],
                           converged=res["converged"])]
        if references.find(element, PROPERTY, case, "gamma_unrelaxed"):  # a bulk-terminated DFT slab exists
            out.append(Measurement("gamma_unrelaxed", res["gamma_unrelaxed"], UNIT,
                                   note=f"bulk-terminated slab at the potential's a0, {res['n_atoms']} atoms"))
        if not references.find(element, PROPERTY, case, "gamma"):
            out = out[1:]  # only an unrelaxed reference (none stored today; kept for symmetry)
        return out


PROTOCOL = SurfacesProtocol()
