"""Feature ranking and selection: planted features are found, library references are matched,
ReliefF sees interactions, odd columns do not crash, and the Learner records a selection."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.feature_selection import f_classif, f_regression, mutual_info_classif
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from modelcycle.data import Table, load_table
from modelcycle.exceptions import ParameterError, TargetError
from modelcycle.features import (
    RANKING_METHODS,
    Ranking,
    build_preprocessor,
    methods_for,
    permutation_ranking,
    rank_features,
    select_features,
)
from modelcycle.learn import Learner

INFORMATIVE = ["signal", "group"]
NOISE = ["noise_a", "noise_b", "noise_cat"]


def planted(task: str, n: int = 600, seed: int = 0) -> Table:
    """A numeric and a categorical feature that drive the target, and three that do not."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    group = rng.choice(["a", "b", "c", "d"], size=n)
    effect = pd.Series(group).map({"a": -1.5, "b": -0.5, "c": 0.5, "d": 1.5}).to_numpy()
    latent = 1.5 * signal + effect + rng.normal(scale=0.5, size=n)
    if task == "binary":
        y: np.ndarray = np.where(latent > 0, "yes", "no")
    elif task == "multiclass":
        y = np.digitize(latent, np.quantile(latent, [1 / 3, 2 / 3])).astype(str)
    else:
        y = latent * 10 + 100
    frame = pd.DataFrame(
        {
            "noise_a": rng.normal(size=n),
            "signal": signal,
            "noise_cat": rng.choice(["x", "y", "z"], size=n),
            "group": group,
            "noise_b": rng.uniform(size=n),
            "y": y,
        }
    )
    return load_table(frame, target="y", task=task)


CASES = [(task, method) for task in ("binary", "multiclass", "regression")
         for method in methods_for(task)]  # fmt: skip


@pytest.mark.parametrize(("task", "method"), CASES, ids=[f"{t}-{m}" for t, m in CASES])
def test_planted_features_rank_above_noise(task: str, method: str) -> None:
    ranking = rank_features(planted(task), method)
    assert isinstance(ranking, Ranking)
    assert sorted(ranking.top(2)) == sorted(INFORMATIVE), ranking.frame
    assert list(ranking.frame["rank"]) == [1, 2, 3, 4, 5]
    assert set(ranking.frame["method"]) == {method}
    assert ranking.frame["feature"].is_unique


def test_every_method_is_listed_for_some_task() -> None:
    listed = {m for task in ("binary", "multiclass", "regression") for m in methods_for(task)}
    assert listed == set(RANKING_METHODS)


# -- agreement with the libraries where they overlap ------------------------------------------


@pytest.fixture(scope="module")
def numeric_classes() -> Table:
    rng = np.random.default_rng(1)
    n = 400
    y = rng.integers(0, 3, size=n)
    frame = pd.DataFrame({f"x{i}": rng.normal(size=n) + y * 0.2 * i for i in range(5)})
    frame["y"] = y
    return load_table(frame, target="y", task="multiclass")


def _by_feature(ranking: Ranking, column: str) -> pd.Series:
    return ranking.frame.set_index("feature")[column]


def test_mutual_info_matches_scikit_learn(numeric_classes: Table) -> None:
    ranking = rank_features(numeric_classes, "mutual_info", random_state=3)
    X, y = numeric_classes.X, numeric_classes.y
    expected = mutual_info_classif(X, y, random_state=3)
    got = _by_feature(ranking, "score")[list(X.columns)].to_numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_anova_matches_scikit_learn_and_scipy(numeric_classes: Table) -> None:
    ranking = rank_features(numeric_classes, "anova")
    X, y = numeric_classes.X, numeric_classes.y
    F, p = f_classif(X, y)
    np.testing.assert_allclose(_by_feature(ranking, "statistic")[list(X.columns)], F)
    np.testing.assert_allclose(_by_feature(ranking, "p_value")[list(X.columns)], p, rtol=1e-6)
    oneway = stats.f_oneway(*[X["x3"][y == c] for c in range(3)])
    assert _by_feature(ranking, "statistic")["x3"] == pytest.approx(oneway.statistic)
    # Same degrees of freedom for every feature: the order is the order of F.
    assert ranking.features == list(X.columns[np.argsort(-F, kind="stable")])


def test_kruskal_matches_scipy(numeric_classes: Table) -> None:
    ranking = rank_features(numeric_classes, "kruskal")
    X, y = numeric_classes.X, numeric_classes.y
    for name in X.columns:
        expected = stats.kruskal(*[X[name][y == c] for c in range(3)])
        assert _by_feature(ranking, "statistic")[name] == pytest.approx(expected.statistic)
        assert _by_feature(ranking, "p_value")[name] == pytest.approx(expected.pvalue)
    H = _by_feature(ranking, "statistic")
    assert ranking.features == list(H.sort_values(ascending=False).index)


def test_chi2_is_the_contingency_test_of_scipy() -> None:
    table = planted("multiclass")
    ranking = rank_features(table, "chi2")
    for name in ("group", "noise_cat"):
        crosstab = pd.crosstab(table.frame[name], table.y)
        expected = stats.chi2_contingency(crosstab, correction=False)
        assert _by_feature(ranking, "statistic")[name] == pytest.approx(expected.statistic)
        assert _by_feature(ranking, "p_value")[name] == pytest.approx(expected.pvalue)
        assert _by_feature(ranking, "score")[name] == pytest.approx(-np.log10(expected.pvalue))


def test_f_test_matches_scikit_learn() -> None:
    table = planted("regression")
    ranking = rank_features(table, "f_test")
    numeric = ["noise_a", "signal", "noise_b"]
    F, p = f_regression(table.X[numeric], table.y)
    np.testing.assert_allclose(_by_feature(ranking, "statistic")[numeric], F)
    np.testing.assert_allclose(_by_feature(ranking, "p_value")[numeric], p, rtol=1e-6)
    # Categorical columns: a one-way ANOVA of the target across their categories.
    groups = [table.y[table.frame["group"] == g] for g in "abcd"]
    assert _by_feature(ranking, "statistic")["group"] == pytest.approx(
        stats.f_oneway(*groups).statistic
    )


def test_scores_stay_ordered_when_p_values_underflow() -> None:
    # On large tables strong features have p-values below 1e-308; -log10 p must still
    # separate them rather than tie them at infinity.
    rng = np.random.default_rng(2)
    n = 20_000
    y = rng.integers(0, 2, size=n)
    frame = pd.DataFrame({"strong": y * 3.0 + rng.normal(size=n), "stronger": y * 5.0})
    frame["stronger"] += rng.normal(size=n)
    frame["y"] = y
    table = load_table(frame, target="y")
    for method in ("anova", "kruskal", "chi2"):
        ranking = rank_features(table, method)
        scores = _by_feature(ranking, "score")
        assert np.isfinite(scores).all(), method
        assert scores["stronger"] > scores["strong"] > 308, method


# -- what only multivariate methods see -------------------------------------------------------


@pytest.fixture(scope="module")
def xor() -> Table:
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame({name: rng.uniform(size=n) for name in ("a", "x1", "b", "x2", "c")})
    frame["y"] = np.where((frame["x1"] > 0.5) ^ (frame["x2"] > 0.5), "odd", "even")
    return load_table(frame, target="y")


def test_relieff_finds_an_xor_that_univariate_tests_miss(xor: Table) -> None:
    assert sorted(rank_features(xor, "relieff").top(2)) == ["x1", "x2"]
    anova = rank_features(xor, "anova")
    # Alone, neither input says anything about the parity of the two.
    assert (_by_feature(anova, "p_value")[["x1", "x2"]] > 0.01).all()


def test_rrelieff_finds_an_interaction_in_regression() -> None:
    rng = np.random.default_rng(0)
    n = 500
    frame = pd.DataFrame({name: rng.uniform(-1, 1, size=n) for name in ("a", "x1", "x2", "b")})
    frame["y"] = frame["x1"] * frame["x2"]
    table = load_table(frame, target="y")
    assert sorted(rank_features(table, "rrelieff").top(2)) == ["x1", "x2"]


def test_mrmr_prefers_new_information_over_a_redundant_copy() -> None:
    rng = np.random.default_rng(0)
    n = 2000
    strong, other = rng.normal(size=n), rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "strong": strong,
            "copy": strong + rng.normal(scale=0.05, size=n),
            "other": other,
            "noise": rng.normal(size=n),
        }
    )
    frame["y"] = np.where(strong + 0.6 * other + rng.normal(scale=0.3, size=n) > 0, 1, 0)
    table = load_table(frame, target="y")
    # Relevance alone puts the copy second; MRMR sees that it repeats the first pick.
    assert rank_features(table, "mutual_info").features[1] in ("strong", "copy")
    for criterion in ("miq", "mid"):
        ranking = rank_features(table, "mrmr", criterion=criterion)
        assert ranking.features[0] in ("strong", "copy")
        assert ranking.features[1] == "other", (criterion, ranking.frame)
        assert ranking.frame["redundancy"].iloc[0] == 0.0


# -- awkward columns and bad arguments --------------------------------------------------------


@pytest.fixture(scope="module")
def awkward() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 300
    signal = rng.normal(size=n)
    return pd.DataFrame(
        {
            "signal": signal,
            "constant": 7.0,
            "empty": np.nan,
            "constant_cat": "same",
            "when": pd.date_range("2024-01-01", periods=n, freq="h"),
            "comment": [f"free text number {i} with several words" for i in range(n)],
            "class": np.where(signal > 0, "hi", "lo"),
            "amount": signal * 5 + rng.normal(size=n),
        }
    )


ODD_CASES = [(task, method) for task, method in CASES if task != "multiclass"]


@pytest.mark.parametrize(("task", "method"), ODD_CASES, ids=[f"{t}-{m}" for t, m in ODD_CASES])
def test_constant_and_empty_columns_score_zero(
    awkward: pd.DataFrame, task: str, method: str
) -> None:
    target, other = ("amount", "class") if task == "regression" else ("class", "amount")
    table = load_table(awkward.drop(columns=other), target=target)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division-by-zero or constant-feature warnings
        ranking = rank_features(table, method)
    scores = _by_feature(ranking, "score")
    assert (scores[["constant", "empty", "constant_cat"]] == 0).all(), ranking.frame
    assert ranking.features[0] == "signal"
    assert "comment" not in ranking.features and "when" in ranking.features
    assert any("comment" in note for note in ranking.notes)
    assert any("Datetime" in note for note in ranking.notes)
    json.dumps(ranking.to_dict())  # infinities and NaN become null


def test_chi2_on_a_regression_target_names_the_methods_that_fit() -> None:
    with pytest.raises(ParameterError, match="'mrmr', 'mutual_info', 'f_test', 'rrelieff'"):
        rank_features(planted("regression"), "chi2")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"method": "nope"},
        {"method": "mrmr", "criterion": "max"},
        {"method": "relieff", "n_neighbors": 0},
        {"method": "mrmr", "max_rows": -5},
    ],
    ids=["unknown-method", "unknown-criterion", "zero-neighbours", "negative-rows"],
)
def test_bad_arguments_are_parameter_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(ParameterError):
        rank_features(planted("binary"), **kwargs)  # type: ignore[arg-type]


def test_a_table_without_target_cannot_be_ranked() -> None:
    table = load_table(planted("binary").frame.drop(columns="y"))
    with pytest.raises(TargetError, match="needs a target"):
        rank_features(table)


def test_large_tables_are_sampled_with_a_note() -> None:
    table = planted("binary", n=3000)
    ranking = rank_features(table, "relieff", max_rows=1000, n_samples=200)
    assert any("1,000 of 3,000 rows" in note for note in ranking.notes)
    assert sorted(ranking.top(2)) == sorted(INFORMATIVE)


# -- permutation importance of a fitted model -------------------------------------------------


def test_permutation_ranking_of_a_fitted_pipeline() -> None:
    table = planted("binary")
    model = make_pipeline(
        build_preprocessor(table.schema, scale=True, encoding="onehot"), LogisticRegression()
    ).fit(table.X, table.y)
    ranking = permutation_ranking(model, table, n_repeats=3)
    assert sorted(ranking.top(2)) == sorted(INFORMATIVE)
    assert set(ranking.frame["method"]) == {"permutation"}
    assert (ranking.frame["std"] >= 0).all()
    by_accuracy = permutation_ranking(model, table, metric="accuracy", n_repeats=2)
    assert sorted(by_accuracy.top(2)) == sorted(INFORMATIVE)
    with pytest.raises(ParameterError, match="'roc_auc'"):
        permutation_ranking(model, table, metric="rmse")


# -- selection and the Learner ----------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    ["anova:2", {"method": "anova", "top_k": 2}, {"method": "mrmr", "top_k": 2, "n_bins": 5}],
    ids=["string", "mapping", "mapping-with-options"],
)
def test_select_features_keeps_the_best(spec: object) -> None:
    table = planted("binary")
    selection = select_features(table, spec)  # type: ignore[arg-type]
    assert sorted(selection.features) == sorted(INFORMATIVE)
    assert selection.apply(table).schema.features == selection.features
    record = selection.to_dict()
    assert record["top_k"] == 2 and set(record["scores"]) == set(table.schema.features)


@pytest.mark.parametrize(
    "spec",
    [
        "mrmr",
        "mrmr:0",
        "foo:3",
        {"method": "mrmr"},
        {"method": "mrmr", "top_k": "2"},
        {"method": "mrmr", "top_k": 2, "bins": 5},
    ],
)
def test_bad_selections_are_parameter_errors(spec: object) -> None:
    with pytest.raises(ParameterError):
        select_features(planted("binary"), spec)  # type: ignore[arg-type]


def test_learner_records_a_ranked_selection_in_every_recipe() -> None:
    learner = Learner(
        planted("binary"), features="mrmr:2", tracking=False, n_jobs=1, time_limit=None
    )
    board = learner.compare(["naive_bayes"])
    recipe = board.best.recipe
    selection = recipe["feature_selection"]
    assert selection["method"] == "mrmr" and selection["top_k"] == 2
    assert sorted(selection["features"]) == sorted(INFORMATIVE)
    assert recipe["features"] == selection["features"]
    assert learner.feature_selection_ is not None


def test_learn_option_tells_a_selection_from_a_column_list() -> None:
    from modelcycle.cli._learn import parse_features

    assert parse_features("mrmr:10") == "mrmr:10"
    assert parse_features("age, education") == ["age", "education"]
    assert parse_features(None) is None
