"""Prometheus metrics of one server worker, aggregated across workers when there are several.

Each app keeps its own :class:`~prometheus_client.CollectorRegistry` (never the global one), so
several apps in one process (tests) do not collide. With several workers behind one port, a
scrape reaches whichever worker accepts it; per-worker numbers would then jump between scrapes.
So `modelcycle serve --workers N` runs prometheus_client's multiprocess mode: the parent sets
``PROMETHEUS_MULTIPROC_DIR`` before starting the workers, each worker writes its values there,
and ``/metrics`` on any worker reports the sum over all of them.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from modelcycle.serve._options import MULTIPROC_ENV
from modelcycle.serve._pool import PoolEvents

if TYPE_CHECKING:
    from modelcycle.store import LogWriter

# Sub-millisecond buckets matter: a single-row prediction is about a millisecond.
_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServerMetrics(PoolEvents):
    """The server's counters, histograms and gauges.

    Metrics (all prefixed ``modelcycle_``): ``requests_total{model,version,status}``,
    ``request_latency_seconds{model,version}``, ``rows_predicted_total{model,version}``,
    ``log_rows_written_total``, ``log_rows_dropped_total``, ``log_rows_failed_total``,
    ``swaps_total{model,alias}``, ``load_failures_total{model,alias}``,
    ``registry_poll_errors_total`` and ``serving_version{model,alias}`` (0 once retired).
    Requests for models that are not served count under ``model=""``, so made-up names cannot
    grow the number of series.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "modelcycle_requests",
            "Prediction requests by model, version and HTTP status.",
            ["model", "version", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "modelcycle_request_latency_seconds",
            "Latency of successful prediction requests, from arrival to response.",
            ["model", "version"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.rows = Counter(
            "modelcycle_rows_predicted",
            "Rows predicted by model and version.",
            ["model", "version"],
            registry=r,
        )
        self.log_written = Counter(
            "modelcycle_log_rows_written", "Prediction-log rows written to Parquet.", registry=r
        )
        self.log_dropped = Counter(
            "modelcycle_log_rows_dropped",
            "Prediction-log rows dropped because the writer's queue was full.",
            registry=r,
        )
        self.log_failed = Counter(
            "modelcycle_log_rows_failed",
            "Prediction-log rows lost because their file could not be written.",
            registry=r,
        )
        self.swaps = Counter(
            "modelcycle_swaps", "Versions swapped in by alias.", ["model", "alias"], registry=r
        )
        self.load_failures = Counter(
            "modelcycle_load_failures",
            "Versions that failed to load (the previous one kept serving).",
            ["model", "alias"],
            registry=r,
        )
        self.poll_errors = Counter(
            "modelcycle_registry_poll_errors", "Polls of the registry that failed.", registry=r
        )
        self.serving = Gauge(
            "modelcycle_serving_version",
            "The version each worker serves for a model and alias (0: not served).",
            ["model", "alias"],
            registry=r,
            multiprocess_mode="liveall",
        )
        self._writer: LogWriter | None = None
        self._series: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}
        self._seen = [0, 0, 0]
        self._sync_lock = threading.Lock()

    # -- requests ----------------------------------------------------------------------------

    def observe(self, model: str, version: str, status: int, seconds: float, rows: int) -> None:
        """Count one prediction request (and its latency and rows when it succeeded)."""
        key = (model, version, status)
        series = self._series.get(key)
        if series is None:
            # Looking a labelled series up costs more than updating it: once per label set.
            # Model names not served are counted under "" (see the class), so this stays small.
            ok = status < 400
            series = self._series[key] = (
                self.requests.labels(model, version, str(status)),
                self.latency.labels(model, version) if ok else None,
                self.rows.labels(model, version) if ok else None,
            )
        requests, latency, predicted = series
        requests.inc()
        if latency is not None and predicted is not None:
            latency.observe(seconds)
            predicted.inc(rows)

    # -- the prediction log --------------------------------------------------------------------

    def follow_log(self, writer: LogWriter | None) -> None:
        """Report ``writer``'s written, dropped and failed rows (synced on polls and scrapes)."""
        self._writer = writer

    def sync_log(self) -> None:
        """Add what the log writer did since the last sync to the counters."""
        writer = self._writer
        if writer is None:
            return
        with self._sync_lock:
            now = [writer.written, writer.dropped, writer.failed]
            counters = (self.log_written, self.log_dropped, self.log_failed)
            for i, counter in enumerate(counters):
                if now[i] > self._seen[i]:
                    counter.inc(now[i] - self._seen[i])
            self._seen = now

    # -- pool events ---------------------------------------------------------------------------

    def polled(self, ok: bool) -> None:
        if not ok:
            self.poll_errors.inc()
        # Every worker syncs on its own polls, so a scrape that lands elsewhere is at most a
        # poll interval behind for this worker's log counters.
        self.sync_log()

    def swapped(self, model: str, alias: str, old: int | None, new: int) -> None:
        if old is not None:
            self.swaps.labels(model, alias).inc()
        self.serving.labels(model, alias).set(new)

    def load_failed(self, model: str, alias: str, version: int) -> None:
        self.load_failures.labels(model, alias).inc()

    def retired(self, model: str, alias: str) -> None:
        self.serving.labels(model, alias).set(0)

    # -- exposition ----------------------------------------------------------------------------

    def render(self) -> tuple[bytes, str]:
        """The text exposition of every worker's metrics, and its content type."""
        self.sync_log()
        if os.environ.get(MULTIPROC_ENV):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
