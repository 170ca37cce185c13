"""`modelcycle drift` as a user runs it: a real process, exit codes, JSON, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from modelcycle.data import load_table, profile_table
from modelcycle.registry import Registry


def run(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MODELCYCLE_HOME": str(home), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "modelcycle", "drift", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.fixture(scope="module")
def tables(adult: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("drift-cli")
    paths = {name: folder / f"{name}.csv" for name in ("ref", "same", "moved", "narrow")}
    adult.iloc[:3000].to_csv(paths["ref"], index=False)
    adult.iloc[3000:6000].to_csv(paths["same"], index=False)
    adult.iloc[3000:6000].assign(age=adult["age"] + 9).to_csv(paths["moved"], index=False)
    adult.iloc[3000:6000].drop(columns=["age"]).to_csv(paths["narrow"], index=False)
    return paths


def test_stable_and_drift_exit_codes(tables: dict[str, Path], clean_environ: Path) -> None:
    stable = run(
        str(tables["ref"]),
        str(tables["same"]),
        "--no-multivariate",
        "--fail-on-drift",
        home=clean_environ,
    )
    assert stable.returncode == 0, stable.stderr
    assert "verdict: Stable" in stable.stdout and "hours_per_week" in stable.stdout

    html = tables["ref"].parent / "report.html"
    moved = run(
        str(tables["ref"]),
        str(tables["moved"]),
        "--html",
        str(html),
        "--fail-on-drift",
        home=clean_environ,
    )
    assert moved.returncode == 3, moved.stderr
    assert "verdict: Drift (age)" in moved.stdout and "domain classifier: AUC" in moved.stdout
    assert html.is_file()


def test_json_output(tables: dict[str, Path], clean_environ: Path) -> None:
    out = run(
        str(tables["ref"]),
        str(tables["moved"]),
        "--json",
        "--no-multivariate",
        "--correction",
        "bh",
        "--columns",
        "age,sex",
        home=clean_environ,
    )
    # Without --fail-on-drift a drift is a finding, not a failure.
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["status"] == "Drift" and data["drifted"] == ["age"]
    assert [c["column"] for c in data["columns"]] == ["age", "sex"]
    assert data["settings"]["correction"] == "bh"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["narrow"], "lacks the reference columns ['age']"),
        pytest.param(["missing"], "No table at", marks=pytest.mark.slow),
        pytest.param([], "REFERENCE CURRENT, or only CURRENT with", marks=pytest.mark.slow),
        pytest.param(
            ["same", "--correction", "holm"], "'correction' parameter", marks=pytest.mark.slow
        ),
    ],
    ids=["mismatch", "no-file", "one-table", "bad-option"],
)
def test_bad_input_is_one_line(
    tables: dict[str, Path], clean_environ: Path, args: list[str], message: str
) -> None:
    folder = tables["ref"].parent
    paths = [str(folder / f"{a}.csv") if i == 0 else a for i, a in enumerate(args)]
    out = run(str(tables["ref"]), *paths, "--no-multivariate", home=clean_environ)
    assert out.returncode == 1
    assert message in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_drift_against_a_registered_model(
    adult: pd.DataFrame, tables: dict[str, Path], home: Path
) -> None:
    table = load_table(adult.iloc[:1500], target="income")
    categorical = table.schema.categorical
    pipeline = Pipeline(
        [
            (
                "prep",
                ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), categorical)]),
            ),
            ("model", LogisticRegression(max_iter=200)),
        ]
    ).fit(table.X, table.y)
    registry = Registry()
    info = registry.register(
        "income",
        pipeline,
        run_id=None,
        recipe={"model": {"family": "logistic_regression"}},
        input_example=table.X.head(5),
        reference_profile=profile_table(table),
    )
    registry.set_alias("income", "production", info.version)
    out = run(
        str(tables["moved"]),
        "--model",
        "income@production",
        "--json",
        "--no-multivariate",
        home=home,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["settings"]["reference"] == "profile" and data["drifted"] == ["age"]
    unknown = run(str(tables["moved"]), "--model", "nope", home=home)
    assert unknown.returncode == 1 and "nope" in unknown.stderr
