"""Tables: a DataFrame with a schema, loaded from CSV, Parquet or memory."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelcycle.data._schema import ColumnKind, Schema, Task, infer_kind, infer_task
from modelcycle.exceptions import (
    ColumnNotFoundError,
    DataError,
    EmptyTableError,
    ParameterError,
    TableNotFoundError,
    TargetError,
)

_READERS = {".csv": "csv", ".txt": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}


@dataclass(frozen=True)
class Table:
    """A pandas DataFrame plus its :class:`Schema`.

    Build one with :func:`load_table`. ``frame`` holds every column, the target included;
    ``X`` holds the feature columns a model learns from and ``y`` the target.
    """

    frame: pd.DataFrame
    schema: Schema
    source: str | None = None

    @property
    def target(self) -> str | None:
        return self.schema.target

    @property
    def task(self) -> Task:
        return self.schema.task

    @property
    def X(self) -> pd.DataFrame:
        return self.frame[self.schema.features]

    @property
    def y(self) -> pd.Series:
        if self.schema.target is None:
            raise TargetError("This table has no target: pass target=... to load_table.")
        return self.frame[self.schema.target]

    def __len__(self) -> int:
        return len(self.frame)

    def take(self, rows: Any) -> Table:
        """A table of the given row positions (same schema)."""
        return Table(self.frame.iloc[rows].reset_index(drop=True), self.schema, self.source)

    def with_frame(self, frame: pd.DataFrame) -> Table:
        """The same schema over other rows (for new data of the same shape)."""
        return Table(frame.reset_index(drop=True), self.schema, self.source)

    def fingerprint(self) -> str:
        """A SHA-256 of the table's content: equal tables give equal fingerprints."""
        digest = hashlib.sha256()
        digest.update(",".join(map(str, self.frame.columns)).encode())
        hashed = pd.util.hash_pandas_object(self.frame, index=False).to_numpy()
        digest.update(hashed.tobytes())
        return digest.hexdigest()


def _read(path: Path) -> pd.DataFrame:
    kind = _READERS.get(path.suffix.lower())
    if kind is None:
        raise DataError(
            f"Cannot read {str(path)!r}: the extension {path.suffix or '(none)'!r} is not a known "
            "table format. Use a .csv or .parquet file."
        )
    try:
        if kind == "parquet":
            return pd.read_parquet(path)
        sep = "\t" if kind == "tsv" else ","
        return pd.read_csv(path, sep=sep, skipinitialspace=True, na_values=["?"])
    except pd.errors.EmptyDataError as exc:
        raise EmptyTableError(f"The table {str(path)!r} is empty: the file has no rows.") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as exc:
        raise DataError(
            f"Cannot read {str(path)!r} as {kind}: {exc}. Check that the file is a valid {kind}."
        ) from exc


def _normalise_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """Strip surrounding blanks from string columns and turn blank cells into missing values."""
    for name in frame.columns:
        col = frame[name]
        if pd.api.types.is_string_dtype(col) or col.dtype == object:
            stripped = col.astype("string").str.strip()
            frame[name] = (
                stripped.mask(stripped == "").astype(object).where(stripped.notna(), np.nan)
            )
    return frame


def _parse_datetimes(frame: pd.DataFrame, columns: dict[str, ColumnKind]) -> None:
    for name, kind in columns.items():
        if kind is ColumnKind.DATETIME and not pd.api.types.is_datetime64_any_dtype(frame[name]):
            frame[name] = pd.to_datetime(frame[name], errors="coerce", format="mixed")


def load_table(
    source: str | Path | pd.DataFrame | Table,
    target: str | None = None,
    *,
    task: str | Task | None = None,
    time_column: str | None = None,
    drop: list[str] | None = None,
    kinds: dict[str, str | ColumnKind] | None = None,
) -> Table:
    """Load a table and infer its schema.

    Parameters
    ----------
    source
        A CSV or Parquet path, a DataFrame, or a :class:`Table` (returned re-targeted).
    target
        The column to learn. ``None`` means clustering (no target).
    task
        Override the inferred task, e.g. ``"regression"`` for an integer score.
    time_column
        A column that orders rows in time (used by time-ordered validation).
    drop
        Columns to leave out (leakage, identifiers).
    kinds
        Override the inferred kind of some columns, e.g. ``{"zip": "categorical"}``.

    Examples
    --------
    >>> import pandas as pd
    >>> import modelcycle as mc
    >>> t = mc.load_table(pd.DataFrame({"x": [1, 2, 3, 4], "y": ["a", "b", "a", "b"]}), target="y")
    >>> t.task, t.schema.columns["x"]
    (<Task.BINARY: 'binary'>, <ColumnKind.NUMERIC: 'numeric'>)
    """
    if isinstance(source, Table):
        frame, name = source.frame.copy(), source.source
    elif isinstance(source, pd.DataFrame):
        frame, name = source.copy(), None
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            raise TableNotFoundError(str(source))
        frame, name = _read(path), str(path)
    label = repr(name) if name else "(in memory)"

    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.columns.duplicated().any():
        dupes = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise DataError(f"The table {label} has duplicate column names {dupes}: rename them.")
    for col in drop or []:
        if col not in frame.columns:
            raise ColumnNotFoundError(col, frame.columns, role="column to drop")
    frame = frame.drop(columns=list(drop or []))
    if frame.empty or len(frame.columns) == 0:
        raise EmptyTableError(
            f"The table {label} is empty: it has no rows. Load a table with data."
        )
    frame = _normalise_strings(frame.reset_index(drop=True))

    if target is not None and target not in frame.columns:
        raise ColumnNotFoundError(target, frame.columns, role="target column")
    if time_column is not None and time_column not in frame.columns:
        raise ColumnNotFoundError(time_column, frame.columns, role="time column")

    columns: dict[str, ColumnKind] = {}
    for col in frame.columns:
        if col == target:
            continue
        override = (kinds or {}).get(col)
        columns[col] = ColumnKind(override) if override else infer_kind(frame[col])
    for col in kinds or {}:
        if col not in frame.columns:
            raise ColumnNotFoundError(col, frame.columns, role="column in kinds")
    if time_column is not None and columns[time_column] is ColumnKind.IDENTIFIER:
        columns[time_column] = ColumnKind.NUMERIC
    _parse_datetimes(frame, columns)

    resolved_task, classes = _resolve_target(frame, target, task, label)
    if target is not None:
        # Rows without a label teach nothing; they are dropped here, once.
        frame = frame[frame[target].notna()].reset_index(drop=True)
    if not columns:
        raise EmptyTableError(f"The table {label} has no feature columns besides the target.")
    schema = Schema(columns, target, resolved_task, time_column, classes)
    return Table(frame, schema, name)


def _resolve_target(
    frame: pd.DataFrame, target: str | None, task: str | Task | None, label: str
) -> tuple[Task, tuple[Any, ...]]:
    if target is None:
        if task not in (None, Task.CLUSTERING, "clustering"):
            raise ParameterError("task", "load_table", "'clustering' when no target is given", task)
        return Task.CLUSTERING, ()
    y = frame[target]
    if y.notna().sum() == 0:
        raise TargetError(
            f"The target column {target!r} of {label} is all missing: there is nothing to "
            "learn. Choose another target or fill in its values.",
            column=target,
        )
    try:
        resolved = Task(task) if task is not None else infer_task(y)
    except ValueError:
        raise ParameterError(
            "task", "load_table", "one of 'binary', 'multiclass', 'regression'", task
        ) from None
    if resolved is Task.CLUSTERING:
        raise ParameterError("task", "load_table", "not 'clustering' when a target is given", task)
    if resolved is Task.REGRESSION:
        if not pd.api.types.is_numeric_dtype(y):
            raise TargetError(
                f"The target {target!r} is not numeric, so it cannot be a regression target. "
                "Use task='binary' or 'multiclass', or convert the column to numbers.",
                column=target,
            )
        return resolved, ()
    classes = tuple(_sorted_classes(y.dropna().unique().tolist()))
    if len(classes) < 2:
        raise TargetError(
            f"The target {target!r} of {label} has one class only ({classes[0]!r}): a classifier "
            "needs at least two. Check the data (a filter may have removed the other class).",
            column=target,
        )
    if resolved is Task.BINARY and len(classes) > 2:
        raise TargetError(
            f"task='binary' but the target {target!r} has {len(classes)} classes. "
            "Use task='multiclass'.",
            column=target,
        )
    if resolved is Task.MULTICLASS and len(classes) == 2:
        resolved = Task.BINARY
    return resolved, tuple(_scalar(c) for c in classes)


def _sorted_classes(values: list[Any]) -> list[Any]:
    """Natural order (5 before 10), falling back to text order for mixed types."""
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


def _scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
