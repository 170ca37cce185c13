"""The preprocessing built from a schema: shapes, names, unseen values, datetimes, persistence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from skops.io import dumps, get_untrusted_types, loads

from modelcycle.data import ColumnKind, Schema, Table, load_table
from modelcycle.exceptions import EmptyTableError, ParameterError
from modelcycle.features import DatetimeFeatures, build_preprocessor

ENCODINGS = ["onehot", "ordinal"]


@pytest.fixture(scope="module")
def adult(adult_sample: pd.DataFrame) -> Table:
    return load_table(adult_sample.head(1000), target="income")


@pytest.fixture(scope="module")
def bike(bike_sample: pd.DataFrame) -> Table:
    # weathersit is a coded category; dteday an ISO date: all three kinds appear.
    return load_table(bike_sample.head(500), target="cnt", kinds={"weathersit": "categorical"})


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("scale", [False, True])
def test_output_is_dense_float64_without_missing_values(
    adult: Table, bike: Table, scale: bool, encoding: str
) -> None:
    for table in (adult, bike):
        prep = build_preprocessor(table.schema, scale=scale, encoding=encoding)  # type: ignore[arg-type]
        out = prep.fit_transform(table.X)
        assert isinstance(out, np.ndarray)
        assert out.dtype == np.float64
        assert out.shape == (len(table), len(prep.get_feature_names_out()))
        assert np.isfinite(out).all()


def test_onehot_names_are_readable(adult: Table) -> None:
    prep = build_preprocessor(adult.schema, scale=True, encoding="onehot").fit(adult.X)
    names = prep.get_feature_names_out().tolist()
    assert "age" in names
    assert "sex_Male" in names
    # Missing occupations are a category of their own.
    assert "occupation_(missing)" in names
    assert not any("__" in name for name in names)


def test_ordinal_puts_categorical_codes_first(bike: Table) -> None:
    prep = build_preprocessor(bike.schema, scale=False, encoding="ordinal").fit(bike.X)
    names = prep.get_feature_names_out().tolist()
    assert names[: len(bike.schema.categorical)] == bike.schema.categorical
    assert names[len(bike.schema.categorical) :][: len(bike.schema.numeric)] == bike.schema.numeric
    codes = prep.transform(bike.X)[:, 0]
    assert set(codes) <= set(range(bike.X["weathersit"].nunique()))


def test_pandas_output_carries_the_names(bike: Table) -> None:
    prep = build_preprocessor(bike.schema, scale=True, encoding="onehot")
    out = prep.set_output(transform="pandas").fit_transform(bike.X)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == prep.get_feature_names_out().tolist()
    assert "dteday_day" in out.columns  # 500 hours: three weeks of January, one month
    assert (out.dtypes == np.float64).all()


def test_identifiers_and_text_are_dropped() -> None:
    frame = pd.DataFrame(
        {
            "id": [f"row-{i}" for i in range(8)],
            "note": ["a long free text note"] * 8,
            "x": np.arange(8.0),
            "y": [0, 1] * 4,
        }
    )
    table = load_table(frame, target="y", kinds={"id": "identifier", "note": "text"})
    prep = build_preprocessor(table.schema, scale=False, encoding="onehot").fit(frame)
    assert prep.get_feature_names_out().tolist() == ["x"]


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_unseen_categories_and_missing_values_at_predict_time(adult: Table, encoding: str) -> None:
    prep = build_preprocessor(adult.schema, scale=False, encoding=encoding).fit(adult.X)
    rows = adult.X.head(3).copy()
    rows["workclass"] = ["Astronaut", None, "Private"]
    rows["age"] = [np.nan, 40, 50]
    out = prep.transform(rows)
    assert np.isfinite(out).all()
    if encoding == "ordinal":
        assert out[0, 0] == -1  # unknown categories get their own code


def test_categories_typed_as_numbers_or_booleans_match_their_strings() -> None:
    frame = pd.DataFrame(
        {"code": ["1", "2", "1", "2", None] * 4, "flag": ["True", "False"] * 10, "y": [0, 1] * 10}
    )
    table = load_table(frame, target="y", kinds={"code": "categorical", "flag": "categorical"})
    prep = build_preprocessor(table.schema, scale=False, encoding="ordinal").fit(table.X)
    as_strings = prep.transform(table.X)
    typed = pd.DataFrame(
        {"code": [1, 2.0, 1.0, np.int64(2), np.nan] * 4, "flag": [True, False] * 10}
    )
    np.testing.assert_array_equal(prep.transform(typed), as_strings)


def test_nullable_numbers_are_imputed() -> None:
    frame = pd.DataFrame({"x": pd.array([1, None, 3, 4], dtype="Int64"), "y": [0, 1, 0, 1]})
    table = load_table(frame, target="y")
    out = build_preprocessor(table.schema, scale=False, encoding="onehot").fit_transform(table.X)
    assert out[:, 0].tolist() == [1.0, 3.0, 3.0, 4.0]


def test_a_missing_column_raises(adult: Table) -> None:
    prep = build_preprocessor(adult.schema, scale=True, encoding="onehot").fit(adult.X)
    with pytest.raises(ValueError, match="occupation"):
        prep.transform(adult.X.drop(columns=["occupation"]))


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_skops_round_trip(bike: Table, adult: Table, encoding: str) -> None:
    for table in (adult, bike):
        prep = build_preprocessor(table.schema, scale=True, encoding=encoding).fit(table.X)
        blob = dumps(prep)
        untrusted = get_untrusted_types(data=blob)
        # Only our own helpers (and numpy's dtype) need a reviewer's trust.
        assert all(t.startswith("modelcycle.features.") or t == "numpy.dtype" for t in untrusted)
        restored = loads(blob, trusted=untrusted)
        np.testing.assert_array_equal(restored.transform(table.X), prep.transform(table.X))
        assert restored.get_feature_names_out().tolist() == prep.get_feature_names_out().tolist()


def test_clone_gives_an_unfitted_equal_preprocessor(bike: Table) -> None:
    prep = build_preprocessor(bike.schema, scale=True, encoding="onehot").fit(bike.X)
    copy = clone(prep)
    assert not hasattr(copy, "transformers_")
    np.testing.assert_array_equal(copy.fit_transform(bike.X), prep.transform(bike.X))


def test_a_schema_without_features_raises() -> None:
    schema = Schema({"id": ColumnKind.IDENTIFIER}, target="y")
    with pytest.raises(EmptyTableError, match="identifier or free text"):
        build_preprocessor(schema, scale=False, encoding="onehot")


def test_an_unknown_encoding_raises(bike: Table) -> None:
    with pytest.raises(ParameterError, match="'onehot' or 'ordinal'"):
        build_preprocessor(bike.schema, scale=False, encoding="target")  # type: ignore[arg-type]


class TestDatetimeFeatures:
    def test_strings_and_datetimes_give_the_same_parts(self, bike_sample: pd.DataFrame) -> None:
        strings = bike_sample[["dteday"]].head(100)
        parsed = strings.apply(pd.to_datetime)
        out = DatetimeFeatures().fit(parsed).transform(strings)
        np.testing.assert_array_equal(out, DatetimeFeatures().fit(parsed).transform(parsed))

    def test_parts_that_never_vary_are_left_out(self, bike_sample: pd.DataFrame) -> None:
        # A date column has no hour; these days span one year.
        days = bike_sample[["dteday"]].head(1000)
        names = DatetimeFeatures().fit(days).get_feature_names_out().tolist()
        assert names == ["dteday_month", "dteday_day", "dteday_weekday"]

    def test_timestamps_keep_their_hour(self) -> None:
        frame = pd.DataFrame({"at": ["2024-05-01T08:30:00", "2024-05-01T17:00:00+02:00"]})
        parts = DatetimeFeatures(parts=["hour"]).fit(frame)
        assert parts.transform(frame).ravel().tolist() == [8.0, 15.0]

    def test_unparsable_values_become_nan(self) -> None:
        frame = pd.DataFrame({"at": ["2024-05-01", "2024-06-02", None]})
        parts = DatetimeFeatures().fit(frame)
        out = parts.transform(pd.DataFrame({"at": ["not a date", None, "2024-07-03"]}))
        assert np.isnan(out[:2]).all()
        assert out[2].tolist() == [7.0, 3.0, 2.0]  # month, day, weekday (Wednesday)

    def test_unknown_parts_raise(self) -> None:
        with pytest.raises(ParameterError, match="parts"):
            DatetimeFeatures(parts=["century"]).fit(pd.DataFrame({"at": ["2024-05-01"]}))

    def test_a_different_number_of_columns_raises(self) -> None:
        parts = DatetimeFeatures().fit(pd.DataFrame({"a": ["2024-05-01"], "b": ["2024-05-02"]}))
        with pytest.raises(ValueError, match="fitted on 2 columns"):
            parts.transform(pd.DataFrame({"a": ["2024-05-01"]}))
