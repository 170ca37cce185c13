"""The HTML report of a Learner session: self-contained, with the leaderboard, every candidate's
assessment and the best model's explanation."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from plotly.offline import get_plotlyjs

import modelcycle as mc
from modelcycle.exceptions import LearnError
from modelcycle.learn import Learner, session_report

_REMOTE = re.compile(r"<(?:script|link|img)[^>]+(?:src|href)\s*=\s*['\"]?https?://", re.I)


def _learner(frame: pd.DataFrame, target: str, families: list[str]) -> Learner:
    table = mc.load_table(frame, target=target)
    learner = Learner(table, validation="kfold:3", n_jobs=1, time_limit=None, tracking=False)
    learner.compare(families)
    return learner


def _check_self_contained(page: str) -> None:
    assert not _REMOTE.search(page), "the page loads something from the network"
    assert get_plotlyjs()[:2000] in page, "plotly.js is not inlined"
    assert page.count("Plotly.newPlot") >= 5


def test_binary_report(adult_sample: pd.DataFrame, tmp_path: Path) -> None:
    learner = _learner(adult_sample.head(600), "income", ["naive_bayes", "logistic_regression"])
    path = session_report(learner, tmp_path / "out" / "report.html")
    page = path.read_text()
    _check_self_contained(page)
    assert "<h2>Leaderboard</h2>" in page and "roc_auc by model" in page
    for candidate in learner.leaderboard_:
        assert f"({candidate.name})</h2>" in page
        assert f"<td>{candidate.name}</td>" in page
    for title in ("ROC curve", "Precision-recall", "Reliability", "Feature importance"):
        assert title in page
    assert f"Best model ({learner.best_.name})" in page and "Why this prediction" in page


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_multiclass_and_regression_reports(
    task: str, wine: pd.DataFrame, bike_sample: pd.DataFrame, tmp_path: Path
) -> None:
    if task == "multiclass":
        frame = wine[wine["quality"].isin([5, 6, 7])].head(400)
        learner = _learner(frame, "quality", ["lda", "decision_tree"])
        expected = "one class vs the rest"
    else:
        learner = _learner(bike_sample.head(400), "cnt", ["ridge", "decision_tree"])
        expected = "Residuals vs predicted"
    page = session_report(learner, tmp_path / "report.html", row=None).read_text()
    _check_self_contained(page)
    assert expected in page and "Why this prediction" not in page


def test_report_before_compare_is_an_error(adult_sample: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(LearnError, match="compare"):
        session_report(Learner(adult_sample, target="income"), tmp_path / "r.html")
