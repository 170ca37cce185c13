"""Clustering: families recover planted clusters, the ranking finds the planted number, profiles
name what sets a cluster apart, and a registered clustering assigns new rows as in memory."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

import modelcycle as mc
from modelcycle.cli._learn import clusters_table, parse_clusters
from modelcycle.exceptions import ParameterError
from modelcycle.learn import (
    ClusterAssigner,
    ClusterCandidate,
    cluster_scores,
    cluster_specs,
    get_cluster_spec,
    pipeline_from_recipe,
    profile_clusters,
)

CliRunner = Callable[..., CompletedProcess[str]]

CENTERS = [[0.0, 0.0, 0.0], [8.0, 0.0, 0.0], [0.0, 8.0, 0.0], [0.0, 0.0, 8.0]]
K_FAMILIES = ["kmeans", "gaussian_mixture", "agglomerative"]


def blobs(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Four well-separated spherical clusters in three dimensions."""
    X, y = make_blobs(n, centers=CENTERS, cluster_std=1.0, random_state=seed)
    return pd.DataFrame(X, columns=["a", "b", "c"]), y


@pytest.fixture(scope="module")
def blob_table() -> mc.Table:
    return mc.load_table(blobs()[0])


def in_process(table: mc.Table | pd.DataFrame, **kwargs: object) -> mc.Learner:
    """A Learner that runs its jobs in this process: no worker start-up in unit tests."""
    return mc.Learner(table, n_jobs=1, time_limit=None, **kwargs)  # type: ignore[arg-type]


# -- families ----------------------------------------------------------------------------------


@pytest.mark.parametrize("family", [*K_FAMILIES, "hdbscan"])
def test_families_recover_planted_clusters(family: str, blob_table: mc.Table) -> None:
    spec = get_cluster_spec(family).for_rows(len(blob_table))
    if spec.k_param is not None:
        spec = spec.with_clusters(4)
    pipeline = spec.build(blob_table.schema, random_state=0)
    labels = pipeline.fit_predict(blob_table.X)
    assert adjusted_rand_score(blobs()[1], labels) >= 0.95
    assert len(set(labels) - {-1}) == 4
    # Every clustering pipeline can assign new rows, the families without predict included.
    new, truth = blobs(200, seed=1)
    assert adjusted_rand_score(truth, pipeline.predict(new)) >= 0.95


def test_assigner_clusters_a_sample_and_keeps_noise() -> None:
    from sklearn.cluster import HDBSCAN

    X = np.vstack([blobs(600)[0].to_numpy(), [[40.0, 40.0, 40.0]]])  # one far outlier
    model = ClusterAssigner(
        HDBSCAN(min_cluster_size=10, copy=True), max_rows=300, random_state=0
    ).fit(X)
    assert model.labels_.shape == (len(X),)
    assert len(set(model.labels_) - {-1}) == 4
    # Rows outside the clustered sample were assigned through their neighbours; a clustered
    # row is its own nearest neighbour, so predict gives every fitted label back.
    assert model.neighbors_.n_samples_fit_ == 300
    np.testing.assert_array_equal(model.predict(X[:50]), model.labels_[:50])
    noise = ClusterAssigner(HDBSCAN(min_cluster_size=10, copy=True)).fit(X)
    assert noise.labels_[-1] == -1 and noise.predict([[41.0, 40.0, 40.0]]).tolist() == [-1]


# -- grid and scores ---------------------------------------------------------------------------


def test_grid_names_counts_and_errors() -> None:
    names = [s.name for s in cluster_specs(["kmeans", "hdbscan"], n_clusters=range(2, 5))]
    assert names == ["kmeans_k2", "kmeans_k3", "kmeans_k4", "hdbscan"]
    assert len(cluster_specs()) == 3 * 7 + 1
    assert [s.n_clusters for s in cluster_specs("kmeans", n_clusters=[2, 9], n_rows=5)] == [2]
    assert cluster_specs("hdbscan", n_rows=2_000)[0].params["min_cluster_size"] == 20
    with pytest.raises(ParameterError, match="'lightgbm' is a supervised model"):
        cluster_specs(["lightgbm"])
    with pytest.raises(ParameterError, match="'trees' is a preset of supervised models"):
        cluster_specs("trees")
    with pytest.raises(ParameterError, match="'n_clusters'"):
        cluster_specs(n_clusters=[1, 2])
    with pytest.raises(ParameterError, match="smaller than the number of rows"):
        cluster_specs(n_clusters=[5], n_rows=5)


def test_scores_count_noise_as_zero_silhouette() -> None:
    X = np.array([[0.0], [0.1], [5.0], [5.1], [20.0]])
    with_noise = cluster_scores(X, [0, 0, 1, 1, -1])
    without = cluster_scores(X[:4], [0, 0, 1, 1])
    assert with_noise["noise"] == pytest.approx(0.2) and with_noise["n_clusters"] == 2
    assert with_noise["silhouette"] == pytest.approx(without["silhouette"] * 4 / 5)
    # One cluster: the indices that compare clusters are undefined, so they are left out.
    assert set(cluster_scores(X, [0, 0, 0, 0, -1])) == {"n_clusters", "noise"}


# -- sessions ----------------------------------------------------------------------------------


def test_ranking_picks_the_planted_number_of_clusters(blob_table: mc.Table) -> None:
    learner = in_process(blob_table, tracking=False)
    board = learner.compare(K_FAMILIES, n_clusters=range(2, 7))
    assert board.metric == "silhouette" and len(board) == 3 * 5
    assert all(isinstance(c, ClusterCandidate) and c.ok for c in board)
    assert board.best.name.endswith("_k4") and learner.best_.n_clusters == 4
    for family in K_FAMILIES:
        ranked = [c.name for c in board if c.name.startswith(family)]
        assert ranked[0] == f"{family}_k4"
    assert all(("bic" in c.metrics) == c.name.startswith("gaussian") for c in board)
    # Davies-Bouldin agrees; the leaderboard ranks it ascending.
    by_db = in_process(blob_table, metric="davies_bouldin", tracking=False)
    assert by_db.compare(["kmeans"], n_clusters=range(2, 7)).best.name == "kmeans_k4"
    assert learner.best_.recipe["validation"]["kind"] == "in-sample"


def test_recipes_retrain_the_same_clustering(blob_table: mc.Table) -> None:
    board = in_process(blob_table, tracking=False).compare(n_clusters=[3, 4])
    for candidate in board:
        assert isinstance(candidate, ClusterCandidate)
        labels = pipeline_from_recipe(candidate.recipe).fit_predict(blob_table.X)
        np.testing.assert_array_equal(labels, candidate.labels, err_msg=candidate.name)


def test_profiles_name_what_sets_a_cluster_apart() -> None:
    rng = np.random.default_rng(0)
    n = 150
    frame = pd.DataFrame(
        {
            "noise_1": rng.normal(size=3 * n),
            "noise_2": rng.normal(size=3 * n),
            # Cluster 1 is set apart by a high "dose", cluster 2 by the category "d".
            "dose": np.r_[rng.normal(0, 1, n), rng.normal(6, 1, n), rng.normal(0, 1, n)],
            "group": np.r_[rng.choice(list("abc"), 2 * n), np.full(n, "d")],
        }
    )
    truth = np.repeat([0, 1, 2], n)
    profiles = profile_clusters(mc.load_table(frame), truth)
    assert [(p.cluster, p.size) for p in profiles] == [(0, n), (1, n), (2, n)]
    dose = profiles[1].top(1)[0]
    assert dose.feature == "dose" and dose.difference > 1.0 and dose.cluster_value > 5
    group = profiles[2].top(1)[0]
    assert (group.feature, group.category, group.cluster_share) == ("group", "d", 1.0)
    assert group.lift == pytest.approx(3.0) and group.cluster_value == "d"
    assert "group = d ↑ 100% vs 33%" in group.describe()
    # A learned clustering that splits on the dose names it first for both of its clusters.
    two = frame[["noise_1", "dose"]].iloc[: 2 * n]
    best = in_process(two, tracking=False).compare(["kmeans"], n_clusters=[2]).best
    assert isinstance(best, ClusterCandidate)
    assert [p.top(1)[0].feature for p in best.profiles()] == ["dose", "dose"]
    summary = json.loads(json.dumps(best.summary(top=2)))
    assert summary["n_clusters"] == 2 and len(summary["profiles"][0]["features"]) == 2


def test_registered_clustering_assigns_new_rows_like_the_in_memory_one(home: Path) -> None:
    learner = in_process(blobs()[0])
    learner.compare(["agglomerative", "hdbscan"], n_clusters=[3, 4])
    best = learner.best_
    assert isinstance(best, ClusterCandidate) and best.run_id
    info = mc.register(best, "segments", alias="production")
    loaded = mc.Registry().load("segments", alias="production")
    new = blobs(300, seed=7)[0]
    np.testing.assert_array_equal(loaded.pipeline.predict(new), best.predict(new))
    assert loaded.recipe["task"] == "clustering" and loaded.recipe["target"] is None
    assert loaded.reference_profile["target"] is None
    assert info.metrics["silhouette"] == pytest.approx(best.metrics["silhouette"])


@pytest.mark.parametrize("data", ["wine", "adult"])
def test_real_tables_without_target(
    data: str, wine: pd.DataFrame, adult_sample: pd.DataFrame
) -> None:
    frame = (
        wine.drop(columns=["quality"])
        if data == "wine"
        else adult_sample.drop(columns=["income"]).head(1500)
    )
    learner = in_process(frame, tracking=False)
    board = learner.compare(["kmeans", "agglomerative", "hdbscan"], n_clusters=[3])
    assert all(c.ok for c in board), [c.error for c in board]
    best = learner.best_
    assert isinstance(best, ClusterCandidate)
    assert sum(best.sizes().values()) == len(frame)
    kinds = {f.kind for p in best.profiles() for f in p.features}
    assert kinds == ({"numeric"} if data == "wine" else {"numeric", "categorical"})
    assert len(best.predict(frame.head(20))) == 20


def test_bad_arguments(blob_table: mc.Table, adult_sample: pd.DataFrame) -> None:
    supervised = mc.load_table(adult_sample.head(200), target="income")
    with pytest.raises(ParameterError, match="'n_clusters'"):
        mc.Learner(supervised, tracking=False).compare(n_clusters=[2, 3])
    with pytest.raises(ParameterError, match="'metric'"):
        mc.Learner(blob_table, metric="roc_auc", tracking=False).compare()
    with pytest.raises(ParameterError, match="for clustering"):
        mc.Learner(blob_table, tracking=False).compare(["naive_bayes"])


# -- command line ------------------------------------------------------------------------------


def test_parse_clusters() -> None:
    assert parse_clusters("2-5") == [2, 3, 4, 5]
    assert parse_clusters("3") == [3]
    assert parse_clusters("2-3,6") == [2, 3, 6]
    assert parse_clusters(None) is None
    with pytest.raises(ParameterError, match="--clusters"):
        parse_clusters("two")


def test_clusters_table_shows_sizes_and_distinguishing_features(blob_table: mc.Table) -> None:
    best = in_process(blob_table, tracking=False).compare(["kmeans"], n_clusters=[4]).best
    assert isinstance(best, ClusterCandidate)
    console = Console(record=True, width=120)
    console.print(clusters_table(best))
    text = console.export_text()
    assert "kmeans_k4: 4 clusters" in text and "100" in text and " sd)" in text


def test_cli_learn_without_target(home: Path, tmp_path: Path, cli: CliRunner) -> None:
    path = tmp_path / "points.csv"
    blobs(200)[0].to_csv(path, index=False)
    args = ["learn", str(path), "--json", "--preset", "kmeans,hdbscan", "--clusters", "3-5"]
    out = cli(*args, home=home)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["task"] == "clustering" and result["metric"] == "silhouette"
    assert result["leaderboard"][0]["model"] in ("kmeans_k4", "hdbscan")
    assert len(result["leaderboard"]) == 3 + 1
    clusters = result["clusters"]
    assert clusters["model"] == result["best"] and clusters["n_clusters"] == 4
    assert sorted(clusters["sizes"].values()) == [50, 50, 50, 50]
    assert {"cluster", "size", "share", "features"} <= set(clusters["profiles"][0])
