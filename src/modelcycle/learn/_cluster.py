"""Clustering families, the grid of cluster counts they are tried at, and how a clustering is
scored: the clustering counterpart of the model presets and of cross-validation.

A clustering session compares one candidate per family and number of clusters (``kmeans_k3``,
``gaussian_mixture_k5``, ...; HDBSCAN, which finds its own number, once). One candidate per grid
point, rather than one per family with its best ``k``, keeps every candidate a concrete model
whose recipe retrains it exactly, and lets the leaderboard show how the scores move with ``k``,
which is how people choose ``k``. There is no held-out data to score a clustering on: it is
scored on the rows it was fitted on, with internal validity indices computed in the
preprocessed (scaled, one-hot) space the clustering saw.
"""

from __future__ import annotations

import pickle
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin, clone
from sklearn.cluster import HDBSCAN, AgglomerativeClustering, KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_samples
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted

from modelcycle.data import Table, Task
from modelcycle.exceptions import ParameterError
from modelcycle.learn._cluster_profile import NOISE
from modelcycle.learn._presets import PRESETS, ModelSpec, get_spec

__all__ = [
    "CLUSTER_METRIC",
    "ClusterAssigner",
    "ClusterFit",
    "ClusterSpec",
    "cluster_scores",
    "cluster_specs",
    "fit_clustering",
    "get_cluster_spec",
]

#: The metric that ranks clusterings unless another is chosen: defined for every family, and
#: it rewards clusters that are both tight and apart, whatever their shape in few dimensions.
CLUSTER_METRIC = "silhouette"
#: The numbers of clusters tried unless others are given.
DEFAULT_N_CLUSTERS = range(2, 9)
#: The silhouette compares every pair of rows: it is computed on at most this many rows, the
#: same seeded sample for every candidate (its standard error at 3,000 rows is about 0.005).
SILHOUETTE_ROWS = 3_000

# Ward linkage needs the condensed distance matrix: 5,000 rows take 100 MB and a second; more
# rows are assigned to the clusters of their nearest fitted neighbours.
_AGGLOMERATIVE_ROWS = 5_000
# HDBSCAN's cost grows about quadratically with rows in many dimensions (10,000 rows of adult's
# 96 one-hot and scaled columns: 6 s).
_HDBSCAN_ROWS = 10_000
# Rows timed to measure prediction speed.
_PREDICT_ROWS = 2_000


class ClusterAssigner(ClusterMixin, BaseEstimator):
    """A clusterer that can assign new rows: fit ``clusterer``, then a nearest-neighbour
    classifier on its labels.

    Agglomerative clustering and HDBSCAN label the rows they are fitted on but cannot label new
    ones. This wrapper gives them ``predict``: a new row takes the distance-weighted majority
    label of its ``n_neighbors`` nearest fitted rows, so it joins the cluster whose members
    surround it, whatever the cluster's shape, and the noise label ``-1`` is kept (a row among
    noise is noise). A fitted row is its own nearest neighbour, so ``predict`` on the fitted
    rows gives back their labels. Tables larger than ``max_rows`` are clustered on a seeded
    random sample and the other rows assigned.

    Only the assigner is kept after fitting (the clusterer's own state, such as HDBSCAN's copy
    of the data, would double the saved model for nothing ``predict`` uses).

    Parameters
    ----------
    clusterer
        An unfitted clusterer with ``labels_`` after ``fit``.
    max_rows
        Cluster at most this many rows (``None``: all).
    n_neighbors
        Fitted rows that vote on a new row's cluster.
    random_state
        Seed of the sample drawn when there are more than ``max_rows`` rows.

    Attributes
    ----------
    labels_ : ndarray of int
        The cluster of every row passed to :meth:`fit` (``-1``: noise).
    neighbors_ : KNeighborsClassifier
        The assigner, fitted on the clustered rows and their labels.
    n_features_in_ : int
        The number of columns seen in :meth:`fit`.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.cluster import AgglomerativeClustering
    >>> X = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.2]])
    >>> model = ClusterAssigner(AgglomerativeClustering(n_clusters=2)).fit(X)
    >>> model.predict([[0.05], [4.9]]).tolist() == [model.labels_[0], model.labels_[3]]
    True
    """

    def __init__(
        self,
        clusterer: BaseEstimator,
        *,
        max_rows: int | None = None,
        n_neighbors: int = 5,
        random_state: int | None = None,
    ) -> None:
        self.clusterer = clusterer
        self.max_rows = max_rows
        self.n_neighbors = n_neighbors
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> ClusterAssigner:
        X = check_array(X, dtype=np.float64)
        self.n_features_in_ = X.shape[1]
        n = len(X)
        fitted = np.arange(n)
        if self.max_rows is not None and n > self.max_rows:
            rng = check_random_state(self.random_state)
            fitted = np.sort(rng.choice(n, size=self.max_rows, replace=False))
        sample = X[fitted]
        labels = np.asarray(clone(self.clusterer).fit(sample).labels_, dtype=np.int64)
        # Brute force stores no search tree: nothing for skops to trust beyond scikit-learn's
        # defaults, and trees do not beat brute force in the dozens of dimensions one-hot
        # encoding gives.
        self.neighbors_ = KNeighborsClassifier(
            n_neighbors=min(self.n_neighbors, len(sample)), weights="distance", algorithm="brute"
        ).fit(sample, labels)
        self.labels_ = np.empty(n, dtype=np.int64)
        self.labels_[fitted] = labels
        rest = np.setdiff1d(np.arange(n), fitted, assume_unique=True)
        if len(rest):
            self.labels_[rest] = self.neighbors_.predict(X[rest])
        return self

    def predict(self, X: Any) -> np.ndarray:
        """The cluster of each row: that of its nearest fitted rows (``-1``: noise)."""
        check_is_fitted(self, "neighbors_")
        return np.asarray(self.neighbors_.predict(check_array(X, dtype=np.float64)))


def _agglomerative(
    *,
    n_clusters: int = 2,
    linkage: str = "ward",
    max_rows: int | None = _AGGLOMERATIVE_ROWS,
    n_neighbors: int = 5,
    random_state: int | None = None,
) -> ClusterAssigner:
    """Agglomerative clustering with an assigner for new rows (its settings stay JSON-able)."""
    return ClusterAssigner(
        AgglomerativeClustering(n_clusters=n_clusters, linkage=linkage),
        max_rows=max_rows,
        n_neighbors=n_neighbors,
        random_state=random_state,
    )


def _hdbscan(
    *,
    min_cluster_size: int = 5,
    min_samples: int | None = 5,
    max_rows: int | None = _HDBSCAN_ROWS,
    n_neighbors: int = 5,
    random_state: int | None = None,
) -> ClusterAssigner:
    """HDBSCAN with an assigner for new rows; ``copy=True`` leaves the caller's data alone."""
    return ClusterAssigner(
        HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min_samples, copy=True),
        max_rows=max_rows,
        n_neighbors=n_neighbors,
        random_state=random_state,
    )


def _hdbscan_sizes(n_rows: int) -> dict[str, Any]:
    """The smallest cluster worth naming: 1 % of the clustered rows (at least 5). A fixed
    ``min_samples`` of 5 keeps the density estimate local, so most rows still join a cluster
    (with ``min_samples`` tied to the cluster size, HDBSCAN leaves most real-world rows as
    noise)."""
    return {"min_cluster_size": max(5, round(0.01 * min(n_rows, _HDBSCAN_ROWS)))}


@dataclass(frozen=True)
class ClusterSpec(ModelSpec):
    """A clustering family, or one point of its grid (the family at one number of clusters).

    Builds pipelines exactly as :class:`~modelcycle.learn.ModelSpec` does: ``"prep"`` (scaled
    numbers, one-hot categories), then ``"model"``, which always has ``predict``.

    Parameters
    ----------
    family
        The family's name in the registry (``"kmeans"``); :attr:`name` adds the grid point
        (``"kmeans_k3"``).
    k_param
        The estimator parameter that sets the number of clusters; ``None`` for families that
        find their own (HDBSCAN).
    n_clusters
        The number of clusters of a grid point; ``None`` for a family or for HDBSCAN.
    sized_params
        Default hyperparameters that depend on the number of rows (HDBSCAN's smallest
        cluster); fixed when the grid is built, so recipes hold plain values.

    Examples
    --------
    >>> spec = get_cluster_spec("kmeans").with_clusters(3)
    >>> spec.name, spec.params["n_clusters"]
    ('kmeans_k3', 3)
    """

    family: str = ""
    k_param: str | None = None
    n_clusters: int | None = None
    sized_params: Callable[[int], Mapping[str, Any]] | None = field(default=None, repr=False)

    def with_clusters(self, k: int) -> ClusterSpec:
        """This family at ``k`` clusters."""
        if self.k_param is None:
            raise ParameterError(
                "n_clusters", f"the {self.family!r} family", "None (it finds its own number)", k
            )
        return replace(
            self,
            name=f"{self.family}_k{k}",
            label=f"{self.label}, k={k}",
            params=MappingProxyType({**self.params, self.k_param: k}),
            n_clusters=k,
        )

    def for_rows(self, n_rows: int) -> ClusterSpec:
        """This spec with its row-dependent defaults fixed for a table of ``n_rows`` rows."""
        if self.sized_params is None:
            return self
        return replace(self, params=MappingProxyType({**self.sized_params(n_rows), **self.params}))


_CLUSTERING = frozenset({Task.CLUSTERING})


def _family(
    name: str,
    label: str,
    estimator: Callable[..., BaseEstimator],
    params: Mapping[str, Any],
    k_param: str | None,
    sized_params: Callable[[int], Mapping[str, Any]] | None = None,
) -> ClusterSpec:
    return ClusterSpec(
        name=name,
        label=label,
        tasks=_CLUSTERING,
        groups=frozenset({"quick"}),
        max_rows=None,
        params=MappingProxyType(dict(params)),
        estimator=estimator,
        # Distances must weigh every feature alike: standardised numbers, one-hot categories.
        scale=True,
        encoding="onehot",
        family=name,
        k_param=k_param,
        sized_params=sized_params,
    )


_FAMILIES: tuple[ClusterSpec, ...] = (
    # Four restarts: one k-means++ start lands in poor optima on mixed data (adult: silhouette
    # 0.09 against 0.13), and restarts cost little next to the silhouette.
    _family("kmeans", "k-means", KMeans, {"n_init": 4}, "n_clusters"),
    # A small covariance floor keeps components fitted to constant one-hot columns regular.
    _family(
        "gaussian_mixture",
        "Gaussian mixture",
        GaussianMixture,
        {"covariance_type": "full", "reg_covar": 1e-4},
        "n_components",
    ),
    _family("agglomerative", "Agglomerative (Ward)", _agglomerative, {}, "n_clusters"),
    # DBSCAN is left out: its radius depends on the data's scale and has no good default, and
    # HDBSCAN is DBSCAN over every radius at once.
    _family("hdbscan", "HDBSCAN", _hdbscan, {}, None, sized_params=_hdbscan_sizes),
)
_REGISTRY = {spec.family: spec for spec in _FAMILIES}
# Clustering families are few and cheap enough that "quick" is all of them.
_CLUSTER_PRESETS = ("quick", "all")


def get_cluster_spec(name: str) -> ClusterSpec:
    """The clustering family ``name``.

    Raises
    ------
    ParameterError
        No clustering family has that name; the message lists those that do.

    Examples
    --------
    >>> get_cluster_spec("hdbscan").label
    'HDBSCAN'
    """
    spec = _REGISTRY.get(name) if isinstance(name, str) else None
    if spec is None:
        raise ParameterError(
            "name", "get_cluster_spec", f"one of {', '.join(map(repr, _REGISTRY))}", name
        )
    return spec


def cluster_specs(
    preset: str | Sequence[str] = "quick",
    n_clusters: int | Iterable[int] | None = None,
    n_rows: int | None = None,
) -> list[ClusterSpec]:
    """The grid of clusterings a preset (or a list of family names) compares.

    Parameters
    ----------
    preset
        ``"quick"`` or ``"all"`` (every family: k-means, Gaussian mixture, agglomerative,
        HDBSCAN), a family name, or a list of them.
    n_clusters
        The numbers of clusters to try, each at least 2 (default ``range(2, 9)``). Families
        that find their own number (HDBSCAN) are tried once.
    n_rows
        The number of rows to cluster: numbers of clusters of ``n_rows`` or more are left out,
        and row-dependent defaults are fixed.

    Returns
    -------
    list of ClusterSpec
        One per family and number of clusters, family by family, fewest clusters first.

    Raises
    ------
    ParameterError
        An unknown name, a number of clusters below 2, or no number of clusters the rows allow.

    Examples
    --------
    >>> [s.name for s in cluster_specs(["kmeans", "hdbscan"], n_clusters=range(2, 4))]
    ['kmeans_k2', 'kmeans_k3', 'hdbscan']
    """
    items = [preset] if isinstance(preset, str) else list(preset)
    choices = [*_CLUSTER_PRESETS, *_REGISTRY]
    chosen: set[str] = set()
    for item in items:
        if item in _CLUSTER_PRESETS:
            chosen.update(_REGISTRY)
        elif isinstance(item, str) and item in _REGISTRY:
            chosen.add(item)
        else:
            raise ParameterError(
                "preset", "cluster_specs", f"one of {choices} for clustering{_hint(item)}", item
            )
    if not chosen:
        raise ParameterError("preset", "cluster_specs", f"a non-empty list of {choices}", preset)
    ks = _cluster_counts(n_clusters, n_rows)
    out: list[ClusterSpec] = []
    for spec in _FAMILIES:
        if spec.family not in chosen:
            continue
        sized = spec.for_rows(n_rows) if n_rows is not None else spec
        out += [sized.with_clusters(k) for k in ks] if spec.k_param else [sized]
    return out


def _hint(item: Any) -> str:
    if isinstance(item, str) and item in PRESETS:
        return f" ({item!r} is a preset of supervised models)"
    for task in (Task.BINARY, Task.REGRESSION):
        try:
            get_spec(item, task)
        except ParameterError:
            continue
        return f" ({item!r} is a supervised model: give the table a target to use it)"
    return ""


def _cluster_counts(n_clusters: int | Iterable[int] | None, n_rows: int | None) -> list[int]:
    values = DEFAULT_N_CLUSTERS if n_clusters is None else n_clusters
    items = [values] if isinstance(values, int | np.integer) else values
    try:
        counts = list(items)
    except TypeError:
        counts = []
    if not counts or not all(
        isinstance(k, int | np.integer) and not isinstance(k, bool) and k >= 2 for k in counts
    ):
        raise ParameterError(
            "n_clusters",
            "cluster_specs",
            "an integer of at least 2 or several, such as range(2, 9)",
            n_clusters,
        )
    ks = sorted({int(k) for k in counts})
    if n_rows is not None:
        ks = [k for k in ks if k < n_rows]
        if not ks:
            raise ParameterError(
                "n_clusters",
                "cluster_specs",
                f"smaller than the number of rows ({n_rows}) to cluster",
                n_clusters,
            )
    return ks


def cluster_scores(
    X: Any, labels: Any, *, sample_size: int = SILHOUETTE_ROWS, random_state: int = 0
) -> dict[str, float]:
    """Internal validity scores of a clustering of the rows of ``X``.

    Parameters
    ----------
    X
        The rows as the clustering saw them (numbers only; after preprocessing).
    labels
        Each row's cluster; ``-1`` marks noise.
    sample_size
        The silhouette is computed on at most this many rows (a seeded sample).
    random_state
        Seed of that sample.

    Returns
    -------
    dict of str to float
        ``n_clusters`` (found, noise aside) and ``noise`` (the share of noise rows) always;
        ``silhouette`` (-1 to 1, higher is better), ``davies_bouldin`` (0 or more, lower is
        better) and ``calinski_harabasz`` (higher is better) when there are at least two
        clusters. Noise rows count 0 in the silhouette, as rows of one-row clusters do in
        scikit-learn's, so leaving rows out of every cluster is not rewarded; Davies-Bouldin
        and Calinski-Harabasz are computed on the clustered rows.

    Examples
    --------
    >>> X = [[0.0], [0.2], [5.0], [5.2]]
    >>> scores = cluster_scores(X, [0, 0, 1, 1])
    >>> scores["n_clusters"], round(scores["silhouette"], 2)
    (2.0, 0.96)
    """
    X = check_array(X, dtype=np.float64)
    codes = np.asarray(labels, dtype=np.int64)
    clustered = codes != NOISE
    n_found = len(np.unique(codes[clustered]))
    scores = {"n_clusters": float(n_found), "noise": float(1.0 - clustered.mean())}
    if not 2 <= n_found < clustered.sum():
        return scores  # the indices compare clusters: they need two, not all of one row
    rows = np.arange(len(codes))
    if len(rows) > sample_size:
        rows = np.sort(check_random_state(random_state).choice(rows, sample_size, replace=False))
    kept = rows[clustered[rows]]
    if 2 <= len(np.unique(codes[kept])) < len(kept):
        scores["silhouette"] = float(silhouette_samples(X[kept], codes[kept]).sum() / len(rows))
    scores["davies_bouldin"] = float(davies_bouldin_score(X[clustered], codes[clustered]))
    scores["calinski_harabasz"] = float(calinski_harabasz_score(X[clustered], codes[clustered]))
    return scores


def fit_labels(pipeline: Pipeline, X: pd.DataFrame) -> np.ndarray:
    """Fit a clustering pipeline on ``X``; returns the cluster of each row."""
    with warnings.catch_warnings():
        # A mixture or k-means that stops at max_iter, or finds fewer distinct clusters than
        # asked, is still a clustering: its scores say how good it is.
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        return np.asarray(pipeline.fit_predict(X), dtype=np.int64)


@dataclass
class ClusterFit:
    """What one clustering job found: each row's cluster, the scores, and the costs."""

    labels: np.ndarray
    metrics: dict[str, float]
    fit_seconds: float
    predict_seconds: float
    predict_rows: int
    size_bytes: int


def fit_clustering(
    family: str,
    table: Table,
    params: dict[str, Any],
    random_state: int,
    sample_size: int = SILHOUETTE_ROWS,
) -> ClusterFit:
    """Fit ``family`` with ``params`` on every row of ``table`` and score it: the unit of work
    a clustering session hands to a worker process.

    The scores are those of :func:`cluster_scores`, plus ``bic`` for families with a
    likelihood (Gaussian mixtures: lower is better).
    """
    pipeline = get_cluster_spec(family).build(
        table.schema, params=params, random_state=random_state
    )
    X = table.X
    start = time.perf_counter()
    labels = fit_labels(pipeline, X)
    fit_seconds = time.perf_counter() - start
    Xt = pipeline[:-1].transform(X)
    metrics = cluster_scores(Xt, labels, sample_size=sample_size, random_state=random_state)
    model = pipeline[-1]
    if hasattr(model, "bic"):
        metrics["bic"] = float(model.bic(Xt))
    head = X.head(_PREDICT_ROWS)
    start = time.perf_counter()
    pipeline.predict(head)
    predict_seconds = time.perf_counter() - start
    return ClusterFit(
        labels=labels,
        metrics=metrics,
        fit_seconds=fit_seconds,
        predict_seconds=predict_seconds,
        predict_rows=len(head),
        size_bytes=len(pickle.dumps(pipeline)),
    )
