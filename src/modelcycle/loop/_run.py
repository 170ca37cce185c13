"""The loop in production: monitor → decide → retrain → gate → promote → guard, on the real clock.

State lives in the registry (aliases) and the metadata store (events), never in the process, so
a loop killed at any point restarts where it stopped: a challenger registered but not judged is
judged by the next step, and the served alias moves only as the last step of a promotion.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from modelcycle.data import Table
from modelcycle.exceptions import RegistryError
from modelcycle.loop._gate import GateResult, compare_versions
from modelcycle.loop._policy import Decision, LoopState, Observation, Policy, load_policy
from modelcycle.loop._retrain import retrain
from modelcycle.loop._window import training_table
from modelcycle.registry import LoadedModel, Registry
from modelcycle.store import Event, LogReader, MetadataStore

if TYPE_CHECKING:
    from modelcycle.monitor import WindowResult

__all__ = ["LOOP_EVENTS", "StepResult", "approve", "history", "run", "run_once"]

logger = logging.getLogger(__name__)

#: Event kinds that make up a model's loop timeline.
LOOP_EVENTS = (
    "decision",
    "retrain",
    "promote",
    "reject",
    "pending",
    "promoted",
    "guard",
    "deploy",
    "rollback",
    "drift",
)
_ACTOR = "modelcycle-loop"


@dataclass(frozen=True)
class StepResult:
    """What one step of the loop saw, decided and did."""

    model: str
    at: datetime
    champion: int
    decision: Decision
    observation: Observation
    challenger: int | None = None
    gate: GateResult | None = None
    promoted: int | None = None
    rolled_back_to: int | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "at": self.at.isoformat(),
            "champion": self.champion,
            "decision": self.decision.to_dict(),
            "observation": self.observation.to_dict(),
            "challenger": self.challenger,
            "gate": self.gate.to_dict() if self.gate else None,
            "promoted": self.promoted,
            "rolled_back_to": self.rolled_back_to,
            "notes": list(self.notes),
        }


@dataclass
class _Context:
    name: str
    alias: str
    policy: Policy
    registry: Registry
    store: MetadataStore
    reader: LogReader
    now: datetime


def run_once(
    name: str,
    policy: Policy | str | Path,
    *,
    alias: str = "production",
    now: datetime | None = None,
    registry: Registry | None = None,
    store: MetadataStore | None = None,
    log_dir: str | Path | None = None,
) -> StepResult:
    """One step: judge a leftover challenger, observe, decide, act; every decision is recorded.

    Parameters
    ----------
    name
        The served model.
    policy
        A :class:`Policy` or a policy file.
    alias
        The alias the server follows (the champion).
    now
        The time of the step (default: now, UTC).

    Returns
    -------
    StepResult

    Examples
    --------
    >>> step = run_once("elec", "loop.yaml")  # doctest: +SKIP
    >>> step.decision.action, step.promoted  # doctest: +SKIP
    ('retrain', 4)
    """
    ctx = _Context(
        name,
        alias,
        policy if isinstance(policy, Policy) else load_policy(policy),
        registry if registry is not None else Registry(),
        store if store is not None else MetadataStore(),
        LogReader(log_dir),
        now or datetime.now(UTC),
    )
    champion = ctx.registry.load(name, alias=alias)
    metric = ctx.policy.metric_for(table_task(champion))
    notes: list[str] = []
    leftover = _unjudged(ctx)
    if leftover is not None:
        # A previous step registered this challenger and stopped before judging it.
        notes.append(f"carrying on: version {leftover} was retrained but not judged")
        gate, promoted = _judge_and_promote(ctx, champion, leftover, metric)
        if promoted is not None:
            champion = ctx.registry.load(name, alias=alias)
    state = _state(ctx, champion, metric)
    observation = _observe(ctx, champion, state)
    decision = ctx.policy.decide(state, observation, ctx.now)
    ctx.store.record_event(
        "decision",
        name,
        version=champion.version,
        details={**decision.to_dict(), "observation": observation.to_dict(), "notes": notes},
        at=ctx.now,
    )
    result = StepResult(name, ctx.now, champion.version, decision, observation, notes=tuple(notes))
    if decision.action == "rollback":
        return _roll_back(ctx, result)
    if decision.action != "retrain":
        return result
    challenger = _retrain(ctx, champion, metric)
    if challenger is None:
        return result
    gate, promoted = _judge_and_promote(ctx, champion, challenger, metric)
    return StepResult(
        name,
        ctx.now,
        champion.version,
        decision,
        observation,
        challenger=challenger,
        gate=gate,
        promoted=promoted,
        notes=tuple(notes),
    )


def run(
    name: str,
    policy: Policy | str | Path,
    *,
    alias: str = "production",
    every: timedelta | None = None,
    steps: int | None = None,
    on_step: Callable[[StepResult], None] | None = None,
    registry: Registry | None = None,
    store: MetadataStore | None = None,
    log_dir: str | Path | None = None,
) -> int:
    """Run :func:`run_once` every ``every`` (the policy's ``monitor.every``) until stopped.

    SIGTERM and Ctrl-C stop the loop between steps (a step in progress finishes). An error in
    a step is logged and recorded, and the next step tries again. Returns the steps run.
    """
    rules = policy if isinstance(policy, Policy) else load_policy(policy)
    pause = (every if every is not None else rules.monitor.every).total_seconds()
    stop = threading.Event()
    previous = _install_stop(stop)
    done = 0
    try:
        while not stop.is_set() and (steps is None or done < steps):
            try:
                step = run_once(
                    name, rules, alias=alias, registry=registry, store=store, log_dir=log_dir
                )
                if on_step is not None:
                    on_step(step)
            except Exception as exc:  # the loop outlives one bad step; the next one retries
                logger.exception("loop step of %s failed", name)
                (store or MetadataStore()).record_event(
                    "decision", name, details={"action": "error", "reasons": [str(exc)]}
                )
            done += 1
            if steps is None or done < steps:  # no pause after the last step
                stop.wait(pause)
    finally:
        _restore_stop(previous)
    return done


def approve(
    name: str,
    version: int | None = None,
    *,
    alias: str = "production",
    actor: str | None = None,
    registry: Registry | None = None,
    store: MetadataStore | None = None,
) -> int:
    """Promote the challenger that passed the gate and waits for a person (``action: approve``).

    Returns the version now serving. Raises RegistryError when nothing waits for approval.
    """
    registry = registry if registry is not None else Registry()
    store = store if store is not None else MetadataStore()
    waiting = [e for e in store.events(name, kinds=("pending", "promoted", "reject"))]
    pending = [e for e in waiting if e.kind == "pending"]
    if not pending or (version is not None and str(version) != pending[-1].version):
        raise RegistryError(
            f"No challenger of {name!r} waits for approval"
            + (f" as version {version}" if version is not None else "")
            + ": a challenger waits once it passed the gate under a policy with "
            "'action: approve'. See `modelcycle loop history " + name + "`."
        )
    last = pending[-1]
    if waiting[-1].id != last.id:
        raise RegistryError(
            f"Version {last.version} of {name!r} is no longer waiting (a later event, "
            f"{waiting[-1].kind!r}, superseded it)."
        )
    champion = registry.get_version(name, alias=alias)
    target = int(last.version or 0)
    _promote(
        name, alias, champion.version, target, last.details, registry, store, actor or "approve"
    )
    return target


def history(
    name: str, *, limit: int | None = 200, store: MetadataStore | None = None
) -> list[Event]:
    """The loop's timeline of ``name``: decisions, retrains, verdicts, promotions, rollbacks."""
    store = store if store is not None else MetadataStore()
    return store.events(name, kinds=LOOP_EVENTS, limit=limit)


# -- steps ---------------------------------------------------------------------------------------


def _state(ctx: _Context, champion: LoadedModel, metric: str) -> LoopState:
    events = ctx.store.events(
        ctx.name, kinds=("retrain", "promoted", "rollback", "deploy"), limit=500
    )
    retrains = tuple(
        e.at for e in events if e.kind == "retrain" and ctx.now - e.at < timedelta(days=1)
    )
    last_retrain = max((e.at for e in events if e.kind == "retrain"), default=None)
    if last_retrain is not None and last_retrain not in retrains:
        retrains = (last_retrain, *retrains)
    baseline = champion.metrics.get(metric)
    since = None
    promoted_at = previous = previous_baseline = None
    for event in events:  # oldest first: the last move of the alias wins
        if event.kind in ("deploy", "rollback") and event.details.get("alias") == ctx.alias:
            since = event.at
            promoted_at = previous = previous_baseline = None
        if event.kind == "promoted" and event.version == str(champion.version):
            since = promoted_at = event.at
            previous = event.details.get("from")
            previous_baseline = event.details.get("old_metric")
            baseline = event.details.get("new_metric", baseline)
    return LoopState(
        champion=champion.version,
        metric=metric,
        champion_since=since,
        retrains=retrains,
        baseline=_number(baseline),
        live_baseline=_live_baseline(ctx, champion, since),
        promoted_at=promoted_at,
        previous_champion=previous,
        previous_baseline=_number(previous_baseline),
    )


def _live_baseline(ctx: _Context, champion: LoadedModel, since: datetime | None) -> float | None:
    """The champion's live metric over its first monitor window in service, once that window
    is over, when a trigger counts its drop from it (read from the log, so a restarted loop
    finds the same value)."""
    metric = ctx.policy.live_metric(table_task(champion))
    if metric is None or since is None:
        return None
    end = since + _duration(ctx.policy.monitor.window)
    if ctx.now < end:
        return None
    # More rows than any window holds: the baseline needs the metric, not a drift test.
    first = _check_window(ctx, end=end, min_rows=2**62, record=False)
    return _number(first.performance.get(metric))


def _check_window(ctx: _Context, *, end: datetime, min_rows: int, **options: Any) -> WindowResult:
    """Live monitoring's check of the policy's window of traffic that ends at ``end``."""
    from modelcycle.monitor import check_window

    log_dir = ctx.reader.log_dir
    return check_window(
        ctx.name,
        alias=ctx.alias,
        window=ctx.policy.monitor.window,
        end=end,
        min_rows=min_rows,
        registry=ctx.registry,
        store=ctx.store,
        log_dir=Path(log_dir) if log_dir is not None else None,
        **options,
    )


def _observe(ctx: _Context, champion: LoadedModel, state: LoopState) -> Observation:
    """Live monitoring's view of the current window, and the labels that came since a retrain."""
    new_labels = len(_labeled(ctx, champion, since=state.last_retrain))
    window = _check_window(
        ctx, end=ctx.now, min_rows=ctx.policy.monitor.min_rows, **ctx.policy.monitor.drift
    )
    drift = window.drift
    return Observation(
        drift_status=str(drift.status) if drift is not None else None,
        drifted_columns=tuple(drift.drifted) if drift is not None else (),
        column_status=_column_status(drift),
        performance=dict(window.performance),
        estimated=dict(window.estimated),
        rows=int(window.rows),
        labeled_rows=int(window.labeled_rows),
        new_labels=new_labels,
    )


def _retrain(ctx: _Context, champion: LoadedModel, metric: str) -> int | None:
    """Register a challenger trained on everything but the rows the gate holds out (with
    candidate windows, the one whose model scores best on those rows)."""
    rows, held = _held_out(ctx, champion)
    if held < ctx.policy.gate.min_rows:
        ctx.store.record_event(
            "decision",
            ctx.name,
            version=champion.version,
            details={
                "action": "wait",
                "reasons": [
                    f"gate: {held} labeled rows served by version {champion.version} to judge "
                    f"a challenger on; it needs {ctx.policy.gate.min_rows}"
                ],
            },
            at=ctx.now,
        )
        return None
    info = retrain(
        ctx.name,
        _as_training(champion, rows.iloc[:-held]),
        window=ctx.policy.windows,
        holdout=_as_training(champion, rows.iloc[-held:]),
        metric=metric,
        base=champion.version,
        registry=ctx.registry,
        store=ctx.store,
    )
    return info.version


def _judge_and_promote(
    ctx: _Context, champion: LoadedModel, challenger: int, metric: str
) -> tuple[GateResult | None, int | None]:
    gate_rules = ctx.policy.gate
    rows, held = _held_out(ctx, champion)
    if held < gate_rules.min_rows:
        return None, None
    gate = compare_versions(
        ctx.name,
        champion.version,
        challenger,
        _as_training(champion, rows.iloc[-held:]),
        primary=metric,
        margin=gate_rules.threshold,
        guardrails=gate_rules.guardrails(),
        checks={k: v.model_dump() for k, v in gate_rules.checks.items()},
        registry=ctx.registry,
        store=ctx.store,
    )
    if not gate.passed:
        return gate, None
    target = challenger
    if gate_rules.refit:
        # Not aliased @challenger: the next step must not take the refit for a challenger
        # that was never judged (it would judge it against itself and refit it again).
        target = retrain(
            ctx.name,
            _as_training(champion, rows),
            window=_window_of(ctx, challenger),
            alias=None,
            base=champion.version,
            registry=ctx.registry,
            store=ctx.store,
        ).version
    details = {
        "old_metric": gate.champion_metrics.get(metric),
        "new_metric": gate.challenger_metrics.get(metric),
        "metric": metric,
        "judged_version": challenger,
    }
    if ctx.policy.action == "approve":
        ctx.store.record_event(
            "pending",
            ctx.name,
            version=target,
            details={**details, "reasons": [f"run `modelcycle approve {ctx.name}` to promote"]},
        )
        return gate, None
    _promote(
        ctx.name, ctx.alias, champion.version, target, details, ctx.registry, ctx.store, _ACTOR
    )
    return gate, target


def _promote(
    name: str,
    alias: str,
    old: int,
    new: int,
    details: dict[str, Any],
    registry: Registry,
    store: MetadataStore,
    actor: str,
) -> None:
    """Move the served alias (the one step servers see), then record why."""
    from modelcycle.serve import deploy

    deploy(
        name,
        new,
        alias=alias,
        actor=actor,
        reason=f"passed the gate against version {old}",
        registry=registry,
        store=store,
    )
    store.record_event(
        "promoted",
        name,
        version=new,
        details={**details, "from": old, "alias": alias, "actor": actor},
    )


def _roll_back(ctx: _Context, result: StepResult) -> StepResult:
    from dataclasses import replace

    from modelcycle.serve import rollback

    ctx.store.record_event(
        "guard",
        ctx.name,
        version=result.champion,
        details={"reasons": list(result.decision.reasons)},
        at=ctx.now,
    )
    move = rollback(
        ctx.name,
        alias=ctx.alias,
        actor=_ACTOR,
        reason="; ".join(result.decision.reasons),
        registry=ctx.registry,
        store=ctx.store,
    )
    return replace(result, rolled_back_to=int(move.version))


# -- helpers -------------------------------------------------------------------------------------


def _unjudged(ctx: _Context) -> int | None:
    """A challenger registered by a retrain whose verdict was never recorded."""
    events = ctx.store.events(ctx.name, kinds=("retrain", "promote", "reject"), limit=20)
    if not events or events[-1].kind != "retrain":
        return None
    version = int(events[-1].version or 0)
    try:
        current = ctx.registry.get_version(ctx.name, alias="challenger").version
    except RegistryError:
        return None
    return version if current == version else None


def _held_out(ctx: _Context, champion: LoadedModel) -> tuple[pd.DataFrame, int]:
    """The labeled rows, oldest first, and how many of the newest the gate judges on."""
    rows = _labeled(ctx, champion)
    served = int((rows["version"].astype(str) == str(champion.version)).sum()) if len(rows) else 0
    return rows, ctx.policy.gate.held_rows(len(rows), served)


def _window_of(ctx: _Context, version: int) -> str:
    """The window ``version`` was retrained on (the one chosen among the policy's candidates)."""
    for event in reversed(ctx.store.events(ctx.name, kinds=("retrain",), limit=20)):
        if event.version is not None and int(event.version) == version:
            return str(event.details.get("window", ctx.policy.windows[0]))
    return ctx.policy.windows[0]


def _labeled(ctx: _Context, champion: LoadedModel, since: datetime | None = None) -> pd.DataFrame:
    frame = ctx.reader.joined(ctx.name, since=since)
    return frame.sort_values("ts", kind="stable").reset_index(drop=True) if len(frame) else frame


def _as_training(champion: LoadedModel, rows: pd.DataFrame) -> Table:
    target = champion.recipe["target"]
    return training_table(champion.recipe, rows.rename(columns={"actual": target}), None)


def table_task(model: LoadedModel) -> str:
    return str(model.recipe.get("task", "binary"))


def _column_status(drift: Any) -> dict[str, str]:
    if drift is None or not len(drift.columns):
        return {}
    return {str(k): str(v) for k, v in drift.columns["status"].items()}


def _duration(text: str) -> timedelta:
    from modelcycle.loop._policy import parse_duration

    value: timedelta = parse_duration(text)
    return value


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _install_stop(stop: threading.Event) -> Any:
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, lambda *_: stop.set())


def _restore_stop(previous: Any) -> None:
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)
