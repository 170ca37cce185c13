"""Live monitoring: one window of a deployed model's traffic, checked and recorded.

:func:`check_window` reads the prediction log of the version an alias points at, tests the
window's inputs, predictions and (when known) labels for drift against the version's
reference, scores the labeled rows, estimates performance from probabilities where labels are
missing, runs a streaming detector over the errors, and records it all in the metadata store.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pandas as pd

from modelcycle.exceptions import DataError, ParameterError
from modelcycle.monitor._drift import detect_drift
from modelcycle.monitor._inputs import canonical
from modelcycle.monitor._performance import (
    check_thresholds,
    classification_metrics,
    estimated_metrics,
    regression_metrics,
    threshold_breaches,
)
from modelcycle.monitor._report import DriftReport, DriftStatus, _json
from modelcycle.monitor._stream import StreamMonitor
from modelcycle.store import PREDICTION_COLUMNS, LogReader, MetadataStore

if TYPE_CHECKING:
    from modelcycle.registry import LoadedModel, Registry

_WINDOW = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w|rows?)\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# Labeled rows needed before live metrics are compared with thresholds: accuracy over a dozen
# rows swings by tens of points and would raise false alarms.
_MIN_LABELS = 30
_SEVERITY_NAME = "status"


@dataclass(frozen=True)
class Window:
    """A parsed window: the last ``seconds`` of traffic, or the last ``rows`` rows."""

    text: str
    seconds: float | None = None
    rows: int | None = None


def parse_window(text: str, *, parameter: str = "window", owner: str = "check_window") -> Window:
    """Parse ``"30m"``, ``"1h"``, ``"1d"``, ``"2w"``, ``"90s"`` or ``"10000rows"``.

    Examples
    --------
    >>> parse_window("1h").seconds, parse_window("10000rows").rows
    (3600, 10000)
    """
    match = _WINDOW.match(text) if isinstance(text, str) else None
    if not match or int(match.group(1)) <= 0:
        raise ParameterError(
            parameter,
            owner,
            "a positive duration such as '30m', '1h', '1d' or a count '10000rows'",
            text,
        )
    number, unit = int(match.group(1)), match.group(2).lower()
    if unit.startswith("row"):
        return Window(text, rows=number)
    return Window(text, seconds=number * _UNITS[unit])


@dataclass(frozen=True)
class WindowResult:
    """What one check of a window of live traffic found.

    Attributes
    ----------
    model, version
        The model and the deployed version whose traffic was read.
    window_start, window_end
        The window (aware UTC; the end is exclusive).
    rows, labeled_rows
        Prediction rows in the window, and how many of them have feedback.
    drift
        Drift of the inputs against the version's reference profile, or ``None`` when the
        window has fewer than ``min_rows`` rows.
    performance
        Metrics from feedback (classification: accuracy, roc_auc, f1; regression: rmse, mae).
    estimated
        Classification metrics **estimated** from the model's probabilities without labels
        (CBPE-style); empty for regression or a model without probabilities.
    status
        The worst of the drift, prediction drift, label drift, stream and performance statuses.
    reasons
        Why, in words: one line per drifted column, breached threshold or detection.
    alias
        The alias that was followed.
    prediction_drift, label_drift
        Drift of the model's outputs (against its predictions on the reference sample) and of
        the labels (against the training target), when they could be tested.
    stream
        The streaming detector's state after the window's errors, in time order.
    drift_status, performance_status
        The two halves of ``status``: data (inputs, outputs, labels, stream) and thresholds.
    """

    model: str
    version: str | None
    window_start: datetime
    window_end: datetime
    rows: int
    labeled_rows: int
    drift: DriftReport | None
    performance: dict[str, float]
    estimated: dict[str, float]
    status: DriftStatus
    reasons: tuple[str, ...]
    alias: str = "production"
    prediction_drift: DriftReport | None = None
    label_drift: DriftReport | None = None
    stream: dict[str, Any] | None = None
    drift_status: DriftStatus = DriftStatus.STABLE
    performance_status: DriftStatus = DriftStatus.STABLE
    thresholds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe values (NaN as ``None``; drift reports as their own ``to_dict``).

        Examples
        --------
        >>> from datetime import UTC, datetime
        >>> now = datetime(2024, 1, 1, tzinfo=UTC)
        >>> r = WindowResult("elec", "1", now, now, 0, 0, None, {}, {}, DriftStatus.STABLE, ())
        >>> r.to_dict()["status"]
        'Stable'
        """

        def report(r: DriftReport | None) -> dict[str, Any] | None:
            return r.to_dict() if r is not None else None

        return {
            "model": self.model,
            "version": self.version,
            "alias": self.alias,
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "rows": self.rows,
            "labeled_rows": self.labeled_rows,
            "status": str(self.status),
            "drift_status": str(self.drift_status),
            "performance_status": str(self.performance_status),
            "reasons": list(self.reasons),
            "performance": _json(self.performance),
            "estimated": _json(self.estimated),
            "thresholds": dict(self.thresholds),
            "stream": self.stream,
            "drift": report(self.drift),
            "prediction_drift": report(self.prediction_drift),
            "label_drift": report(self.label_drift),
        }

    def metrics(self) -> dict[str, float | None]:
        """The numbers recorded in the metadata store for this window, by metric name."""
        out: dict[str, float | None] = {
            _SEVERITY_NAME: self.status.severity,
            "drift.status": self.drift_status.severity,
            "performance.status": self.performance_status.severity,
            "rows": self.rows,
            "labeled_rows": self.labeled_rows,
        }
        if self.drift is not None:
            cols = self.drift.columns
            out["drift.share"] = float((cols["status"] == "Drift").mean()) if len(cols) else 0.0
            for name, row in cols.iterrows():
                out[f"drift.severity.{name}"] = DriftStatus(row["status"]).severity
                out[f"drift.effect.{name}"] = _finite(row["effect"])
            if self.drift.domain is not None:
                out["drift.domain_auc"] = self.drift.domain.auc
        for label, r in (("prediction", self.prediction_drift), ("label", self.label_drift)):
            if r is not None:
                out[f"{label}_drift.status"] = r.status.severity
        out.update({f"performance.{k}": _finite(v) for k, v in self.performance.items()})
        out.update({f"estimated.{k}": _finite(v) for k, v in self.estimated.items()})
        if self.stream is not None:
            out["stream.status"] = DriftStatus(self.stream["status"]).severity
        return out


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


# -- the reference a window is compared with -----------------------------------------------------


@dataclass
class ModelReference:
    """What a check needs of a model version, loaded once and reused for every window."""

    name: str
    version: str
    profile: dict[str, Any]
    task: str
    target: str | None
    features: list[str]
    predictions: pd.Series | None
    note: str = ""

    @classmethod
    def load(cls, loaded: LoadedModel) -> ModelReference:
        profile = dict(loaded.reference_profile)
        if "columns" not in profile:
            raise DataError(
                f"{loaded.name} version {loaded.version} has no reference profile, so its "
                "traffic cannot be checked for drift. Register it with modelcycle (which "
                "profiles the training data)."
            )
        schema = (loaded.recipe or {}).get("schema") or {}
        target = profile.get("target") or schema.get("target")
        task = str(profile.get("task") or schema.get("task") or "")
        features = [c for c in profile["columns"] if c != target]
        predictions, note = None, ""
        try:
            sample = pd.DataFrame(dict(profile["sample"]))
            values = np.asarray(loaded.pipeline.predict(sample[features]))
            predictions = pd.Series(values, name="prediction")
        except Exception as exc:  # a model that cannot predict its own sample: no baseline
            note = f"the model could not predict its reference sample ({exc})"
        return cls(
            loaded.name, str(loaded.version), profile, task, target, features, predictions, note
        )


# -- the check -----------------------------------------------------------------------------------


def check_window(
    name: str,
    *,
    alias: str = "production",
    window: str = "1h",
    end: datetime | None = None,
    thresholds: Mapping[str, float] | None = None,
    min_rows: int = 100,
    registry: Registry | None = None,
    store: MetadataStore | None = None,
    log_dir: Path | None = None,
    record: bool = True,
    detector: str = "adwin",
    reference: ModelReference | None = None,
    **drift_options: Any,
) -> WindowResult:
    """Check one window of a deployed model's live traffic: drift, performance, estimates.

    Parameters
    ----------
    name
        The registered model.
    alias
        The alias whose current version is checked (only that version's traffic is read).
    window
        ``"30m"``, ``"1h"``, ``"1d"``, … (the traffic of that long before ``end``) or
        ``"10000rows"`` (the last rows before ``end``).
    end
        End of the window (exclusive; default now). Naive datetimes are UTC.
    thresholds
        Floors of scores and ceilings of errors, e.g. ``{"accuracy": 0.7, "rmse": 3.0}``.
        A measured metric (at least 30 labeled rows) on the wrong side makes the status
        Drift; only an estimated one, Warning.
    min_rows
        Fewer rows than this and no drift test runs (``drift`` is ``None``; a reason says so).
    registry, store, log_dir
        Where the model, the metadata and the prediction log live (default: the settings).
    record
        Store the window's metrics and a ``"monitor"`` event, plus a ``"drift"`` or
        ``"performance"`` event when that status changed since the last recorded window.
    detector
        The streaming detector run over the window's errors (see :class:`StreamMonitor`).
    reference
        A :class:`ModelReference` already loaded for this version (saves loading the model
        again; :class:`Monitor` passes one).
    **drift_options
        Passed to :func:`detect_drift` (``alpha``, ``min_effect``, ``multivariate``, …).

    Returns
    -------
    WindowResult

    Raises
    ------
    ModelNotFoundError
        If the model or alias does not exist.
    ParameterError
        If the window or a threshold is malformed.

    Examples
    --------
    >>> from modelcycle.monitor import check_window
    >>> result = check_window("elec", window="1h", thresholds={"accuracy": 0.7})  # doctest: +SKIP
    >>> result.status, result.reasons                                              # doctest: +SKIP
    (<DriftStatus.DRIFT: 'Drift'>, ('drift in nswprice (p<0.001, effect 0.42)',))
    """
    spec = parse_window(window)
    limits = check_thresholds(thresholds, "check_window")
    if isinstance(min_rows, bool) or not isinstance(min_rows, int) or min_rows < 1:
        raise ParameterError("min_rows", "check_window", "a positive integer", min_rows)
    stream = StreamMonitor(detector)
    stream._build()  # a bad detector name fails before any reading
    end_at = _utc(end) if end is not None else datetime.now(UTC)
    if reference is None:
        from modelcycle.registry import Registry

        loaded = (registry or Registry()).load(name, alias=alias)
        reference = ModelReference.load(loaded)
    since = end_at - timedelta(seconds=spec.seconds) if spec.seconds is not None else None
    frame = LogReader(log_dir).joined(
        name, since=since, until=end_at, version=reference.version, limit=spec.rows, how="left"
    )
    start_at = since if since is not None else _first_ts(frame, end_at)
    result = _check(
        name, alias, reference, frame, start_at, end_at, limits, min_rows, stream, drift_options
    )
    if record:
        record_window(result, store or MetadataStore())
    return result


def _check(
    name: str,
    alias: str,
    ref: ModelReference,
    frame: pd.DataFrame,
    start: datetime,
    end: datetime,
    limits: dict[str, float],
    min_rows: int,
    stream: StreamMonitor,
    drift_options: dict[str, Any],
) -> WindowResult:
    reasons: list[str] = []
    labeled = frame[frame["actual"].notna()] if len(frame) else frame
    rows, n_labeled = len(frame), len(labeled)
    drift = prediction_drift = label_drift = None
    if rows < min_rows:
        reasons.append(
            f"only {rows} rows in the window (min_rows={min_rows}): not enough to test drift"
        )
    else:
        drift = detect_drift(ref.profile, _features(frame, ref.features), **drift_options)
        reasons += _drift_reasons(drift, "")
        prediction_drift = _prediction_drift(ref, frame, drift_options, reasons)
    if ref.target is not None and n_labeled >= min_rows:
        current = pd.DataFrame({ref.target: labeled["actual"].to_numpy()})
        options = {**drift_options, "multivariate": False}
        label_drift = detect_drift(ref.profile, current, columns=[ref.target], **options)
        reasons += _drift_reasons(label_drift, "label ")

    performance, estimated, errors = _performance(ref, frame, labeled)
    if stream.binary and ref.task == "regression":
        raise ParameterError(
            "detector",
            "check_window",
            "'adwin', 'page_hinkley' or 'hddm_w' for regression",
            stream.detector,
        )
    for error in errors:
        stream.update(error)
    if stream.drift_detected:
        reasons.append(
            f"{stream.detector} detected a change in the error stream at labeled row "
            f"{stream.first_detection_} of {n_labeled}"
        )
    elif stream.status is DriftStatus.WARNING:
        reasons.append(f"{stream.detector} is in its warning zone on the error stream")

    perf_status = DriftStatus.STABLE
    measured = performance if n_labeled >= _MIN_LABELS else {}
    for metric, value, limit in threshold_breaches(measured, limits):
        perf_status = DriftStatus.DRIFT
        reasons.append(_breach(metric, value, limit, ""))
    unmeasured = {k: v for k, v in estimated.items() if k not in measured}
    for metric, value, limit in threshold_breaches(unmeasured, limits):
        perf_status = DriftStatus.worst([perf_status, DriftStatus.WARNING])
        reasons.append(_breach(metric, value, limit, "estimated "))

    reports = [r for r in (drift, prediction_drift, label_drift) if r is not None]
    drift_status = DriftStatus.worst([*(r.status for r in reports), stream.status])
    return WindowResult(
        model=name,
        version=ref.version,
        window_start=start,
        window_end=end,
        rows=rows,
        labeled_rows=n_labeled,
        drift=drift,
        performance=performance,
        estimated=estimated,
        status=DriftStatus.worst([drift_status, perf_status]),
        reasons=tuple(reasons),
        alias=alias,
        prediction_drift=prediction_drift,
        label_drift=label_drift,
        stream=stream.to_dict() if n_labeled else None,
        drift_status=drift_status,
        performance_status=perf_status,
        thresholds=limits,
    )


def _breach(metric: str, value: float, limit: float, prefix: str) -> str:
    sign = ">" if metric in ("rmse", "mae") else "<"
    return f"{prefix}{metric} {value:.3f} {sign} {limit:.3f}"


def _features(frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """The window's inputs under the reference's names (a feature the reader renamed
    ``input_<name>`` because it clashes with a log column gets its name back)."""
    taken = set(PREDICTION_COLUMNS) | {"actual", "feedback_ts"}
    columns = {f: (f"input_{f}" if f in taken else f) for f in features}
    present = {f: frame[c] for f, c in columns.items() if c in frame.columns}
    # A feature no request sent is all-missing: drift in its missing share, not a crash.
    return pd.DataFrame(present, index=frame.index).reindex(columns=features)


def _prediction_drift(
    ref: ModelReference, frame: pd.DataFrame, options: dict[str, Any], reasons: list[str]
) -> DriftReport | None:
    if ref.predictions is None:
        if ref.note:
            reasons.append(f"prediction drift not tested: {ref.note}")
        return None
    numeric = ref.task == "regression"
    current = frame["prediction"]
    if numeric:
        current = pd.to_numeric(current, errors="coerce")
    kind = "numeric" if numeric else "categorical"
    report = detect_drift(
        pd.DataFrame({"prediction": ref.predictions}),
        pd.DataFrame({"prediction": current.to_numpy()}),
        kinds={"prediction": kind},
        **{**options, "multivariate": False},
    )
    reasons += _drift_reasons(report, "")
    return report


def _drift_reasons(report: DriftReport, prefix: str) -> list[str]:
    out = []
    for column in [*report.drifted, *report.warned]:
        row: dict[Any, Any] = report.columns.loc[column].to_dict()
        p, effect = float(row["p_adjusted"]), float(row["effect"])
        p_text = "p<0.001" if p < 0.001 else f"p={p:.3f}"
        word = "drift" if row["status"] == "Drift" else "warning"
        out.append(f"{prefix}{word} in {column} ({p_text}, effect {effect:.3g})")
    if report.domain is not None and report.domain.status is not DriftStatus.STABLE:
        d = report.domain
        out.append(
            f"{prefix}domain classifier tells the window from the reference (AUC {d.auc:.2f})"
        )
    return out


def _performance(
    ref: ModelReference, frame: pd.DataFrame, labeled: pd.DataFrame
) -> tuple[dict[str, float], dict[str, float], list[float]]:
    """Live metrics, CBPE estimates and per-row errors (in time order) of a window."""
    if ref.task == "regression":
        metrics, abs_errors = _regression(labeled)
        return metrics, {}, abs_errors
    if ref.task not in ("binary", "multiclass"):
        return {}, {}, []
    classes, proba = _probabilities(frame["outputs"])
    predicted = [canonical(v) for v in frame["prediction"]]
    estimated = estimated_metrics(predicted, proba, classes) if proba is not None else {}
    if not len(labeled):
        return {}, estimated, []
    mask = frame["actual"].notna().to_numpy()
    actual = [canonical(v) for v in labeled["actual"]]
    mine = [p for p, m in zip(predicted, mask, strict=True) if m]
    labels = classes or sorted(set(actual) | set(mine))
    performance = classification_metrics(
        actual, mine, proba[mask] if proba is not None else None, labels
    )
    errors = [float(a != p) for a, p in zip(actual, mine, strict=True)]
    return performance, estimated, errors


def _regression(labeled: pd.DataFrame) -> tuple[dict[str, float], list[float]]:
    """RMSE and MAE of the labeled rows, and their absolute errors in time order."""
    actual = pd.to_numeric(labeled["actual"], errors="coerce").to_numpy(dtype=float)
    predicted = pd.to_numeric(labeled["prediction"], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(actual) & np.isfinite(predicted)
    metrics = regression_metrics(actual[ok], predicted[ok]) if ok.any() else {}
    return metrics, np.abs(actual[ok] - predicted[ok]).tolist()


def _probabilities(outputs: pd.Series) -> tuple[list[str], np.ndarray | None]:
    """Class labels and an (n, k) matrix of probabilities from the log's ``outputs`` JSON."""
    parsed = [orjson.loads(v) if isinstance(v, str) else None for v in outputs]
    first = next((p for p in parsed if isinstance(p, dict) and p.get("probabilities")), None)
    if first is None:
        return [], None
    keys = list(first["probabilities"])
    matrix = np.full((len(parsed), len(keys)), np.nan)
    for i, p in enumerate(parsed):
        probs = p.get("probabilities") if isinstance(p, dict) else None
        if probs:
            matrix[i] = [probs.get(k, np.nan) for k in keys]
    if np.isnan(matrix).any():  # rows logged without probabilities: no estimate at all
        return [canonical(k) for k in keys], None
    return [canonical(k) for k in keys], matrix


def _first_ts(frame: pd.DataFrame, default: datetime) -> datetime:
    if not len(frame):
        return default
    return _utc(pd.Timestamp(frame["ts"].iloc[0]).to_pydatetime())


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# -- recording ------------------------------------------------------------------------------------


def record_window(result: WindowResult, store: MetadataStore) -> None:
    """Store a window's metrics and its ``"monitor"`` event, and status-change events.

    A ``"drift"`` event is recorded when the data status differs from the previous recorded
    window's (of the same model), a ``"performance"`` event when the threshold status does.
    """
    previous = store.events(result.model, kinds="monitor", limit=1)
    before = previous[-1].details if previous else {}
    store.record_metrics(
        result.model,
        result.version,
        result.metrics(),
        result.window_start,
        result.window_end,
        details={"alias": result.alias},
    )
    details = result.to_dict()
    # Only the main report's columns are kept: the event is what the report over time reads.
    details.pop("prediction_drift")
    details.pop("label_drift")
    store.record_event("monitor", result.model, version=result.version, details=details)
    for kind, status in (
        ("drift", result.drift_status),
        ("performance", result.performance_status),
    ):
        old = before.get(f"{kind}_status", str(DriftStatus.STABLE))
        if old != str(status):
            store.record_event(
                kind,
                result.model,
                version=result.version,
                details={
                    "from": old,
                    "to": str(status),
                    "reasons": list(result.reasons),
                    "window_start": result.window_start.isoformat(),
                    "window_end": result.window_end.isoformat(),
                },
            )
