"""Fit the small linear ACE potential for W shipped as ``W_linear_ace.yace`` (a demo, not a production model).

Run (about a minute on 2 cores)::

    REVEM_DATA_DIR=/path/to/datasets python -m revem.potentials.data.fit_w_linear_ace

What it does
------------
* Data: DFT W frames of the FitSNAP W-Be example (Wood et al., PRB 99, 184305 (2019)), read through
  ``revem.data``: the GAP-W groups ``slice_sample`` (all 2000 deformed 1-atom bcc cells), ``surface``
  (all 180 slabs), every 10th ``vacancy`` snapshot (GAP-W data: Szlachta, Bartok, Csanyi, PRB 90, 104108
  (2014)), and ``EOS_Data`` (bcc/fcc/A15 volume scans).  These groups share one energy zero to about
  1 meV/atom (bcc minimum -8.908 vs -8.909 eV/atom, datasets README section 3); the SIA/divacancy groups,
  whose settings differ, are left out.
* Basis: pyace (python-ace) B-basis for one element, linear embedding (FinnisSinclairShiftedScaled with
  ``fs_parameters [1, 1]``, one density), SBessel radial basis, rcut 5.0 A, body orders 1-4 with
  ``nradmax_by_orders [8, 6, 4, 2]`` and ``lmax_by_orders [0, 3, 2, 1]``: 272 functions.
  With a linear embedding the energy is linear in the basis coefficients (Drautz, PRB 99, 014104 (2019)).
* Short range: pyace's own inner cutoff with ZBL core repulsion (``inner_cutoff_type: zbl``, as set up by
  pacemaker's ``pace_corerep`` / ``pyace.generalfit.setup_zbl_inner_core_repulsion``): below ``r_in`` the
  W-W pair energy is the universal ZBL screened Coulomb repulsion (Ziegler, Biersack, Littmark, The Stopping
  and Range of Ions in Solids (1985)), blended with the ACE radial functions over [r_in - delta_in, r_in] =
  [1.9, 2.4] Å, i.e. just below the shortest training distance (2.44 Å), so the fit is unchanged.  It is
  stored in the ``.yace`` (``prehc`` = ZBL scale 1, ``rcut_in``, ``dcut_in``, ``inner_cutoff_type``) and
  evaluated by pyace itself.  The embedding keeps ``rho_core_cut: 20000``, ``drho_core_cut: 270`` of the
  Rev-EM paper's W input (seed paper, SI section S5.4).
  Why not the paper's ``core-repulsion: [35000.0, 5.0]`` with ``r_in: 1.5, delta_in: 0.5`` (distance type,
  ``PAPER_W_SHORT_RANGE``)?  pyace carries it (E(W2, 0.8 Å) = 3346 eV), but A exp(-5 r^2)/r is nil above
  1.5 Å, and this small linear ACE, trained on nothing shorter than 2.44 Å, is strongly attractive between
  1.5 and 2.4 Å when many neighbours are close: the <111> SIA of the validation harness then still collapses
  (dense clusters at 1.3-1.4 Å, overlaps < 0.3 Å).  The paper's ACE learned that range from its data.
  The cutoff stays 5.0 Å (the paper uses 6.0 Å).
* Fit: design matrix from ``pyace.linearacefit.LinearACEDataset`` (rows: energy per atom, then force
  components; B-function projections, without the core repulsion); target = DFT minus the fixed
  core-repulsion part (the same basis with all coefficients zero, evaluated by pyace; zero here, the
  shortest training distance being 2.44 Å; printed); weighted ridge least squares solved with numpy
  (energy rows weighted by ``ENERGY_WEIGHT`` relative to force rows, Tikhonov ``RIDGE``), no random
  numbers: the result is deterministic.
* Output: ``W_linear_ace.yace`` beside this file (the C-tilde form that ``pyace.PyACECalculator`` and
  LAMMPS ``pair_style pace`` read), and a printout of the training errors and of the bcc lattice constant
  of the DFT ``EOS_Data`` bcc scan (ASE EOS fit) next to the fitted potential's.

Disclaimers: a linear ACE with 272 functions is a toy.  ZBL is far more repulsive than DFT at 2-2.4 Å
(about 11 eV per W2 pair at 2.0 Å), so the wall starts early and compressed defects (SIAs) come out
stiff; use it to exercise the 'pace' kind, not for cascades or physics.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

OUT = Path(__file__).with_name("W_linear_ace.yace")
GROUPS = {  # registry name -> frame stride
    "fitsnap-WBe/W/slice_sample.extxyz.gz": 1,
    "fitsnap-WBe/W/surface.extxyz.gz": 1,
    "fitsnap-WBe/W/vacancy.extxyz.gz": 10,
    "fitsnap-WBe/W/EOS_Data.extxyz.gz": 1,
}
RCUT = 5.0  # Å
NRADMAX_BY_ORDERS = [8, 6, 4, 2]
LMAX_BY_ORDERS = [0, 3, 2, 1]
# short range: ZBL below R_IN, ACE above, blended over [R_IN - DELTA_IN, R_IN] (Å)
INNER_CUTOFF_TYPE = "zbl"
CORE_REPULSION = [1.0, 1.0]  # for the zbl type the first number scales the ZBL energy
R_IN, DELTA_IN = 2.4, 0.5  # Å; the shortest training distance is 2.44 Å
RHO_CORE_CUT, DRHO_CORE_CUT = 20000.0, 270.0  # seed paper SI S5.4 (W)
# the seed paper's W short range (SI S5.4), exp-screened core A exp(-lambda r^2)/r; too short-ranged here
PAPER_W_SHORT_RANGE = {"inner_cutoff_type": "distance", "core-repulsion": [35000.0, 5.0], "r_in": 1.5,
                       "delta_in": 0.5}
ENERGY_WEIGHT = 30.0  # weight of an energy-per-atom row (eV/atom) relative to a force row (eV/Å)
RIDGE = 1e-8  # Tikhonov parameter on the normal equations (relative to their mean diagonal)


def basis_config():
    """The pyace B-basis configuration (linear embedding) used for the demo W potential."""
    from pyace import create_multispecies_basis_config

    return create_multispecies_basis_config(potential_config={
        "deltaSplineBins": 0.001,
        "elements": ["W"],
        "embeddings": {"ALL": {"npot": "FinnisSinclairShiftedScaled", "fs_parameters": [1, 1], "ndensity": 1,
                               "rho_core_cut": RHO_CORE_CUT, "drho_core_cut": DRHO_CORE_CUT}},
        "bonds": {"ALL": {"radbase": "SBessel", "radparameters": [5.25], "rcut": RCUT, "dcut": 0.01,
                          "r_in": R_IN, "delta_in": DELTA_IN, "inner_cutoff_type": INNER_CUTOFF_TYPE,
                          "core-repulsion": CORE_REPULSION}},
        "functions": {"ALL": {"nradmax_by_orders": NRADMAX_BY_ORDERS, "lmax_by_orders": LMAX_BY_ORDERS}},
    })


def training_frame():
    """pandas DataFrame with ``ase_atoms``, ``energy`` (eV) and ``forces`` (eV/Å) from the W groups."""
    import pandas as pd

    from revem.data import read_frames

    rows = []
    for name, stride in GROUPS.items():
        for at in read_frames(name)[::stride]:
            rows.append({"ase_atoms": at, "energy": at.get_potential_energy(), "forces": at.get_forces(),
                         "group": name.split("/")[-1].split(".")[0]})
    return pd.DataFrame(rows)


def core_part(bconf, frames):
    """Energy per atom (eV/atom) and flattened forces (eV/Å) of the fixed core repulsion: pyace's evaluation
    of ``bconf`` with all ACE coefficients zero (linear embedding, so F(0) = 0)."""
    from pyace import ACEBBasisSet, PyACECalculator

    basis = ACEBBasisSet(bconf)
    basis.basis_coeffs = np.zeros(len(basis.basis_coeffs))
    calc = PyACECalculator(basis)
    e, f = [], []
    for at in frames:
        at = at.copy()
        at.calc = calc
        e.append(at.get_potential_energy() / len(at))
        f.append(at.get_forces().reshape(-1))
    return np.array(e), np.concatenate(f)


def dimer_energy(calc, r: float) -> float:
    """Energy (eV) of an isolated W2 dimer at separation ``r`` (Å)."""
    from ase import Atoms

    atoms = Atoms("W2", positions=[[0, 0, 0], [r, 0, 0]], cell=[20, 20, 20], pbc=False)
    atoms.calc = calc
    return atoms.get_potential_energy()


def solve(X, y, n_struct, energy_weight=ENERGY_WEIGHT, ridge=RIDGE):
    """Weighted ridge least squares ``min |W(Xc - y)|^2 + ridge*mean(diag)*|c|^2`` (numpy only)."""
    w = np.ones(len(y))
    w[:n_struct] = energy_weight
    Xw, yw = X * w[:, None], y * w
    A = Xw.T @ Xw
    A[np.diag_indices_from(A)] += ridge * np.mean(np.diag(A))
    return np.linalg.solve(A, Xw.T @ yw)


def dft_bcc_lattice_constant() -> float:
    """bcc lattice constant (Å) of the DFT ``EOS_Data`` bcc scan: ASE Birch-Murnaghan fit near the minimum."""
    from ase.eos import EquationOfState

    from revem.data import read_frames

    bcc = [a for a in read_frames("fitsnap-WBe/W/EOS_Data.extxyz.gz") if "BCC" in str(a.info.get("source_id", ""))]
    v = np.array([a.get_volume() / len(a) for a in bcc])
    e = np.array([a.get_potential_energy() / len(a) for a in bcc])
    keep = np.argsort(e)[:9]  # the points nearest the minimum
    v0, _, _ = EquationOfState(v[keep], e[keep], eos="birchmurnaghan").fit()
    return float((2 * v0) ** (1 / 3))


def main(out: Path = OUT) -> Path:
    from ase.build import bulk
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS
    from pyace import PyACECalculator
    from pyace.linearacefit import LinearACEDataset

    if not os.environ.get("REVEM_DATA_DIR") and not os.environ.get("REVEM_DATA_URL"):
        raise SystemExit("set REVEM_DATA_DIR to the DFT mirror (e.g. ../shared/datasets)")
    df = training_frame()
    bconf = basis_config()
    ds = LinearACEDataset(bconf, df)
    X = np.array(ds.get_design_matrix(max_workers=2))
    y = ds.get_target_vector()
    n = len(df)
    e_core, f_core = core_part(bconf, df["ase_atoms"])
    base = np.concatenate([e_core, f_core])
    print(f"core repulsion on the training set: max |E| {np.abs(e_core).max():.2e} eV/atom, "
          f"max |F| {np.abs(f_core).max():.2e} eV/Å")
    coef = solve(X, y - base, n)
    pred = X @ coef + base
    de = (pred[:n] - y[:n]) * 1000
    df_ = pred[n:] - y[n:]
    print(f"{n} structures, {int(df['ase_atoms'].map(len).sum())} atoms, {X.shape[1]} basis functions")
    print(f"train RMSE: energy {np.sqrt(np.mean(de ** 2)):.1f} meV/atom, force {np.sqrt(np.mean(df_ ** 2)):.3f} eV/Å")
    for g in df["group"].unique():
        m = (df["group"] == g).to_numpy()
        print(f"  {g:14s} energy RMSE {np.sqrt(np.mean(de[m] ** 2)):7.1f} meV/atom")
    basis = ds.basis
    basis.basis_coeffs = coef
    basis.to_ACECTildeBasisSet().save_yaml(str(out))
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB)")

    calc = PyACECalculator(str(out))
    for i in (0, n - 1):  # the written file reproduces the fitted model (design matrix + core part)
        at = df["ase_atoms"].iloc[i].copy()
        at.calc = calc
        assert abs(at.get_potential_energy() / len(at) - pred[i]) < 1e-6, "written .yace disagrees with the fit"
    print("W2 dimer energy (eV): " + ", ".join(f"{r:.1f} Å {dimer_energy(calc, r):.4g}"
                                               for r in (0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 3.0)))

    atoms = bulk("W", "bcc", a=3.18, cubic=True)
    atoms.calc = calc
    BFGS(FrechetCellFilter(atoms), logfile=None).run(fmax=1e-4)
    a_fit = atoms.cell.lengths()[0]
    print(f"bcc lattice constant: fitted ACE {a_fit:.4f} Å, DFT EOS_Data {dft_bcc_lattice_constant():.4f} Å, "
          "GAP-W cells 3.1805 Å; E_bcc = "
          f"{atoms.get_potential_energy() / len(atoms):.4f} eV/atom")
    return out


if __name__ == "__main__":
    main()
