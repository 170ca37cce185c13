"""The preprocessing a model family needs, built from a table's :class:`~modelcycle.data.Schema`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from modelcycle.data import Schema
from modelcycle.exceptions import EmptyTableError, ParameterError

__all__ = ["DatetimeFeatures", "build_preprocessor"]

Encoding = Literal["onehot", "ordinal"]

#: The calendar parts :class:`DatetimeFeatures` can extract.
DATETIME_PARTS = ("year", "month", "day", "weekday", "hour")

# Categories seen fewer times than this in training are pooled into one "infrequent" level:
# too rare to learn from, and the level that unseen categories fall into at predict time.
_MIN_FREQUENCY = 5
# Bounds the width of one-hot blocks (and tree split candidates) for high-cardinality columns.
_MAX_CATEGORIES = 30
# The level missing categorical values become: a category of its own, since missingness is
# often informative (adult's occupation is missing for people without one).
_MISSING = "(missing)"


def _as_float(X: Any) -> np.ndarray:
    """Numeric columns as a float64 array: nullable integers, booleans and ``pd.NA`` become
    floats and ``NaN``, so the imputer sees one representation."""
    return pd.DataFrame(X).to_numpy(dtype=np.float64, na_value=np.nan)


def _as_category_strings(X: Any) -> np.ndarray:
    """Categorical columns as an object array of strings with ``NaN`` for missing values.

    Categories may arrive as strings at training time and as numbers or booleans at predict
    time (JSON), or as floats because a column had missing values; one spelling per value
    keeps the encoders from seeing ``1`` and ``1.0`` as different categories.
    """
    values = pd.DataFrame(X).to_numpy(dtype=object)
    missing = pd.isna(values)
    labels = _LABEL(values)
    labels[missing] = np.nan
    return np.asarray(labels, dtype=object)


def _category_label(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# Element-wise without pandas' per-column overhead, which dominates single-row predictions.
_LABEL = np.frompyfunc(_category_label, 1, 1)


class DatetimeFeatures(TransformerMixin, BaseEstimator):
    """Calendar parts (year, month, day, day of week, hour) of datetime columns.

    Accepts ``datetime64`` columns and ISO-8601 strings; unparsable or missing values become
    ``NaN`` (impute them downstream). Parts that do not vary in the training data, such as the
    hour of a date-only column, are left out.

    Parameters
    ----------
    parts
        The calendar parts to extract, a subset of ``("year", "month", "day", "weekday",
        "hour")``.

    Attributes
    ----------
    features_ : list of tuple of (str, str)
        The ``(column, part)`` pairs produced, in output order.
    feature_names_in_ : ndarray of str
        The input columns seen in :meth:`fit`.
    n_features_in_ : int
        The number of input columns.

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"when": ["2024-01-31", "2024-03-02"]})
    >>> DatetimeFeatures().fit(X).get_feature_names_out().tolist()
    ['when_month', 'when_day', 'when_weekday']
    """

    def __init__(self, parts: Sequence[str] = DATETIME_PARTS) -> None:
        self.parts = parts

    def fit(self, X: Any, y: Any = None) -> DatetimeFeatures:
        unknown = sorted(set(self.parts) - set(DATETIME_PARTS))
        if unknown or not self.parts:
            raise ParameterError(
                "parts", "DatetimeFeatures", f"a non-empty subset of {DATETIME_PARTS}", self.parts
            )
        frame = pd.DataFrame(X)
        self.feature_names_in_ = np.asarray([str(c) for c in frame.columns], dtype=object)
        self.n_features_in_ = frame.shape[1]
        self.features_: list[tuple[str, str]] = []
        for name in frame.columns:
            values = self._parts_of(frame[name])
            varying = [p for p in self.parts if values[p].nunique(dropna=True) > 1]
            # A column that never varies still yields one part, so its block is never empty.
            self.features_ += [(str(name), p) for p in varying or list(self.parts)[:1]]
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "features_")
        frame = pd.DataFrame(X)
        if frame.shape[1] != self.n_features_in_:
            raise ValueError(
                f"DatetimeFeatures was fitted on {self.n_features_in_} columns but got "
                f"{frame.shape[1]}: pass the same columns as in fit."
            )
        frame.columns = self.feature_names_in_
        out = np.empty((len(frame), len(self.features_)), dtype=np.float64)
        parsed = {
            name: self._parts_of(frame[name]) for name in dict.fromkeys(self.feature_names_in_)
        }
        for j, (name, part) in enumerate(self.features_):
            out[:, j] = parsed[name][part].to_numpy(dtype=np.float64, na_value=np.nan)
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "features_")
        return np.asarray([f"{name}_{part}" for name, part in self.features_], dtype=object)

    def _parts_of(self, column: pd.Series) -> pd.DataFrame:
        if not pd.api.types.is_datetime64_any_dtype(column):
            # utc=True accepts strings with mixed offsets; naive strings are read as UTC, which
            # leaves their calendar parts unchanged.
            column = pd.to_datetime(column, errors="coerce", format="mixed", utc=True)
        elif getattr(column.dt, "tz", None) is not None:
            # Aware timestamps in UTC too, so a column and its ISO strings give the same hour.
            column = column.dt.tz_convert("UTC")
        accessor = column.dt
        return pd.DataFrame(
            {
                "year": accessor.year,
                "month": accessor.month,
                "day": accessor.day,
                "weekday": accessor.day_of_week,
                "hour": accessor.hour,
            },
            index=column.index,
        )


def build_preprocessor(schema: Schema, *, scale: bool, encoding: Encoding) -> ColumnTransformer:
    """The preprocessing of a schema's feature columns, as an unfitted ``ColumnTransformer``.

    Categorical columns come first (so with ordinal encoding their codes are output columns
    ``0 .. len(schema.categorical) - 1``, which tree models can be told about), then numeric,
    then datetime columns. Identifier and text columns are dropped. The output is a dense
    float64 array; ``get_feature_names_out()`` gives readable names (``age``,
    ``workclass_Private``, ``dteday_month``), and ``set_output(transform="pandas")`` returns
    them as a DataFrame.

    Parameters
    ----------
    schema
        The table's schema; ``schema.features`` are transformed.
    scale
        Standardise numeric and datetime features (for linear, kernel, distance-based and neural
        models; trees do not need it).
    encoding
        ``"onehot"`` (one column per category) or ``"ordinal"`` (one integer code per column,
        for trees). Unseen categories at predict time map to the pooled infrequent level
        (one-hot: all zeros when there is none) or to the code ``-1`` (ordinal).

    Returns
    -------
    ColumnTransformer
        Unfitted; fit it on a DataFrame holding the feature columns.

    Raises
    ------
    EmptyTableError
        The schema has no feature column a model can learn from.
    ParameterError
        ``encoding`` is not one of the two choices.

    Examples
    --------
    >>> import pandas as pd
    >>> from modelcycle.data import load_table
    >>> frame = pd.DataFrame(
    ...     {"x": [1.0, None, 3.0] * 5, "c": ["a", "b", None] * 5, "y": [0, 1, 1] * 5}
    ... )
    >>> table = load_table(frame, target="y")
    >>> prep = build_preprocessor(table.schema, scale=True, encoding="onehot").fit(table.X)
    >>> prep.get_feature_names_out().tolist()
    ['c_(missing)', 'c_a', 'c_b', 'x']
    >>> prep.transform(table.X).dtype
    dtype('float64')
    """
    if encoding not in ("onehot", "ordinal"):
        raise ParameterError("encoding", "build_preprocessor", "'onehot' or 'ordinal'", encoding)
    if not schema.features:
        raise EmptyTableError(
            "The schema has no feature column a model can learn from: every column is an "
            "identifier or free text. Override kinds with load_table(..., kinds={...})."
        )
    as_float = FunctionTransformer(_as_float, feature_names_out="one-to-one")
    blocks = [
        ("categorical", _categorical_pipeline(encoding), schema.categorical),
        ("numeric", _numeric_pipeline(("float", as_float), scale), schema.numeric),
        ("datetime", _numeric_pipeline(("parts", DatetimeFeatures()), scale), schema.datetime),
    ]
    return ColumnTransformer(
        [(name, steps, columns) for name, steps, columns in blocks if columns],
        remainder="drop",
        sparse_threshold=0.0,
        verbose_feature_names_out=False,
    )


def _numeric_pipeline(first: tuple[str, Any], scale: bool) -> Pipeline:
    """``first`` (which makes the columns numbers), median imputation, optional scaling."""
    steps = [first, ("impute", SimpleImputer(strategy="median", add_indicator=False))]
    return Pipeline([*steps, ("scale", StandardScaler())] if scale else steps)


def _categorical_pipeline(encoding: Encoding) -> Pipeline:
    encoder: OneHotEncoder | OrdinalEncoder
    if encoding == "onehot":
        encoder = OneHotEncoder(
            handle_unknown="infrequent_if_exist",
            min_frequency=_MIN_FREQUENCY,
            max_categories=_MAX_CATEGORIES,
            sparse_output=False,
            dtype=np.float64,
        )
    else:
        encoder = OrdinalEncoder(
            handle_unknown="use_encoded_value",
            unknown_value=-1,
            encoded_missing_value=-1,
            min_frequency=_MIN_FREQUENCY,
            max_categories=_MAX_CATEGORIES,
            dtype=np.float64,
        )
    return Pipeline(
        [
            ("string", FunctionTransformer(_as_category_strings, feature_names_out="one-to-one")),
            ("impute", SimpleImputer(strategy="constant", fill_value=_MISSING)),
            ("encode", encoder),
        ]
    )
