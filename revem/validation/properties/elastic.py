"""Elastic constants (GPa) of the element's ground lattice, relaxed- and clamped-ion, from stresses.

Lattices (:func:`revem.validation.properties.common.ground_lattice`): cubic bcc, fcc and diamond (C11, C12, C44) and
hcp (C11, C12, C13, C33, C44; C66 = (C11 − C12)/2 checked as an identity of hexagonal symmetry).

Method: the relaxed cell (bcc: the conventional cubic cell at the relaxed volume of the bcc prototype of
:mod:`revem.validation.properties.eos`, same calculator; fcc, diamond: the conventional cubic cell, hcp: the 2-atom cell
with a and c/a relaxed, both from :func:`revem.validation.properties.common.ground_state`) is deformed by symmetric
strains ε = ±δ in each of the six Voigt components (F = I + ε, shear components ε_ij = ε_ji = γ/2 with
γ = δ), each strained cell built from the unstrained one.  The stress is taken with the ions moved
affinely (clamped-ion) and again after relaxing the ions where a force exceeds ``fmax`` (relaxed-ion:
nothing moves in bcc and fcc, whose atoms are inversion centres; diamond's C44 and hcp's in-plane
constants soften by internal relaxation), and C_ij = [σ_i(+δ) − σ_i(−δ)] / (2δ) (ASE sign: tensile
positive): 12 strained cells per amplitude for any lattice.  The 6×6 matrix is symmetrised and averaged
to the lattice's symmetry (cubic: C11 = ⟨C11, C22, C33⟩, C12 = ⟨C12, C13, C23⟩, C44 = ⟨C44, C55, C66⟩;
hexagonal, c along z: C11 = ⟨C11, C22⟩, C13 = ⟨C13, C23⟩, C44 = ⟨C44, C55⟩, C66 on its own).  Central
differences make the error O(δ²); δ = 0.5 % by default, and the same matrix at 2δ estimates that error.
Consistency: the Voigt bulk modulus (cubic (C11 + 2 C12)/3; hexagonal (2 C11 + C33 + 2 C12 + 4 C13)/9,
the response to a uniform scaling of the cell) is compared with the EOS B0 of the same lattice (case
``B_consistency``, tolerance :data:`B_CONSISTENCY_REL`); where the EOS relaxes the cell shape at each
volume (``full`` tier) the Reuss bulk modulus 1/Σ_{i,j≤3} S_ij is compared instead.
Mechanical stability: Born criteria for cubic and hexagonal crystals (F. Mouhat and F.-X. Coudert,
Phys. Rev. B 90, 224104 (2014), doi:10.1103/PhysRevB.90.224104).

Cases (every element with a known lattice; one calculation serves them all): each C_ij of the lattice
(record case = the lattice name, ``bcc`` for W as before) -- scored where a reference of that constant
is stored, else ``reported`` --, ``clamped_ion`` (reported), ``B_consistency``, ``born_stability`` and
(hcp) ``C66_identity``.  Uncertainty (``uncertainty_covers``): the O(δ²) finite-difference error
estimated from the second amplitude 2δ; it says how well the protocol determined the potential's own
constant, not how far that is from DFT.

Literature: finite-strain stress–strain elastic constants as in iprPy ``elastic_constants_static``
and matcalc ``ElasticityCalc``; W reference values seed 000 Table 2 (DFT: C11 526, C12 197, C44 145 GPa);
other references fitted to the DFT strain sets of the data mirror (:mod:`revem.validation.references_build.elastic`).

Disclaimers: static 0 K constants (no temperature, no zero-point); finite δ (nonlinear elasticity
enters at O(δ²)); the ground lattice is assumed (ASE's reference state of the element), not searched.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from ase.build import bulk

from .. import references
from ..plotting import finite as _finite
from ..plotting import reference_bars as _reference_bars
from ..protocol import Measurement, Protocol
from ..references import Reference
from ..target import Target
from . import eos as _eos
from .common import (
    EV_PER_A3_TO_GPA,
    build_lattice,
    count_calls,
    ground_lattice,
    ground_state,
    lattice_of,
    relax_positions,
    single_threaded,
)

PROPERTY = "elastic"
PROTOCOL_VERSION = 2  # 2: strained cells from the unstrained cell; clamped-ion; Born stability; uncertainty
DEFAULTS = {"strain_amplitude": 0.005, "fmax_eV_per_A": 1e-4, "relax_steps": 200, "structure": "bcc"}
B_CONSISTENCY_REL = 0.03  # B from C_ij vs EOS B0: different windows (±δ vs ±6 % in volume), same minimum
CASES = ["C11", "C12", "C44", "B_consistency", "clamped_ion", "born_stability"]
HCP_CASES = ["C11", "C12", "C13", "C33", "C44", "B_consistency", "C66_identity", "clamped_ion", "born_stability"]
CONSTANTS = {"bcc": ("C11", "C12", "C44"), "fcc": ("C11", "C12", "C44"), "diamond": ("C11", "C12", "C44"),
             "hcp": ("C11", "C12", "C13", "C33", "C44")}
UNITS = {"C11": "GPa", "C12": "GPa", "C13": "GPa", "C33": "GPa", "C44": "GPa", "C66": "GPa", "B": "GPa"}
_VOIGT = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]
C66_IDENTITY_FLOOR_GPA = 0.5  # tolerance floor of C66 - (C11 - C12)/2: the run-to-run noise of a constant


def cases(element: str, tier: str) -> list[str]:
    """Every case of the element's lattice (one calculation serves them all): the constants (scored where a
    reference of that constant is stored for the lattice, else reported), ``B_consistency``, (hcp)
    ``C66_identity``, ``clamped_ion`` and ``born_stability``.  None for an element whose lattice revem
    does not know."""
    lattice = lattice_of(element)
    if lattice is None:
        return []
    return list(HCP_CASES if lattice == "hcp" else CASES)


def has_reference(element: str, lattice: str, quantity: str) -> bool:
    """Whether a reference of constant ``quantity`` of ``lattice`` is stored for ``element``."""
    return bool(references.find(element, PROPERTY, lattice, quantity))


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


def born_stability(c: np.ndarray, lattice: str = "bcc") -> dict:
    """Born mechanical stability: a crystal is stable iff its 6×6 stiffness matrix is positive definite
    (F. Mouhat and F.-X. Coudert, Phys. Rev. B 90, 224104 (2014), doi:10.1103/PhysRevB.90.224104).
    Cubic (their eq. 9): C11 − C12 > 0, C11 + 2 C12 > 0 and C44 > 0.  Hexagonal (eq. 11): C11 > |C12|,
    2 C13² < C33 (C11 + C12), C44 > 0 (C66 = (C11 − C12)/2 > 0 follows).  Returns the smallest
    eigenvalue (GPa), the criteria (GPa; the C13 one in GPa²) and ``stable``."""
    c = 0.5 * (np.asarray(c, float) + np.asarray(c, float).T)
    ev = np.linalg.eigvalsh(c)
    if lattice == "hcp":
        h = hexagonal_average(c)
        crit = {"C11-|C12|": h["C11"] - abs(h["C12"]), "C33(C11+C12)-2C13^2": h["C33"] * (h["C11"] + h["C12"])
                - 2 * h["C13"] ** 2, "C44": h["C44"]}
    else:
        cub = cubic_average(c)
        crit = {"C11-C12": cub["C11"] - cub["C12"], "C11+2C12": cub["C11"] + 2 * cub["C12"], "C44": cub["C44"]}
    return {"min_eigenvalue_GPa": float(ev.min()), "criteria_GPa": crit, "stable": bool(ev.min() > 0),
            "violated": [k for k, v in crit.items() if v <= 0]}


def hexagonal_average(c: np.ndarray) -> dict:
    """C11, C12, C13, C33, C44, C66 (GPa) of a hexagonal crystal (c along z) from a 6×6 matrix, and the
    largest deviation from the hexagonal form with C66 free (``hexagonal_deviation_GPa``)."""
    c = 0.5 * (np.asarray(c, float) + np.asarray(c, float).T)
    h = {"C11": float((c[0, 0] + c[1, 1]) / 2), "C12": float(c[0, 1]), "C13": float((c[0, 2] + c[1, 2]) / 2),
         "C33": float(c[2, 2]), "C44": float((c[3, 3] + c[4, 4]) / 2), "C66": float(c[5, 5])}
    ideal = np.zeros((6, 6))
    ideal[0, 0] = ideal[1, 1] = h["C11"]
    ideal[0, 1] = ideal[1, 0] = h["C12"]
    ideal[0, 2] = ideal[2, 0] = ideal[1, 2] = ideal[2, 1] = h["C13"]
    ideal[2, 2], ideal[3, 3], ideal[4, 4], ideal[5, 5] = h["C33"], h["C44"], h["C44"], h["C66"]
    h["hexagonal_deviation_GPa"] = float(np.abs(c - ideal).max())
    return h


def symmetry_average(c: np.ndarray, lattice: str) -> dict:
    """:func:`hexagonal_average` for hcp, :func:`cubic_average` otherwise."""
    return hexagonal_average(c) if lattice == "hcp" else cubic_average(c)


def voigt_bulk_modulus(c: np.ndarray) -> float:
    """Voigt bulk modulus Σ_{i,j≤3} C_ij / 9 (GPa): the response to a uniform scaling of the cell."""
    return float(np.asarray(c, float)[:3, :3].sum() / 9)


def reuss_bulk_modulus(c: np.ndarray) -> float:
    """Reuss bulk modulus 1 / Σ_{i,j≤3} S_ij (GPa), S = C⁻¹: the response to hydrostatic pressure with the
    cell shape relaxed."""
    s = np.linalg.inv(0.5 * (np.asarray(c, float) + np.asarray(c, float).T))
    return float(1.0 / s[:3, :3].sum())


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


def _ground_cell(target: Target, element: str, lattice: str, tier: str):
    """(atoms without calculator, EOS result of the lattice, geometry): bcc exactly as protocol version 2 (the
    cubic cell at the relaxed volume of the eos bcc prototype); other lattices the relaxed cell of
    :func:`~revem.validation.properties.common.ground_state` (hcp: a and c/a relaxed)."""
    gs = _eos.compute(target, element, lattice, tier)
    if lattice == "bcc":
        a = (2 * gs["V_relaxed"]) ** (1 / 3)  # relaxed (not fitted) volume: zero stress of this calculator
        return bulk(element, "bcc", a=a, cubic=True), gs, {"a0": a}
    g = ground_state(target, element, lattice)
    atoms = build_lattice(element, lattice, g["a0"], g.get("c_over_a"))
    return atoms, gs, {"a0": g["a0"], **({"c_over_a": g["c_over_a"]} if lattice == "hcp" else {})}


@single_threaded
def _compute(target: Target, element: str, tier: str, lattice: str) -> dict:
    d = DEFAULTS
    atoms, gs, geo = _ground_cell(target, element, lattice, tier)
    calc = count_calls(target.calculator())
    atoms.calc = calc

    def relax(at):
        relax_positions(at, fmax=d["fmax_eV_per_A"], steps=d["relax_steps"])

    p0 = -atoms.get_stress()[:3].mean() * EV_PER_A3_TO_GPA
    delta = d["strain_amplitude"]
    c_cl, c_rel = stress_strain_matrix(atoms, delta, relax)
    c_cl2, c_rel2 = stress_strain_matrix(atoms, 2 * delta, relax)
    out = symmetry_average(c_rel, lattice)
    wide = symmetry_average(c_rel2, lattice)
    clamped = symmetry_average(c_cl, lattice)
    clamped_wide = symmetry_average(c_cl2, lattice)
    names = CONSTANTS[lattice] + (("C66",) if lattice == "hcp" else ())
    out["uncertainty"] = {k: abs(wide[k] - out[k]) / 3 for k in names}
    out["uncertainty_clamped"] = {k: abs(clamped_wide[k] - clamped[k]) / 3 for k in names}
    relax_shape = bool(_eos.settings(tier).get("relax_each_volume")) and lattice == "hcp"
    if lattice == "hcp":
        bulk_of = reuss_bulk_modulus if relax_shape else voigt_bulk_modulus
        out["B"] = bulk_of(c_rel)
        out["uncertainty"]["B"] = abs(bulk_of(c_rel2) - out["B"]) / 3
    else:  # cubic: Voigt = Reuss, from the averaged constants (as protocol version 2)
        out["B"] = bulk_modulus(out["C11"], out["C12"])
        out["uncertainty"]["B"] = abs(bulk_modulus(wide["C11"], wide["C12"]) - out["B"]) / 3
    out.update({"clamped": {k: clamped[k] for k in names}, "B0_eos": gs["B0"], "lattice": lattice,
                "B_compared": "Reuss" if relax_shape else "Voigt",
                "Cij": np.round(c_rel, 3).tolist(), "Cij_clamped": np.round(c_cl, 3).tolist(),
                "born": born_stability(c_rel, lattice), "strain_amplitude": delta, **geo,
                "residual_pressure_GPa": float(p0), "calculator_calls": calc.revem_calls})
    if lattice == "hcp":
        out["C66_deviation"] = out["C66"] - (out["C11"] - out["C12"]) / 2
        u = out["uncertainty"]
        out["uncertainty"]["C66_deviation"] = float(np.sqrt(u["C66"] ** 2 + (u["C11"] ** 2 + u["C12"] ** 2) / 4))
    return out


def compute(target, element: str, tier: str = "standard", lattice: str | None = None) -> dict:
    """Relaxed-ion constants of the element's ground lattice (cubic: C11, C12, C44; hcp also C13, C33 and C66)
    and B (GPa) with their uncertainties, the clamped-ion constants (``clamped``, ``uncertainty_clamped``),
    ``B0_eos`` (GPa) from :mod:`~revem.validation.properties.eos` with ``B_compared`` (Voigt or Reuss, see the
    module docstring), both 6×6 matrices (GPa), Born stability, ``lattice``, ``strain_amplitude``, ``a0`` (Å;
    hcp also ``c_over_a``), ``residual_pressure_GPa`` and ``calculator_calls``.

    ``lattice`` overrides the element's ground lattice (e.g. hcp Cu with EMT, to test the hcp path).
    Cached in the target's session.

    Uncertainty: the central difference at δ has an O(δ²) error; the same matrix at 2δ estimates it
    as |C(2δ) − C(δ)| / 3 (Richardson), which is what ``--baseline`` tolerates (twice that)."""
    lattice = lattice or ground_lattice(element)
    t = Target.of(target)
    return t.memo(PROPERTY, element, tier, lattice, PROTOCOL_VERSION, compute=lambda: _compute(t, element, tier, lattice))


def b_consistency_reference(element: str, b0_eos: float, lattice: str = "bcc", kind: str = "Voigt"):
    """The EOS B0 of the same potential as the reference of the bulk modulus from C_ij."""
    if lattice == "hcp":
        proto = (f"{kind} B from C_ij ({'(2 C11 + C33 + 2 C12 + 4 C13)/9' if kind == 'Voigt' else '1/sum S_ij'}) "
                 "at the relaxed cell vs Birch-Murnaghan B0 of the hcp EOS (±6 % volume)")
    else:
        proto = "B = (C11 + 2 C12)/3 at the relaxed volume vs Birch-Murnaghan B0 (±6 % volume)"
    return Reference(element=element, property=PROPERTY, case="B_consistency", quantity="B", value=float(b0_eos),
                     unit="GPa", source=f"EOS B0 of {lattice} from the same potential (revem.validation.properties.eos)",
                     tolerance={"rel": B_CONSISTENCY_REL}, noise={"abs": 0.5}, protocol=proto)


def c66_identity_reference(element: str, uncertainty: float):
    """Hexagonal symmetry: C66 − (C11 − C12)/2 = 0, to within the protocol's own uncertainty."""
    tol = max(C66_IDENTITY_FLOOR_GPA, 2 * float(uncertainty))
    return Reference(element=element, property=PROPERTY, case="C66_identity", quantity="C66_deviation", value=0.0,
                     unit="GPa", source="identity of hexagonal symmetry: C66 = (C11 - C12)/2",
                     tolerance={"abs": tol}, noise={"abs": 0.5}, extra={"strict": True},
                     protocol=f"C66 from the xy shear vs (C11 - C12)/2 of the same run; tolerance max("
                              f"{C66_IDENTITY_FLOOR_GPA} GPa, 2 x the O(δ²) uncertainty)")


def plot(records: list[dict], outdir):
    """Bar chart of C11, C12, C44 (and B): potential (red) vs reference (black), grey band ± tolerance."""
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
    """Elastic constants of the ground lattice, the B(Cij) vs EOS B0 consistency check and Born stability."""

    name, version, defaults = PROPERTY, PROTOCOL_VERSION, DEFAULTS

    def cases(self, element, tier):
        return cases(element, tier)

    def measure(self, target, element, case, tier):
        res = compute(target, element, tier)
        lat = res["lattice"]
        names = CONSTANTS[lat]
        geo = f"a0 = {res['a0']:.5f} Å" + (f", c/a = {res['c_over_a']:.5f}" if lat == "hcp" else "")
        delta = res["strain_amplitude"]
        note = (f"relaxed-ion, symmetric strains ±{100 * delta:g} % (uncertainty from ±{200 * delta:g} %), {geo}, "
                f"{res['calculator_calls']} calculator calls")
        covers = uncertainty_covers(delta)
        if case == "B_consistency":
            return [Measurement("B", res["B"], "GPa", note=note if lat != "hcp" else f"{res['B_compared']} B; {note}",
                                uncertainty=res["uncertainty"]["B"], uncertainty_covers=covers,
                                refs=[b_consistency_reference(element, res["B0_eos"], lat, res["B_compared"])])]
        if case == "C66_identity":
            return [Measurement("C66_deviation", res["C66_deviation"], "GPa", policy="identity",
                                uncertainty=res["uncertainty"]["C66_deviation"], uncertainty_covers=covers,
                                note=f"C66 = {res['C66']:.2f} GPa, (C11 - C12)/2 = {(res['C11'] - res['C12']) / 2:.2f} GPa; {note}",
                                refs=[c66_identity_reference(element, res["uncertainty"]["C66_deviation"])])]
        if case == "clamped_ion":
            return [Measurement(q, res["clamped"][q], "GPa", case=f"{lat}_clamped_ion", policy="reported",
                                uncertainty=res["uncertainty_clamped"][q], uncertainty_covers=covers,
                                note="clamped-ion (ions moved affinely with the cell)",
                                data={"Cij_GPa": res["Cij_clamped"]} if q == "C11" else None)
                    for q in names]
        if case == "born_stability":
            b = res["born"]
            crit = ", ".join(f"{k} = {v:.1f} GPa" + ("^2" if "^2" in k else "") for k, v in b["criteria_GPa"].items())
            kind = "hexagonal" if lat == "hcp" else "cubic"
            return [Measurement("min_eigenvalue", b["min_eigenvalue_GPa"], "GPa", policy="reported",
                                note=f"Born criteria ({kind}): {crit}; stable iff all > 0",
                                failure=None if b["stable"] else
                                f"{lat} {element} is mechanically unstable (Born criteria violated: "
                                f"{', '.join(b['violated']) or 'C not positive definite'}; {crit})")]
        scored = has_reference(element, lat, case)
        return [Measurement(case, res[case], "GPa", case=lat, uncertainty=res["uncertainty"][case],
                            uncertainty_covers=covers, policy="reference" if scored else "reported",
                            note=note if scored else f"{note}; no stored reference: reported",
                            data={"Cij_GPa": res["Cij"]} if case == "C11" else None)]


def uncertainty_covers(delta: float) -> str:
    """What the elastic uncertainty is: the O(δ²) finite-difference error of the central differences."""
    return (f"O(δ²) error of the central stress differences: |C(2δ) − C(δ)|/3 (Richardson) between strain "
            f"amplitudes δ = {100 * delta:g} % and 2δ = {200 * delta:g} %; not the error of the potential")


PROTOCOL = ElasticProtocol()
