"""The retraining policy: a YAML file validated with pydantic, and the pure decision it takes.

:meth:`Policy.decide` knows no clock, registry or server: it reads a :class:`LoopState` and an
:class:`Observation` and returns a :class:`Decision` with its reasons. ``loop run`` (real clock,
real log) and ``loop backtest`` (simulated clock, in memory) both call it, so what a backtest
shows is what production would have done.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from modelcycle.exceptions import ConfigError

__all__ = [
    "Decision",
    "LoopState",
    "Observation",
    "Policy",
    "PolicyError",
    "Schedule",
    "load_policy",
    "parse_duration",
]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
# Metrics whose every value lies in [0, 1]: a threshold outside can never be reached.
_UNIT_INTERVAL = {"accuracy", "balanced_accuracy", "f1", "roc_auc"}
_AT_MOST_ONE = {"r2"}
_NON_NEGATIVE = {"log_loss", "rmse", "mae", "mape"}
_LOWER_IS_BETTER = {"log_loss", "rmse", "mae", "mape"}
_KNOWN_METRICS = _UNIT_INTERVAL | _AT_MOST_ONE | _NON_NEGATIVE
DAY = timedelta(days=1)


class PolicyError(ConfigError):
    """A policy file is invalid; ``line`` and ``field`` say where (``line`` is 1-based)."""

    def __init__(self, message: str, *, line: int | None = None, field: str | None = None):
        self.line = line
        self.field = field
        super().__init__(message)


def parse_duration(value: Any) -> Any:
    """``"90s"``, ``"15m"``, ``"6h"``, ``"1d"``, ``"2w"`` or seconds as a :class:`timedelta`.

    Examples
    --------
    >>> parse_duration("36h")
    datetime.timedelta(days=1, seconds=43200)
    """
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("a duration such as '30m', '6h', '1d' or '2w'")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration of zero or more")
        return timedelta(seconds=float(value))
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return timedelta(seconds=float(match[1]) * _UNITS[match[2]])
    raise ValueError(f"a duration such as '30m', '6h', '1d' or '2w', not {value!r}")


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def _check_metric(value: str | None) -> str | None:
    if value is not None and value not in _KNOWN_METRICS:
        raise ValueError(f"one of {', '.join(sorted(_KNOWN_METRICS))}, not {value!r}")
    return value


def _check_reachable(metric: str | None, value: float | None) -> float | None:
    """A threshold the metric can actually take (accuracy 1.5 never triggers anything)."""
    if value is None:
        return None
    if not math.isfinite(value):
        raise ValueError("a finite number")
    if metric in _UNIT_INTERVAL and not 0 <= value <= 1:
        raise ValueError(f"between 0 and 1 for {metric} (got {value}), which cannot be reached")
    if metric in _NON_NEGATIVE and value < 0:
        raise ValueError(f"zero or more for {metric} (got {value}), which cannot be reached")
    if metric in _AT_MOST_ONE | {None} and value > 1:
        raise ValueError(f"at most 1 for {metric or 'the default metric'} (got {value})")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DriftTrigger(_Strict):
    """Retrain when the table (or one of ``columns``) reaches ``status``."""

    status: Literal["Drift", "Warning"] = "Drift"
    columns: tuple[str, ...] = ()


class PerformanceTrigger(_Strict):
    """Retrain when a metric falls below ``below``, or ``drop`` under the champion's baseline.

    ``baseline`` is what ``drop`` counts from: ``gate``, the champion's score on the gate's
    holdout when it was promoted; or ``live``, its own live metric over its first monitor
    window in service. The live one is measured on the traffic the trigger watches, so a
    season or a harder mix of requests moves both alike; the gate's holdout is small and
    older. Until the champion has served one full window, a ``live`` drop cannot fire.
    """

    metric: str | None = None
    below: float | None = None
    drop: float | None = Field(default=None, gt=0, le=1)
    baseline: Literal["gate", "live"] = "gate"
    min_rows: int = Field(default=100, ge=1)

    _metric = field_validator("metric")(classmethod(lambda cls, v: _check_metric(v)))

    @field_validator("below")
    @classmethod
    def _below(cls, value: float | None, info: ValidationInfo) -> float | None:
        return _check_reachable(info.data.get("metric"), value)

    @field_validator("baseline")
    @classmethod
    def _baseline(cls, value: str, info: ValidationInfo) -> str:
        if value == "live" and info.data.get("drop") is None:
            raise ValueError("used with a 'drop' (it is what the drop counts from); add one")
        return value


def _schedule(value: Any) -> Any:
    """``schedule: 7d`` is short for ``schedule: {every: 7d}``."""
    return value if isinstance(value, Mapping) or value is None else {"every": value}


class Schedule(_Strict):
    """Retrain ``every`` so long after the last retrain (a safety net against slow decay).

    With ``skip_within`` a due retrain is skipped while the live metric is at most that far
    under the champion's baseline (a model doing as well as when it was promoted gains little
    from a refresh); ``max_age`` then still forces one once the last retrain is that old.
    """

    every: Duration
    skip_within: float | None = Field(default=None, ge=0)
    max_age: Duration | None = None
    min_rows: int = Field(default=100, ge=1)

    @field_validator("max_age")
    @classmethod
    def _max_age(cls, value: timedelta | None, info: ValidationInfo) -> timedelta | None:
        every = info.data.get("every")
        if value is not None and every is not None and value < every:
            raise ValueError(f"at least 'every' ({_human(every)}), or no retrain is ever skipped")
        return value


class Triggers(_Strict):
    drift: DriftTrigger | None = None
    performance: PerformanceTrigger | None = None
    estimated: PerformanceTrigger | None = None
    schedule: Annotated[Schedule | None, BeforeValidator(_schedule)] = None
    new_labels: int | None = Field(default=None, ge=1)

    def live(self) -> PerformanceTrigger | None:
        """The trigger whose drop counts from the champion's live baseline, if any."""
        pair = (self.performance, self.estimated)
        return next((t for t in pair if t is not None and t.baseline == "live"), None)


class Bound(_Strict):
    min: float | None = None
    max: float | None = None


class Gate(_Strict):
    """How a challenger is judged against the champion on the newest labeled rows.

    Both models are scored on the newest ``holdout`` share of the labeled rows (at most half
    of what the champion served); the challenger learns from the window's rows before them
    (with candidate windows, from the one whose model scores best on those rows). The
    primary metric must improve by ``margin`` (default 0: a tie passes); with ``tolerance``
    a challenger no worse than the champion by more than that passes too (a fresher model
    within noise of the old one replaces it). With ``refit`` a challenger that passes is
    fitted once more on its window's rows, the held-out ones included, before it is promoted.
    """

    metric: str | None = None
    margin: float = Field(default=0.0, ge=0)
    tolerance: float = Field(default=0.0, ge=0)
    holdout: float = Field(default=0.25, gt=0, lt=1)
    min_rows: int = Field(default=50, ge=1)
    refit: bool = False
    calibration: float | None = Field(default=0.05, ge=0)
    latency_ratio: float | None = Field(default=3.0, ge=1)
    size_ratio: float | None = Field(default=10.0, ge=1)
    checks: dict[str, Bound] = Field(default_factory=dict)

    _metric = field_validator("metric")(classmethod(lambda cls, v: _check_metric(v)))

    @field_validator("margin")
    @classmethod
    def _margin(cls, value: float, info: ValidationInfo) -> float:
        metric = info.data.get("metric")
        if (metric in _UNIT_INTERVAL | _AT_MOST_ONE or metric is None) and value >= 1:
            raise ValueError(f"below 1 (got {value}): no model can improve that much")
        return value

    @field_validator("checks")
    @classmethod
    def _checks(cls, value: dict[str, Bound]) -> dict[str, Bound]:
        for metric, bound in value.items():
            _check_metric(metric)
            _check_reachable(metric, bound.min)
            _check_reachable(metric, bound.max)
        return value

    @property
    def threshold(self) -> float:
        """The least gain of the primary metric that passes: ``margin − tolerance``."""
        return self.margin - self.tolerance

    def held_rows(self, labeled: int, served: int) -> int:
        """How many of the newest labeled rows both models are judged on (and a challenger
        does not learn from): the ``holdout`` share, at most half of what the champion served,
        so the challenger still learns from part of the champion's traffic."""
        return min(int(labeled * self.holdout), served // 2)

    def guardrails(self) -> dict[str, float]:
        """The guardrail limits :func:`~modelcycle.loop.compare_versions` takes."""
        limits = {
            "calibration": self.calibration,
            "latency_ratio": self.latency_ratio,
            "size_ratio": self.size_ratio,
        }
        return {k: v for k, v in limits.items() if v is not None}


class Guard(_Strict):
    """Roll back a new champion whose live metric falls under the old one's within ``window``."""

    window: Duration = timedelta(days=1)
    tolerance: float = Field(default=0.02, ge=0)
    min_rows: int = Field(default=100, ge=1)


class MonitorSettings(_Strict):
    """How ``loop run`` watches traffic: the window checked and how often."""

    window: str = "1h"
    every: Duration = timedelta(minutes=5)
    min_rows: int = Field(default=100, ge=1)
    drift: dict[str, Any] = Field(default_factory=dict)

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        if not re.fullmatch(r"\d+(s|m|h|d|w|rows)", value.strip()):
            raise ValueError(f"a window such as '1h', '1d' or '10000rows', not {value!r}")
        return value.strip()


class Policy(_Strict):
    """When to retrain, on which data, how the challenger is judged, and what follows.

    Read one from YAML with :func:`load_policy`; every field has a default, so ``{}`` is a
    valid (drift-triggered, auto-promoting) policy.

    Examples
    --------
    >>> policy = Policy.from_yaml("triggers: {drift: {status: Drift}}\\ncooldown: 12h")
    >>> policy.cooldown
    datetime.timedelta(seconds=43200)
    """

    metric: str | None = None
    triggers: Triggers = Field(default_factory=lambda: Triggers(drift=DriftTrigger()))
    data: str | list[str] = "all"
    gate: Gate = Field(default_factory=lambda: Gate())
    action: Literal["promote", "approve"] = "promote"
    cooldown: Duration = timedelta(days=1)
    max_retrains_per_day: int = Field(default=4, ge=1)
    guard: Guard | None = Field(default_factory=lambda: Guard())
    monitor: MonitorSettings = Field(default_factory=lambda: MonitorSettings())

    _metric = field_validator("metric")(classmethod(lambda cls, v: _check_metric(v)))

    @field_validator("data")
    @classmethod
    def _data(cls, value: str | list[str]) -> str | list[str]:
        from modelcycle.loop._window import parse_window

        windows = [value] if isinstance(value, str) else value
        if not windows:
            raise ValueError("a window, or a list of candidate windows, not an empty list")
        names = [str(parse_window(w)) for w in windows]
        if len(set(names)) < len(names):
            raise ValueError(f"candidate windows that differ, not {names}")
        return value

    @property
    def windows(self) -> tuple[str, ...]:
        """The retrain windows: one, or candidates the retrain chooses among on the holdout."""
        return (self.data,) if isinstance(self.data, str) else tuple(self.data)

    # -- reading ----------------------------------------------------------------------------

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "<policy>") -> Policy:
        """Parse and validate YAML text; errors name the line (see :func:`load_policy`)."""
        try:
            root = yaml.compose(text)
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            where = f"{source}, line {line}" if line else source
            raise PolicyError(f"{where}: not valid YAML ({exc}).", line=line) from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise PolicyError(f"{source}, line 1: a policy is a mapping of settings.", line=1)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise _policy_error(exc, root, source) from None

    @field_validator("monitor")
    @classmethod
    def _monitor(cls, value: MonitorSettings, info: ValidationInfo) -> MonitorSettings:
        triggers = info.data.get("triggers")
        if triggers is not None and triggers.live() is not None and value.window.endswith("rows"):
            raise ValueError(
                "a window of time such as '4d' when a trigger has 'baseline: live' (the "
                "champion's first window in service is measured in time)"
            )
        return value

    def metric_for(self, task: str) -> str:
        """The policy's metric, or the loop's default: accuracy, or R² for regression."""
        return self.metric or ("r2" if str(task) == "regression" else "accuracy")

    def live_metric(self, task: str) -> str | None:
        """The metric whose live baseline a trigger needs, or ``None`` when none does."""
        trigger = self.triggers.live()
        return None if trigger is None else trigger.metric or self.metric_for(task)

    # -- deciding ---------------------------------------------------------------------------

    def decide(self, state: LoopState, observation: Observation, now: datetime) -> Decision:
        """What to do now: ``"retrain"``, ``"rollback"``, ``"hold"`` or ``"none"``, and why.

        Pure: the same state, observation and time give the same decision.

        Examples
        --------
        >>> from datetime import datetime, timezone
        >>> now = datetime(2024, 1, 1, tzinfo=timezone.utc)
        >>> state = LoopState(champion=1, metric="accuracy")
        >>> Policy().decide(state, Observation(drift_status="Drift"), now).action
        'retrain'
        """
        rollback = self._guard(state, observation, now)
        if rollback is not None:
            return rollback
        fired, quiet = self._triggers(state, observation, now)
        if not fired:
            return Decision("none", tuple(quiet))
        held = self._limits(state, now)
        if held:
            return Decision("hold", tuple(fired + held), tuple(fired))
        return Decision("retrain", tuple(fired), tuple(fired))

    def _guard(self, state: LoopState, obs: Observation, now: datetime) -> Decision | None:
        guard, promoted, old = self.guard, state.promoted_at, state.previous_baseline
        if guard is None or promoted is None or old is None:
            return None
        if now - promoted > guard.window or state.previous_champion is None:
            return None
        live = obs.performance.get(state.metric)
        if live is None or math.isnan(live) or obs.labeled_rows < guard.min_rows:
            return None
        worse = (
            live > old + guard.tolerance
            if state.metric in _LOWER_IS_BETTER
            else live < old - guard.tolerance
        )
        if not worse:
            return None
        return Decision(
            "rollback",
            (
                f"guard: live {state.metric} of version {state.champion} is {live:.4f} over "
                f"{obs.labeled_rows} labeled rows, worse than version {state.previous_champion}'s "
                f"{old:.4f} by more than {guard.tolerance} within "
                f"{_human(guard.window)} of the promotion",
            ),
            ("guard",),
        )

    def _triggers(
        self, state: LoopState, obs: Observation, now: datetime
    ) -> tuple[list[str], list[str]]:
        fired: list[str] = []
        quiet: list[str] = []
        t = self.triggers
        if t.drift is not None:
            severity = {"Stable": 0, "Warning": 1, "Drift": 2}
            need = severity[t.drift.status]
            if t.drift.columns:
                hit = [
                    c
                    for c in t.drift.columns
                    if severity.get(obs.column_status.get(c, ""), 0) >= need
                ]
                (fired if hit else quiet).append(
                    f"drift: {', '.join(hit)} reached {t.drift.status}"
                    if hit
                    else f"drift: none of {', '.join(t.drift.columns)} reached {t.drift.status}"
                )
            elif obs.drift_status is not None:
                status = str(obs.drift_status)
                drifted = f" ({', '.join(obs.drifted_columns[:5])})" if obs.drifted_columns else ""
                (fired if severity.get(status, 0) >= need else quiet).append(
                    f"drift: table status {status}{drifted}"
                )
        for name, trigger, values in (
            ("performance", t.performance, obs.performance),
            ("estimated", t.estimated, obs.estimated),
        ):
            if trigger is not None:
                self._performance(name, trigger, values, state, obs, fired, quiet)
        if t.schedule is not None:
            self._schedule(t.schedule, state, obs, now, fired, quiet)
        if t.new_labels is not None:
            n = state.new_labels + obs.new_labels
            (fired if n >= t.new_labels else quiet).append(
                f"new labels: {n} since the last retrain (trigger at {t.new_labels})"
            )
        return fired, quiet

    def _performance(
        self,
        name: str,
        trigger: PerformanceTrigger,
        values: Mapping[str, float],
        state: LoopState,
        obs: Observation,
        fired: list[str],
        quiet: list[str],
    ) -> None:
        metric = trigger.metric or state.metric
        value = values.get(metric)
        rows = obs.labeled_rows if name == "performance" else obs.rows
        if value is None or math.isnan(value) or rows < trigger.min_rows:
            quiet.append(f"{name}: no {metric} yet ({rows} rows, need {trigger.min_rows})")
            return
        lower = metric in _LOWER_IS_BETTER
        limits = []
        if trigger.below is not None:
            limits.append((trigger.below, f"the threshold {trigger.below}"))
        baseline = state.live_baseline if trigger.baseline == "live" else state.baseline
        if trigger.drop is not None and baseline is not None:
            edge = baseline + trigger.drop if lower else baseline - trigger.drop
            limits.append(
                (
                    edge,
                    f"the champion's {trigger.baseline} baseline {baseline:.4f} − {trigger.drop}",
                )
            )
        for edge, label in limits:
            if (value > edge) if lower else (value < edge):
                fired.append(
                    f"{name}: {metric} {value:.4f} is {'above' if lower else 'below'} {label}"
                )
                return
        quiet.append(f"{name}: {metric} {value:.4f} within limits")

    def _schedule(
        self,
        schedule: Schedule,
        state: LoopState,
        obs: Observation,
        now: datetime,
        fired: list[str],
        quiet: list[str],
    ) -> None:
        since = state.last_retrain or state.champion_since
        every = schedule.every
        if since is not None and now - since < every:
            quiet.append(f"schedule: next retrain due in {_human(since + every - now)}")
            return
        due = f"schedule: every {_human(every)}, last retrain {_ago(since, now)}"
        old = since is None or (schedule.max_age is not None and now - since >= schedule.max_age)
        live = obs.performance.get(state.metric)
        if schedule.skip_within is None or old or state.baseline is None:
            if since is not None and schedule.max_age is not None and old:
                due += f" (max age {_human(schedule.max_age)})"
            fired.append(due)
            return
        if live is None or math.isnan(live) or obs.labeled_rows < schedule.min_rows:
            fired.append(f"{due}; no {state.metric} to skip it on ({obs.labeled_rows} rows)")
            return
        lower = state.metric in _LOWER_IS_BETTER
        edge = (
            state.baseline + schedule.skip_within
            if lower
            else state.baseline - schedule.skip_within
        )
        fine = live <= edge if lower else live >= edge
        if fine:
            quiet.append(
                f"schedule: due but skipped, live {state.metric} {live:.4f} is within "
                f"{schedule.skip_within} of the champion's baseline {state.baseline:.4f}"
            )
        else:
            fired.append(
                f"{due}; live {state.metric} {live:.4f} is off the champion's baseline "
                f"{state.baseline:.4f} by more than {schedule.skip_within}"
            )

    def _limits(self, state: LoopState, now: datetime) -> list[str]:
        held = []
        if state.last_retrain is not None and now - state.last_retrain < self.cooldown:
            held.append(
                f"cool-down: last retrain {_ago(state.last_retrain, now)}, next allowed in "
                f"{_human(state.last_retrain + self.cooldown - now)}"
            )
        today = [t for t in state.retrains if now - t < DAY]
        if len(today) >= self.max_retrains_per_day:
            held.append(
                f"daily limit: {len(today)} retrains in the last 24 h "
                f"(max_retrains_per_day {self.max_retrains_per_day})"
            )
        return held


@dataclass(frozen=True)
class Observation:
    """What the monitor saw in one window of traffic (all fields optional).

    ``performance`` comes from labeled rows (feedback), ``estimated`` from a label-free
    estimator; ``new_labels`` counts labeled rows that arrived since the previous observation.
    """

    drift_status: str | None = None
    drifted_columns: tuple[str, ...] = ()
    column_status: Mapping[str, str] = field(default_factory=dict)
    performance: Mapping[str, float] = field(default_factory=dict)
    estimated: Mapping[str, float] = field(default_factory=dict)
    rows: int = 0
    labeled_rows: int = 0
    new_labels: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "drift_status": self.drift_status,
            "drifted_columns": list(self.drifted_columns),
            "performance": dict(self.performance),
            "estimated": dict(self.estimated),
            "rows": self.rows,
            "labeled_rows": self.labeled_rows,
            "new_labels": self.new_labels,
        }


@dataclass(frozen=True)
class LoopState:
    """What the loop remembers between steps (rebuilt from events by ``loop run``).

    Attributes
    ----------
    champion
        The version serving now.
    metric
        The metric triggers, gate and guard read (``Policy.metric_for(task)``).
    champion_since
        When the champion started serving (the schedule counts from it before any retrain).
    retrains
        When each recent retrain happened (cool-down and the daily limit read these).
    new_labels
        Labeled rows seen since the last retrain.
    baseline
        The champion's metric when it was judged (on the gate's holdout, or on held-out rows
        at the start): the ``drop`` trigger compares live values with it.
    live_baseline
        The champion's live metric over its first monitor window in service (``None`` until
        it has served one): the ``drop`` of a trigger with ``baseline: live`` counts from it.
    promoted_at, previous_champion, previous_baseline
        The last promotion, the version it replaced (what the guard rolls back to) and that
        version's metric on the same holdout (what the guard compares the live metric with).
    """

    champion: int | None = None
    metric: str = "accuracy"
    champion_since: datetime | None = None
    retrains: tuple[datetime, ...] = ()
    new_labels: int = 0
    baseline: float | None = None
    live_baseline: float | None = None
    promoted_at: datetime | None = None
    previous_champion: int | None = None
    previous_baseline: float | None = None

    @property
    def last_retrain(self) -> datetime | None:
        return max(self.retrains) if self.retrains else None

    def after_retrain(self, at: datetime) -> LoopState:
        """The state once a retrain happened at ``at`` (kept: the last day's retrains)."""
        recent = tuple(t for t in self.retrains if at - t < DAY)
        return replace(self, retrains=(*recent, at), new_labels=0)

    def after_promotion(
        self, version: int, at: datetime, old_metric: float | None, new_metric: float | None
    ) -> LoopState:
        """The state once ``version`` replaced the champion; both were judged on one holdout."""
        return replace(
            self,
            champion=version,
            champion_since=at,
            promoted_at=at,
            previous_champion=self.champion,
            previous_baseline=old_metric,
            baseline=new_metric,
            live_baseline=None,
        )

    def after_rollback(self, at: datetime) -> LoopState:
        """The state once the guard returned to the previous champion (the guard disarms)."""
        return replace(
            self,
            champion=self.previous_champion,
            champion_since=at,
            promoted_at=None,
            previous_champion=None,
            baseline=self.previous_baseline,
            live_baseline=None,
            previous_baseline=None,
        )


@dataclass(frozen=True)
class Decision:
    """What :meth:`Policy.decide` chose and why.

    ``action`` is ``"retrain"``, ``"rollback"``, ``"hold"`` (a trigger fired but the cool-down
    or the daily limit holds it back) or ``"none"``; ``reasons`` has one line per trigger or
    limit looked at; ``triggers`` the ones that fired.
    """

    action: Literal["none", "retrain", "rollback", "hold"]
    reasons: tuple[str, ...]
    triggers: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "reasons": list(self.reasons)}


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file.

    Raises
    ------
    PolicyError
        The file is not valid YAML, has an unknown key, a value of the wrong type or a
        threshold no metric can reach; the message names the file, the line and the field.

    Examples
    --------
    >>> load_policy("loop.yaml").action  # doctest: +SKIP
    'promote'
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(
            f"Cannot read the policy file {file}: {exc.strerror or exc}. Check the path."
        ) from None
    return Policy.from_yaml(text, source=str(file))


def _policy_error(exc: ValidationError, root: yaml.Node | None, source: str) -> PolicyError:
    """The first validation error, with the line of the YAML node it is about."""
    lines = []
    first_line = None
    first_field = None
    for error in exc.errors():
        loc = tuple(
            p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-"))
        )
        line = _line_of(root, loc)
        path = ".".join(str(p) for p in loc) or "(top level)"
        if error["type"] == "extra_forbidden":
            what = f"unknown key {path!r}: remove it or fix its spelling"
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
            what = f"{path}: {message} (got {error.get('input')!r})"
        lines.append(f"{source}, line {line}: {what}" if line else f"{source}: {what}")
        if first_field is None:
            first_line, first_field = line, path
    more = f" (and {len(lines) - 1} more: {'; '.join(lines[1:])})" if len(lines) > 1 else ""
    return PolicyError(
        f"Invalid policy {lines[0]}{more}. See docs/loop.md for every setting.",
        line=first_line,
        field=first_field,
    )


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the key or item at ``loc``, else of its nearest parent."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(part):
                    line, node = key.start_mark.line + 1, value
                    break
            else:
                return line
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _human(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.3g}{unit}"
    return f"{seconds}s"


def _ago(at: datetime | None, now: datetime) -> str:
    return "never" if at is None else f"{_human(now - at)} ago"
