"""Live performance from feedback, and performance estimated without labels (CBPE-style).

Metrics come from scikit-learn directly (``monitor`` may not import ``learn``). The estimate
follows NannyML's confidence-based performance estimation: if the model's probabilities are
calibrated, a row predicted with probability 0.8 is right 80% of the time, so each row counts
as every class at once, weighted by its probability, and the usual metrics of those weighted
rows are the *expected* metrics.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    roc_auc_score,
)

from modelcycle.exceptions import ParameterError

# Metrics where smaller is better: a threshold on them is a ceiling, not a floor.
LOWER_IS_BETTER = frozenset({"rmse", "mae"})
CLASSIFICATION_METRICS = ("accuracy", "roc_auc", "f1")
REGRESSION_METRICS = ("rmse", "mae")


def classification_metrics(
    actual: Sequence[str] | np.ndarray,
    predicted: Sequence[str] | np.ndarray,
    proba: np.ndarray | None,
    classes: Sequence[str],
    sample_weight: np.ndarray | None = None,
) -> dict[str, float]:
    """Accuracy, ROC AUC and F1 of labels given as strings.

    F1 is the positive class's (the second of ``classes``) for two classes, else macro F1.
    ROC AUC needs ``proba`` (columns in the order of ``classes``) and both classes among the
    labels; it is NaN otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> m = classification_metrics(["0", "1", "1"], ["0", "1", "0"],
    ...                            np.array([[.9, .1], [.2, .8], [.6, .4]]), ["0", "1"])
    >>> round(m["accuracy"], 3), m["roc_auc"], m["f1"]
    (0.667, 1.0, 0.6666666666666666)
    """
    y, p = np.asarray(actual, dtype=object), np.asarray(predicted, dtype=object)
    labels = list(classes)
    out = {"accuracy": float(accuracy_score(y, p, sample_weight=sample_weight))}
    if len(labels) == 2:
        f1 = f1_score(y, p, pos_label=labels[1], labels=labels, sample_weight=sample_weight)
    else:
        f1 = f1_score(y, p, average="macro", labels=labels, sample_weight=sample_weight)
    out["f1"] = float(f1)
    out["roc_auc"] = math.nan
    present = set(y[sample_weight > 0] if sample_weight is not None else y)
    if proba is not None and len(present & set(labels)) >= 2 and present <= set(labels):
        if len(labels) == 2:
            auc = roc_auc_score(y == labels[1], proba[:, 1], sample_weight=sample_weight)
        elif present == set(labels):
            auc = roc_auc_score(
                y, proba, multi_class="ovr", labels=labels, sample_weight=sample_weight
            )
        else:  # one-vs-rest AUC is undefined for a class with no rows
            auc = math.nan
        out["roc_auc"] = float(auc)
    return out


def regression_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """RMSE and MAE.

    Examples
    --------
    >>> regression_metrics(np.array([1.0, 2.0]), np.array([1.0, 4.0]))
    {'rmse': 1.4142135623730951, 'mae': 1.0}
    """
    return {
        "rmse": float(math.sqrt(mean_squared_error(actual, predicted))),
        "mae": float(mean_absolute_error(actual, predicted)),
    }


def estimated_metrics(
    predicted: Sequence[str], proba: np.ndarray, classes: Sequence[str]
) -> dict[str, float]:
    """Expected accuracy, ROC AUC and F1 from probabilities alone (no labels).

    Each row is repeated once per class with that class as its label and the class's
    probability as its weight; the metrics of the weighted rows are the expected values of
    the confusion-matrix counts (NannyML's CBPE). Right only as far as the probabilities are
    calibrated.

    Examples
    --------
    >>> import numpy as np
    >>> est = estimated_metrics(["1", "0"], np.array([[.2, .8], [.9, .1]]), ["0", "1"])
    >>> round(est["accuracy"], 3)
    0.85
    """
    n, k = proba.shape
    if n == 0:
        return {}
    labels = np.repeat(np.asarray(classes, dtype=object)[None, :], n, axis=0).ravel()
    preds = np.repeat(np.asarray(predicted, dtype=object), k)
    scores = np.repeat(proba, k, axis=0)
    return classification_metrics(labels, preds, scores, classes, sample_weight=proba.ravel())


def threshold_breaches(
    values: Mapping[str, float], thresholds: Mapping[str, float]
) -> list[tuple[str, float, float]]:
    """``(metric, value, threshold)`` for every metric on the wrong side of its threshold.

    A threshold is a floor for scores (accuracy, ROC AUC, F1) and a ceiling for errors
    (RMSE, MAE). Undefined (NaN) values breach nothing.

    Examples
    --------
    >>> threshold_breaches({"accuracy": 0.61, "rmse": 2.0}, {"accuracy": 0.7, "rmse": 3})
    [('accuracy', 0.61, 0.7)]
    """
    out = []
    for name, limit in thresholds.items():
        value = values.get(name)
        if value is None or math.isnan(value):
            continue
        if (value > limit) if name in LOWER_IS_BETTER else (value < limit):
            out.append((name, value, float(limit)))
    return out


def check_thresholds(thresholds: Mapping[str, float] | None, owner: str) -> dict[str, float]:
    """Validated thresholds: known metric names and finite numbers."""
    known = (*CLASSIFICATION_METRICS, *REGRESSION_METRICS)
    out: dict[str, float] = {}
    for name, value in (thresholds or {}).items():
        if name not in known:
            raise ParameterError("thresholds", owner, f"keyed by metrics among {known}", name)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ParameterError("thresholds", owner, "finite numbers", {name: value})
        out[name] = float(value)
    return out
