"""The state of one validation run: its cache of computed results and its structure recorders.

A :class:`Session` belongs to a run (a pytest session, a :func:`revem.validate` call, or a
:class:`~revem.validation.target.Target` used on its own) and is handed to the protocols through
their target: nothing of a run lives in module globals.

* **Cache.** :meth:`Session.memo` computes a result once per key -- the protocols key their shared steps
  by (potential content, element, case, tier, protocol version): the relaxed ground state, the EOS of
  the base lattice, a relaxed supercell -- and returns the cached result afterwards.
* **Recorders.** Every structure a target's calculator accepts is shown to the recorders on the
  session's stack (:meth:`Session.observe`); the run pushes one per case to label the case's coverage
  (:mod:`revem.validation.coverage`).  A cached step remembers the structures it evaluated and shows
  them again to whoever asks for it later (:meth:`Recorder.replay`), so a case whose numbers were
  computed by an earlier case records the same structures.
"""
from __future__ import annotations

import hashlib
import random
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

RECORD_KEEP = 10  # structures kept per recorder besides the first and the last (uniform reservoir)
MAX_RECORD_ATOMS = 20000  # structures larger than this are counted, not kept
SEED = 0


@dataclass
class Snapshot:
    numbers: np.ndarray
    positions: np.ndarray
    cell: np.ndarray
    pbc: np.ndarray

    def atoms(self):
        from ase import Atoms

        return Atoms(numbers=self.numbers, positions=self.positions, cell=self.cell, pbc=self.pbc)


@dataclass(frozen=True)
class RecordedStructures:
    """The structures a computation evaluated, as its :class:`Recorder` kept them (first, reservoir,
    last: at most ``RECORD_KEEP`` + 2) and how many it saw in all."""

    structures: tuple = ()
    n_seen: int = 0
    n_too_large: int = 0


class Recorder:
    """Keeps the first, the last and a seeded uniform reservoir of ``keep`` of the distinct structures
    it is shown (consecutive duplicates are counted once)."""

    def __init__(self, keep: int = RECORD_KEEP, seed: int = SEED, max_atoms: int = MAX_RECORD_ATOMS):
        self.keep, self.max_atoms = keep, max_atoms
        self._rng = random.Random(seed)
        self.first: Snapshot | None = None
        self.last: Snapshot | None = None
        self.reservoir: list[Snapshot] = []
        self.n_seen = 0  # distinct structures seen
        self.n_too_large = 0
        self._n_middle = 0
        self._last_key = None

    def __call__(self, atoms) -> None:
        if len(atoms) > self.max_atoms:
            self.n_too_large += 1
            return
        self.add(Snapshot(np.array(atoms.numbers), np.array(atoms.positions, float),
                          np.array(atoms.cell.array, float), np.array(atoms.pbc, bool)))

    def add(self, snap: Snapshot) -> bool:
        """Show one snapshot (as :meth:`__call__` does an Atoms); False when it repeats the previous one."""
        h = hashlib.blake2b(digest_size=16)
        for a in (snap.numbers, snap.positions, snap.cell, snap.pbc):
            h.update(np.ascontiguousarray(a).tobytes())
        key = h.digest()
        if key == self._last_key:
            return False
        self._last_key = key
        self.n_seen += 1
        if self.first is None:
            self.first = snap
            return True
        if self.last is not None:  # the previous last joins the middle: uniform reservoir over the middle
            self._n_middle += 1
            if len(self.reservoir) < self.keep:
                self.reservoir.append(self.last)
            else:
                j = self._rng.randrange(self._n_middle)
                if j < self.keep:
                    self.reservoir[j] = self.last
        self.last = snap
        return True

    def structures(self) -> list[Snapshot]:
        return [s for s in [self.first, *self.reservoir, self.last] if s is not None]

    def export(self) -> RecordedStructures:
        """What this recorder kept (snapshots are shared, not copied: they are never modified)."""
        return RecordedStructures(tuple(self.structures()), self.n_seen, self.n_too_large)

    def replay(self, recorded: RecordedStructures) -> None:
        """Show the structures another recorder kept, and count those it saw but did not keep."""
        for s in recorded.structures:
            self.add(s)
        self.n_seen += max(0, recorded.n_seen - len(recorded.structures))
        self.n_too_large += recorded.n_too_large


class Session:
    """A run's cache and structure recorders (see the module docstring)."""

    def __init__(self):
        self._cache: dict = {}
        self._recorders: list[Recorder] = []
        self._resources: dict = {}

    # -- recorders -------------------------------------------------------------------------------
    def observe(self, atoms) -> None:
        """Show ``atoms`` (a structure a calculator accepted) to every active recorder."""
        for r in self._recorders:
            r(atoms)

    @contextmanager
    def recording(self, recorder: Recorder | None = None):
        """While active, every structure the session's calculators evaluate is shown to ``recorder``
        (a new :class:`Recorder` by default, yielded) besides the recorders already active."""
        rec = recorder if recorder is not None else Recorder()
        self._recorders.append(rec)
        try:
            yield rec
        finally:
            self._recorders.remove(rec)

    def _replay(self, recorded: RecordedStructures) -> None:
        if recorded.structures or recorded.n_seen or recorded.n_too_large:
            for r in self._recorders:
                r.replay(recorded)

    # -- cache -----------------------------------------------------------------------------------
    def memo(self, key: tuple, compute, keep: str = "all"):
        """``compute()`` once per ``key`` (a hashable tuple); later calls return the cached result.

        The structures the first call evaluated are kept with the result and replayed to the recorders
        active at every later call.  ``keep="last"``: a search whose trial structures are not what its
        callers use (the ground state's bracketing scan of 0.85-1.30 a0) shows the recorders only its
        last structure (the result), on the first call as on a hit.  A call that raises caches nothing."""
        if keep not in ("all", "last"):
            raise ValueError(f"keep must be 'all' or 'last', not {keep!r}")
        hit = self._cache.get(key)
        if hit is not None:
            self._replay(hit[1])
            return hit[0]
        if keep == "all":
            with self.recording() as rec:  # the active recorders see every structure directly too
                result = compute()
            self._cache[key] = (result, rec.export())
            return result
        outer, self._recorders = self._recorders, []
        try:
            with self.recording() as rec:
                result = compute()
        finally:
            self._recorders = outer
        kept = rec.last or rec.first
        recorded = RecordedStructures((kept,) if kept else (), min(rec.n_seen, 1), rec.n_too_large)
        self._cache[key] = (result, recorded)
        self._replay(recorded)
        return result

    def cached(self, key: tuple) -> bool:
        return key in self._cache

    def clear(self) -> None:
        self._cache.clear()

    # -- resources -------------------------------------------------------------------------------
    def resource(self, name: str, make):
        """A long-lived helper object of the run (e.g. the coverage featurizer's LAMMPS instance), made once."""
        if name not in self._resources:
            self._resources[name] = make()
        return self._resources[name]

    def close(self) -> None:
        """Release the run's resources (objects with a ``close()``)."""
        for obj in self._resources.values():
            close = getattr(obj, "close", None)
            if callable(close):
                try:
                    close()
                except Exception:  # noqa: BLE001 - closing must not hide the run's results
                    pass
        self._resources.clear()
