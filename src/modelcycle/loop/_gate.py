"""The champion/challenger gate: both models on the same labeled rows, judged by a table of checks.

The primary metric must improve by at least a margin; guardrails (calibration, latency per row,
model size) must not regress past their limits; declared checks (a metric's floor or ceiling)
must hold. :func:`judge` works on two fitted pipelines (the backtest calls it in memory);
:func:`compare_versions` loads two registered versions, judges them and records the verdict.
"""

from __future__ import annotations

import math
import pickle
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelcycle.data import Table, Task, load_table
from modelcycle.exceptions import ParameterError
from modelcycle.learn import METRICS
from modelcycle.loop._window import evaluate, training_table, version_ref
from modelcycle.registry import Registry
from modelcycle.store import MetadataStore

__all__ = ["GateCheck", "GateResult", "compare_versions", "judge"]

#: Guardrails judged when none are given: log loss may rise by 0.05, a row may take three
#: times as long to predict, the artifact may grow tenfold.
DEFAULT_GUARDRAILS: Mapping[str, float] = {
    "calibration": 0.05,
    "latency_ratio": 3.0,
    "size_ratio": 10.0,
}
_GUARDRAILS = frozenset(DEFAULT_GUARDRAILS)
# Timings below this are noise on a shared machine: a ratio of two of them means nothing.
_LATENCY_FLOOR_MS = 0.005


@dataclass(frozen=True)
class GateCheck:
    """One line of the gate's table: what was compared, the limit, and whether it held."""

    name: str
    champion: float | None
    challenger: float | None
    limit: str
    passed: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.name,
            "champion": self.champion,
            "challenger": self.challenger,
            "limit": self.limit,
            "passed": self.passed,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class GateResult:
    """The verdict of the gate: ``passed`` only when every check held.

    Attributes
    ----------
    model, champion, challenger
        The model and the two versions judged (``None`` for in-memory pipelines).
    metric
        The primary metric.
    rows
        Labeled rows both models were scored on.
    checks
        One :class:`GateCheck` per line of the table, the primary metric first.
    champion_metrics, challenger_metrics
        Every metric of the task for each model on those rows.
    """

    model: str | None
    champion: int | None
    challenger: int | None
    metric: str
    rows: int
    checks: tuple[GateCheck, ...]
    champion_metrics: dict[str, float] = field(default_factory=dict)
    challenger_metrics: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def reasons(self) -> tuple[str, ...]:
        """One sentence per check, failures first."""
        ordered = sorted(self.checks, key=lambda c: c.passed)
        return tuple(f"{'ok' if c.passed else 'FAILED'} {c.name}: {c.reason}" for c in ordered)

    def to_frame(self) -> pd.DataFrame:
        """The table of checks."""
        return pd.DataFrame([c.to_dict() for c in self.checks]).set_index("check")

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "champion": self.champion,
            "challenger": self.challenger,
            "metric": self.metric,
            "rows": self.rows,
            "passed": self.passed,
            "checks": [c.to_dict() for c in self.checks],
            "champion_metrics": self.champion_metrics,
            "challenger_metrics": self.challenger_metrics,
        }


def judge(
    champion: Any,
    challenger: Any,
    table: Table,
    *,
    primary: str | None = None,
    margin: float = 0.0,
    guardrails: Mapping[str, float] | None = None,
    checks: Mapping[str, Mapping[str, float | None]] | None = None,
    model: str | None = None,
    versions: tuple[int | None, int | None] = (None, None),
) -> GateResult:
    """Judge two fitted pipelines on the labeled rows of ``table`` (nothing is recorded).

    Parameters
    ----------
    champion, challenger
        Fitted scikit-learn pipelines taking ``table.X``.
    table
        Labeled rows neither model was trained on (the newest ones).
    primary
        The metric that must improve: accuracy by default, R² for regression.
    margin
        How much the challenger must improve the primary metric (in its units); with 0 a tie
        passes, so a fresher model of equal quality replaces a stale one; a negative margin
        lets a challenger at most that much worse pass (a tolerance for noise).
    guardrails
        Limits: ``calibration`` (largest rise of log loss, classification only),
        ``latency_ratio`` (challenger's time per row over the champion's), ``size_ratio``
        (artifact size over the champion's). Default :data:`DEFAULT_GUARDRAILS`; ``{}`` none.
    checks
        Declared checks of the challenger alone: ``{"roc_auc": {"min": 0.8}}``.

    Examples
    --------
    >>> result = judge(old_pipeline, new_pipeline, holdout)  # doctest: +SKIP
    >>> result.passed, result.reasons[0]  # doctest: +SKIP
    (True, 'ok accuracy: 0.8123 vs 0.7710, +0.0413 ≥ margin 0')
    """
    task = table.task
    metric = primary or ("r2" if task is Task.REGRESSION else "accuracy")
    if metric not in METRICS or task not in METRICS[metric].tasks:
        fitting = [n for n, m in METRICS.items() if task in m.tasks]
        raise ParameterError("primary", "compare_versions", f"one of {fitting}", metric)
    limits = dict(DEFAULT_GUARDRAILS if guardrails is None else guardrails)
    unknown = set(limits) - _GUARDRAILS
    if unknown:
        raise ParameterError(
            "guardrails",
            "compare_versions",
            f"a mapping with keys among {sorted(_GUARDRAILS)}",
            sorted(unknown),
        )
    if len(table) == 0:
        raise ParameterError("data", "compare_versions", "at least one labeled row", 0)
    old, old_ms = _evaluate(champion, table)
    new, new_ms = _evaluate(challenger, table)
    lines = [_primary(metric, old[metric], new[metric], margin)]
    if "calibration" in limits:
        lines.append(_calibration(old, new, limits["calibration"]))
    if "latency_ratio" in limits:
        lines.append(_ratio("latency per row (ms)", old_ms, new_ms, limits["latency_ratio"]))
    if "size_ratio" in limits:
        lines.append(
            _ratio("size (bytes)", _size(champion), _size(challenger), limits["size_ratio"])
        )
    for name, bound in (checks or {}).items():
        lines.append(_declared(name, new.get(name, math.nan), bound))
    return GateResult(
        model=model,
        champion=versions[0],
        challenger=versions[1],
        metric=metric,
        rows=len(table),
        checks=tuple(lines),
        champion_metrics=old,
        challenger_metrics=new,
    )


def compare_versions(
    name: str,
    champion: int | str = "production",
    challenger: int | str = "challenger",
    data: Table | pd.DataFrame | str | Path | None = None,
    *,
    primary: str | None = None,
    margin: float = 0.0,
    guardrails: Mapping[str, float] | None = None,
    checks: Mapping[str, Mapping[str, float | None]] | None = None,
    record: bool = True,
    registry: Registry | None = None,
    store: MetadataStore | None = None,
) -> GateResult:
    """Judge two versions of ``name`` on the same labeled rows and record the verdict.

    Parameters
    ----------
    name
        The registered model.
    champion, challenger
        Versions, by number or alias.
    data
        Labeled rows with the model's features and target (a table, DataFrame or file), newer
        than anything the challenger was trained on.
    primary, margin, guardrails, checks
        As in :func:`judge`.
    record
        Store the verdict as a ``promote`` (passed) or ``reject`` event with its table of
        reasons. The gate never moves an alias: promotion is the caller's (last) step.

    Returns
    -------
    GateResult

    Examples
    --------
    >>> import modelcycle as mc
    >>> result = mc.compare_versions("elec", 3, 4, "recent.csv")  # doctest: +SKIP
    >>> print(result.to_frame())  # doctest: +SKIP
    """
    if data is None:
        raise ParameterError("data", "compare_versions", "labeled rows (a table or a file)", None)
    registry = registry if registry is not None else Registry()
    old = registry.load(name, **version_ref(champion))
    new = registry.load(name, **version_ref(challenger))
    frame = data.frame if isinstance(data, Table) else data
    if not isinstance(frame, pd.DataFrame):
        frame = load_table(frame, target=old.recipe.get("target")).frame
    table = training_table(new.recipe, frame, None)
    result = judge(
        old.pipeline,
        new.pipeline,
        table,
        primary=primary,
        margin=margin,
        guardrails=guardrails,
        checks=checks,
        model=name,
        versions=(old.version, new.version),
    )
    if record:
        store = store if store is not None else MetadataStore()
        store.record_event(
            "promote" if result.passed else "reject",
            name,
            version=new.version,
            details={"gate": result.to_dict(), "reasons": list(result.reasons)},
        )
    return result


def _evaluate(pipeline: Any, table: Table) -> tuple[dict[str, float], float]:
    """Every metric of the task on ``table``, and the best time per row in milliseconds."""
    timings = []
    for _ in range(3):  # the best of three: the least disturbed by other processes
        started = time.perf_counter()
        predicted = pipeline.predict(table.X)
        timings.append(time.perf_counter() - started)
    ms_per_row = 1000 * min(timings) / max(1, len(table))
    return evaluate(pipeline, table, predicted=predicted), ms_per_row


def _size(pipeline: Any) -> float:
    # Only measured, never loaded back: pickling our own fitted object is safe.
    return float(len(pickle.dumps(pipeline)))


def _primary(metric: str, old: float, new: float, margin: float) -> GateCheck:
    greater = METRICS[metric].greater_is_better
    gain = (new - old) if greater else (old - new)
    ok = bool(np.isfinite(gain) and gain >= margin)
    verb = "improves" if gain > 0 else "does not improve"
    # A negative margin is a tolerance: the challenger may be worse by at most that much.
    limit = f"improve by ≥ {margin:g}" if margin >= 0 else f"worse by ≤ {-margin:g}"
    return GateCheck(
        metric,
        old,
        new,
        limit,
        ok,
        f"{new:.4f} vs {old:.4f}: {verb} by {gain:+.4f} (margin {margin:g})",
    )


def _calibration(old: dict[str, float], new: dict[str, float], limit: float) -> GateCheck:
    if "log_loss" not in old or "log_loss" not in new:
        return GateCheck("calibration", None, None, "n/a", True, "no probabilities: not judged")
    rise = new["log_loss"] - old["log_loss"]
    return GateCheck(
        "calibration (log loss)",
        old["log_loss"],
        new["log_loss"],
        f"rise ≤ {limit:g}",
        bool(rise <= limit),
        f"{new['log_loss']:.4f} vs {old['log_loss']:.4f}: {rise:+.4f} (limit +{limit:g})",
    )


def _ratio(name: str, old: float, new: float, limit: float) -> GateCheck:
    ratio = new / old if old > 0 else math.inf
    floor = _LATENCY_FLOOR_MS if name.startswith("latency") else 0.0
    ok = bool(ratio <= limit or new <= floor)
    return GateCheck(
        name,
        old,
        new,
        f"≤ {limit:g}× the champion",
        ok,
        f"{new:.4g} vs {old:.4g}: {ratio:.2f}× (limit {limit:g}×)",
    )


def _declared(name: str, value: float, bound: Mapping[str, float | None]) -> GateCheck:
    low, high = bound.get("min"), bound.get("max")
    ok = bool(
        np.isfinite(value) and (low is None or value >= low) and (high is None or value <= high)
    )
    limit = " and ".join(
        s
        for s in (
            f"≥ {low:g}" if low is not None else "",
            f"≤ {high:g}" if high is not None else "",
        )
        if s
    )
    return GateCheck(f"check {name}", None, value, limit, ok, f"{value:.4f} must be {limit}")
