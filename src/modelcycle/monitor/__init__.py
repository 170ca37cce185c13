"""Monitoring: drift between a reference (training data or its profile) and current data.

:func:`detect_drift` tests every column with a test suited to its kind, corrects for the number
of tests, requires a real effect size before it calls anything drift, and adds a multivariate
domain-classifier test. :func:`model_reference` fetches the reference profile registered with a
model version, so a check never needs the training data again.

Live: :func:`check_window` checks a window of a deployed model's logged traffic (drift,
performance from feedback, estimates without labels, a streaming detector on the errors);
:class:`Monitor` does it on a schedule with alerts (:class:`Alerter`) and Prometheus gauges;
:func:`monitor_report` draws the history.
"""

from modelcycle.monitor._alerts import Alert, Alerter
from modelcycle.monitor._drift import detect_drift
from modelcycle.monitor._history import monitor_report
from modelcycle.monitor._live import ModelReference, WindowResult, check_window
from modelcycle.monitor._reference import model_reference
from modelcycle.monitor._report import DomainClassifierResult, DriftReport, DriftStatus
from modelcycle.monitor._stream import StreamMonitor
from modelcycle.monitor._watch import Monitor, MonitorMetrics

__all__ = [
    "Alert",
    "Alerter",
    "DomainClassifierResult",
    "DriftReport",
    "DriftStatus",
    "ModelReference",
    "Monitor",
    "MonitorMetrics",
    "StreamMonitor",
    "WindowResult",
    "check_window",
    "detect_drift",
    "model_reference",
    "monitor_report",
]
