"""The Learner end to end with a real MLflow store: compare, rank, refit, register, load."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import modelcycle as mc
from modelcycle.exceptions import ColumnNotFoundError, LearnError, ParameterError
from modelcycle.learn._parallel import run_jobs

FAST = ["logistic_regression", "naive_bayes", "decision_tree"]


@pytest.fixture(scope="module")
def adult_table(adult_sample: pd.DataFrame) -> mc.Table:
    return mc.load_table(adult_sample.head(1500), target="income")


def test_compare_ranks_refits_and_tracks(home, adult_table: mc.Table) -> None:
    seen: list[str] = []
    learner = mc.Learner(adult_table, validation="kfold:3", n_jobs=2)
    board = learner.compare(FAST, progress=lambda c: seen.append(c.name))
    assert sorted(seen) == sorted(FAST)
    scores = [c.metrics["roc_auc"] for c in board]
    assert scores == sorted(scores, reverse=True)
    frame = board.to_frame()
    assert {"accuracy", "balanced_accuracy", "f1", "roc_auc", "log_loss", "fit_seconds"} <= set(
        frame
    )
    assert {"roc_auc_std", "predict_rows_per_s", "size_bytes"} <= set(frame)
    assert (frame["status"] == "ok").all()
    assert learner.best_ is board.best and learner.best_.pipeline is not None
    assert all(c.run_id for c in board)
    assert learner.best_.recipe["data"]["fingerprint"] == adult_table.fingerprint()
    assert learner.best_.recipe["validation"] == {"kind": "kfold", "n_splits": 3}


def test_register_and_load_give_identical_predictions(home, adult_table: mc.Table) -> None:
    learner = mc.Learner(adult_table, validation="holdout:0.3", n_jobs=1, time_limit=None)
    learner.compare(["logistic_regression"])
    info = mc.register(learner.best_, "income", alias="production")
    assert info.version == 1
    loaded = mc.Registry().load("income", alias="production")
    X = adult_table.X.tail(200)
    np.testing.assert_array_equal(loaded.pipeline.predict(X), learner.best_.predict(X))
    np.testing.assert_allclose(
        loaded.pipeline.predict_proba(X), learner.best_.pipeline.predict_proba(X)
    )
    assert loaded.recipe["family"] == "logistic_regression"
    assert set(loaded.reference_profile["columns"]) >= set(adult_table.schema.features)


def test_regression_with_time_validation(home, bike_sample: pd.DataFrame) -> None:
    table = mc.load_table(bike_sample, target="cnt")
    board = mc.Learner(table, validation="time:3", tracking=False).compare(
        ["ridge", "decision_tree"]
    )
    assert board.metric == "rmse"
    rmses = [c.metrics["rmse"] for c in board]
    assert rmses == sorted(rmses)
    assert {"mae", "r2", "mape"} <= set(board.best.metrics)


def test_separate_test_table(adult_sample: pd.DataFrame) -> None:
    train = mc.load_table(adult_sample.head(1500), target="income")
    test = mc.load_table(adult_sample.tail(500), target="income")
    board = mc.Learner(train, validation=test, tracking=False).compare(["naive_bayes"])
    assert board.best.metrics_std["accuracy"] == 0.0


def test_feature_selection_is_recorded(adult_table: mc.Table) -> None:
    learner = mc.Learner(
        adult_table, features=["age", "education_num"], tracking=False, n_jobs=1, time_limit=None
    )
    learner.compare(["logistic_regression"])
    assert learner.best_.recipe["features"] == ["age", "education_num"]
    assert list(learner.best_.pipeline[:-1].get_feature_names_out()) == ["age", "education_num"]


def test_time_limit_stops_slow_jobs() -> None:
    start = time.perf_counter()
    results = {
        r.key: r
        for r in run_jobs(
            [("slow", time.sleep, (30,)), ("fast", abs, (-1,))], n_jobs=2, time_limit=3
        )
    }
    assert time.perf_counter() - start < 20
    assert results["slow"].status == "timeout" and "time limit" in (results["slow"].error or "")
    assert results["fast"].status == "ok" and results["fast"].value == 1


def test_failed_job_is_reported() -> None:
    (result,) = run_jobs([("bad", int, ("x",))], n_jobs=1, time_limit=10)
    assert result.status == "failed" and "ValueError" in (result.error or "")


def test_every_candidate_timing_out_is_a_clear_error(adult_table: mc.Table) -> None:
    learner = mc.Learner(adult_table, tracking=False, time_limit=0.01)
    with pytest.raises(LearnError, match="Every candidate failed"):
        learner.compare(["logistic_regression"])


def test_bad_arguments(adult_table: mc.Table) -> None:
    with pytest.raises(ParameterError, match="'metric' parameter"):
        mc.Learner(adult_table, metric="rmse", tracking=False).compare(["naive_bayes"])
    with pytest.raises(ColumnNotFoundError):
        mc.Learner(adult_table, features=["agee"], tracking=False).compare(["naive_bayes"])
    with pytest.raises(ParameterError, match="'time_limit'"):
        mc.Learner(adult_table, time_limit=-1, tracking=False).compare(["naive_bayes"])
    with pytest.raises(ParameterError):
        mc.Learner(adult_table, tracking=False).compare(["no_such_family"])


def test_a_plain_script_runs_without_a_main_guard(
    home: Path, tmp_path: Path, adult_sample: pd.DataFrame
) -> None:
    """Workers never re-run the caller's script (multiprocessing would, without the guard)."""
    data = tmp_path / "adult.csv"
    adult_sample.head(600).to_csv(data, index=False)
    script = tmp_path / "train.py"
    script.write_text(
        "print('top of script')\n"
        "import modelcycle as mc\n"
        f"board = mc.Learner({str(data)!r}, target='income', validation='kfold:3')"
        ".compare(['naive_bayes', 'logistic_regression'])\n"
        "print('best', board.best.name)\n"
    )
    env = {**os.environ, "MODELCYCLE_HOME": str(home), "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("top of script") == 1
    assert "best " in out.stdout
