"""Explain a model over its raw columns: which features matter (permutation importance, partial
dependence, mean |Shapley value|) and why it predicted one row as it did (Shapley values).

Shapley values come from LightGBM itself where it can give them (exact, ``pred_contrib``) and
otherwise from a model-agnostic sampling estimator whose cost is bounded up front.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from sklearn.base import is_classifier

from modelcycle.data import ColumnKind, Schema, Table, Task, load_table
from modelcycle.exceptions import ColumnNotFoundError, ParameterError
from modelcycle.learn._assess import (
    assignable,
    dependence_tables,
    feature_groups,
    loss_name,
    permutation_table,
    sample_rows,
)
from modelcycle.learn._candidate import Candidate
from modelcycle.learn._plots import dependence_figure, importance_figure, waterfall_figure
from modelcycle.registry import LoadedModel
from modelcycle.report import Section, write_page

#: Most model evaluations (rows predicted) the sampling estimator spends on the global summary.
MAX_EVALUATIONS = 40_000
#: Rows whose Shapley values are averaged into the global summary.
SUMMARY_ROWS = 64
#: Rows predicted per call: bounds memory whatever the budget.
_CHUNK = 20_000


@dataclass
class Explanation:
    """What a model relies on, globally and for one row.

    Attributes
    ----------
    model
        A readable name of the model explained.
    task
        The model's task.
    output
        The quantity Shapley values add up to: ``"probability of >50K"`` (model-agnostic
        estimator), ``"log-odds of >50K"`` (LightGBM's exact values, in its raw score) or
        ``"prediction"`` (regression).
    method
        How the Shapley values were computed.
    global_importance
        One row per raw feature, most important first: ``permutation_importance`` and
        ``permutation_std`` (increase of the loss named by ``loss`` when the column is
        shuffled; NaN without a target column) and ``mean_abs_shap`` (mean |Shapley value|
        over a sample of rows, in ``output`` units).
    loss
        The loss permutation importance is measured in.
    partial_dependence
        For the top features: the grid (``value``) and the average model output there.
    categorical
        Which features of ``partial_dependence`` are categorical.
    local
        For the explained row: ``feature``, its ``value`` and its ``contribution``, largest
        contribution (in absolute value) first; ``None`` when no row was asked for.
    base_value, prediction
        For the explained row: the average output over the background and the model's output
        for the row; ``base_value + local["contribution"].sum() == prediction`` up to rounding.
    row
        The position of the explained row in the table (``None`` for a row passed as a frame).

    Examples
    --------
    >>> from modelcycle.learn import explain
    >>> explanation = explain(learner.best_, table, row=0)  # doctest: +SKIP
    >>> explanation.global_importance.head(3)  # doctest: +SKIP
    >>> explanation.to_html("why.html")  # doctest: +SKIP
    """

    model: str
    task: Task
    output: str
    method: str
    global_importance: pd.DataFrame
    loss: str
    partial_dependence: dict[str, pd.DataFrame] = field(default_factory=dict)
    categorical: tuple[str, ...] = ()
    local: pd.DataFrame | None = None
    base_value: float | None = None
    prediction: float | None = None
    row: int | None = None

    def figures(self) -> dict[str, go.Figure]:
        """Global importance, the Shapley summary, partial dependence and the local waterfall."""
        frame = self.global_importance
        figures: dict[str, go.Figure] = {}
        # figure: (column, its error column, title, axis title)
        bars: dict[str, tuple[str, str | None, str, str]] = {
            "permutation_importance": (
                "permutation_importance",
                "permutation_std",
                "Permutation importance",
                f"increase in {self.loss} when the column is shuffled",
            ),
            "shapley_summary": (
                "mean_abs_shap",
                None,
                "Mean |Shapley value|",
                f"mean |contribution| to the {self.output}",
            ),
        }
        for name, (value, error, title, axis) in bars.items():
            if frame[value].notna().any():
                figures[name] = importance_figure(
                    frame, title=title, axis_title=axis, value=value, error=error
                )
        if self.partial_dependence:
            figures["partial_dependence"] = dependence_figure(
                self.partial_dependence, self.categorical
            )
        if self.local is not None and self.base_value is not None:
            figures["waterfall"] = waterfall_figure(
                self.local, self.base_value, float(self.prediction or 0.0), output=self.output
            )
        return figures

    def sections(self) -> list[Section]:
        """The explanation as report sections (for :func:`~modelcycle.report.write_page`)."""
        figures = self.figures()
        local = [figures.pop("waterfall")] if "waterfall" in figures else []
        sections = [
            Section(
                "What the model relies on",
                text=[f"Shapley values: {self.method}, in units of the {self.output}."],
                tables=[self.global_importance],
                figures=list(figures.values()),
            )
        ]
        if self.local is not None:
            where = f"row {self.row}" if self.row is not None else "the given row"
            sections.append(
                Section(
                    f"Why this prediction ({where})",
                    text=[
                        f"base value {self.base_value:.4g} + contributions "
                        f"{self.local['contribution'].sum():.4g} = {self.output} "
                        f"{self.prediction:.4g}"
                    ],
                    tables=[self.local],
                    figures=local,
                )
            )
        return sections

    def to_html(self, path: str | Path) -> Path:
        """Write a self-contained HTML page (plotly.js inline, works offline); returns its path."""
        return write_page(path, f"Explanation of {self.model}", self.sections())

    def to_dict(self) -> dict[str, Any]:
        """JSON-able data: the tables as records, NaN as ``None``."""

        def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
            objects = frame.astype(object)
            return objects.where(objects.notna(), None).to_dict(orient="records")  # type: ignore[return-value]

        return {
            "model": self.model,
            "task": str(self.task),
            "output": self.output,
            "method": self.method,
            "loss": self.loss,
            "global_importance": records(self.global_importance),
            "partial_dependence": {k: records(v) for k, v in self.partial_dependence.items()},
            "local": None if self.local is None else records(self.local),
            "base_value": self.base_value,
            "prediction": self.prediction,
            "row": self.row,
        }


@dataclass
class _Model:
    """What explaining needs to know of any model: its pipeline and the table it learned."""

    pipeline: Any
    name: str
    task: Task
    classes: tuple[Any, ...]
    features: list[str]
    categorical: list[str]
    target: str | None


def _resolve(model: Candidate | LoadedModel | Any, table: Table | None) -> _Model:
    recipe: dict[str, Any] | None = None
    pipeline: Any
    if isinstance(model, Candidate):
        if model.pipeline is None:
            model.refit()
        pipeline, name, recipe = model.pipeline, model.name, model.recipe
    elif isinstance(model, LoadedModel):
        pipeline, name, recipe = model.pipeline, f"{model.name} v{model.version}", model.recipe
    elif hasattr(model, "predict"):
        pipeline, name = model, type(model).__name__
        if hasattr(model, "steps"):
            name = type(model.steps[-1][1]).__name__
    else:
        raise ParameterError(
            "model",
            "explain",
            "a Candidate, a fitted scikit-learn pipeline or a LoadedModel",
            type(model).__name__,
        )
    schema = None
    if recipe is not None:
        schema = Schema.from_dict(recipe["schema"]).with_features(list(recipe["features"]))
    elif table is not None:
        schema = table.schema
    classes = tuple(getattr(pipeline, "classes_", ()))
    if schema is not None and schema.task is not Task.CLUSTERING:
        task = schema.task
    elif is_classifier(pipeline):
        task = Task.BINARY if len(classes) == 2 else Task.MULTICLASS
    else:
        task = Task.REGRESSION
    if hasattr(pipeline, "feature_names_in_"):
        features = [str(f) for f in pipeline.feature_names_in_]
    elif schema is not None:
        features = list(schema.features)
    else:
        raise ParameterError(
            "model",
            "explain",
            "a model fitted on a DataFrame (so its input columns are known)",
            name,
        )
    categorical = [
        f
        for f in features
        if schema is not None and schema.columns.get(f) is ColumnKind.CATEGORICAL
    ]
    return _Model(
        pipeline, name, task, classes, features, categorical, schema.target if schema else None
    )


def _frame(table: Table | pd.DataFrame | str | Path) -> pd.DataFrame:
    if isinstance(table, Table):
        return table.frame
    if isinstance(table, pd.DataFrame):
        return table
    return load_table(table).frame


def explain(
    model: Candidate | LoadedModel | Any,
    table: Table | pd.DataFrame | str | Path,
    row: int | pd.DataFrame | None = None,
    *,
    n_background: int = 100,
    n_permutations: int = 256,
    top: int = 5,
    random_state: int = 0,
) -> Explanation:
    """Explain a model globally on ``table`` and, with ``row``, one prediction.

    Parameters
    ----------
    model
        A :class:`Candidate` (refit first if needed), a fitted scikit-learn pipeline that takes
        the raw columns, or a :class:`~modelcycle.registry.LoadedModel`.
    table
        Rows to explain the model on: a Table, a DataFrame or a CSV/Parquet path, holding the
        model's feature columns (and its target, for permutation importance).
    row
        The row to explain: a position in ``table``, or a one-row DataFrame.
    n_background
        Rows drawn from ``table`` that stand in for "feature unknown" in the model-agnostic
        Shapley estimator; the base value is the mean output over them.
    n_permutations
        Feature orderings sampled for the explained row (the estimator's error shrinks as
        one over their square root); the global summary spends at most
        ``MAX_EVALUATIONS`` model evaluations whatever this is.
    top
        Features (by importance) whose partial dependence is computed.
    random_state
        Seed of every sample drawn.

    Returns
    -------
    Explanation

    Raises
    ------
    ColumnNotFoundError
        ``table`` lacks one of the model's feature columns.
    ParameterError
        ``row`` is out of range, or ``model`` is not something that predicts.

    Examples
    --------
    >>> import modelcycle as mc
    >>> from modelcycle.learn import explain
    >>> table = mc.load_table("adult.csv", target="income")  # doctest: +SKIP
    >>> board = mc.Learner(table).compare("quick")  # doctest: +SKIP
    >>> why = explain(board.best, table, row=0)  # doctest: +SKIP
    >>> why.base_value + why.local["contribution"].sum() - why.prediction  # doctest: +SKIP
    0.0
    """
    for name, value, least in (
        ("n_background", n_background, 1),
        ("n_permutations", n_permutations, 2),
        ("top", top, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ParameterError(name, "explain", f"an integer of at least {least}", value)
    resolved = _resolve(model, table if isinstance(table, Table) else None)
    frame = _frame(table)
    for feature in resolved.features:
        if feature not in frame.columns:
            raise ColumnNotFoundError(feature, frame.columns, role="feature")
    X = frame[resolved.features]
    if not resolved.categorical:
        # A bare pipeline has no schema: text-like columns are the categorical ones.
        resolved.categorical = [
            f
            for f in resolved.features
            if not pd.api.types.is_numeric_dtype(X[f])
            and not pd.api.types.is_datetime64_any_dtype(X[f])
        ]
    if X.empty:
        raise ParameterError("table", "explain", "a table with at least one row", "no rows")
    picked = _pick_row(X, row) if row is not None else None  # fail before the slow part
    rng = np.random.default_rng(random_state)
    shapley = _Shapley(resolved, sample_rows(X, n_background, random_state), rng)

    global_importance = _global_importance(resolved, frame, shapley, random_state)
    chosen = global_importance["feature"].head(top).tolist()
    dependence = dependence_tables(
        resolved.pipeline,
        X,
        chosen,
        resolved.task,
        resolved.classes,
        categorical=resolved.categorical,
        random_state=random_state,
    )
    explanation = Explanation(
        model=resolved.name,
        task=resolved.task,
        output=shapley.output_label(None),
        method=shapley.method,
        global_importance=global_importance,
        loss=loss_name(resolved.task, resolved.pipeline),
        partial_dependence=dependence,
        categorical=tuple(f for f in chosen if f in resolved.categorical),
    )
    if picked is not None:
        _explain_row(explanation, shapley, *picked, n_permutations)
    return explanation


def _global_importance(
    resolved: _Model, frame: pd.DataFrame, shapley: _Shapley, random_state: int
) -> pd.DataFrame:
    """Permutation importance (when the target is there) and mean |Shapley value| per feature,
    most important first."""
    X = frame[resolved.features]
    # Fewer rows for wide tables, so even one antithetic pair per row fits the budget.
    n_summary = min(SUMMARY_ROWS, max(4, MAX_EVALUATIONS // (2 * (X.shape[1] + 1))))
    summary_rows = sample_rows(X, n_summary, random_state)
    per_row = _walks(len(summary_rows), X.shape[1], MAX_EVALUATIONS)
    values, _ = shapley.values(summary_rows, per_row)
    mean_abs = np.abs(values).mean(axis=(0, 2))

    frame_importance = pd.DataFrame(
        {"feature": resolved.features, "mean_abs_shap": mean_abs}
    ).set_index("feature")
    target = resolved.target
    has_target = target is not None and target in frame.columns and frame[target].notna().any()
    if has_target:
        assert target is not None
        labelled = frame[frame[target].notna()]
        perm = permutation_table(
            resolved.pipeline,
            labelled[resolved.features],
            labelled[target],
            resolved.task,
            n_repeats=5,
            random_state=random_state,
        ).set_index("feature")
        frame_importance["permutation_importance"] = perm["importance"]
        frame_importance["permutation_std"] = perm["std"]
        order = "permutation_importance"
    else:
        frame_importance["permutation_importance"] = np.nan
        frame_importance["permutation_std"] = np.nan
        order = "mean_abs_shap"
    return frame_importance.sort_values(order, ascending=False).reset_index()[
        ["feature", "permutation_importance", "permutation_std", "mean_abs_shap"]
    ]


def _pick_row(X: pd.DataFrame, row: Any) -> tuple[pd.DataFrame, int | None]:
    """The row to explain as a one-row frame of the model's columns, and its position."""
    if isinstance(row, pd.DataFrame):
        if len(row) != 1:
            raise ParameterError("row", "explain", "a one-row DataFrame", f"{len(row)} rows")
        missing = [f for f in X.columns if f not in row.columns]
        if missing:
            raise ColumnNotFoundError(missing[0], row.columns, role="feature")
        x, position = row[list(X.columns)], None
    else:
        if isinstance(row, bool) or not isinstance(row, int | np.integer):
            raise ParameterError("row", "explain", "a row position or a one-row DataFrame", row)
        if not -len(X) <= int(row) < len(X):
            raise ParameterError(
                "row", "explain", f"a position between 0 and {len(X) - 1}", int(row)
            )
        position = int(row) % len(X)
        x = X.iloc[[position]]
    return x, position


def _explain_row(
    explanation: Explanation,
    shapley: _Shapley,
    x: pd.DataFrame,
    position: int | None,
    n_permutations: int,
) -> None:
    values, base = shapley.values(x, _walks(1, x.shape[1], MAX_EVALUATIONS, n_permutations))
    output = shapley.local_output(x)
    contributions = values[0, :, output]
    explanation.output = shapley.output_label(output)
    explanation.local = (
        pd.DataFrame(
            {
                "feature": list(x.columns),
                "value": x.iloc[0].to_numpy(dtype=object),
                "contribution": contributions,
            }
        )
        .reindex(np.argsort(-np.abs(contributions), kind="stable"))
        .reset_index(drop=True)
    )
    explanation.base_value = float(base[0, output])
    explanation.prediction = float(shapley.output(x)[0, output])
    explanation.row = position


def _walks(n_rows: int, n_features: int, budget: int, wanted: int | None = None) -> int:
    """Orderings per row (an even number, ``wanted`` at most) so that rows x orderings x
    (features + 1) evaluations fit the budget; at least one antithetic pair."""
    per_row = budget // max(1, n_rows * (n_features + 1))
    if wanted is not None:
        per_row = min(per_row, wanted)
    return max(2, per_row - per_row % 2)


class _Shapley:
    """Shapley values of a model's output over raw features, exact for LightGBM, else sampled."""

    def __init__(self, model: _Model, background: pd.DataFrame, rng: np.random.Generator):
        self.model = model
        self.background = assignable(background)
        self.rng = rng
        pipeline = model.pipeline
        estimator = pipeline.steps[-1][1] if hasattr(pipeline, "steps") else pipeline
        self.groups = (
            feature_groups(pipeline, model.features)
            if getattr(estimator, "booster_", None) is not None
            else None
        )
        self.native = self.groups is not None
        if self.native:
            self.method = "exact TreeSHAP from LightGBM (pred_contrib)"
        else:
            self.method = (
                "permutation sampling (Štrumbelj & Kononenko 2014) with antithetic orderings "
                f"over {len(background)} background rows"
            )

    # -- what is explained -----------------------------------------------------------------

    def _explained_classes(self) -> list[Any]:
        classes = list(self.model.classes)
        if self.model.task is Task.BINARY:
            return classes[-1:]
        return classes if self.model.task.is_classification else []

    def output_label(self, index: int | None) -> str:
        classes = self._explained_classes()
        if not classes:
            return "prediction"
        cls = classes[index or 0] if index is not None or len(classes) == 1 else None
        if self.native:
            unit = "log-odds" if self.model.task is Task.BINARY else "raw score"
        else:
            unit = "probability"
        return f"{unit} of {cls}" if cls is not None else f"{unit} of each class"

    def local_output(self, x: pd.DataFrame) -> int:
        """The output column a row is explained by: its predicted class for a multiclass model."""
        if self.model.task is not Task.MULTICLASS:
            return 0
        predicted = self.model.pipeline.predict(x)[0]
        return self._explained_classes().index(predicted)

    # -- the values ------------------------------------------------------------------------

    def values(self, X: pd.DataFrame, n_permutations: int) -> tuple[np.ndarray, np.ndarray]:
        """Contributions ``(rows, features, outputs)`` and base values ``(rows, outputs)``."""
        if self.native:
            return self._lightgbm(X)
        return self._sampled(X, max(2, n_permutations + n_permutations % 2))

    def output(self, X: pd.DataFrame) -> np.ndarray:
        """The model's explained outputs ``(rows, outputs)``, computed directly (not from the
        contributions), so additivity can be checked against them."""
        if self.native:
            pipeline = self.model.pipeline
            raw = pipeline.steps[-1][1].predict(pipeline[:-1].transform(X), raw_score=True)
            return np.asarray(raw, dtype=float).reshape(len(X), -1)
        return self._predict(assignable(X))

    def _lightgbm(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        # LightGBM's TreeSHAP is exact, in the raw score (log-odds for binary models): the
        # contributions of a raw column's encoded parts add up to the column's.
        assert self.groups is not None
        pipeline = self.model.pipeline
        encoded = pipeline[:-1].transform(X)
        raw = np.asarray(pipeline.steps[-1][1].predict(encoded, pred_contrib=True), dtype=float)
        n_outputs = max(1, len(self._explained_classes()))
        blocks = raw.reshape(len(X), n_outputs, -1)  # (rows, outputs, encoded columns + 1)
        contributions = np.stack(
            [blocks[:, :, g].sum(axis=2) for g in self.groups], axis=1
        )  # (rows, features, outputs)
        return contributions, blocks[:, :, -1]

    def _predict(self, frame: pd.DataFrame) -> np.ndarray:
        """The explained outputs, ``(rows, outputs)``: class probabilities or the prediction."""
        pipeline = self.model.pipeline
        classes = self._explained_classes()
        parts = []
        for start in range(0, len(frame), _CHUNK):
            chunk = frame.iloc[start : start + _CHUNK]
            if classes:
                proba = np.asarray(pipeline.predict_proba(chunk), dtype=float)
                order = [list(pipeline.classes_).index(c) for c in classes]
                parts.append(proba[:, order])
            else:
                parts.append(np.asarray(pipeline.predict(chunk), dtype=float).reshape(-1, 1))
        return np.concatenate(parts)

    def _sampled(self, X: pd.DataFrame, m: int) -> tuple[np.ndarray, np.ndarray]:
        # Štrumbelj, E. & Kononenko, I. (2014). Explaining prediction models and individual
        # predictions with feature contributions. Knowledge and Information Systems 41, 647-665.
        # Each sample is an ordering of the features and a background row z: walking the
        # ordering, features switch one at a time from z's value to x's, and each switch's
        # change of the output is that feature's marginal contribution. The contributions of
        # one walk add up to f(x) - f(z), so the averages add up to f(x) - mean f(z) exactly:
        # additivity holds whatever the number of samples. Orderings come in antithetic pairs
        # (an ordering and its reverse), which cancels much of the sampling noise (Mitchell et
        # al. 2022, "Sampling permutations for Shapley value estimation", JMLR 23).
        n, p = len(X), X.shape[1]
        half = m // 2
        orders = np.array([self.rng.permutation(p) for _ in range(n * half)]).reshape(n, half, p)
        orders = np.concatenate([orders, orders[:, :, ::-1]], axis=1)  # (n, m, p)
        # Every background row serves equally often (in a random order), so the base value is
        # the background's mean output rather than a noisy sample of it; a pair of antithetic
        # orderings shares its background row.
        order = self.rng.permutation(len(self.background))
        z = np.tile(order[np.arange(half) % len(order)], (n, 1))
        z = np.concatenate([z, z], axis=1)
        # rank[i, w, j]: the step at which walk w of row i switches feature j to x's value.
        rank = np.argsort(orders, axis=2)
        steps = np.arange(p + 1)
        # use_x[i, w, s, j]: at step s, feature j already has x's value.
        use_x = rank[:, :, None, :] < steps[None, None, :, None]
        use_x = use_x.reshape(-1, p)
        row_of = np.repeat(np.arange(n), m * (p + 1))
        z_of = np.repeat(z.reshape(-1), p + 1)
        hybrid = {}
        X_values = assignable(X)
        for j, column in enumerate(X.columns):
            xs = X_values[column].to_numpy()[row_of]
            zs = self.background[column].to_numpy()[z_of]
            hybrid[column] = np.where(use_x[:, j], xs, zs)
        F = self._predict(pd.DataFrame(hybrid, columns=X.columns))
        F = F.reshape(n, m, p + 1, -1)
        deltas = np.diff(F, axis=2)  # (n, m, p, k): delta of step s is feature orders[s]
        # Back from steps to features: the feature switched at step s is orders[..., s].
        by_feature = np.take_along_axis(deltas, rank[..., None], axis=2)
        return by_feature.mean(axis=1), F[:, :, 0, :].mean(axis=1)
