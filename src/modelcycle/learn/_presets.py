"""Model families with sensible defaults, and the presets that group them (like MATLAB's Learner
apps: "All Quick-To-Train", "All Linear", "All Trees", "All")."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from lightgbm import LGBMClassifier, LGBMRegressor
from sklearn.base import BaseEstimator
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import TransformedTargetRegressor
from sklearn.discriminant_analysis import (
    LinearDiscriminantAnalysis,
    QuadraticDiscriminantAnalysis,
)
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, LogisticRegression, Ridge
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, SVR, LinearSVC, LinearSVR
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from modelcycle.data import Schema, Task
from modelcycle.exceptions import ParameterError
from modelcycle.features import Encoding, build_preprocessor
from modelcycle.learn._metrics import resolve_task

__all__ = ["PRESETS", "ModelSpec", "get_spec", "model_specs"]

#: The group presets, by name, with what each holds.
PRESETS: Mapping[str, str] = MappingProxyType(
    {
        "quick": "fast families that give a first leaderboard in seconds to a minute",
        "linear": "linear models (and linear discriminant analysis)",
        "trees": "decision trees, forests and gradient boosting",
        "all": "every family that can train on the table's number of rows",
    }
)


@dataclass(frozen=True)
class ModelSpec:
    """A model family: its estimator, default hyperparameters and the preprocessing it needs.

    Parameters
    ----------
    name
        The family's identifier (``"lightgbm"``); unique within a task.
    label
        A human-readable name for leaderboards.
    tasks
        The tasks the family learns.
    groups
        The presets that include the family (``"all"`` includes every family).
    max_rows
        The most training rows the family handles in reasonable time (``None``: no limit).
    params
        Default hyperparameters, plain JSON-able values passed to ``estimator``.
    estimator
        The estimator class (or factory) called with the hyperparameters.
    scale
        Whether numeric features are standardised.
    encoding
        How categorical features are encoded: ``"onehot"`` or ``"ordinal"``.
    wrapper
        Wraps the estimator after it is built: probability calibration for SVMs, target
        standardisation for regressors that are sensitive to the target's scale.
    categorical_param
        The estimator parameter that receives the positions of ordinal-encoded categorical
        features, for families that split on categories natively.

    Examples
    --------
    >>> from modelcycle.data import load_table
    >>> import pandas as pd
    >>> table = load_table(pd.DataFrame({"x": [1, 2, 3, 4], "y": [0, 1, 0, 1]}), target="y")
    >>> pipeline = get_spec("lightgbm", table.task).build(table.schema)
    >>> [name for name, _ in pipeline.steps]
    ['prep', 'model']
    """

    name: str
    label: str
    tasks: frozenset[Task]
    groups: frozenset[str]
    max_rows: int | None
    params: Mapping[str, Any] = field(hash=False)
    estimator: Callable[..., BaseEstimator] = field(repr=False)
    scale: bool = False
    encoding: Encoding = "onehot"
    wrapper: Callable[[BaseEstimator], BaseEstimator] | None = field(default=None, repr=False)
    categorical_param: str | None = field(default=None, repr=False)

    @property
    def preprocessing(self) -> dict[str, Any]:
        """The preprocessing settings, as JSON-able data for a recipe."""
        return {"scale": self.scale, "encoding": self.encoding}

    def build(
        self, schema: Schema, params: Mapping[str, Any] | None = None, random_state: int = 0
    ) -> Pipeline:
        """An unfitted pipeline: ``"prep"`` (preprocessing) then ``"model"`` (the estimator).

        Parameters
        ----------
        schema
            The training table's schema.
        params
            Hyperparameters that override the defaults in :attr:`params`.
        random_state
            Seeds every random part of the estimator: the same seed gives the same model.

        Raises
        ------
        ParameterError
            ``params`` names a hyperparameter the estimator does not have.
        """
        merged = {**self.params, **(params or {})}
        self._check_params(merged)
        n_categorical = len(schema.categorical)
        if self.categorical_param and n_categorical and self.categorical_param not in merged:
            # The preprocessor puts ordinal-coded categorical columns first.
            merged[self.categorical_param] = list(range(n_categorical))
        estimator = self.estimator(**merged)
        if self.wrapper is not None:
            estimator = self.wrapper(estimator)
        seeds = {k: random_state for k in estimator.get_params() if k.endswith("random_state")}
        estimator.set_params(**seeds)
        prep = build_preprocessor(schema, scale=self.scale, encoding=self.encoding)
        return Pipeline([("prep", prep), ("model", estimator)])

    def _check_params(self, params: Mapping[str, Any]) -> None:
        signature = inspect.signature(self.estimator)
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
            return  # LightGBM takes any of its native parameters as keywords.
        valid = [name for name in signature.parameters if name != "random_state"]
        unknown = sorted(set(params) - set(valid))
        if unknown:
            raise ParameterError(
                "params",
                f"the {self.name!r} model",
                f"a dict of its hyperparameters ({', '.join(valid)})",
                unknown,
            )


# Wrappers: module-level functions, so the pipelines they build stay plain scikit-learn objects.


def _calibrated(estimator: BaseEstimator) -> BaseEstimator:
    """Probabilities for a margin classifier: Platt scaling fitted on 3-fold out-of-fold scores,
    then one model refit on all rows (``ensemble=False`` keeps prediction cost at one model)."""
    return CalibratedClassifierCV(estimator, cv=3, ensemble=False)


def _standardised_target(estimator: BaseEstimator) -> BaseEstimator:
    """Fit on the standardised target, so penalties, margins and step sizes do not depend on
    the target's units (a Lasso alpha of 0.01 means the same for prices and for counts)."""
    return TransformedTargetRegressor(regressor=estimator, transformer=StandardScaler())


def _gaussian_process(
    *,
    length_scale: float = 3.0,
    noise_level: float = 0.1,
    n_restarts_optimizer: int = 0,
    random_state: int | None = None,
) -> GaussianProcessRegressor:
    """A Gaussian process with a fitted amplitude, length scale and noise (MATLAB's default
    squared-exponential GPR); the kernel is built here so its settings stay JSON-able."""
    kernel = ConstantKernel(1.0) * RBF(length_scale=length_scale) + WhiteKernel(noise_level)
    return GaussianProcessRegressor(
        kernel=kernel,
        normalize_y=True,
        n_restarts_optimizer=n_restarts_optimizer,
        random_state=random_state,
    )


_CLASSIFICATION = frozenset({Task.BINARY, Task.MULTICLASS})
_REGRESSION = frozenset({Task.REGRESSION})
# Kernel methods: training time and memory grow with the square (or cube) of the rows.
_KERNEL_ROWS = 10_000
_GP_ROWS = 3_000
# Nearest neighbours predict by scanning the training rows: cross-validation grows quadratically.
_KNN_ROWS = 100_000

_FOREST = {"n_estimators": 200, "min_samples_leaf": 3, "n_jobs": 1}
_LIGHTGBM = {
    "n_estimators": 300,
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_child_samples": 20,
    "colsample_bytree": 0.8,
    "n_jobs": 1,
    "verbose": -1,
}
_MLP = {
    "hidden_layer_sizes": [64],
    "alpha": 1e-3,
    "early_stopping": True,
    "max_iter": 300,
}
# LightGBM takes the categorical positions through a parameter alias: the documented name
# `categorical_feature` collides with an argument of its Dataset and warns that it is ignored.
_LIGHTGBM_CATEGORICAL = "cat_feature"


def _spec(
    name: str,
    label: str,
    tasks: frozenset[Task],
    estimator: Callable[..., BaseEstimator],
    params: Mapping[str, Any] | None = None,
    *,
    groups: Iterable[str] = (),
    max_rows: int | None = None,
    scale: bool = False,
    encoding: Encoding = "onehot",
    wrapper: Callable[[BaseEstimator], BaseEstimator] | None = None,
    categorical_param: str | None = None,
) -> ModelSpec:
    return ModelSpec(
        name=name,
        label=label,
        tasks=tasks,
        groups=frozenset(groups),
        max_rows=max_rows,
        params=MappingProxyType(dict(params or {})),
        estimator=estimator,
        scale=scale,
        encoding=encoding,
        wrapper=wrapper,
        categorical_param=categorical_param,
    )


_SPECS: tuple[ModelSpec, ...] = (
    # Classification, cheapest first.
    _spec("naive_bayes", "Gaussian naive Bayes", _CLASSIFICATION, GaussianNB, groups=["quick"]),
    _spec(
        "lda",
        "Linear discriminant",
        _CLASSIFICATION,
        LinearDiscriminantAnalysis,
        # Ledoit-Wolf shrinkage keeps the covariance invertible with collinear one-hot columns.
        {"solver": "lsqr", "shrinkage": "auto"},
        groups=["quick", "linear"],
        scale=True,
    ),
    _spec(
        "logistic_regression",
        "Logistic regression",
        _CLASSIFICATION,
        LogisticRegression,
        {"C": 1.0, "max_iter": 1000},
        groups=["quick", "linear"],
        scale=True,
    ),
    _spec(
        "decision_tree",
        "Decision tree",
        _CLASSIFICATION,
        DecisionTreeClassifier,
        {"min_samples_leaf": 20},
        groups=["quick", "trees"],
        encoding="ordinal",
    ),
    _spec(
        "lightgbm",
        "LightGBM",
        _CLASSIFICATION,
        LGBMClassifier,
        _LIGHTGBM,
        groups=["quick", "trees"],
        encoding="ordinal",
        categorical_param=_LIGHTGBM_CATEGORICAL,
    ),
    _spec(
        "hist_gradient_boosting",
        "Histogram gradient boosting",
        _CLASSIFICATION,
        HistGradientBoostingClassifier,
        {"max_iter": 200},
        groups=["trees"],
        encoding="ordinal",
        categorical_param="categorical_features",
    ),
    _spec(
        "linear_svm",
        "Linear SVM",
        _CLASSIFICATION,
        LinearSVC,
        {"C": 0.1},
        groups=["linear"],
        scale=True,
        wrapper=_calibrated,
    ),
    _spec(
        "qda",
        "Quadratic discriminant",
        _CLASSIFICATION,
        QuadraticDiscriminantAnalysis,
        # Ledoit-Wolf shrinkage keeps each class covariance invertible with collinear one-hot
        # columns and with classes smaller than the feature count (reg_param with the default
        # SVD solver still refuses those).
        {"solver": "eigen", "shrinkage": "auto"},
        scale=True,
    ),
    _spec(
        "knn",
        "k nearest neighbours",
        _CLASSIFICATION,
        KNeighborsClassifier,
        {"n_neighbors": 15, "n_jobs": 1},
        max_rows=_KNN_ROWS,
        scale=True,
    ),
    _spec(
        "random_forest",
        "Random forest",
        _CLASSIFICATION,
        RandomForestClassifier,
        _FOREST,
        groups=["trees"],
        encoding="ordinal",
    ),
    _spec(
        "extra_trees",
        "Extremely randomised trees",
        _CLASSIFICATION,
        ExtraTreesClassifier,
        _FOREST,
        groups=["trees"],
        encoding="ordinal",
    ),
    _spec("neural_network", "Neural network", _CLASSIFICATION, MLPClassifier, _MLP, scale=True),
    _spec(
        "kernel_svm",
        "Kernel SVM (RBF)",
        _CLASSIFICATION,
        SVC,
        {"C": 1.0, "gamma": "scale", "cache_size": 500},
        max_rows=_KERNEL_ROWS,
        scale=True,
        wrapper=_calibrated,
    ),
    # Regression, cheapest first.
    _spec(
        "linear",
        "Linear regression",
        _REGRESSION,
        LinearRegression,
        groups=["quick", "linear"],
        scale=True,
    ),
    _spec(
        "ridge",
        "Ridge regression",
        _REGRESSION,
        Ridge,
        {"alpha": 1.0},
        groups=["quick", "linear"],
        scale=True,
    ),
    _spec(
        "lasso",
        "Lasso",
        _REGRESSION,
        Lasso,
        {"alpha": 0.01, "max_iter": 5000},
        groups=["linear"],
        scale=True,
        wrapper=_standardised_target,
    ),
    _spec(
        "elastic_net",
        "Elastic net",
        _REGRESSION,
        ElasticNet,
        {"alpha": 0.01, "l1_ratio": 0.5, "max_iter": 5000},
        groups=["linear"],
        scale=True,
        wrapper=_standardised_target,
    ),
    _spec(
        "linear_svr",
        "Linear SVR",
        _REGRESSION,
        LinearSVR,
        {"C": 1.0, "epsilon": 0.0, "loss": "squared_epsilon_insensitive", "max_iter": 5000},
        groups=["linear"],
        scale=True,
        wrapper=_standardised_target,
    ),
    _spec(
        "decision_tree",
        "Decision tree",
        _REGRESSION,
        DecisionTreeRegressor,
        {"min_samples_leaf": 10},
        groups=["quick", "trees"],
        encoding="ordinal",
    ),
    _spec(
        "lightgbm",
        "LightGBM",
        _REGRESSION,
        LGBMRegressor,
        _LIGHTGBM,
        groups=["quick", "trees"],
        encoding="ordinal",
        categorical_param=_LIGHTGBM_CATEGORICAL,
    ),
    _spec(
        "hist_gradient_boosting",
        "Histogram gradient boosting",
        _REGRESSION,
        HistGradientBoostingRegressor,
        {"max_iter": 200},
        groups=["trees"],
        encoding="ordinal",
        categorical_param="categorical_features",
    ),
    _spec(
        "knn",
        "k nearest neighbours",
        _REGRESSION,
        KNeighborsRegressor,
        {"n_neighbors": 10, "n_jobs": 1},
        max_rows=_KNN_ROWS,
        scale=True,
    ),
    # Bagged trees on half the features each split: as accurate as all of them, twice as fast.
    _spec(
        "random_forest",
        "Random forest",
        _REGRESSION,
        RandomForestRegressor,
        {**_FOREST, "max_features": 0.5},
        groups=["trees"],
        encoding="ordinal",
    ),
    _spec(
        "extra_trees",
        "Extremely randomised trees",
        _REGRESSION,
        ExtraTreesRegressor,
        _FOREST,
        groups=["trees"],
        encoding="ordinal",
    ),
    _spec(
        "neural_network",
        "Neural network",
        _REGRESSION,
        MLPRegressor,
        _MLP,
        scale=True,
        wrapper=_standardised_target,
    ),
    _spec(
        "svr",
        "Kernel SVR (RBF)",
        _REGRESSION,
        SVR,
        {"C": 1.0, "epsilon": 0.1, "cache_size": 500},
        max_rows=_KERNEL_ROWS,
        scale=True,
        wrapper=_standardised_target,
    ),
    _spec(
        "gaussian_process",
        "Gaussian process",
        _REGRESSION,
        _gaussian_process,
        max_rows=_GP_ROWS,
        scale=True,
    ),
)


def _registry(task: Task) -> dict[str, ModelSpec]:
    return {spec.name: spec for spec in _SPECS if task in spec.tasks}


def _lookup(name: Any, task: Task, parameter: str, owner: str, choices: Sequence[str]) -> ModelSpec:
    specs = _registry(task)
    if isinstance(name, str) and name in specs:
        return specs[name]
    hint = ""
    for kind, other in (("classification", Task.BINARY), ("regression", Task.REGRESSION)):
        if isinstance(name, str) and name in _registry(other):
            hint = f" ({name!r} is a {kind} model)"
    raise ParameterError(
        parameter, owner, f"one of {', '.join(map(repr, choices))} for a {task} task{hint}", name
    )


def get_spec(name: str, task: Task | str) -> ModelSpec:
    """The model family ``name`` for ``task``.

    Raises
    ------
    ParameterError
        No family of that name learns the task; the message lists those that do.

    Examples
    --------
    >>> get_spec("random_forest", "regression").label
    'Random forest'
    """
    resolved = resolve_task(task, "get_spec")
    return _lookup(name, resolved, "name", "get_spec", list(_registry(resolved)))


def model_specs(
    task: Task | str, preset: str | Sequence[str] = "quick", n_rows: int | None = None
) -> list[ModelSpec]:
    """The model families a preset (or a list of names) selects for a task.

    Parameters
    ----------
    task
        The task to learn.
    preset
        A preset from :data:`PRESETS` (``"quick"``, ``"linear"``, ``"trees"``, ``"all"``), a
        family name, or a list mixing both.
    n_rows
        The number of training rows. Presets leave out families whose ``max_rows`` is smaller;
        naming such a family explicitly is an error.

    Returns
    -------
    list of ModelSpec
        In the registry's order (cheapest first), without duplicates.

    Raises
    ------
    ParameterError
        An unknown name, or an explicitly named family that cannot train on ``n_rows`` rows.

    Examples
    --------
    >>> [s.name for s in model_specs("binary", "linear")]
    ['lda', 'logistic_regression', 'linear_svm']
    >>> [s.name for s in model_specs("regression", ["lightgbm", "ridge"])]
    ['ridge', 'lightgbm']
    """
    resolved = resolve_task(task, "model_specs")
    items = [preset] if isinstance(preset, str) else list(preset)
    registry = _registry(resolved)
    choices = [*PRESETS, *registry]
    if not items:
        raise ParameterError(
            "preset", "model_specs", f"a preset or a non-empty list of names ({choices})", preset
        )
    chosen: set[str] = set()
    for item in items:
        if isinstance(item, str) and item in PRESETS:
            chosen.update(
                spec.name
                for spec in registry.values()
                if (item == "all" or item in spec.groups) and _fits(spec, n_rows)
            )
            continue
        spec = _lookup(item, resolved, "preset", "model_specs", choices)
        if not _fits(spec, n_rows):
            raise ParameterError(
                "preset",
                "model_specs",
                f"families that can train on {n_rows:,} rows; {spec.name!r} is limited to "
                f"{spec.max_rows:,} rows because its training time grows faster than the rows "
                f"(sample at most {spec.max_rows:,} rows, or use a preset such as 'all', which "
                "leaves it out)",
                spec.name,
            )
        chosen.add(spec.name)
    return [spec for name, spec in registry.items() if name in chosen]


def _fits(spec: ModelSpec, n_rows: int | None) -> bool:
    return n_rows is None or spec.max_rows is None or n_rows <= spec.max_rows
