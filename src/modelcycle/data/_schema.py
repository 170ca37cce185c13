"""Column kinds, tasks and the schema inferred from a table."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd


class ColumnKind(StrEnum):
    """What a column holds, which decides how it is preprocessed and tested for drift."""

    NUMERIC = "numeric"
    CATEGORICAL = "categorical"
    DATETIME = "datetime"
    TEXT = "text"
    IDENTIFIER = "identifier"


class Task(StrEnum):
    """What is learned from the target."""

    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"
    CLUSTERING = "clustering"

    @property
    def is_classification(self) -> bool:
        return self in (Task.BINARY, Task.MULTICLASS)


# A string column with at most this many distinct values (or this share of rows) is categorical.
_MAX_CATEGORIES = 50
_MAX_CATEGORY_SHARE = 0.05
# A numeric target with at most this many distinct integer values is treated as classes.
_MAX_INTEGER_CLASSES = 10
# Mean token count above which a high-cardinality string column is text rather than an identifier.
_TEXT_MIN_TOKENS = 3.0


@dataclass(frozen=True)
class Schema:
    """The kinds of a table's columns and the task its target defines.

    ``columns`` maps every feature column (the target excluded) to its kind.
    """

    columns: dict[str, ColumnKind]
    target: str | None = None
    task: Task = Task.CLUSTERING
    time_column: str | None = None
    classes: tuple[Any, ...] = field(default=())

    def of_kind(self, *kinds: ColumnKind) -> list[str]:
        return [name for name, kind in self.columns.items() if kind in kinds]

    @property
    def numeric(self) -> list[str]:
        return self.of_kind(ColumnKind.NUMERIC)

    @property
    def categorical(self) -> list[str]:
        return self.of_kind(ColumnKind.CATEGORICAL)

    @property
    def datetime(self) -> list[str]:
        return self.of_kind(ColumnKind.DATETIME)

    @property
    def text(self) -> list[str]:
        return self.of_kind(ColumnKind.TEXT)

    @property
    def features(self) -> list[str]:
        """Columns a model learns from: identifiers and free text are left out."""
        return self.of_kind(ColumnKind.NUMERIC, ColumnKind.CATEGORICAL, ColumnKind.DATETIME)

    def with_features(self, names: list[str]) -> Schema:
        """A schema restricted to ``names`` (kept in the given order)."""
        return Schema(
            columns={n: self.columns[n] for n in names},
            target=self.target,
            task=self.task,
            time_column=self.time_column,
            classes=self.classes,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": {k: str(v) for k, v in self.columns.items()},
            "target": self.target,
            "task": str(self.task),
            "time_column": self.time_column,
            "classes": [_jsonable(c) for c in self.classes],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        return cls(
            columns={k: ColumnKind(v) for k, v in data["columns"].items()},
            target=data.get("target"),
            task=Task(data.get("task", "clustering")),
            time_column=data.get("time_column"),
            classes=tuple(data.get("classes", ())),
        )


def _jsonable(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def infer_kind(series: pd.Series) -> ColumnKind:
    """Infer a column's kind from its values."""
    if pd.api.types.is_bool_dtype(series):
        return ColumnKind.CATEGORICAL
    if pd.api.types.is_datetime64_any_dtype(series):
        return ColumnKind.DATETIME
    if pd.api.types.is_numeric_dtype(series):
        return ColumnKind.IDENTIFIER if _is_row_counter(series) else ColumnKind.NUMERIC
    values = series.dropna()
    if values.empty:
        return ColumnKind.CATEGORICAL
    strings = values.astype(str)
    if _looks_like_dates(strings):
        return ColumnKind.DATETIME
    n_unique = values.nunique()
    if n_unique <= _MAX_CATEGORIES or n_unique <= _MAX_CATEGORY_SHARE * len(values):
        return ColumnKind.CATEGORICAL
    if strings.str.count(r"\s+").mean() + 1 >= _TEXT_MIN_TOKENS:
        return ColumnKind.TEXT
    return ColumnKind.IDENTIFIER


def _is_row_counter(series: pd.Series) -> bool:
    """An integer column that is unique per row and sorted: a row number, not a feature."""
    if not pd.api.types.is_integer_dtype(series) or len(series) < 20:
        return False
    return bool(series.is_unique and series.is_monotonic_increasing)


def _looks_like_dates(strings: pd.Series) -> bool:
    sample = strings.head(200)
    if not sample.str.contains(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}/\d{2,4}", regex=True).all():
        return False
    parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(parsed.notna().all())


def infer_task(target: pd.Series) -> Task:
    """Binary, multiclass or regression, from the target's values."""
    values = target.dropna()
    n_unique = values.nunique()
    if n_unique == 2:
        return Task.BINARY
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        return Task.MULTICLASS
    if pd.api.types.is_float_dtype(values) and not np.all(np.mod(values.to_numpy(), 1) == 0):
        return Task.REGRESSION
    return Task.MULTICLASS if n_unique <= _MAX_INTEGER_CLASSES else Task.REGRESSION
