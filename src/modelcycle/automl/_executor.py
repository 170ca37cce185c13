"""Where trial steps run: the small interface the search talks to, and local worker processes.

The search only ever ships its data once (:meth:`TrialExecutor.start`), submits small jobs
(a configuration and a step), polls for finished ones, and stops everything at the deadline.
Local processes implement that today; a Dask cluster can tomorrow (``start`` scatters the data
to the workers, ``submit`` is ``client.submit`` on the scattered future, ``poll`` waits on the
futures, ``cancel`` cancels them) without changing the search.
"""

from __future__ import annotations

import contextlib
import multiprocessing.forkserver
import threading
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
        conn.send((key, *_run(fn, payload, args)))


def _run(fn: Callable[..., Any], payload: Any, args: tuple[Any, ...]) -> tuple[str, Any, Any]:
    """``(status, value, error)`` of one job."""
    try:
        return "ok", fn(payload, *args), None
    except BaseException as exc:  # report everything; the search decides what it means
        return "failed", None, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"


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
    LightGBM imported, and are reused from job to job, so a job costs milliseconds of overhead.
    A job past its time limit is stopped by killing its worker (Python cannot interrupt a fit),
    and a fresh worker takes its place on the next submit.

    The first workers of a process take seconds to start (the forkserver imports the heavy
    libraries). Rather than idle, this process runs the jobs submitted meanwhile itself, one
    at a time and single-threaded; they cannot be stopped, so the search sends only steps that
    bound their own time (see ``run_step``'s ``allowance``).

    Parameters
    ----------
    n_jobs
        Worker processes, i.e. jobs at once.
    inline
        Run jobs submitted while the workers start in this process.

    Examples
    --------
    >>> executor = LocalExecutor(2, inline=False)
    >>> executor.start(payload=10)
    >>> executor.submit("a", pow, (2,), time_limit=5)  # runs pow(10, 2) in a worker
    >>> [r.value for r in executor.poll(timeout=30)]  # doctest: +SKIP
    [100]
    >>> executor.close()
    """

    def __init__(self, n_jobs: int = 1, *, inline: bool = True) -> None:
        self.n_jobs = n_jobs
        self.inline = inline
        self._workers: list[_Worker] = []
        self._payload: Any = None
        self._context: Any = None
        self._lock = threading.Lock()
        self._spawner: threading.Thread | None = None
        self._inline: list[JobResult] = []

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
        self._workers, self._inline = [], []
        self._spawner = threading.Thread(
            target=self._spawn_all, name="modelcycle-automl-workers", daemon=True
        )
        self._spawner.start()

    def _spawn_all(self) -> None:
        for _ in range(self.n_jobs):
            worker = self._spawn()
            with self._lock:
                self._workers.append(worker)

    def _spawn(self) -> _Worker:
        parent, child = self._context.Pipe(duplex=True)
        process = self._context.Process(target=_serve, args=(child, self._payload), daemon=True)
        process.start()
        child.close()
        return _Worker(process, parent)

    def _starting(self) -> bool:
        return self._spawner is not None and self._spawner.is_alive()

    def _snapshot(self) -> list[_Worker]:
        with self._lock:
            return list(self._workers)

    def submit(
        self, key: str, fn: Callable[..., Any], args: tuple[Any, ...], time_limit: float | None
    ) -> None:
        with self._lock:
            for i, worker in enumerate(self._workers):
                if worker.key is None:
                    if not worker.process.is_alive():
                        worker = self._workers[i] = self._spawn()
                    worker.conn.send((key, fn, args))
                    worker.key, worker.started, worker.limit = key, time.perf_counter(), time_limit
                    return
        if self.inline and self._starting():
            start = time.perf_counter()
            with threadpool_limits(1):
                status, value, error = _run(fn, self._payload, args)
            self._inline.append(JobResult(key, status, value, error, time.perf_counter() - start))
            return
        if self._starting():
            self._spawner.join()  # type: ignore[union-attr]
            return self.submit(key, fn, args, time_limit)
        raise RuntimeError(f"All {self.n_jobs} workers are busy: poll before submitting more.")

    def running(self) -> int:
        busy = sum(worker.key is not None for worker in self._snapshot())
        return busy + len(self._inline)

    def poll(self, timeout: float) -> list[JobResult]:
        results, self._inline = self._inline, []
        busy = [w for w in self._snapshot() if w.key is not None]
        if not busy:
            if not results and self._starting():
                self._spawner.join(timeout)  # type: ignore[union-attr]
            return results
        now = time.perf_counter()
        expiries = [w.started + w.limit - now for w in busy if w.limit is not None]
        wait_for = 0.0 if results else max(0.0, min([timeout, *expiries]))
        ready = set(wait([w.conn for w in busy], timeout=wait_for))
        results += [self._receive(w) for w in busy if w.conn in ready]
        now = time.perf_counter()
        for worker in busy:
            overdue = worker.limit is not None and now - worker.started >= worker.limit
            if worker.key is not None and overdue:
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
        finished, self._inline = self._inline, []
        return finished + [
            self._stop(worker, "the end of the budget")
            for worker in self._snapshot()
            if worker.key is not None
        ]

    def close(self) -> None:
        if self._spawner is not None:
            self._spawner.join()
        for worker in self._workers:
            if worker.key is None and worker.process.is_alive():
                with contextlib.suppress(OSError):  # it died meanwhile
                    worker.conn.send(None)
        for worker in self._workers:
            worker.process.join(1.0)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(_JOIN_SECONDS)
            worker.conn.close()
        self._workers = []
