"""The Learner: train many model families on a table, compare them honestly, refit the best."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelcycle.data import Table, Task, Validation, load_table
from modelcycle.exceptions import ColumnNotFoundError, ParameterError
from modelcycle.features import FeatureSelection, select_features
from modelcycle.learn._candidate import Candidate, Leaderboard
from modelcycle.learn._cluster import CLUSTER_METRIC, ClusterSpec, cluster_specs, fit_clustering
from modelcycle.learn._cluster_candidate import cluster_candidate
from modelcycle.learn._evaluate import Evaluation, evaluate
from modelcycle.learn._metrics import METRICS, default_metric
from modelcycle.learn._parallel import JobResult, run_jobs
from modelcycle.learn._presets import ModelSpec, model_specs
from modelcycle.learn._recipe import make_recipe
from modelcycle.learn._tracking import track_candidate, track_session

logger = logging.getLogger(__name__)

Progress = Callable[[Candidate], None]


class Learner:
    """Train and compare model families on a table, like MATLAB's Learner apps.

    Parameters
    ----------
    table
        A :class:`~modelcycle.data.Table`, a DataFrame or a CSV/Parquet path.
    target
        The column to learn. Without one (and with a ``table`` that has none) the Learner
        clusters the rows instead: see :meth:`compare`.
    validation
        ``"kfold:5"`` (stratified for classes; the default), ``"holdout:0.2"``, ``"time:5"``
        (time-ordered) or a separate test :class:`~modelcycle.data.Table`. Not used when
        clustering: a clustering is scored on the rows it was fitted on.
    metric
        The metric that ranks candidates; the task's default when ``None``.
    features
        The feature columns to learn from (all usable columns when ``None``), or a selection
        ranked on the training table: ``"mrmr:10"`` or ``{"method": "mrmr", "top_k": 10}``
        (see :func:`~modelcycle.features.select_features`). The selection is recorded in each
        candidate's recipe and in ``feature_selection_``.
    random_state
        Seed of the splits and of every model.
    n_jobs
        Candidates trained at once, each in its own process (default: the number of cores).
    time_limit
        Seconds one candidate's whole validation may take before it is stopped.
    tracking
        Log the session to the MLflow tracking store (an experiment, a run per candidate).
    experiment
        Name of the MLflow experiment; derived from the data and target when ``None``.

    Examples
    --------
    >>> import modelcycle as mc
    >>> learner = mc.Learner("adult.csv", target="income")  # doctest: +SKIP
    >>> board = learner.compare(preset="quick")  # doctest: +SKIP
    >>> board.best.name  # doctest: +SKIP
    'lightgbm'
    """

    def __init__(
        self,
        table: Table | pd.DataFrame | str | Path,
        target: str | None = None,
        *,
        validation: str | Validation | Table | None = "kfold:5",
        metric: str | None = None,
        features: Sequence[str] | str | Mapping[str, Any] | None = None,
        random_state: int = 0,
        n_jobs: int | None = None,
        time_limit: float | None = 300.0,
        tracking: bool = True,
        experiment: str | None = None,
        tracking_uri: str | None = None,
    ) -> None:
        self.table = table
        self.target = target
        self.validation = validation
        self.metric = metric
        self.features = features
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.time_limit = time_limit
        self.tracking = tracking
        self.experiment = experiment
        self.tracking_uri = tracking_uri

    # -- preparation -------------------------------------------------------------------------

    def _prepare(self) -> tuple[Table, Validation, str, int]:
        if isinstance(self.table, Table) and (
            self.target is None or self.target == self.table.target
        ):
            table = self.table
        else:
            table = load_table(self.table, target=self.target)
        self.feature_selection_: FeatureSelection | None = None
        if isinstance(self.features, str | Mapping):
            # Ranked on the training rows only (never a test table). With k-fold validation
            # the folds' rows took part in the ranking, which flatters scores a little when
            # many features compete for few places.
            self.feature_selection_ = select_features(
                table, self.features, random_state=self.random_state
            )
            table = self.feature_selection_.apply(table)
        elif self.features is not None:
            missing = [f for f in self.features if f not in table.schema.columns]
            if missing:
                raise ColumnNotFoundError(missing[0], table.schema.columns, role="feature")
            table = Table(
                table.frame, table.schema.with_features(list(self.features)), table.source
            )
        validation = Validation.parse(self.validation)
        if validation.test is not None:
            # The test table is read with the training schema so both are encoded alike.
            columns = list(table.frame.columns)
            missing = [c for c in columns if c not in validation.test.frame.columns]
            if missing:
                raise ColumnNotFoundError(
                    missing[0], validation.test.frame.columns, role="test column"
                )
            validation = Validation(
                kind="test", test=table.with_frame(validation.test.frame[columns])
            )
        metric = self.metric or (
            CLUSTER_METRIC if table.task is Task.CLUSTERING else default_metric(table.task)
        )
        if metric not in METRICS or str(table.task) not in METRICS[metric].tasks:
            fitting = [m for m, info in METRICS.items() if str(table.task) in info.tasks]
            raise ParameterError(
                "metric", "Learner", f"one of {fitting} for a {table.task} task", metric
            )
        n_jobs = self.n_jobs or os.cpu_count() or 1
        if n_jobs < 1:
            raise ParameterError("n_jobs", "Learner", "a positive integer", self.n_jobs)
        if self.time_limit is not None and self.time_limit <= 0:
            raise ParameterError(
                "time_limit", "Learner", "a positive number of seconds or None", self.time_limit
            )
        return table, validation, metric, n_jobs

    # -- the work ----------------------------------------------------------------------------

    def compare(
        self,
        preset: str | Sequence[str] = "quick",
        *,
        n_clusters: int | Iterable[int] | None = None,
        progress: Progress | None = None,
    ) -> Leaderboard:
        """Train every model family of ``preset``, rank them, and refit the best on all data.

        A table without a target is clustered: k-means, Gaussian mixtures and agglomerative
        clustering at each number of clusters in ``n_clusters`` and HDBSCAN once, one
        :class:`~modelcycle.learn.ClusterCandidate` each, ranked by silhouette unless
        ``metric`` says otherwise (``davies_bouldin``, ``calinski_harabasz``, ``bic``).

        Parameters
        ----------
        preset
            ``"quick"``, ``"linear"``, ``"trees"``, ``"all"`` or a list of family names;
            for clustering ``"quick"`` or ``"all"`` (every family) or a list of ``"kmeans"``,
            ``"gaussian_mixture"``, ``"agglomerative"``, ``"hdbscan"``.
        n_clusters
            Clustering only: the numbers of clusters to try (default ``range(2, 9)``).
        progress
            Called with each :class:`Candidate` as soon as it is validated.

        Returns
        -------
        Leaderboard
            Also stored as ``leaderboard_``; the refit best candidate is ``best_``.

        Examples
        --------
        >>> from sklearn.datasets import make_blobs
        >>> X, _ = make_blobs(300, centers=3, random_state=0)
        >>> learner = Learner(pd.DataFrame(X, columns=["a", "b"]), tracking=False, n_jobs=1)
        >>> board = learner.compare(["kmeans"], n_clusters=range(2, 6))  # doctest: +SKIP
        >>> board.best.name, board.best.sizes()  # doctest: +SKIP
        ('kmeans_k3', {0: 100, 1: 100, 2: 100})
        """
        table, validation, metric, n_jobs = self._prepare()
        specs: Sequence[ModelSpec]
        if table.task is Task.CLUSTERING:
            specs = cluster_specs(preset, n_clusters, n_rows=len(table))
        elif n_clusters is not None:
            raise ParameterError(
                "n_clusters", "Learner.compare", f"None for a {table.task} task", n_clusters
            )
        else:
            specs = model_specs(table.task, preset, n_rows=len(table))
        self.table_, self.validation_, self.metric_ = table, validation, metric
        session = None
        if self.tracking:
            session = track_session(
                self.tracking_uri,
                self.experiment or _experiment_name(table),
                table,
                validation,
                metric,
            )
        self.experiment_id_ = session.experiment_id if session else None

        by_name = {spec.name: spec for spec in specs}
        jobs = [(spec.name, *self._job(spec, table, validation)) for spec in specs]
        candidates: list[Candidate] = []
        for result in run_jobs(jobs, n_jobs=min(n_jobs, len(jobs)), time_limit=self.time_limit):
            candidate = self._candidate(by_name[result.key], result, table, validation)
            if not candidate.ok:
                logger.warning(
                    "candidate %s %s: %s", candidate.name, candidate.status, result.error
                )
            if session is not None:
                candidate.run_id = track_candidate(session, candidate)
            candidates.append(candidate)
            if progress is not None:
                progress(candidate)
        board = Leaderboard(candidates, metric)
        self.leaderboard_ = board
        self.best_ = board.best.refit()
        return board

    def _job(
        self, spec: ModelSpec, table: Table, validation: Validation
    ) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        """The function a worker runs for ``spec``, and its arguments."""
        if isinstance(spec, ClusterSpec):
            return fit_clustering, (spec.family, table, dict(spec.params), self.random_state)
        return evaluate, (spec.name, table, validation, dict(spec.params), self.random_state, True)

    def _candidate(
        self, spec: ModelSpec, result: JobResult, table: Table, validation: Validation
    ) -> Candidate:
        if isinstance(spec, ClusterSpec):
            return cluster_candidate(spec, result, table, self.random_state)
        selection = getattr(self, "feature_selection_", None)
        recipe = make_recipe(
            spec.name,
            dict(spec.params),
            table,
            validation,
            self.random_state,
            extra={"feature_selection": selection.to_dict()} if selection else None,
        )
        candidate = Candidate(
            spec.name, spec.label, result.status, recipe, table, error=result.error
        )
        if result.status != "ok":
            return candidate
        ev: Evaluation = result.value
        frame = pd.DataFrame(ev.fold_metrics)
        candidate.metrics = {str(m): float(frame[m].mean()) for m in frame}
        candidate.metrics_std = {str(m): float(frame[m].std(ddof=0)) for m in frame}
        candidate.fit_seconds = float(np.mean(ev.fit_seconds))
        candidate.predict_rows_per_second = float(
            sum(ev.predict_rows) / max(sum(ev.predict_seconds), 1e-9)
        )
        candidate.size_bytes = ev.size_bytes
        candidate.oof = ev.oof
        candidate.inspection = ev.inspection
        return candidate


def _experiment_name(table: Table) -> str:
    stem = Path(table.source).stem if table.source else "table"
    return f"learn-{stem}-{table.target or 'clusters'}"
