"""Turning plain Python data into what MLflow accepts: params, tags, metrics, JSON artifacts."""

from __future__ import annotations

import datetime as dt
import enum
import json
import math
import re
from collections.abc import Iterator, Mapping
from pathlib import PurePath
from typing import Any

import numpy as np

from modelcycle.exceptions import ParameterError

# MLflow's limits (mlflow.utils.validation); restated so a change there shows up in a test here.
MAX_KEY_LENGTH = 250
MAX_PARAM_LENGTH = 6000
MAX_TAG_LENGTH = 8000
PARAMS_PER_BATCH = 100
METRICS_PER_BATCH = 1000

_BAD_KEY_CHARS = re.compile(r"[^\w.\- /:]")
_TRUNCATED = "…[truncated]"


def flatten_params(params: Mapping[str, Any]) -> dict[str, str]:
    """Nested dicts become dotted keys; values become strings within MLflow's limits.

    Examples
    --------
    >>> flatten_params({"model": {"C": 1.0, "penalty": "l2"}, "features": ["a", "b"]})
    {'model.C': '1.0', 'model.penalty': 'l2', 'features': '["a", "b"]'}
    """
    return {
        safe_key(key): truncate(_stringify(value), MAX_PARAM_LENGTH)
        for key, value in _walk(params, "")
    }


def stringify_tags(tags: Mapping[str, Any] | None) -> dict[str, str]:
    """Tags with safe keys and string values no longer than MLflow allows."""
    return {
        safe_key(str(key)): truncate(_stringify(value), MAX_TAG_LENGTH)
        for key, value in (tags or {}).items()
    }


def clean_metrics(metrics: Mapping[str, Any], owner: str) -> dict[str, float]:
    """Metric values as floats (NaN and infinities kept: MLflow stores them)."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            raise ParameterError(
                "metrics",
                owner,
                f"a mapping of names to numbers (the value of {key!r} is not)",
                value,
            )
        out[safe_key(str(key))] = float(value)
    return out


def safe_key(key: str) -> str:
    """A key MLflow accepts: allowed characters only, no path tricks, at most 250 characters."""
    cleaned = _BAD_KEY_CHARS.sub("_", key).replace("..", "_").strip("/") or "_"
    return cleaned[:MAX_KEY_LENGTH]


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(_TRUNCATED)] + _TRUNCATED


def to_json(value: Any, *, parameter: str, owner: str) -> str:
    """Serialise ``value`` as JSON, accepting NumPy scalars and arrays, paths, enums and dates.

    Raises
    ------
    ParameterError
        If ``value`` holds something else (a fitted estimator, a function, ...).
    """
    try:
        return json.dumps(value, default=_json_default, indent=2, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise ParameterError(
            parameter, owner, "JSON-serialisable data (dicts, lists, strings, numbers)", str(exc)
        ) from exc


def json_safe(value: Any) -> Any:
    """``value`` with NumPy scalars turned into Python ones (for YAML and JSON writers)."""
    return json.loads(json.dumps(value, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _walk(params: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, Any]]:
    for key, value in params.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            yield from _walk(value, name)
        else:
            yield name, value


def _stringify(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, list | tuple | set | frozenset | Mapping | np.ndarray):
        try:
            return json.dumps(value, default=_json_default)
        except (TypeError, ValueError):
            return str(value)
    if isinstance(value, enum.Enum):
        return str(value.value)
    return str(value)
