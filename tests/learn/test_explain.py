"""Explanations: Shapley values that add up, recover a planted dependence, and work for every kind
of model a user holds (a Candidate, a pipeline, a registered model), from Python and the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import modelcycle as mc
from modelcycle.exceptions import ColumnNotFoundError, ParameterError
from modelcycle.learn import Explanation, Learner, explain, get_spec

CliRunner = Callable[..., CompletedProcess[str]]


@pytest.fixture(scope="module")
def adult(adult_sample: pd.DataFrame) -> mc.Table:
    return mc.load_table(adult_sample.head(800), target="income")


@pytest.fixture(scope="module")
def planted() -> pd.DataFrame:
    """y depends on ``signal`` (strongly) and ``weak`` (a little), never on ``noise``."""
    rng = np.random.default_rng(0)
    n = 600
    frame = pd.DataFrame(
        {
            "signal": rng.normal(size=n),
            "weak": rng.normal(size=n),
            "noise": rng.normal(size=n),
            "colour": rng.choice(["red", "green", "blue"], size=n),
        }
    )
    frame["y"] = 3 * frame["signal"] + 0.5 * frame["weak"] + rng.normal(scale=0.1, size=n)
    return frame


def _fit(family: str, table: mc.Table) -> object:
    return get_spec(family, table.task).build(table.schema).fit(table.X, table.y)


def _additive(explanation: Explanation) -> None:
    assert explanation.local is not None and explanation.base_value is not None
    total = explanation.base_value + explanation.local["contribution"].sum()
    assert total == pytest.approx(explanation.prediction, abs=1e-6)


def test_lightgbm_values_are_exact_and_add_up_to_the_log_odds(adult: mc.Table) -> None:
    pipeline = _fit("lightgbm", adult)
    explanation = explain(pipeline, adult, row=7, top=1)
    assert "pred_contrib" in explanation.method
    assert explanation.output == "log-odds of >50K"
    _additive(explanation)
    proba = pipeline.predict_proba(adult.X.iloc[[7]])[0, 1]  # type: ignore[attr-defined]
    assert explanation.prediction == pytest.approx(np.log(proba / (1 - proba)), abs=1e-6)
    assert set(explanation.local["feature"]) == set(adult.schema.features)  # type: ignore[index]


def test_sampled_values_add_up_to_the_probability(adult: mc.Table) -> None:
    pipeline = _fit("logistic_regression", adult)
    row = adult.X.iloc[[3]]
    explanation = explain(pipeline, adult, row=row, n_permutations=32, top=1)
    assert "Štrumbelj" in explanation.method and explanation.row is None
    assert explanation.output == "probability of >50K"
    _additive(explanation)
    proba = pipeline.predict_proba(row)[0, 1]  # type: ignore[attr-defined]
    assert explanation.prediction == pytest.approx(proba, abs=1e-9)


def test_linear_values_match_the_closed_form(planted: pd.DataFrame) -> None:
    # For a linear model the Shapley value of feature i against a background B is
    # b_i * (x_i - mean_B x_i) (Lundberg & Lee 2017). With the whole table as background and
    # as many antithetic pairs as rows, each background row serves once: exact to rounding.
    X = planted[["signal", "weak", "noise"]]
    model = make_pipeline(StandardScaler(), LinearRegression()).fit(X, planted["y"])
    explanation = explain(model, X, row=0, n_background=len(X), n_permutations=2 * len(X))
    _additive(explanation)
    assert explanation.local is not None
    got = explanation.local.set_index("feature")["contribution"]
    slope = model[-1].coef_ / model[0].scale_
    expected = pd.Series(slope * (X.iloc[0] - X.mean()).to_numpy(), index=X.columns)
    np.testing.assert_allclose(got[X.columns], expected, atol=1e-9)
    assert explanation.base_value == pytest.approx(model.predict(X).mean())


@pytest.mark.parametrize("family", ["lightgbm", "ridge"])
def test_a_feature_without_effect_gets_nothing(planted: pd.DataFrame, family: str) -> None:
    table = mc.load_table(planted, target="y")
    explanation = explain(_fit(family, table), table, top=1)
    shap = explanation.global_importance.set_index("feature")["mean_abs_shap"]
    perm = explanation.global_importance.set_index("feature")["permutation_importance"]
    assert shap.idxmax() == "signal" and perm.idxmax() == "signal"
    assert shap["weak"] > shap["noise"]
    assert shap["noise"] < 0.05 * shap["signal"]
    assert shap["colour"] < 0.05 * shap["signal"]
    assert abs(perm["noise"]) < 0.05 * perm["signal"]


def test_multiclass_explains_the_predicted_class(wine: pd.DataFrame) -> None:
    table = mc.load_table(wine.head(500), target="quality")
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(table.X, table.y)
    explanation = explain(pipeline, table, row=0, n_permutations=16, top=1)
    predicted = pipeline.predict(table.X.iloc[[0]])[0]
    assert explanation.output == f"probability of {predicted}"
    _additive(explanation)


def test_explains_a_candidate_and_renders(adult: mc.Table, tmp_path: Path) -> None:
    learner = Learner(adult, validation="holdout:0.3", n_jobs=1, time_limit=None, tracking=False)
    learner.compare(["naive_bayes"])
    explanation = explain(learner.best_, adult.take(range(300)), row=0, n_permutations=16)
    _additive(explanation)
    figures = explanation.figures()
    assert set(figures) == {
        "permutation_importance",
        "shapley_summary",
        "partial_dependence",
        "waterfall",
    }
    for name, figure in figures.items():
        figure.write_html(tmp_path / f"{name}.html", include_plotlyjs=False)
    page = explanation.to_html(tmp_path / "why.html").read_text()
    assert "Why this prediction" in page and "Plotly.newPlot" in page
    record = json.loads(json.dumps(explanation.to_dict()))
    assert record["local"][0]["feature"] == explanation.local["feature"].iloc[0]  # type: ignore[index]


def test_bad_rows_and_tables(adult: mc.Table) -> None:
    pipeline = _fit("naive_bayes", adult)
    with pytest.raises(ParameterError, match="'row' parameter"):
        explain(pipeline, adult, row=len(adult))
    with pytest.raises(ParameterError, match="'row' parameter"):
        explain(pipeline, adult, row=adult.X.head(2))
    with pytest.raises(ColumnNotFoundError, match="age"):
        explain(pipeline, adult.frame.drop(columns="age"))
    with pytest.raises(ParameterError, match="'model' parameter"):
        explain("not a model", adult)
    with pytest.raises(ParameterError, match="'n_background' parameter"):
        explain(pipeline, adult, n_background=0)


def test_explains_a_registered_model(home: Path, adult: mc.Table) -> None:
    learner = Learner(adult, validation="holdout:0.3", n_jobs=1, time_limit=None, tracking=False)
    learner.compare(["lightgbm"])
    mc.register(learner.best_, "income")
    loaded = mc.Registry().load("income")
    explanation = explain(loaded, adult.frame.head(300), row=1, top=1)
    assert explanation.model == "income v1"
    assert explanation.global_importance["permutation_importance"].notna().all()
    _additive(explanation)
    # Without the target column there is nothing to score: Shapley values only.
    unlabelled = explain(loaded, adult.frame.drop(columns="income").head(100), top=1)
    assert unlabelled.global_importance["permutation_importance"].isna().all()
    assert unlabelled.global_importance["mean_abs_shap"].notna().all()


def test_cli_learn_with_a_report_then_explain(
    home: Path,
    adult_sample: pd.DataFrame,
    tmp_path: Path,
    cli: CliRunner,
) -> None:
    data, report, why = tmp_path / "adult.csv", tmp_path / "report.html", tmp_path / "why.html"
    adult_sample.head(500).to_csv(data, index=False)
    out = cli(
        "learn",
        str(data),
        "--target",
        "income",
        "--preset",
        "naive_bayes,decision_tree",
        "--register",
        "income",
        "--alias",
        "production",
        "--html",
        str(report),
        "--json",
        home=home,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["report"] == str(report)
    assert "<h2>Leaderboard</h2>" in report.read_text()

    out = cli(
        "explain",
        "income@production",
        str(data),
        "--row",
        "2",
        "--json",
        "--html",
        str(why),
        home=home,
    )
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)
    assert record["model"] == "income v1" and record["row"] == 2
    contributions = sum(r["contribution"] for r in record["local"])
    assert record["base_value"] + contributions == pytest.approx(record["prediction"])
    assert why.stat().st_size > 1_000_000 and record["report"] == str(why)

    out = cli("explain", "no-such-model:1", str(data), home=home)
    assert out.returncode == 1
    assert len(out.stderr.strip().splitlines()) == 1 and "no-such-model" in out.stderr
