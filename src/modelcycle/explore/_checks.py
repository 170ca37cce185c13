"""Warnings about a table: likely leakage, and columns a model cannot learn from as they are."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from modelcycle.data import ColumnKind, Table, Task
from modelcycle.explore._summary import spearman
from modelcycle.features._preprocess import _MAX_CATEGORIES
from modelcycle.features._rank import category_codes, numeric_values, quantile_codes


class IssueKind(StrEnum):
    """What is wrong with a column.

    Examples
    --------
    >>> IssueKind("leakage") is IssueKind.LEAKAGE
    True
    """

    LEAKAGE = "leakage"
    ALL_MISSING = "all_missing"
    MOSTLY_MISSING = "mostly_missing"
    CONSTANT = "constant"
    IDENTIFIER = "identifier"
    TEXT = "text"
    HIGH_CARDINALITY = "high_cardinality"
    IMBALANCED = "imbalanced"


@dataclass(frozen=True)
class DataIssue:
    """One warning about a table: the column, what kind of problem, and what to do.

    A record, not a Python warning: :func:`~modelcycle.explore.explore` returns them in
    ``Exploration.warnings`` so they can be shown, filtered and saved.

    Examples
    --------
    >>> issue = DataIssue("id", IssueKind.IDENTIFIER, "'id' looks like an identifier.")
    >>> issue.to_dict()["kind"]
    'identifier'
    """

    column: str
    kind: IssueKind
    message: str

    @property
    def serious(self) -> bool:
        """Leakage makes validation scores meaningless; the other kinds cost accuracy."""
        return self.kind is IssueKind.LEAKAGE

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "kind": str(self.kind), "message": self.message}


# A column missing in at least this share of rows is mostly missing.
_MOSTLY_MISSING = 0.5
# Integer or string columns with at least this share of distinct values (and enough rows to
# tell) are identifiers in disguise: a model can only memorise them.
_ID_DISTINCT_SHARE = 0.99
_ID_MIN_ROWS = 50
# The smallest class below this share of rows makes accuracy misleading.
_IMBALANCED_SHARE = 0.05
# Leakage: a feature that alone predicts the target this well on held-out rows (balanced
# accuracy for classes, R² for numbers), or whose ranks follow the target's this closely.
_LEAK_SCORE = 0.98
_LEAK_RHO = 0.98
_LEAK_BINS = 50
# The target is an exact linear combination of features when a least-squares fit leaves less
# than this share of its variance; a feature is part of it when the fit without it leaves more
# than _IDENTITY_PART.
_IDENTITY_RESIDUAL = 1e-6
_IDENTITY_PART = 1e-4
_IDENTITY_MAX_ROWS = 5000
_IDENTITY_MAX_COLUMNS = 200


def column_issues(table: Table, summary: pd.DataFrame) -> list[DataIssue]:
    """Warnings about single columns: missing, constant, identifier-like, text, too many
    categories; and an imbalanced target."""
    issues: list[DataIssue] = []
    frame = table.frame
    for row in summary.to_dict(orient="records"):
        name, kind = str(row["column"]), ColumnKind(str(row["kind"]))
        missing, distinct = float(row["missing"]), int(row["distinct"])
        if row["role"] == "target":
            issues += _target_issues(table)
            continue
        if missing >= 1.0:
            issues.append(
                DataIssue(
                    name,
                    IssueKind.ALL_MISSING,
                    f"{name!r} is missing in every row: it carries nothing. Drop it.",
                )
            )
            continue
        if missing >= _MOSTLY_MISSING:
            issues.append(
                DataIssue(
                    name,
                    IssueKind.MOSTLY_MISSING,
                    f"{name!r} is missing in {missing:.0%} of rows: models mostly see imputed "
                    "values. Drop it, unless being missing is itself informative.",
                )
            )
        if distinct == 1:
            value = frame[name].dropna().iloc[0]
            issues.append(
                DataIssue(
                    name,
                    IssueKind.CONSTANT,
                    f"{name!r} has the same value ({value!s}) in every row that has one: it "
                    "cannot help a model. Drop it.",
                )
            )
        elif kind is ColumnKind.IDENTIFIER or _looks_like_id(frame[name], kind):
            used = (
                "models leave it out"
                if kind is ColumnKind.IDENTIFIER
                else ("models would only memorise it")
            )
            issues.append(
                DataIssue(
                    name,
                    IssueKind.IDENTIFIER,
                    f"{name!r} looks like an identifier ({distinct:,} distinct values in "
                    f"{len(frame):,} rows): {used}. Drop it, or use it as time_column if it "
                    "orders rows in time.",
                )
            )
        elif kind is ColumnKind.TEXT:
            issues.append(
                DataIssue(
                    name,
                    IssueKind.TEXT,
                    f"{name!r} is free text: models leave it out. Extract categories or numbers "
                    "from it if it matters.",
                )
            )
        elif kind is ColumnKind.CATEGORICAL and distinct > _MAX_CATEGORIES:
            issues.append(
                DataIssue(
                    name,
                    IssueKind.HIGH_CARDINALITY,
                    f"{name!r} has {distinct:,} categories: encoding keeps the "
                    f"{_MAX_CATEGORIES} most frequent and pools the rest. Group rare categories "
                    "if the detail matters.",
                )
            )
    return issues


def _looks_like_id(series: pd.Series, kind: ColumnKind) -> bool:
    """Integers or strings that differ in (almost) every row. Floats are left alone: a
    measurement is often unique per row without being an identifier."""
    if kind not in (ColumnKind.NUMERIC, ColumnKind.CATEGORICAL):
        return False
    values = series.dropna()
    if len(values) < _ID_MIN_ROWS or pd.api.types.is_float_dtype(values):
        return False
    return bool(values.nunique() >= _ID_DISTINCT_SHARE * len(values))


def _target_issues(table: Table) -> list[DataIssue]:
    if table.target is None or table.task is Task.REGRESSION:
        return []
    shares = table.y.value_counts(normalize=True)
    if shares.min() >= _IMBALANCED_SHARE:
        return []
    rare = shares.idxmin()
    return [
        DataIssue(
            table.target,
            IssueKind.IMBALANCED,
            f"The class {rare!s} of {table.target!r} is {shares.min():.1%} of rows: accuracy "
            "hides how it is predicted. Judge models by balanced accuracy, F1 or ROC AUC.",
        )
    ]


def leakage_issues(table: Table, random_state: int = 0) -> list[DataIssue]:
    """Features that give the target away: one that alone predicts it almost perfectly, or a
    set of numeric features of which the target is an exact linear combination (bike data's
    ``casual + registered = cnt``)."""
    if table.target is None:
        return []
    found: dict[str, str] = {}
    rng = np.random.default_rng(random_state)
    train = rng.random(len(table)) < 0.5
    for name in table.schema.features:
        reason = _alone_predicts(table, name, train)
        if reason:
            found[name] = reason
    if table.task is Task.REGRESSION:
        for name, reason in _linear_identity(table, rng).items():
            found[name] = f"{found[name]}; {reason}" if name in found else reason
    return [
        DataIssue(
            name,
            IssueKind.LEAKAGE,
            f"{name!r} likely leaks the target {table.target!r}: {reason}. Drop it unless it "
            "is known when predictions are made.",
        )
        for name, reason in found.items()
    ]


def _alone_predicts(table: Table, name: str, train: np.ndarray) -> str | None:
    """Whether one column predicts the target almost perfectly on rows it was not fit on:
    the target's majority class (or mean) per category or per narrow quantile bin of the
    column, learnt on one half of the rows and scored on the other."""
    kind = table.schema.columns[name]
    series = table.frame[name]
    if kind is ColumnKind.CATEGORICAL:
        codes = category_codes(series)
    else:
        x = numeric_values(series, kind)
        codes = quantile_codes(x, _LEAK_BINS)
    test = ~train
    if train.sum() < 2 or test.sum() < 2:
        return None
    seen = np.bincount(codes[train], minlength=int(codes.max()) + 1)
    if table.task is Task.REGRESSION:
        y = table.y.to_numpy(dtype=np.float64)
        sums = np.bincount(codes[train], weights=y[train], minlength=len(seen))
        means = np.where(seen > 0, sums / np.maximum(seen, 1), y[train].mean())
        truth = y[test]
        spread = float(((truth - truth.mean()) ** 2).sum())
        r2 = 1.0 - float(((truth - means[codes[test]]) ** 2).sum()) / spread if spread else 0.0
        rho = 0.0 if kind is ColumnKind.CATEGORICAL else abs(spearman(x, y))
        if r2 >= _LEAK_SCORE or rho >= _LEAK_RHO:
            return f"alone it predicts it with held-out R² {r2:.3f} (|Spearman ρ| {rho:.3f})"
        return None
    y_codes = category_codes(table.y)
    counts = np.zeros((len(seen), int(y_codes.max()) + 1))
    np.add.at(counts, (codes[train], y_codes[train]), 1)
    fallback = int(counts.sum(axis=0).argmax())
    majority = np.where(seen > 0, counts.argmax(axis=1), fallback)
    pred, truth = majority[codes[test]], y_codes[test]
    balanced = float(np.mean([(pred[truth == c] == c).mean() for c in np.unique(truth)]))
    if balanced >= _LEAK_SCORE:
        return f"alone it predicts it with held-out balanced accuracy {balanced:.3f}"
    return None


def _linear_identity(table: Table, rng: np.random.Generator) -> dict[str, str]:
    """Numeric features of which the target is an exact linear combination.

    A least-squares fit of the target on every numeric feature that leaves (almost) no
    residual means the target is computed from them (or they from it); the features it needs
    are those without which the fit is no longer exact.
    """
    names = [n for n in table.schema.numeric if table.frame[n].nunique() > 1]
    if not names or len(names) > _IDENTITY_MAX_COLUMNS:
        return {}
    X = np.column_stack([numeric_values(table.frame[n], ColumnKind.NUMERIC) for n in names])
    y = table.y.to_numpy(dtype=np.float64)
    rows = np.flatnonzero(np.isfinite(X).all(axis=1))
    if len(rows) > _IDENTITY_MAX_ROWS:
        rows = np.sort(rng.choice(rows, _IDENTITY_MAX_ROWS, replace=False))
    if len(rows) < len(names) + 10:
        return {}
    X, y = X[rows], y[rows]
    if _unexplained(X, y) > _IDENTITY_RESIDUAL:
        return {}
    parts = [
        names[j]
        for j in range(len(names))
        if _unexplained(np.delete(X, j, axis=1), y) > _IDENTITY_PART
    ]
    listed = ", ".join(parts)
    return {
        n: f"the target is an exact linear combination of {listed} (checked on {len(rows):,} rows)"
        for n in parts
    }


def _unexplained(X: np.ndarray, y: np.ndarray) -> float:
    """1 - R² of the least-squares fit of ``y`` on ``X`` with an intercept."""
    spread = float(((y - y.mean()) ** 2).sum())
    if spread == 0.0:
        return 1.0
    design = np.column_stack([X - X.mean(axis=0), np.ones(len(y))])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ coef
    return float(residual @ residual) / spread
