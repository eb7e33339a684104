"""Harmonic phonons of the ground lattice with phonopy: dispersion, DOS, dynamical stability and the
frequencies at the high-symmetry points.

Lattices (the element's :func:`~revem.validation.elements.ground_lattice`; one case, named after it):

* bcc -- conventional cubic cell, path Γ–H–N–Γ–P–H|P–N, frequencies at H, N, P;
* fcc -- conventional cubic cell, path Γ–X–W–K–Γ–L–U–W–L–K|U–X, frequencies at X and L;
* diamond -- conventional cubic cell, the fcc path, frequencies at X, L and the optical modes at Γ
  (branches 4-6);
* hcp -- the 2-atom cell at the relaxed a and c/a, path Γ–M–K–Γ–A–L–H–A|L–M|K–H, frequencies at M, K,
  A and the optical modes at Γ (branches 4-6).

Special points and paths: W. Setyawan and S. Curtarolo, Comput. Mater. Sci. 49, 299 (2010),
doi:10.1016/j.commatsci.2010.05.010 (fractions of the primitive reciprocal vectors of their primitive
cells, which :data:`PRIMITIVE` reproduces: the tests check the Cartesian points).

Method: finite displacements (``displacement_A``, phonopy's symmetry-reduced set: one displacement for
bcc, fcc and diamond, two for hcp) in a supercell of the relaxed cell
(:func:`revem.validation.properties.common.ground_state`); force constants symmetrised (translational
invariance); the band structure along the path and the total DOS on a Γ-centred mesh.  The supercells
(:data:`SUPERCELL`) are chosen so that the recorded points are commensurate with them in the standard
tier (their frequencies are then those of the supercell's force constants, not interpolated): 4×4×4
conventional cells for bcc (H, N, P) and fcc/diamond (X, L), 6×6×4 hcp cells (M, K, A).  phonopy: A.
Togo, J. Phys. Soc. Jpn. 92, 012001 (2023), doi:10.7566/JPSJ.92.012001; A. Togo, L. Chaput, T. Tadano,
I. Tanaka, J. Phys.: Condens. Matter 35, 353001 (2023).

Verdict: the lattice is dynamically stable when no frequency on the path or the mesh is below
``-imaginary_tolerance_THz`` (phonopy reports imaginary frequencies as negative numbers; a small
tolerance absorbs numerical noise of the acoustic branches near Γ); an unstable lattice fails the case.

References: none is stored: no phonon frequency (neutron scattering or DFT) could be checked against
its published source offline, so every frequency is ``reported`` (a user reference
``phonons_*.json`` with case = lattice and quantity ``nu_<point>_<branch>`` in THz is scored).

Disclaimers: harmonic, 0 K (neutron data are measured at finite temperature); the supercell truncates
the force constants (range about half the supercell); finite displacements include small anharmonic
contributions.
"""
from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
from ase import Atoms

from .. import references
from ..plotting import POTENTIAL_COLOUR
from ..protocol import Measurement, Protocol, merge_settings
from ..target import Target
from .common import build_lattice, ground_state, lattice_of, single_threaded

PROPERTY = "phonons"
PROTOCOL_VERSION = 1  # fcc, hcp, diamond added; bcc numbers computed as before (baselines stay valid)
UNIT = "THz"
#: supercell of the cell :func:`build_lattice` makes (cubic conventional; hcp: the 2-atom cell), per lattice
SUPERCELL = {"bcc": (4, 4, 4), "fcc": (4, 4, 4), "diamond": (4, 4, 4), "hcp": (6, 6, 4)}
DEFAULTS = {"supercell": SUPERCELL, "displacement_A": 0.01, "band_points": 51, "dos_mesh": 20,
            "imaginary_tolerance_THz": 0.05}
TIER_SETTINGS = {"smoke": {"supercell": {**SUPERCELL, "bcc": (3, 3, 3), "diamond": (2, 2, 2), "hcp": (3, 3, 2)},
                           "band_points": 31, "dos_mesh": 12},
                 "standard": {},
                 "full": {"supercell": {**SUPERCELL, "bcc": (5, 5, 5), "fcc": (6, 6, 6), "hcp": (6, 6, 6)},
                          "band_points": 101, "dos_mesh": 30}}
#: phonopy primitive_matrix of the cell :func:`build_lattice` makes (None: that cell is primitive)
PRIMITIVE = {"bcc": [[-0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.5, 0.5, -0.5]],
             "fcc": [[0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]],
             "diamond": [[0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]],
             "hcp": None}
BCC_PRIMITIVE = np.array(PRIMITIVE["bcc"])
_FCC_POINTS = {"Γ": (0.0, 0.0, 0.0), "X": (0.5, 0.0, 0.5), "L": (0.5, 0.5, 0.5), "W": (0.5, 0.25, 0.75),
               "K": (0.375, 0.375, 0.75), "U": (0.625, 0.25, 0.625)}
_FCC_PATH = [["Γ", "X", "W", "K", "Γ", "L", "U", "W", "L", "K"], ["U", "X"]]
#: special points (fractions of the primitive reciprocal vectors) per lattice
POINTS = {"bcc": {"Γ": (0.0, 0.0, 0.0), "H": (0.5, -0.5, 0.5), "N": (0.0, 0.0, 0.5), "P": (0.25, 0.25, 0.25)},
          "fcc": _FCC_POINTS, "diamond": _FCC_POINTS,
          "hcp": {"Γ": (0.0, 0.0, 0.0), "M": (0.5, 0.0, 0.0), "K": (1 / 3, 1 / 3, 0.0), "A": (0.0, 0.0, 0.5),
                  "L": (0.5, 0.0, 0.5), "H": (1 / 3, 1 / 3, 0.5)}}
BCC_POINTS = POINTS["bcc"]
PATHS = {"bcc": [["Γ", "H", "N", "Γ", "P", "H"], ["P", "N"]], "fcc": _FCC_PATH, "diamond": _FCC_PATH,
         "hcp": [["Γ", "M", "K", "Γ", "A", "L", "H", "A"], ["L", "M"], ["K", "H"]]}
#: the points whose frequencies are recorded, and the branches (1-based, ascending) recorded at each
#: (None: every branch); Γ only its optical branches
RECORDED = {"bcc": {"H": None, "N": None, "P": None}, "fcc": {"X": None, "L": None},
            "diamond": {"X": None, "L": None, "Γ": (4, 5, 6)},
            "hcp": {"Γ": (4, 5, 6), "M": None, "K": None, "A": None}}
LATTICES = tuple(RECORDED)


def cases(element: str, tier: str) -> list[str]:
    """The element's ground lattice, where phonons of that lattice are built (bcc, fcc, hcp, diamond)."""
    lat = lattice_of(element)
    return [lat] if lat in LATTICES else []


def settings(tier: str) -> dict:
    return merge_settings(DEFAULTS, TIER_SETTINGS, tier)


def point_name(point: str) -> str:
    """Quantity-safe name of a special point ('Γ' -> 'Gamma')."""
    return "Gamma" if point == "Γ" else point


def _phonopy_atoms(atoms: Atoms):
    from phonopy.structure.atoms import PhonopyAtoms

    return PhonopyAtoms(symbols=atoms.get_chemical_symbols(), cell=atoms.cell.array,
                        scaled_positions=atoms.get_scaled_positions())


def force_constants(unit: Atoms, target: Target, supercell, displacement_A: float, lattice: str = "bcc"):
    """A phonopy object with symmetrised force constants of ``unit`` (the cell :func:`build_lattice` makes for
    ``lattice``), forces from one calculator of ``target``."""
    from phonopy import Phonopy

    prim = PRIMITIVE[lattice]
    ph = Phonopy(_phonopy_atoms(unit), supercell_matrix=np.diag(np.broadcast_to(supercell, 3)).astype(int),
                 primitive_matrix=None if prim is None else np.array(prim))
    ph.generate_displacements(distance=displacement_A)
    calc = target.calculator()
    forces = []
    for sc in ph.supercells_with_displacements:
        at = Atoms(sc.symbols, cell=sc.cell, scaled_positions=sc.scaled_positions, pbc=True)
        at.calc = calc
        f = at.get_forces()
        forces.append(f - f.mean(axis=0))  # remove the net force (drift) of the finite displacement
    ph.forces = np.array(forces)
    ph.produce_force_constants()
    ph.symmetrize_force_constants()
    return ph


def _path_qpoints(lattice: str, n: int) -> tuple[list, list]:
    bands, labels = [], []
    pts = POINTS[lattice]
    for seg in PATHS[lattice]:
        for a, b in pairwise(seg):
            qa, qb = np.array(pts[a]), np.array(pts[b])
            bands.append([qa + (qb - qa) * t for t in np.linspace(0, 1, n)])
            labels.append((a, b))
    return bands, labels


@single_threaded
def _compute(target: Target, element: str, tier: str, lattice: str) -> dict:
    s = settings(tier)
    sc = tuple(int(x) for x in np.broadcast_to(s["supercell"][lattice], 3))
    gs = ground_state(target, element, lattice)
    unit = build_lattice(element, lattice, gs["a0"], gs.get("c_over_a"))
    ph = force_constants(unit, target, sc, float(s["displacement_A"]), lattice)
    bands, labels = _path_qpoints(lattice, int(s["band_points"]))
    ph.run_band_structure(bands, with_eigenvectors=False)
    bs = ph.band_structure
    freqs = [np.asarray(f) for f in bs.frequencies]
    dist = [np.asarray(d) for d in bs.distances]
    mesh = int(s["dos_mesh"])
    ph.run_mesh([mesh] * 3, is_gamma_center=True)
    mesh_f = np.asarray(ph.mesh.frequencies)
    ph.run_total_dos()
    names = list(RECORDED[lattice])
    ph.run_qpoints(np.array([POINTS[lattice][k] for k in names]))
    at = {k: sorted(float(x) for x in f) for k, f in zip(names, ph.qpoints.frequencies)}
    fmin = float(min(min(f.min() for f in freqs), mesh_f.min()))
    out = {"lattice": lattice, "a0_A": gs["a0"], "points": at, "min_frequency": fmin,
           "max_frequency": float(max(f.max() for f in freqs)),
           "stable": bool(fmin >= -s["imaginary_tolerance_THz"]),
           "band": {"distances": [d.tolist() for d in dist], "frequencies": [f.tolist() for f in freqs],
                    "labels": [list(x) for x in labels]},
           "dos": {"frequency_points": np.asarray(ph.total_dos.frequency_points).tolist(),
                   "total_dos": np.asarray(ph.total_dos.dos).tolist()},
           "supercell": sc, "n_atoms": len(unit) * int(np.prod(sc)), "n_displacements": len(ph.displacements),
           "tolerance_THz": float(s["imaginary_tolerance_THz"])}
    if lattice == "hcp":
        out["c_over_a"] = gs["c_over_a"]
    for k, v in at.items():  # the bcc keys of protocol version 1
        out[f"freq_{point_name(k)}"] = v
    return out


def compute(target, element: str, tier: str = "standard", lattice: str | None = None) -> dict:
    """Frequencies (THz) at the recorded points (``points``: point -> all branches, ascending; also
    ``freq_<point>``), the lowest frequency on the path and mesh, the dispersion and the DOS of the element's
    ground lattice (``lattice`` overrides it, e.g. bcc Cu to test the instability verdict).  Cached in the
    target's session."""
    lattice = lattice or lattice_of(element) or "bcc"
    t = Target.of(target)
    return t.memo(PROPERTY, element, tier, lattice, PROTOCOL_VERSION, compute=lambda: _compute(t, element, tier, lattice))


class PhononsProtocol(Protocol):
    """Phonon dispersion, DOS, dynamical stability and high-symmetry frequencies of the ground lattice (phonopy)."""

    name, version, defaults, tier_settings = PROPERTY, PROTOCOL_VERSION, DEFAULTS, TIER_SETTINGS

    def cases(self, element, tier):
        return cases(element, tier)

    def measure(self, target, element, case, tier):
        res = compute(target, element, tier, lattice=case)
        sc = "×".join(str(x) for x in res["supercell"])
        note = (f"phonopy, {sc} supercell ({res['n_atoms']} atoms, {res['n_displacements']} displacement(s)) at "
                f"a0 = {res['a0_A']:.4f} Å; lowest frequency {res['min_frequency']:.3f} THz "
                f"(stable iff ≥ −{res['tolerance_THz']} THz)")
        data = {"band": res["band"], "dos": res["dos"], "lattice": case}
        out = [Measurement("min_frequency", res["min_frequency"], UNIT, policy="reported", note=note, data=data,
                           failure=None if res["stable"] else
                           f"{case} {element} is dynamically unstable: lowest phonon frequency "
                           f"{res['min_frequency']:.3f} THz (imaginary) below −{res['tolerance_THz']} THz")]
        out.append(Measurement("max_frequency", res["max_frequency"], UNIT, policy="reported"))
        for point, branches in RECORDED[case].items():
            freqs = res["points"][point]
            for i in (branches or range(1, len(freqs) + 1)):
                q = f"nu_{point_name(point)}_{i}"
                scored = bool(references.find(element, PROPERTY, case, q))
                out.append(Measurement(q, freqs[i - 1], UNIT, policy="reference" if scored else "reported",
                                       note=f"branch {i} of {len(freqs)} (ascending) at {point}"
                                            + ("" if scored else "; no stored reference: reported")))
        return out


PROTOCOL = PhononsProtocol()


def plot(records: list[dict], outdir: Path) -> list[Path]:
    """Dispersion along the lattice's path and the DOS (the potential in one colour)."""
    import matplotlib.pyplot as plt

    rec = next((r for r in records if r["quantity"] == "min_frequency" and r.get("data", {}).get("band")), None)
    if rec is None:
        return []
    band, dos = rec["data"]["band"], rec["data"]["dos"]
    lattice = rec["data"].get("lattice", rec.get("case", "bcc"))
    fig, (ax, axd) = plt.subplots(1, 2, figsize=(8, 3.8), gridspec_kw={"width_ratios": [3, 1]}, sharey=True)
    ticks, labels = [], []
    for d, f, (a, b) in zip(band["distances"], band["frequencies"], band["labels"]):
        ax.plot(d, f, color=POTENTIAL_COLOUR, lw=1)
        if not ticks or abs(ticks[-1] - d[0]) > 1e-9:
            ticks.append(d[0])
            labels.append(a)
        elif labels[-1] != a:
            labels[-1] = f"{labels[-1]}|{a}"
        ticks.append(d[-1])
        labels.append(b)
    for t in ticks:
        ax.axvline(t, color="0.8", lw=0.5)
    ax.axhline(0, color="black", lw=0.5)
    ax.set_xticks(ticks, labels)
    ax.set_xlim(ticks[0], ticks[-1])
    ax.set_ylabel("frequency (THz)")
    ax.set_title(f"{rec['potential']}: {rec['element']} {lattice} phonons")
    axd.plot(dos["total_dos"], dos["frequency_points"], color=POTENTIAL_COLOUR, lw=1)
    axd.set_xlabel("DOS")
    fig.tight_layout()
    path = Path(outdir) / "phonons.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]
