"""`modelcycle automl` as a user runs it: a real process, JSON output, exit codes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import pandas as pd
import pytest

CliRunner = Callable[..., CompletedProcess[str]]


@pytest.fixture
def wine_csv(tmp_path: Path, wine: pd.DataFrame) -> Path:
    path = tmp_path / "wine.csv"
    wine.head(600).to_csv(path, index=False)
    return path


def test_json_register_and_report(home: Path, wine_csv: Path, cli: CliRunner) -> None:
    report = home / "automl.html"
    out = cli(
        "automl",
        str(wine_csv),
        "--target",
        "quality",
        "--task",
        "regression",
        "--budget",
        "4",
        "--register",
        "wine",
        "--html",
        str(report),
        "--json",
        home=home,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["task"] == "regression" and result["metric"] == "rmse"
    assert result["budget_s"] == 4.0 and result["search_s"] <= 4.0 * 1.5 + 1.0
    assert result["trials"] == len(result["leaderboard"]) - (result["best"]["name"] == "ensemble")
    assert result["leaderboard"][0]["model"] == result["best"]["name"]
    assert result["registered"] == {"name": "wine", "version": 1, "alias": None}
    assert {row["family"] for row in result["families"]} >= {"lightgbm"}
    assert report.is_file() and "Best score so far" in report.read_text()


def test_prints_a_leaderboard(home: Path, wine_csv: Path, cli: CliRunner) -> None:
    out = cli(
        "automl",
        str(wine_csv),
        *("-t", "quality", "--task", "regression", "--budget", "3", "--max-trials", "2"),
        home=home,
    )
    assert out.returncode == 0, out.stderr
    assert "best configuration per family" in out.stdout and "refit on all 600 rows" in out.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--budget", "0"], "'budget' parameter of automl must be a positive number of seconds"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(
    wine_csv: Path, cli: CliRunner, args: list[str], message: str
) -> None:
    out = cli("automl", str(wine_csv), "--target", "quality", *args)
    assert out.returncode == 1
    assert message in " ".join(out.stderr.split()) and "Traceback" not in out.stderr


def test_usage_errors_exit_2(wine_csv: Path, cli: CliRunner) -> None:
    assert cli("automl", str(wine_csv), "-t", "quality", "--budget", "soon").returncode == 2
