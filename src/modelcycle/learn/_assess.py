"""Look inside a fitted pipeline through its raw input columns: feature importance and partial
dependence.

Everything here speaks in the table's columns (``workclass``), never in the transformed ones a
model sees (``workclass_Private``): a user chose and can act on the former. Model-native
importances are summed back onto raw columns; model-agnostic methods perturb raw columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.inspection import partial_dependence, permutation_importance
from sklearn.metrics import log_loss
from sklearn.pipeline import Pipeline

from modelcycle.data import Task

#: Rows used to estimate permutation importance: enough for stable ranks, cheap for slow models.
PERMUTATION_ROWS = 1000
#: Rows averaged over for each partial-dependence grid point (the cost is rows x grid points).
DEPENDENCE_ROWS = 300
#: Grid points per numeric feature, and most categories shown for a categorical one.
GRID_POINTS = 20


@dataclass
class Inspection:
    """Feature importance and partial dependence of one fitted pipeline, over raw columns.

    Attributes
    ----------
    importance
        One row per raw feature, most important first: ``feature``, ``importance`` and
        ``std`` (spread over permutation repeats; 0 for native importances).
    method
        How importance was measured: ``"gain"``, ``"impurity"``, ``"|coefficient|"`` (shares
        of the total, summed over a column's encoded parts) or ``"permutation"`` (increase of
        the loss when the column is shuffled).
    partial_dependence
        For the top features: a frame with a ``value`` column (the grid) and one column per
        model output (``P(>50K)`` for a binary classifier, one per class for a multiclass one,
        ``prediction`` for a regressor).
    categorical
        The features among those in ``partial_dependence`` that are categorical.
    loss
        The loss permutation importance is measured in (``"log loss"``, ``"RMSE"``, ...).

    Examples
    --------
    >>> board = mc.Learner(table).compare("quick")  # doctest: +SKIP
    >>> board.best.inspection.importance.head(3)  # doctest: +SKIP
    >>> board.best.inspection.partial_dependence["age"]  # doctest: +SKIP
    """

    importance: pd.DataFrame
    method: str
    partial_dependence: dict[str, pd.DataFrame] = field(default_factory=dict)
    categorical: tuple[str, ...] = ()
    loss: str = ""


def output_labels(task: Task, classes: Sequence[Any]) -> list[str]:
    """Names of the model outputs explained or plotted: ``P(class)`` or ``prediction``."""
    if task is Task.BINARY:
        return [f"P({classes[-1]})"]
    if task.is_classification:
        return [f"P({c})" for c in classes]
    return ["prediction"]


def loss_name(task: Task, pipeline: Any) -> str:
    """The loss permutation importance is measured with (see :func:`permutation_table`)."""
    if not task.is_classification:
        return "RMSE"
    return "log loss" if hasattr(pipeline, "predict_proba") else "error rate"


def sample_rows(frame: pd.DataFrame, n: int, random_state: int) -> pd.DataFrame:
    """At most ``n`` rows of ``frame`` drawn without replacement (all rows when it is small)."""
    if len(frame) <= n:
        return frame
    return frame.sample(n=n, random_state=random_state)


def assignable(X: pd.DataFrame) -> pd.DataFrame:
    """A copy whose integer columns are floats, so grid values and shuffled or borrowed values
    can be written into them (pandas 3 refuses to write 37.5 into an int64 column). The
    preprocessing reads 3.0 as it reads 3, for numbers and for integer-coded categories."""
    out = X.copy()
    for column in out.columns:
        if pd.api.types.is_integer_dtype(out[column]) and not pd.api.types.is_bool_dtype(
            out[column]
        ):
            out[column] = out[column].astype("float64")
    return out


# -- raw columns and the model's columns -------------------------------------------------------


def feature_groups(pipeline: Any, features: Sequence[str]) -> list[np.ndarray] | None:
    """For each raw feature, the positions of the transformed columns made from it.

    Works for pipelines whose steps before the model are one :class:`ColumnTransformer` (the
    ones modelcycle builds); ``None`` when the mapping cannot be worked out, and callers then
    fall back to a model-agnostic method.
    """
    if not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 2:
        return None
    prep = pipeline.steps[0][1]
    if not isinstance(prep, ColumnTransformer):
        return None
    try:
        names = [str(n) for n in prep.get_feature_names_out()]
    except Exception:  # a transformer without feature names: no reliable mapping
        return None
    groups: dict[str, list[int]] = {str(f): [] for f in features}
    for block, _, columns in prep.transformers_:
        if block == "remainder":
            continue
        out = prep.output_indices_[block]
        owners = _owners(names[out.start : out.stop], [str(c) for c in columns])
        if owners is None:
            return None
        for offset, owner in enumerate(owners):
            if owner in groups:
                groups[owner].append(out.start + offset)
    return [np.asarray(groups[str(f)], dtype=int) for f in features]


def _owners(names: list[str], columns: list[str]) -> list[str] | None:
    """The input column of each output name of one block.

    Outputs come in input-column order and are named ``column`` or ``column_suffix`` (one-hot
    levels, calendar parts), so one forward pass assigns them; the longer of two matching names
    wins (``a_b_x`` belongs to ``a_b`` rather than ``a``).
    """
    if len(names) == len(columns):
        return list(columns)

    def belongs(name: str, column: str) -> bool:
        return name == column or name.startswith(column + "_")

    owners: list[str] = []
    j = 0
    for name in names:
        ahead = [i for i in range(j, len(columns)) if belongs(name, columns[i])]
        if not ahead:
            return None
        if not belongs(name, columns[j]) or any(
            len(columns[i]) > len(columns[j]) for i in ahead if i != j
        ):
            j = max(ahead, key=lambda i: (len(columns[i]), -i))
        owners.append(columns[j])
    return owners


def _unwrap(estimator: Any) -> Any:
    """The fitted estimator behind modelcycle's wrappers (target scaling, calibration)."""
    if isinstance(estimator, TransformedTargetRegressor):
        return estimator.regressor_
    if isinstance(estimator, CalibratedClassifierCV) and estimator.calibrated_classifiers_:
        return estimator.calibrated_classifiers_[0].estimator
    return estimator


def native_importance(
    pipeline: Any, X: pd.DataFrame, *, max_rows: int = PERMUTATION_ROWS
) -> tuple[pd.Series, str] | None:
    """Model-native importance per raw feature of ``X`` as shares of the total, with its kind.

    LightGBM's total split gain, scikit-learn trees' impurity decrease, or a linear model's
    ``|coefficient| x standard deviation`` of each encoded input in ``X`` (the effect of a
    typical change: a bare coefficient would make a rare one-hot level, which seldom moves,
    look as important as a numeric column), summed over each column's encoded parts. ``None``
    for models that have none (naive Bayes, kernels, neighbours, networks).
    """
    features = [str(c) for c in X.columns]
    groups = feature_groups(pipeline, features)
    if groups is None:
        return None
    model = _unwrap(pipeline.steps[-1][1])
    booster = getattr(model, "booster_", None)
    if booster is not None:
        values, kind = np.asarray(booster.feature_importance(importance_type="gain")), "gain"
    elif hasattr(model, "feature_importances_"):
        values, kind = np.asarray(model.feature_importances_), "impurity"
    elif hasattr(model, "coef_"):
        coef = np.abs(np.atleast_2d(np.asarray(model.coef_, dtype=float)))
        encoded = pipeline.steps[0][1].transform(sample_rows(X, max_rows, 0))
        spread = np.asarray(encoded, dtype=float).std(axis=0)
        if coef.shape[1] != len(spread):
            return None
        values, kind = coef.mean(axis=0) * spread, "|coefficient|"
    else:
        return None
    width = sum(len(g) for g in groups)
    if values.ndim != 1 or len(values) < width:
        return None
    raw = np.array([values[g].sum() if len(g) else 0.0 for g in groups], dtype=float)
    total = raw.sum()
    shares = raw / total if total > 0 else raw
    return pd.Series(shares, index=list(features), name="importance"), kind


# -- model-agnostic measures ---------------------------------------------------------------------


def _loss_scorer(task: Task) -> Any:
    """A scorer (greater is better) that permutation importance turns into a loss increase."""

    def scorer(estimator: Any, X: pd.DataFrame, y: Any) -> float:
        if not task.is_classification:
            residual = np.asarray(estimator.predict(X), dtype=float) - np.asarray(y, dtype=float)
            return -float(np.sqrt(np.mean(residual**2)))
        if hasattr(estimator, "predict_proba"):
            proba = np.clip(estimator.predict_proba(X), 1e-15, 1.0)
            return -float(log_loss(y, proba, labels=list(estimator.classes_)))
        return float(np.mean(np.asarray(estimator.predict(X)) == np.asarray(y)))

    return scorer


def permutation_table(
    pipeline: Any,
    X: pd.DataFrame,
    y: pd.Series,
    task: Task,
    *,
    n_repeats: int = 3,
    max_rows: int = PERMUTATION_ROWS,
    random_state: int = 0,
) -> pd.DataFrame:
    """Permutation importance of raw columns: how much the loss grows when one is shuffled.

    The loss is the log loss for classifiers with probabilities (the error rate otherwise)
    and the RMSE for regressors, so the importance is in those units.

    Examples
    --------
    >>> from sklearn.linear_model import LinearRegression
    >>> X = pd.DataFrame({"a": np.arange(50.0), "b": np.zeros(50)})
    >>> model = LinearRegression().fit(X, 2 * X["a"])
    >>> table = permutation_table(model, X, 2 * X["a"], Task.REGRESSION)
    >>> table["feature"].tolist()
    ['a', 'b']
    """
    rows = sample_rows(X, max_rows, random_state).index
    result = permutation_importance(
        pipeline,
        assignable(X.loc[rows]),
        y.loc[rows],
        scoring=_loss_scorer(task),
        n_repeats=n_repeats,
        random_state=random_state,
    )
    frame = pd.DataFrame(
        {
            "feature": list(X.columns),
            "importance": result.importances_mean,
            "std": result.importances_std,
        }
    )
    return frame.sort_values("importance", ascending=False, ignore_index=True)


def _grid(column: pd.Series, categorical: bool) -> np.ndarray | None:
    values = column.dropna()
    if values.empty:
        return None
    if categorical:
        top = values.astype(str).value_counts().index[:GRID_POINTS]
        return np.asarray(sorted(top), dtype=object)
    if not pd.api.types.is_numeric_dtype(values):
        return None  # datetimes: no meaningful grid of single values to set every row to
    numbers = values.to_numpy(dtype=float)
    unique = np.unique(numbers)
    if len(unique) <= GRID_POINTS:
        return unique
    # The 5th to 95th percentiles: the tails are too thin to average over honestly.
    grid = np.unique(np.percentile(numbers, np.linspace(5, 95, GRID_POINTS)))
    if len(grid) < GRID_POINTS // 2:
        # A spike (capital_gain is 0 for 92 % of adults) collapses the percentiles onto a few
        # values: spread the grid over the distinct values instead.
        grid = np.unique(np.percentile(unique, np.linspace(0, 95, GRID_POINTS)))
    return grid


def dependence_tables(
    pipeline: Any,
    X: pd.DataFrame,
    features: Sequence[str],
    task: Task,
    classes: Sequence[Any],
    *,
    categorical: Sequence[str] = (),
    max_rows: int = DEPENDENCE_ROWS,
    random_state: int = 0,
) -> dict[str, pd.DataFrame]:
    """Partial dependence of the model's output on each of ``features`` (raw columns).

    Computed with :func:`sklearn.inspection.partial_dependence` on the whole pipeline, so
    categorical columns are set to each of their most frequent categories and numeric ones
    to a percentile grid; missing values never become grid points.
    """
    sample = assignable(sample_rows(X, max_rows, random_state))
    labels = output_labels(task, classes)
    out: dict[str, pd.DataFrame] = {}
    for feature in features:
        is_categorical = feature in categorical
        grid = _grid(sample[feature], is_categorical)
        if grid is None:
            continue
        if is_categorical:
            # The grid is strings; so must the column be for pandas to accept them.
            sample[feature] = sample[feature].astype(object)
        result = partial_dependence(
            pipeline,
            sample,
            [feature],
            custom_values={feature: grid},
            categorical_features=[feature] if is_categorical else None,
            kind="average",
        )
        average = np.atleast_2d(result["average"])
        frame = pd.DataFrame({"value": result["grid_values"][0]})
        for label, values in zip(labels, average, strict=False):
            frame[label] = values
        out[feature] = frame
    return out


def inspect_pipeline(
    pipeline: Any,
    X: pd.DataFrame,
    y: pd.Series,
    task: Task,
    classes: Sequence[Any],
    *,
    categorical: Sequence[str] = (),
    top: int = 3,
    random_state: int = 0,
) -> Inspection:
    """Importance of every raw feature and partial dependence of the ``top`` ones.

    Native importance where the model has one, else permutation importance on ``X`` and
    ``y`` (rows the pipeline was not fitted on, for an honest measure).

    Examples
    --------
    >>> from sklearn.linear_model import LinearRegression
    >>> X = pd.DataFrame({"a": np.arange(50.0), "b": np.zeros(50)})
    >>> model = LinearRegression().fit(X, 2 * X["a"])
    >>> inspect_pipeline(model, X, 2 * X["a"], Task.REGRESSION, (), top=1).method
    'permutation'
    """
    native = native_importance(pipeline, X)
    if native is not None:
        shares, method = native
        importance = pd.DataFrame(
            {"feature": shares.index, "importance": shares.to_numpy(), "std": 0.0}
        ).sort_values("importance", ascending=False, ignore_index=True)
    else:
        method = "permutation"
        importance = permutation_table(pipeline, X, y, task, random_state=random_state)
    chosen = importance["feature"].head(top).tolist()
    dependence = dependence_tables(
        pipeline,
        X,
        chosen,
        task,
        classes,
        categorical=categorical,
        random_state=random_state,
    )
    return Inspection(
        importance,
        method,
        dependence,
        tuple(f for f in chosen if f in categorical),
        loss_name(task, pipeline),
    )
