"""What a table holds: per-column summaries, the target's distribution, how each feature goes
with the target, and how numeric features go with each other."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats.contingency import association

from modelcycle.data import ColumnKind, Table, Task
from modelcycle.features._rank import category_codes, numeric_values

# Categories listed per column in the summary table (the report's bar charts show more).
_TOP_IN_SUMMARY = 3
# Categories kept per column for charts and JSON.
TOP_CATEGORIES = 10

_NUMBERS = ("min", "p25", "median", "p75", "max", "mean", "std")


def target_kind(table: Table) -> ColumnKind:
    """The kind of the target column: numbers for regression, classes otherwise."""
    return ColumnKind.NUMERIC if table.task is Task.REGRESSION else ColumnKind.CATEGORICAL


def column_kinds(table: Table) -> dict[str, ColumnKind]:
    """Every column of the table with its kind, the target last."""
    kinds = dict(table.schema.columns)
    if table.target is not None:
        kinds[table.target] = target_kind(table)
    return kinds


def top_categories(series: pd.Series, n: int = TOP_CATEGORIES) -> list[tuple[str, float]]:
    """The ``n`` most frequent values with their share of non-missing rows."""
    shares = series.dropna().astype(str).value_counts(normalize=True).head(n)
    return [(str(k), float(v)) for k, v in shares.items()]


def _describe(series: pd.Series, kind: ColumnKind, top: list[tuple[str, float]]) -> str:
    """One readable phrase for the summary's last column."""
    values = series.dropna()
    if values.empty:
        return "all missing"
    if kind is ColumnKind.DATETIME:
        when = pd.to_datetime(values, errors="coerce", format="mixed").dropna()
        if when.empty:
            return "no parsable dates"
        dates_only = bool((when == when.dt.normalize()).all())
        low, high = (
            (when.min().date(), when.max().date()) if dates_only else (when.min(), when.max())
        )
        return f"{low} … {high}"
    if kind is ColumnKind.TEXT:
        words = values.astype(str).str.count(r"\S+").mean()
        return f"free text, {words:.0f} words on average"
    if kind is ColumnKind.IDENTIFIER:
        return f"e.g. {values.iloc[0]!s}, {values.iloc[min(1, len(values) - 1)]!s}"
    if kind is ColumnKind.CATEGORICAL:
        shown = ", ".join(f"{name} {share:.1%}" for name, share in top[:_TOP_IN_SUMMARY])
        more = values.nunique() - _TOP_IN_SUMMARY
        return shown + (f" (+{more} more)" if more > 0 else "")
    return ""


def _numbers(x: np.ndarray) -> dict[str, float]:
    """Quantiles, mean and standard deviation of the finite values (empty when none)."""
    x = x[np.isfinite(x)]
    if not len(x):
        return {}
    q = np.quantile(x, [0.0, 0.25, 0.5, 0.75, 1.0])
    return {k: float(v) for k, v in zip(_NUMBERS, [*q, x.mean(), x.std()], strict=True)}


def column_summary(table: Table) -> tuple[pd.DataFrame, dict[str, list[tuple[str, float]]]]:
    """A row per column (target included) and the top categories of categorical columns."""
    frame = table.frame
    rows: list[dict[str, Any]] = []
    tops: dict[str, list[tuple[str, float]]] = {}
    for name, kind in column_kinds(table).items():
        series = frame[name]
        row: dict[str, Any] = {
            "column": name,
            "role": "target" if name == table.target else "feature",
            "kind": str(kind),
            "missing": float(series.isna().mean()),
            "distinct": int(series.nunique(dropna=True)),
            **dict.fromkeys(_NUMBERS, np.nan),
        }
        if kind is ColumnKind.NUMERIC:
            row.update(_numbers(numeric_values(series, kind)))
        top: list[tuple[str, float]] = []
        if kind is ColumnKind.CATEGORICAL:
            top = tops[name] = top_categories(series)
        row["summary"] = _describe(series, kind, top)
        rows.append(row)
    return pd.DataFrame(rows), tops


def target_distribution(table: Table) -> pd.DataFrame:
    """Class counts and shares, or the numeric target's summary statistics."""
    if table.target is None:
        return pd.DataFrame()
    y = table.y
    if table.task is Task.REGRESSION:
        numbers = {"count": float(len(y)), **_numbers(y.to_numpy(dtype=np.float64))}
        return pd.DataFrame({"statistic": list(numbers), "value": list(numbers.values())})
    counts = y.value_counts()
    order = [c for c in table.schema.classes if c in counts.index] or list(counts.index)
    counts = counts.reindex(order)
    return pd.DataFrame(
        {
            "class": [str(c) for c in counts.index],
            "count": counts.to_numpy(dtype=np.int64),
            "share": (counts / counts.sum()).to_numpy(dtype=np.float64),
        }
    )


def correlation_ratio(groups: np.ndarray, values: np.ndarray) -> float:
    """η: the share of the spread of ``values`` explained by the groups, as a correlation
    (0 = group means equal, 1 = values fixed within each group). Missing values are left out."""
    ok = np.isfinite(values)
    g = np.unique(groups[ok], return_inverse=True)[1]
    v = values[ok]
    if len(v) < 2:
        return float("nan")
    total = float(((v - v.mean()) ** 2).sum())
    if total == 0.0:
        return 0.0
    counts = np.bincount(g)
    means = np.bincount(g, weights=v) / counts
    between = float((counts * (means - v.mean()) ** 2).sum())
    return float(np.sqrt(min(between / total, 1.0)))


def cramers_v(a: np.ndarray, b: np.ndarray) -> float:
    """Cramér's V of two code columns (0 = independent, 1 = each determines the other)."""
    table = np.zeros((int(a.max()) + 1, int(b.max()) + 1), dtype=np.int64)
    np.add.at(table, (a, b), 1)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    if min(table.shape) < 2:
        return 0.0
    return float(association(table, method="cramer"))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's ρ over rows where both are present (0 when either is constant)."""
    rho = pd.Series(a).corr(pd.Series(b), method="spearman")
    return 0.0 if pd.isna(rho) else float(rho)


def association_of(series: pd.Series, kind: ColumnKind, table: Table) -> tuple[str, float]:
    """How strongly one feature goes with the target, on a 0-1 scale, and the measure used.

    By kinds: a numeric feature and classes, the correlation ratio η of the feature across
    classes; a categorical feature and classes, Cramér's V; a numeric feature and a numeric
    target, |Spearman ρ| (monotone, robust to skew); a categorical feature and a numeric
    target, η of the target across categories. A datetime feature counts as its timestamp.
    """
    classification = table.task is not Task.REGRESSION
    if kind is ColumnKind.CATEGORICAL:
        codes = category_codes(series)
        if classification:
            return "Cramér's V", cramers_v(codes, category_codes(table.y))
        return "correlation ratio η", correlation_ratio(codes, table.y.to_numpy(np.float64))
    x = numeric_values(series, kind)
    if classification:
        return "correlation ratio η", correlation_ratio(category_codes(table.y), x)
    return "|Spearman ρ|", abs(spearman(x, table.y.to_numpy(np.float64)))


def associations(table: Table) -> pd.DataFrame:
    """Every feature's association with the target, strongest first (empty without a target)."""
    columns = ["feature", "kind", "measure", "score"]
    if table.target is None:
        return pd.DataFrame(columns=columns)
    rows = []
    for name in table.schema.features:
        kind = table.schema.columns[name]
        measure, value = association_of(table.frame[name], kind, table)
        rows.append({"feature": name, "kind": str(kind), "measure": measure, "score": value})
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)


def correlations(table: Table) -> pd.DataFrame:
    """Spearman correlations between numeric features (pairwise complete rows)."""
    numeric = table.schema.numeric
    if len(numeric) < 2:
        return pd.DataFrame()
    values = pd.DataFrame({n: numeric_values(table.frame[n], ColumnKind.NUMERIC) for n in numeric})
    return values.corr(method="spearman").fillna(0.0)
