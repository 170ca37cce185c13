"""Streaming drift detectors on a model's error stream, from river, behind one small contract.

Feedback arrives row by row; each labeled row gives an error (1/0 for a wrong/right class, or
an absolute error for regression). A detector watches that stream and says Stable, Warning or
Drift as soon as the error rate moves, without waiting for a window to fill.
"""

from __future__ import annotations

import math
from typing import Any

from modelcycle.config import import_optional
from modelcycle.exceptions import ParameterError
from modelcycle.monitor._report import DriftStatus

# name -> (river module, class, whether it only takes 0/1 errors, whether it has a warning zone)
_DETECTORS: dict[str, tuple[str, str, bool, bool]] = {
    "adwin": ("river.drift", "ADWIN", False, False),
    "page_hinkley": ("river.drift", "PageHinkley", False, False),
    "ddm": ("river.drift.binary", "DDM", True, True),
    "hddm_a": ("river.drift.binary", "HDDMA", True, True),
    "hddm_w": ("river.drift.binary", "HDDMW", False, True),
}
DETECTORS: tuple[str, ...] = tuple(_DETECTORS)
# Defaults that differ from river's, measured on 0/1 error streams (docs/monitor.md): DDM's
# 30-row warm start sets its baseline on a handful of errors and then raises false alarms on
# steady streams; Page-Hinkley in both directions also alarms when the model gets *better*.
_DEFAULTS: dict[str, dict[str, Any]] = {
    "ddm": {"warm_start": 500},
    "page_hinkley": {"mode": "up", "threshold": 80.0},
}


class StreamMonitor:
    """Watch an error stream with one of river's drift detectors.

    Parameters
    ----------
    detector
        ``"adwin"`` (default; any errors), ``"page_hinkley"`` (any errors), ``"ddm"`` and
        ``"hddm_a"`` (0/1 errors only; they have a warning zone) or ``"hddm_w"`` (errors in
        [0, 1]; warning zone).
    **params
        Passed to the river detector, e.g. ``delta=0.002`` for ADWIN. river's defaults,
        except DDM's ``warm_start=500`` (river: 30) and Page–Hinkley's ``mode="up"``,
        ``threshold=80`` (river: ``"both"``, 50), which cut false alarms on steady streams.

    Attributes
    ----------
    detector_
        The river detector (created by the first :meth:`update`).
    n_seen_
        Errors seen since the last :meth:`reset`.
    n_detections_
        Changes detected since the last :meth:`reset`.
    first_detection_
        Index (0-based, since the last reset) of the error at which drift was first detected.

    Notes
    -----
    river's detectors signal drift only at the update where they find it and then adapt; here
    Drift **stays** until :meth:`reset` (call it after retraining), so that a change seen once
    is not forgotten by the next check. Warning is the detector's current warning state.

    Examples
    --------
    >>> from modelcycle.monitor import StreamMonitor
    >>> monitor = StreamMonitor("ddm")
    >>> for i in range(2000):
    ...     _ = monitor.update(float(i % 10 == 0 if i < 1000 else i % 2 == 0))
    >>> monitor.status, monitor.drift_detected
    (<DriftStatus.DRIFT: 'Drift'>, True)
    >>> monitor.reset().status
    <DriftStatus.STABLE: 'Stable'>
    """

    detector_: Any
    n_seen_: int
    n_detections_: int
    first_detection_: int | None

    def __init__(self, detector: str = "adwin", **params: Any) -> None:
        self.detector = detector
        self.params = params
        self.reset()

    def _build(self) -> Any:
        if self.detector not in _DETECTORS:
            raise ParameterError(
                "detector", "StreamMonitor", f"one of {list(_DETECTORS)}", self.detector
            )
        module, cls, _, _ = _DETECTORS[self.detector]
        found = import_optional(module, feature="Streaming drift detectors", extra="monitor")
        try:
            return getattr(found, cls)(**{**_DEFAULTS.get(self.detector, {}), **self.params})
        except TypeError as exc:
            raise ParameterError(
                "params", f"StreamMonitor({self.detector!r})", f"parameters of river's {cls}", exc
            ) from None

    @property
    def binary(self) -> bool:
        """Whether the detector takes only 0/1 errors."""
        return _DETECTORS.get(self.detector, ("", "", False, False))[2]

    def update(self, error: float) -> StreamMonitor:
        """Feed one error (1/0 for wrong/right, or a non-negative error) and return ``self``."""
        if self.detector_ is None:
            self.detector_ = self._build()
        value = float(error)
        if not math.isfinite(value) or (self.binary and value not in (0.0, 1.0)):
            expected = "0 or 1" if self.binary else "a finite number"
            raise ParameterError(
                "error", f"StreamMonitor({self.detector!r}).update", expected, error
            )
        self.detector_.update(value)
        if self.detector_.drift_detected:
            if self.first_detection_ is None:
                self.first_detection_ = self.n_seen_
            self.n_detections_ += 1
        self.n_seen_ += 1
        return self

    @property
    def drift_detected(self) -> bool:
        """Whether drift was detected since the last :meth:`reset`."""
        return self.n_detections_ > 0

    @property
    def warning_detected(self) -> bool:
        """Whether the detector is in its warning zone now (DDM and HDDM only)."""
        return bool(getattr(self.detector_, "warning_detected", False))

    @property
    def status(self) -> DriftStatus:
        """Drift once a change was detected (until reset), Warning in the warning zone."""
        if self.drift_detected:
            return DriftStatus.DRIFT
        return DriftStatus.WARNING if self.warning_detected else DriftStatus.STABLE

    def reset(self) -> StreamMonitor:
        """Forget everything (after retraining, the new model's errors start a new stream)."""
        self.detector_ = None
        self.n_seen_ = 0
        self.n_detections_ = 0
        self.first_detection_ = None
        return self

    def to_dict(self) -> dict[str, Any]:
        """The detector's state as JSON-safe values."""
        return {
            "detector": self.detector,
            "status": str(self.status),
            "n_seen": self.n_seen_,
            "n_detections": self.n_detections_,
            "first_detection": self.first_detection_,
        }

    def __repr__(self) -> str:
        return f"StreamMonitor({self.detector!r}, status={self.status.value}, seen={self.n_seen_})"
