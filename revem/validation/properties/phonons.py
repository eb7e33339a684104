"""Harmonic phonons of the bcc ground state with phonopy: dispersion, DOS and dynamical stability.

Method: finite displacements (``displacement_A``, phonopy's symmetry-reduced set: one displacement for
bcc) in a ``supercell``×``supercell``×``supercell`` repeat of the conventional cubic cell at the
potential's relaxed lattice constant; force constants symmetrised (translational invariance); band
structure along Γ–H–N–Γ–P–H|P–N of the bcc Brillouin zone (W. Setyawan and S. Curtarolo, Comput.
Mater. Sci. 49, 299 (2010), doi:10.1016/j.commatsci.2010.05.010) and the total DOS on a Γ-centred
mesh.  phonopy: A. Togo, J. Phys. Soc. Jpn. 92, 012001 (2023), doi:10.7566/JPSJ.92.012001;
A. Togo, L. Chaput, T. Tadano, I. Tanaka, J. Phys.: Condens. Matter 35, 353001 (2023).

Verdict: the lattice is dynamically stable when no frequency on the path or the mesh is below
``-imaginary_tolerance_THz`` (phonopy reports imaginary frequencies as negative numbers; a small
tolerance absorbs numerical noise of the acoustic branches near Γ).  Frequencies (THz) at H, N
(three branches, ascending) and P are recorded; no DFT or experimental phonon frequencies are
stored offline yet, so they are reported, not scored.

Disclaimers: harmonic, 0 K; the supercell truncates the force constants (range ``supercell``·a/2);
finite displacements include small anharmonic contributions.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk

from ..coverage import recorded_cache
from ..protocol import Measurement, Protocol, merge_settings
from .common import calculator_factory, ground_state, single_threaded

PROPERTY = "phonons"
PROTOCOL_VERSION = 1
UNIT = "THz"
DEFAULTS = {"supercell": 4, "displacement_A": 0.01, "band_points": 51, "dos_mesh": 20,
            "imaginary_tolerance_THz": 0.05}
TIER_SETTINGS = {"smoke": {"supercell": 3, "band_points": 31, "dos_mesh": 12},
                 "standard": {}, "full": {"supercell": 5, "band_points": 101, "dos_mesh": 30}}
# bcc primitive vectors a/2(-1,1,1), a/2(1,-1,1), a/2(1,1,-1) and its special points (Setyawan-Curtarolo)
BCC_PRIMITIVE = np.array([[-0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.5, 0.5, -0.5]])
BCC_POINTS = {"Γ": (0.0, 0.0, 0.0), "H": (0.5, -0.5, 0.5), "N": (0.0, 0.0, 0.5), "P": (0.25, 0.25, 0.25)}
BCC_PATH = [["Γ", "H", "N", "Γ", "P", "H"], ["P", "N"]]


def cases(element: str, tier: str) -> list[str]:
    from .common import is_bcc

    return ["bcc"] if is_bcc(element) else []


def settings(tier: str) -> dict:
    return merge_settings(DEFAULTS, TIER_SETTINGS, tier)


def _phonopy_atoms(atoms: Atoms):
    from phonopy.structure.atoms import PhonopyAtoms

    return PhonopyAtoms(symbols=atoms.get_chemical_symbols(), cell=atoms.cell.array,
                        scaled_positions=atoms.get_scaled_positions())


def force_constants(unit: Atoms, calc_factory, supercell: int, displacement_A: float):
    """A phonopy object with symmetrised force constants of ``unit`` (conventional bcc cell)."""
    from phonopy import Phonopy

    ph = Phonopy(_phonopy_atoms(unit), supercell_matrix=np.eye(3, dtype=int) * supercell,
                 primitive_matrix=BCC_PRIMITIVE)
    ph.generate_displacements(distance=displacement_A)
    calc = calc_factory()
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


def _path_qpoints(n: int) -> tuple[list, list]:
    bands, labels = [], []
    for seg in BCC_PATH:
        for a, b in zip(seg[:-1], seg[1:]):
            qa, qb = np.array(BCC_POINTS[a]), np.array(BCC_POINTS[b])
            bands.append([qa + (qb - qa) * t for t in np.linspace(0, 1, n)])
            labels.append((a, b))
    return bands, labels


@single_threaded
@recorded_cache(maxsize=16)
def compute(target, element: str, tier: str = "standard") -> dict:
    """Frequencies (THz) at H, N, P; the lowest frequency on the path and mesh; the dispersion and DOS."""
    s = settings(tier)
    gs = ground_state(target, element, "bcc")
    unit = bulk(element, "bcc", a=gs["a0"], cubic=True)
    ph = force_constants(unit, calculator_factory(target), int(s["supercell"]), float(s["displacement_A"]))
    bands, labels = _path_qpoints(int(s["band_points"]))
    ph.run_band_structure(bands, with_eigenvectors=False)
    bs = ph.band_structure
    freqs = [np.asarray(f) for f in bs.frequencies]
    dist = [np.asarray(d) for d in bs.distances]
    mesh = int(s["dos_mesh"])
    ph.run_mesh([mesh] * 3, is_gamma_center=True)
    mesh_f = np.asarray(ph.mesh.frequencies)
    ph.run_total_dos()
    dos = {"frequency_points": ph.total_dos.frequency_points, "total_dos": ph.total_dos.dos}
    names = [k for k in BCC_POINTS if k != "Γ"]
    ph.run_qpoints(np.array([BCC_POINTS[k] for k in names]))
    at = {k: sorted(float(x) for x in f) for k, f in zip(names, ph.qpoints.frequencies)}
    fmin = float(min(min(f.min() for f in freqs), mesh_f.min()))
    return {"a0_A": gs["a0"], "freq_H": at["H"], "freq_N": at["N"], "freq_P": at["P"], "min_frequency": fmin,
            "max_frequency": float(max(f.max() for f in freqs)),
            "stable": bool(fmin >= -s["imaginary_tolerance_THz"]),
            "band": {"distances": [d.tolist() for d in dist], "frequencies": [f.tolist() for f in freqs],
                     "labels": [list(x) for x in labels]},
            "dos": {"frequency_points": np.asarray(dos["frequency_points"]).tolist(),
                    "total_dos": np.asarray(dos["total_dos"]).tolist()},
            "supercell": int(s["supercell"]), "n_atoms": 2 * int(s["supercell"]) ** 3,
            "tolerance_THz": float(s["imaginary_tolerance_THz"])}


class PhononsProtocol(Protocol):
    """Phonon dispersion, DOS and dynamical stability of the bcc ground state (phonopy)."""

    name, version, defaults, tier_settings = PROPERTY, PROTOCOL_VERSION, DEFAULTS, TIER_SETTINGS

    def cases(self, element, tier):
        return cases(element, tier)

    def measure(self, target, element, case, tier):
        res = compute(target, element, tier)
        note = (f"phonopy, {res['n_atoms']}-atom supercell at a0 = {res['a0_A']:.4f} Å; lowest frequency "
                f"{res['min_frequency']:.3f} THz (stable iff ≥ −{res['tolerance_THz']} THz)")
        data = {"band": res["band"], "dos": res["dos"]}
        out = [Measurement("min_frequency", res["min_frequency"], UNIT, policy="reported", note=note, data=data,
                           failure=None if res["stable"] else
                           f"bcc {element} is dynamically unstable: lowest phonon frequency {res['min_frequency']:.3f} THz "
                           f"(imaginary) below −{res['tolerance_THz']} THz")]
        out.append(Measurement("max_frequency", res["max_frequency"], UNIT, policy="reported"))
        for point in ("H", "N", "P"):
            for i, f in enumerate(res[f"freq_{point}"]):
                out.append(Measurement(f"nu_{point}_{i + 1}", f, UNIT, policy="reported",
                                       note=f"branch {i + 1} (ascending) at {point}"))
        return out


PROTOCOL = PhononsProtocol()


def plot(records: list[dict], outdir: Path) -> list[Path]:
    """Dispersion along Γ–H–N–Γ–P–H|P–N and the DOS (the potential in one colour)."""
    import matplotlib.pyplot as plt

    from ..plotting import POTENTIAL_COLOUR

    rec = next((r for r in records if r["quantity"] == "min_frequency" and r.get("data", {}).get("band")), None)
    if rec is None:
        return []
    band, dos = rec["data"]["band"], rec["data"]["dos"]
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
    ax.set_title(f"{rec['potential']}: {rec['element']} bcc phonons")
    axd.plot(dos["total_dos"], dos["frequency_points"], color=POTENTIAL_COLOUR, lw=1)
    axd.set_xlabel("DOS")
    fig.tight_layout()
    path = Path(outdir) / "phonons.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]
