"""What AutoML searches: model families, their hyperparameters and feature-engineering choices,
and the warm-start portfolio of strong defaults that is evaluated before any search.

A configuration is plain JSON-able data, the unit a trial evaluates and a recipe records::

    {"family": "lightgbm",
     "params": {"learning_rate": 0.05, "num_leaves": 31, ...},
     "preprocessing": {"categorical": "native", "target_encoded": [], "datetime": "calendar"}}

The ranges follow FLAML's (Wang et al., "FLAML: A Fast and Lightweight AutoML Library", MLSys
2021, ``flaml/automl/model.py``) narrowed where a one-minute budget cannot afford the extremes
(learning rates below 0.01, 32,768 leaves). Boosting is not given a number of trees to search:
each trial stops early on an inner split (see ``_trial``), so one trial covers every tree count.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelcycle.data import Table, Task
from modelcycle.exceptions import ParameterError

if TYPE_CHECKING:
    import optuna

#: The families AutoML searches, by task, cheapest to train first.
FAMILIES: Mapping[Task, tuple[str, ...]] = {
    Task.BINARY: (
        "logistic_regression",
        "lightgbm",
        "random_forest",
        "extra_trees",
        "hist_gradient_boosting",
        "knn",
    ),
    Task.MULTICLASS: (
        "logistic_regression",
        "lightgbm",
        "random_forest",
        "extra_trees",
        "hist_gradient_boosting",
        "knn",
    ),
    Task.REGRESSION: (
        "ridge",
        "lightgbm",
        "random_forest",
        "extra_trees",
        "hist_gradient_boosting",
        "knn",
    ),
}

#: Families whose number of trees grows with the time a trial is given (anytime forests).
FORESTS = frozenset({"random_forest", "extra_trees"})
#: Families whose number of boosting rounds is found by early stopping on an inner split.
EARLY_STOPPED = frozenset({"lightgbm"})
#: Trees a forest grows when its trial has the time (the baselines' 300 trees).
FOREST_TREES = 300
#: Most boosting rounds a LightGBM trial may grow before early stopping ends it.
MAX_BOOSTING_ROUNDS = 5000
# A categorical column with at least this many levels may be target-encoded (Micci-Barreca
# 2001; scikit-learn's TargetEncoder with cross fitting): one-hot would widen the table and
# integer codes impose an arbitrary order on many levels.
HIGH_CARDINALITY = 10
# kNN scans its training rows at predict time: beyond this many it costs more than it can win.
_KNN_MAX_ROWS = 100_000
# The warm start includes a default kNN up to this many training rows.
_KNN_DEFAULT_ROWS = 10_000
# Tables with at most this many features have few enough to consider all at every split.
_FEW_FEATURES = 8

# The encoding choices each family may try for categorical columns. "native" lets LightGBM and
# histogram boosting split on categories directly; "ordinal" gives them integer codes instead
# (native splits overfit small data); "target" target-encodes the high-cardinality columns.
_ENCODINGS: Mapping[str, tuple[str, ...]] = {
    "lightgbm": ("native", "ordinal"),
    "hist_gradient_boosting": ("native", "ordinal"),
    "random_forest": ("ordinal",),
    "extra_trees": ("ordinal",),
    "logistic_regression": ("onehot",),
    "ridge": ("onehot",),
    "knn": ("onehot",),
}
# Datetime columns always give their calendar parts; "trend" adds the time itself as days since
# 1970, which lets trees follow growth over the years that month and weekday cannot express.
_DATETIME = ("calendar", "trend")


@dataclass(frozen=True)
class SpaceContext:
    """What the search space depends on: the task and the size and kinds of the data."""

    task: Task
    n_rows: int
    n_features: int
    has_categorical: bool
    high_cardinality: tuple[str, ...] = ()
    has_datetime: bool = False

    @classmethod
    def of(cls, table: Table, n_train_rows: int) -> SpaceContext:
        schema = table.schema
        frame = table.frame
        high = tuple(
            c for c in schema.categorical if frame[c].nunique(dropna=True) >= HIGH_CARDINALITY
        )
        return cls(
            task=schema.task,
            n_rows=n_train_rows,
            n_features=max(1, len(schema.features)),
            has_categorical=bool(schema.categorical),
            high_cardinality=high,
            has_datetime=bool(schema.datetime),
        )


@dataclass(frozen=True)
class Family:
    """A family's search space: ``suggest`` draws its hyperparameters from an Optuna trial."""

    name: str
    suggest: Callable[[optuna.Trial, SpaceContext], dict[str, Any]] = field(repr=False)


def _p(family: str, name: str) -> str:
    """The Optuna name of a family's hyperparameter: families share no parameter."""
    return f"{family}.{name}"


def _most_leaves(ctx: SpaceContext) -> int:
    # A leaf needs rows: more leaves than a quarter of the rows only memorises them.
    return max(8, min(1024, ctx.n_rows // 4))


def _most_neighbours(ctx: SpaceContext) -> int:
    return max(2, min(100, ctx.n_rows // 4))


def _lightgbm(trial: optuna.Trial, ctx: SpaceContext) -> dict[str, Any]:
    f = "lightgbm"
    subsample = trial.suggest_float(_p(f, "subsample"), 0.5, 1.0)
    return {
        "learning_rate": trial.suggest_float(_p(f, "learning_rate"), 0.01, 0.3, log=True),
        "num_leaves": trial.suggest_int(_p(f, "num_leaves"), 4, _most_leaves(ctx), log=True),
        "min_child_samples": trial.suggest_int(_p(f, "min_child_samples"), 2, 128, log=True),
        "colsample_bytree": trial.suggest_float(_p(f, "colsample_bytree"), 0.3, 1.0),
        "subsample": subsample,
        # Row subsampling only happens when bagging is switched on (every iteration).
        "subsample_freq": 1 if subsample < 1.0 else 0,
        "reg_alpha": trial.suggest_float(_p(f, "reg_alpha"), 1e-3, 10.0, log=True),
        "reg_lambda": trial.suggest_float(_p(f, "reg_lambda"), 1e-3, 10.0, log=True),
        "max_bin": 2 ** trial.suggest_int(_p(f, "log2_max_bin"), 5, 9),
    }


def _forest(family: str) -> Callable[[optuna.Trial, SpaceContext], dict[str, Any]]:
    def suggest(trial: optuna.Trial, ctx: SpaceContext) -> dict[str, Any]:
        params: dict[str, Any] = {
            "max_features": trial.suggest_float(_p(family, "max_features"), 0.1, 1.0),
            "min_samples_leaf": trial.suggest_int(_p(family, "min_samples_leaf"), 1, 32, log=True),
        }
        if ctx.task.is_classification:
            params["criterion"] = trial.suggest_categorical(
                _p(family, "criterion"), ["gini", "entropy"]
            )
        return params

    return suggest


def _hist_gradient_boosting(trial: optuna.Trial, ctx: SpaceContext) -> dict[str, Any]:
    f = "hist_gradient_boosting"
    return {
        "learning_rate": trial.suggest_float(_p(f, "learning_rate"), 0.01, 0.3, log=True),
        "max_leaf_nodes": trial.suggest_int(_p(f, "max_leaf_nodes"), 4, 256, log=True),
        "min_samples_leaf": trial.suggest_int(_p(f, "min_samples_leaf"), 2, 128, log=True),
        "l2_regularization": trial.suggest_float(_p(f, "l2_regularization"), 1e-4, 10.0, log=True),
        "max_features": trial.suggest_float(_p(f, "max_features"), 0.3, 1.0),
    }


def _logistic_regression(trial: optuna.Trial, ctx: SpaceContext) -> dict[str, Any]:
    return {"C": trial.suggest_float(_p("logistic_regression", "C"), 1e-3, 100.0, log=True)}


def _ridge(trial: optuna.Trial, ctx: SpaceContext) -> dict[str, Any]:
    return {"alpha": trial.suggest_float(_p("ridge", "alpha"), 1e-3, 1e3, log=True)}


def _knn(trial: optuna.Trial, ctx: SpaceContext) -> dict[str, Any]:
    f = "knn"
    return {
        "n_neighbors": trial.suggest_int(_p(f, "n_neighbors"), 1, _most_neighbours(ctx), log=True),
        "weights": trial.suggest_categorical(_p(f, "weights"), ["uniform", "distance"]),
    }


_SPACES: Mapping[str, Family] = {
    family.name: family
    for family in (
        Family("lightgbm", _lightgbm),
        Family("random_forest", _forest("random_forest")),
        Family("extra_trees", _forest("extra_trees")),
        Family("hist_gradient_boosting", _hist_gradient_boosting),
        Family("logistic_regression", _logistic_regression),
        Family("ridge", _ridge),
        Family("knn", _knn),
    )
}

# Settings every trial of a family uses and the search never changes: one thread per model
# (parallelism is across trials), quiet LightGBM, early stopping inside histogram boosting.
_FIXED: Mapping[str, dict[str, Any]] = {
    "lightgbm": {"n_jobs": 1, "verbose": -1},
    "random_forest": {"n_estimators": FOREST_TREES, "n_jobs": 1},
    "extra_trees": {"n_estimators": FOREST_TREES, "n_jobs": 1},
    "hist_gradient_boosting": {
        "max_iter": 1000,
        "early_stopping": True,
        "validation_fraction": 0.1,
        "n_iter_no_change": 20,
    },
    "logistic_regression": {"max_iter": 2000},
    "ridge": {},
    "knn": {"n_jobs": 1},
}


def resolve_families(task: Task, families: Sequence[str] | None, n_rows: int) -> list[str]:
    """The families to search: all of the task's by default, checked against the task.

    Raises
    ------
    ParameterError
        A family AutoML does not search for this task, or an empty list.
    """
    known = FAMILIES[task]
    if families is None:
        return [f for f in known if f != "knn" or n_rows <= _KNN_MAX_ROWS]
    chosen = [families] if isinstance(families, str) else list(families)
    unknown = [f for f in chosen if f not in known]
    if unknown or not chosen:
        raise ParameterError(
            "families",
            "automl",
            f"a non-empty list drawn from {list(known)} for a {task} task",
            families,
        )
    return [f for f in known if f in chosen]


def suggest(trial: optuna.Trial, families: Sequence[str], ctx: SpaceContext) -> dict[str, Any]:
    """Draw one configuration (family, hyperparameters, feature choices) from ``trial``."""
    family = str(trial.suggest_categorical("family", list(families)))
    params = {**_FIXED[family], **_SPACES[family].suggest(trial, ctx)}
    preprocessing: dict[str, Any] = {}
    if ctx.has_categorical:
        choices = list(_ENCODINGS[family])
        if ctx.high_cardinality:
            choices.append("target")
        encoding = (
            trial.suggest_categorical(_p(family, "categorical"), choices)
            if len(choices) > 1
            else choices[0]
        )
        preprocessing["categorical"] = encoding
        preprocessing["target_encoded"] = list(ctx.high_cardinality) if encoding == "target" else []
    if ctx.has_datetime:
        preprocessing["datetime"] = trial.suggest_categorical(
            _p(family, "datetime"), list(_DATETIME)
        )
    return {"family": family, "params": params, "preprocessing": preprocessing}


def portfolio(task: Task, families: Sequence[str], ctx: SpaceContext) -> list[dict[str, Any]]:
    """The warm start: strong default configurations, evaluated first, as Optuna parameters.

    The order is strong and cheap first: default LightGBM, a linear model, histogram boosting,
    then the 300-tree forests (the issue's baselines: a default forest beats FLAML's one-minute
    search on two data sets), a deeper LightGBM and, on small tables, kNN. Portfolios of
    defaults that are robust across data sets are FLAML's own zero-shot answer to tight
    budgets (Kayali & Wang, "Mining Robust Default Configurations for Resource-constrained
    AutoML", 2022) and auto-sklearn's warm start (Feurer et al. 2015).
    """
    sqrt_share = min(1.0, max(0.1, 1.0 / math.sqrt(ctx.n_features)))
    classification = task.is_classification
    # Classification forests split on sqrt(features) (scikit-learn's default); regression
    # forests on half of them, more accurate than all of them on small data and twice as fast.
    forest_share = sqrt_share if classification else 0.5
    # LightGBM's own defaults (learning rate 0.1, 31 leaves) converge in a few hundred rounds:
    # the first model of a ten-second search must not be cut short by its clock.
    lightgbm = {
        "learning_rate": 0.1,
        "num_leaves": min(31, _most_leaves(ctx)),
        "min_child_samples": 20,
        "colsample_bytree": 0.8,
        "subsample": 1.0,
        "reg_alpha": 1e-3,
        "reg_lambda": 1e-3,
        "log2_max_bin": 8,
    }
    deep = {
        **lightgbm,
        "learning_rate": 0.05,
        "num_leaves": min(127, _most_leaves(ctx)),
        "min_child_samples": 10,
        "colsample_bytree": 0.7,
        "subsample": 0.8,
    }
    forest: dict[str, Any] = {"max_features": forest_share, "min_samples_leaf": 1}
    if classification:
        forest["criterion"] = "gini"
    # Extremely randomised trees draw their thresholds at random; with few features, drawing
    # the features at random too leaves too little signal per split: they consider all.
    extra = {**forest, "max_features": 1.0} if ctx.n_features <= _FEW_FEATURES else forest
    hist = {
        "learning_rate": 0.1,
        "max_leaf_nodes": 31,
        "min_samples_leaf": 20,
        "l2_regularization": 1e-4,
        "max_features": 1.0,
    }
    neighbours = {"n_neighbors": min(15, _most_neighbours(ctx)), "weights": "distance"}
    configs: list[tuple[str, dict[str, Any], str]] = [
        ("lightgbm", lightgbm, "native"),
        ("logistic_regression", {"C": 1.0}, "onehot"),
        ("ridge", {"alpha": 1.0}, "onehot"),
        ("hist_gradient_boosting", hist, "native"),
        ("random_forest", forest, "ordinal"),
        ("extra_trees", extra, "ordinal"),
        ("lightgbm", deep, "native"),
    ]
    if ctx.n_rows <= _KNN_DEFAULT_ROWS:
        # Neighbours shine on small tables; on large ones a default kNN costs seconds to
        # predict and the search can still propose one.
        configs.append(("knn", neighbours, "onehot"))
    out = []
    for family, params, encoding in configs:
        if family not in families:
            continue
        fixed: dict[str, Any] = {"family": family}
        fixed.update({_p(family, k): v for k, v in params.items()})
        if ctx.has_categorical and (len(_ENCODINGS[family]) > 1 or ctx.high_cardinality):
            fixed[_p(family, "categorical")] = encoding
        if ctx.has_datetime:
            fixed[_p(family, "datetime")] = "calendar"
        out.append(fixed)
    return out
