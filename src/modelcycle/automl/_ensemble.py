"""Greedy ensemble selection (Caruana, Niculescu-Mizil, Crew & Ksikes, "Ensemble Selection
from Libraries of Models", ICML 2004) over the validation predictions of the best trials."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

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
    out = []
    start = 0
    labels = np.asarray(classes, dtype=object)
    for size in chunks:
        part, truth = predictions[start : start + size], y[start : start + size]
        start += size
        if classes:
            values = score(
                task, truth, labels[part.argmax(axis=1)], part, classes, metrics=[metric]
            )
        else:
            values = score(task, truth, part, metrics=[metric])
        out.append(values.get(metric, math.nan))
    return out


def select_ensemble(
    library: Sequence[np.ndarray],
    y: np.ndarray,
    chunks: Sequence[int],
    task: Task,
    metric: str,
    classes: Sequence[Any],
    *,
    rounds: int = 25,
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
    for size in range(2, rounds + 1):
        trials = [objective((total + p) / size) for p in library]
        pick = int(np.argmax(trials))
        counts[pick] += 1
        total = total + library[pick]
        if trials[pick] > best[0]:
            best = (trials[pick], counts.copy())
    chosen = np.flatnonzero(best[1])
    weights = best[1][chosen] / best[1].sum()
    return Selection(
        tuple(int(i) for i in chosen), tuple(float(w) for w in weights), sign * best[0]
    )
