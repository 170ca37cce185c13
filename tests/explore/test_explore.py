"""Exploring tables: summaries, associations, warnings (leakage first of all) and the report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelcycle.data import Table, load_table
from modelcycle.exceptions import ModelcycleError
from modelcycle.explore import DataIssue, Exploration, IssueKind, explore


@pytest.fixture(scope="module")
def bike(data_dir: Path) -> Exploration:
    # All of it, casual and registered included: they are what the leakage check must catch.
    return explore(load_table(data_dir / "bike_hourly.csv", target="cnt"))


@pytest.fixture(scope="module")
def adult(adult_sample: pd.DataFrame) -> Exploration:
    return explore(adult_sample, target="income")


def kinds_by_column(found: Exploration) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for w in found.warnings:
        out.setdefault(w.column, set()).add(str(w.kind))
    return out


def test_bike_leakage_is_flagged_on_casual_and_registered_only(bike: Exploration) -> None:
    leaks = {w.column for w in bike.warnings_of("leakage")}
    assert leaks == {"casual", "registered"}
    casual = next(w for w in bike.warnings_of(IssueKind.LEAKAGE) if w.column == "casual")
    assert "linear combination of casual, registered" in casual.message
    assert all(w.serious for w in bike.warnings_of("leakage"))
    # Leakage is listed before anything else.
    assert [w.kind for w in bike.warnings[:2]] == [IssueKind.LEAKAGE] * 2
    assert kinds_by_column(bike)["instant"] == {"identifier"}


def test_adult_has_no_leakage_and_flags_the_wide_category(adult: Exploration) -> None:
    assert not adult.warnings_of("leakage")
    assert "native_country" in {w.column for w in adult.warnings_of("high_cardinality")}


def test_summaries_of_a_mixed_table(adult: Exploration) -> None:
    columns = adult.columns.set_index("column")
    assert list(columns.index)[-1] == "income"
    assert columns.loc["income", "role"] == "target"
    assert columns.loc["age", "kind"] == "numeric"
    assert columns.loc["age", "min"] <= columns.loc["age", "median"] <= columns.loc["age", "max"]
    assert 0 < columns.loc["occupation", "missing"] < 0.2
    assert "Private" in columns.loc["workclass", "summary"]
    top = adult.top_categories["workclass"]
    assert top[0][0] == "Private" and sum(share for _, share in top) <= 1.0 + 1e-9

    dist = adult.target_distribution
    assert list(dist["class"]) == ["<=50K", ">50K"]
    assert dist["count"].sum() == len(adult.table)
    assert dist["share"].sum() == pytest.approx(1.0)

    assoc = adult.associations
    assert set(assoc["feature"]) == set(adult.table.schema.features)
    assert assoc["score"].is_monotonic_decreasing and assoc["score"].between(0, 1).all()
    measures = dict(zip(assoc["feature"], assoc["measure"], strict=True))
    assert measures["age"] == "correlation ratio η" and measures["sex"] == "Cramér's V"
    assert assoc["feature"].iloc[0] in ("relationship", "marital_status")

    corr = adult.correlations
    assert list(corr.columns) == list(corr.index) == adult.table.schema.numeric
    assert np.allclose(np.diag(corr), 1.0) and np.allclose(corr, corr.T)


def test_regression_associations_use_spearman_and_eta(bike: Exploration) -> None:
    measures = dict(zip(bike.associations["feature"], bike.associations["measure"], strict=True))
    assert measures["temp"] == "|Spearman ρ|"
    assert measures["dteday"] == "|Spearman ρ|"  # a datetime counts as its timestamp
    stats = dict(
        zip(bike.target_distribution["statistic"], bike.target_distribution["value"], strict=True)
    )
    assert stats["min"] == 1 and stats["max"] == 977


@pytest.fixture(scope="module")
def awkward() -> Exploration:
    rng = np.random.default_rng(0)
    n = 400
    signal = rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "signal": signal,
            "constant": 3,
            "empty": np.nan,
            "sparse": np.where(rng.uniform(size=n) < 0.8, np.nan, rng.normal(size=n)),
            "comment": [f"customer wrote a note number {i} about the order" for i in range(n)],
            "code": [f"C{i:05d}" for i in rng.permutation(n)],
            "shuffled_id": rng.permutation(n),
            "city": [f"city {i % 40}" for i in range(n)],
            "y": np.where(signal + rng.normal(size=n) > 0, "a", "b"),
        }
    )
    return explore(frame, target="y")


@pytest.mark.parametrize(
    ("column", "kind"),
    [
        ("constant", "constant"),
        ("empty", "all_missing"),
        ("sparse", "mostly_missing"),
        ("comment", "text"),
        ("code", "identifier"),
        ("shuffled_id", "identifier"),
        ("city", "high_cardinality"),
    ],
)
def test_awkward_columns_are_flagged(awkward: Exploration, column: str, kind: str) -> None:
    assert kinds_by_column(awkward).get(column) == {kind}
    message = next(w.message for w in awkward.warnings if w.column == column)
    assert column in message


def test_ordinary_columns_are_not_flagged(awkward: Exploration) -> None:
    assert "signal" not in kinds_by_column(awkward)
    assert not awkward.warnings_of("leakage")


def test_a_copy_of_the_class_is_leakage() -> None:
    rng = np.random.default_rng(0)
    n = 500
    y = rng.choice(["yes", "no"], size=n)
    frame = pd.DataFrame(
        {
            "answer_code": np.where(y == "yes", "Y", "N"),
            "x": rng.normal(size=n) + (y == "yes"),
            "y": y,
        }
    )
    found = explore(frame, target="y")
    assert {w.column for w in found.warnings_of("leakage")} == {"answer_code"}


def test_an_imbalanced_target_is_flagged() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=1000), "y": np.r_[np.ones(20), np.zeros(980)]})
    found = explore(frame, target="y")
    assert kinds_by_column(found) == {"y": {"imbalanced"}}


def test_without_target_the_table_is_still_explored(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=100), "b": rng.choice(list("xyz"), 100)})
    found = explore(frame)
    assert found.target is None and str(found.task) == "clustering"
    assert found.target_distribution.empty and found.associations.empty
    assert set(found.columns["role"]) == {"feature"}
    page = found.to_html(tmp_path / "clusters.html").read_text()
    assert "No target" in page
    json.dumps(found.to_dict())


def test_json_is_complete_and_plain(bike: Exploration) -> None:
    data = json.loads(json.dumps(bike.to_dict()))
    assert data["rows"] == len(bike.table) and data["target"] == "cnt"
    assert {w["column"] for w in data["warnings"] if w["kind"] == "leakage"} == {
        "casual",
        "registered",
    }
    assert data["correlations"]["temp"]["atemp"] > 0.9
    assert next(c for c in data["columns"] if c["column"] == "dteday")["min"] is None


# -- the HTML report --------------------------------------------------------------------------


def test_report_is_self_contained_and_complete(bike: Exploration, tmp_path: Path) -> None:
    path = bike.to_html(tmp_path / "out" / "bike.html")
    page = path.read_text(encoding="utf-8")
    # Nothing is fetched from the network: no remote scripts, styles or images.
    remote = re.findall(r"<(?:script|link|img)[^>]+(?:src|href)=[\"']?https?://", page, re.I)
    assert remote == []
    assert "plotly.js" in page.lower() and len(page) > 1_000_000  # the library, inlined once
    assert page.count("Plotly.newPlot") == 4  # target, association, histograms, heatmap
    for title in ("Overview", "Columns", "Target", "Association with the target",
                  "Numeric columns", "Correlations"):  # fmt: skip
        assert f"<h2>{title}</h2>" in page
    assert "registered" in page and "leakage" in page


def test_report_of_a_table_with_awkward_columns(awkward: Exploration, tmp_path: Path) -> None:
    page = awkward.to_html(tmp_path / "awkward.html").read_text(encoding="utf-8")
    assert "<h2>Categorical columns</h2>" in page and "all_missing" in page


# -- never a traceback ------------------------------------------------------------------------

cells = st.one_of(
    st.none(),
    st.integers(-5, 5),
    st.floats(-1e6, 1e6),
    st.just(float("nan")),
    st.sampled_from(["a", "b", "a longer free text value", "2024-01-02"]),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    columns=st.lists(st.lists(cells, min_size=12, max_size=12), min_size=1, max_size=4),
    target=st.sampled_from([None, "t_class", "t_number"]),
)
def test_explore_never_crashes(columns: list[list[object]], target: str | None) -> None:
    frame = pd.DataFrame({f"c{i}": values for i, values in enumerate(columns)})
    frame["t_class"] = ["u", "v"] * 6
    frame["t_number"] = np.linspace(0, 1, 12)
    if target is not None:
        frame = frame.drop(columns=[c for c in ("t_class", "t_number") if c != target])
    try:
        table = load_table(frame, target=target)
    except ModelcycleError:
        return  # a table load_table refuses is not explore's to handle
    found = explore(table)
    assert all(isinstance(w, DataIssue) for w in found.warnings)
    json.dumps(found.to_dict())


def test_explore_accepts_a_table_and_retargets(adult: Exploration) -> None:
    table: Table = adult.table
    assert explore(table).target == "income"
    assert explore(table, target="sex").target == "sex"
