"""NVE energy-conservation references of every element: ``revem/validation/reference_data/<El>/nve.json``.

Run: ``python -m revem.validation.references_build.nve``

The references are properties of the integrator, not of the element: velocity (Störmer–)Verlet is
second order, so ΔH(δt) ∝ δt² ("asymptotic second order accuracy" for all models up to ~10 fs, seed 002
eq. 2 and Fig. 5), and a symplectic integrator on a smooth, energy-consistent surface does not drift.
W's file was typed from seed 002 (case ``bcc16_3000K``) and is left as it is; for the other elements this
builder writes the same two references for the element's case (:func:`revem.validation.properties.nve.case_name`:
lattice, atoms, T = 0.81 T_m rounded to 100 K, T_m from the element data, else pymatgen's).
"""
from __future__ import annotations

from .. import references
from ..properties import nve
from ..properties.common import lattice_of

ELEMENTS = ("Mo", "Ta", "Nb", "Al", "Cu", "Ni", "Be", "Re", "Os", "C")
SOURCE = ("seed 002 (entropy-optimised W dataset), eq. 2 and Fig. 5: velocity (Störmer-) Verlet is second order; "
          "'asymptotic second order accuracy' observed for all models up to ~10 fs (a property of the integrator, "
          "applied to every element)")


def refs(element: str) -> list[dict]:
    case, t, tm = nve.case_name(element), nve.temperature_K(element), nve.melting_point_K(element)
    proto = (f"{case}: {element} ground-state cells ({nve.SUPERCELLS[lattice_of(element)]} repetitions) at the potential's own lattice constant, Langevin-equilibrated "
             f"at T = {t:.0f} K = {nve.MELT_FRACTION} x T_m ({tm:g} K, {nve.melting_point_source(element)}) rounded to 100 K, NVE from "
             "the same state for each dt; log-log least-squares slope of Delta H(dt) = 1/(nN) sum |H(t_i)-H(t_0)| over "
             f"dt <= {4 * nve.dt_scale(element):g} fs (revem.validation.properties.nve)")
    return [
        {"case": case, "quantity": "nve_slope", "value": 2.0, "unit": "", "tolerance": {"abs": 0.3},
         "noise": {"abs": 0.02}, "source": SOURCE, "protocol": proto, "temperature_K": t, "melting_point_K": tm},
        {"case": case, "quantity": f"drift_{nve.dt_label(nve.dt_scale(element))}", "value": 0.0, "unit": "meV/atom/ps", "tolerance": {"abs": 0.2},
         "noise": {"abs": 0.01},
         "source": "seed 002, 'Energy conservation': a symplectic integrator on an energy-consistent potential shows no "
                   "drift; tolerance ~10x Delta H(1 fs) per ps, as for W",
         "protocol": f"least-squares slope of H(t)/N over the NVE trajectory at the smallest dt, "
                     f"{nve.dt_scale(element):g} fs (same run as nve_slope; dt grid scaled by sqrt(m/m_W), rounded to a "
                     "power of two)"},
    ]


def main() -> None:
    for el in ELEMENTS:
        print(references.write(el, "nve", refs(el), "nve"))


if __name__ == "__main__":
    main()
