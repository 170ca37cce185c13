"""The pipelines AutoML configurations describe: a Learner family's pipeline plus engineered
features (target encoding, a datetime trend) and, for an ensemble, several of them averaged.

Everything here is rebuilt from plain data, so a recipe retrains the same model:
:func:`pipeline_from_recipe` is what :func:`modelcycle.learn.pipeline_from_recipe` calls for a
recipe whose ``source`` is ``"automl"``. Nothing here needs Optuna.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import VotingClassifier, VotingRegressor
from sklearn.impute import SimpleImputer
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, LabelEncoder, StandardScaler, TargetEncoder
from sklearn.utils import Bunch

from modelcycle.data import Schema, Task
from modelcycle.exceptions import ConfigError
from modelcycle.features._preprocess import _as_category_strings
from modelcycle.learn import get_spec

__all__ = ["assemble_ensemble", "build_pipeline", "member_name", "pipeline_from_recipe"]

_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")
_MISSING = "(missing)"
_TARGET_TYPES = {
    Task.BINARY: "binary",
    Task.MULTICLASS: "multiclass",
    Task.REGRESSION: "continuous",
}
# scikit-learn 1.9 takes the cross-fitting splitter itself; older versions a seed.
_SPLITTER_CV = tuple(int(p) for p in sklearn.__version__.split(".")[:2]) >= (1, 9)


def days_since_epoch(X: Any) -> np.ndarray:
    """Datetime columns (or ISO strings) as days since 1970-01-01 UTC; unparsable → NaN."""
    frame = pd.DataFrame(X)
    out = np.empty(frame.shape, dtype=np.float64)
    for j, name in enumerate(frame.columns):
        column = pd.to_datetime(frame[name], errors="coerce", format="mixed", utc=True)
        out[:, j] = ((column - _EPOCH) / pd.Timedelta(days=1)).to_numpy(
            dtype=np.float64, na_value=np.nan
        )
    return out


def _days_names(transformer: Any, input_features: Any) -> np.ndarray:
    return np.asarray([f"{name}_days" for name in input_features], dtype=object)


def _target_encoder(task: Task, scale: bool, random_state: int) -> Pipeline:
    """Target encoding with cross fitting: each training row is encoded by the other folds, so
    the model never sees its own target leak through its category's mean."""
    splitter = StratifiedKFold if task.is_classification else KFold
    encoder = (
        TargetEncoder(
            target_type=_TARGET_TYPES[task],
            cv=splitter(5, shuffle=True, random_state=random_state),
        )
        if _SPLITTER_CV
        else TargetEncoder(target_type=_TARGET_TYPES[task], shuffle=True, random_state=random_state)
    )
    steps: list[tuple[str, Any]] = [
        ("string", FunctionTransformer(_as_category_strings, feature_names_out="one-to-one")),
        ("impute", SimpleImputer(strategy="constant", fill_value=_MISSING)),
        ("encode", encoder),
    ]
    return Pipeline([*steps, ("scale", StandardScaler())] if scale else steps)


def _trend(scale: bool) -> Pipeline:
    steps: list[tuple[str, Any]] = [
        ("days", FunctionTransformer(days_since_epoch, feature_names_out=_days_names)),
        ("impute", SimpleImputer(strategy="median")),
    ]
    return Pipeline([*steps, ("scale", StandardScaler())] if scale else steps)


def build_pipeline(schema: Schema, config: Mapping[str, Any], random_state: int = 0) -> Pipeline:
    """The unfitted pipeline of one configuration: ``"prep"`` then ``"model"``.

    Without engineered features this is exactly the Learner's pipeline of the family. Target
    encoding moves the high-cardinality columns out of the family's own preprocessing into a
    block of their own (after it, so natively categorical positions stay first); a datetime
    trend adds days since 1970 of each datetime column.

    Parameters
    ----------
    schema
        The training table's schema.
    config
        ``{"family": ..., "params": {...}, "preprocessing": {"categorical": ...,
        "target_encoded": [...], "datetime": ...}}``.
    random_state
        Seeds the estimator and the target encoder's cross fitting.

    Examples
    --------
    >>> import pandas as pd
    >>> from modelcycle.data import load_table
    >>> t = load_table(pd.DataFrame({"x": [1.0, 2, 3, 4], "y": [0, 1, 0, 1]}), target="y")
    >>> p = build_pipeline(t.schema, {"family": "knn", "params": {}})
    >>> [name for name, _ in p.steps]
    ['prep', 'model']
    """
    family = str(config["family"])
    params = dict(config.get("params") or {})
    prep_choices = config.get("preprocessing") or {}
    spec = get_spec(family, schema.task)
    encoded = [c for c in prep_choices.get("target_encoded") or () if c in schema.categorical]
    trend = prep_choices.get("datetime") == "trend" and bool(schema.datetime)
    base = schema.with_features([f for f in schema.features if f not in encoded])
    if spec.categorical_param and (
        prep_choices.get("categorical") == "ordinal" or not base.categorical
    ):
        # Integer codes treated as numbers: no native categorical splits.
        params[spec.categorical_param] = [] if family == "lightgbm" else None
    # With every feature target-encoded the family's own block is empty; build it on the full
    # schema only to get the estimator, and drop its preprocessing.
    pipeline = spec.build(base if base.features else schema, params, random_state)
    prep, model = pipeline.steps[0][1], pipeline.steps[-1][1]
    if not encoded and not trend:
        return pipeline
    blocks: list[tuple[str, Any, list[str]]] = []
    if base.features:
        blocks.append(("base", prep, base.features))
    if encoded:
        blocks.append(("target", _target_encoder(schema.task, spec.scale, random_state), encoded))
    if trend:
        blocks.append(("trend", _trend(spec.scale), schema.datetime))
    outer = ColumnTransformer(blocks, sparse_threshold=0.0, verbose_feature_names_out=False)
    return Pipeline([("prep", outer), ("model", model)])


def member_name(index: int, config: Mapping[str, Any]) -> str:
    """A member's name inside an ensemble (unique, and a valid scikit-learn step name)."""
    return f"m{index}_{config['family']}"


def _voting(task: Task, members: Sequence[tuple[str, Any]], weights: Sequence[float]) -> Any:
    if task.is_classification:
        # Soft voting averages class probabilities: what ensemble selection optimised.
        return VotingClassifier(list(members), voting="soft", weights=list(weights))
    return VotingRegressor(list(members), weights=list(weights))


def _ensemble(
    schema: Schema,
    members: Sequence[Mapping[str, Any]],
    weights: Sequence[float],
    random_state: int,
) -> Pipeline:
    estimators = [
        (member_name(i, config), build_pipeline(schema, config, random_state))
        for i, config in enumerate(members)
    ]
    return Pipeline([("ensemble", _voting(schema.task, estimators, weights))])


def assemble_ensemble(
    schema: Schema,
    members: Sequence[Mapping[str, Any]],
    weights: Sequence[float],
    fitted: Sequence[BaseEstimator],
    y: Any,
    random_state: int = 0,
) -> Pipeline:
    """The fitted ensemble of members fitted separately (in parallel, by AutoML's refit).

    Equal to fitting :func:`pipeline_from_recipe`'s ensemble on the same rows: each member is
    the same pipeline fitted on the same data, and the voting estimator only averages them.
    """
    pipeline = _ensemble(schema, members, weights, random_state)
    voting = pipeline.steps[0][1]
    names = [name for name, _ in voting.estimators]
    voting.estimators_ = list(fitted)
    voting.named_estimators_ = Bunch(**dict(zip(names, fitted, strict=True)))
    if schema.task.is_classification:
        voting.le_ = LabelEncoder().fit(y)
        voting.classes_ = voting.le_.classes_
    return pipeline


def pipeline_from_recipe(recipe: Mapping[str, Any]) -> Pipeline:
    """The unfitted pipeline an AutoML recipe describes: one model or a weighted ensemble.

    Raises
    ------
    ConfigError
        The recipe lacks a field AutoML writes.

    Examples
    --------
    >>> import modelcycle as mc
    >>> result = mc.automl("wine.csv", target="quality", budget=10)  # doctest: +SKIP
    >>> table = result.table  # doctest: +SKIP
    >>> pipeline_from_recipe(result.best.recipe).fit(table.X, table.y)  # doctest: +SKIP
    Pipeline(...)
    """
    try:
        schema = Schema.from_dict(recipe["schema"]).with_features(list(recipe["features"]))
        members = list(recipe["pipeline"]["members"])
        weights = list(recipe["pipeline"]["weights"])
        random_state = int(recipe["random_state"])
    except KeyError as exc:
        raise ConfigError(
            f"The AutoML recipe lacks the field {exc.args[0]!r}: it was not written by this "
            "version of modelcycle. Run AutoML again to get a complete recipe."
        ) from None
    if len(members) == 1:
        return build_pipeline(schema, members[0], random_state)
    return _ensemble(schema, members, weights, random_state)
