"""Point-defect formation energies: vacancy (bcc, fcc, hcp); divacancies and self-interstitials (SIA) in bcc.

Method (seed paper 000, Table 2): a 4x4x4 conventional bcc supercell (128 sites) at the relaxed
bulk lattice constant of the potential (cell fixed), the defect built on the site nearest the
cell centre, positions relaxed (LBFGS; no symmetry constraint, no random displacement)::

    E_f = E_defect - N_defect * e_bulk          [eV]

with ``e_bulk`` from :func:`revem.validation.properties.common.ground_state` (127, 126 and 129 atoms for
vacancy, divacancy and SIA).  Starting configurations: dumbbells with the two atoms
``dumbbell_separation_a`` lattice constants apart along <111>, <110>, <100>, centred on a site;
the tetrahedral SIA at (1/2, 1/4, 0) a and the octahedral one at (0, 0, 1/2) a from a site.

Other lattices (the element's :func:`revem.validation.properties.common.ground_lattice`): the vacancy only, in
a 3x3x3 conventional fcc supercell (108 sites) or a 4x2x3 supercell of the orthorhombic 4-atom hcp
cell (96 sites, a x sqrt(3) a x c, at the potential's relaxed a and c/a), built and relaxed as
above; ``E_f = E(N-1) - (N-1)/N E(N)`` is the same formula.

Cases per element (:func:`cases`): only those with a stored reference (W: all of :data:`CASES`).
The mirror holds no relaxed DFT vacancy energy for the other elements (mlearn Mo, Cu, Ni
``Vacancy`` frames are AIMD snapshots at 300-6000 K; the fitsnap Be ``Defect_Vacancy`` cells are
on another energy zero than every Be bulk group, see :mod:`revem.validation.references_build.defects`), so
today only W collects defect cases; a user reference (``REVEM_REFERENCE_DIR``) for ``vacancy`` of
any bcc/fcc/hcp element enables it.

What each SIA relaxed into is classified by a Wigner-Seitz analysis (:func:`classify_sia`): the
doubly occupied site, the direction of the vector joining its two atoms, the offset of their
midpoint from the site, and whether one of them sits on an octahedral or tetrahedral site.
Policy: the formation energy of a SIA that relaxed into another configuration is *reported*
(never scored against the reference of the configuration it left) and the case fails with
"relaxed into <label>", as iprPy's ``has_reconfigured`` flag (L. M. Hale et al., Comput. Mater.
Sci. 2018, doi:10.1016/j.commatsci.2018.06.033). Vacancies are checked the same way (number and
separation of empty sites).

Literature: P. M. Derlet, D. Nguyen-Manh, S. L. Dudarev, Phys. Rev. B 76, 054107 (2007),
doi:10.1103/PhysRevB.76.054107 (SIA in bcc metals); P.-W. Ma, S. L. Dudarev, Phys. Rev. Mater.
3, 013605 (2019), doi:10.1103/PhysRevMaterials.3.013605.

Disclaimers: fixed-cell (constant-volume) formation energies of a 128-site cell include the
elastic image interaction (tenths of an eV for SIAs); no formation volume, no entropy. In DFT W
the tetrahedral, octahedral and <100> configurations are saddle points; a relaxation from the
symmetric start keeps them only while the forces keep their symmetry, as in the DFT reference.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.optimize import LBFGS

from ..coverage import recorded_cache
from ..plotting import finite as _finite
from ..plotting import reference_bars as _reference_bars
from ...potentials import load_potential
from ..protocol import Measurement, Protocol, merge_settings
from .common import (
    bulk_a0_e0,
    lattice_of,
    potential_spec,
    relax_positions,
    residual_energy,
)

PROPERTY = "defects"
PROTOCOL_VERSION = 1
UNIT = "eV"
VACANCIES = ("vacancy", "divacancy_1NN", "divacancy_2NN")
SIAS = ("sia_111", "sia_110", "sia_100", "sia_tetrahedral", "sia_octahedral")
CASES = VACANCIES + SIAS
DEFAULTS = {"supercell": 4, "fmax_eV_per_A": 1e-3, "max_steps": 1000, "dumbbell_separation_a": 0.7,
            "supercell_fcc": 3, "supercell_hcp": (4, 2, 3)}
#: cases each lattice can build (SIAs and divacancies are bcc-specific constructions)
LATTICE_CASES = {"bcc": CASES, "fcc": ("vacancy",), "hcp": ("vacancy",)}
TIER_SETTINGS = {
    "smoke": {"cases": ("vacancy", "sia_111"), "fmax_eV_per_A": 1e-2},
    "standard": {"cases": CASES, "fmax_eV_per_A": 1e-3},
    "full": {"cases": CASES, "fmax_eV_per_A": 1e-4},
}
# label families of the pair vector at the doubly occupied site
_FAMILIES = {"100": (1, 0, 0), "110": (1, 1, 0), "111": (1, 1, 1), "210": (2, 1, 0)}
_OCTA = [sgn * np.eye(3)[k] / 2 for k in range(3) for sgn in (1, -1)]
_TETRA = [np.array(v) for v in {tuple(sgn * np.roll(np.array([0.5, 0.25, 0.0]) * f, k))
                                for k in range(3) for sgn in (1, -1) for f in ((1, 1, 1), (1, -1, 1))}
          | {tuple(sgn * np.roll(np.array([0.25, 0.5, 0.0]) * f, k))
             for k in range(3) for sgn in (1, -1) for f in ((1, 1, 1), (1, -1, 1))}]
_SIA_START = {"sia_111": (1, 1, 1), "sia_110": (1, 1, 0), "sia_100": (0, 0, 1)}


def cases(element: str, tier: str) -> list[str]:
    """The defect cases of ``tier`` that the element's lattice can build and that have a stored reference."""
    from .. import references

    lat = lattice_of(element)
    if lat not in LATTICE_CASES:
        return []
    return [c for c in TIER_SETTINGS[tier]["cases"] if c in LATTICE_CASES[lat] and references.has(element, PROPERTY, c)]


def perfect(element: str, a0: float, n=DEFAULTS["supercell"], structure: str = "bcc",
            c_over_a: float | None = None) -> Atoms:
    """The perfect supercell: n x n x n conventional bcc (2 n^3 atoms) or fcc (4 n^3) cells, or an
    (n1, n2, n3) repeat of the orthorhombic 4-atom hcp cell (a, sqrt(3) a, c = c_over_a a)."""
    if structure == "hcp":
        from .common import IDEAL_C_OVER_A

        cell = bulk(element, "hcp", a=a0, c=a0 * (c_over_a or IDEAL_C_OVER_A), orthorhombic=True)
        return cell.repeat(tuple(n) if np.ndim(n) else (n, n, n))
    if structure not in ("bcc", "fcc"):
        raise ValueError(f"defects: no supercell for lattice {structure!r}")
    return bulk(element, structure, a=a0, cubic=True).repeat(tuple(n) if np.ndim(n) else (n, n, n))


def _centre_site(atoms: Atoms) -> int:
    c = atoms.cell.array.sum(axis=0) / 2
    return int(np.argmin(np.linalg.norm(atoms.positions - c, axis=1)))


def build_defect(element: str, a0: float, case: str, n=DEFAULTS["supercell"],
                 separation_a: float = DEFAULTS["dumbbell_separation_a"], structure: str = "bcc",
                 c_over_a: float | None = None) -> Atoms:
    """Unrelaxed defect cell for ``case`` (see :data:`CASES`; other lattices: 'vacancy' only) in the
    supercell of :func:`perfect`."""
    if case not in LATTICE_CASES.get(structure, ()):
        raise ValueError(f"defect case '{case}' is not built in {structure} (known: "
                         f"{', '.join(LATTICE_CASES.get(structure, ()))})")
    atoms = perfect(element, a0, n, structure, c_over_a)
    i = _centre_site(atoms)
    s = atoms.positions[i].copy()
    if case in VACANCIES:
        gone = [i]
        if case != "vacancy":
            shift = a0 * (np.array([0.5, 0.5, 0.5]) if case == "divacancy_1NN" else np.array([1.0, 0.0, 0.0]))
            gone.append(int(np.argmin(np.linalg.norm(atoms.positions - (s + shift), axis=1))))
        del atoms[gone]
        return atoms
    if case in _SIA_START:
        u = np.array(_SIA_START[case], float)
        d = 0.5 * separation_a * a0 * u / np.linalg.norm(u)
        atoms.positions[i] = s + d
        atoms.append(Atoms(element, positions=[s - d])[0])
    elif case == "sia_tetrahedral":
        atoms.append(Atoms(element, positions=[s + a0 * np.array([0.5, 0.25, 0.0])])[0])
    elif case == "sia_octahedral":
        atoms.append(Atoms(element, positions=[s + a0 * np.array([0.0, 0.0, 0.5])])[0])
    else:
        raise ValueError(f"unknown defect case '{case}' (known: {', '.join(CASES)})")
    return atoms


def _site_analysis(atoms: Atoms, a0: float, n, structure: str = "bcc", c_over_a: float | None = None):
    """Wigner-Seitz occupation: (ideal sites, nearest-site index of each atom, box lengths)."""
    from scipy.spatial import cKDTree

    ref = perfect(atoms[0].symbol, a0, n, structure, c_over_a)
    sites = ref.positions
    L = ref.cell.lengths() if structure == "hcp" else n * a0  # orthogonal boxes only
    tree = cKDTree(np.mod(sites, L), boxsize=L)
    _, idx = tree.query(np.mod(atoms.positions, L))
    return sites, idx, L


def _mic(v, L):
    return v - L * np.round(v / L)


def classify_vacancies(atoms: Atoms, a0: float, n=DEFAULTS["supercell"], structure: str = "bcc",
                       c_over_a: float | None = None) -> str:
    """'vacancy', 'divacancy_1NN', 'divacancy_2NN' (bcc) or a description of what else is there."""
    sites, idx, L = _site_analysis(atoms, a0, n, structure, c_over_a)
    occ = np.bincount(idx, minlength=len(sites))
    empty = np.flatnonzero(occ == 0)
    if occ.max() > 1:
        return f"unclassified ({int((occ > 1).sum())} doubly occupied sites, {len(empty)} empty)"
    if len(empty) == 1:
        return "vacancy"
    if len(empty) == 2 and structure == "bcc":
        r = np.linalg.norm(_mic(sites[empty[1]] - sites[empty[0]], L)) / a0
        for name, dist in (("divacancy_1NN", np.sqrt(3) / 2), ("divacancy_2NN", 1.0)):
            if abs(r - dist) < 0.05:
                return name
        return f"unclassified (2 vacancies {r:.3f} a apart)"
    return f"unclassified ({len(empty)} empty sites)"


def classify_sia(atoms: Atoms, a0: float, n: int = DEFAULTS["supercell"], max_angle_deg: float = 12.0) -> dict:
    """What a (relaxed) SIA cell holds: ``label`` (one of :data:`SIAS` or 'unclassified ...'),
    ``axis`` (unit pair vector), ``angle_deg`` to the nearest family, ``offset_A`` (midpoint - site).

    <111> dumbbells and crowdions are both ``sia_111``.
    """
    sites, idx, L = _site_analysis(atoms, a0, n)
    occ = np.bincount(idx, minlength=len(sites))
    dbl, empty = np.flatnonzero(occ == 2), np.flatnonzero(occ == 0)
    if len(dbl) != 1 or len(empty) != 0 or occ.max() > 2:
        return {"label": f"unclassified ({len(dbl)} doubly occupied, {len(empty)} empty sites)",
                "axis": None, "angle_deg": None, "offset_A": None}
    i, j = np.flatnonzero(idx == dbl[0])
    p = _mic(atoms.positions[j] - atoms.positions[i], L)
    mid = atoms.positions[i] + p / 2
    offset = float(np.linalg.norm(_mic(mid - sites[dbl[0]], L)))
    u = np.sort(np.abs(p))[::-1] / np.linalg.norm(p)
    angles = {k: float(np.degrees(np.arccos(np.clip(u @ (np.array(v) / np.linalg.norm(v)), -1, 1))))
              for k, v in _FAMILIES.items()}
    fam = min(angles, key=angles.get)
    # interstitial sites around the doubly occupied one: is either atom of the pair sitting on one?
    rel = [_mic(atoms.positions[k] - sites[dbl[0]], L) for k in (i, j)]
    near_oct = min(np.linalg.norm(r - a0 * v) for r in rel for v in _OCTA) < a0 / 8
    near_tet = min(np.linalg.norm(r - a0 * v) for r in rel for v in _TETRA) < a0 / 8
    if fam == "111":
        label = "sia_111"  # dumbbell or crowdion
    elif near_oct and fam == "100":
        label = "sia_octahedral"
    elif near_tet:
        label = "sia_tetrahedral"
    elif angles[fam] <= max_angle_deg and offset < a0 / 8 and fam in ("100", "110"):
        label = f"sia_{fam}"
    else:
        label = (f"unclassified (pair axis {np.round(p / np.linalg.norm(p), 3).tolist()}, "
                 f"midpoint {offset:.2f} Å off the site)")
    return {"label": label, "axis": (p / np.linalg.norm(p)).round(4).tolist(), "angle_deg": round(angles[fam], 2),
            "offset_A": round(offset, 4)}


def formation_energy(e_defect: float, n_atoms: int, e_bulk: float) -> float:
    """E_f = E_defect - N e_bulk (eV)."""
    return e_defect - n_atoms * e_bulk


def _bulk(spec, element, bulk_ref, structure) -> tuple:
    """(a0 Å, e0 eV/atom, c/a or None): ``bulk_ref`` ((a0, e0) or (a0, e0, c/a)) when given, else the relaxed
    bulk of ``structure`` (bcc exactly as before)."""
    if bulk_ref is not None:
        return (bulk_ref[0], bulk_ref[1], bulk_ref[2] if len(bulk_ref) > 2 else None)
    if structure == "bcc":
        return (*bulk_a0_e0(spec, element, None), None)
    from .common import ground_state

    gs = ground_state(spec, element, structure)
    return gs["a0"], gs["e0"], gs.get("c_over_a")


def supercell_of(structure: str, s: dict):
    """The supercell size setting of ``structure`` (see :data:`DEFAULTS`)."""
    return {"bcc": int(s["supercell"]), "fcc": int(s["supercell_fcc"]),
            "hcp": tuple(int(x) for x in s["supercell_hcp"])}[structure]


@recorded_cache(maxsize=128)
def _compute(spec, element, case, n, fmax, max_steps, separation_a, calc_factory, bulk_ref,
             structure="bcc") -> dict:
    a0, e0, coa = _bulk(spec, element, bulk_ref, structure)
    atoms = build_defect(element, a0, case, n, separation_a, structure, coa)
    atoms.calc = (calc_factory or load_potential(spec).calculator)()
    converged = relax_positions(atoms, fmax=fmax, steps=max_steps, optimizer=LBFGS)
    e_f = formation_energy(atoms.get_potential_energy(), len(atoms), e0)
    if case in VACANCIES:
        info = {"label": classify_vacancies(atoms, a0, n, structure, coa)}
    else:
        info = classify_sia(atoms, a0, n)
    out = {"E_f": float(e_f), "relaxed_into": info["label"], "classification": info, "n_atoms": len(atoms),
           "converged": converged, "fmax_eV_per_A": fmax, "a0_A": a0, "e_bulk_eV": e0,
           "uncertainty_eV": residual_energy(atoms)}
    if structure != "bcc":
        out.update({"structure": structure, "c_over_a": coa})
    return out


def compute(potential, element: str, case: str, tier: str = "standard", calc_factory=None, bulk_ref=None) -> dict:
    """Formation energy ``E_f`` (eV) of ``case`` and ``relaxed_into`` (what the relaxed cell holds).

    ``calc_factory``: zero-argument callable giving a fresh ASE calculator (default: the potential's);
    then pass ``bulk_ref=(a0 Å, e0 eV/atom)`` of that calculator too.
    """
    s = merge_settings(DEFAULTS, TIER_SETTINGS, tier)
    structure = lattice_of(element) or "bcc"
    extra = () if structure == "bcc" else (structure,)  # bcc: the cache key of before
    return dict(_compute(potential_spec(potential), element, case, supercell_of(structure, s),
                         float(s["fmax_eV_per_A"]), int(s["max_steps"]), float(s["dumbbell_separation_a"]),
                         calc_factory, bulk_ref, *extra))


def plot(records: list[dict], outdir: Path) -> list[Path]:
    """Bar chart of E_f per defect (Table 2 order): potential (red) vs DFT (black), grey band ± tolerance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = [r for r in records if r.get("property") == PROPERTY and r.get("quantity") == "E_f"]
    if not recs:
        return []
    known = ("vacancy", "divacancy_1NN", "divacancy_2NN", "sia_111", "sia_110", "sia_tetrahedral", "sia_100",
             "sia_octahedral")
    order = [c for c in known if any(r["case"] == c for r in recs)]
    order += sorted({r["case"] for r in recs} - set(order))
    val = {}
    refs = {c: [] for c in order}
    for r in recs:
        if _finite(r.get("value")):
            val.setdefault(r["case"], r["value"])
        if _finite(r.get("reference")):
            src = r.get("reference_source") or "DFT"
            src = "DFT (seed Table 2)" if "Table 2" in src else src[:40]
            refs[r["case"]].append((src, r["reference"], r.get("tolerance")))
    fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(order) + 2), 4))
    x = _reference_bars(ax, order, [val.get(c) for c in order], [refs[c] for c in order],
                        recs[0].get("potential", "potential"))
    ax.set_xticks(x, order, rotation=30, ha="right")
    ax.set_ylabel("formation energy (eV)")
    fig.tight_layout()
    path = Path(outdir) / "defects.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]


class DefectsProtocol(Protocol):
    """Formation energies of vacancies (bcc, fcc, hcp), divacancies and SIAs (bcc) in a periodic supercell."""

    name, version, defaults, tier_settings = PROPERTY, PROTOCOL_VERSION, DEFAULTS, TIER_SETTINGS

    def cases(self, element, tier):
        return cases(element, tier)

    def measure(self, target, element, case, tier):
        spec, cf = target.compute_args
        bulk_ref = None
        if cf is not None:
            from .common import ground_state

            structure = lattice_of(element) or "bcc"
            gs = ground_state(target, element, structure)
            bulk_ref = (gs["a0"], gs["e0"]) if structure != "hcp" else (gs["a0"], gs["e0"], gs["c_over_a"])
        res = compute(spec, element, case, tier, calc_factory=cf, bulk_ref=bulk_ref)
        cls = res["classification"]
        note = (f"{res['n_atoms']} atoms, relaxed into {res['relaxed_into']}"
                + (f" (pair axis {cls['axis']}, midpoint {cls['offset_A']} Å off the site)" if cls.get("axis") else "")
                + ("" if res["converged"] else f"; NOT converged to fmax {res['fmax_eV_per_A']} eV/Å"))
        if res["relaxed_into"] == case:
            return [Measurement("E_f", res["E_f"], UNIT, note=note, data=cls, uncertainty=res["uncertainty_eV"],
                                converged=res["converged"])]
        # policy: reported, never scored as the defect it left
        return [Measurement("E_f", res["E_f"], UNIT, note=note + "; not scored", data=cls, policy="reported",
                            converged=res["converged"], uncertainty=res["uncertainty_eV"],
                            failure=f"{case} relaxed into {res['relaxed_into']} (E_f = {res['E_f']:.3f} eV); "
                                    f"not scored against the {case} reference")]


PROTOCOL = DefectsProtocol()
