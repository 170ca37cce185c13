"""Reference profiles: a compact summary of a table that drift monitoring compares against.

A profile is plain JSON-able data, so it is stored beside a model version and read without the
training data: per numeric column quantiles and a histogram, per categorical column category
frequencies, and a bounded random sample of rows for tests that need raw values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from modelcycle.data._schema import ColumnKind
from modelcycle.data._table import Table

PROFILE_VERSION = 1
_QUANTILES = [0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0]
_BINS = 20
_TOP_CATEGORIES = 100


def profile_table(
    table: Table, *, sample_size: int = 5000, random_state: int = 0
) -> dict[str, Any]:
    """Summarise ``table`` for drift monitoring (target included when there is one)."""
    frame = table.frame
    columns: dict[str, Any] = {}
    kinds = dict(table.schema.columns)
    if table.target is not None:
        kinds[table.target] = (
            ColumnKind.NUMERIC if table.task == "regression" else ColumnKind.CATEGORICAL
        )
    for name, kind in kinds.items():
        columns[name] = _profile_column(frame[name], kind)
    n_sample = min(sample_size, len(frame))
    sample = frame.sample(n=n_sample, random_state=random_state) if n_sample < len(frame) else frame
    return {
        "version": PROFILE_VERSION,
        "rows": len(frame),
        "target": table.target,
        "task": str(table.task),
        "columns": columns,
        "sample": _records(sample[list(kinds)]),
    }


def _profile_column(series: pd.Series, kind: ColumnKind) -> dict[str, Any]:
    base: dict[str, Any] = {
        "kind": str(kind),
        "missing": float(series.isna().mean()),
        "distinct": int(series.nunique()),
    }
    values = series.dropna()
    if kind is ColumnKind.NUMERIC and len(values):
        x = values.to_numpy(dtype=float)
        counts, edges = np.histogram(x, bins=_BINS)
        base.update(
            mean=float(x.mean()),
            std=float(x.std()),
            quantiles=dict(
                zip(map(str, _QUANTILES), np.quantile(x, _QUANTILES).tolist(), strict=True)
            ),
            histogram={"edges": edges.tolist(), "counts": counts.tolist()},
        )
    elif kind in (ColumnKind.CATEGORICAL, ColumnKind.TEXT, ColumnKind.IDENTIFIER) and len(values):
        freq = values.astype(str).value_counts(normalize=True)
        top = freq.head(_TOP_CATEGORIES)
        base["frequencies"] = {str(k): float(v) for k, v in top.items()}
        base["other_share"] = float(max(0.0, 1.0 - top.sum()))
    elif kind is ColumnKind.DATETIME and len(values):
        base.update(min=str(values.min()), max=str(values.max()))
    return base


def _records(frame: pd.DataFrame) -> dict[str, list[Any]]:
    """Column-wise lists with JSON-safe values (NaN becomes None, timestamps ISO strings)."""
    out: dict[str, list[Any]] = {}
    for name in frame.columns:
        col = frame[name]
        if pd.api.types.is_datetime64_any_dtype(col):
            out[name] = [None if pd.isna(v) else v.isoformat() for v in col]
        else:
            out[name] = [
                None if pd.isna(v) else (v.item() if isinstance(v, np.generic) else v) for v in col
            ]
    return out
