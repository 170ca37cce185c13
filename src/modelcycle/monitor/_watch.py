"""The :class:`Monitor`: checks a deployed model every few minutes, alerts, exports gauges."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Gauge

from modelcycle.exceptions import ParameterError
from modelcycle.monitor._alerts import Alert, Alerter
from modelcycle.monitor._live import ModelReference, WindowResult, check_window, parse_window
from modelcycle.store import MetadataStore

if TYPE_CHECKING:
    from modelcycle.registry import Registry

logger = logging.getLogger(__name__)


class MonitorMetrics:
    """Prometheus gauges of live monitoring, in their own registry (never the global one).

    Gauges (prefixed ``modelcycle_monitor_``): ``status{model}``, ``drift_status{model,column}``
    (0 Stable, 1 Warning, 2 Drift; ``column="(table)"`` is the whole table), ``drift_share
    {model}`` (share of drifted input columns), ``performance{model,metric}`` (from feedback),
    ``estimated_performance{model,metric}`` (without labels), ``rows{model}``,
    ``labeled_rows{model}`` and ``last_check_timestamp_seconds{model}``.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r, p = self.registry, "modelcycle_monitor_"
        self.status = Gauge(
            p + "status", "Overall status (0 Stable, 1 Warning, 2 Drift).", ["model"], registry=r
        )
        self.drift = Gauge(
            p + "drift_status", "Drift status per column (0/1/2).", ["model", "column"], registry=r
        )
        self.share = Gauge(
            p + "drift_share", "Share of input columns in Drift.", ["model"], registry=r
        )
        self.performance = Gauge(
            p + "performance", "Live metric from feedback.", ["model", "metric"], registry=r
        )
        self.estimated = Gauge(
            p + "estimated_performance",
            "Metric estimated without labels.",
            ["model", "metric"],
            registry=r,
        )
        self.rows = Gauge(p + "rows", "Prediction rows in the last window.", ["model"], registry=r)
        self.labeled = Gauge(
            p + "labeled_rows", "Labeled rows in the last window.", ["model"], registry=r
        )
        self.checked = Gauge(
            p + "last_check_timestamp_seconds", "When the last check ended.", ["model"], registry=r
        )

    def update(self, result: WindowResult) -> None:
        """Set every gauge from one checked window."""
        m = result.model
        self.status.labels(m).set(result.status.severity)
        self.drift.labels(m, "(table)").set(result.drift_status.severity)
        if result.drift is not None:
            cols = result.drift.columns
            for name, status in cols["status"].items():
                self.drift.labels(m, str(name)).set({"Stable": 0, "Warning": 1, "Drift": 2}[status])
            self.share.labels(m).set(float((cols["status"] == "Drift").mean()) if len(cols) else 0)
        for gauge, values in (
            (self.performance, result.performance),
            (self.estimated, result.estimated),
        ):
            for metric, value in values.items():
                gauge.labels(m, metric).set(value)
        self.rows.labels(m).set(result.rows)
        self.labeled.labels(m).set(result.labeled_rows)
        self.checked.labels(m).set(result.window_end.timestamp())


class Monitor:
    """Watch a deployed model: check a window every ``every``, alert on changes, export gauges.

    Parameters
    ----------
    name, alias, window, thresholds, min_rows, detector
        As in :func:`check_window`.
    every
        Time between checks in :meth:`run` (``"5m"``, ``"1h"``, …).
    webhooks
        Alert to these URLs (default ``MODELCYCLE_WEBHOOKS``); ``alerts=False`` turns alerts off.
    metrics_port
        Serve the Prometheus gauges on ``127.0.0.1:<port>`` while running.
    registry, store, log_dir
        Where the model, the metadata and the prediction log live (default: the settings).
    drift_options
        Passed to :func:`detect_drift`.

    Attributes
    ----------
    last_result_
        The last :class:`WindowResult`.
    alerts_
        Every alert sent by this monitor.
    metrics_
        The :class:`MonitorMetrics` it updates.

    Examples
    --------
    >>> from modelcycle.monitor import Monitor
    >>> monitor = Monitor("elec", window="1h", thresholds={"accuracy": 0.7})  # doctest: +SKIP
    >>> monitor.run_once().status                                             # doctest: +SKIP
    <DriftStatus.STABLE: 'Stable'>
    >>> monitor.run(every="5m")   # until Ctrl-C or SIGTERM                   # doctest: +SKIP
    """

    def __init__(
        self,
        name: str,
        *,
        alias: str = "production",
        window: str = "1h",
        every: str = "5m",
        thresholds: Mapping[str, float] | None = None,
        min_rows: int = 100,
        detector: str = "adwin",
        webhooks: Sequence[str] | None = None,
        alerts: bool = True,
        metrics_port: int | None = None,
        registry: Registry | None = None,
        store: MetadataStore | None = None,
        log_dir: Path | None = None,
        drift_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.alias = alias
        self.window = window
        self.every = every
        self.thresholds = thresholds
        self.min_rows = min_rows
        self.detector = detector
        self.webhooks = webhooks
        self.alerts = alerts
        self.metrics_port = metrics_port
        self.registry = registry
        self.store = store
        self.log_dir = log_dir
        self.drift_options = drift_options

    def _reference(self) -> ModelReference:
        """The deployed version's reference, reloaded only when the alias moves."""
        from modelcycle.registry import Registry

        registry = self.registry or Registry()
        version = str(registry.get_version(self.name, alias=self.alias).version)
        cached: ModelReference | None = getattr(self, "reference_", None)
        if cached is None or cached.version != version:
            self.reference_ = ModelReference.load(registry.load(self.name, version=version))
        return self.reference_

    def run_once(self) -> WindowResult:
        """Check the latest window, record it, alert on changes and update the gauges."""
        store = self.store or MetadataStore()
        result = check_window(
            self.name,
            alias=self.alias,
            window=self.window,
            thresholds=self.thresholds,
            min_rows=self.min_rows,
            store=store,
            log_dir=self.log_dir,
            detector=self.detector,
            reference=self._reference(),
            **dict(self.drift_options or {}),
        )
        if not hasattr(self, "metrics_"):
            self.metrics_ = MonitorMetrics()
            self.alerts_: list[Alert] = []
        self.metrics_.update(result)
        if self.alerts:
            self.alerts_ += Alerter(self.webhooks, store=store).notify(result)
        self.last_result_ = result
        return result

    def serve_metrics(self) -> int:
        """Start the gauges' HTTP endpoint on 127.0.0.1 and return its port."""
        from prometheus_client import start_http_server

        if not hasattr(self, "metrics_"):
            self.metrics_ = MonitorMetrics()
            self.alerts_ = []
        port = self.metrics_port or 0
        server, _ = start_http_server(port, addr="127.0.0.1", registry=self.metrics_.registry)
        self._metrics_server = server
        return int(server.server_address[1])

    def stop(self) -> None:
        """Ask :meth:`run` to finish after the current check."""
        self._stopping().set()

    def _stopping(self) -> threading.Event:
        if not hasattr(self, "_stop"):
            self._stop = threading.Event()
        return self._stop

    def run(
        self,
        every: str | None = None,
        *,
        max_checks: int | None = None,
        on_result: Callable[[WindowResult], None] | None = None,
    ) -> None:
        """Check every ``every`` until :meth:`stop`, SIGINT or SIGTERM (or ``max_checks``).

        ``on_result`` is called with each check's result (the CLI prints it).

        A check that fails (the store is down, a file is damaged) is logged and retried at the
        next tick rather than ending the loop; a bad model name or parameter ends it at once.
        """
        interval = parse_window(every or self.every, parameter="every", owner="Monitor").seconds
        if interval is None:
            raise ParameterError("every", "Monitor.run", "a duration such as '5m'", every)
        stop = self._stopping()
        stop.clear()
        previous = self._install_signals(stop)
        if self.metrics_port is not None:
            self.serve_metrics()
        try:
            done = 0
            first = True
            while not stop.is_set():
                try:
                    result = self.run_once()
                    if on_result is not None:
                        on_result(result)
                except (ParameterError, LookupError):
                    raise
                except Exception:
                    if first:
                        raise
                    logger.exception(
                        "The check of %s failed; retrying in %s s", self.name, interval
                    )
                first = False
                done += 1
                if max_checks is not None and done >= max_checks:
                    break
                stop.wait(interval)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            server = getattr(self, "_metrics_server", None)
            if server is not None:
                server.shutdown()

    @staticmethod
    def _install_signals(stop: threading.Event) -> dict[int, Any]:
        # Signals can only be handled in the main thread; elsewhere stop() is the way out.
        if threading.current_thread() is not threading.main_thread():
            return {}

        def handle(signum: int, frame: FrameType | None) -> None:
            stop.set()

        previous: dict[int, Any] = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handle)
        return previous
