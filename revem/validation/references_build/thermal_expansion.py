"""Thermal-expansion references (``<El>/thermal_expansion_exp.json``): experimental linear expansion
coefficients and one length change, each evaluated here from a published table or recommended fit.

Run: ``python -m revem.validation.references_build.thermal_expansion``.

* W (:data:`TOLIAS_W_DENSITY`): P. Tolias, "Analytical expressions for thermophysical properties of solid and
  liquid tungsten relevant for fusion applications", Nucl. Mater. Energy 13, 42 (2017), arXiv:1703.06302:
  the recommended mass density of solid W from its review of the experimental thermal-expansion data,
  ρ(T) = 19.25 − 2.66207e-4 ΔT − 3.0595e-9 ΔT² − 9.5185e-12 ΔT³ g/cm³, ΔT = T − 293.15 K (293.15-3695 K),
  read from its transcription in konstpas/SWAM ``src_2d/material_prop_tungsten_mod.f90`` (commit 58db9df,
  "mass density of tungsten as described in P. Tolias, Nucl. Mater. Energy 13, 42 (2017)"); the paper's text
  could not be opened offline, so the transcription is the checked source.  α = −(1/3ρ) dρ/dT and
  ΔL/L = (ρ(300 K)/ρ(T))^(1/3) − 1.
* Cu (:data:`HAHN_CU_FIT`): the NIST Statistical Reference Dataset ``Hahn1`` ("Hahn, T., NIST (197?). Copper
  Thermal Expansion Study": 236 measurements of the thermal expansion coefficient of copper, 14-851 K, in
  1e-6/K), its certified rational fit α = (b1 + b2 T + b3 T² + b4 T³)/(1 + b5 T + b6 T² + b7 T³); the data read
  from usnistgov/dataplot ``lib/data/HAHN1.DAT``, the certified b1 … b7 as the StRD page lists them
  (https://www.itl.nist.gov/div898/strd/nls/data/hahn1.shtml), checked in the StRD copies of Eigen's and
  mlpack's test suites.  The same author and range as T. A. Hahn, "Thermal expansion of copper from 20 to
  800 K -- Standard Reference Material 736", J. Appl. Phys. (1970), p. 5096 (our
  attribution: the StRD page names no paper).
* Mo, Nb, Al, Ni, Ag, Be (:func:`room_temperature_rows`): the room-temperature linear expansion coefficient
  of the CRC Handbook (D. R. Lide (ed.), CRC Handbook of Chemistry and Physics), as Wikipedia's "Thermal
  expansivities of the elements" data page lists it under CRC (Be 11.3, Mo 4.8, Nb 7.3, Al 23.1, Ni 13.4,
  Ag 18.9, in 1e-6/K; WebElements and Lange's list the same); pymatgen's element data
  (``coefficient_of_linear_thermal_expansion``) holds the same numbers and is where the builder reads them,
  the test checks them against :data:`CRC_ROOM_TEMPERATURE`.  Ta, Re, Os (6.3, 6.2, 5.1 in pymatgen) are left
  out: their table rows could not be read in a source (they are ``reported``); C too: the tabulated 7.1 is
  graphite's, not diamond's.

Tolerances: 20 % at 300 K, 30 % above (the tolerance_basis of each row says why).
"""
from __future__ import annotations

from pathlib import Path

from .. import references

PROPERTY = "thermal_expansion"
T_REF_K = 300.0
#: Tolias (2017) recommended density of solid W (g/cm³): rho0, c1, c2, c3 of rho0 - c1 dT - c2 dT² - c3 dT³
TOLIAS_W_DENSITY = {"T0_K": 293.15, "rho0": 19.25, "c1": 2.66207e-4, "c2": 3.0595e-9, "c3": 9.5185e-12}
#: NIST StRD Hahn1 certified parameters b1 … b7 (alpha in 1e-6/K, T in K)
HAHN_CU_FIT = (1.0776351733e+00, -1.2269296921e-01, 4.0863750610e-03, -1.4262662514e-06,
               -5.7609940901e-03, 2.4053735503e-04, -1.2314450199e-07)
#: the CRC Handbook room-temperature α (1e-6/K) as the "Thermal expansivities of the elements" data page lists it
CRC_ROOM_TEMPERATURE = {"Mo": 4.8, "Nb": 7.3, "Al": 23.1, "Ni": 13.4, "Ag": 18.9, "Be": 11.3}
ROOM_TEMPERATURE = tuple(CRC_ROOM_TEMPERATURE)

EXPERIMENT_VS_QHA = ("the measured α also contains the intrinsic anharmonicity, thermal vacancies and the electronic "
                     "free energy, which the QHA lacks")
TOL_300 = ("20 %: α ∝ γ C_V/(B V) compounds the errors of the potential's bulk modulus (seed 000 Table 2 calls 6-23 % "
           "errors of W's elastic constants good agreement) and of its Grüneisen parameter; " + EXPERIMENT_VS_QHA +
           ", a few % at 300 K")
TOL_HIGH = "30 %: as at 300 K, and " + EXPERIMENT_VS_QHA + ", which grow with T (several % at 0.4 T_m)"


def protocol_text(lattice: str) -> str:
    return (f"experiment on polycrystals at zero pressure; revem: quasi-harmonic α = (1/3V) dV/dT of the {lattice} "
            f"crystal from phonopy's QHA (isotropic volumes, hcp c/a relaxed per volume; zero-point energy included)")


def tolias_w(temperature_K: float) -> tuple[float, float]:
    """(α in 1e-6/K, ρ in g/cm³) of solid W at ``temperature_K`` from Tolias's recommended density."""
    p = TOLIAS_W_DENSITY
    dt = temperature_K - p["T0_K"]
    rho = p["rho0"] - p["c1"] * dt - p["c2"] * dt ** 2 - p["c3"] * dt ** 3
    drho = -p["c1"] - 2 * p["c2"] * dt - 3 * p["c3"] * dt ** 2
    return -drho / (3.0 * rho) * 1e6, rho


def hahn_cu(temperature_K: float) -> float:
    """α of Cu (1e-6/K) at ``temperature_K`` from the NIST Hahn1 certified fit."""
    b, t = HAHN_CU_FIT, temperature_K
    return (b[0] + b[1] * t + b[2] * t ** 2 + b[3] * t ** 3) / (1 + b[4] * t + b[5] * t ** 2 + b[6] * t ** 3)


def _row(case, quantity, value, unit, tol, basis, source, protocol, noise):
    return {"case": case, "quantity": quantity, "value": round(float(value), 4), "unit": unit, "tolerance": {"rel": tol},
            "noise": {"abs": noise}, "kind": "experiment", "source": source, "protocol": protocol,
            "tolerance_basis": basis}


def w_rows() -> list[dict]:
    src = ("P. Tolias, Nucl. Mater. Energy 13, 42 (2017), arXiv:1703.06302, recommended mass density of solid W "
           "(review of the experimental thermal expansion data); read from its transcription in konstpas/SWAM "
           "src_2d/material_prop_tungsten_mod.f90 (commit 58db9df); evaluated by "
           "revem.validation.references_build.thermal_expansion.tolias_w")
    out = []
    for t in (300.0, 1500.0):
        a, _ = tolias_w(t)
        out.append(_row("bcc", f"alpha_{t:.0f}K", a, "1e-6/K", 0.2 if t <= T_REF_K else 0.3,
                        TOL_300 if t <= T_REF_K else TOL_HIGH, src + f": α = −(1/3ρ) dρ/dT at {t:.0f} K",
                        protocol_text("bcc"), 0.01))
    dl = ((tolias_w(T_REF_K)[1] / tolias_w(1500.0)[1]) ** (1 / 3) - 1) * 100
    out.append(_row("bcc", "dL_L_1500K", dl, "%", 0.3, TOL_HIGH, src + ": ΔL/L = (ρ(300 K)/ρ(1500 K))^(1/3) − 1",
                    protocol_text("bcc") + "; ΔL/L from 300 K = (V(T)/V(300 K))^(1/3) − 1", 0.002))
    return out


def cu_rows() -> list[dict]:
    src = ("NIST Statistical Reference Dataset Hahn1 (T. Hahn, NIST copper thermal expansion study; cf. T. A. Hahn, "
           "J. Appl. Phys. (1970), p. 5096, copper SRM 736), certified rational fit of α(T) "
           "evaluated at {t:.0f} K; "
           "data read from usnistgov/dataplot lib/data/HAHN1.DAT, certified parameters as NIST lists them (https://www.itl.nist.gov/div898/strd/nls/data/hahn1.shtml)")
    return [_row("fcc", f"alpha_{t:.0f}K", hahn_cu(t), "1e-6/K", 0.2 if t <= T_REF_K else 0.3,
                 TOL_300 if t <= T_REF_K else TOL_HIGH, src.format(t=t), protocol_text("fcc"), 0.01)
            for t in (300.0, 700.0)]


def room_temperature_rows(element: str) -> list[dict]:
    from pymatgen.core import Element

    from ..elements import ground_lattice

    lat = ground_lattice(element)
    value = float(Element(element).coefficient_of_linear_thermal_expansion) * 1e6
    if abs(value - CRC_ROOM_TEMPERATURE[element]) > 1e-9:
        raise ValueError(f"{element}: pymatgen's α {value} is not the CRC value {CRC_ROOM_TEMPERATURE[element]}")
    src = (f"CRC Handbook of Chemistry and Physics (D. R. Lide, ed.): linear thermal expansion coefficient of {element} "
           f"at room temperature (25 °C), {value:g}e-6/K, as listed under CRC on Wikipedia's 'Thermal expansivities "
           f"of the elements' data page (WebElements the same); read from pymatgen's element data"
           + (" (the polycrystal mean of the anisotropic hcp α)" if lat == "hcp" else ""))
    return [_row(lat, "alpha_300K", value, "1e-6/K", 0.2, TOL_300 + "; room temperature (293-300 K) vs 300 K: < 1 %",
                 src, protocol_text(lat), 0.01)]


def write() -> list[Path]:
    prov = {"generated_by": "python -m revem.validation.references_build.thermal_expansion"}
    rows = {"W": w_rows(), "Cu": cu_rows(), **{el: room_temperature_rows(el) for el in ROOM_TEMPERATURE}}
    return [references.write(el, PROPERTY, r, f"{PROPERTY}_exp", provenance=prov) for el, r in rows.items()]


if __name__ == "__main__":
    for p in write():
        print(p)
