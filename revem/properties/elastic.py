"""Cubic elastic constants C11, C12, C44 (GPa) of the bcc ground state, relaxed-ion, from stresses.

Method: the conventional cubic cell at the relaxed lattice constant (the bcc prototype of
:mod:`revem.properties.eos`, same calculator) is deformed by symmetric strains ε = ±δ in each of the
six Voigt components (F = I + ε, shear components ε_ij = ε_ji = γ/2 with γ = δ), ionic positions are
relaxed at each strain (relaxed-ion; zero by symmetry for bcc, kept for generality), and
C_ij = [σ_i(+δ) − σ_i(−δ)] / (2δ) from the stresses (ASE sign: tensile positive).  The 6×6 matrix is
symmetrised and averaged to cubic symmetry: C11 = ⟨C11, C22, C33⟩, C12 = ⟨C12, C13, C23⟩, C44 =
⟨C44, C55, C66⟩.  Central differences make the error O(δ²); δ = 0.5 % by default.
Consistency: B = (C11 + 2 C12)/3 is compared with the EOS bulk modulus B0 of bcc (case
``B_consistency``, tolerance :data:`B_CONSISTENCY_REL`).

Literature: finite-strain stress–strain elastic constants as in iprPy ``elastic_constants_static``
and matcalc ``ElasticityCalc``; reference values seed 000 Table 2 (DFT: C11 526, C12 197, C44 145 GPa).

Disclaimers: static 0 K constants (no temperature, no zero-point); finite δ (nonlinear elasticity
enters at O(δ²)); ground state assumed cubic (bcc).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from . import eos as _eos
from ..plotting import finite as _finite, reference_bars as _reference_bars
from ..protocol import Measurement, Protocol
from .common import EV_PER_A3_TO_GPA, single_threaded

PROPERTY = "elastic"
PROTOCOL_VERSION = 2  # 2: strained cells from the unstrained cell; clamped-ion; Born stability; uncertainty
DEFAULTS = {"strain_amplitude": 0.005, "fmax_eV_per_A": 1e-4, "relax_steps": 200, "structure": "bcc"}
B_CONSISTENCY_REL = 0.03  # B from C_ij vs EOS B0: different windows (±δ vs ±6 % in volume), same minimum
CASES = ["C11", "C12", "C44", "B_consistency", "clamped_ion", "born_stability"]
UNITS = {"C11": "GPa", "C12": "GPa", "C44": "GPa", "B": "GPa"}
_VOIGT = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]


def cases(element: str, tier: str) -> list[str]:
    return CASES


def strain_matrix(j: int, delta: float) -> np.ndarray:
    """Symmetric strain tensor of Voigt component ``j`` (0..5) with engineering amplitude ``delta``."""
    a, b = _VOIGT[j]
    e = np.zeros((3, 3))
    if a == b:
        e[a, a] = delta
    else:
        e[a, b] = e[b, a] = delta / 2
    return e


def strained(atoms, f: np.ndarray):
    """A copy of ``atoms`` homogeneously deformed by ``F`` from its *unstrained* cell and positions
    (rows are lattice vectors: a' = F a; positions follow affinely)."""
    at = atoms.copy()
    at.set_cell(atoms.cell.array @ f.T, scale_atoms=False)
    at.set_positions(atoms.get_positions() @ f.T)
    at.calc = atoms.calc
    return at


def stress_strain_matrix(atoms, delta: float = DEFAULTS["strain_amplitude"], relax=None,
                         fmax: float = DEFAULTS["fmax_eV_per_A"]) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """6×6 C_ij (GPa) of ``atoms`` (calculator attached) by central differences of the stress.

    Every strained cell is built from the unstrained one (:func:`strained`).  Without ``relax`` the
    clamped-ion matrix is returned; with ``relax(atoms)`` a pair (clamped-ion, relaxed-ion): at each
    strain the clamped stress is taken first and the ions are relaxed only where a force exceeds
    ``fmax`` (eV/Å), so a lattice whose ions sit at inversion centres (bcc, fcc) costs one calculator
    call per strain for both.
    """
    c_clamped, c_relaxed = np.zeros((6, 6)), np.zeros((6, 6))
    for j in range(6):
        sig_c, sig_r = [], []
        for sgn in (1, -1):
            at = strained(atoms, np.eye(3) + strain_matrix(j, sgn * delta))
            s_c = at.get_stress(voigt=True)
            sig_c.append(s_c)
            if relax is not None and np.abs(at.get_forces()).max() > fmax:
                relax(at)
                sig_r.append(at.get_stress(voigt=True))
            else:
                sig_r.append(s_c)
        c_clamped[:, j] = (sig_c[0] - sig_c[1]) / (2 * delta) * EV_PER_A3_TO_GPA
        c_relaxed[:, j] = (sig_r[0] - sig_r[1]) / (2 * delta) * EV_PER_A3_TO_GPA
    return c_clamped if relax is None else (c_clamped, c_relaxed)


def born_stability(c: np.ndarray) -> dict:
    """Born mechanical stability: a crystal is stable iff its 6×6 stiffness matrix is positive definite
    (F. Mouhat and F.-X. Coudert, Phys. Rev. B 90, 224104 (2014), doi:10.1103/PhysRevB.90.224104).
    For cubic symmetry this is C11 − C12 > 0, C11 + 2 C12 > 0 and C44 > 0.  Returns the smallest
    eigenvalue (GPa), the cubic criteria (GPa) and ``stable``."""
    c = 0.5 * (np.asarray(c, float) + np.asarray(c, float).T)
    ev = np.linalg.eigvalsh(c)
    cub = cubic_average(c)
    crit = {"C11-C12": cub["C11"] - cub["C12"], "C11+2C12": cub["C11"] + 2 * cub["C12"], "C44": cub["C44"]}
    return {"min_eigenvalue_GPa": float(ev.min()), "criteria_GPa": crit, "stable": bool(ev.min() > 0),
            "violated": [k for k, v in crit.items() if v <= 0]}


def cubic_average(c: np.ndarray) -> dict:
    """C11, C12, C44 (GPa) from a 6×6 matrix by cubic averaging, and the largest deviation from cubic symmetry."""
    c = 0.5 * (c + c.T)
    c11 = float(np.mean([c[0, 0], c[1, 1], c[2, 2]]))
    c12 = float(np.mean([c[0, 1], c[0, 2], c[1, 2]]))
    c44 = float(np.mean([c[3, 3], c[4, 4], c[5, 5]]))
    ideal = np.zeros((6, 6))
    ideal[:3, :3] = c12
    ideal[np.arange(3), np.arange(3)] = c11
    ideal[np.arange(3, 6), np.arange(3, 6)] = c44
    return {"C11": c11, "C12": c12, "C44": c44, "cubic_deviation_GPa": float(np.abs(c - ideal).max())}


def bulk_modulus(c11: float, c12: float) -> float:
    """Voigt = Reuss bulk modulus of a cubic crystal, (C11 + 2 C12)/3 (GPa)."""
    return (c11 + 2 * c12) / 3


@single_threaded
@lru_cache(maxsize=64)
def compute(potential, element: str, tier: str = "standard", calc_factory=None) -> dict:
    """Relaxed-ion C11, C12, C44, B (GPa) of bcc with their uncertainties, the clamped-ion constants,
    ``B0_eos`` (GPa) from :mod:`~revem.properties.eos`, both 6×6 matrices (GPa), Born stability,
    ``strain_amplitude``, ``a0`` (Å) and ``calculator_calls``.

    Uncertainty: the central difference at δ has an O(δ²) error; the same matrix at 2δ estimates it
    as |C(2δ) − C(δ)| / 3 (Richardson), which is what ``--baseline`` tolerates (twice that)."""
    from ase.build import bulk

    from .common import count_calls, relax_positions

    d = DEFAULTS
    gs = _eos.compute(potential, element, d["structure"], tier, calc_factory)
    a = (2 * gs["V_relaxed"]) ** (1 / 3)  # relaxed (not fitted) volume: zero stress of this calculator
    atoms = bulk(element, "bcc", a=a, cubic=True)
    calc = count_calls(_eos._calc_factory(potential, calc_factory)())
    atoms.calc = calc

    def relax(at):
        relax_positions(at, fmax=d["fmax_eV_per_A"], steps=d["relax_steps"])

    p0 = -atoms.get_stress()[:3].mean() * EV_PER_A3_TO_GPA
    delta = d["strain_amplitude"]
    c_cl, c_rel = stress_strain_matrix(atoms, delta, relax)
    c_cl2, c_rel2 = stress_strain_matrix(atoms, 2 * delta, relax)
    out = cubic_average(c_rel)
    wide = cubic_average(c_rel2)
    clamped = cubic_average(c_cl)
    out["uncertainty"] = {k: abs(wide[k] - out[k]) / 3 for k in ("C11", "C12", "C44")}
    out["B"] = bulk_modulus(out["C11"], out["C12"])
    out["uncertainty"]["B"] = abs(bulk_modulus(wide["C11"], wide["C12"]) - out["B"]) / 3
    out.update({"clamped": {k: clamped[k] for k in ("C11", "C12", "C44")}, "B0_eos": gs["B0"],
                "Cij": np.round(c_rel, 3).tolist(), "Cij_clamped": np.round(c_cl, 3).tolist(),
                "born": born_stability(c_rel), "strain_amplitude": delta, "a0": a,
                "residual_pressure_GPa": float(p0), "calculator_calls": calc.revem_calls})
    return out


def b_consistency_reference(element: str, b0_eos: float):
    """The EOS B0 of the same potential as the reference of (C11 + 2 C12)/3."""
    from ..references import Reference

    return Reference(element=element, property=PROPERTY, case="B_consistency", quantity="B", value=float(b0_eos),
                     unit="GPa", source="EOS B0 of bcc from the same potential (revem.properties.eos)",
                     tolerance={"rel": B_CONSISTENCY_REL}, noise={"abs": 0.5},
                     protocol="B = (C11 + 2 C12)/3 at the relaxed volume vs Birch-Murnaghan B0 (±6 % volume)")


def plot(records: list[dict], outdir):
    """Bar chart of C11, C12, C44 (and B): potential (red) vs reference (black), grey band ± tolerance."""
    from pathlib import Path

    import matplotlib.pyplot as plt

    pts = [r for r in records if r.get("quantity") in ("C11", "C12", "C44", "B")
           and (_finite(r.get("value")) or _finite(r.get("reference")))]
    pts.sort(key=lambda r: (r.get("case") != "bcc", str(r.get("case"))))  # stable: keeps C11, C12, C44
    if not pts:
        return []
    labels, vals, refs, index = [], [], [], {}
    for r in pts:  # one group per (case, quantity); several references of one number share the group
        key = (r.get("case"), r["quantity"])
        if key not in index:
            index[key] = len(labels)
            case = str(r.get("case"))
            short = case.replace("bcc_", "").replace("_", " ")
            labels.append(r["quantity"] + ("" if case == "bcc" else f"\n({short})"))
            vals.append(r.get("value"))
            refs.append([])
        if _finite(r.get("reference")):
            src = r.get("reference_source") or "reference"
            src = "DFT (seed Table 2)" if "Table 2" in src else "EOS B0 (same potential)" if "EOS B0" in src \
                else src[:40]
            refs[index[key]].append((src, r["reference"], r.get("tolerance")))
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(labels) + 1.5), 4))
    x = _reference_bars(ax, labels, vals, refs, next((r["potential"] for r in pts if r.get("potential")), "potential"))
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel("elastic constant (GPa)")
    fig.tight_layout()
    p = Path(outdir) / "elastic.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return [p]


class ElasticProtocol(Protocol):
    """Cubic elastic constants and the B(Cij) vs EOS B0 consistency check."""

    name, version, defaults = PROPERTY, PROTOCOL_VERSION, DEFAULTS

    def cases(self, element, tier):
        return cases(element, tier)

    def measure(self, target, element, case, tier):
        spec, cf = target.compute_args
        res = compute(spec, element, tier, calc_factory=cf)
        note = (f"relaxed-ion, symmetric strains ±{100 * res['strain_amplitude']:g} % (uncertainty from ±"
                f"{200 * res['strain_amplitude']:g} %), a0 = {res['a0']:.5f} Å, {res['calculator_calls']} calculator calls")
        if case == "B_consistency":
            return [Measurement("B", res["B"], "GPa", note=note, uncertainty=res["uncertainty"]["B"],
                                refs=[b_consistency_reference(element, res["B0_eos"])])]
        if case == "clamped_ion":
            return [Measurement(q, res["clamped"][q], "GPa", case="bcc_clamped_ion", policy="reported",
                                uncertainty=res["uncertainty"][q], note="clamped-ion (ions moved affinely with the cell)",
                                data={"Cij_GPa": res["Cij_clamped"]} if q == "C11" else None)
                    for q in ("C11", "C12", "C44")]
        if case == "born_stability":
            b = res["born"]
            crit = ", ".join(f"{k} = {v:.1f} GPa" for k, v in b["criteria_GPa"].items())
            return [Measurement("min_eigenvalue", b["min_eigenvalue_GPa"], "GPa", policy="reported",
                                note=f"Born criteria (cubic): {crit}; stable iff all > 0",
                                failure=None if b["stable"] else
                                f"bcc {element} is mechanically unstable (Born criteria violated: "
                                f"{', '.join(b['violated']) or 'C not positive definite'}; {crit})")]
        return [Measurement(case, res[case], "GPa", case="bcc", note=note, uncertainty=res["uncertainty"][case],
                            data={"Cij_GPa": res["Cij"]} if case == "C11" else None)]


PROTOCOL = ElasticProtocol()
