"""Helpers of the hostile tests (tests/test_hostile_datasets.py, tests/test_hostile_loaders.py,
tests/test_hostile_options.py): a sandbox whose every file is hashed before and after a command, the
command run in-process, and the one-line-error check.

``Sandbox.check(out=...)`` asserts that every file that existed before is byte-identical (sha256),
that no file disappeared, and that new files lie only inside the allowed output paths (none for a
refusal).  The sandbox is the test's ``tmp_path`` and the command runs with it as the working
directory (its ``cwd`` subfolder), so anything a command writes "beside" or "above" its output shows up.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
from pathlib import Path

import numpy as np


def tree(root: Path) -> dict[str, str]:
    """relative path -> sha256 of every regular file (a link: its target; a FIFO or device: its kind)."""
    out = {}
    root = Path(root)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = "link->" + os.readlink(p)
            elif stat.S_ISREG(st.st_mode):
                out[rel] = hashlib.sha256(Path(p).read_bytes()).hexdigest()
            else:
                out[rel] = f"special {stat.S_IFMT(st.st_mode)}"
        for d in dirnames:
            rel = os.path.relpath(os.path.join(dirpath, d), root)
            out.setdefault(rel + "/", "dir")
    return out


class Sandbox:
    """A folder hashed before a command (:meth:`snap`) and compared after it (:meth:`check`)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.cwd = self.root / "cwd"
        self.cwd.mkdir(exist_ok=True)
        self.before: dict | None = None

    def snap(self) -> None:
        self.before = tree(self.root)

    def check(self, *outputs) -> dict:
        """Pre-existing files unchanged and present; new entries only at or under ``outputs`` (paths
        relative to the sandbox or absolute).  Returns the new entries."""
        after = tree(self.root)
        changed = [k for k, v in self.before.items() if after.get(k) != v]
        assert not changed, f"pre-existing files changed or removed: {changed}"
        allowed = [os.path.relpath(os.path.abspath(self.root / o), self.root) for o in outputs]
        new = {k: v for k, v in after.items() if k not in self.before}
        stray = [k for k in new if not any(k.rstrip("/") == a or k.startswith(a.rstrip("/") + "/") for a in allowed)]
        assert not stray, f"written outside the output ({allowed}): {stray}"
        return new


def run_cli(argv, capsys) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``revem ARGV`` run in this process (argparse exits included)."""
    from revem.cli import main

    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:
        rc = exc.code
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def refused(rc, err, *needles, code=2) -> str:
    """Exit ``code``, no traceback, the message's last line naming every needle; returns that line."""
    assert rc == code, f"exit {rc} (expected {code}); stderr: {err[-2000:]}"
    assert "Traceback" not in err and "INTERNALERROR" not in err, err[-3000:]
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert lines, "no message"
    last = lines[-1]
    for n in needles:
        assert str(n) in last, f"{n!r} not in the message: {last!r}"
    return last


def labelled_frames(n: int = 12, element: str = "Cu", a0: float = 3.61, seed: int = 0, calc=None):
    """``n`` rattled fcc cells of ``element`` labelled by ASE's EMT (in-process, fast)."""
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator

    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        at = bulk(element, "fcc", a=a0 * (0.97 + 0.005 * k), cubic=True)
        at.positions += rng.normal(0, 0.05, at.positions.shape)
        at.calc = calc or EMT()
        e, f, s = at.get_potential_energy(), at.get_forces(), at.get_stress()
        at.calc = SinglePointCalculator(at, energy=e, forces=f, stress=s)
        at.info["config_type"] = "rattled"
        out.append(at)
    return out


def write_frames(path, frames) -> Path:
    import ase.io

    ase.io.write(str(path), frames, format="extxyz")
    return Path(path)


def gzip_bomb(path, n_bytes: int) -> Path:
    """A gzip file that inflates to ``n_bytes`` of extxyz-looking text (a few kB on disk)."""
    block = b"1\nLattice=\"3 0 0 0 3 0 0 0 3\" Properties=species:S:1:pos:R:3\nCu 0 0 0\n"
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9, mtime=0) as gz:
        chunk = block * (1 << 14)
        left = n_bytes
        while left > 0:
            gz.write(chunk[:left])
            left -= len(chunk)
    Path(path).write_bytes(buf.getvalue())
    return Path(path)


def foreign_sqlite(path) -> Path:
    """Another program's SQLite database (one table ``notes``)."""
    import sqlite3

    con = sqlite3.connect(str(path))
    with con:
        con.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        con.execute("INSERT INTO notes (text) VALUES ('my thesis data')")
    con.close()
    return Path(path)
