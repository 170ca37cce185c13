"""Streaming detectors on an error stream: a planted change is found, a steady stream is not."""

from __future__ import annotations

import numpy as np
import pytest

from modelcycle.exceptions import ParameterError
from modelcycle.monitor import DriftStatus, StreamMonitor

DETECTORS = ["adwin", "page_hinkley", "ddm", "hddm_a", "hddm_w"]
CHANGE_AT = 2000


def errors(seed: int, before: float, after: float, n: int = 4000) -> np.ndarray:
    """0/1 errors with rate ``before`` and then, from CHANGE_AT on, ``after``."""
    rng = np.random.default_rng(seed)
    rate = np.where(np.arange(n) < CHANGE_AT, before, after)
    return (rng.random(n) < rate).astype(float)


@pytest.mark.parametrize("detector", DETECTORS)
def test_detects_a_planted_rise_in_the_error_rate_soon_after_it(detector: str) -> None:
    for seed in range(3):
        monitor = StreamMonitor(detector)
        for e in errors(seed, 0.1, 0.4):
            monitor.update(e)
        assert monitor.status is DriftStatus.DRIFT and monitor.drift_detected
        assert monitor.first_detection_ is not None
        assert CHANGE_AT <= monitor.first_detection_ < CHANGE_AT + 500, monitor.first_detection_


# False alarms in 100 steady 4,000-row streams, measured (docs/monitor.md): ADWIN 0,
# Page-Hinkley 0, DDM 2 (2 of the 10 below), HDDM_A 4, HDDM_W 18. Bounds for these 10 streams:
MAX_FALSE_ALARMS = {"adwin": 0, "page_hinkley": 0, "ddm": 2, "hddm_a": 1, "hddm_w": 4}


@pytest.mark.parametrize("detector", DETECTORS)
def test_stays_stable_on_a_steady_stream(detector: str) -> None:
    alarms = 0
    for seed in range(10):
        monitor = StreamMonitor(detector)
        for e in errors(100 + seed, 0.2, 0.2):
            monitor.update(e)
        alarms += monitor.drift_detected
    assert alarms <= MAX_FALSE_ALARMS[detector]


def test_reset_forgets_the_detection_and_detects_again() -> None:
    monitor = StreamMonitor("ddm")
    for e in errors(0, 0.1, 0.5):
        monitor.update(e)
    assert monitor.drift_detected
    assert monitor.reset().status is DriftStatus.STABLE and monitor.n_seen_ == 0
    for e in errors(1, 0.1, 0.1, n=1500):
        monitor.update(e)
    assert monitor.status is not DriftStatus.DRIFT  # the retrained model's errors are steady
    for e in errors(2, 0.5, 0.5, n=800):
        monitor.update(e)
    assert monitor.drift_detected


def test_ddm_has_a_warning_zone() -> None:
    seen = set()
    monitor = StreamMonitor("ddm")
    for e in errors(3, 0.1, 0.3):
        seen.add(monitor.update(e).status)
    assert DriftStatus.WARNING in seen and DriftStatus.DRIFT in seen


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(ParameterError, match="'detector' parameter of StreamMonitor"):
        StreamMonitor("kswinn").update(0)
    with pytest.raises(ParameterError, match="0 or 1"):
        StreamMonitor("ddm").update(0.5)
    with pytest.raises(ParameterError, match="finite"):
        StreamMonitor("adwin").update(float("nan"))
    with pytest.raises(ParameterError, match="river's ADWIN"):
        StreamMonitor("adwin", nonsense=1).update(0)
