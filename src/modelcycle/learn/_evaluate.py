"""Cross-validate one model family: the unit of work a Learner hands to a worker process."""

from __future__ import annotations

import logging
import pickle
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from modelcycle.data import Table, Validation
from modelcycle.learn._assess import Inspection, inspect_pipeline
from modelcycle.learn._metrics import score
from modelcycle.learn._presets import get_spec

logger = logging.getLogger(__name__)


@dataclass
class Evaluation:
    """Per-fold scores and costs of one candidate, plus its out-of-fold predictions."""

    fold_metrics: list[dict[str, float]]
    fit_seconds: list[float]
    predict_seconds: list[float]
    predict_rows: list[int]
    size_bytes: int
    oof: pd.DataFrame = field(default_factory=pd.DataFrame)
    inspection: Inspection | None = None


def predict_frame(pipeline: Pipeline, X: pd.DataFrame, classes: tuple[Any, ...]) -> pd.DataFrame:
    """Predictions (and class probabilities, one column per class) as a DataFrame."""
    out = pd.DataFrame({"prediction": pipeline.predict(X)})
    if classes and hasattr(pipeline, "predict_proba"):
        proba = pipeline.predict_proba(X)
        # A fold may lack a class; map the model's classes onto the table's full list.
        model_classes = list(pipeline.classes_)
        for cls in classes:
            out[f"proba_{cls}"] = (
                proba[:, model_classes.index(cls)] if cls in model_classes else 0.0
            )
    return out


def probabilities(frame: pd.DataFrame, classes: tuple[Any, ...]) -> np.ndarray | None:
    columns = [f"proba_{c}" for c in classes]
    if not classes or not all(c in frame for c in columns):
        return None
    return frame[columns].to_numpy(dtype=float)


def evaluate(
    family: str,
    table: Table,
    validation: Validation,
    params: dict[str, Any],
    random_state: int,
    inspect: bool = False,
) -> Evaluation:
    """Fit and score ``family`` on every fold of ``validation``.

    With ``inspect``, the last fold's model is also inspected (importance, partial dependence)
    on that fold's validation rows: here, in the worker, where the fitted model already is and
    the cost counts against the candidate's time limit.
    """
    spec = get_spec(family, table.task)
    schema = table.schema
    result = Evaluation([], [], [], [], 0)
    oof_parts = []
    pipeline: Pipeline | None = None
    for fold in validation.folds(table, random_state):
        pipeline = spec.build(schema, params=params, random_state=random_state)
        start = time.perf_counter()
        pipeline.fit(fold.train.X, fold.train.y)
        result.fit_seconds.append(time.perf_counter() - start)
        start = time.perf_counter()
        pred = predict_frame(pipeline, fold.valid.X, schema.classes)
        result.predict_seconds.append(time.perf_counter() - start)
        result.predict_rows.append(len(fold.valid))
        y_true = fold.valid.y.to_numpy()
        result.fold_metrics.append(
            score(
                table.task,
                y_true,
                pred["prediction"].to_numpy(),
                probabilities(pred, schema.classes),
                schema.classes or None,
            )
        )
        pred.insert(0, "fold", fold.index)
        pred.insert(1, "actual", y_true)
        oof_parts.append(pred)
    if pipeline is not None:
        result.size_bytes = len(pickle.dumps(pipeline))
        if inspect:
            try:
                result.inspection = inspect_pipeline(
                    pipeline,
                    fold.valid.X,
                    fold.valid.y,
                    table.task,
                    schema.classes,
                    categorical=schema.categorical,
                    random_state=random_state,
                )
            except Exception:  # the assessment is a bonus: a validated model stays valid
                logger.warning("could not inspect %s", family, exc_info=True)
    result.oof = pd.concat(oof_parts, ignore_index=True) if oof_parts else pd.DataFrame()
    return result
