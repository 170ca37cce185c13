"""One step of a trial, as a worker runs it: fit a configuration on one fold (or on a sample of
the training rows) and score it on that fold's validation rows.

A trial is a sequence of steps of growing cost, so weak trials can be stopped early by
successive halving (Jamieson & Talwalkar 2016; asynchronously, ASHA: Li et al. 2020): with
k-fold validation a step is one fold, with a single validation split a step trains on a larger
sample of the rows (1/9, 1/3, all of them), the sample-size growth FLAML uses to keep its first
trials cheap (Wang et al. 2021).
"""

from __future__ import annotations

import pickle
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import lightgbm
import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.utils import resample

from modelcycle.automl._pipeline import build_pipeline
from modelcycle.automl._space import EARLY_STOPPED, FORESTS, MAX_BOOSTING_ROUNDS
from modelcycle.data import Fold, Schema, Table, Validation
from modelcycle.learn import score

__all__ = ["Step", "StepOutcome", "TrialData", "class_labels", "fit_member", "run_step"]

# Successive halving's reduction factor: each rung keeps the best third.
ETA = 3
# The smallest sample worth training on: below it every configuration looks alike.
MIN_RUNG_ROWS = 500
# Trees a forest grows before it measures how many more the time allows.
_FIRST_TREES = 32
# LightGBM's inner early-stopping split: a tenth of the training rows, at least this many
# (but never more than a quarter of them), so small folds still stop on a steady signal.
_MIN_STOPPING_ROWS = 100
_STOPPING_SHARE = 0.1


@dataclass(frozen=True)
class Step:
    """One unit of a trial: train on ``rows`` rows of fold ``fold`` (``None``: all of them).

    ``resource`` is the cumulative cost the pruner sees at this step, in units of the
    cheapest step: folds done so far, or ninths of the training rows.
    """

    fold: int
    rows: int | None
    resource: int


@dataclass(frozen=True)
class TrialData:
    """Everything a worker needs, shipped to it once: the table (for the final refit), its
    validation folds, the steps of a trial and the row samples of the cheap steps."""

    table: Table
    folds: tuple[Fold, ...]
    steps: tuple[Step, ...]
    samples: Mapping[int, np.ndarray]
    random_state: int

    @property
    def schema(self) -> Schema:
        return self.folds[0].train.schema

    @property
    def train_rows(self) -> int:
        """Training rows of a full step (the first fold's)."""
        return len(self.folds[0].train)

    @property
    def is_cross_validated(self) -> bool:
        return len(self.folds) > 1

    def full_steps(self) -> list[int]:
        """The steps that train on all of a fold's rows."""
        return [i for i, step in enumerate(self.steps) if step.rows is None]

    def y_valid(self) -> np.ndarray:
        """The validation targets of every full step, in step order (as predictions pool)."""
        return np.concatenate(
            [self.folds[self.steps[i].fold].valid.y.to_numpy() for i in self.full_steps()]
        )

    def chunk_sizes(self) -> list[int]:
        """Rows per validation fold, in pooled order."""
        return [len(self.folds[self.steps[i].fold].valid) for i in self.full_steps()]

    @classmethod
    def build(cls, table: Table, validation: Validation, random_state: int) -> TrialData:
        """Split ``table`` as ``validation`` says and plan each trial's steps."""
        folds = tuple(validation.folds(table, random_state))
        if len(folds) > 1:
            steps = tuple(Step(i, None, i + 1) for i in range(len(folds)))
            return cls(table, folds, steps, {}, random_state)
        train = folds[0].train
        n = len(train)
        sizes = [n // ETA**2, n // ETA]
        rungs = [(rows, ETA**k) for k, rows in enumerate(sizes) if rows >= MIN_RUNG_ROWS]
        samples = {rows: _sample(train, rows, random_state) for rows, _ in rungs}
        steps = tuple(Step(0, rows, resource) for rows, resource in rungs)
        return cls(table, folds, (*steps, Step(0, None, ETA**2)), samples, random_state)


def _sample(table: Table, rows: int, random_state: int) -> np.ndarray:
    """A stratified (for classes) sample of ``rows`` row positions, in sorted order."""
    positions = np.arange(len(table))
    stratify = table.y.astype(str).to_numpy() if table.task.is_classification else None
    try:
        chosen = resample(
            positions, n_samples=rows, replace=False, stratify=stratify, random_state=random_state
        )
    except ValueError:  # a class too rare to stratify on
        chosen = resample(positions, n_samples=rows, replace=False, random_state=random_state)
    return np.sort(np.asarray(chosen))


@dataclass
class StepOutcome:
    """What a step measured: every metric of the task, the validation predictions (class
    probabilities in the schema's class order, or values) and what the fit cost."""

    metrics: dict[str, float]
    predictions: np.ndarray
    fit_seconds: float
    predict_seconds: float
    rounds: int | None
    train_rows: int
    size_bytes: int = 0


def run_step(
    data: TrialData,
    config: Mapping[str, Any],
    step_index: int,
    allowance: float | None,
    max_trees: int | None,
) -> StepOutcome:
    """Fit ``config`` for one step of its trial and score it.

    Parameters
    ----------
    data
        The worker's copy of the folds and samples.
    config
        The configuration (family, params, preprocessing).
    step_index
        Which of ``data.steps`` to run.
    allowance
        Seconds the fit may take: forests grow only the trees that fit in it, boosting stops
        when it runs out (``None``: no limit).
    max_trees
        Most trees a forest may grow (the first fold's count, so every fold agrees).
    """
    step = data.steps[step_index]
    fold = data.folds[step.fold]
    train = fold.train if step.rows is None else fold.train.take(data.samples[step.rows])
    schema = data.schema
    pipeline = build_pipeline(schema, config, data.random_state)
    family = str(config["family"])
    start = time.perf_counter()
    if family in EARLY_STOPPED:
        rounds: int | None = _fit_boosting(pipeline, train, allowance, data.random_state)
    elif family in FORESTS:
        target = int(config["params"]["n_estimators"])
        rounds = _fit_forest(pipeline, train, min(target, max_trees or target), allowance)
    else:
        pipeline.fit(train.X, train.y)
        rounds = getattr(pipeline.steps[-1][1], "n_iter_", None)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    predictions, labels = predict(pipeline, fold.valid, schema)
    predict_seconds = time.perf_counter() - start
    metrics = score(
        schema.task,
        fold.valid.y.to_numpy(),
        labels,
        predictions if schema.classes else None,
        schema.classes or None,
    )
    size = _size(pipeline, family) if step_index == data.full_steps()[-1] else 0
    return StepOutcome(metrics, predictions, fit_seconds, predict_seconds, rounds, len(train), size)


def _size(pipeline: Pipeline, family: str) -> int:
    """The pickled size of a fitted pipeline; for a forest, its first tree's size times the
    trees' nodes (pickling hundreds of deep trees would cost as much as growing them)."""
    if family not in FORESTS:
        return len(pickle.dumps(pipeline))
    trees = pipeline.steps[-1][1].estimators_
    nodes = sum(tree.tree_.node_count for tree in trees)
    per_node = len(pickle.dumps(trees[0])) / max(1, trees[0].tree_.node_count)
    return len(pickle.dumps(pipeline[:-1])) + int(per_node * nodes)


def predict(pipeline: Pipeline, table: Table, schema: Schema) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities in the schema's class order and labels (or values, twice)."""
    prep, model = pipeline[:-1], pipeline.steps[-1][1]
    encoded = prep.transform(table.X)
    if not schema.classes:
        values = np.asarray(model.predict(encoded), dtype=np.float64)
        return values, values
    proba = model.predict_proba(encoded)
    known = list(model.classes_)
    # A fold may lack a class: the model gave it probability 0.
    full = np.zeros((len(table), len(schema.classes)))
    for j, label in enumerate(schema.classes):
        if label in known:
            full[:, j] = proba[:, known.index(label)]
    return full, class_labels(schema.classes)[full.argmax(axis=1)]


def class_labels(classes: Sequence[Any]) -> np.ndarray:
    """The classes as an array to index labels from: of their own type (scikit-learn's
    metrics read integer classes in an object array as an unknown kind of target), object
    only when the types are mixed."""
    mixed = len({type(c) for c in classes}) > 1
    return np.asarray(list(classes), dtype=object if mixed else None)


def _fit_boosting(
    pipeline: Pipeline, train: Table, allowance: float | None, random_state: int
) -> int:
    """Fit LightGBM with early stopping on an inner split of the training rows.

    The number of rounds is found where it costs nothing (one fit covers every count) and the
    validation fold stays unseen, so the trial's score is honest. Returns the rounds kept.
    """
    prep, model = pipeline[:-1], pipeline.steps[-1][1]
    start = time.perf_counter()
    X, y = train.X, train.y.to_numpy()
    n = len(train)
    n_stop = int(min(max(_STOPPING_SHARE * n, _MIN_STOPPING_ROWS), n / 4))
    fit_rows, stop_rows = _split(y, n_stop, random_state, train.task.is_classification)
    encoded = prep.fit_transform(X.iloc[fit_rows], y[fit_rows])
    stopping = prep.transform(X.iloc[stop_rows])
    rate = float(model.get_params()["learning_rate"])
    patience = int(np.clip(3.0 / rate, 20, 200))
    callbacks: list[Any] = [
        lightgbm.early_stopping(patience, first_metric_only=True, verbose=False)
    ]
    if allowance is not None:
        callbacks.append(_time_limit(allowance - (time.perf_counter() - start)))
    model.set_params(n_estimators=MAX_BOOSTING_ROUNDS)
    with warnings.catch_warnings():
        # LightGBM 4.7 deprecates eval_set for eval_X/eval_y, but its classifier does not
        # encode eval_y's labels as it does eval_set's: eval_set is the one that works.
        warnings.filterwarnings("ignore", "The argument 'eval_set' is deprecated")
        model.fit(encoded, y[fit_rows], eval_set=[(stopping, y[stop_rows])], callbacks=callbacks)
    rounds = int(model.best_iteration_ or model.booster_.current_iteration())
    return max(1, rounds)


def _split(
    y: np.ndarray, n_stop: int, random_state: int, stratify: bool
) -> tuple[np.ndarray, np.ndarray]:
    positions = np.arange(len(y))
    try:
        fit, stop = train_test_split(
            positions,
            test_size=n_stop,
            random_state=random_state,
            stratify=y.astype(str) if stratify else None,
        )
    except ValueError:  # a class too rare to stratify on
        fit, stop = train_test_split(positions, test_size=n_stop, random_state=random_state)
    return np.asarray(fit), np.asarray(stop)


def _time_limit(seconds: float) -> Any:
    """A LightGBM callback that ends training when ``seconds`` have passed, keeping the trees
    grown so far: a slow configuration yields a (smaller) model rather than a killed trial."""
    start = time.perf_counter()

    def callback(env: Any) -> None:
        if time.perf_counter() - start > seconds:
            raise lightgbm.callback.EarlyStopException(env.iteration, env.evaluation_result_list)

    callback.order = 40  # type: ignore[attr-defined]  # after early stopping (30)
    return callback


def _fit_forest(pipeline: Pipeline, train: Table, target: int, allowance: float | None) -> int:
    """Grow a forest up to ``target`` trees, or as many as fit in ``allowance`` seconds.

    Forests only get better with more trees, so the number of trees is not searched: it is
    the most the time allows (an anytime forest), measured on the first trees. Returns the
    number grown; a forest refit with that many trees and the same seed is the same forest.
    """
    prep, model = pipeline[:-1], pipeline.steps[-1][1]
    start = time.perf_counter()
    encoded = prep.fit_transform(train.X, train.y)
    first = min(target, _FIRST_TREES)
    grow_start = time.perf_counter()
    model.set_params(n_estimators=first, warm_start=True)
    model.fit(encoded, train.y)
    trees = first
    if first < target:
        per_tree = (time.perf_counter() - grow_start) / first
        left = (allowance - (time.perf_counter() - start)) if allowance is not None else None
        affordable = target if left is None else int(0.9 * left / max(per_tree, 1e-9)) + first
        trees = max(first, min(target, affordable))
        if trees > first:
            model.set_params(n_estimators=trees)
            model.fit(encoded, train.y)
    model.set_params(warm_start=False)
    return trees


def fit_member(
    data: TrialData, config: Mapping[str, Any], threads: int = 1
) -> tuple[Pipeline, int]:
    """Fit one configuration on the whole table: the final refit of a model or of one
    ensemble member. Returns the pipeline and its (estimated) pickled size.

    A forest may grow its trees on ``threads`` threads (cores the refit leaves idle): its
    trees do not depend on how many grow at once, so it is the forest the recipe describes.
    """
    pipeline = build_pipeline(data.table.schema, config, data.random_state)
    family = str(config["family"])
    model = pipeline.steps[-1][1]
    if family in FORESTS and threads > 1:
        model.set_params(n_jobs=threads)
    pipeline.fit(data.table.X, data.table.y)
    if family in FORESTS:
        model.set_params(n_jobs=config["params"].get("n_jobs", 1))
    return pipeline, _size(pipeline, family)
