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
* Fit: design matrix from ``pyace.linearacefit.LinearACEDataset`` (rows: energy per atom, then force
  components), weighted ridge least squares solved with numpy (energy rows weighted by ``ENERGY_WEIGHT``
  relative to force rows, Tikhonov ``RIDGE``), no random numbers: the result is deterministic.
* Output: ``W_linear_ace.yace`` beside this file (the C-tilde form that ``pyace.PyACECalculator`` and
  LAMMPS ``pair_style pace`` read), and a printout of the training errors and of the bcc lattice constant
  of the DFT ``EOS_Data`` bcc scan (ASE EOS fit) next to the fitted potential's.

Disclaimers: a linear ACE with 272 functions and no core repulsion is a toy. It has no short-range
repulsion beyond what the data teach it, so do not use it for cascades or strongly compressed cells.
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
ENERGY_WEIGHT = 30.0  # weight of an energy-per-atom row (eV/atom) relative to a force row (eV/Å)
RIDGE = 1e-8  # Tikhonov parameter on the normal equations (relative to their mean diagonal)


def basis_config():
    """The pyace B-basis configuration (linear embedding) used for the demo W potential."""
    from pyace import create_multispecies_basis_config

    return create_multispecies_basis_config(potential_config={
        "deltaSplineBins": 0.001,
        "elements": ["W"],
        "embeddings": {"ALL": {"npot": "FinnisSinclairShiftedScaled", "fs_parameters": [1, 1], "ndensity": 1}},
        "bonds": {"ALL": {"radbase": "SBessel", "radparameters": [5.25], "rcut": RCUT, "dcut": 0.01}},
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
    ds = LinearACEDataset(basis_config(), df)
    X = np.array(ds.get_design_matrix(max_workers=2))
    y = ds.get_target_vector()
    n = len(df)
    coef = solve(X, y, n)
    pred = X @ coef
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

    atoms = bulk("W", "bcc", a=3.18, cubic=True)
    atoms.calc = PyACECalculator(str(out))
    BFGS(FrechetCellFilter(atoms), logfile=None).run(fmax=1e-4)
    a_fit = atoms.cell.lengths()[0]
    print(f"bcc lattice constant: fitted ACE {a_fit:.4f} Å, DFT EOS_Data {dft_bcc_lattice_constant():.4f} Å, "
          "GAP-W cells 3.1805 Å; E_bcc = "
          f"{atoms.get_potential_energy() / len(atoms):.4f} eV/atom")
    return out


if __name__ == "__main__":
    main()
