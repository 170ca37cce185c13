"""The CLI as a user runs it: a real process, exit codes, JSON output, one-line errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import pandas as pd
import pytest

CliRunner = Callable[..., CompletedProcess[str]]


@pytest.fixture
def adult_csv(tmp_path: Path, adult_sample: pd.DataFrame) -> Path:
    path = tmp_path / "adult.csv"
    adult_sample.head(1200).to_csv(path, index=False)
    return path


def test_learn_json_register_and_models(home: Path, adult_csv: Path, cli: CliRunner) -> None:
    out = cli(
        "learn",
        str(adult_csv),
        "--target",
        "income",
        "--preset",
        "naive_bayes,logistic_regression",
        "--validation",
        "kfold:3",
        "--register",
        "income",
        "--alias",
        "production",
        "--json",
        home=home,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["metric"] == "roc_auc" and len(result["leaderboard"]) == 2
    assert result["registered"] == {"name": "income", "version": 1, "alias": "production"}

    listed = cli("models", "list", "--json", home=home)
    assert listed.returncode == 0, listed.stderr
    models = json.loads(listed.stdout)
    assert models[0]["name"] == "income"

    shown = cli("models", "show", "income", "--json", home=home)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)[0]["aliases"] == ["production"]
    assert "model income" in cli("models", "show", "income", home=home).stdout


def test_learn_prints_a_table(home: Path, adult_csv: Path, cli: CliRunner) -> None:
    out = cli(
        "learn",
        str(adult_csv),
        "--target",
        "income",
        "--preset",
        "naive_bayes",
        "--validation",
        "holdout:0.3",
        home=home,
    )
    assert out.returncode == 0, out.stderr
    assert "naive_bayes" in out.stdout and "roc_auc" in out.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["learn", "missing.csv", "--target", "y"], "does not exist"),
        (["learn", "{csv}", "--target", "incme"], "Did you mean 'income'"),
        (["learn", "{csv}", "--target", "income", "--metric", "rmse"], "'metric' parameter"),
        (
            ["learn", "{csv}", "--target", "income", "--validation", "kfold:0"],
            "'validation' parameter",
        ),
        (["models", "show", "nope"], "nope"),
    ],
    ids=["missing-file", "unknown-target", "wrong-metric", "bad-validation", "unknown-model"],
)
def test_bad_input_gives_one_line_and_exit_1(
    home: Path,
    adult_csv: Path,
    args: list[str],
    message: str,
    cli: CliRunner,
) -> None:
    out = cli(*[a.replace("{csv}", str(adult_csv)) for a in args], home=home)
    assert out.returncode == 1, out.stderr
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert (
        len(out.stderr.strip().splitlines()) <= 3
    )  # one logical line, wrapped by the terminal width


def test_usage_error_exits_2(home: Path, cli: CliRunner) -> None:
    out = cli("learn", home=home)
    assert out.returncode == 2
