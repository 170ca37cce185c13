"""Reference profiles are compact, JSON-safe and describe every column."""

from __future__ import annotations

import json

import pandas as pd

import modelcycle as mc
from modelcycle.data import profile_table


def test_profile_is_json_and_bounded(adult_sample: pd.DataFrame) -> None:
    table = mc.load_table(adult_sample, target="income")
    profile = profile_table(table, sample_size=500)
    text = json.dumps(profile)
    assert len(text) < 500_000
    assert set(profile["columns"]) == {*table.schema.columns, "income"}
    age = profile["columns"]["age"]
    assert age["quantiles"]["0.5"] == adult_sample["age"].median()
    assert sum(age["histogram"]["counts"]) == adult_sample["age"].notna().sum()
    work = profile["columns"]["workclass"]
    assert abs(sum(work["frequencies"].values()) + work["other_share"] - 1) < 1e-9
    assert len(profile["sample"]["age"]) == 500
