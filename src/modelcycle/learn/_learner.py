"""The Learner: train many model families on a table, compare them honestly, refit the best."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from modelcycle.data import Table, Validation, load_table
from modelcycle.exceptions import ColumnNotFoundError, ParameterError
from modelcycle.learn._candidate import Candidate, Leaderboard
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
        The column to learn (needed unless ``table`` is a Table with a target).
    validation
        ``"kfold:5"`` (stratified for classes; the default), ``"holdout:0.2"``, ``"time:5"``
        (time-ordered) or a separate test :class:`~modelcycle.data.Table`.
    metric
        The metric that ranks candidates; the task's default when ``None``.
    features
        The feature columns to learn from; all usable columns when ``None``.
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
        features: Sequence[str] | None = None,
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
        if table.target is None:
            raise ParameterError("target", "Learner", "the name of the column to learn", None)
        if self.features is not None:
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
        metric = self.metric or default_metric(table.task)
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
        self, preset: str | Sequence[str] = "quick", *, progress: Progress | None = None
    ) -> Leaderboard:
        """Train every model family of ``preset``, rank them, and refit the best on all data.

        Parameters
        ----------
        preset
            ``"quick"``, ``"linear"``, ``"trees"``, ``"all"`` or a list of family names.
        progress
            Called with each :class:`Candidate` as soon as it is validated.

        Returns
        -------
        Leaderboard
            Also stored as ``leaderboard_``; the refit best candidate is ``best_``.
        """
        table, validation, metric, n_jobs = self._prepare()
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
        jobs = [
            (
                spec.name,
                evaluate,
                (spec.name, table, validation, dict(spec.params), self.random_state),
            )
            for spec in specs
        ]
        candidates: list[Candidate] = []
        for result in run_jobs(jobs, n_jobs=min(n_jobs, len(jobs)), time_limit=self.time_limit):
            candidate = self._candidate(by_name[result.key], result, table, validation)
            if session is not None:
                candidate.run_id = track_candidate(session, candidate)
            candidates.append(candidate)
            if progress is not None:
                progress(candidate)
        board = Leaderboard(candidates, metric)
        self.leaderboard_ = board
        self.best_ = board.best.refit()
        return board

    def _candidate(
        self, spec: ModelSpec, result: JobResult, table: Table, validation: Validation
    ) -> Candidate:
        recipe = make_recipe(spec.name, dict(spec.params), table, validation, self.random_state)
        candidate = Candidate(
            spec.name, spec.label, result.status, recipe, table, error=result.error
        )
        if result.status != "ok":
            logger.warning("candidate %s %s: %s", spec.name, result.status, result.error)
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
        return candidate


def _experiment_name(table: Table) -> str:
    stem = Path(table.source).stem if table.source else "table"
    return f"learn-{stem}-{table.target}"
