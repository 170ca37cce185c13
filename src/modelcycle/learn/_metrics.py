"""Validation metrics: which fit each task, which direction is better, and how to compute them."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_absolute_percentage_error,
    r2_score,
    roc_auc_score,
    root_mean_squared_error,
)

from modelcycle.data import Task
from modelcycle.exceptions import ParameterError

__all__ = ["METRICS", "Metric", "check_metric", "default_metric", "is_better", "score"]


@dataclass(frozen=True)
class Metric:
    """What a metric measures and how to read it.

    ``tasks`` are the tasks it fits; ``needs_proba`` means it is computed from class
    probabilities (and skipped when a model gives none).
    """

    name: str
    label: str
    tasks: frozenset[Task]
    greater_is_better: bool
    needs_proba: bool = False


_CLASSIFICATION = frozenset({Task.BINARY, Task.MULTICLASS})
_REGRESSION = frozenset({Task.REGRESSION})
_CLUSTERING = frozenset({Task.CLUSTERING})

#: Every metric :func:`score` computes, by name. F1 is of the positive class (the second of the
#: sorted classes) for binary tasks and macro-averaged for multiclass ones; multiclass ROC AUC is
#: one-vs-rest, weighted by class prevalence; MAPE is a fraction (0.1 = 10 %) and explodes when
#: true values are near 0. Clustering metrics are internal validity indices computed by
#: :func:`~modelcycle.learn.cluster_scores` (BIC only for Gaussian mixtures), not by :func:`score`.
METRICS: Mapping[str, Metric] = MappingProxyType(
    {
        m.name: m
        for m in (
            Metric("accuracy", "Accuracy", _CLASSIFICATION, True),
            Metric("balanced_accuracy", "Balanced accuracy", _CLASSIFICATION, True),
            Metric("f1", "F1", _CLASSIFICATION, True),
            Metric("roc_auc", "ROC AUC", _CLASSIFICATION, True, needs_proba=True),
            Metric("log_loss", "Log loss", _CLASSIFICATION, False, needs_proba=True),
            Metric("rmse", "Root mean squared error", _REGRESSION, False),
            Metric("mae", "Mean absolute error", _REGRESSION, False),
            Metric("r2", "R²", _REGRESSION, True),
            Metric("mape", "Mean absolute percentage error", _REGRESSION, False),
            Metric("silhouette", "Silhouette", _CLUSTERING, True),
            Metric("davies_bouldin", "Davies-Bouldin index", _CLUSTERING, False),
            Metric("calinski_harabasz", "Calinski-Harabasz index", _CLUSTERING, True),
            Metric("bic", "Bayesian information criterion", _CLUSTERING, False),
        )
    }
)

_DEFAULTS = {
    # Threshold-free and insensitive to class balance: ranks models by how well they order
    # positives above negatives, which is what a later threshold choice needs.
    Task.BINARY: "roc_auc",
    # Defined for every model and every fold (no probabilities, no need for each class to appear
    # in each fold, unlike ROC AUC), and what the Classification Learner reports.
    Task.MULTICLASS: "accuracy",
    # In the target's units, and penalises large errors.
    Task.REGRESSION: "rmse",
}


def default_metric(task: Task | str) -> str:
    """The metric that ranks candidates when none is chosen.

    ``roc_auc`` for binary tasks, ``accuracy`` for multiclass tasks (always defined, even in
    folds that lack a class) and ``rmse`` for regression.

    Examples
    --------
    >>> default_metric("binary")
    'roc_auc'
    """
    return _DEFAULTS[resolve_task(task, "default_metric")]


def check_metric(metric: str, task: Task | str, *, owner: str = "score") -> Metric:
    """The :class:`Metric` named ``metric``, checked to fit ``task``.

    Raises
    ------
    ParameterError
        ``metric`` is unknown or does not fit the task; the message names those that do.

    Examples
    --------
    >>> check_metric("rmse", "regression").greater_is_better
    False
    """
    resolved = resolve_task(task, owner)
    info = METRICS.get(metric) if isinstance(metric, str) else None
    if info is None or resolved not in info.tasks:
        fitting = [name for name, m in METRICS.items() if resolved in m.tasks]
        raise ParameterError(
            "metric", owner, f"one of {', '.join(map(repr, fitting))} for a {resolved} task", metric
        )
    return info


def is_better(metric: str, a: float, b: float) -> bool:
    """Whether score ``a`` is strictly better than ``b`` on ``metric``.

    ``NaN`` (an undefined score) is never better, and any number is better than ``NaN``.

    Examples
    --------
    >>> is_better("rmse", 1.0, 2.0), is_better("roc_auc", 0.7, 0.9)
    (True, False)
    """
    info = METRICS.get(metric)
    if info is None:
        raise ParameterError(
            "metric", "is_better", f"one of {', '.join(map(repr, METRICS))}", metric
        )
    if math.isnan(a):
        return False
    if math.isnan(b):
        return True
    return a > b if info.greater_is_better else a < b


def score(
    task: Task | str,
    y_true: Any,
    y_pred: Any,
    proba: Any = None,
    classes: Sequence[Any] | None = None,
    *,
    metrics: Sequence[str] | None = None,
) -> dict[str, float]:
    """Every metric of ``task`` (or those named in ``metrics``) for one set of predictions.

    Parameters
    ----------
    task
        The task the predictions are for.
    y_true, y_pred
        True and predicted targets.
    proba
        Class probabilities, one column per entry of ``classes`` (for a binary task also a
        1-D array of the positive class's probability). ``None`` skips ``roc_auc`` and
        ``log_loss``.
    classes
        The classes of ``proba``'s columns, in order (a model's ``classes_`` or
        ``Schema.classes``). Default: the sorted labels of ``y_true`` and ``y_pred``. The
        positive class of a binary task is the second one. Labels of ``y_true`` missing from
        ``classes`` (a fold's model never saw them) count as predicted with probability 0.
    metrics
        Compute only these.

    Returns
    -------
    dict of str to float
        Metric name to value; ``NaN`` where a metric is undefined (ROC AUC when ``y_true``
        holds one class only).

    Raises
    ------
    ParameterError
        A metric that does not fit the task, or inputs of different lengths.

    Examples
    --------
    >>> score("binary", ["no", "yes", "yes"], ["no", "yes", "no"], [0.2, 0.9, 0.4])["roc_auc"]
    1.0
    """
    resolved = resolve_task(task, "score")
    names = (
        [check_metric(m, resolved).name for m in metrics]
        if metrics is not None
        else [name for name, m in METRICS.items() if resolved in m.tasks]
    )
    truth, predicted = np.asarray(y_true), np.asarray(y_pred)
    if len(truth) != len(predicted):
        raise ParameterError(
            "y_pred",
            "score",
            f"{len(truth)} predictions, one per y_true",
            f"{len(predicted)} predictions",
        )
    if resolved is Task.REGRESSION:
        return {name: float(_REGRESSION_METRICS[name](truth, predicted)) for name in names}
    return _classification(resolved, names, truth, predicted, proba, classes)


_REGRESSION_METRICS = {
    "rmse": root_mean_squared_error,
    "mae": mean_absolute_error,
    "r2": r2_score,
    "mape": mean_absolute_percentage_error,
}


def _classification(
    task: Task,
    names: list[str],
    y_true: np.ndarray,
    y_pred: np.ndarray,
    proba: Any,
    classes: Sequence[Any] | None,
) -> dict[str, float]:
    labels = list(classes) if classes is not None else _sorted(np.concatenate([y_true, y_pred]))
    positive = labels[min(1, len(labels) - 1)]
    out: dict[str, float] = {}
    if "accuracy" in names:
        out["accuracy"] = float(accuracy_score(y_true, y_pred))
    if "balanced_accuracy" in names:
        with warnings.catch_warnings():
            # A fold's model may predict a class its validation rows lack; the score is still
            # defined (mean recall over the classes present).
            warnings.filterwarnings("ignore", "y_pred contains classes not in y_true")
            out["balanced_accuracy"] = float(balanced_accuracy_score(y_true, y_pred))
    if "f1" in names:
        binary = task is Task.BINARY
        out["f1"] = float(
            f1_score(
                y_true,
                y_pred,
                average="binary" if binary else "macro",
                # pos_label is ignored by macro averaging; 1 (its default) keeps it silent.
                pos_label=positive if binary else 1,
                zero_division=0,
            )
        )
    if proba is not None and any(METRICS[name].needs_proba for name in names):
        full, all_labels = _full_proba(proba, labels, y_true, positive)
        if "roc_auc" in names:
            out["roc_auc"] = _roc_auc(task, y_true, full, all_labels, positive)
        if "log_loss" in names:
            out["log_loss"] = (
                float(log_loss(y_true, full, labels=all_labels))
                if len(all_labels) > 1
                else math.nan
            )
    return out


def _sorted(values: np.ndarray) -> list[Any]:
    unique = pd.unique(pd.Series(values, dtype=object).dropna()).tolist()
    try:
        return sorted(unique)
    except TypeError:  # mixed types (1 and "a") have no natural order
        return sorted(unique, key=str)


def _full_proba(
    proba: Any, labels: list[Any], y_true: np.ndarray, positive: Any
) -> tuple[np.ndarray, list[Any]]:
    """Probabilities with a column for every class in ``labels`` or ``y_true``, sorted.

    A model trained on a fold that lacked a class has no column for it; it gave that class
    probability 0, which is what the added column says.
    """
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim == 1:
        # The positive class's probability; the other column is its complement.
        negative = [label for label in labels if label != positive][:1]
        p = np.column_stack([1.0 - p, p]) if negative else p[:, None]
        labels = [*negative, positive]
    if p.shape != (len(y_true), len(labels)):
        raise ParameterError(
            "proba",
            "score",
            f"an array of shape ({len(y_true)}, {len(labels)}): one row per prediction, one "
            f"column per class in {labels}",
            f"shape {p.shape}",
        )
    extra = [label for label in _sorted(y_true) if label not in labels]
    p = np.hstack([p, np.zeros((len(p), len(extra)))])
    # Columns in sorted label order: sklearn's log_loss reads them so, whatever `labels` says.
    full = [*labels, *extra]
    ordered = _sorted(np.asarray(full, dtype=object))
    return p[:, [full.index(label) for label in ordered]], ordered


def _roc_auc(
    task: Task, y_true: np.ndarray, proba: np.ndarray, labels: list[Any], positive: Any
) -> float:
    counts = pd.Series(y_true, dtype=object).value_counts(sort=False)
    if len(counts) < 2:
        return math.nan  # one class only: there is no pair to rank
    if task is Task.BINARY:
        return float(roc_auc_score(y_true == positive, proba[:, labels.index(positive)]))
    # One-vs-rest weighted by prevalence over the classes present: sklearn's definition, which
    # sklearn refuses to compute when a fold lacks one of the columns' classes.
    aucs = [roc_auc_score(y_true == label, proba[:, labels.index(label)]) for label in counts.index]
    return float(np.average(aucs, weights=counts.to_numpy()))


def resolve_task(task: Task | str, owner: str) -> Task:
    """``task`` as a supervised :class:`Task`, or a ParameterError naming ``owner``."""
    try:
        resolved = Task(task)
    except ValueError:
        resolved = None
    if resolved is None or resolved is Task.CLUSTERING:
        raise ParameterError(
            "task", owner, "'binary', 'multiclass' or 'regression' (a supervised task)", task
        )
    return resolved
