"""The search loop: ask Optuna for configurations, run their steps on an executor, prune weak
trials between steps, stop at the deadline.

It solves the combined algorithm selection and hyperparameter optimisation problem (CASH:
Thornton et al., Auto-WEKA, 2013) with one Optuna study whose first parameter is the family
and whose other parameters are conditional on it, sampled by TPE (Bergstra et al. 2011) in its
multivariate, grouped form. Three ideas from FLAML (Wang et al., MLSys 2021) shape the rest:

* cheap, strong configurations first: the warm-start portfolio runs before any sampled trial,
  so a ten-second budget already returns a good model;
* cost-aware growth: each trial is a sequence of steps of growing cost (folds, or samples of
  1/9, 1/3 and all of the rows) and successive halving (ASHA) stops the weak ones after the
  cheap steps; forests grow as many trees as their time allows, boosting stops early;
* the budget is a deadline: a step gets at most a share of it, and whatever still runs at the
  deadline is stopped.

With one job at a time the sequence of trials depends only on the seed, as long as no step is
stopped by a time limit (so ``max_trials`` with a generous budget is reproducible).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from modelcycle.automl._executor import TrialExecutor
from modelcycle.automl._space import EARLY_STOPPED, FORESTS, SpaceContext, portfolio, suggest
from modelcycle.automl._trial import ETA, StepOutcome, TrialData, run_step
from modelcycle.config import import_optional
from modelcycle.learn import METRICS
from modelcycle.learn._parallel import JobResult

logger = logging.getLogger(__name__)

# One trial may use at most this share of the budget (its steps get their part of it), so a
# slow configuration cannot eat the whole search...
TRIAL_SHARE = 0.35
# ...but every step gets at least this long (process overhead, a first forest of 32 trees).
MIN_STEP_SECONDS = 2.0
# A forest grows trees for at most this share of the budget (its steps their part of it): a
# forest costs as much to refit on every row as to grow, and the refit comes after the budget.
FOREST_SHARE = 0.15
# ...but under a budget so short that this share buys only a few dozen trees, forests grow as
# long as other steps: their trees are what tight budgets lack most (a 300-tree forest beats
# a one-minute FLAML search on two of the benchmark's tables), and their refit stays short.
FOREST_FLOOR_SECONDS = 3.0
# A step is told to finish its fit within this share of its time (forests then stop growing,
# boosting stops adding rounds), leaving the rest for predicting and returning. Only a step
# that ignores it (a slow kNN, a linear model that does not converge) is stopped, and only past
# its time by this factor plus a second: a kill throws the whole step away.
_ALLOWANCE = 0.8
_KILL_FACTOR = 1.5
# Validation predictions are kept for the best trials only (ensemble selection's library).
LIBRARY_SIZE = 20
# How often the loop wakes up to report progress when nothing finishes.
_TICK = 0.25
# A family whose first trials all failed is not tried again; proposals of it are skipped
# (at most this many in a row, so the loop never spins).
_BROKEN_AFTER = 3
_SKIPS = 20


@dataclass
class Trial:
    """One configuration the search tried.

    ``status`` is ``"ok"`` (every step ran), ``"pruned"`` (stopped by successive halving after
    a cheap step), ``"failed"`` (the fit raised) or ``"timeout"`` (stopped at its time limit or
    at the end of the budget). ``score`` is the search metric at the most expensive step it
    reached: the mean over the folds it ran, or the validation score of its largest sample.
    ``started`` and ``finished`` are seconds since the search began.
    """

    number: int
    family: str
    config: dict[str, Any]
    warm_start: bool
    status: str = "running"
    started: float = 0.0
    finished: float = math.nan
    score: float = math.nan
    metrics: dict[str, float] = field(default_factory=dict)
    metrics_std: dict[str, float] = field(default_factory=dict)
    steps: int = 0
    train_rows: int = 0
    fit_seconds: float = 0.0
    full_fit_seconds: float = math.nan
    predict_rows_per_second: float = math.nan
    size_bytes: int = 0
    error: str | None = None
    run_id: str | None = None
    predictions: np.ndarray | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """``family#number``: unique within a search."""
        return f"{self.family}#{self.number}"

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def seconds(self) -> float:
        return self.finished - self.started


@dataclass(frozen=True)
class SearchProgress:
    """Where the search stands, for a progress bar."""

    elapsed: float
    budget: float
    finished: int
    running: int
    best_score: float
    best: str | None
    trial: Trial | None = None


@dataclass
class _Active:
    trial: Any
    record: Trial
    plan: list[int]
    parallel: bool
    outcomes: dict[int, StepOutcome] = field(default_factory=dict)
    submitted: int = 0
    inflight: int = 0
    max_trees: int | None = None

    def waiting(self) -> bool:
        """Whether a step of this trial can be submitted now."""
        return self.submitted < len(self.plan) and (self.parallel or self.inflight == 0)

    def ordered(self) -> list[StepOutcome]:
        return [self.outcomes[i] for i in self.plan if i in self.outcomes]


@contextlib.contextmanager
def _quiet(optuna: Any) -> Iterator[None]:
    """Optuna logs a line per trial at INFO: silence it for the search, then restore it."""
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(previous)


class Search:
    """One AutoML search over ``families`` on ``data`` (see the module's docstring)."""

    def __init__(
        self,
        data: TrialData,
        ctx: SpaceContext,
        families: Sequence[str],
        metric: str,
        *,
        budget: float,
        max_trials: int | None,
        executor: TrialExecutor,
        random_state: int,
        on_trial: Callable[[Trial], None] | None = None,
        progress: Callable[[SearchProgress], None] | None = None,
    ) -> None:
        self.data = data
        self.ctx = ctx
        self.families = list(families)
        self.metric = metric
        self.budget = budget
        self.max_trials = max_trials
        self.executor = executor
        self.random_state = random_state
        self.on_trial = on_trial
        self.progress = progress
        self.trials: list[Trial] = []
        self._active: dict[int, _Active] = {}
        self._greater = METRICS[metric].greater_is_better

    # -- the loop ---------------------------------------------------------------------------

    def run(self, started: float) -> list[Trial]:
        """Search until ``started + budget`` (``time.perf_counter()`` seconds) or until
        ``max_trials`` have finished; returns every trial in the order they were started.

        If no trial has finished by the deadline (a budget of a few seconds on a busy
        machine), the trials under way get to finish their steps, quickly, until one has: a
        search always returns a model. The executor is left started (its idle workers can
        refit the chosen model); the caller closes it."""
        optuna = import_optional("optuna", feature="AutoML", extra="automl")
        self._t0 = started
        deadline = started + self.budget
        with _quiet(optuna):
            study = self._study(optuna)
            self.executor.start(self.data)
            try:
                self._loop(study, optuna, deadline)
                for result in self.executor.cancel():
                    self._on_result(study, optuna, result, deadline, closing=True)
                for active in list(self._active.values()):
                    self._finish(
                        study, optuna, active, "timeout", "stopped at the end of the budget"
                    )
            except BaseException:
                self.executor.close()
                raise
        return sorted(self.trials, key=lambda t: t.number)

    def _loop(self, study: Any, optuna: Any, deadline: float) -> None:
        while True:
            now = time.perf_counter()
            overtime = now >= deadline
            if overtime and (self.best() is not None or not self._active):
                return
            while self.executor.running() < self.executor.capacity:
                waiting = next((a for a in self._active.values() if a.waiting()), None)
                if waiting is not None:
                    self._submit(waiting, deadline)
                elif not (
                    self._may_start()
                    and time.perf_counter() < deadline
                    and self._start(study, optuna, deadline)
                ):
                    break
            if not self._active:
                return
            wait = _TICK if overtime else min(_TICK, max(0.0, deadline - now))
            for result in self.executor.poll(wait):
                self._on_result(study, optuna, result, deadline)
            self._report()

    def _study(self, optuna: Any) -> Any:
        warm = portfolio(self.ctx.task, self.families, self.ctx)
        self._n_warm = len(warm)
        with warnings.catch_warnings():
            # Multivariate, grouped TPE is marked experimental; it is what conditional spaces need.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.TPESampler(
                seed=self.random_state,
                multivariate=True,
                group=True,
                n_startup_trials=max(self._n_warm, 5),
                constant_liar=True,
            )
        study = optuna.create_study(
            direction="maximize" if self._greater else "minimize",
            sampler=sampler,
            pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=ETA),
        )
        for params in warm:
            study.enqueue_trial(params)
        return study

    def _may_start(self) -> bool:
        return self.max_trials is None or len(self.trials) < self.max_trials

    def _broken(self, family: str) -> bool:
        """A family that failed every time it ran, several times: trying again is waste (the
        sampler learns nothing from failures, so it would keep proposing it)."""
        tried = [t for t in self.trials if t.family == family and t.status != "running"]
        return len(tried) >= _BROKEN_AFTER and all(t.status == "failed" for t in tried)

    def _start(self, study: Any, optuna: Any, deadline: float) -> bool:
        """Ask for a trial and submit its first step; ``False`` if every proposal was of a
        broken family."""
        for _ in range(_SKIPS):
            trial = study.ask()
            with warnings.catch_warnings():
                # An enqueued default outside a range (tiny tables) is used as given.
                warnings.simplefilter("ignore", UserWarning)
                config = suggest(trial, self.families, self.ctx)
            if not self._broken(config["family"]):
                break
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            return False
        warm = trial.number < self._n_warm
        full = self.data.full_steps()
        # Warm starts are strong by construction: they skip the cheap samples, and since they
        # are never pruned their folds may run at once (a first model arrives sooner).
        plan = full if warm else list(range(len(self.data.steps)))
        record = Trial(
            trial.number,
            config["family"],
            config,
            warm,
            started=time.perf_counter() - self._t0,
        )
        self.trials.append(record)
        active = _Active(trial, record, plan, parallel=warm)
        self._active[trial.number] = active
        self._submit(active, deadline)
        return True

    def _submit(self, active: _Active, deadline: float) -> None:
        index = active.plan[active.submitted]
        active.submitted += 1
        active.inflight += 1
        step = self.data.steps[index]
        full_rows = self.data.train_rows
        # A fold gets its part of the trial's time; a sample more than its share of the rows,
        # since preprocessing, predicting the whole validation split and starting cost the
        # same at any sample size.
        share = (
            1.0 / len(self.data.folds)
            if self.data.is_cross_validated
            else math.sqrt((step.rows or full_rows) / full_rows)
        )
        remaining = deadline - time.perf_counter()
        if remaining <= 0:  # past the deadline with no model yet: as quick as can be
            limit = kill = MIN_STEP_SECONDS
        else:
            limit = min(remaining, max(MIN_STEP_SECONDS, TRIAL_SHARE * self.budget * share))
            kill = min(remaining, _KILL_FACTOR * limit + 1.0)
        self.executor.submit(
            f"{active.record.number}:{index}",
            run_step,
            (active.record.config, index, self._allowance(active, limit, share), active.max_trees),
            kill,
        )

    def _allowance(self, active: _Active, limit: float, share: float) -> float:
        """Seconds the step's fit may take (``run_step``'s ``allowance``)."""
        allowance = _ALLOWANCE * limit
        if active.record.family in FORESTS:
            cap = max(FOREST_FLOOR_SECONDS, FOREST_SHARE * self.budget)
            allowance = min(allowance, cap * share)
        return allowance

    # -- results ----------------------------------------------------------------------------

    def _on_result(
        self,
        study: Any,
        optuna: Any,
        result: JobResult,
        deadline: float,
        *,
        closing: bool = False,
    ) -> None:
        number, index = (int(part) for part in result.key.split(":"))
        active = self._active.get(number)
        if active is None:
            return  # a fold of a trial that already failed
        active.inflight -= 1
        if result.status != "ok":
            self._finish(study, optuna, active, result.status, error=result.error)
            return
        outcome: StepOutcome = result.value
        active.outcomes[index] = outcome
        if self.data.is_cross_validated and active.record.family in FORESTS:
            # Later folds grow no more trees than the first, so every fold has as many.
            active.max_trees = min(active.max_trees or outcome.rounds or 0, outcome.rounds or 0)
        if len(active.outcomes) == len(active.plan):
            self._report_steps(active)
            value = self._value(active)
            if math.isfinite(value):
                self._finish(study, optuna, active, "ok")
            else:
                self._finish(study, optuna, active, "failed", f"{self.metric} is undefined")
        elif active.parallel:
            if closing:
                self._finish(study, optuna, active, "timeout", "stopped at the end of the budget")
        else:
            value = self._value(active)
            if not math.isfinite(value):
                self._finish(study, optuna, active, "failed", f"{self.metric} is undefined")
                return
            active.trial.report(value, self.data.steps[index].resource)
            if active.trial.should_prune():
                self._finish(study, optuna, active, "pruned")
            elif closing:
                self._finish(study, optuna, active, "timeout", "stopped at the end of the budget")

    def _report_steps(self, active: _Active) -> None:
        """Report a finished trial's steps in order (a warm start's folds ran at once): its
        scores join the pruner's rungs."""
        if not active.parallel:
            return
        for k in range(1, len(active.plan) + 1):
            done = [active.outcomes[i] for i in active.plan[:k]]
            scored = done if self.data.is_cross_validated else done[-1:]
            value = float(np.mean([o.metrics.get(self.metric, math.nan) for o in scored]))
            if math.isfinite(value):
                active.trial.report(value, self.data.steps[active.plan[k - 1]].resource)

    def _value(self, active: _Active) -> float:
        """The metric the pruner and the sampler see: the mean over the folds run so far, or
        the score of the latest (largest) sample."""
        scores = [o.metrics.get(self.metric, math.nan) for o in self._scored(active)]
        return float(np.mean(scores)) if scores else math.nan

    def _scored(self, active: _Active) -> list[StepOutcome]:
        done = active.ordered()
        return done if self.data.is_cross_validated else done[-1:]

    def _finish(
        self, study: Any, optuna: Any, active: _Active, status: str, error: str | None = None
    ) -> None:
        del self._active[active.record.number]
        record = active.record
        record.status, record.error = status, error
        record.finished = time.perf_counter() - self._t0
        record.steps = len(active.outcomes)
        scored = self._scored(active)
        if scored:
            frame = pd.DataFrame([o.metrics for o in scored])
            record.metrics = {str(m): float(frame[m].mean()) for m in frame}
            record.metrics_std = {str(m): float(frame[m].std(ddof=0)) for m in frame}
            record.score = record.metrics.get(self.metric, math.nan)
            record.train_rows = scored[-1].train_rows
            record.fit_seconds = float(sum(o.fit_seconds for o in active.outcomes.values()))
            record.full_fit_seconds = float(np.mean([o.fit_seconds for o in scored]))
            record.size_bytes = scored[-1].size_bytes
            rows = sum(len(o.predictions) for o in scored)
            seconds = sum(o.predict_seconds for o in scored)
            record.predict_rows_per_second = rows / max(seconds, 1e-9)
        if status == "ok":
            record.config = _resolved(record.config, scored)
            record.predictions = np.concatenate([o.predictions for o in scored])
            study.tell(active.trial, record.score)
            self._keep_library()
        elif status == "pruned" or active.outcomes:
            # A trial stopped after some steps tells the sampler what it reached (its last
            # reported value), which a failure would not.
            study.tell(active.trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(active.trial, state=optuna.trial.TrialState.FAIL)
        if status != "ok":
            logger.debug("trial %s %s: %s", record.name, status, error)
        if self.on_trial is not None:
            self.on_trial(record)
        self._report(record)

    def _keep_library(self) -> None:
        """Keep validation predictions of the best trials, and of the best of each family
        (diversity is what ensembles gain from); drop the rest to bound memory."""
        kept = [t for t in self.trials if t.predictions is not None]
        if len(kept) <= LIBRARY_SIZE:
            return
        ranked = sorted(kept, key=self.sort_key)
        keep = {t.number for t in ranked[:LIBRARY_SIZE]}
        for family in {t.family for t in ranked}:
            keep.add(next(t.number for t in ranked if t.family == family))
        for t in kept:
            if t.number not in keep:
                t.predictions = None

    def sort_key(self, trial: Trial) -> tuple[int, float]:
        """Order of a leaderboard: finished trials by score, best first; the others after."""
        sign = -1.0 if self._greater else 1.0
        finite = trial.ok and math.isfinite(trial.score)
        return (0, sign * trial.score) if finite else (1, 0.0)

    def best(self) -> Trial | None:
        finished = [t for t in self.trials if t.ok and math.isfinite(t.score)]
        return min(finished, key=self.sort_key) if finished else None

    def _report(self, trial: Trial | None = None) -> None:
        if self.progress is None:
            return
        best = self.best()
        self.progress(
            SearchProgress(
                elapsed=time.perf_counter() - self._t0,
                budget=self.budget,
                finished=sum(t.status != "running" for t in self.trials),
                running=len(self._active),
                best_score=best.score if best else math.nan,
                best=best.name if best else None,
                trial=trial,
            )
        )


def _resolved(config: dict[str, Any], outcomes: Sequence[StepOutcome]) -> dict[str, Any]:
    """The configuration with the numbers of trees its steps settled on, so refitting it (on
    all rows, without an early-stopping split or a clock) gives the model that was scored."""
    family = config["family"]
    rounds = [o.rounds for o in outcomes if o.rounds is not None]
    if not rounds or (family not in EARLY_STOPPED and family not in FORESTS):
        return config
    params = dict(config["params"])
    if family in EARLY_STOPPED:
        params["n_estimators"] = max(1, round(float(np.mean(rounds))))
    else:
        params["n_estimators"] = int(min(rounds))
    return {**config, "params": params}
