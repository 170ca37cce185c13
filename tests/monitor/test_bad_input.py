"""Bad input gives a clear error or a clearly reported status: no crash, no silent pass."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelcycle.data import load_table, profile_table
from modelcycle.exceptions import (
    ColumnMismatchError,
    DataError,
    DriftWarning,
    EmptyTableError,
    ParameterError,
)
from modelcycle.monitor import DriftStatus, detect_drift

MakeFrame = Callable[..., pd.DataFrame]


def test_current_lacking_a_reference_column_names_it(make_frame: MakeFrame) -> None:
    with pytest.raises(ColumnMismatchError, match=r"lacks the reference columns \['c'\]") as err:
        detect_drift(make_frame(100, 0), make_frame(100, 1).drop(columns=["c"]))
    assert err.value.missing == {"current": ["c"]}


def test_requested_columns_must_exist_on_both_sides(make_frame: MakeFrame) -> None:
    ref, cur = make_frame(100, 0), make_frame(100, 1).assign(extra=1.0)
    with pytest.raises(ColumnMismatchError, match="reference data lacks \\['extra'\\]"):
        detect_drift(ref, cur, columns=["x", "extra"])
    report = detect_drift(ref, cur, columns=["x"], multivariate=False)
    assert list(report.columns.index) == ["x"]


def test_no_column_in_common(make_frame: MakeFrame) -> None:
    with pytest.raises(ColumnMismatchError):
        detect_drift(make_frame(100, 0), pd.DataFrame({"other": [1, 2, 3]}))


def test_extra_current_columns_are_reported_as_skipped(make_frame: MakeFrame) -> None:
    cur = make_frame(200, 1).assign(request_id=range(200), latency_ms=3.0)
    report = detect_drift(make_frame(200, 0), cur, multivariate=False)
    assert report.skipped == {
        "request_id": "not in the reference",
        "latency_ms": "not in the reference",
    }
    assert report.to_dict()["skipped"]["request_id"] == "not in the reference"


def test_empty_window_is_a_clear_error(make_frame: MakeFrame) -> None:
    with pytest.raises(EmptyTableError, match="current data has no rows"):
        detect_drift(make_frame(100, 0), make_frame(100, 1).iloc[:0])
    with pytest.raises(EmptyTableError, match="reference data has no rows"):
        detect_drift(make_frame(100, 0).iloc[:0], make_frame(100, 1))


def test_all_missing_numeric_column_in_the_window_drifts(make_frame: MakeFrame) -> None:
    cur = make_frame(300, 1).assign(x=np.nan)
    report = detect_drift(make_frame(300, 0), cur, multivariate=False)
    row = report.columns.loc["x"]
    assert row["status"] == "Drift" and "every value is missing in the current data" in row["note"]
    assert row["missing_current"] == 1.0 and row["n_current"] == 0


def test_all_missing_on_both_sides_is_reported_not_tested(make_frame: MakeFrame) -> None:
    ref = make_frame(300, 0).assign(x=np.nan, c=None)
    cur = make_frame(300, 1).assign(x=np.nan, c=None)
    report = detect_drift(ref, cur, kinds={"x": "numeric", "c": "categorical"})
    assert report.status is DriftStatus.STABLE
    for name in ("x", "c"):
        assert "nothing to compare" in report.columns.loc[name, "note"]
    assert np.isnan(report.columns.loc["x", "p_value"])
    assert "no column to learn from" in report.skipped["(domain classifier)"]


def test_missing_share_change_in_a_numeric_column(make_frame: MakeFrame) -> None:
    cur = make_frame(2000, 1)
    cur.loc[cur.index[:600], "x"] = np.nan
    report = detect_drift(make_frame(2000, 0), cur, multivariate=False)
    row = report.columns.loc["x"]
    assert row["status"] == "Drift" and row["test"] == "ks + chi2 (missing share)"
    assert row["missing_current"] == pytest.approx(0.3)
    assert "missing share 0.0% → 30.0%" in row["note"]


def test_numbers_that_became_text_are_a_kind_change(make_frame: MakeFrame) -> None:
    cur = make_frame(300, 1).astype({"x": object})
    cur.loc[cur.index[:5], "x"] = "n/a?"
    report = detect_drift(make_frame(300, 0), cur, multivariate=False)
    row = report.columns.loc["x"]
    assert row["status"] == "Drift" and row["test"] == "kind check"
    assert "5 of 300 values are not numbers (e.g. 'n/a?')" in row["note"]
    assert report.status is DriftStatus.DRIFT


def test_numbers_written_as_text_are_still_numbers(make_frame: MakeFrame) -> None:
    ref = make_frame(300, 0)
    report = detect_drift(ref, ref.assign(x=ref["x"].astype(str)), multivariate=False)
    assert report.columns.loc["x", "status"] == "Stable"


def test_text_categories_that_became_numbers_are_a_kind_change(make_frame: MakeFrame) -> None:
    cur = make_frame(300, 1).assign(c=np.arange(300) % 2)
    report = detect_drift(make_frame(300, 0), cur, multivariate=False)
    row = report.columns.loc["c"]
    assert row["status"] == "Drift" and "kind changed" in row["note"]


def test_numeric_codes_compare_across_spellings() -> None:
    ref = pd.DataFrame({"code": [1, 2, 3, 1, 2, 3] * 50})
    cur = pd.DataFrame({"code": ["1", "2.0", "3", "1", "2", "3"] * 50})
    report = detect_drift(ref, cur, kinds={"code": "categorical"}, multivariate=False)
    assert report.columns.loc["code", "effect"] == 0.0


def test_identifiers_and_dates_are_skipped_unless_named(adult: pd.DataFrame) -> None:
    ref = adult.iloc[:500].assign(when=pd.date_range("2024-01-01", periods=500, freq="h"))
    cur = adult.iloc[500:1000].assign(when=pd.date_range("2025-01-01", periods=500, freq="h"))
    ref, cur = ref.assign(row=range(500)), cur.assign(row=range(500, 1000))
    report = detect_drift(ref, cur, multivariate=False)
    assert "datetime column" in report.skipped["when"]
    assert "identifier column" in report.skipped["row"]
    named = detect_drift(ref, cur, columns=["when", "age"], multivariate=False)
    assert named.drifted == ["when"]


def test_profile_that_is_not_a_profile() -> None:
    with pytest.raises(DataError, match="not a profile made by"):
        detect_drift({"columns": {}}, pd.DataFrame({"x": [1.0]}))


def test_profile_cannot_be_the_current_window(make_frame: MakeFrame) -> None:
    profile = profile_table(load_table(make_frame(100, 0)))
    with pytest.raises(ParameterError, match="'current' parameter"):
        detect_drift(make_frame(100, 0), profile)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"alpha": 0}, "alpha"),
        ({"alpha": 0.2, "warning_alpha": 0.1}, "warning_alpha"),
        ({"correction": "holm"}, "correction"),
        ({"min_effect": -1}, "min_effect"),
        ({"methods": {"numeric": "t-test"}}, "methods"),
        ({"methods": {"categorical": "ks"}}, "methods"),
        ({"n_permutations": 0}, "n_permutations"),
        ({"auc_threshold": 0.4}, "auc_threshold"),
        ({"kinds": {"x": "colour"}}, "kinds"),
        ({"random_state": -3}, "random_state"),
        ({"categorical_effect": "kl"}, "categorical_effect"),
    ],
)
def test_bad_parameters(make_frame: MakeFrame, kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(ParameterError, match=f"'{parameter}' parameter of detect_drift"):
        detect_drift(make_frame(50, 0), make_frame(50, 1), **kwargs)


def test_too_few_permutations_for_the_correction_warns(make_frame: MakeFrame) -> None:
    with pytest.warns(DriftWarning, match="can never reach Drift"):
        detect_drift(
            make_frame(200, 0),
            make_frame(200, 1),
            methods={"numeric": "energy"},
            n_permutations=100,
            multivariate=False,
        )


def test_duplicate_column_names(make_frame: MakeFrame) -> None:
    frame = pd.concat([make_frame(50, 0), make_frame(50, 1)[["x"]]], axis=1)
    with pytest.raises(DataError, match="duplicate column names"):
        detect_drift(frame, make_frame(50, 2))


@pytest.mark.parametrize("spec", ["", "income@", "@prod", "income/v2"])
def test_bad_model_spec(spec: str) -> None:
    from modelcycle.monitor import model_reference

    with pytest.raises(ParameterError, match="NAME, NAME@ALIAS or NAME/VERSION"):
        model_reference(spec)
