"""The DFT runner: a GPAW plane-wave calculator factory with recorded settings.

Any property protocol that accepts ``calc_factory`` (a zero-argument callable returning a fresh ASE
calculator) can be run with DFT, so a missing reference is produced the way the potential is tested::

    from revem.datasets.dft import DFTSettings, gpaw_calculator
    factory = gpaw_calculator(DFTSettings(ecut_eV=400))
    atoms.calc = factory()

Settings (defaults, with units): PBE, plane-wave cutoff ``ecut_eV`` = 400 eV, Monkhorst–Pack mesh
from a k-point density ``kpts_density_per_A`` = 4.0 points per Å⁻¹ of reciprocal-lattice length
(ASE/GPAW convention, 2π included, Γ-centred; fixed over an E(V) curve to the mesh of its middle
volume, see :func:`energy_volume`), Methfessel–Paxton (order 1) smearing of width 0.2 eV,
SCF energy convergence 1e-5 eV per valence electron.  :meth:`DFTSettings.as_provenance` records these
with the GPAW version, the PAW setup file (name, generator, sha256) and the gpaw-data version, so a
reference computed with them can be reproduced.

GPAW is the optional ``dft`` extra: ``apt-get install libxc-dev libopenblas-dev libfftw3-dev`` then
``CC=g++ pip install 'revem[dft]'``; the PAW datasets come from the ``gpaw-data`` PyPI package (a
dependency of gpaw), so no download at run time is needed.

The check of this setup against WIEN2k (ase's dcdft set) and the stored DFT EOS data is
:func:`setup_check` (``tests/test_dft.py``; numbers recorded in
``revem/validation/reference_data/W/dft_setup_gpaw.json`` by ``python -m revem.validation.references_build.paths setup``).

Disclaimers: a k-point *density* gives a mesh that changes in steps as a cell is deformed, so
energies along a deformation path carry a small (~1 meV/atom) discretisation noise; the defaults
are chosen to pass the dcdft check at modest cost on a laptop, not for sub-meV convergence.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import platform
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np


INSTALL_HINT = ("GPAW not installed: pip install 'revem[dft]' after apt-get install libxc-dev libopenblas-dev "
                "libfftw3-dev (CC=g++)")


class DFTUnavailable(ImportError):
    """GPAW (or its PAW datasets) cannot be used here; the message says how to install it."""


def is_available() -> bool:
    """Whether GPAW can be imported (its PAW datasets are checked when a calculator is made)."""
    return importlib.util.find_spec("gpaw") is not None


def _require_gpaw():
    if not is_available():
        raise DFTUnavailable(INSTALL_HINT)
    import gpaw

    return gpaw


@dataclass(frozen=True)
class DFTSettings:
    """GPAW plane-wave settings (units in the names). Frozen, so it can key caches."""

    xc: str = "PBE"
    ecut_eV: float = 400.0
    kpts_density_per_A: float = 4.0
    kpts_gamma: bool = True
    smearing: str = "methfessel-paxton"  # or "fermi-dirac"
    smearing_width_eV: float = 0.2
    smearing_order: int = 1  # Methfessel–Paxton order
    scf_energy_eV_per_electron: float = 1e-5
    setups: str = "paw"
    kpts_mesh: tuple | None = None  # a fixed Monkhorst–Pack mesh instead of the density (E(V) curves)
    extra: tuple = field(default_factory=tuple)  # further GPAW keywords as ((key, value), ...)

    def gpaw_kwargs(self) -> dict:
        from gpaw import PW, FermiDirac, MethfesselPaxton

        if self.smearing == "methfessel-paxton":
            occ = MethfesselPaxton(self.smearing_width_eV, order=self.smearing_order)
        elif self.smearing == "fermi-dirac":
            occ = FermiDirac(self.smearing_width_eV)
        else:
            raise ValueError(f"unknown smearing '{self.smearing}' (methfessel-paxton or fermi-dirac)")
        kw = dict(mode=PW(self.ecut_eV), xc=self.xc, setups=self.setups, occupations=occ,
                  kpts=({"size": tuple(self.kpts_mesh), "gamma": self.kpts_gamma} if self.kpts_mesh else
                        {"density": self.kpts_density_per_A, "gamma": self.kpts_gamma}),
                  convergence={"energy": self.scf_energy_eV_per_electron}, txt=None)
        kw.update(dict(self.extra))
        return kw

    def as_provenance(self, elements=("W",)) -> dict:
        """Every setting plus code and PAW-dataset versions (the ``provenance`` of a DFT reference)."""
        gpaw = _require_gpaw()
        d = {k: v for k, v in asdict(self).items() if k != "extra"}
        d["extra"] = {k: repr(v) for k, v in self.extra}
        d["code"] = "GPAW"
        d["gpaw_version"] = gpaw.__version__
        d["kpts_convention"] = ("Monkhorst-Pack mesh from kpts={'density': d, 'gamma': True}: "
                                "n_i = ceil(2*pi*d*|b_i|), |b_i| reciprocal lengths without 2*pi")
        d["mode"] = "plane waves (PW)"
        d["spin"] = "non-spin-polarised"
        d["paw_setups"] = {el: paw_setup_info(el, self.xc, self.setups) for el in elements}
        try:
            import gpaw_data

            d["gpaw_data_version"] = gpaw_data.__version__
        except ImportError:
            d["gpaw_data_version"] = None
        import ase

        d["ase_version"] = ase.__version__
        d["python"] = platform.python_version()
        return d


def paw_setup_info(element: str, xc: str = "PBE", setups: str = "paw") -> dict:
    """The PAW dataset file GPAW uses for ``element``: path name, generator, valence, sha256."""
    _require_gpaw()
    from gpaw import setup_paths

    name = f"{element}.{xc}.gz" if setups == "paw" else f"{element}.{setups}.{xc}.gz"
    for d in setup_paths:
        p = Path(d) / name
        if p.is_file():
            import gzip
            import re

            head = gzip.open(p, "rt").read(3000)
            gen = re.search(r'<generator[^>]*name="([^"]+)"', head)
            ver = re.search(r'<paw_setup version="([^"]+)"', head)
            val = re.search(r'valence="([0-9.]+)"', head)
            return {"file": name, "paw_setup_format": ver.group(1) if ver else None,
                    "generator": gen.group(1) if gen else None,
                    "valence_electrons": float(val.group(1)) if val else None,
                    "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
    raise DFTUnavailable(f"GPAW PAW dataset {name} not found in {list(map(str, setup_paths))}: "
                         "pip install gpaw-data (the PyPI package ships the datasets)")


#: callbacks told of every calculator a :func:`gpaw_calculator` factory makes (:func:`observe_calculators`)
_OBSERVERS: list = []


@contextmanager
def observe_calculators(callback):
    """Within the block, ``callback(settings)`` is called each time any :func:`gpaw_calculator` factory makes a
    calculator (also factories made inside a protocol, e.g. with a fixed k-mesh): one call per DFT calculation,
    since protocols make a fresh calculator per structure.  ``revem reference compute`` prints its progress
    from here."""
    _OBSERVERS.append(callback)
    try:
        yield
    finally:
        _OBSERVERS.remove(callback)


def gpaw_calculator(settings: DFTSettings | None = None, **overrides):
    """A zero-argument factory returning a fresh GPAW PW calculator with ``settings``.

    ``overrides`` replace fields of :class:`DFTSettings` (e.g. ``ecut_eV=500``). The factory carries
    ``factory.settings`` and ``factory.provenance(elements)`` for the reference files.
    """
    _require_gpaw()
    settings = settings or DFTSettings()
    if overrides:
        settings = DFTSettings(**{**asdict(settings), **overrides})
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    def factory():
        from gpaw import GPAW

        for cb in list(_OBSERVERS):
            cb(settings)
        return GPAW(**settings.gpaw_kwargs())

    factory.settings = settings
    factory.provenance = settings.as_provenance
    factory.label = f"GPAW {settings.xc} PW{settings.ecut_eV:g}"
    return factory


# --------------------------------------------------------------------------- setup check
def eos_fit(volumes, energies, eos: str = "birchmurnaghan") -> dict:
    """V0 (Å^3/atom), E0 (eV/atom), B0 (GPa) of per-atom E(V) (:func:`revem.atomistic.fit_eos`);
    warns if V0 lies outside the sample."""
    from ..atomistic import fit_eos

    fit = fit_eos(volumes, energies, eos)
    return {"V0": fit["V0"], "E0": fit["E0"], "B0": fit["B0"]}


def structure(element: str, name: str, volume: float):
    """bcc and fcc (1-atom primitive) or A15 (8-atom cubic, Pm-3n) at ``volume`` Å^3/atom."""
    from ase.build import bulk

    if name == "bcc":
        return bulk(element, "bcc", a=(2 * volume) ** (1 / 3))
    if name == "fcc":
        return bulk(element, "fcc", a=(4 * volume) ** (1 / 3))
    if name == "A15":
        from ase.spacegroup import crystal

        a = (8 * volume) ** (1 / 3)
        return crystal([element, element], [(0, 0, 0), (0.25, 0.5, 0)], spacegroup=223, cellpar=[a, a, a, 90, 90, 90])
    raise ValueError(f"unknown structure '{name}' (bcc, fcc, A15)")


def density_mesh(settings: DFTSettings, atoms) -> tuple[int, int, int]:
    """The Monkhorst–Pack mesh that ``settings``' k-point density gives for ``atoms``."""
    from ase.calculators.calculator import kptdensity2monkhorstpack

    return tuple(int(n) for n in kptdensity2monkhorstpack(atoms, settings.kpts_density_per_A, even=False))


def energy_volume(calc_factory, element: str, name: str, volumes, fix_mesh: bool = True) -> list[float]:
    """Per-atom energies (eV/atom) of ``name`` at ``volumes`` (Å^3/atom), a fresh calculator each.

    For a DFT factory (one with ``.settings``) and ``fix_mesh``, the k-mesh is fixed over the curve
    to the density mesh of its middle volume: a mesh that jumps between volumes (e.g. 12³ → 11³ for
    bcc W at +6 %) puts a step into E(V) and spoils B0 (seen: +28 %).
    """
    settings = getattr(calc_factory, "settings", None)
    if settings is not None and fix_mesh and settings.kpts_mesh is None:
        mesh = density_mesh(settings, structure(element, name, float(np.median(volumes))))
        calc_factory = gpaw_calculator(settings, kpts_mesh=mesh)
    out = []
    for v in volumes:
        atoms = structure(element, name, float(v))
        atoms.calc = calc_factory()
        out.append(float(atoms.get_potential_energy() / len(atoms)))
    return out


SETUP_CHECK = {
    # volume grids relative to the dcdft WIEN2k V0: bcc 7 points ±6 %; fcc and A15 (V0 ~2 % larger)
    # 5 points, 0.98–1.06 (only their E0 is used)
    "bcc": np.linspace(0.94, 1.06, 7),
    "fcc": np.linspace(0.98, 1.06, 5),
    "A15": np.linspace(0.98, 1.06, 5),
}
TOLERANCES = {"V0_rel": 0.01, "B0_rel": 0.05, "dE_abs_meV": 30.0}


def setup_check(calc_factory, element: str = "W", structures=("bcc", "fcc", "A15")) -> dict:
    """E(V) of ``structures`` with ``calc_factory``; EOS fits (V0 Å^3/atom, E0 eV/atom, B0 GPa)."""
    from ase.collections import dcdft

    v_ref = dcdft.data[element]["wien2k_volume"]
    out = {}
    for s in structures:
        vols = [float(x) for x in SETUP_CHECK[s] * v_ref]
        es = energy_volume(calc_factory, element, s, vols)
        mesh = (density_mesh(calc_factory.settings, structure(element, s, float(np.median(vols))))
                if getattr(calc_factory, "settings", None) is not None else None)
        out[s] = {"volumes_A3_per_atom": vols, "energies_eV_per_atom": es, "kpts_mesh": mesh, **eos_fit(vols, es)}
        print(f"setup_check: {s}: V0 {out[s]['V0']:.4f} Å^3/atom, E0 {out[s]['E0']:.5f} eV/atom, "
              f"B0 {out[s]['B0']:.1f} GPa (mesh {mesh})", flush=True)
    return out
