"""Tables: loading, schema inference and the errors bad tables get."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import modelcycle as mc
from modelcycle.data import ColumnKind, Task
from modelcycle.exceptions import (
    ColumnNotFoundError,
    DataError,
    EmptyTableError,
    ParameterError,
    TableNotFoundError,
    TargetError,
)


def test_adult_schema_and_task(data_dir: Path) -> None:
    table = mc.load_table(data_dir / "adult.csv", target="income")
    assert table.task is Task.BINARY
    assert table.schema.classes == ("<=50K", ">50K")
    assert table.schema.columns["age"] is ColumnKind.NUMERIC
    assert table.schema.columns["workclass"] is ColumnKind.CATEGORICAL
    # '?' marks missing values in this file.
    assert table.frame["workclass"].isna().sum() > 0
    assert "income" not in table.X.columns
    assert len(table) == 32561


def test_bike_kinds_identifier_and_datetime(data_dir: Path) -> None:
    table = mc.load_table(data_dir / "bike_hourly.csv", target="cnt", drop=["casual", "registered"])
    assert table.task is Task.REGRESSION
    assert table.schema.columns["instant"] is ColumnKind.IDENTIFIER
    assert table.schema.columns["dteday"] is ColumnKind.DATETIME
    assert pd.api.types.is_datetime64_any_dtype(table.frame["dteday"])
    assert "instant" not in table.schema.features


def test_multiclass_and_override(wine: pd.DataFrame) -> None:
    assert mc.load_table(wine, target="quality").task is Task.MULTICLASS
    assert mc.load_table(wine, target="quality", task="regression").task is Task.REGRESSION


def test_parquet_round_trip(tmp_path: Path, adult_sample: pd.DataFrame) -> None:
    path = tmp_path / "adult.parquet"
    adult_sample.to_parquet(path)
    table = mc.load_table(path, target="income")
    assert table.task is Task.BINARY and len(table) == len(adult_sample)


def test_text_column(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    words = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"]
    frame = pd.DataFrame(
        {
            "note": [" ".join(rng.choice(words, 6)) + f" {i}" for i in range(300)],
            "x": rng.normal(size=300),
            "y": rng.integers(0, 2, 300),
        }
    )
    table = mc.load_table(frame, target="y")
    assert table.schema.columns["note"] is ColumnKind.TEXT
    assert table.schema.features == ["x"]


def test_fingerprint_is_content_based(adult_sample: pd.DataFrame) -> None:
    a = mc.load_table(adult_sample, target="income")
    b = mc.load_table(adult_sample.copy(), target="income")
    c = mc.load_table(adult_sample.iloc[1:], target="income")
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


def test_missing_file() -> None:
    with pytest.raises(TableNotFoundError, match="does not exist"):
        mc.load_table("no/such/file.csv", target="y")


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(EmptyTableError, match="empty"):
        mc.load_table(tmp_path / "empty.csv", target="y")
    (tmp_path / "header.csv").write_text("a,b\n")
    with pytest.raises(EmptyTableError, match="no rows"):
        mc.load_table(tmp_path / "header.csv", target="b")


def test_unknown_format(tmp_path: Path) -> None:
    (tmp_path / "t.xlsx").write_text("x")
    with pytest.raises(DataError, match=r"csv or \.parquet"):
        mc.load_table(tmp_path / "t.xlsx")


def test_unknown_target_suggests_close_names(adult_sample: pd.DataFrame) -> None:
    with pytest.raises(ColumnNotFoundError, match="Did you mean 'income'") as info:
        mc.load_table(adult_sample, target="incme")
    assert info.value.suggestions[0] == "income"


def test_target_with_one_class() -> None:
    frame = pd.DataFrame({"x": range(10), "y": ["a"] * 10})
    with pytest.raises(TargetError, match="one class"):
        mc.load_table(frame, target="y")


def test_target_all_missing() -> None:
    frame = pd.DataFrame({"x": range(10), "y": [None] * 10})
    with pytest.raises(TargetError, match="all missing"):
        mc.load_table(frame, target="y")


def test_unlabelled_rows_are_dropped() -> None:
    frame = pd.DataFrame({"x": range(10), "y": [0, 1, None, 0, 1, 0, 1, None, 0, 1]})
    assert len(mc.load_table(frame, target="y")) == 8


def test_bad_task_and_regression_on_strings(adult_sample: pd.DataFrame) -> None:
    with pytest.raises(ParameterError, match="'task' parameter"):
        mc.load_table(adult_sample, target="income", task="ranking")
    with pytest.raises(TargetError, match="not numeric"):
        mc.load_table(adult_sample, target="income", task="regression")


def test_clustering_without_target(wine: pd.DataFrame) -> None:
    table = mc.load_table(wine)
    assert table.task is Task.CLUSTERING and "quality" in table.schema.columns
    with pytest.raises(TargetError):
        _ = table.y


def test_drop_unknown_column(adult_sample: pd.DataFrame) -> None:
    with pytest.raises(ColumnNotFoundError, match="column to drop"):
        mc.load_table(adult_sample, target="income", drop=["nope"])


def test_schema_round_trips_through_dict(adult_sample: pd.DataFrame) -> None:
    schema = mc.load_table(adult_sample, target="income").schema
    assert mc.Schema.from_dict(schema.to_dict()) == schema
