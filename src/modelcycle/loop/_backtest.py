"""Backtesting a policy: replay a time-ordered labeled table through the loop on a simulated clock.

The model is trained on the first part; then, batch after batch, each strategy predicts the batch
(scored against its labels), the labels join the history, and the strategy may retrain. Three
strategies run side by side on the same batches: the static model, periodic retraining, and the
policy, which observes each batch (drift against its champion's reference profile, performance
from the labels), calls the same :meth:`Policy.decide` as ``loop run``, and sends challengers
through the same gate.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelcycle.data import Table, Validation, load_table, profile_table
from modelcycle.exceptions import ParameterError
from modelcycle.learn import make_recipe, score
from modelcycle.loop._gate import judge
from modelcycle.loop._policy import LoopState, Observation, Policy, load_policy, parse_duration
from modelcycle.loop._window import Window, apply_window, choose_window, fit_recipe, parse_window
from modelcycle.monitor import detect_drift

__all__ = ["BacktestResult", "backtest"]

logger = logging.getLogger(__name__)

STRATEGIES = ("static", "periodic", "policy")
_EPOCH = datetime(2000, 1, 1)


@dataclass
class BacktestResult:
    """What each strategy scored over the replay, how often it retrained, and the policy's reasons.

    Attributes
    ----------
    metric
        The metric reported (the policy's: accuracy, or R² for regression, by default).
    batches
        One row per report batch: ``start``, ``end``, ``rows``, then per strategy its score on
        the batch and how many times it retrained (``<strategy>_retrains``), fitted a
        model (``<strategy>_fits``: a policy's retrain fits a challenger per candidate
        window, and again when the gate refits) and put a new model in service
        (``<strategy>_promotions``) during it.
    overall
        Each strategy's metric over every replayed row at once.
    decisions
        The policy's decision at each step, taken or not, with its reasons (and the gate's
        verdict when it retrained).
    settings
        What was replayed and how.
    """

    metric: str
    batches: pd.DataFrame
    overall: dict[str, float] = field(default_factory=dict)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> pd.DataFrame:
        """Per strategy: mean and worst batch score, score over all rows, retrains, model fits
        and promotions."""
        rows = []
        for name in STRATEGIES:
            values = self.batches[name]
            rows.append(
                {
                    "strategy": name,
                    f"mean {self.metric}": float(values.mean()),
                    f"overall {self.metric}": self.overall.get(name, math.nan),
                    f"worst batch {self.metric}": float(values.min()),
                    "retrains": int(self.batches[f"{name}_retrains"].sum()),
                    "fits": int(self.batches[f"{name}_fits"].sum()),
                    "promotions": int(self.batches[f"{name}_promotions"].sum()),
                }
            )
        return pd.DataFrame(rows).set_index("strategy")

    def figure(self) -> Any:
        """Each strategy's score per batch over time, new models marked (a Plotly figure)."""
        import plotly.graph_objects as go

        fig = go.Figure()
        colours = {"static": "#9aa5b1", "periodic": "#1f77b4", "policy": "#c62828"}
        for name in STRATEGIES:
            mean = float(self.batches[name].mean())
            retrains = int(self.batches[f"{name}_retrains"].sum())
            fig.add_trace(
                go.Scatter(
                    x=self.batches["end"],
                    y=self.batches[name],
                    name=f"{name}: mean {mean:.4f}, {retrains} retrains",
                    mode="lines",
                    line={"color": colours[name]},
                )
            )
            marks = self.batches[self.batches[f"{name}_promotions"] > 0]
            if len(marks):
                fig.add_trace(
                    go.Scatter(
                        x=marks["end"],
                        y=marks[name],
                        mode="markers",
                        marker={"color": colours[name], "symbol": "triangle-up", "size": 7},
                        name=f"{name}: new model",
                        showlegend=False,
                    )
                )
        fig.update_layout(
            title=f"{self.metric} per batch: static model, periodic retraining, policy",
            xaxis_title="time",
            yaxis_title=self.metric,
            template="plotly_white",
        )
        return fig

    def to_html(self, path: str | Path) -> Path:
        """Write the table, the plot and the policy's decisions to one self-contained page."""
        from modelcycle.report import Section, write_page

        taken = [d for d in self.decisions if d["action"] != "none"]
        decisions = pd.DataFrame(
            [
                {
                    "time": d["at"],
                    "action": d["action"],
                    "outcome": d.get("outcome", ""),
                    "reasons": "; ".join(d["reasons"]),
                }
                for d in taken
            ]
        )
        return write_page(
            path,
            "Backtest of a retraining policy",
            [
                Section(
                    "Strategies", tables=[self.summary().reset_index()], figures=[self.figure()]
                ),
                Section(
                    "The policy's decisions other than 'none'",
                    tables=[decisions] if len(decisions) else [],
                ),
            ],
            subtitle=", ".join(f"{k}: {v}" for k, v in self.settings.items()),
        )

    def to_dict(self) -> dict[str, Any]:
        """The summary, settings and the policy's decisions other than 'none' (JSON-ready)."""
        summary = self.summary()
        return {
            "metric": self.metric,
            "settings": self.settings,
            "strategies": {
                name: {str(k): _plain(v) for k, v in summary.loc[name].items()}
                for name in STRATEGIES
            },
            "decisions": [d for d in self.decisions if d["action"] != "none"],
        }


@dataclass
class _Strategy:
    """One strategy during the replay: its champion and what the champions predicted."""

    pipeline: Any
    reference: dict[str, Any]
    predictions: np.ndarray
    since_row: int
    last_retrain: datetime
    retrains: list[int] = field(default_factory=list)
    fits: list[int] = field(default_factory=list)  # the row at each model fit
    promotions: list[int] = field(default_factory=list)
    previous: tuple[Any, dict[str, Any], int] | None = None
    served: int = 0  # rows before this one hold the serving champions' predictions

    def serve(self, table: Table, hi: int, ahead: int = 4096) -> None:
        """Predict up to row ``hi`` with the current champion.

        A model's predictions do not depend on labels, so a block ahead is predicted at once
        (far fewer calls); a new champion overwrites the rows it serves.
        """
        if hi <= self.served:
            return
        end = min(len(table), max(hi, self.served + ahead))
        rows = table.X.iloc[self.served : end]
        self.predictions[self.served : end] = np.asarray(self.pipeline.predict(rows))
        self.served = end

    def replace_champion(self, pipeline: Any, reference: dict[str, Any], row: int) -> None:
        self.previous = (self.pipeline, self.reference, self.since_row)
        self.pipeline, self.reference, self.since_row = pipeline, reference, row
        self.served = min(self.served, row)
        self.promotions.append(row)


@dataclass(frozen=True)
class _Replay:
    """What every step of a replay shares."""

    table: Table
    stamps: list[datetime]
    times: np.ndarray  # the stamps as datetime64, for binary search
    recipe: dict[str, Any]
    rules: Policy
    metric: str
    windows: tuple[Window, ...]  # the first is the periodic strategy's


def backtest(
    data: Table | pd.DataFrame | str | Path,
    target: str | None = None,
    *,
    policy: Policy | str | Path | None = None,
    time_column: str | None = None,
    interval: str | timedelta = "1h",
    drop: Sequence[str] | None = None,
    train_fraction: float = 0.1,
    step: str | timedelta = "1d",
    batch: str | timedelta = "7d",
    period: str | timedelta = "7d",
    family: str = "lightgbm",
    params: dict[str, Any] | None = None,
    random_state: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> BacktestResult:
    """Replay ``data`` in time order: the static model, periodic retraining and a policy.

    Parameters
    ----------
    data
        A labeled table, oldest row first (or sorted by ``time_column``).
    target
        The column to predict.
    policy
        A :class:`Policy`, a policy file, or ``None`` for the default policy.
    time_column
        Each row's time; without one, row ``i`` is at ``i × interval`` (electricity's rows are
        half-hours: ``interval="30m"``). The column is not used as a feature.
    interval
        Time between consecutive rows when there is no time column.
    drop
        Columns to leave out (identifiers, leakage).
    train_fraction
        Share of the rows (the oldest) the first model is trained on.
    step
        Simulated time between two steps of the loop: every strategy serves the step's rows,
        their labels arrive, and the policy observes its trailing ``monitor.window`` and
        decides (``monitor.every`` plays this part in production).
    batch
        Span of the batches each strategy is scored on (the table and the plot).
    period
        How often the periodic strategy retrains, on the policy's data window (the first,
        when it lists candidates), promoting without a gate (the usual cron job).
    family, params
        The model family (a Learner family) and its hyperparameters: the one recipe every
        strategy starts from and retrains.
    progress
        Called with (steps done, steps in all).

    Returns
    -------
    BacktestResult

    Examples
    --------
    >>> result = backtest("electricity.csv", "class", interval="30m")  # doctest: +SKIP
    >>> result.summary()  # doctest: +SKIP
    """
    started = time.perf_counter()
    rules = _policy(policy)
    table = load_table(data, target=target, drop=list(drop or []), time_column=time_column)
    if table.target is None:
        raise ParameterError("target", "backtest", "the name of a labeled column", target)
    if not 0 < train_fraction < 1:
        raise ParameterError(
            "train_fraction", "backtest", "a share between 0 and 1", train_fraction
        )
    stamps = _times(table, time_column, parse_duration(interval))
    if time_column is not None:
        features = [f for f in table.schema.features if f != time_column]
        table = Table(table.frame.drop(columns=[time_column]), table.schema.with_features(features))
    n_train = max(2, int(len(table) * train_fraction))
    first = table.take(slice(0, n_train))
    recipe = make_recipe(
        family, dict(params or {}), first, Validation.parse("holdout:0.25"), random_state
    )
    metric = rules.metric_for(str(table.task))
    times = np.asarray(stamps, dtype="datetime64[us]")
    windows = tuple(parse_window(w) for w in rules.windows)
    replay = _Replay(table, stamps, times, recipe, rules, metric, windows)
    every = parse_duration(period)

    # Every strategy starts from the same model; its baseline is judged on held-out rows.
    pipeline, reference, t0 = fit_recipe(recipe, first), profile_table(first), stamps[n_train - 1]
    strategies = {
        name: _Strategy(pipeline, reference, table.y.to_numpy().copy(), n_train, t0)
        for name in STRATEGIES
    }
    state = LoopState(
        champion=1, metric=metric, champion_since=t0, baseline=_baseline(replay, first)
    )
    decisions: list[dict[str, Any]] = []
    steps = _spans(times, n_train, parse_duration(step))
    for index, (_, hi) in enumerate(steps):
        now = stamps[hi - 1]
        periodic = strategies["periodic"]
        if now - periodic.last_retrain >= every:
            periodic.serve(table, hi)
            rows = Table(apply_window(windows[0], table.frame.iloc[:hi]), table.schema)
            periodic.last_retrain = now
            periodic.retrains.append(hi)
            periodic.fits.append(hi)
            periodic.replace_champion(fit_recipe(recipe, rows), reference, hi)
        state, record = _policy_step(replay, strategies["policy"], state, hi, now)
        decisions.append(record)
        if progress is not None:
            progress(index + 1, len(steps))
    for strategy in strategies.values():
        strategy.serve(table, len(table))

    return BacktestResult(
        metric=metric,
        batches=_report(replay, strategies, n_train, parse_duration(batch)),
        overall={
            name: _metric(table.take(slice(n_train, None)), s.predictions[n_train:], metric)
            for name, s in strategies.items()
        },
        decisions=decisions,
        settings={
            "rows": len(table),
            "train_rows": n_train,
            "steps": len(steps),
            "step": _span_text(parse_duration(step)),
            "periodic every": _span_text(every),
            "family": family,
            "window": ", ".join(map(str, windows)),
            "seconds": round(time.perf_counter() - started, 1),
        },
    )


def _policy_step(
    replay: _Replay, strategy: _Strategy, state: LoopState, hi: int, now: datetime
) -> tuple[LoopState, dict[str, Any]]:
    """Observe, decide and act once, as ``loop run`` does, on the simulated clock."""
    observation = _observe(replay, strategy, hi, now)
    if state.live_baseline is None:
        state = replace(state, live_baseline=_live_baseline(replay, strategy, state, now))
    decision = replay.rules.decide(state, observation, now)
    record: dict[str, Any] = {"at": now.isoformat(), **decision.to_dict()}
    if decision.action == "rollback" and strategy.previous is not None:
        strategy.serve(replay.table, hi)
        pipeline, reference, _ = strategy.previous
        strategy.replace_champion(pipeline, reference, hi)
        state = state.after_rollback(now)
        record["outcome"] = "rolled back to the previous champion"
    elif decision.action == "retrain":
        state = state.after_retrain(now)
        strategy.retrains.append(hi)
        verdict = _challenge(replay, strategy, hi)
        record["outcome"] = verdict.summary
        record["gate"] = list(verdict.reasons)
        if verdict.promoted:
            state = state.after_promotion(
                len(strategy.promotions) + 1, now, verdict.champion, verdict.challenger
            )
    else:
        state = replace(state, new_labels=state.new_labels + observation.new_labels)
    return state, record


def _observe(replay: _Replay, strategy: _Strategy, hi: int, now: datetime) -> Observation:
    """What ``loop run`` would see: the trailing monitor window of the champion's own traffic.

    Performance counts only rows the current champion served (never rows it was trained on);
    drift compares the window's inputs with the champion's reference profile and is computed
    only when the policy has a drift trigger (it is the costly part of a replay).
    """
    rules = replay.rules
    strategy.serve(replay.table, hi)
    lo = max(strategy.since_row, _window_start(replay, hi, now))
    if hi - lo < 1:
        return Observation()
    window = replay.table.take(slice(lo, hi))
    drift: dict[str, Any] = {}
    if rules.triggers.drift is not None and hi - lo >= rules.monitor.min_rows:
        options = {"multivariate": False, **rules.monitor.drift}
        report = detect_drift(strategy.reference, window.X, **options)
        status = report.columns["status"] if len(report.columns) else pd.Series(dtype=str)
        drift = {
            "drift_status": str(report.status),
            "drifted_columns": tuple(report.drifted),
            "column_status": {str(k): str(v) for k, v in status.items()},
        }
    performance = _metric(window, strategy.predictions[lo:hi], replay.metric)
    return Observation(
        **drift,
        performance={replay.metric: performance},
        rows=hi - lo,
        labeled_rows=hi - lo,
        new_labels=hi - lo,
    )


def _live_baseline(
    replay: _Replay, strategy: _Strategy, state: LoopState, now: datetime
) -> float | None:
    """The champion's metric over its first monitor window in service, once it is over (as
    ``loop run`` reads it from the log), when a trigger counts its drop from it."""
    metric = replay.rules.live_metric(str(replay.table.task))
    if metric is None or state.champion_since is None:
        return None
    end = state.champion_since + parse_duration(replay.rules.monitor.window)
    if now < end:
        return None
    lo = strategy.since_row
    hi = int(np.searchsorted(replay.times, np.datetime64(end, "us"), "right"))
    if hi - lo < 2:
        return None
    value = _metric(replay.table.take(slice(lo, hi)), strategy.predictions[lo:hi], metric)
    return None if math.isnan(value) else value


def _window_start(replay: _Replay, hi: int, now: datetime) -> int:
    """First row of the monitor window (``"7d"`` back in time, or ``"2000rows"`` back)."""
    text = replay.rules.monitor.window
    if text.endswith("rows"):
        return max(0, hi - int(text.removesuffix("rows")))
    edge = now - parse_duration(text)
    return int(np.searchsorted(replay.times[:hi], np.datetime64(edge, "us"), "right"))


@dataclass(frozen=True)
class _Verdict:
    promoted: bool
    summary: str
    reasons: tuple[str, ...] = ()
    champion: float | None = None
    challenger: float | None = None


def _challenge(replay: _Replay, strategy: _Strategy, hi: int) -> _Verdict:
    """Train a challenger and judge it on rows the champion served but never learned from."""
    gate, schema = replay.rules.gate, replay.table.schema
    frame = replay.table.frame.iloc[:hi]
    # Judged on the newest half of what the champion served (as ``loop run`` does): the
    # challenger learns from everything before, so it is fresher than the champion by that
    # much, which is what a retrain is for (a holdout of all the champion's traffic would
    # leave it nothing newer).
    held = gate.held_rows(hi, hi - strategy.since_row)
    if held < gate.min_rows:
        return _Verdict(
            False, f"not judged: {held} rows served by the champion, the gate needs {gate.min_rows}"
        )
    holdout = Table(frame.iloc[-held:].reset_index(drop=True), schema)
    choice = choose_window(
        replay.recipe,
        replay.windows,
        lambda window: Table(apply_window(window, frame.iloc[:-held]), schema),
        holdout,
        replay.metric,
    )
    strategy.fits.extend([hi] * len(replay.windows))
    result = judge(
        strategy.pipeline,
        choice.pipeline,
        holdout,
        primary=replay.metric,
        margin=gate.threshold,
        guardrails=gate.guardrails(),
        checks={k: v.model_dump() for k, v in gate.checks.items()},
    )
    outcome = "promoted" if result.passed else "rejected"
    verdict = _Verdict(
        result.passed,
        f"{outcome} (window {choice.window})" if len(replay.windows) > 1 else outcome,
        result.reasons,
        result.champion_metrics.get(replay.metric),
        result.challenger_metrics.get(replay.metric),
    )
    if result.passed:
        strategy.serve(replay.table, hi)
        challenger, train = choice.pipeline, choice.table
        if gate.refit:
            train = Table(apply_window(choice.window, frame), schema)
            challenger = fit_recipe(replay.recipe, train)
            strategy.fits.append(hi)
        strategy.replace_champion(challenger, profile_table(train), hi)
    return verdict


def _report(
    replay: _Replay, strategies: dict[str, _Strategy], start: int, span: timedelta
) -> pd.DataFrame:
    """Per report batch: each strategy's score, retrains and promotions."""
    rows = []
    for lo, hi in _spans(replay.times, start, span):
        part = replay.table.take(slice(lo, hi))
        row: dict[str, Any] = {
            "start": replay.stamps[lo],
            "end": replay.stamps[hi - 1],
            "rows": hi - lo,
        }
        for name, s in strategies.items():
            row[name] = _metric(part, s.predictions[lo:hi], replay.metric)
            row[f"{name}_retrains"] = sum(lo < r <= hi for r in s.retrains)
            row[f"{name}_fits"] = sum(lo < r <= hi for r in s.fits)
            row[f"{name}_promotions"] = sum(lo < r <= hi for r in s.promotions)
        rows.append(row)
    return pd.DataFrame(rows)


def _policy(policy: Policy | str | Path | None) -> Policy:
    if policy is None:
        return Policy()
    if isinstance(policy, Policy):
        return policy
    return load_policy(policy)


def _times(table: Table, time_column: str | None, interval: timedelta) -> list[datetime]:
    if time_column is None:
        return [_EPOCH + i * interval for i in range(len(table))]
    stamps = pd.to_datetime(table.frame[time_column])
    if not stamps.is_monotonic_increasing:
        raise ParameterError(
            "data", "backtest", f"rows in time order (sorted by {time_column!r})", "unsorted rows"
        )
    return [t.to_pydatetime() for t in stamps]


def _spans(values: np.ndarray, start: int, span: timedelta) -> list[tuple[int, int]]:
    """Row ranges ``[lo, hi)`` of consecutive periods of ``span`` simulated time each."""
    out = []
    lo = start
    while lo < len(values):
        hi = int(np.searchsorted(values, values[lo] + np.timedelta64(span), "left"))
        hi = max(hi, lo + 1)
        out.append((lo, hi))
        lo = hi
    return out


def _metric(table: Table, predicted: np.ndarray, metric: str) -> float:
    if len(table) < 2:
        return math.nan
    predicted = predicted.astype(float) if table.task == "regression" else predicted
    return float(score(table.task, table.y, predicted, metrics=[metric])[metric])


def _baseline(replay: _Replay, first: Table) -> float:
    """The first model's metric on the newest share of its rows, when fitted on the others."""
    cut = int(len(first) * (1 - replay.rules.gate.holdout))
    model = fit_recipe(replay.recipe, first.take(slice(0, cut)))
    part = first.take(slice(cut, len(first)))
    return _metric(part, np.asarray(model.predict(part.X)), replay.metric)


def _span_text(span: timedelta) -> str:
    days = span.total_seconds() / 86400
    return f"{days:g}d" if days >= 1 else f"{span.total_seconds() / 3600:g}h"


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
