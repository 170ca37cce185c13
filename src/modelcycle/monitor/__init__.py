"""Monitoring: drift between a reference (training data or its profile) and current data.

:func:`detect_drift` tests every column with a test suited to its kind, corrects for the number
of tests, requires a real effect size before it calls anything drift, and adds a multivariate
domain-classifier test. :func:`model_reference` fetches the reference profile registered with a
model version, so a check never needs the training data again.
"""

from modelcycle.monitor._drift import detect_drift
from modelcycle.monitor._reference import model_reference
from modelcycle.monitor._report import DomainClassifierResult, DriftReport, DriftStatus

__all__ = [
    "DomainClassifierResult",
    "DriftReport",
    "DriftStatus",
    "detect_drift",
    "model_reference",
]
