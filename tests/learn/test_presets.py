"""Model presets: a conformance suite over every family of every task, and preset selection."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from skops.io import dumps, get_untrusted_types, loads

import modelcycle.learn
from modelcycle.data import Table, Task, load_table
from modelcycle.exceptions import ParameterError
from modelcycle.learn import PRESETS, ModelSpec, get_spec, model_specs

TASKS = [Task.BINARY, Task.MULTICLASS, Task.REGRESSION]
CASES = [(task, spec.name) for task in TASKS for spec in model_specs(task, "all")]
# What skops asks a reviewer to trust for our pipelines: our preprocessing helpers, LightGBM,
# scikit-learn internals it does not list as safe (tree structures, calibrators, kernels) and a
# few standard types. Anything else appearing here is a new dependency to review.
TRUSTED_PREFIXES = (
    "modelcycle.features.",
    "lightgbm.",
    "sklearn.",
    "collections.OrderedDict",
    "functools.partial",
    "numpy.dtype",
)


def _split(table: Table, n_train: int) -> tuple[Table, Table]:
    return table.take(range(n_train)), table.take(range(n_train, len(table)))


@pytest.fixture(scope="module")
def tables(
    adult_sample: pd.DataFrame, wine: pd.DataFrame, bike_sample: pd.DataFrame
) -> dict[Task, tuple[Table, Table]]:
    """Small real train/test tables per task: a few hundred rows keeps the suite fast."""
    # Every quality level, the rare ones (3: 10 wines, 8: 18) in full, shuffled.
    wines = wine.groupby("quality").head(40).sample(frac=1.0, random_state=0)
    return {
        Task.BINARY: _split(load_table(adult_sample.head(300), target="income"), 240),
        Task.MULTICLASS: _split(load_table(wines, target="quality"), 160),
        Task.REGRESSION: _split(
            load_table(
                bike_sample.sample(300, random_state=0),
                target="cnt",
                kinds={"weathersit": "categorical"},
            ),
            240,
        ),
    }


def _fit(task: Task, name: str, train: Table, random_state: int = 0) -> Pipeline:
    return get_spec(name, task).build(train.schema, random_state=random_state).fit(train.X, train.y)


def _outputs(pipeline: Pipeline, X: pd.DataFrame) -> list[np.ndarray]:
    out = [np.asarray(pipeline.predict(X))]
    if hasattr(pipeline, "predict_proba"):
        out.append(pipeline.predict_proba(X))
    return out


def _assert_same_outputs(a: Pipeline, b: Pipeline, X: pd.DataFrame) -> None:
    for left, right in zip(_outputs(a, X), _outputs(b, X), strict=True):
        np.testing.assert_array_equal(left, right)


@pytest.mark.parametrize(("task", "name"), CASES, ids=[f"{t}-{n}" for t, n in CASES])
class TestConformance:
    """What every preset model promises, checked on real data."""

    def test_fit_and_predict(
        self, tables: dict[Task, tuple[Table, Table]], task: Task, name: str
    ) -> None:
        train, test = tables[task]
        pipeline = _fit(task, name, train)
        assert [step for step, _ in pipeline.steps] == ["prep", "model"]
        prediction = pipeline.predict(test.X)
        assert prediction.shape == (len(test),)
        if task is Task.REGRESSION:
            assert np.isfinite(prediction.astype(float)).all()
            return
        assert set(prediction) <= set(train.schema.classes)
        proba = pipeline.predict_proba(test.X)
        assert proba.shape == (len(test), len(set(train.y)))
        assert ((proba >= 0) & (proba <= 1)).all()
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)

    def test_clone_refits_to_the_same_model(
        self, tables: dict[Task, tuple[Table, Table]], task: Task, name: str
    ) -> None:
        train, test = tables[task]
        pipeline = _fit(task, name, train)
        copy = clone(pipeline)
        assert copy.get_params(deep=False).keys() == pipeline.get_params(deep=False).keys()
        _assert_same_outputs(copy.fit(train.X, train.y), pipeline, test.X)

    def test_the_same_seed_gives_the_same_model(
        self, tables: dict[Task, tuple[Table, Table]], task: Task, name: str
    ) -> None:
        train, test = tables[task]
        _assert_same_outputs(_fit(task, name, train, 7), _fit(task, name, train, 7), test.X)

    def test_skops_round_trip(
        self, tables: dict[Task, tuple[Table, Table]], task: Task, name: str
    ) -> None:
        train, test = tables[task]
        pipeline = _fit(task, name, train)
        blob = dumps(pipeline)
        untrusted = get_untrusted_types(data=blob)
        assert all(t.startswith(TRUSTED_PREFIXES) for t in untrusted), untrusted
        _assert_same_outputs(loads(blob, trusted=untrusted), pipeline, test.X)

    def test_bad_input(
        self, tables: dict[Task, tuple[Table, Table]], task: Task, name: str
    ) -> None:
        train, test = tables[task]
        pipeline = _fit(task, name, train)
        if train.schema.categorical:
            unseen = test.X.copy()
            unseen[train.schema.categorical] = "never seen in training"
            assert pipeline.predict(unseen).shape == (len(test),)
        missing = train.schema.features[-1]
        with pytest.raises(ValueError, match=missing):
            pipeline.predict(test.X.drop(columns=[missing]))


class TestSelection:
    def test_the_quick_preset(self) -> None:
        assert [s.name for s in model_specs("binary")] == [
            "naive_bayes",
            "lda",
            "logistic_regression",
            "decision_tree",
            "lightgbm",
        ]
        assert [s.name for s in model_specs("regression", "quick")] == [
            "linear",
            "ridge",
            "decision_tree",
            "lightgbm",
        ]

    @pytest.mark.parametrize("task", TASKS, ids=str)
    def test_every_group_selects_families_of_the_task(self, task: Task) -> None:
        every = model_specs(task, "all")
        for preset in PRESETS:
            specs = model_specs(task, preset)
            assert specs, preset
            assert all(task in s.tasks for s in specs)
            assert {s.name for s in specs} <= {s.name for s in every}

    def test_names_and_groups_mix_without_duplicates(self) -> None:
        names = [s.name for s in model_specs("multiclass", ["knn", "trees", "lightgbm"])]
        assert names == [
            "decision_tree",
            "lightgbm",
            "hist_gradient_boosting",
            "knn",
            "random_forest",
            "extra_trees",
        ]

    def test_presets_skip_families_over_their_row_limit(self) -> None:
        names = [s.name for s in model_specs("regression", "all", n_rows=20_000)]
        assert "svr" not in names
        assert "gaussian_process" not in names
        assert "lightgbm" in names
        assert "gaussian_process" in [s.name for s in model_specs("regression", "all", 2_000)]

    def test_naming_a_family_over_its_row_limit_says_why_and_what_to_do(self) -> None:
        with pytest.raises(ParameterError, match=r"limited to 10,000 rows.*sample at most"):
            model_specs("binary", ["lightgbm", "kernel_svm"], n_rows=32_561)

    def test_unknown_names_list_the_choices(self) -> None:
        with pytest.raises(ParameterError, match=r"'quick'.*'lightgbm'.*Got 'xgboost'"):
            model_specs("binary", "xgboost")
        with pytest.raises(ParameterError, match="'lasso' is a regression model"):
            model_specs("binary", ["lasso"])
        with pytest.raises(ParameterError, match="'qda' is a classification model"):
            get_spec("qda", "regression")
        with pytest.raises(ParameterError, match="non-empty"):
            model_specs("binary", [])

    def test_clustering_has_no_presets(self) -> None:
        with pytest.raises(ParameterError, match="supervised"):
            model_specs("clustering")


class TestSpecs:
    @pytest.mark.parametrize(("task", "name"), CASES, ids=[f"{t}-{n}" for t, n in CASES])
    def test_defaults_are_json_and_single_threaded(self, task: Task, name: str) -> None:
        spec = get_spec(name, task)
        assert isinstance(spec, ModelSpec)
        assert spec.label
        # Recipes store params as JSON; building from the round-tripped dict must work.
        params = json.loads(json.dumps(dict(spec.params)))
        schema = load_table(pd.DataFrame({"x": [1.0, 2.0], "y": [0, 1]}), target="y").schema
        model = spec.build(schema, params=params)["model"]
        threads = {k: v for k, v in model.get_params().items() if k.endswith("n_jobs")}
        assert all(v in (None, 1) for v in threads.values()), threads
        assert json.loads(json.dumps(spec.preprocessing)) == spec.preprocessing

    def test_params_override_the_defaults(self, adult_sample: pd.DataFrame) -> None:
        schema = load_table(adult_sample.head(50), target="income").schema
        model = get_spec("random_forest", "binary").build(schema, {"n_estimators": 5})["model"]
        assert model.n_estimators == 5
        assert (
            model.min_samples_leaf == get_spec("random_forest", "binary").params["min_samples_leaf"]
        )

    def test_unknown_params_name_the_valid_ones(self, adult_sample: pd.DataFrame) -> None:
        schema = load_table(adult_sample.head(50), target="income").schema
        with pytest.raises(ParameterError, match=r"n_estimators.*Got \['n_trees'\]"):
            get_spec("random_forest", "binary").build(schema, {"n_trees": 5})

    def test_seeds_reach_wrapped_estimators(self, adult_sample: pd.DataFrame) -> None:
        schema = load_table(adult_sample.head(50), target="income").schema
        model = get_spec("linear_svm", "binary").build(schema, random_state=11)["model"]
        assert model.get_params()["estimator__random_state"] == 11

    def test_boosters_are_told_which_features_are_categorical(
        self, adult_sample: pd.DataFrame
    ) -> None:
        table = load_table(adult_sample.head(50), target="income")
        codes = list(range(len(table.schema.categorical)))
        hgb = get_spec("hist_gradient_boosting", "binary").build(table.schema)["model"]
        assert hgb.categorical_features == codes
        lgbm = get_spec("lightgbm", "binary").build(table.schema)["model"]
        assert lgbm.get_params()["cat_feature"] == codes


def test_every_public_name_exists() -> None:
    for name in modelcycle.learn.__all__:
        assert hasattr(modelcycle.learn, name), name
