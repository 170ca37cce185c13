"""Greedy ensemble selection (Caruana, Niculescu-Mizil, Crew & Ksikes, "Ensemble Selection
from Libraries of Models", ICML 2004) over the validation predictions of the best trials."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import rankdata

from modelcycle.automl._trial import class_labels
from modelcycle.data import Task
from modelcycle.learn import METRICS, score

__all__ = ["Selection", "fold_scores", "select_ensemble"]


@dataclass(frozen=True)
class Selection:
    """The chosen members (indices into the library) with their weights, and the score of
    their weighted average, as the mean over validation folds."""

    members: tuple[int, ...]
    weights: tuple[float, ...]
    score: float


def fold_scores(
    predictions: np.ndarray,
    y: np.ndarray,
    chunks: Sequence[int],
    task: Task,
    metric: str,
    classes: Sequence[Any],
) -> list[float]:
    """``metric`` on each validation fold of pooled ``predictions`` (folds in ``chunks``)."""
    scorer = _scorer(task, metric, classes)
    bounds = np.cumsum([0, *chunks])
    return [scorer(y[a:b], predictions[a:b]) for a, b in itertools.pairwise(bounds)]


def _scorer(task: Task, metric: str, classes: Sequence[Any]) -> Callable[..., float]:
    """A fast ``(truth, predictions) -> score`` for the metrics selection meets most; others
    go through :func:`~modelcycle.learn.score` (the same numbers, with more checks). Greedy
    selection scores thousands of candidate averages, so this is most of its cost."""
    labels = class_labels(classes)
    if task is Task.BINARY and metric == "roc_auc":
        positive = classes[1]
        return lambda truth, pred: _auc(np.asarray(truth == positive, dtype=bool), pred[:, 1])
    if task.is_classification and metric == "accuracy":
        return lambda truth, pred: float(np.mean(labels[pred.argmax(axis=1)] == truth))
    if metric == "rmse":
        return lambda truth, pred: float(np.sqrt(np.mean((truth - pred) ** 2)))
    if metric == "r2":
        return lambda truth, pred: float(
            1.0 - np.sum((truth - pred) ** 2) / max(np.sum((truth - truth.mean()) ** 2), 1e-300)
        )

    def general(truth: np.ndarray, pred: np.ndarray) -> float:
        if classes:
            out = score(task, truth, labels[pred.argmax(axis=1)], pred, classes, metrics=[metric])
        else:
            out = score(task, truth, pred, metrics=[metric])
        return out.get(metric, math.nan)

    return general


def _auc(positive: np.ndarray, proba: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic (tied scores share their average rank): the same
    number as scikit-learn's, without its input checks, which cost more than the sum."""
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = rankdata(proba)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def select_ensemble(
    library: Sequence[np.ndarray],
    y: np.ndarray,
    chunks: Sequence[int],
    task: Task,
    metric: str,
    classes: Sequence[Any],
    *,
    rounds: int = 25,
    patience: int = 5,
    costs: Sequence[float] | None = None,
    max_cost: float | None = None,
    workers: int = 1,
    max_members: int | None = None,
) -> Selection:
    """Forward selection with replacement: start from the best model, and at each round add
    the model (possibly again) whose inclusion in the average scores best; keep the best
    ensemble seen. Selecting with replacement weights the members and, unlike stacking, cannot
    overfit more than the average of a few models can.

    Parameters
    ----------
    library
        Each candidate's validation predictions, pooled over folds: class probabilities
        (rows × classes) or values.
    y
        The pooled validation targets.
    chunks
        Rows of each validation fold, in pooled order: the score is the mean over folds, as
        the leaderboard's.
    task, metric, classes
        What is scored, and the class order of the probability columns.
    rounds
        Models added at most.
    patience
        Stop after this many rounds without a better ensemble.
    costs, max_cost, workers
        Each candidate's cost (seconds to refit it) and the most the distinct members may
        take to refit on ``workers`` workers at once: a model that would exceed it is not
        added (the best one always is).
    max_members
        Most distinct models in the ensemble.

    Examples
    --------
    >>> y = np.array([0.0, 1.0, 2.0, 3.0])
    >>> library = [y + 1.0, y - 1.0, y + 3.0]
    >>> select_ensemble(library, y, [4], Task.REGRESSION, "rmse", ()).members
    (0, 1)
    """
    sign = 1.0 if METRICS[metric].greater_is_better else -1.0

    def objective(pred: np.ndarray) -> float:
        value = float(np.mean(fold_scores(pred, y, chunks, task, metric, classes)))
        return sign * value if math.isfinite(value) else -math.inf

    singles = [objective(p) for p in library]
    first = int(np.argmax(singles))
    counts = np.zeros(len(library), dtype=int)
    counts[first] = 1
    total = library[first].astype(np.float64)
    best = (singles[first], counts.copy())
    stale = 0
    for size in range(2, rounds + 1):
        trials = [
            objective((total + p) / size)
            if _affordable(counts, j, costs, max_cost, workers)
            and (max_members is None or counts[j] > 0 or np.count_nonzero(counts) < max_members)
            else -math.inf
            for j, p in enumerate(library)
        ]
        pick = int(np.argmax(trials))
        counts[pick] += 1
        total = total + library[pick]
        if trials[pick] > best[0]:
            best, stale = (trials[pick], counts.copy()), 0
        else:
            stale += 1
            if stale >= patience:
                break
    chosen = np.flatnonzero(best[1])
    if len(chosen) == 1:
        return Selection((int(chosen[0]),), (1.0,), sign * best[0])
    weights = best[1][chosen] / best[1].sum()
    return Selection(
        tuple(int(i) for i in chosen), tuple(float(w) for w in weights), sign * best[0]
    )


def _affordable(
    counts: np.ndarray,
    candidate: int,
    costs: Sequence[float] | None,
    most: float | None,
    workers: int,
) -> bool:
    if costs is None or most is None or counts[candidate] > 0:
        return True
    members = [costs[int(j)] for j in np.flatnonzero(counts)] + [costs[candidate]]
    return refit_seconds(members, workers) <= most


def refit_seconds(costs: Sequence[float], workers: int) -> float:
    """Wall time to refit models of these costs on ``workers`` workers at once (a bound that
    greedy scheduling meets within a factor of two: the longest, or the total spread out)."""
    return max(max(costs), sum(costs) / max(1, workers))
