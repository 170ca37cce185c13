"""A DriftReport serialises to JSON and renders one self-contained HTML page."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelcycle.monitor import DriftReport, detect_drift


@pytest.fixture(scope="module")
def report(adult: pd.DataFrame) -> DriftReport:
    ref = adult.iloc[:3000]
    cur = adult.iloc[3000:6000].copy()
    cur["hours_per_week"] = cur["hours_per_week"] + 6
    cur.loc[cur.index[:900], "race"] = "Other"
    cur.loc[cur.index[:100], "capital_gain"] = np.nan
    return detect_drift(ref, cur, methods={"capital_loss": "energy"})


def test_to_dict_is_json_with_every_column(report: DriftReport) -> None:
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["status"] == "Drift"
    assert set(data["drifted"]) >= {"hours_per_week", "race", "capital_gain"}
    assert [c["column"] for c in data["columns"]] == list(report.columns.index)
    row = next(c for c in data["columns"] if c["column"] == "capital_loss")
    assert row["test"] == "energy" and row["p_value_low"] <= row["p_value"]
    assert data["domain"]["status"] == "Drift" and 0.5 < data["domain"]["auc"] <= 1
    assert data["settings"]["correction"] == "bonferroni"
    assert data["n_reference"] == data["n_current"] == 3000


def test_html_is_self_contained_and_shows_the_drift(report: DriftReport, tmp_path: Path) -> None:
    path = report.to_html(tmp_path / "sub" / "drift.html")
    page = path.read_text(encoding="utf-8")
    # plotly.js is inlined; no script is fetched from the network.
    assert re.search(r"<script[^>]+src=", page) is None
    assert page.count("Plotly.newPlot") >= 5
    for text in (
        "Drift report: Drift",
        "Drift status per column",
        "drift threshold",
        "warning threshold",
        "Effect sizes",
        "domain classifier",
        "hours_per_week: Drift",
        "race: Drift",
    ):
        assert text in page, text


def test_html_of_a_stable_report(adult: pd.DataFrame, tmp_path: Path) -> None:
    stable = detect_drift(adult.iloc[:2000], adult.iloc[2000:4000], multivariate=False)
    page = stable.to_html(tmp_path / "stable.html").read_text(encoding="utf-8")
    assert "No column drifted or warned." in page and "Drift report: Stable" in page
