"""``revem label``: energies, forces and stresses for a dataset, from DFT (GPAW) or a teacher potential.

**Inputs.**  Whatever the one input loader reads (:func:`revem.data.load_configurations`): a registry
name of the data mirror (``fitsnap-WBe/W/EOS_Data.extxyz.gz``, ``NAME@every=N``), an extxyz file
(optionally ``.gz``), an ASE database, a revem generator database (``revem generate``; species the
placeholder ``X`` at the run's reduced volume v_ref), its export (``revem export``: each frame carries
``revem_v_ref``) or the output of ``revem rescale``.  Placeholder configurations are rescaled to
``--element`` (required for them) exactly as ``revem rescale`` does (seed 000 §5.3; lengths x
(V_El / v_ref)^(1/3), V_El the Materials Project equilibrium volume per atom,
:mod:`revem.generator.rescale`), and the command says so; a generator database gives its accepted
configurations by default (``--include-bootstrap``: the bootstrap rows too).  Every configuration is labelled as a clean copy (numbers, positions, cell,
pbc; no initial magnetic moments or charges), so DFT runs non-spin-polarised whatever the file carries.

**Labellers.**  ``--teacher SPEC``: any potential :func:`revem.potentials.core.load_potential`
resolves (catalog name, card, potential file), as a surrogate ground truth; one calculator per worker,
reused.  ``--dft``: GPAW plane waves (Mortensen et al., J. Chem. Phys. 160, 092503 (2024),
doi:10.1063/5.0182685) through :class:`revem.datasets.dft.DFTSettings`: PBE (doi:10.1103/PhysRevLett.77.3865),
non-spin-polarised, Methfessel–Paxton smearing (order 1; doi:10.1103/PhysRevB.40.3616), a Γ-centred
Monkhorst–Pack mesh from a k-point *density* (points per Å⁻¹ of reciprocal length, 2π included), so
small and strongly triclinic cells get meshes proportional to their reciprocal lengths.  Defaults
(``DFTSettings``): 400 eV cutoff, density 4.0 Å (k spacing 0.25 Å⁻¹ in VASP's KSPACING units),
0.2 eV width, SCF energy 1e-5 eV per valence electron; seed 000 §5.4 used VASP with 700 eV, a k
spacing of 0.125 Å⁻¹ (density 8), 0.1 eV and 1e-6 eV (``--ecut 700 --kpts-density 8
--smearing-width 0.1`` comes close; the SCF criteria differ in form).  A fresh GPAW calculator is
made for every configuration: reusing one would start the SCF from the previous configuration's
wave functions and make the labels depend on the order of the work.

**Labels (units).**  ``energy`` eV (ASE's ``get_potential_energy``: for GPAW the energy extrapolated
to zero smearing width), ``free_energy`` eV where the calculator gives one (the energy the forces
are derivatives of), ``forces`` eV/Å, ``stress`` eV/Å³ (ASE Voigt order xx yy zz yz xz xy, positive
= tensile; only for fully periodic cells).  Per configuration, in ``atoms.info``: ``label_source``,
``label_source_index`` (row id of a database, frame index of an extxyz file), ``label_labeller``,
``label_labeller_hash``, ``label_settings`` (JSON of what the hash covers), ``label_wall_s`` and
``label_cpu_s`` (s; CPU time of the labelling thread), and for DFT ``label_scf_converged``,
``label_scf_iterations``, ``label_kpts_mesh``.  Written by ASE's extxyz writer (floats of per-atom
arrays at 8 decimals); the progress file keeps every number at full double precision.
``OUT.summary.json`` holds the full provenance (for DFT :meth:`revem.datasets.dft.DFTSettings.as_provenance`:
GPAW version, PAW dataset files with sha256) and the summary.

**Resuming.**  Each finished configuration (labels, or failure and reason) is appended as one JSON
line to ``OUT.progress.jsonl`` and fsync'ed before the next is recorded; its key is the source index,
a sha256 of the labelled structure and a sha256 of the labeller settings (potential files and
commands; or the DFT settings, GPAW version and PAW datasets).  A run killed at any moment (SIGKILL
included, inside a write too: a torn last line is cut off, or kept when it is a whole record) restarts
where it stopped when the same command is run again, and gives the same labels bit for bit as a run
never interrupted (the labels of a configuration do not depend on which others a worker did before,
checked in ``tests/test_labelling.py`` and ``tests/test_hostile_datasets.py``).  A damaged line (not
JSON, or not a valid record) is skipped and reported with its line number; every later line is kept,
so only that configuration is labelled again.  A different labeller, a different element or a changed
input (another structure under a recorded source index) is refused.  One run writes an ``--out`` at a
time: a lock ``OUT.progress.jsonl.lock`` (``flock``, released by the kernel when its process dies)
names its owner (host, PID; :class:`revem.generator.locking.Owner`), and a second run is refused
naming it.  The output extxyz is rewritten from the progress file, in input order, at the end of every
run, through a temporary file renamed into place; info values that extxyz cannot carry (newlines, ...)
are escaped or dropped and said so (:func:`revem.safe_io.write_extxyz`).

**Inputs are read within bounds and never written** (:mod:`revem.safe_io`): regular files only,
``REVEM_MAX_READ_BYTES`` decompressed bytes and ``REVEM_MAX_FRAMES`` frames; databases are opened
read-only (an SQLite file that is neither an ASE nor a revem database is refused untouched); a
generator database's ``v_ref`` must be finite and > 0.  ``--out`` is never the input, a directory, or
an existing file without its progress file.

**Failures.**  A calculator exception, non-finite results or a GPAW SCF that does not converge is
recorded with its reason and left out of the output (seed 000 lost 1–8 of ~30,349 configurations
per element to non-convergence); ``--retry-failed`` tries them again.  Configurations above
``--max-atoms`` (or without atoms, or with non-finite coordinates) are refused with a reason and
not recorded, so a later run with a larger cap labels them.

**Parallelism.**  ``--workers N``: a local process pool (spawned processes, BLAS/OpenMP threads
pinned to 1); ``--dask ADDRESS``: the tasks go to a dask.distributed scheduler (the workers need
revem installed and, for a potential file or card, the same path).  The progress bar's ETA is the
measured wall time per atom times the atoms left (mean since start); its postfix gives the CPU
cost per atom, s/atom.

Disclaimers: the cost per atom is a linear model; DFT cost grows faster than linearly with the
number of atoms, so the ETA of a set with a broad size distribution is approximate.  Labels of a
teacher potential are a surrogate ground truth, not DFT.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

FORMAT = "revem-label-progress"
FORMAT_VERSION = 1
DEFAULT_MAX_ATOMS = 500
EXTXYZ_SUFFIXES = (".extxyz", ".extxyz.gz", ".xyz", ".xyz.gz")
#: test-only hook: after recording this many configurations in one run, the process stops
#: (sleeps) so that a test can SIGKILL it at a known point.  Never set it outside the test suite.
STALL_ENV = "REVEM_TEST_LABEL_STALL_AFTER"
#: test-only hook: the N-th record of a run is written half, fsync'ed, and the process kills itself (SIGKILL)
#: inside that write, as a power cut or ``kill -9`` at the worst moment would.  Never set it outside the tests.
KILL_ENV = "REVEM_TEST_LABEL_KILL_IN_WRITE"
#: ``atoms.info`` keys of an input frame that are labels of its own and not carried to the output
_DROPPED_INFO = {"energy", "free_energy", "stress", "virial", "forces"}


class LabelError(ValueError):
    """Input or options that ``revem label`` refuses; the message names the file or option."""


# ------------------------------------------------------------------------------- input
@dataclass
class Config:
    """One configuration to label: a clean, rescaled structure and where it came from."""

    source_index: int  # row id of a database, frame index of an extxyz file
    atoms: object  # ase.Atoms (numbers, positions, cell, pbc only)
    info: dict = field(default_factory=dict)  # carried to the output frame
    structure_hash: str = ""


def structure_hash(atoms) -> str:
    """sha256 of numbers (int64), positions and cell (float64, Å) and pbc: exact, bit for bit."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(atoms.numbers, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(atoms.positions, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(atoms.cell.array, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(atoms.pbc, dtype=bool).tobytes())
    return h.hexdigest()


def _clean(atoms):
    from ase import Atoms

    return Atoms(numbers=np.array(atoms.numbers), positions=np.array(atoms.positions, dtype=float),
                 cell=np.array(atoms.cell.array, dtype=float), pbc=np.array(atoms.pbc))


def _plain(v):
    """An info value extxyz can write (numpy scalars to Python; others left as they are)."""
    if isinstance(v, np.generic):
        return v.item()
    return v


def read_configurations(path: str, element: str | None = None, include_bootstrap: bool = False) -> tuple[list, dict]:
    """``(configs, meta)`` of an input; :class:`LabelError` naming it for anything it cannot use.

    Read through the one input loader (:func:`revem.data.load_configurations`): a registry name
    (``NAME@every=N`` too), an extxyz(.gz) file, an ASE database, a revem generator database or its export
    (placeholder species X, rescaled to ``element`` exactly as ``revem rescale`` does; without ``element`` they
    are refused), or the output of ``revem rescale``.  ``meta``: ``kind`` ('revem-db', 'rescaled-db', 'ase-db',
    'ase-json', 'extxyz'), ``input`` (the path, or the registry name), and for placeholder frames rescaled here
    ``v_ref`` (Å³/atom), ``element``, ``length_factor``, ``rescaled_here``.  Every read is bounded and
    read-only (:mod:`revem.safe_io`)."""
    from ..data import load_configurations
    from ..safe_io import Refused

    p = str(path)
    try:
        src = load_configurations(p, element, include_bootstrap=include_bootstrap, what="input")
    except Refused as exc:
        raise LabelError(str(exc)) from None
    gen = src.kind == "revem-db"
    if src.placeholder:
        raise LabelError(f"input {p} holds the placeholder species X of a revem generator "
                         f"{'database' if gen else 'export'} (v_ref = {src.v_ref:g} Å³/atom): pass --element El to "
                         "rescale it to an element (as revem rescale does)")
    if not src.frames:
        raise LabelError(f"input {p} holds no configurations"
                         + (" (accepted; --include-bootstrap adds the bootstrap rows)"
                            if src.kind in ("revem-db", "rescaled-db") and not include_bootstrap else ""))
    if element is not None and not src.rescaled_here:
        species = src.elements()
        if species != [element]:
            raise LabelError(f"--element {element} rescales a revem generator database or export; {p} is a "
                             f"{src.kind} of {', '.join(species)} (leave --element out)")
    configs = []
    for idx, a in zip(src.index, src.frames):
        info = {k: _plain(v) for k, v in a.info.items()
                if k not in _DROPPED_INFO and not k.startswith("label_") and _scalar_or_str(v)}
        configs.append(Config(int(idx), _clean(a), info))
    for c in configs:
        c.structure_hash = structure_hash(c.atoms)
    meta = {"kind": src.kind, "input": os.path.abspath(p) if os.path.lexists(p) else p, "description": src.describe()}
    if src.rescaled_here or src.kind == "rescaled-db":
        meta.update(v_ref=src.meta.get("v_ref"), element=src.element,
                    length_factor=src.length_factor, rescaled_here=src.rescaled_here)
    return configs, meta


def _scalar_or_str(v) -> bool:
    return isinstance(v, (str, bool, int, float, np.integer, np.floating, np.bool_))


# ------------------------------------------------------------------------------- labellers
def teacher_spec(spec: str) -> dict:
    """The labeller description passed to the workers for a potential (a file spec made absolute)."""
    s = str(spec)
    from ..potentials.core import catalog

    if s not in catalog() and os.path.exists(s):
        s = os.path.abspath(s)
    return {"kind": "teacher", "spec": s}


def dft_spec(ecut_eV: float | None = None, kpts_density_per_A: float | None = None,
             smearing_width_eV: float | None = None, scf_maxiter: int | None = None) -> dict:
    """The labeller description for GPAW: :class:`revem.datasets.dft.DFTSettings` defaults with the overrides."""
    from .dft import DFTSettings

    over = {k: float(v) for k, v in {"ecut_eV": ecut_eV, "kpts_density_per_A": kpts_density_per_A,
                                     "smearing_width_eV": smearing_width_eV}.items() if v is not None}
    if scf_maxiter is not None:
        over["extra"] = (("maxiter", int(scf_maxiter)),)
    s = DFTSettings(**over)
    return {"kind": "dft", "settings": asdict(s)}


def _dft_settings(spec: dict):
    from .dft import DFTSettings

    d = dict(spec["settings"])
    d["extra"] = tuple(tuple(x) for x in d.get("extra", ()))
    if d.get("kpts_mesh") is not None:
        d["kpts_mesh"] = tuple(d["kpts_mesh"])
    return DFTSettings(**d)


def identity(spec: dict, elements) -> tuple[dict, dict, str]:
    """``(provenance, settings, hash)`` of a labeller: ``settings`` is what the hash covers (everything
    that changes the labels), ``provenance`` adds names, citations and versions.  Raises LabelError for
    a potential that cannot be loaded or does not cover ``elements``; DFTUnavailable without GPAW."""
    elements = sorted(set(elements))
    if spec["kind"] == "teacher":
        from ..potentials import PotentialError
        from ..potentials.core import load_potential

        try:
            pot = load_potential(spec["spec"])
        except (PotentialError, OSError, ValueError) as exc:
            raise LabelError(f"--teacher {spec['spec']}: {exc}") from None
        missing = [el for el in elements if el not in pot.elements]
        if missing:
            raise LabelError(f"--teacher {pot.name} covers {', '.join(pot.elements)}, not "
                             f"{', '.join(missing)} of the input")
        settings = {"kind": "teacher", "potential_kind": pot.kind, "file_hash": pot.file_hash}
        prov = {**settings, "name": pot.name, "spec": spec["spec"], "elements": list(pot.elements),
                "citation": pot.citation, "source": pot.source}
    elif spec["kind"] == "dft":
        from .dft import paw_setup_info

        s = _dft_settings(spec)
        full = s.as_provenance(tuple(elements))
        settings = {"kind": "dft", **{k: v for k, v in asdict(s).items() if k != "extra"},
                    "extra": [[k, repr(v)] for k, v in s.extra], "gpaw_version": full["gpaw_version"],
                    "paw_sha256": {el: paw_setup_info(el, s.xc, s.setups)["sha256"] for el in elements}}
        prov = {**full, "kind": "dft", "name": f"GPAW {s.xc} PW{s.ecut_eV:g}"}
    else:
        raise LabelError(f"unknown labeller kind {spec['kind']!r}")
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
    return prov, settings, h


_LOCAL = threading.local()  # per worker thread: the calculator (teacher) or factory (DFT) of a labeller


def _pin_threads() -> None:
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(k, "1")


def _labeller(spec: dict):
    key = json.dumps(spec, sort_keys=True)
    cache = getattr(_LOCAL, "cache", None)
    if cache is None or cache[0] != key:
        if spec["kind"] == "teacher":
            from ..potentials.core import load_potential

            obj = load_potential(spec["spec"]).calculator()
        else:
            from .dft import gpaw_calculator

            obj = gpaw_calculator(_dft_settings(spec))
        _LOCAL.cache = cache = (key, obj)
    return cache[1]


def _forget_labeller() -> None:
    _LOCAL.cache = None


def label_task(spec: dict, index: int, numbers, positions, cell, pbc) -> dict:
    """Label one configuration (runs in a worker): a record with the labels or the failure reason,
    wall and CPU time (s).  Never raises for a calculator problem; that is a recorded failure."""
    from ase import Atoms
    from threadpoolctl import threadpool_limits

    atoms = Atoms(numbers=numbers, positions=positions, cell=cell, pbc=pbc)
    rec = {"index": int(index), "n_atoms": len(atoms)}
    calc = obj = None
    t0, c0 = time.perf_counter(), time.thread_time()
    # the labeller is made once per worker thread, its set-up time kept apart; one that cannot be made
    # raises (that is not a property of this configuration: the run stops, nothing is recorded)
    with threadpool_limits(1):
        obj = _labeller(spec)
    setup = (time.perf_counter() - t0, time.thread_time() - c0)
    if setup[0] > 1e-3:
        rec["setup_wall_s"], rec["setup_cpu_s"] = setup
    t0, c0 = time.perf_counter(), time.thread_time()
    try:
        with threadpool_limits(1):
            calc = obj if spec["kind"] == "teacher" else obj()  # DFT: a fresh calculator each time
            atoms.calc = calc
            e = float(atoms.get_potential_energy())
            f = np.array(atoms.get_forces(), dtype=float)
            s = np.array(atoms.get_stress(voigt=True), dtype=float) if atoms.pbc.all() else None
            try:
                fe = float(atoms.get_potential_energy(force_consistent=True))
            except Exception:  # noqa: BLE001 (PropertyNotImplementedError & co.: no free energy)
                fe = None
        bad = [n for n, v in (("energy", e), ("forces", f), ("stress", s), ("free_energy", fe))
               if v is not None and not np.all(np.isfinite(v))]
        if bad:
            raise FloatingPointError(f"non-finite {', '.join(bad)}")
        rec.update(status="ok", energy=e, free_energy=fe, forces=f.tolist(),
                   stress=None if s is None else s.tolist())
        if spec["kind"] == "dft":
            rec.update(scf_converged=True, scf_iterations=_scf_iterations(calc), kpts_mesh=_kpts_mesh(spec, atoms))
    except Exception as exc:  # noqa: BLE001 (any calculator failure is a recorded result)
        rec.update(status="failed", reason=_reason(spec, exc, calc))
        if spec["kind"] == "dft":
            rec.update(scf_converged=False if _is_scf_failure(exc) else None, scf_iterations=_scf_iterations(calc))
        else:
            _forget_labeller()  # a calculator that raised may hold a broken state: build a new one
    finally:
        atoms.calc = None
        if spec["kind"] == "dft":
            calc = None
    rec["wall_s"] = time.perf_counter() - t0
    rec["cpu_s"] = time.thread_time() - c0
    return rec


def _is_scf_failure(exc) -> bool:
    try:
        from gpaw import ConvergenceError
    except ImportError:
        return False
    return isinstance(exc, ConvergenceError)


def _reason(spec, exc, calc) -> str:
    if spec["kind"] == "dft" and _is_scf_failure(exc):
        n = _scf_iterations(calc)
        return f"SCF not converged{f' after {n} iterations' if n else ''} ({type(exc).__name__})"
    msg = " ".join(str(exc).split())[:500]
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def _scf_iterations(calc) -> int | None:
    if calc is None:
        return None
    try:
        return int(calc.dft.scf_loop.niter)
    except Exception:  # noqa: BLE001 (old GPAW, or no SCF run)
        try:
            return int(calc.get_number_of_iterations())
        except Exception:  # noqa: BLE001
            return None


def _kpts_mesh(spec, atoms) -> list[int] | None:
    from .dft import density_mesh

    s = _dft_settings(spec)
    return list(s.kpts_mesh) if s.kpts_mesh else list(density_mesh(s, atoms))


# ------------------------------------------------------------------------------- progress store
class ProgressStore:
    """The append-only JSON-lines record of a labelling run (``OUT.progress.jsonl``).

    Line 1: the header (format, labeller hash and provenance, input).  Every further line: one
    finished configuration.  Each line is written with a single ``write``, flushed and fsync'ed.  On
    opening, every valid record is kept: a damaged line (not JSON, or not a record of this format) is
    skipped and listed in :attr:`damaged` (its line number and why), the lines after it are kept; a last
    line without its newline (a write cut short by a kill) is kept when it is a complete record and
    completed with the newline, and cut off otherwise (:attr:`torn`).  The file is read within the limits
    of :mod:`revem.safe_io` (a regular file, ``REVEM_MAX_READ_BYTES``).
    """

    def __init__(self, path: str, header: dict):
        self.path = path
        self.records: dict[int, dict] = {}
        self.damaged: list[tuple[int, str]] = []
        self.torn: str | None = None
        if os.path.lexists(path):
            self._load(header)
        if not os.path.exists(path) or (not self.records and not self.damaged and self.header != header):
            # new, or only the header of a run that recorded nothing (nothing to protect): (re)write it
            from ..safe_io import atomic_file

            text = json.dumps(header, sort_keys=True) + "\n"
            atomic_file(path, lambda tmp: Path(tmp).write_text(text), "--out")  # never a file without its header
            _fsync_dir(path)
            self.header = header
        self.fh = open(path, "a")  # noqa: SIM115 (kept open for the run; closed by close())

    def _load(self, header: dict) -> None:
        from ..safe_io import Refused, read_bytes

        try:
            data = read_bytes(self.path, "progress file")
        except Refused as exc:
            raise LabelError(str(exc)) from None
        lines = data.split(b"\n")
        tail = lines.pop()  # after the last newline: empty, or a line cut short
        try:  # a header always ends with its newline (written whole, then renamed into place)
            first = json.loads(lines[0]) if lines else None
        except (ValueError, UnicodeDecodeError, RecursionError):
            first = None
        if not isinstance(first, dict) or first.get("format") != FORMAT:
            raise LabelError(f"{self.path} is not a revem label progress file (unreadable header)")
        if first.get("version") != FORMAT_VERSION:
            raise LabelError(f"{self.path}: progress format version {first.get('version')} (this revem writes "
                             f"{FORMAT_VERSION}); label into a new --out")
        if not all(isinstance(first.get(k), t) for k, t in (("labeller_hash", str), ("labeller_settings", dict),
                                                             ("labeller", dict), ("input", str))):
            raise LabelError(f"{self.path} is not a revem label progress file (damaged header)")
        old = first
        records = []
        for no, line in enumerate(lines[1:], start=2):
            why = _record_problem(line, old["labeller_hash"])
            if why:
                self.damaged.append((no, why))
            else:
                records.append(json.loads(line))
        if tail and lines:  # a write cut short: keep it when it is a whole record, else cut it off
            if _record_problem(tail, old["labeller_hash"]) is None:
                records.append(json.loads(tail))
                with open(self.path, "ab") as fh:
                    fh.write(b"\n")
                    fh.flush()
                    os.fsync(fh.fileno())
                self.torn = "kept (a complete record without its newline)"
            else:
                with open(self.path, "r+b") as fh:
                    fh.truncate(len(data) - len(tail))
                    fh.flush()
                    os.fsync(fh.fileno())
                self.torn = f"cut off (an incomplete write of {len(tail)} bytes)"
        if old["labeller_hash"] != header["labeller_hash"] and (records or self.damaged):
            diff = sorted(k for k in set(old["labeller_settings"]) | set(header["labeller_settings"])
                          if old["labeller_settings"].get(k) != header["labeller_settings"].get(k))
            raise LabelError(
                f"{self.path} was written with different labeller settings ({old['labeller'].get('name')}, hash "
                f"{old['labeller_hash'][:12]}; now {header['labeller']['name']}, hash "
                f"{header['labeller_hash'][:12]}; differing: {', '.join(diff)}): resume with the same settings, "
                "or label into a new --out")
        self.header = old
        for r in records:
            self.records[int(r["index"])] = r  # a later line (--retry-failed) replaces an earlier one

    def damage_report(self) -> str | None:
        """One line on the damaged lines skipped and a torn last line, or None."""
        parts = []
        if self.damaged:
            shown = ", ".join(f"{no} ({why})" for no, why in self.damaged[:5])
            more = f" and {len(self.damaged) - 5} more" if len(self.damaged) > 5 else ""
            parts.append(f"skipped {len(self.damaged)} damaged line(s): line {shown}{more}; every later line was kept")
        if self.torn:
            parts.append(f"its last line was {self.torn}")
        return f"{self.path}: " + "; ".join(parts) if parts else None

    def append(self, rec: dict) -> None:
        line = json.dumps(rec, sort_keys=True, allow_nan=False) + "\n"
        kill_at = os.environ.get(KILL_ENV)
        if kill_at:  # test hook (KILL_ENV): die inside the N-th write, half of the line on disk
            self._appended = getattr(self, "_appended", 0) + 1
            if self._appended == int(kill_at):
                self.fh.write(line[: len(line) // 2])
                self.fh.flush()
                os.fsync(self.fh.fileno())
                import signal

                os.kill(os.getpid(), signal.SIGKILL)
                time.sleep(60)
        self.fh.write(line)
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.records[int(rec["index"])] = rec

    def close(self) -> None:
        self.fh.close()


def _record_problem(line: bytes, labeller_hash: str) -> str | None:
    """Why a progress line is not a usable record of this labeller (None when it is one)."""
    try:
        r = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return "not JSON"
    if not isinstance(r, dict):
        return "not a record"
    idx = r.get("index")
    if isinstance(idx, bool) or not isinstance(idx, int) or idx < 0:
        return "no configuration index"
    if r.get("labeller_hash") != labeller_hash:
        return f"a record of another labeller (index {idx})"
    if not isinstance(r.get("structure_hash"), str) or r.get("status") not in ("ok", "failed"):
        return f"not a record of this format (index {idx})"
    n = r.get("n_atoms")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        return f"no atom count (index {idx})"
    for k in ("wall_s", "cpu_s"):
        if isinstance(r.get(k), bool) or not isinstance(r.get(k), (int, float)) or not math.isfinite(r[k]):
            return f"no {k} (index {idx})"
    if r["status"] == "failed":
        return None if isinstance(r.get("reason"), str) else f"a failure without its reason (index {idx})"
    e = r.get("energy")
    if isinstance(e, bool) or not isinstance(e, (int, float)) or not math.isfinite(e):
        return f"no finite energy (index {idx})"
    try:
        f = np.asarray(r.get("forces"), dtype=float)
        s = None if r.get("stress") is None else np.asarray(r["stress"], dtype=float)
        fe = r.get("free_energy")
        fe = None if fe is None else float(fe)
    except (TypeError, ValueError):
        return f"labels that are not numbers (index {idx})"
    if f.shape != (n, 3) or not np.all(np.isfinite(f)):
        return f"forces not a finite ({n}, 3) array (index {idx})"
    if s is not None and (s.shape != (6,) or not np.all(np.isfinite(s))):
        return f"stress not 6 finite numbers (index {idx})"
    if fe is not None and not math.isfinite(fe):
        return f"non-finite free energy (index {idx})"
    return None


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def progress_path(out: str) -> str:
    return f"{out}.progress.jsonl"


def summary_path(out: str) -> str:
    return f"{out}.summary.json"


# ------------------------------------------------------------------------------- running
def _refusal(c: Config, max_atoms: int) -> str | None:
    n = len(c.atoms)
    if n == 0:
        return "no atoms"
    if n > max_atoms:
        return f"{n} atoms > --max-atoms {max_atoms}"
    if not (np.all(np.isfinite(c.atoms.positions)) and np.all(np.isfinite(c.atoms.cell.array))):
        return "non-finite positions or cell"
    return None


def _args_of(spec, c: Config) -> tuple:
    a = c.atoms
    return (spec, c.source_index, a.numbers.copy(), a.positions.copy(), a.cell.array.copy(), a.pbc.copy())


def _run_serial(spec, todo, on_result) -> None:
    for c in todo:
        on_result(label_task(*_args_of(spec, c)))


def _init_pool_worker(parent: int) -> None:
    """Pinned threads, and a watchdog that ends the worker when its launcher is gone (a SIGKILLed
    launcher would otherwise leave its pool workers behind)."""
    _pin_threads()

    def watch():
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True, name="revem-label-watchdog").start()


def _run_pool(spec, todo, workers, on_result) -> None:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    _pin_threads()  # inherited by the spawned workers before they import numpy
    ex = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                             initializer=_init_pool_worker, initargs=(os.getpid(),))
    try:
        futs = [ex.submit(label_task, *_args_of(spec, c)) for c in todo]
        for fut in as_completed(futs):
            on_result(fut.result())
    except BaseException:  # interrupted: do not wait for the running calculations
        ex.shutdown(wait=False, cancel_futures=True)
        raise
    ex.shutdown(wait=True)


def _run_dask(spec, todo, client, on_result) -> None:
    """The tasks on a connected ``dask.distributed`` Client (:func:`revem.safe_io.connect_scheduler`)."""
    from distributed import as_completed

    futs = [client.submit(label_task, *_args_of(spec, c), pure=False) for c in todo]
    for fut in as_completed(futs):
        on_result(fut.result())


class WorkersDied(RuntimeError):
    """A worker died or the labeller could not be made (the finished configurations are saved; run
    again to resume)."""


def label(input_path: str, out: str, spec: dict, element: str | None = None, workers: int = 1,
          dask_address: str | None = None, max_atoms: int = DEFAULT_MAX_ATOMS, include_bootstrap: bool = False,
          retry_failed: bool = False, progress: bool = True, log=None) -> dict:
    """Label ``input_path`` into the extxyz ``out`` (resuming from ``OUT.progress.jsonl``); returns the
    summary (also written to ``OUT.summary.json``).  LabelError for refused input or options (checked before
    any work: ``out`` is not the input, not a directory, not an existing file without its progress file);
    :class:`revem.safe_io.LockHeld` when another live process labels into the same ``out``."""
    from ..generator.storage import StoreError, check_directory
    from ..safe_io import LockHeld, Refused, output_lock

    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    t_start = time.perf_counter()
    out = str(out)
    if not out.endswith(EXTXYZ_SUFFIXES):
        raise LabelError(f"--out {out}: the output is extxyz; name it *.extxyz or *.xyz (optionally .gz)")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise LabelError(f"--workers must be a whole number >= 1 (got {workers!r})")
    if isinstance(max_atoms, bool) or not isinstance(max_atoms, int) or max_atoms < 1:
        raise LabelError(f"--max-atoms must be a whole number >= 1 (got {max_atoms!r})")
    if os.path.isdir(out):
        raise LabelError(f"--out {out} is a directory; name the output file")
    try:
        check_directory(out)
    except StoreError as exc:
        raise LabelError(str(exc)) from None
    prog = progress_path(out)
    for own in (out, prog, summary_path(out)):
        if os.path.lexists(input_path) and os.path.lexists(own) and (
                os.path.abspath(own) == os.path.abspath(input_path) or _samefile(own, input_path)):
            raise LabelError(f"--out {out}: {'it' if own == out else own} is the input file")
    if os.path.abspath(out) == os.path.abspath(input_path):
        raise LabelError(f"--out {out} is the input file")
    for own in (prog, summary_path(out)):
        if os.path.lexists(own) and not os.path.isfile(own):
            raise LabelError(f"--out {out}: {own} exists and is not a regular file")
    if os.path.lexists(out) and not os.path.exists(prog):
        raise LabelError(f"{out} exists and there is no progress file {prog} to resume from; "
                         "remove it or choose another --out")
    if os.path.lexists(summary_path(out)) and not os.path.exists(prog):
        raise LabelError(f"{summary_path(out)} exists and there is no progress file {prog}: it is not revem's; "
                         "remove it or choose another --out")
    configs, meta = read_configurations(input_path, element, include_bootstrap)
    elements = sorted({s for c in configs for s in c.atoms.get_chemical_symbols()})
    prov, settings, lhash = identity(spec, elements)
    client = None
    if dask_address:  # reached (or refused within seconds) before the lock or the progress file exist
        from ..safe_io import connect_scheduler

        try:
            client = connect_scheduler(dask_address, "--dask")
        except Refused as exc:
            raise LabelError(str(exc)) from None
    if meta.get("rescaled_here"):
        log(f"revem label: {input_path}: placeholder species X at v_ref = {meta['v_ref']:g} Å³/atom rescaled to "
            f"{meta['element']} as revem rescale does (lengths x {meta['length_factor']:.6f})")
    header = {"format": FORMAT, "version": FORMAT_VERSION, "labeller_hash": lhash, "labeller_settings": settings,
              "labeller": prov, "input": meta["input"], "input_kind": meta["kind"],
              "element": element, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    try:
        lock = output_lock(prog, "--out")
        lock.__enter__()
    except (LockHeld, Refused) as exc:
        if client is not None:
            client.close()
        if isinstance(exc, LockHeld):
            raise
        raise LabelError(str(exc)) from None
    try:
        store = ProgressStore(prog, header)
        try:
            report = store.damage_report()
            if report:
                log(f"revem label: {report}")
            by_index = {c.source_index: c for c in configs}
            for idx, r in store.records.items():
                c = by_index.get(idx)
                if c is not None and r["structure_hash"] != c.structure_hash:
                    raise LabelError(f"{prog} belongs to another input: configuration {idx} of {input_path} differs "
                                     f"from the one recorded (input of the progress file: {store.header['input']}; "
                                     "another --element or a changed file?); label into a new --out")
            refused = {}
            todo = []
            for c in configs:
                why = _refusal(c, max_atoms)
                if why:
                    refused[c.source_index] = why
                    continue
                r = store.records.get(c.source_index)
                if r is None or (retry_failed and r["status"] != "ok"):
                    todo.append(c)
            todo_idx = {c.source_index for c in todo}
            n_done = sum(1 for c in configs if c.source_index in store.records and c.source_index not in todo_idx)
            if n_done:
                log(f"revem label: resuming from {prog}: {n_done} of {len(configs)} configurations done")
            log(f"revem label: {len(todo)} configurations ({sum(len(c.atoms) for c in todo)} atoms) to label with "
                f"{prov['name']}" + (f", {len(refused)} refused" if refused else "")
                + (f" on {dask_address}" if dask_address else f" on {workers} worker(s)"))
            _label_todo(store, spec, lhash, todo, workers, client, progress)
        finally:
            store.close()
        summary = _finish(out, input_path, meta, configs, store, refused, prov, lhash, element, log)
        summary["this_run"] = {"labelled": len(todo), "wall_s": round(time.perf_counter() - t_start, 3)}
        if report:
            summary["progress_damage"] = report
        _write_json(summary_path(out), summary)
    finally:
        lock.__exit__(None, None, None)
        if client is not None:
            client.close()
    return summary


def _samefile(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _label_todo(store, spec, lhash, todo, workers, client, progress) -> None:
    by_index = {c.source_index: c for c in todo}
    stall = int(os.environ.get(STALL_ENV) or 0)
    bar = None
    if progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=sum(len(c.atoms) for c in todo), unit="atom", file=sys.stderr, smoothing=0,
                   desc="revem label", dynamic_ncols=True)
    state = {"n": 0, "ok": 0, "failed": 0, "cpu": 0.0, "atoms": 0}

    def on_result(rec: dict) -> None:
        c = by_index[rec["index"]]
        rec["structure_hash"] = c.structure_hash
        rec["labeller_hash"] = lhash
        store.append(rec)
        state["n"] += 1
        state["ok" if rec["status"] == "ok" else "failed"] += 1
        state["cpu"] += rec["cpu_s"]
        state["atoms"] += rec["n_atoms"]
        if bar is not None:
            bar.update(rec["n_atoms"])
            bar.set_postfix_str(f"{state['ok']} ok, {state['failed']} failed, "
                                f"{state['cpu'] / max(state['atoms'], 1):.3g} CPU s/atom", refresh=False)
        if stall and state["n"] == stall:  # test hook (STALL_ENV)
            time.sleep(3600)

    try:
        if not todo:
            return
        if client is not None:
            _run_dask(spec, todo, client, on_result)
        elif workers > 1 and len(todo) > 1:
            from concurrent.futures.process import BrokenProcessPool

            try:
                _run_pool(spec, todo, min(workers, len(todo)), on_result)
            except BrokenProcessPool as exc:
                raise WorkersDied(f"a worker process died ({exc}); the {state['n']} configurations finished "
                                  f"in this run are saved in {store.path}: run the same command again to resume") from None
        else:
            _run_serial(spec, todo, on_result)
    except (LabelError, WorkersDied, KeyboardInterrupt):
        raise
    except Exception as exc:  # the labeller cannot be made, a dask worker was lost, ...
        raise WorkersDied(f"labelling stopped: {type(exc).__name__}: {exc}; the {state['n']} configurations "
                          f"finished in this run are saved in {store.path}: run the same command again to resume") from exc
    finally:
        if bar is not None:
            bar.close()


def _finish(out, input_path, meta, configs, store, refused, prov, lhash, element, log=None) -> dict:
    """Write the output extxyz from the progress store (input order; through a temporary file renamed at the
    end, info values that extxyz cannot carry escaped or dropped and said so) and return the summary."""
    from ase.calculators.singlepoint import SinglePointCalculator

    from ..safe_io import atomic_file, write_extxyz

    settings_json = json.dumps(store.header["labeller_settings"], sort_keys=True)
    frames, failures, cost = [], [], {"wall_s": 0.0, "cpu_s": 0.0, "atoms_labelled": 0, "cpu_s_labelled": 0.0}
    for c in configs:
        r = store.records.get(c.source_index)
        if c.source_index in refused:
            failures.append({"source_index": c.source_index, "n_atoms": len(c.atoms),
                             "reason": f"refused: {refused[c.source_index]}", "recorded": False})
            continue
        if r is None:
            continue
        cost["wall_s"] += r["wall_s"]
        cost["cpu_s"] += r["cpu_s"]
        if r["status"] != "ok":
            failures.append({"source_index": c.source_index, "n_atoms": r["n_atoms"], "reason": r["reason"],
                             "recorded": True})
            continue
        cost["atoms_labelled"] += r["n_atoms"]
        cost["cpu_s_labelled"] += r["cpu_s"]
        a = c.atoms.copy()
        a.info = dict(c.info)
        a.info.update(label_source=meta["input"], label_source_index=c.source_index,
                      label_labeller=prov["name"], label_labeller_hash=lhash, label_settings=settings_json,
                      label_wall_s=r["wall_s"], label_cpu_s=r["cpu_s"])
        if "scf_converged" in r:
            a.info.update(label_scf_converged=bool(r["scf_converged"]), label_scf_iterations=r["scf_iterations"],
                          label_kpts_mesh=np.array(r["kpts_mesh"], dtype=int))
        res = {"energy": r["energy"], "forces": np.array(r["forces"], dtype=float)}
        if r.get("free_energy") is not None:
            res["free_energy"] = r["free_energy"]
        if r.get("stress") is not None:
            res["stress"] = np.array(r["stress"], dtype=float)
        a.calc = SinglePointCalculator(a, **res)
        frames.append(a)
    notes: list = []
    atomic_file(out, lambda tmp: notes.extend(write_extxyz(frames, tmp)), "--out")  # never a half-written output
    for n in notes:
        (log or print)(f"revem label: {out}: {n}")
    n_rec = sum(1 for c in configs if c.source_index in store.records and c.source_index not in refused)
    reasons = Counter(_reason_kind(f["reason"]) for f in failures)
    per_atom = cost["cpu_s_labelled"] / cost["atoms_labelled"] if cost["atoms_labelled"] else None
    return {
        "input": meta["input"], "input_kind": meta["kind"], "element": element,
        "length_factor": meta.get("length_factor"), "output": os.path.abspath(out),
        "progress_file": os.path.abspath(store.path), "labeller": prov, "labeller_hash": lhash,
        "n_configs": len(configs), "n_labelled": len(frames),
        "n_failed": sum(1 for f in failures if f["recorded"]), "n_refused": len(refused),
        "n_pending": len(configs) - n_rec - len(refused), "failure_reasons": dict(reasons), "failures": failures,
        "cost": {"wall_s_total": round(cost["wall_s"], 3), "cpu_s_total": round(cost["cpu_s"], 3),
                 "atoms_labelled": cost["atoms_labelled"],
                 "cpu_s_per_atom": None if per_atom is None else round(per_atom, 6),
                 "cpu_s_per_config": round(cost["cpu_s_labelled"] / len(frames), 6) if frames else None},
    }


def _reason_kind(reason: str) -> str:
    """A failure reason without its particulars (for counting): 'SCF not converged', 'BadStructure', ..."""
    if reason.startswith("refused: "):
        r = reason[len("refused: "):]
        return "refused: " + ("--max-atoms" if "--max-atoms" in r else r)
    if reason.startswith("SCF not converged"):
        return "SCF not converged"
    return reason.split(":", 1)[0]


def _write_json(path: str, obj) -> None:
    from ..safe_io import atomic_file

    text = json.dumps(obj, indent=1, default=str)
    atomic_file(path, lambda tmp: Path(tmp).write_text(text), "--out")


def summary_text(s: dict) -> str:
    c = s["cost"]
    lines = [f"revem label: {s['n_labelled']} labelled, {s['n_failed']} failed, {s['n_refused']} refused"
             + (f", {s['n_pending']} pending" if s["n_pending"] else "") + f" of {s['n_configs']} configurations "
             f"({s['labeller']['name']}) -> {s['output']}"]
    for k, n in sorted(s["failure_reasons"].items(), key=lambda kv: -kv[1]):
        ex = next(f for f in s["failures"] if _reason_kind(f["reason"]) == k)
        lines.append(f"  {n} x {k} (e.g. index {ex['source_index']}: {ex['reason'][:160]})")
    per_atom = f"{c['cpu_s_per_atom']:.4g} CPU s/atom" if c["cpu_s_per_atom"] is not None else "no atoms labelled"
    lines.append(f"  cost: {c['wall_s_total']:.4g} s wall, {c['cpu_s_total']:.4g} s CPU in all "
                 f"(labelled: {c['atoms_labelled']} atoms, {per_atom}); this run {s['this_run']['wall_s']:.4g} s")
    return "\n".join(lines)


# ------------------------------------------------------------------------------- CLI
def run(args) -> int:
    from ..safe_io import OutputError, Refused
    from .dft import DFTUnavailable

    dft_opts = {"--ecut": args.ecut, "--kpts-density": args.kpts_density,
                "--smearing-width": args.smearing_width, "--scf-maxiter": args.scf_maxiter}
    try:
        if args.teacher:
            given = [k for k, v in dft_opts.items() if v is not None]
            if given:
                raise LabelError(f"{', '.join(given)} only apply with --dft")
            spec = teacher_spec(args.teacher)
        else:
            spec = dft_spec(args.ecut, args.kpts_density, args.smearing_width, args.scf_maxiter)
        summary = label(args.input, args.out, spec, element=args.element, workers=args.workers,
                        dask_address=args.dask, max_atoms=args.max_atoms, include_bootstrap=args.include_bootstrap,
                        retry_failed=args.retry_failed, progress=not args.no_progress)
    except OutputError as exc:
        print(f"revem label: {exc}", file=sys.stderr)
        return 1
    except (LabelError, Refused) as exc:
        print(f"revem label: {exc}", file=sys.stderr)
        return 2
    except DFTUnavailable as exc:
        print(f"revem label: {exc}", file=sys.stderr)
        return 3
    except WorkersDied as exc:
        print(f"revem label: {exc}", file=sys.stderr)
        return 4
    if args.json:
        print(json.dumps(summary, indent=1, default=str))
    else:
        print(summary_text(summary))
    return 0 if summary["n_labelled"] or not summary["n_configs"] else 1


#: ranges of the numeric options (checked by argparse before any file is touched)
OPTION_RANGES = {"--ecut": (float, 0, 10000.0, " eV"), "--kpts-density": (float, 0, 1000.0, " per A^-1"),
                 "--smearing-width": (float, 0, 10.0, " eV"), "--scf-maxiter": (int, 0, 100000, ""),
                 "--workers": (int, 0, 4096, ""), "--max-atoms": (int, 0, 10_000_000, "")}


def _option(name: str):
    from ..safe_io import arg_number

    kind, lo, hi, unit = OPTION_RANGES[name]
    return arg_number(kind, lo=lo, hi=hi, lo_open=True, unit=unit)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "label", help="energies, forces and stresses of a dataset from GPAW or a teacher potential (resumable)",
        description="Label a revem generator database (rescaled to --element), an ASE database or an extxyz "
                    "file with GPAW plane waves (--dft) or a potential (--teacher). Writes OUT (extxyz: energy eV, "
                    "forces eV/A, stress eV/A^3, provenance), OUT.progress.jsonl (resume by running the same "
                    "command again) and OUT.summary.json. See revem/labelling.py for the method.",
        epilog="exit status: 0 done (failures listed); 1 nothing could be labelled, or an output could not be "
               "written (full disk; nothing half-written); 2 refused (input, options, a resume with other settings, "
               "another live run labelling into the same --out; the message names it); 3 GPAW not installed; "
               "4 a worker died (run again to resume)")
    p.add_argument("input", help="registry name (NAME@every=N), extxyz(.gz) file, ASE database (.db), revem generator "
                   "database or its export (rescaled to --element), or revem rescale output")
    p.add_argument("--out", required=True, help="output extxyz (.extxyz/.xyz, optionally .gz)")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--teacher", default=None, metavar="SPEC",
                     help="potential as labeller: catalog name (revem potentials), card or potential file")
    who.add_argument("--dft", action="store_true", help="GPAW plane-wave DFT (PBE, non-spin-polarised, "
                     "Methfessel-Paxton; revem.datasets.dft.DFTSettings)")
    p.add_argument("--element", default=None, help="element a revem generator database or export (placeholder "
                   "species X) is rescaled to (as revem rescale); required for one")
    p.add_argument("--include-bootstrap", action="store_true", help="generator database: the bootstrap rows too")
    p.add_argument("--ecut", type=_option("--ecut"), default=None, help="--dft: plane-wave cutoff, eV (default 400)")
    p.add_argument("--kpts-density", dest="kpts_density", type=_option("--kpts-density"), default=None,
                   help="--dft: k-points per A^-1 of reciprocal length, 2 pi included (default 4.0)")
    p.add_argument("--smearing-width", dest="smearing_width", type=_option("--smearing-width"), default=None,
                   help="--dft: Methfessel-Paxton width, eV (default 0.2)")
    p.add_argument("--scf-maxiter", dest="scf_maxiter", type=_option("--scf-maxiter"), default=None,
                   help="--dft: SCF iterations before a configuration counts as not converged (default GPAW's)")
    p.add_argument("--workers", type=_option("--workers"), default=1, help="local worker processes (default 1)")
    p.add_argument("--dask", default=None, metavar="ADDRESS", help="dask.distributed scheduler (tcp://host:port); replaces --workers")
    p.add_argument("--max-atoms", dest="max_atoms", type=_option("--max-atoms"), default=DEFAULT_MAX_ATOMS,
                   help=f"refuse configurations with more atoms (default {DEFAULT_MAX_ATOMS})")
    p.add_argument("--retry-failed", action="store_true", help="label the recorded failures again")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)
