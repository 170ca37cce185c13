"""Run jobs in worker processes, each with a wall-time limit.

One slow model family must not stall a session: every job runs in its own process, and a
process still running at its deadline is terminated. Workers are forked from a forkserver that
has the heavy libraries imported already, so a job starts in milliseconds, and no worker
inherits OpenMP threads from the parent (forking those can deadlock).

Workers only ever run modelcycle's own functions, so they never import the caller's script:
a plain script that calls ``Learner.compare`` works without the ``if __name__ == "__main__"``
guard that multiprocessing otherwise demands.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import threading
import time
import traceback
import types
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from threadpoolctl import threadpool_limits

_PRELOAD = ["numpy", "pandas", "sklearn.ensemble", "lightgbm", "modelcycle.learn._evaluate"]


@dataclass(frozen=True)
class JobResult:
    """What came back from one job: its value, or why there is none."""

    key: str
    status: str  # "ok", "failed" or "timeout"
    value: Any = None
    error: str | None = None
    seconds: float = 0.0


def _child(conn: Connection, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    # One thread per worker: several workers share the cores (OpenMP and BLAS would each
    # start one thread per core and oversubscribe them).
    threadpool_limits(1)
    try:
        conn.send(("ok", fn(*args)))
    except BaseException as exc:  # report everything; the parent decides what it means
        conn.send(("failed", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"))
    finally:
        conn.close()


def run_jobs(
    jobs: Sequence[tuple[str, Callable[..., Any], tuple[Any, ...]]],
    *,
    n_jobs: int,
    time_limit: float | None,
) -> Iterator[JobResult]:
    """Run ``(key, fn, args)`` jobs, at most ``n_jobs`` at a time; yield results as they finish.

    With ``n_jobs == 1`` and no time limit the jobs run in this process (easier to debug).
    """
    if n_jobs == 1 and time_limit is None:
        for key, fn, args in jobs:
            start = time.perf_counter()
            try:
                value = fn(*args)
            except Exception as exc:
                yield JobResult(key, "failed", error=f"{type(exc).__name__}: {exc}")
            else:
                yield JobResult(key, "ok", value, seconds=time.perf_counter() - start)
        return
    yield from _run_in_processes(list(jobs), n_jobs=n_jobs, time_limit=time_limit)


_MAIN_SWAP = threading.Lock()


@contextmanager
def _caller_script_hidden() -> Iterator[None]:
    """Start a worker as if ``__main__`` had no file.

    multiprocessing tells a forkserver or spawn child to import the parent's ``__main__`` by its
    path, which re-runs an unguarded script from the top (and starts its workers again). A stub
    ``__main__`` while the child's start-up data is taken leaves that out; the running script's
    own globals are untouched. The lock keeps two starting threads from restoring each other's stub.
    """
    with _MAIN_SWAP:
        real = sys.modules.get("__main__")
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            if real is not None:
                sys.modules["__main__"] = real


if hasattr(mp.context, "ForkServerProcess"):

    class _WorkerProcess(mp.context.ForkServerProcess):
        @staticmethod
        def _Popen(process_obj: Any) -> Any:
            with _caller_script_hidden():
                return mp.context.ForkServerProcess._Popen(process_obj)

    class _WorkerContext(mp.context.ForkServerContext):
        Process = _WorkerProcess


def _context() -> mp.context.BaseContext:
    """The context every worker of modelcycle starts from (the Learner's and AutoML's)."""
    if not hasattr(mp.context, "ForkServerProcess"):  # platforms without forkserver
        return mp.get_context("spawn")
    ctx = _WorkerContext()
    ctx.set_forkserver_preload(_PRELOAD)
    return ctx


def _run_in_processes(
    jobs: list[tuple[str, Callable[..., Any], tuple[Any, ...]]],
    *,
    n_jobs: int,
    time_limit: float | None,
) -> Iterator[JobResult]:
    ctx = _context()
    pending = list(reversed(jobs))
    running: dict[Connection, tuple[str, Any, float]] = {}
    try:
        while pending or running:
            while pending and len(running) < n_jobs:
                key, fn, args = pending.pop()
                reader, writer = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_child, args=(writer, fn, args), daemon=True)  # type: ignore[attr-defined]
                proc.start()
                writer.close()
                running[reader] = (key, proc, time.perf_counter())
            timeout = None
            if time_limit is not None:
                now = time.perf_counter()
                timeout = max(
                    0.0, min(start + time_limit - now for _, _, start in running.values())
                )
            for ready in wait(list(running), timeout=timeout):
                conn = ready if isinstance(ready, Connection) else None
                assert conn is not None  # wait() returns the objects it was given
                key, proc, start = running.pop(conn)
                yield _collect(conn, key, proc, start)
            if time_limit is not None:
                now = time.perf_counter()
                for conn, (key, proc, start) in list(running.items()):
                    if now - start >= time_limit:
                        running.pop(conn)
                        proc.kill()
                        proc.join()
                        conn.close()
                        yield JobResult(
                            key,
                            "timeout",
                            error=f"stopped after the time limit of {time_limit:g} s",
                            seconds=now - start,
                        )
    finally:
        for conn, (_, proc, _) in running.items():
            proc.kill()
            proc.join()
            conn.close()


def _collect(conn: Connection, key: str, proc: Any, start: float) -> JobResult:
    seconds = time.perf_counter() - start
    try:
        status, payload = conn.recv()
    except EOFError:
        proc.join()
        return JobResult(
            key,
            "failed",
            error=f"the worker process died (exit code {proc.exitcode})",
            seconds=seconds,
        )
    finally:
        conn.close()
    proc.join()
    if status == "ok":
        return JobResult(key, "ok", payload, seconds=seconds)
    return JobResult(key, "failed", error=payload, seconds=seconds)
