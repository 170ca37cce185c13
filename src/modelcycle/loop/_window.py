"""Which rows a retrain learns from (``all``, ``last:N``, ``since:DATE``), and fitting a recipe.

Shared by :func:`~modelcycle.loop.retrain` (registry) and the backtest (in memory), so both
build the training table of a challenger the same way, and choose among candidate windows the
same way: fit one model per window and keep the one that scores best on held-out rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from sklearn.pipeline import Pipeline

from modelcycle.data import Schema, Table, Task, load_table
from modelcycle.exceptions import ColumnNotFoundError, ParameterError
from modelcycle.learn import check_metric, default_metric, is_better, pipeline_from_recipe, score

__all__ = [
    "Window",
    "WindowChoice",
    "apply_window",
    "as_classes",
    "choose_window",
    "evaluate",
    "fit_recipe",
    "parse_window",
    "recipe_schema",
    "version_ref",
]


@dataclass(frozen=True)
class Window:
    """A parsed data window: every row, the newest ``rows``, or rows at or after ``since``."""

    kind: Literal["all", "last", "since"]
    rows: int | None = None
    since: datetime | None = None

    def __str__(self) -> str:
        if self.kind == "last":
            return f"last:{self.rows}"
        if self.kind == "since":
            assert self.since is not None
            return f"since:{self.since.date().isoformat()}"
        return "all"


def parse_window(text: str | Window) -> Window:
    """``"all"``, ``"last:N"`` or ``"since:YYYY-MM-DD"`` as a :class:`Window`.

    Examples
    --------
    >>> parse_window("last:5000")
    Window(kind='last', rows=5000, since=None)
    """
    if isinstance(text, Window):
        return text
    expected = "'all', 'last:N' (N rows, N > 0) or 'since:YYYY-MM-DD'"
    if not isinstance(text, str):
        raise ParameterError("window", "retrain", expected, text)
    kind, _, arg = text.strip().partition(":")
    if kind == "all" and not arg:
        return Window("all")
    if kind == "last" and arg.isdigit() and int(arg) > 0:
        return Window("last", rows=int(arg))
    if kind == "since" and arg:
        try:
            return Window("since", since=pd.Timestamp(arg).to_pydatetime())
        except ValueError:
            pass
    raise ParameterError("window", "retrain", expected, text)


def recipe_schema(recipe: dict[str, Any]) -> Schema:
    """The schema a recipe's pipeline was built for (its features only)."""
    return Schema.from_dict(recipe["schema"]).with_features(list(recipe["features"]))


def apply_window(
    window: Window,
    new: pd.DataFrame,
    original: pd.DataFrame | None = None,
    *,
    time_column: str | None = None,
) -> pd.DataFrame:
    """The rows to train on: ``original`` then ``new`` (both oldest first), cut by ``window``.

    ``since`` keeps the rows of ``new`` whose ``time_column`` is at or after the date (the
    original training rows carry no time of their own, so they are left out).
    """
    frames = [f for f in (original, new) if f is not None and len(f)]
    if window.kind == "since":
        if time_column is None or time_column not in new.columns:
            raise ParameterError(
                "window",
                "retrain",
                "'all' or 'last:N' when the data has no time column (pass time_column=...)",
                str(window),
            )
        stamps = pd.to_datetime(new[time_column], utc=True)
        assert window.since is not None
        since = pd.Timestamp(window.since)
        since = since.tz_localize("UTC") if since.tzinfo is None else since
        return new.loc[stamps >= since].reset_index(drop=True)
    frame = pd.concat(frames, ignore_index=True) if frames else new
    if window.kind == "last":
        assert window.rows is not None
        frame = frame.tail(window.rows)
    return frame.reset_index(drop=True)


def training_table(recipe: dict[str, Any], frame: pd.DataFrame, source: str | None) -> Table:
    """``frame`` as a table of the recipe's schema, with the target's labels as trained."""
    schema = recipe_schema(recipe)
    assert schema.target is not None
    needed = [*schema.features, schema.target]
    for column in needed:
        if column not in frame.columns:
            raise ColumnNotFoundError(column, list(frame.columns), role="training column")
    out = frame[needed].copy()
    out[schema.target] = as_classes(out[schema.target], schema.classes)
    return Table(out.reset_index(drop=True), schema, source)


def fit_recipe(recipe: dict[str, Any], table: Table) -> Pipeline:
    """A fresh pipeline built from ``recipe`` and fitted on ``table``."""
    pipeline = pipeline_from_recipe(recipe)
    pipeline.fit(table.X, table.y)
    return pipeline


def evaluate(
    pipeline: Any,
    table: Table,
    *,
    metrics: Sequence[str] | None = None,
    predicted: Any = None,
) -> dict[str, float]:
    """The task's metrics (or only ``metrics``) of a fitted pipeline on a labeled table."""
    predicted = pipeline.predict(table.X) if predicted is None else predicted
    if table.task is Task.REGRESSION:
        return score(table.task, table.y, predicted, metrics=metrics)
    proba = pipeline.predict_proba(table.X) if hasattr(pipeline, "predict_proba") else None
    classes = list(getattr(pipeline, "classes_", table.schema.classes)) or None
    return score(table.task, table.y, predicted, proba, classes, metrics=metrics)


@dataclass(frozen=True)
class WindowChoice:
    """The window a retrain learned from, its fitted pipeline and rows, and, when it was
    chosen among candidates, each candidate's score on the held-out rows."""

    window: Window
    pipeline: Pipeline
    table: Table
    metric: str | None = None
    scores: dict[str, float] = field(default_factory=dict)
    held_out: int = 0

    def describe(self) -> str:
        """``"window last:2000"``, with the candidates' scores when there were several."""
        if not self.scores:
            return f"window {self.window}"
        scores = ", ".join(f"{w} {v:.4f}" for w, v in self.scores.items())
        return f"window {self.window}; {self.metric} on {self.held_out} held-out rows: {scores}"


def choose_window(
    recipe: dict[str, Any],
    windows: Sequence[str | Window],
    rows: Callable[[Window], Table],
    holdout: Table | None = None,
    metric: str | None = None,
) -> WindowChoice:
    """Fit ``recipe`` on each window's rows (``rows(window)``) and keep the best on ``holdout``.

    Several windows need ``holdout``, labeled rows none of them learned from; with one, a
    holdout only adds its score. ``metric`` defaults to the task's. A tie keeps the earlier
    window, so list the preferred one first.
    """
    parsed = [parse_window(w) for w in windows]
    if holdout is None or len(holdout) == 0:
        if len(parsed) > 1:
            raise ParameterError(
                "holdout",
                "retrain",
                "labeled rows, newer than every window, to choose among several windows on",
                holdout,
            )
        table = rows(parsed[0])
        return WindowChoice(parsed[0], fit_recipe(recipe, table), table)
    metric = check_metric(
        metric or default_metric(holdout.task), holdout.task, owner="retrain"
    ).name
    scores: dict[str, float] = {}
    best: tuple[Window, Pipeline, Table] | None = None
    for window in parsed:
        table = rows(window)
        pipeline = fit_recipe(recipe, table)
        scores[str(window)] = evaluate(pipeline, holdout, metrics=[metric])[metric]
        if best is None or is_better(metric, scores[str(window)], scores[str(best[0])]):
            best = (window, pipeline, table)
    assert best is not None
    return WindowChoice(*best, metric, scores, len(holdout))


def original_rows(recipe: dict[str, Any]) -> pd.DataFrame | None:
    """The recipe's own training data when its source file is still readable, else ``None``."""
    source = (recipe.get("data") or {}).get("source")
    if not isinstance(source, str) or not Path(source).is_file():
        return None
    return load_table(source, target=recipe.get("target")).frame


def as_classes(values: pd.Series, classes: tuple[Any, ...]) -> pd.Series:
    """Labels from feedback or the log in the type of the trained classes (``"1"`` → ``1``)."""
    if not classes or values.isin(classes).all():
        return values
    by_text = {str(c): c for c in classes}
    return values.map(lambda v: by_text.get(str(v), v))


def version_ref(ref: int | str) -> dict[str, Any]:
    """``3``, ``"3"`` or ``"v3"`` as ``{"version": 3}``; anything else as ``{"alias": ref}``."""
    if isinstance(ref, int) or str(ref).lstrip("v").isdigit():
        return {"version": int(str(ref).lstrip("v"))}
    return {"alias": str(ref)}
