"""Assessing candidates: figures from out-of-fold predictions, importance and partial dependence
over raw columns, and the light per-run artifacts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import modelcycle as mc
from modelcycle.learn import Candidate, Inspection, Learner, get_spec
from modelcycle.learn._assess import dependence_tables, feature_groups, native_importance
from modelcycle.learn._plots import (
    CURVE_POINTS,
    assessment_figures,
    candidate_figures,
    light_page,
)

CLASSIFICATION_FIGURES = {
    "confusion_matrix",
    "roc_curve",
    "precision_recall",
    "calibration",
    "feature_importance",
    "partial_dependence",
}
REGRESSION_FIGURES = {
    "predicted_vs_actual",
    "residuals",
    "residual_distribution",
    "feature_importance",
    "partial_dependence",
}


def _compare(table: mc.Table, families: list[str]) -> dict[str, Candidate]:
    # In this process (n_jobs=1, no time limit): no worker start-up, and fast on small tables.
    learner = Learner(table, validation="kfold:3", n_jobs=1, time_limit=None, tracking=False)
    return {c.name: c for c in learner.compare(families)}


@pytest.fixture(scope="module")
def binary(adult_sample: pd.DataFrame) -> dict[str, Candidate]:
    table = mc.load_table(adult_sample.head(800), target="income")
    return _compare(table, ["naive_bayes", "logistic_regression", "lightgbm"])


@pytest.fixture(scope="module")
def multiclass(wine: pd.DataFrame) -> dict[str, Candidate]:
    common = wine[wine["quality"].isin([5, 6, 7])].head(600)  # rare classes break 3 folds
    table = mc.load_table(common, target="quality")
    return _compare(table, ["lda", "decision_tree"])


@pytest.fixture(scope="module")
def regression(bike_sample: pd.DataFrame) -> dict[str, Candidate]:
    table = mc.load_table(bike_sample.head(600), target="cnt")
    return _compare(table, ["ridge", "lightgbm"])


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("binary", CLASSIFICATION_FIGURES),
        ("multiclass", CLASSIFICATION_FIGURES),
        ("regression", REGRESSION_FIGURES),
    ],
)
def test_every_figure_renders_to_a_file(
    request: pytest.FixtureRequest, fixture: str, expected: set[str], tmp_path: Path
) -> None:
    for candidate in request.getfixturevalue(fixture).values():
        figures = candidate_figures(candidate)
        assert set(figures) == expected, candidate.name
        for name, figure in figures.items():
            path = tmp_path / f"{candidate.name}-{name}.html"
            figure.write_html(path, include_plotlyjs=False)
            assert path.stat().st_size > 1000
            assert figure.data, f"{candidate.name}: {name} has no trace"


def test_multiclass_curves_are_one_vs_rest(multiclass: dict[str, Candidate]) -> None:
    candidate = multiclass["lda"]
    figures = candidate_figures(candidate)
    assert candidate.oof is not None
    present = {str(c) for c in candidate.oof["actual"].unique()}
    names = {trace.name for trace in figures["roc_curve"].data} - {"chance"}
    assert names == present
    assert "one class vs the rest" in figures["roc_curve"].layout.title.text
    assert len(figures["calibration"].data) == len(present) + 1


def test_curves_are_thinned() -> None:
    rng = np.random.default_rng(0)
    actual = rng.integers(0, 2, 20_000)
    proba = np.clip(actual * 0.3 + rng.random(20_000) * 0.7, 0, 1)
    oof = pd.DataFrame(
        {"actual": actual, "prediction": (proba > 0.5).astype(int), "proba_0": 1 - proba}
    )
    oof["proba_1"] = proba
    figures = assessment_figures(mc.Task.BINARY, oof, (0, 1))
    for name in ("roc_curve", "precision_recall"):
        assert len(figures[name].data[0].x) <= CURVE_POINTS
    # Whatever the rows, a figure's JSON is its plotly template (~7 KB) and a few hundred points.
    assert all(len(f.to_json()) < 30_000 for f in figures.values())


def test_importance_is_native_where_the_model_has_it(binary: dict[str, Candidate]) -> None:
    methods = {name: c.inspection.method for name, c in binary.items() if c.inspection}
    assert methods == {
        "lightgbm": "gain",
        "logistic_regression": "|coefficient|",
        "naive_bayes": "permutation",
    }
    features = set(binary["lightgbm"].table.schema.features)
    for candidate in binary.values():
        inspection = candidate.inspection
        assert isinstance(inspection, Inspection)
        assert set(inspection.importance["feature"]) == features
        assert len(inspection.partial_dependence) == 3
    shares = binary["logistic_regression"].inspection.importance["importance"]  # type: ignore[union-attr]
    assert shares.sum() == pytest.approx(1.0)


def test_partial_dependence_handles_categorical_columns(binary: dict[str, Candidate]) -> None:
    candidate = binary["lightgbm"].refit()
    table = candidate.table
    categorical = table.schema.categorical[:3]
    tables = dependence_tables(
        candidate.pipeline,
        table.X,
        categorical,
        table.task,
        table.schema.classes,
        categorical=categorical,
    )
    assert list(tables) == categorical
    for feature, frame in tables.items():
        assert set(frame["value"]) <= set(table.frame[feature].dropna().astype(str))
        assert list(frame.columns) == ["value", "P(>50K)"]
        assert frame["P(>50K)"].between(0, 1).all()


def test_feature_groups_map_encoded_columns_to_raw_ones(adult_sample: pd.DataFrame) -> None:
    table = mc.load_table(adult_sample.head(500), target="income")
    pipeline = get_spec("logistic_regression", table.task).build(table.schema)
    pipeline.fit(table.X, table.y)
    groups = feature_groups(pipeline, table.schema.features)
    assert groups is not None
    names = pipeline[:-1].get_feature_names_out()
    assert sorted(int(i) for g in groups for i in g) == list(range(len(names)))
    for feature, group in zip(table.schema.features, groups, strict=True):
        assert all(str(names[i]).startswith(feature) for i in group)
    native = native_importance(pipeline, table.X)
    assert native is not None and native[1] == "|coefficient|"


def test_light_page_is_small_and_offline(binary: dict[str, Candidate], tmp_path: Path) -> None:
    page = light_page("x", candidate_figures(binary["lightgbm"]))
    assert len(page) < 2_500_000
    assert "http://" not in page.split("id='mc-plotly'")[0]
    assert "DecompressionStream" in page


def test_runs_log_light_artifacts(home: Path, adult_sample: pd.DataFrame) -> None:
    table = mc.load_table(adult_sample.head(500), target="income")
    Learner(table, validation="kfold:3", n_jobs=1, time_limit=None).compare(["naive_bayes"])
    pages = list((home / "artifacts").rglob("assessment.html"))
    assert len(pages) == 1
    assert pages[0].stat().st_size < 2_500_000
    figures = (pages[0].parent / "assessment.json").read_text()
    assert '"feature_importance"' in figures and '"roc_curve"' in figures
