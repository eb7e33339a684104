"""Stream ownership: revem's own lock, recorded in the database as one lease per stream.

Every stream (a (window, mode) pair) has at most one writer.  A writer holds the stream's lease,
a row of the ``revem_leases`` table (see :mod:`revem.generator.storage`) that records

* the owner id ``host:pid:token`` (``token`` is a fresh UUID per acquisition, so two calls of
  ``run_stream`` in one process, e.g. two Dask threads, are two owners),
* the host name, the PID and the process start time (``boot_id:ticks`` from ``/proc``; it tells
  a live owner from an unrelated process that reuses its PID after a crash or a reboot),
* when the lease was acquired and its heartbeat (wall-clock seconds; refreshed by every commit).

A lease is *stale*, and is taken over with a logged warning, when

* its owner ran on this host and that process is gone (dead PID, zombie, or a different start
  time: the PID was reused), or
* its owner ran on another host (Dask workers) and its heartbeat is older than
  :func:`lease_timeout` (``REVEM_LEASE_TIMEOUT`` seconds, default 600).

A lease held by a live owner is never waited for: acquiring it fails at once with
:class:`LeaseHeld`, whose message names the stream, the file, the host, the PID and the age of the
heartbeat.  Every row commit re-checks the lease inside the same SQLite transaction
(``UPDATE revem_leases ... WHERE stream=? AND owner=?`` and a rowcount check), so even a writer
whose lease was taken over while it computed cannot add a row: it gets :class:`LeaseLost`.

revem does not use ASE's ``x.db.lock`` file (the database is opened with
``use_lock_file=False``); a leftover ``x.db.lock`` from an ASE write killed by ``kill -9`` is
ignored.  Concurrent SQLite writers wait for each other through SQLite's own (bounded) busy
timeout.
"""
from __future__ import annotations

import os
import socket
import time
import uuid
from dataclasses import dataclass

#: default seconds after which the lease of an owner on another host is stale (no heartbeat)
DEFAULT_LEASE_TIMEOUT = 600.0


def lease_timeout() -> float:
    """Seconds without heartbeat after which another host's lease is stale (REVEM_LEASE_TIMEOUT)."""
    text = os.environ.get("REVEM_LEASE_TIMEOUT")
    if not text:
        return DEFAULT_LEASE_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"REVEM_LEASE_TIMEOUT={text!r} is not a number of seconds") from None
    if not value > 0:
        raise ValueError(f"REVEM_LEASE_TIMEOUT={text!r} must be > 0 seconds")
    return value


def hostname() -> str:
    return socket.gethostname()


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as fh:
            return fh.read().strip()
    except OSError:
        return "?"


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (field 3, the state, first), or None."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            text = fh.read()
    except OSError:
        return None
    return text[text.rfind(")") + 2:].split()


def process_start(pid: int) -> str | None:
    """``boot_id:start ticks`` of a process on this host, or None (no /proc, or no such process)."""
    f = _stat_fields(pid)
    if f is None or len(f) < 20:
        return None
    return f"{_boot_id()}:{f[19]}"


def pid_alive(pid: int, started: str | None = None) -> bool:
    """Whether process ``pid`` of this host is running (not a zombie) and, when ``started`` is
    given and /proc is available, is the process that started then (not a reused PID)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, belongs to another user
        pass
    f = _stat_fields(pid)
    if f is not None:
        if f[0] in ("Z", "X"):  # zombie / dead: killed but not yet reaped
            return False
        if started and process_start(pid) not in (None, started):
            return False  # the PID now belongs to another process
    return True


@dataclass(frozen=True)
class Owner:
    """Who holds (or wants) a lease: this process, with a fresh token per acquisition."""

    host: str
    pid: int
    started: str | None
    token: str

    @property
    def id(self) -> str:
        return f"{self.host}:{self.pid}:{self.token}"

    @classmethod
    def me(cls) -> "Owner":
        pid = os.getpid()
        return cls(hostname(), pid, process_start(pid), uuid.uuid4().hex)


@dataclass(frozen=True)
class Lease:
    """A ``revem_leases`` row."""

    stream: str
    owner: str
    host: str
    pid: int
    started: str | None
    acquired: float
    heartbeat: float

    def describe(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.acquired))
        return (f"host {self.host}, PID {self.pid} (owner {self.owner}, since {since}, "
                f"last heartbeat {max(0.0, now - self.heartbeat):.0f} s ago)")

    def staleness(self, now: float | None = None, timeout: float | None = None) -> str | None:
        """Why this lease is stale (a sentence), or None when its owner may still be writing."""
        now = time.time() if now is None else now
        if self.host == hostname():
            if not pid_alive(self.pid, self.started):
                return f"its owner (PID {self.pid} on this host, {self.host}) is no longer running"
            return None
        timeout = lease_timeout() if timeout is None else timeout
        age = now - self.heartbeat
        if age > timeout:
            return (f"its owner on host {self.host} (PID {self.pid}) sent no heartbeat for {age:.0f} s "
                    f"(> REVEM_LEASE_TIMEOUT {timeout:g} s)")
        return None


class LeaseHeld(RuntimeError):
    """The stream is owned by another live process; nothing was written."""

    def __init__(self, path: str, lease: Lease):
        self.path, self.lease = path, lease
        super().__init__(
            f"stream {lease.stream} in {path} is being written by another process: {lease.describe()}; "
            f"refusing to run it twice (wait for that run to end or stop it; a lease of a dead process "
            f"on the same host, or one without heartbeat for {lease_timeout():g} s, is taken over)")


class LeaseLost(RuntimeError):
    """A commit found that this process no longer owns the stream; the transaction was rolled back."""

    def __init__(self, path: str, stream: str, owner: str):
        self.path, self.stream, self.owner = path, stream, owner
        super().__init__(
            f"stream {stream} in {path}: lease of {owner} was taken over by another process; "
            f"this process stopped without writing (no row of the stream is duplicated)")
