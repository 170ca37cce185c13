"""The two sides of a drift check, column by column: a table, a DataFrame or a reference profile.

Whatever the reference is, each column is reduced to what the tests need: a numeric column to the
distinct values and counts of its observed values plus its missing count; a categorical column to
counts per category (missing values are a category). A reference profile gives exact category
counts for the whole training set and a bounded random sample for the numeric tests.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from modelcycle.data import ColumnKind, Table, Task, infer_kind
from modelcycle.exceptions import DataError, EmptyTableError, ParameterError
from modelcycle.monitor._stats import Counts

MISSING = "<missing>"
OTHER = "<other>"
_INTEGRAL_TEXT = re.compile(r"-?\d+\.0+")
_PROFILE_KEYS = ("columns", "sample", "rows")


def canonical(value: Any) -> str:
    """One spelling per category on both sides: 1, 1.0, '1.0' and np.int64(1) are all '1'.

    Examples
    --------
    >>> [canonical(v) for v in (1, 1.0, "1.0", " a ", None, True)]
    ['1', '1', '1', 'a', '<missing>', 'True']
    """
    if value is None or (not isinstance(value, str) and bool(pd.isna(value))):
        return MISSING
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(number)
    text = str(value).strip()
    if _INTEGRAL_TEXT.fullmatch(text):
        return text.split(".", 1)[0]
    return text


@dataclass(frozen=True)
class NumericColumn:
    """A numeric column: its observed values, how many are missing, and its scale."""

    values: Counts | None
    missing: int
    rows: int
    std: float | None
    note: str = ""


@dataclass(frozen=True)
class CategoricalColumn:
    """A categorical column as counts per canonical category (missing included)."""

    counts: dict[str, float]
    rows: int

    @property
    def missing(self) -> float:
        return self.counts.get(MISSING, 0.0)


@dataclass(frozen=True)
class KindChange:
    """The current column no longer holds what the reference held (numbers became text, ...)."""

    message: str


class FrameSide:
    """One side of the comparison held as a DataFrame (all rows available)."""

    def __init__(self, frame: pd.DataFrame, kinds: Mapping[str, ColumnKind], source: str):
        self.frame = frame
        self.kinds = dict(kinds)
        self.source = source
        self.rows = len(frame)
        self.target: str | None = None

    def numeric(self, name: str, *, dates: bool = False) -> NumericColumn | KindChange:
        series = _as_dates(self.frame[name]) if dates else self.frame[name]
        values, bad, example = _as_numbers(series)
        if bad:
            return KindChange(
                f"kind changed: {bad:,} of {int(series.notna().sum()):,} values are not numbers "
                f"(e.g. {example!r}) where the reference holds numbers"
            )
        observed = values[~np.isnan(values)]
        counts = Counts.of(observed) if observed.size else None
        std = counts.std() if counts is not None else None
        return NumericColumn(counts, int(values.size - observed.size), values.size, std)

    def categorical(self, name: str) -> CategoricalColumn:
        counts: dict[str, float] = {}
        for value, count in self.frame[name].value_counts(dropna=False, sort=False).items():
            if count:
                key = canonical(value)
                counts[key] = counts.get(key, 0.0) + float(count)
        return CategoricalColumn(counts, self.rows)

    def is_numeric_dtype(self, name: str) -> bool:
        series = self.frame[name]
        return bool(
            pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
        )

    def sample_frame(self) -> pd.DataFrame:
        return self.frame


class ProfileSide:
    """A reference profile: exact category counts, and a bounded sample for numeric tests."""

    def __init__(self, profile: Mapping[str, Any]):
        missing = [k for k in _PROFILE_KEYS if k not in profile]
        if missing:
            raise DataError(
                f"The reference profile lacks {missing}: it is not a profile made by "
                "modelcycle.data.profile_table. Pass the training table, or the "
                "reference_profile of a model registered by modelcycle."
            )
        self.profile = profile
        self.kinds = {name: ColumnKind(c["kind"]) for name, c in profile["columns"].items()}
        self.rows = int(profile["rows"])
        self.target = profile.get("target")
        self.source = "profile"
        self._sample = pd.DataFrame(dict(profile["sample"]))

    def numeric(self, name: str, *, dates: bool = False) -> NumericColumn:
        entry = self.profile["columns"][name]
        column = self._sample[name] if name in self._sample else pd.Series(dtype=float)
        if dates:
            column = _as_dates(column)
        values, _, _ = _as_numbers(column)
        observed = values[~np.isnan(values)]
        counts = Counts.of(observed) if observed.size else None
        # Missing counts and the scale come from the whole training set, not the sample.
        std = entry.get("std")
        return NumericColumn(
            counts,
            round(float(entry.get("missing", 0.0)) * self.rows),
            self.rows,
            float(std) if std is not None else (counts.std() if counts else None),
            note=f"reference values: the profile's sample of {observed.size:,} rows",
        )

    def categorical(self, name: str) -> CategoricalColumn:
        entry = self.profile["columns"][name]
        share_missing = float(entry.get("missing", 0.0))
        observed = self.rows * (1.0 - share_missing)
        counts: dict[str, float] = {}
        for key, share in (entry.get("frequencies") or {}).items():
            canon = canonical(key)
            counts[canon] = counts.get(canon, 0.0) + float(share) * observed
        if entry.get("other_share", 0.0) > 0:
            counts[OTHER] = float(entry["other_share"]) * observed
        if share_missing > 0:
            counts[MISSING] = share_missing * self.rows
        return CategoricalColumn(counts, self.rows)

    def is_numeric_dtype(self, name: str) -> bool:
        return self.kinds.get(name) is ColumnKind.NUMERIC

    def sample_frame(self) -> pd.DataFrame:
        return self._sample


def _as_dates(series: pd.Series) -> pd.Series:
    """Dates as timestamps (UTC); text that is not a date becomes missing."""
    return pd.to_datetime(series, errors="coerce", format="mixed", utc=True)


def _as_numbers(series: pd.Series) -> tuple[np.ndarray, int, Any]:
    """Floats (NaN for missing), how many present values are not numbers, and one of them."""
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        return series.to_numpy(dtype=float, na_value=np.nan), 0, None
    if pd.api.types.is_datetime64_any_dtype(series):
        stamps = series.to_numpy(dtype="datetime64[ns]")
        numbers = stamps.astype("int64").astype(float)
        numbers[np.isnat(stamps)] = np.nan
        return numbers, 0, None
    coerced = pd.to_numeric(series, errors="coerce")
    bad = coerced.isna() & series.notna()
    n_bad = int(bad.sum())
    example = series[bad].iloc[0] if n_bad else None
    return coerced.to_numpy(dtype=float, na_value=np.nan), n_bad, example


def as_side(
    data: Table | pd.DataFrame | Mapping[str, Any],
    role: str,
    kinds: Mapping[str, ColumnKind] | None = None,
) -> FrameSide | ProfileSide:
    """Wrap what the user passed; infer kinds when nothing states them."""
    if isinstance(data, Mapping) and not isinstance(data, pd.DataFrame):
        if role != "reference":
            raise ParameterError(
                role,
                "detect_drift",
                "a Table or a DataFrame (a profile can only be the reference)",
                type(data).__name__,
            )
        side: FrameSide | ProfileSide = ProfileSide(data)
    elif isinstance(data, Table):
        table_kinds = dict(data.schema.columns)
        if data.target is not None:
            table_kinds[data.target] = (
                ColumnKind.NUMERIC if data.task is Task.REGRESSION else ColumnKind.CATEGORICAL
            )
        side = FrameSide(data.frame, table_kinds, "table")
        side.target = data.target
    elif isinstance(data, pd.DataFrame):
        frame = data
        if frame.columns.duplicated().any():
            dupes = sorted(map(str, set(frame.columns[frame.columns.duplicated()])))
            raise DataError(f"The {role} data has duplicate column names {dupes}: rename them.")
        frame = frame.rename(columns=str)
        side = FrameSide(frame, kinds or {}, "dataframe")
    else:
        raise ParameterError(
            role,
            "detect_drift",
            "a Table, a DataFrame or (for the reference) a profile dict",
            type(data).__name__,
        )
    if side.rows == 0:
        raise EmptyTableError(
            f"The {role} data has no rows: there is nothing to compare. "
            + (
                "Widen the window of current data."
                if role == "current"
                else "Pass the training data or its profile."
            )
        )
    return side


def infer_kinds(side: FrameSide, names: list[str]) -> None:
    """Fill in the kinds of a DataFrame reference's columns (only those compared)."""
    for name in names:
        if name not in side.kinds:
            side.kinds[name] = infer_kind(side.frame[name])
