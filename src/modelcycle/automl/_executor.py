"""Where trial steps run: the small interface the search talks to, and local worker processes.

The search only ever ships its data once (:meth:`TrialExecutor.start`), submits small jobs
(a configuration and a step), polls for finished ones, and stops everything at the deadline.
Local processes implement that today; a Dask cluster can tomorrow (``start`` scatters the data
to the workers, ``submit`` is ``client.submit`` on the scattered future, ``poll`` waits on the
futures, ``cancel`` cancels them) without changing the search.
"""

from __future__ import annotations

import multiprocessing.forkserver
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Protocol, runtime_checkable

from threadpoolctl import threadpool_limits

from modelcycle.learn._parallel import JobResult, _context

__all__ = ["JobResult", "LocalExecutor", "TrialExecutor"]

# A killed worker gets this long to exit before the next one replaces it.
_JOIN_SECONDS = 5.0


@runtime_checkable
class TrialExecutor(Protocol):
    """Runs jobs ``fn(payload, *args)`` somewhere, ``capacity`` at a time.

    ``payload`` (the folds of the table) is shipped once by :meth:`start`; jobs carry only a
    configuration and a step. Results come back from :meth:`poll` as
    :class:`~modelcycle.learn._parallel.JobResult` with status ``"ok"``, ``"failed"`` or
    ``"timeout"`` (a job still running after its ``time_limit`` is stopped).
    """

    @property
    def capacity(self) -> int:
        """Jobs that can run at once."""
        ...

    def start(self, payload: Any) -> None:
        """Make ``payload`` available to every job."""
        ...

    def submit(
        self, key: str, fn: Callable[..., Any], args: tuple[Any, ...], time_limit: float | None
    ) -> None:
        """Start ``fn(payload, *args)``; its result will carry ``key``."""
        ...

    def running(self) -> int:
        """Jobs submitted and not yet returned by :meth:`poll`."""
        ...

    def poll(self, timeout: float) -> list[JobResult]:
        """Results of jobs that finished (or timed out), waiting at most ``timeout`` seconds."""
        ...

    def cancel(self) -> list[JobResult]:
        """Stop every running job; returns them as ``"timeout"`` results."""
        ...

    def close(self) -> None:
        """Release the workers."""
        ...


def _serve(conn: Connection, payload: Any) -> None:
    """A worker: run jobs from ``conn`` against ``payload`` until told to stop."""
    # One thread per worker: workers share the cores, and OpenMP or BLAS would otherwise each
    # start one thread per core and oversubscribe them.
    threadpool_limits(1)
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        key, fn, args = message
        try:
            conn.send((key, "ok", fn(payload, *args), None))
        except BaseException as exc:  # report everything; the search decides what it means
            detail = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"
            conn.send((key, "failed", None, detail))


@dataclass
class _Worker:
    process: Any
    conn: Connection
    key: str | None = None
    started: float = 0.0
    limit: float | None = None


class LocalExecutor:
    """Worker processes on this machine, each holding a copy of the payload.

    Workers are forked from the Learner's forkserver, which has NumPy, pandas, scikit-learn and
    LightGBM imported, and are reused from job to job, so a job costs milliseconds of overhead. A job
    past its time limit is stopped by killing its worker (Python cannot interrupt a fit), and
    a fresh worker takes its place on the next submit.

    Parameters
    ----------
    n_jobs
        Worker processes, i.e. jobs at once.

    Examples
    --------
    >>> executor = LocalExecutor(2)
    >>> executor.start(payload=10)
    >>> executor.submit("a", pow, (2,), time_limit=5)  # runs pow(10, 2)
    >>> [r.value for r in executor.poll(timeout=30)]  # doctest: +SKIP
    [100]
    >>> executor.close()
    """

    def __init__(self, n_jobs: int = 1) -> None:
        self.n_jobs = n_jobs
        self._workers: list[_Worker] = []
        self._payload: Any = None
        self._context: Any = None

    @property
    def capacity(self) -> int:
        return self.n_jobs

    def prestart(self) -> None:
        """Start the forkserver now: it imports the heavy libraries (seconds) while the caller
        prepares the data, rather than when the first worker is needed."""
        self._context = _context()
        if self._context.get_start_method() == "forkserver":
            multiprocessing.forkserver.ensure_running()

    def start(self, payload: Any) -> None:
        self._payload = payload
        self._context = self._context or _context()
        self._workers = [self._spawn() for _ in range(self.n_jobs)]

    def _spawn(self) -> _Worker:
        parent, child = self._context.Pipe(duplex=True)
        process = self._context.Process(target=_serve, args=(child, self._payload), daemon=True)
        process.start()
        child.close()
        return _Worker(process, parent)

    def submit(
        self, key: str, fn: Callable[..., Any], args: tuple[Any, ...], time_limit: float | None
    ) -> None:
        for i, worker in enumerate(self._workers):
            if worker.key is None:
                if not worker.process.is_alive():
                    worker = self._workers[i] = self._spawn()
                worker.conn.send((key, fn, args))
                worker.key, worker.started, worker.limit = key, time.perf_counter(), time_limit
                return
        raise RuntimeError(f"All {self.n_jobs} workers are busy: poll before submitting more.")

    def running(self) -> int:
        return sum(worker.key is not None for worker in self._workers)

    def poll(self, timeout: float) -> list[JobResult]:
        busy = [w for w in self._workers if w.key is not None]
        if not busy:
            return []
        now = time.perf_counter()
        expiries = [w.started + w.limit - now for w in busy if w.limit is not None]
        wait_for = max(0.0, min([timeout, *expiries]))
        ready = set(wait([w.conn for w in busy], timeout=wait_for))
        results = [self._receive(w) for w in busy if w.conn in ready]
        now = time.perf_counter()
        for worker in busy:
            if worker.key is not None and worker.limit is not None:
                if now - worker.started >= worker.limit:
                    results.append(self._stop(worker, f"the time limit of {worker.limit:.3g} s"))
        return results

    def _receive(self, worker: _Worker) -> JobResult:
        key, seconds = worker.key, time.perf_counter() - worker.started
        assert key is not None
        worker.key = None
        try:
            _, status, value, error = worker.conn.recv()
        except (EOFError, OSError):
            code = worker.process.exitcode
            self._kill(worker)
            return JobResult(
                key, "failed", error=f"the worker died (exit code {code})", seconds=seconds
            )
        return JobResult(key, status, value, error, seconds)

    def _stop(self, worker: _Worker, why: str) -> JobResult:
        key, seconds = worker.key, time.perf_counter() - worker.started
        assert key is not None
        self._kill(worker)
        return JobResult(key, "timeout", error=f"stopped at {why}", seconds=seconds)

    def _kill(self, worker: _Worker) -> None:
        worker.key = None
        worker.process.kill()
        worker.process.join(_JOIN_SECONDS)
        worker.conn.close()

    def cancel(self) -> list[JobResult]:
        return [
            self._stop(worker, "the end of the budget")
            for worker in self._workers
            if worker.key is not None
        ]

    def close(self) -> None:
        for worker in self._workers:
            if worker.key is None and worker.process.is_alive():
                try:
                    worker.conn.send(None)
                except OSError:
                    pass
        for worker in self._workers:
            worker.process.join(1.0)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(_JOIN_SECONDS)
            worker.conn.close()
        self._workers = []
