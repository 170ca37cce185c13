"""Validation schemes: sizes, stratification, time order, and errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import modelcycle as mc
from modelcycle.data import Validation
from modelcycle.exceptions import DataError, ParameterError


def test_stratified_kfold_partitions_rows(adult_sample: pd.DataFrame) -> None:
    table = mc.load_table(adult_sample, target="income")
    folds = list(Validation.parse("kfold:5").folds(table, random_state=0))
    assert len(folds) == 5
    assert sum(len(f.valid) for f in folds) == len(table)
    share = (table.y == ">50K").mean()
    for fold in folds:
        assert abs((fold.valid.y == ">50K").mean() - share) < 0.02


def test_holdout_fraction(wine: pd.DataFrame) -> None:
    table = mc.load_table(wine, target="quality", task="regression")
    (fold,) = Validation.parse("holdout:0.25").folds(table)
    assert len(fold.valid) == pytest.approx(0.25 * len(table), abs=1)
    assert len(fold.train) + len(fold.valid) == len(table)


def test_seed_determinism(wine: pd.DataFrame) -> None:
    table = mc.load_table(wine, target="quality", task="regression")
    a = [f.valid.frame.index.size for f in Validation().folds(table, 1)]
    first = next(Validation().folds(table, 1)).valid.frame
    second = next(Validation().folds(table, 1)).valid.frame
    assert a and first.equals(second)


def test_time_split_trains_on_the_past(data_dir: Path) -> None:
    frame = pd.read_csv(data_dir / "bike_hourly.csv").sample(frac=1.0, random_state=0)
    table = mc.load_table(frame, target="cnt", time_column="instant", drop=["casual", "registered"])
    for fold in Validation.parse("time:4").folds(table):
        assert fold.train.frame["instant"].max() < fold.valid.frame["instant"].min()


def test_separate_test_table(adult_sample: pd.DataFrame) -> None:
    train = mc.load_table(adult_sample.iloc[:2000], target="income")
    test = mc.load_table(adult_sample.iloc[2000:], target="income")
    (fold,) = Validation.parse(test).folds(train)
    assert len(fold.train) == 2000 and len(fold.valid) == 1000


@pytest.mark.parametrize(
    "spec", ["kfold:1", "kfold:x", "holdout:1.5", "holdout:0", "bootstrap", "time:1"]
)
def test_bad_specs(spec: str) -> None:
    with pytest.raises(ParameterError):
        Validation.parse(spec)


def test_rare_class_is_reported() -> None:
    frame = pd.DataFrame({"x": np.arange(20.0), "y": ["a"] * 18 + ["b"] * 2})
    table = mc.load_table(frame, target="y")
    with pytest.raises(DataError, match="fewer than 5 rows"):
        list(Validation.parse("kfold:5").folds(table))
