"""Validation cases as dask.distributed tasks (``revem validate --dask ADDRESS``, ``revem.validate(dask=...)``).

The case is the task.  The process that owns the run (the CLI or API process: the *client*) collects the
cases, takes the report folders (:class:`~revem.validation.writer.RunWriter`) and submits one task per
case; a worker runs :meth:`Engine.run_case` and returns the :class:`CaseOutcome` as JSON; the client
hands each outcome to ``RunWriter.record`` as it arrives (``as completed``), so the journal, the
in-progress ``report.md``, the final ``results.json`` and a rerun after a kill are exactly those of a
local run.  Workers write nothing.

What a worker needs to run the cases travels once per run, in a :class:`RunPlugin` (a dask
``WorkerPlugin`` registered under the run's id, also handed to workers that join or restart later):
the run's :class:`RunConfig`, its baseline as the client loaded it, and its targets, pickled with
cloudpickle (a catalog potential or card carries its file paths: the workers need the potential files
at the same paths, as on a cluster's shared filesystem, and the same revem; an ASE calculator object or
factory travels by value).  A worker builds one :class:`Engine` per run on its first case and keeps it
(the run's session cache: a ground state relaxed for one case serves the next case on that worker),
runs one case at a time (a run's session is not thread-safe; use one thread per worker process) with
BLAS pinned to one thread, and drops it when the client unregisters the plugin at the end of the run.

Failures: a worker that dies (killed, out of memory, preempted) loses only its running case: dask
reruns it on another worker, and gives up on it after ``distributed.scheduler.allowed-failures``
deaths (``KilledWorker``): that case is *lost* -- not journalled, listed in the report as without a
result -- and ``--resume`` computes it (and only it) next time.  A task that raises (a worker that
cannot build the run: a potential file missing there) stops the run with that message; the finished
cases stay.  An unreachable scheduler is a one-line error before anything is created.
"""
from __future__ import annotations

import os
import re
import threading
import time

from .engine import CaseId, CaseOutcome, ConfigError, Engine

CONNECT_TIMEOUT_S = 5
_ADDRESS = re.compile(r"^(?:(tcp|tls|inproc|ucx|ws|wss)://)?[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")

try:  # the base class must be distributed's own (register_plugin refuses duck-typed plugins)
    from distributed.diagnostics.plugin import WorkerPlugin as _WorkerPlugin
except ImportError:  # dask is an optional extra: without it only --dask fails, saying how to install it
    _WorkerPlugin = object


class WorkerSetupError(RuntimeError):
    """A worker that cannot run the run's cases (its environment differs from the client's); the message says how."""


class DaskRunError(RuntimeError):
    """The Dask run stopped (a worker could not run a case, the scheduler went away); finished cases are kept."""


# -- the client side ------------------------------------------------------------------------------
def _distributed():
    try:
        import distributed
    except ImportError:
        raise ConfigError("--dask needs dask.distributed: pip install 'revem[dist]'") from None
    return distributed


def connect(address, timeout: float = CONNECT_TIMEOUT_S):
    """A ``distributed.Client`` of ``address`` (``tcp://host:port``), a Client (used as is) or a cluster object
    (its scheduler).  Returns (client, owned): ``owned`` when this call made the client (the caller closes it).
    An address that is malformed or does not answer within ``timeout`` seconds is a :class:`ConfigError`."""
    distributed = _distributed()
    if isinstance(address, distributed.Client):
        return address, False
    if hasattr(address, "scheduler_address"):  # LocalCluster, SLURMCluster, ...
        address = address.scheduler_address
    if not isinstance(address, str) or not _ADDRESS.match(address.strip()):
        raise ConfigError(f"--dask {str(address)[:200]!r}: not a scheduler address (expected tcp://HOST:PORT, as "
                          "printed by `dask scheduler` or cluster.scheduler_address)")
    try:
        client = distributed.Client(address.strip(), timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ConfigError(f"--dask {address}: cannot reach the scheduler within {timeout:g} s "
                          f"({type(exc).__name__}: {str(exc)[:200]}); nothing was run") from None
    return client, True


def local_cluster(n_workers: int):
    """A ``LocalCluster`` of ``n_workers`` single-threaded worker processes (``revem validate -n N --shard``)."""
    distributed = _distributed()
    return distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                    dashboard_address=None, silence_logs=50)


def payload(engine: Engine) -> bytes:
    """What a worker needs to build the run's engine: config, baseline and targets (fresh sessions), cloudpickled."""
    import cloudpickle

    from .session import Session

    targets = [t.bound(Session()) for t in engine.targets.values()]
    spec = {"run_id": engine.run_id, "config": engine.config, "baseline": engine.baseline, "targets": targets}
    try:
        return cloudpickle.dumps(spec)
    except Exception as exc:  # noqa: BLE001 - a calculator that cannot travel: say which run cannot
        raise ConfigError(f"--dask: the potentials of this run cannot be sent to the workers ({type(exc).__name__}: "
                          f"{str(exc)[:200]}); give a catalog name, a card or file, or a picklable calculator "
                          "factory") from None


class RunPlugin(_WorkerPlugin):
    """The run on a worker: its payload, and the engine built from it on the first case (module docstring)."""

    idempotent = False

    def __init__(self, run_id: str, data: bytes, data_dir: str | None, blas_threads: int = 1):
        self.run_id, self.data, self.data_dir, self.blas_threads = run_id, data, data_dir, blas_threads
        self._engine = None
        self._lock = None

    def setup(self, worker=None):
        from ..lammps_runtime import pin_blas_threads

        pin_blas_threads(self.blas_threads)
        # the client's data mirror, when the worker was started without one and sees the same path
        if self.data_dir and not os.environ.get("REVEM_DATA_DIR") and os.path.isdir(self.data_dir):
            os.environ["REVEM_DATA_DIR"] = self.data_dir
        self._lock = threading.Lock()
        self._engine = None

    def teardown(self, worker=None):
        if self._engine is not None:
            self._engine.session.close()
            self._engine = None

    def engine(self) -> Engine:
        if self._engine is None:
            import socket

            import cloudpickle

            host = socket.gethostname()
            try:
                spec = cloudpickle.loads(self.data)
            except Exception as exc:  # noqa: BLE001 - another revem/ASE on the worker, a module it lacks
                raise WorkerSetupError(f"worker on {host} cannot load the run ({type(exc).__name__}: {exc}); the "
                                       "workers need the same revem and Python packages as the client") from None
            for t in spec["targets"]:
                pot = t.potential
                missing = [str(f) for f in (pot.files if pot is not None else []) if not os.path.isfile(f)]
                if missing:
                    raise WorkerSetupError(f"worker on {host}: potential {t.name}: {missing[0]} does not exist there; "
                                           "the workers need the potential files at the same paths (a shared "
                                           "filesystem)")
            self._engine = Engine(spec["targets"], spec["config"], run_id=spec["run_id"], baseline=spec["baseline"])
        return self._engine

    def run(self, case: tuple) -> dict:
        with self._lock:  # one case at a time: the run's session (cache, recorders) is not thread-safe
            return self.engine().run_seeded(CaseId(*case)).to_json()


def case_task(plugin_name: str, case: tuple) -> dict:
    """The Dask task of one case: its outcome as JSON (run by the worker's :class:`RunPlugin`)."""
    from distributed import get_worker

    plugin = get_worker().plugins.get(plugin_name)
    if plugin is None:
        raise WorkerSetupError(f"the run {plugin_name} is not registered on this worker (the client went away?)")
    return plugin.run(case)


def run_cases(client, engine: Engine, cases: list[CaseId], on_outcome, on_lost, progress=None,
              poll_s: float = 1.0) -> None:
    """Run ``cases`` (in this order of priority) on ``client``'s cluster; ``on_outcome(CaseOutcome)`` for each
    finished case as it arrives, ``on_lost(CaseId)`` for a case whose workers died too often.  Raises
    :class:`DaskRunError` when a worker cannot run a case (the pending cases are cancelled)."""
    from distributed import wait
    from distributed.scheduler import KilledWorker

    name = f"revem-run-{engine.run_id}"
    data_dir = os.environ.get("REVEM_DATA_DIR")
    client.register_plugin(RunPlugin(engine.run_id, payload(engine), os.path.abspath(data_dir) if data_dir else None,
                                     int(os.environ.get("REVEM_BLAS_THREADS", "1") or 1)), name=name)
    futures: dict = {}
    try:
        # one graph: the scheduler queues the cases and hands a worker a new one when it has a free thread
        # (root-task queuing), in this order (keys sort as the list does), so a worker that dies holds only the
        # case it runs (with distributed.scheduler.worker-saturation 1.0; the default 1.1 may add a waiting one)
        keys = [f"revem-case-{i:06d}-{engine.run_id}" for i in range(len(cases))]
        futs = client.map(case_task, [name] * len(cases), [(c.potential, c.element, c.property, c.case) for c in cases],
                          key=keys, pure=False)
        futures = dict(zip(futs, cases))
        pending, last_note = set(futures), 0.0
        while pending:
            try:
                with client.as_current():  # wait() asks for the current client; this one is not the default
                    res = wait(list(pending), timeout=poll_s, return_when="FIRST_COMPLETED")
                done, pending = set(res.done), set(res.not_done)
            except TimeoutError:
                done = set()
            for f in done:
                cid = futures[f]
                if f.status == "finished":
                    on_outcome(CaseOutcome.from_json(f.result()))
                    continue
                exc = f.exception() if f.status == "error" else None
                if exc is None or isinstance(exc, KilledWorker):
                    on_lost(cid)
                    continue
                client.cancel(list(pending))
                pending = set()
                raise DaskRunError(f"case {cid.property}/{cid.case} of {cid.potential} / {cid.element}: "
                                   f"{type(exc).__name__}: {str(exc)[:400]}")
            if progress is not None and time.monotonic() - last_note > 2 * poll_s:
                last_note = time.monotonic()
                try:
                    progress.note(f"{len(client.nthreads())} workers")
                except Exception:  # noqa: BLE001, S110 - a progress note must never stop the run
                    pass
    except BaseException:
        client.cancel([f for f in futures if not f.done()])
        raise
    finally:
        try:
            client.unregister_worker_plugin(name)
        except Exception:  # noqa: BLE001, S110 - a scheduler that went away forgets the plugin anyway
            pass
