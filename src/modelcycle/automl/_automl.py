"""``automl``: design a model within a time budget and return it as an ordinary candidate."""

from __future__ import annotations

import contextlib
import io
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelcycle.automl._ensemble import select_ensemble
from modelcycle.automl._executor import LocalExecutor, TrialExecutor
from modelcycle.automl._pipeline import assemble_ensemble, member_name
from modelcycle.automl._search import Search, SearchProgress, Trial
from modelcycle.automl._space import FORESTS, SpaceContext, resolve_families
from modelcycle.automl._tracking import RunRecord, SessionTracker
from modelcycle.automl._trial import TrialData, class_labels, fit_member
from modelcycle.data import Table, Task, Validation, load_table
from modelcycle.exceptions import ColumnNotFoundError, LearnError, ParameterError
from modelcycle.learn import (
    METRICS,
    Candidate,
    Leaderboard,
    check_metric,
    default_metric,
    get_spec,
    is_better,
    make_recipe,
    score,
)

__all__ = ["AutoMLResult", "automl"]

# FLAML's rule for choosing cross-validation over a holdout (``AutoML._decide_eval_method``):
# cross-validate when rows x columns is small for the budget (10 million cells per hour) and
# there are fewer than 100,000 rows; otherwise one holdout keeps trials cheap.
_CELLS_PER_HOUR = 10_000_000
_CV_MAX_ROWS = 100_000
ENSEMBLE_NAME = "ensemble"
_ENSEMBLE_MARGIN = 1e-4
# What the result and the recipe say about the ensemble selection.
_ENSEMBLE_FACTS = ("adopted", "members", "weights", "score", "best_single")
# Refitting the ensemble (its members in parallel) may take this share of the budget longer
# than refitting the best model alone: the refit comes on top of the budget, so it must stay
# small beside it, yet leave room for a second forest under a ten-second budget (at 5 % the
# cap split electricity's forest-and-trees ensembles by timing noise).
_REFIT_SHARE = 0.1
# Distinct models an ensemble may hold: beyond a handful, each adds a refit and a prediction
# for a gain that ensemble selection rarely finds.
_MAX_MEMBERS = 5


@dataclass
class AutoMLResult:
    """What :func:`automl` found.

    Attributes
    ----------
    best
        The chosen model, refit on every row: a :class:`~modelcycle.learn.Candidate` whose
        recipe rebuilds it (``pipeline_from_recipe``), ready for :func:`modelcycle.register`.
    leaderboard
        Every trial as a candidate (the ensemble too, when one was built), best first.
    trials
        Every trial in the order it started, with its configuration, status and timings.
    ensemble
        The ensemble selection: members, weights, its validation score and the best single
        model's, and whether it was adopted (``None`` when ensembling was off or impossible).
    search_seconds, refit_seconds
        Wall time of the search (from the call, including setup and ensemble selection) and
        of the final refit on all rows, which comes on top of the budget.
    """

    best: Candidate
    leaderboard: Leaderboard
    trials: list[Trial]
    metric: str
    task: Task
    budget: float
    validation: dict[str, Any]
    search_seconds: float
    refit_seconds: float
    ensemble: dict[str, Any] | None = None
    experiment_id: str | None = None
    run_id: str | None = None
    table: Table | None = field(default=None, repr=False)

    def to_frame(self) -> pd.DataFrame:
        """One row per trial: number, family, status, score, timings and its configuration."""
        rows = []
        for t in self.trials:
            rows.append(
                {
                    "trial": t.number,
                    "family": t.family,
                    "status": t.status,
                    self.metric: t.score,
                    "started_s": t.started,
                    "seconds": t.seconds,
                    "steps": t.steps,
                    "train_rows": t.train_rows,
                    "warm_start": t.warm_start,
                    "params": t.config.get("params", {}),
                    "preprocessing": t.config.get("preprocessing", {}),
                }
            )
        return pd.DataFrame(rows)

    def history(self) -> pd.DataFrame:
        """The best score so far against time: one row per trial that improved it."""
        rows = []
        best = math.nan
        for t in sorted(self.trials, key=lambda t: t.finished):
            if t.ok and is_better(self.metric, t.score, best):
                best = t.score
                rows.append({"seconds": t.finished, "best": best, "trial": t.name})
        return pd.DataFrame(rows, columns=["seconds", "best", "trial"])

    def best_per_family(self) -> pd.DataFrame:
        """Each family's best finished trial: its score, trial counts and configuration."""
        rows = []
        for family in dict.fromkeys(t.family for t in self.trials):
            tried = [t for t in self.trials if t.family == family]
            done = [t for t in tried if t.ok and math.isfinite(t.score)]
            top = max(done, key=lambda t: _signed(self.metric, t.score)) if done else None
            rows.append(
                {
                    "family": family,
                    "trials": len(tried),
                    "finished": len(done),
                    "pruned": sum(t.status == "pruned" for t in tried),
                    f"best {self.metric}": top.score if top else math.nan,
                    "best trial": top.name if top else None,
                    "params": top.config["params"] if top else None,
                    "preprocessing": top.config.get("preprocessing") if top else None,
                }
            )
        frame = pd.DataFrame(rows)
        return frame.sort_values(
            f"best {self.metric}", ascending=not METRICS[self.metric].greater_is_better
        ).reset_index(drop=True)

    def summary(self) -> dict[str, Any]:
        """JSON-safe facts of the session (what the CLI prints with ``--json``)."""
        counts = pd.Series([t.status for t in self.trials]).value_counts().to_dict()
        return {
            "task": str(self.task),
            "metric": self.metric,
            "budget_s": self.budget,
            "search_s": round(self.search_seconds, 3),
            "refit_s": round(self.refit_seconds, 3),
            "validation": self.validation,
            "trials": len(self.trials),
            "statuses": {str(k): int(v) for k, v in counts.items()},
            "best": {
                "name": self.best.name,
                "family": self.best.recipe["family"],
                self.metric: self.best.metrics.get(self.metric),
                "run_id": self.best.run_id,
            },
            "ensemble": self.ensemble,
            "experiment_id": self.experiment_id,
            "run_id": self.run_id,
        }


def _signed(metric: str, value: float) -> float:
    return value if METRICS[metric].greater_is_better else -value


def automl(
    table: Table | pd.DataFrame | str | Path,
    target: str | None = None,
    *,
    budget: float = 60.0,
    metric: str | None = None,
    validation: str | Validation | Table | None = "auto",
    families: Sequence[str] | None = None,
    ensemble: bool = True,
    n_jobs: int | None = None,
    max_trials: int | None = None,
    random_state: int = 0,
    tracking: bool = True,
    experiment: str | None = None,
    tracking_uri: str | None = None,
    progress: Callable[[SearchProgress], None] | None = None,
    executor: TrialExecutor | None = None,
) -> AutoMLResult:
    """Design a model for ``target`` within ``budget`` seconds: choose the family, its
    hyperparameters and its feature engineering, optionally ensemble the best, and refit.

    The search evaluates a portfolio of strong defaults first, then samples configurations
    with Optuna's TPE over LightGBM, random forests, extremely randomised trees, histogram
    gradient boosting, a linear model and k nearest neighbours, stopping weak trials early by
    successive halving over folds or sample sizes. With ``ensemble`` the best trials' validation
    predictions are combined by greedy ensemble selection, kept only if the ensemble beats the
    best single model. See ``docs/automl.md``.

    Parameters
    ----------
    table
        A :class:`~modelcycle.data.Table`, a DataFrame or a CSV/Parquet path.
    target
        The column to learn (the table's own target when ``None``).
    budget
        Seconds the search may take, from this call until the final refit starts. The search
        stops within it (steps still running at the deadline are stopped); the refit of the
        chosen model on all rows comes on top and is reported as ``refit_seconds``.
    metric
        What the search optimises; the task's default (``roc_auc``, ``accuracy``, ``rmse``)
        when ``None``.
    validation
        ``"auto"`` (5-fold cross-validation when the table is small for the budget, a 20 %
        holdout otherwise, FLAML's rule), ``"kfold:K"``, ``"holdout:F"``, ``"time:K"`` or a
        separate test table.
    families
        The model families to search (default: all of the task's).
    ensemble
        Try an ensemble of the best trials; it is chosen only when it validates better.
    n_jobs
        Steps run at once, each in its own single-threaded process (default: the cores).
    max_trials
        Stop after this many trials even if time is left. With ``n_jobs=1`` and a budget
        that does not cut trials short, the same seed gives the same trials.
    random_state
        Seeds the splits, the sampler and every model.
    tracking
        Log the session as MLflow runs: a parent run and a nested run per trial.
    experiment
        The MLflow experiment (derived from the data and target when ``None``).
    tracking_uri
        The MLflow tracking store (the configured one when ``None``).
    progress
        Called with a :class:`SearchProgress` several times a second.
    executor
        Where trial steps run (default: :class:`LocalExecutor` with ``n_jobs`` processes).

    Returns
    -------
    AutoMLResult
        ``best`` is the refit model as a Candidate; ``leaderboard`` ranks every trial.

    Raises
    ------
    ParameterError
        A budget that is not a positive number of seconds, a metric that does not fit the task,
        an unknown family, or a bad ``n_jobs`` or ``max_trials``.
    LearnError
        Every trial failed (or none finished within the budget).

    Examples
    --------
    >>> import modelcycle as mc
    >>> result = mc.automl("adult.csv", target="income", budget=60)  # doctest: +SKIP
    >>> result.best.name, round(result.best.metrics["roc_auc"], 3)  # doctest: +SKIP
    ('ensemble', 0.929)
    >>> mc.register(result.best, "income")  # doctest: +SKIP
    """
    started = time.perf_counter()
    _check_numbers(budget, n_jobs, max_trials)
    table = _load(table, target)
    metric = check_metric(metric or default_metric(table.task), table.task, owner="automl").name
    resolved = _validation(validation, table, float(budget))
    chosen = resolve_families(table.task, families, len(table))
    runner = executor or LocalExecutor(n_jobs or os.cpu_count() or 1)
    if isinstance(runner, LocalExecutor):
        runner.prestart()
    data = TrialData.build(table, resolved, random_state)
    ctx = SpaceContext.of(table, data.train_rows)
    jobs = runner.capacity
    settings = {
        "budget": float(budget),
        "metric": metric,
        "validation": resolved.describe(),
        "families": chosen,
        "ensemble": bool(ensemble),
        "n_jobs": jobs,
        "max_trials": max_trials,
        "random_state": random_state,
    }
    base_recipe = make_recipe(
        chosen[0], {}, table, resolved, random_state, source="automl", extra={"automl": settings}
    )
    tracker = (
        SessionTracker(
            tracking_uri,
            experiment or _experiment_name(table),
            {
                "modelcycle.kind": "automl",
                "modelcycle.task": str(table.task),
                "modelcycle.target": str(table.target),
                "modelcycle.metric": metric,
            },
            settings,
        )
        if tracking
        else None
    )
    search = Search(
        data,
        ctx,
        chosen,
        metric,
        budget=float(budget),
        max_trials=max_trials,
        executor=runner,
        random_state=random_state,
        on_trial=(lambda t: tracker.log(_trial_run(t, base_recipe))) if tracker else None,
        progress=progress,
    )
    try:
        trials = search.run(started)
    except BaseException:
        if tracker is not None:
            with contextlib.suppress(Exception):  # the search's error is the one to see
                tracker.finish()
        raise
    best = search.best()
    if best is None:
        runner.close()
        if tracker is not None:
            tracker.finish()
        reasons = "; ".join(f"{t.name}: {t.status} {t.error or ''}".strip() for t in trials[:5])
        raise LearnError(
            f"No AutoML trial finished within the budget of {budget:g} s, so there is no model. "
            f"Give it a larger budget. {reasons}"
        )
    selection = _ensemble(search, data, metric, table) if ensemble else None
    scale = len(table) / max(1, data.train_rows)
    members, weights, costs = (
        (selection["configs"], selection["weights"], selection["costs"])
        if selection and selection["adopted"]
        else ([best.config], [1.0], [best.full_fit_seconds * scale])
    )
    search_seconds = time.perf_counter() - started

    refit_start = time.perf_counter()
    pipeline, size = _refit(runner, data, members, weights, costs, table)
    refit_seconds = time.perf_counter() - refit_start

    candidates = [_candidate(t, _trial_recipe(base_recipe, t.config), table) for t in trials]
    if selection and selection["adopted"]:
        final = _ensemble_candidate(selection, base_recipe, table, data, search)
        candidates.append(final)
    else:
        final = next(c for c in candidates if c.name == best.name)
        if best.predictions is not None:
            final.oof = _oof_frame(
                best.predictions, data.y_valid(), data.chunk_sizes(), table.schema.classes
            )
    final.pipeline, final.size_bytes = pipeline, size
    if tracker is not None:
        tracker.log(_final_run(final, refit_seconds))
        tracker.finish()
        by_name = {t.name: t.run_id for t in trials}
        for candidate in candidates:
            candidate.run_id = candidate.run_id or by_name.get(candidate.name)
    board = Leaderboard(candidates, metric)
    summary = None
    if selection is not None:
        summary = {k: v for k, v in selection.items() if k in _ENSEMBLE_FACTS}
    return AutoMLResult(
        best=final,
        leaderboard=board,
        trials=trials,
        metric=metric,
        task=table.task,
        budget=float(budget),
        validation=resolved.describe(),
        search_seconds=search_seconds,
        refit_seconds=refit_seconds,
        ensemble=summary,
        experiment_id=tracker.experiment_id if tracker else None,
        run_id=tracker.parent_run_id if tracker else None,
        table=table,
    )


# -- arguments ------------------------------------------------------------------------------


def _check_numbers(budget: Any, n_jobs: Any, max_trials: Any) -> None:
    if (
        isinstance(budget, bool)
        or not isinstance(budget, int | float)
        or not math.isfinite(budget)
        or budget <= 0
    ):
        raise ParameterError("budget", "automl", "a positive number of seconds", budget)
    if n_jobs is not None and (
        not isinstance(n_jobs, int) or isinstance(n_jobs, bool) or n_jobs < 1
    ):
        raise ParameterError("n_jobs", "automl", "a positive integer or None", n_jobs)
    if max_trials is not None and (
        not isinstance(max_trials, int) or isinstance(max_trials, bool) or max_trials < 1
    ):
        raise ParameterError("max_trials", "automl", "a positive integer or None", max_trials)


def _load(table: Table | pd.DataFrame | str | Path, target: str | None) -> Table:
    if isinstance(table, Table) and (target is None or target == table.target):
        loaded = table
    else:
        loaded = load_table(table, target=target)
    if loaded.target is None:
        raise ParameterError(
            "target", "automl", "the column to learn (AutoML needs a target)", target
        )
    return loaded


def _validation(spec: str | Validation | Table | None, table: Table, budget: float) -> Validation:
    if spec is None or (isinstance(spec, str) and spec.strip().lower() == "auto"):
        cells = len(table) * max(1, len(table.schema.features)) / 0.9
        if cells < _CELLS_PER_HOUR * budget / 3600 and len(table) < _CV_MAX_ROWS:
            return Validation("kfold", n_splits=5)
        return Validation("holdout", fraction=0.2)
    validation = Validation.parse(spec)
    if validation.test is None:
        return validation
    # The test table is read with the training schema so both are encoded alike.
    columns = list(table.frame.columns)
    missing = [c for c in columns if c not in validation.test.frame.columns]
    if missing:
        raise ColumnNotFoundError(missing[0], validation.test.frame.columns, role="test column")
    return Validation(kind="test", test=table.with_frame(validation.test.frame[columns]))


def _experiment_name(table: Table) -> str:
    stem = Path(table.source).stem if table.source else "table"
    return f"automl-{stem}-{table.target}"


# -- recipes, candidates, runs ----------------------------------------------------------------


def _trial_recipe(base: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's recipe: the session's base recipe with this configuration as its pipeline."""
    spec = get_spec(config["family"], base["task"])
    return {
        **base,
        "family": config["family"],
        "params": dict(config["params"]),
        "preprocessing": {**spec.preprocessing, **(config.get("preprocessing") or {})},
        "pipeline": {"members": [dict(config)], "weights": [1.0]},
    }


def _candidate(trial: Trial, recipe: dict[str, Any], table: Table) -> Candidate:
    label = f"{get_spec(trial.family, table.task).label} (trial {trial.number})"
    return Candidate(
        trial.name,
        label,
        trial.status,
        recipe,
        table,
        metrics=dict(trial.metrics),
        metrics_std=dict(trial.metrics_std),
        fit_seconds=trial.fit_seconds / max(1, trial.steps),
        predict_rows_per_second=trial.predict_rows_per_second,
        size_bytes=trial.size_bytes,
        error=trial.error,
        run_id=trial.run_id,
    )


def _trial_run(trial: Trial, base: Mapping[str, Any]) -> RunRecord:
    metrics = {**trial.metrics, **{f"{k}_std": v for k, v in trial.metrics_std.items()}}
    metrics.update(
        seconds=trial.seconds,
        started_seconds=trial.started,
        fit_seconds=trial.fit_seconds,
        steps=float(trial.steps),
        train_rows=float(trial.train_rows),
    )
    tags: dict[str, Any] = {
        "modelcycle.kind": "automl-trial",
        "modelcycle.family": trial.family,
        "modelcycle.status": trial.status,
        "modelcycle.trial": trial.number,
        "modelcycle.warm_start": trial.warm_start,
    }
    if trial.error:
        tags["modelcycle.error"] = trial.error[:4000]
    return RunRecord(
        trial.name,
        {"family": trial.family, **trial.config["params"], **trial.config.get("preprocessing", {})},
        metrics,
        _trial_recipe(base, trial.config),
        tags,
        {},
        lambda run_id: setattr(trial, "run_id", run_id),
    )


def _final_run(candidate: Candidate, refit_seconds: float) -> RunRecord:
    metrics = {**candidate.metrics, **{f"{k}_std": v for k, v in candidate.metrics_std.items()}}
    metrics.update(refit_seconds=refit_seconds, size_bytes=float(candidate.size_bytes))
    artifacts: dict[str, str | bytes] = {}
    if candidate.oof is not None and not candidate.oof.empty:
        buffer = io.BytesIO()
        candidate.oof.to_parquet(buffer, index=False)
        artifacts["oof_predictions.parquet"] = buffer.getvalue()
    return RunRecord(
        f"best: {candidate.name}",
        candidate.recipe["params"],
        metrics,
        candidate.recipe,
        {"modelcycle.kind": "automl-best", "modelcycle.family": candidate.recipe["family"]},
        artifacts,
        lambda run_id: setattr(candidate, "run_id", run_id),
    )


# -- ensemble and refit ------------------------------------------------------------------------


def _ensemble(search: Search, data: TrialData, metric: str, table: Table) -> dict[str, Any] | None:
    """Greedy ensemble selection over the library of kept predictions; ``None`` if there is
    nothing to combine."""
    library = sorted(
        (t for t in search.trials if t.ok and t.predictions is not None), key=search.sort_key
    )
    if len(library) < 2:
        return None
    y = data.y_valid()
    chunks = data.chunk_sizes()
    classes = table.schema.classes
    preds = [t.predictions for t in library if t.predictions is not None]
    # What refitting each on every row costs, from its fits on (fewer) training rows; the
    # ensemble may cost at most a share of the budget (in core-seconds) beyond its best model.
    scale = len(table) / max(1, data.train_rows)
    costs = [t.full_fit_seconds * scale for t in library]
    cap = costs[0] + _REFIT_SHARE * search.budget
    chosen = select_ensemble(
        preds,
        y,
        chunks,
        table.task,
        metric,
        classes,
        costs=costs,
        max_cost=cap,
        workers=search.executor.capacity,
        max_members=_MAX_MEMBERS,
    )
    single = library[0].score
    # An ensemble costs a refit and a prediction per member: it must win by a margin that
    # is more than rounding (a relative 1e-4), not merely tie.
    margin = _ENSEMBLE_MARGIN * max(abs(single), 1e-12)
    target = single + margin if METRICS[metric].greater_is_better else single - margin
    adopted = len(chosen.members) > 1 and is_better(metric, chosen.score, target)
    return {
        "adopted": bool(adopted),
        "members": [library[i].name for i in chosen.members],
        "weights": list(chosen.weights),
        "score": chosen.score,
        "best_single": single,
        "configs": [library[i].config for i in chosen.members],
        "costs": [costs[i] for i in chosen.members],
        "predictions": [library[i].predictions for i in chosen.members],
    }


def _ensemble_candidate(
    selection: dict[str, Any],
    base: Mapping[str, Any],
    table: Table,
    data: TrialData,
    search: Search,
) -> Candidate:
    configs, weights = selection["configs"], selection["weights"]
    names = [member_name(i, c) for i, c in enumerate(configs)]
    recipe = {
        **base,
        "family": ENSEMBLE_NAME,
        "params": {"members": names, "weights": weights},
        "preprocessing": {
            n: c.get("preprocessing", {}) for n, c in zip(names, configs, strict=True)
        },
        "pipeline": {"members": [dict(c) for c in configs], "weights": list(weights)},
        "ensemble": {k: v for k, v in selection.items() if k in _ENSEMBLE_FACTS},
    }
    pooled = sum(w * p for w, p in zip(weights, selection["predictions"], strict=True))
    y, chunks, classes = data.y_valid(), data.chunk_sizes(), table.schema.classes
    per_fold = [
        _all_metrics(pooled[a:b], y[a:b], table, classes)
        for a, b in zip(np.cumsum([0, *chunks[:-1]]), np.cumsum(chunks), strict=True)
    ]
    frame = pd.DataFrame(per_fold)
    members = [t for t in search.trials if t.name in selection["members"]]
    candidate = Candidate(
        ENSEMBLE_NAME,
        f"Ensemble of {len(configs)} models",
        "ok",
        recipe,
        table,
        metrics={str(m): float(frame[m].mean()) for m in frame},
        metrics_std={str(m): float(frame[m].std(ddof=0)) for m in frame},
        fit_seconds=float(sum(t.fit_seconds / max(1, t.steps) for t in members)),
        predict_rows_per_second=1.0
        / max(sum(1.0 / t.predict_rows_per_second for t in members), 1e-12),
    )
    candidate.oof = _oof_frame(pooled, y, chunks, classes)
    return candidate


def _all_metrics(
    pred: np.ndarray, y: np.ndarray, table: Table, classes: tuple[Any, ...]
) -> dict[str, float]:
    if classes:
        labels = class_labels(classes)[pred.argmax(axis=1)]
        return score(table.task, y, labels, pred, classes)
    return score(table.task, y, pred)


def _oof_frame(
    pred: np.ndarray, y: np.ndarray, chunks: Sequence[int], classes: tuple[Any, ...]
) -> pd.DataFrame:
    """Pooled validation predictions in the Learner's layout (fold, actual, prediction,
    proba_<class>), which its assessment plots read."""
    fold = np.repeat(np.arange(len(chunks)), chunks)
    frame = pd.DataFrame({"fold": fold, "actual": y})
    if classes:
        frame["prediction"] = class_labels(classes)[pred.argmax(axis=1)]
        for j, label in enumerate(classes):
            frame[f"proba_{label}"] = pred[:, j]
    else:
        frame["prediction"] = pred
    return frame


def _refit(
    executor: TrialExecutor,
    data: TrialData,
    members: Sequence[Mapping[str, Any]],
    weights: Sequence[float],
    costs: Sequence[float],
    table: Table,
) -> tuple[Any, int]:
    """Fit the chosen model on every row: each member in its own job, in parallel, on the
    search's workers (which hold the data already), the costliest first; a forest refit alone
    grows its trees on every core. Closes the executor. Returns the model and its size."""
    fitted: dict[int, tuple[Any, int]] = {}
    try:
        pending = sorted(enumerate(members), key=lambda item: -costs[item[0]])
        while pending or executor.running():
            while pending and executor.running() < executor.capacity:
                index, config = pending.pop(0)
                alone = len(members) == 1 and config["family"] in FORESTS
                threads = executor.capacity if alone else 1
                executor.submit(str(index), fit_member, (config, threads), None)
            for result in executor.poll(1.0):
                if result.status != "ok":
                    raise LearnError(
                        f"Refitting the chosen model on all rows failed: {result.error}"
                    )
                fitted[int(result.key)] = result.value
    finally:
        executor.close()
    ordered = [fitted[i][0] for i in range(len(members))]
    size = sum(fitted[i][1] for i in range(len(members)))
    if len(members) == 1:
        return ordered[0], size
    pipeline = assemble_ensemble(
        table.schema, members, weights, ordered, table.y, data.random_state
    )
    return pipeline, size
