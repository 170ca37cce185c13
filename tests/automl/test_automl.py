"""AutoML end to end with real worker processes and a real MLflow store: a tiny budget gives a
registrable model, the budget holds, the search is reproducible, every trial is tracked, and a
recipe retrains the same model."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import modelcycle as mc
from modelcycle.automl import automl, automl_report, build_pipeline
from modelcycle.exceptions import ParameterError
from modelcycle.learn import pipeline_from_recipe

BUDGET = 4.0


@pytest.fixture(scope="module")
def adult_table(adult_sample: pd.DataFrame) -> mc.Table:
    return mc.load_table(adult_sample.head(800), target="income")


def _proba(pipeline: object, X: pd.DataFrame) -> np.ndarray:
    return np.asarray(pipeline.predict_proba(X))  # type: ignore[attr-defined]


def test_tiny_budget_gives_a_tracked_registrable_model(home: Path, adult_table: mc.Table) -> None:
    start = time.perf_counter()
    result = automl(adult_table, budget=BUDGET, n_jobs=2, experiment="automl-test")
    wall = time.perf_counter() - start

    # The budget holds: generous bounds (a loaded machine), and the recorded numbers agree.
    assert result.search_seconds <= BUDGET * 1.5 + 1.0
    assert wall <= result.search_seconds + result.refit_seconds + 2.0
    assert all(t.finished <= result.search_seconds + 0.5 for t in result.trials)
    assert result.metric == "roc_auc" and result.validation["kind"] == "holdout"  # FLAML's rule

    best = result.best
    assert best.ok and best.pipeline is not None and best.recipe["source"] == "automl"
    assert result.leaderboard.best is best
    assert best.metrics["roc_auc"] > 0.8
    assert result.trials[0].warm_start and result.trials[0].family == "lightgbm"

    # Every trial is a nested run under the session's parent run, and so is the final model.
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    runs = client.search_runs([result.experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get("modelcycle.kind") == "automl"]
    assert len(parents) == 1 and parents[0].info.run_id == result.run_id
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == result.run_id]
    trial_runs = [r for r in children if r.data.tags["modelcycle.kind"] == "automl-trial"]
    assert len(trial_runs) == len(result.trials)
    assert {r.info.run_id for r in trial_runs} == {t.run_id for t in result.trials}
    finished = next(r for r in trial_runs if r.info.run_id == result.trials[0].run_id)
    assert finished.data.params["family"] == "lightgbm"
    assert {"seconds", "roc_auc"} <= set(finished.data.metrics)
    (final,) = [r for r in children if r.data.tags["modelcycle.kind"] == "automl-best"]
    assert best.run_id == final.info.run_id

    # Registered and loaded back, the model predicts as it did.
    info = mc.register(best, "income-automl")
    loaded = mc.Registry().load("income-automl", version=info.version)
    X = adult_table.X.tail(100)
    np.testing.assert_allclose(_proba(loaded.pipeline, X), _proba(best.pipeline, X))

    # The recipe alone retrains the same model on the same data.
    again = pipeline_from_recipe(best.recipe).fit(adult_table.X, adult_table.y)
    np.testing.assert_array_equal(_proba(again, X), _proba(best.pipeline, X))

    frame = result.to_frame()
    assert len(frame) == len(result.trials) and set(frame["status"]) <= {
        "ok",
        "pruned",
        "failed",
        "timeout",
    }
    history = result.history()
    assert history["best"].is_monotonic_increasing
    page = automl_report(result, home / "automl.html").read_text()
    assert "Best score so far" in page and "Best configuration per family" in page


def test_same_seed_same_trials(adult_table: mc.Table) -> None:
    def run() -> list[tuple[object, ...]]:
        result = automl(
            adult_table,
            budget=300,
            n_jobs=1,
            max_trials=5,
            random_state=3,
            tracking=False,
            validation="holdout:0.25",
        )
        assert len(result.trials) == 5
        return [(t.family, t.config, t.status, round(t.score, 12)) for t in result.trials]

    first = run()
    assert first == run()
    # Beyond the warm start, the sampler's choices also repeat.
    assert any(not math.isnan(score) for *_, score in first)


def test_regression_with_samples_of_growing_size(bike_sample: pd.DataFrame) -> None:
    table = mc.load_table(bike_sample.head(2000), target="cnt")
    result = automl(
        table,
        budget=300,
        metric="r2",
        validation="holdout:0.2",
        n_jobs=2,
        max_trials=10,
        tracking=False,
        ensemble=True,
    )
    assert result.metric == "r2" and result.best.metrics["r2"] > 0.7
    # 1,600 training rows: trials beyond the warm start begin on a third of them.
    sampled = [t for t in result.trials if not t.warm_start and t.steps >= 1]
    assert sampled and min(t.train_rows for t in sampled) == 533
    assert result.ensemble is not None
    if result.ensemble["adopted"]:
        assert result.best.recipe["family"] == "ensemble"
        assert len(result.best.recipe["pipeline"]["members"]) == len(result.ensemble["members"])
    X = table.X.head(50)
    again = pipeline_from_recipe(result.best.recipe).fit(table.X, table.y)
    np.testing.assert_allclose(again.predict(X), result.best.pipeline.predict(X))


def test_engineered_features_are_rebuilt_from_the_recipe(bike_sample: pd.DataFrame) -> None:
    frame = bike_sample.head(600).copy()
    frame["station"] = [f"s{i % 23}" for i in range(len(frame))]
    table = mc.load_table(frame, target="cnt")
    config = {
        "family": "ridge",
        "params": {"alpha": 1.0},
        "preprocessing": {
            "categorical": "onehot",
            "target_encoded": ["station"],
            "datetime": "trend",
        },
    }
    pipeline = build_pipeline(table.schema, config).fit(table.X, table.y)
    names = list(pipeline[:-1].get_feature_names_out())
    assert "station" in names and "dteday_days" in names and "dteday_day" in names
    recipe = {
        "source": "automl",
        "schema": table.schema.to_dict(),
        "features": table.schema.features,
        "random_state": 0,
        "pipeline": {
            "members": [config, {**config, "family": "knn", "params": {}}],
            "weights": [0.5, 0.5],
        },
    }
    ensemble = pipeline_from_recipe(recipe).fit(table.X, table.y)
    first = ensemble.steps[0][1].estimators_[0]
    np.testing.assert_allclose(first.predict(table.X), pipeline.predict(table.X))


@pytest.mark.parametrize(
    ("arguments", "parameter"),
    [
        ({"budget": 0}, "budget"),
        ({"budget": -5}, "budget"),
        ({"budget": float("nan")}, "budget"),
        ({"budget": "60"}, "budget"),
        ({"metric": "rmse"}, "metric"),
        ({"metric": "no_such_metric"}, "metric"),
        ({"families": ["no_such_family"]}, "families"),
        ({"families": ["ridge"]}, "families"),
        ({"max_trials": 0}, "max_trials"),
        ({"n_jobs": 0}, "n_jobs"),
    ],
)
def test_bad_input_is_a_clear_error(
    adult_table: mc.Table, arguments: dict[str, object], parameter: str
) -> None:
    with pytest.raises(ParameterError, match=f"'{parameter}' parameter of automl") as caught:
        automl(adult_table, tracking=False, **arguments)  # type: ignore[arg-type]
    assert caught.value.parameter == parameter


def test_a_table_without_target_is_refused(adult_sample: pd.DataFrame) -> None:
    with pytest.raises(ParameterError, match="'target' parameter of automl"):
        automl(adult_sample.head(100), tracking=False)


def test_multiclass_with_a_high_cardinality_column() -> None:
    from sklearn.datasets import make_classification

    X, y = make_classification(600, n_features=6, n_informative=4, n_classes=3, random_state=0)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)])
    # A categorical column with many levels, one of which is informative.
    frame["shop"] = [f"s{(i * 7) % 30}" if label else "s99" for i, label in enumerate(y == 2)]
    frame["label"] = np.array(["red", "green", "blue"])[y]
    table = mc.load_table(frame, target="label")
    result = automl(
        table, budget=300, n_jobs=2, max_trials=12, tracking=False, validation="holdout:0.25"
    )
    assert result.metric == "accuracy" and result.best.metrics["accuracy"] > 0.6
    tried = {t.config.get("preprocessing", {}).get("categorical") for t in result.trials}
    assert "native" in tried  # LightGBM's warm start splits on the categories natively
    again = pipeline_from_recipe(result.best.recipe).fit(table.X, table.y)
    X_new = table.X.head(40)
    np.testing.assert_array_equal(again.predict(X_new), result.best.pipeline.predict(X_new))
    assert set(result.best.pipeline.predict(X_new)) <= {"red", "green", "blue"}
