"""Validation schemes: k-fold, holdout, a separate test table, and time-ordered splits."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import (
    KFold,
    ShuffleSplit,
    StratifiedKFold,
    StratifiedShuffleSplit,
    TimeSeriesSplit,
)

from modelcycle.data._table import Table
from modelcycle.exceptions import DataError, ParameterError

_KINDS = ("kfold", "holdout", "time", "test")


@dataclass(frozen=True)
class Fold:
    """One train/validation pair of tables."""

    index: int
    train: Table
    valid: Table


@dataclass(frozen=True)
class Validation:
    """How candidates are validated.

    ``kind`` is ``"kfold"`` (stratified for classification), ``"holdout"`` (a ``fraction`` held
    out), ``"time"`` (expanding-window splits in time order) or ``"test"`` (a separate table).
    Parse a string with :meth:`parse`: ``"kfold:5"``, ``"holdout:0.2"``, ``"time:5"``.
    """

    kind: str = "kfold"
    n_splits: int = 5
    fraction: float = 0.2
    test: Table | None = None

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ParameterError("validation", "Learner", f"one of {_KINDS}", self.kind)
        if self.kind in ("kfold", "time") and not (
            isinstance(self.n_splits, int) and self.n_splits >= 2
        ):
            raise ParameterError(
                "n_splits", f"{self.kind} validation", "an integer >= 2", self.n_splits
            )
        if self.kind == "holdout" and not 0.0 < self.fraction < 1.0:
            raise ParameterError(
                "fraction", "holdout validation", "a number in (0, 1)", self.fraction
            )
        if self.kind == "test" and self.test is None:
            raise ParameterError("test", "test validation", "a Table", None)

    @classmethod
    def parse(cls, spec: str | Validation | Table | None) -> Validation:
        """Build from ``"kfold:5"``, ``"holdout:0.25"``, ``"time:4"`` or a test Table."""
        if spec is None:
            return cls()
        if isinstance(spec, Validation):
            return spec
        if isinstance(spec, Table):
            return cls(kind="test", test=spec)
        kind, _, arg = str(spec).strip().lower().partition(":")
        expected = "'kfold[:K]', 'holdout[:FRACTION]', 'time[:K]' or a test Table"
        try:
            if kind in ("kfold", "cv"):
                return cls("kfold", n_splits=int(arg) if arg else 5)
            if kind == "holdout":
                return cls("holdout", fraction=float(arg) if arg else 0.2)
            if kind == "time":
                return cls("time", n_splits=int(arg) if arg else 5)
        except ValueError:
            raise ParameterError("validation", "Learner", expected, spec) from None
        raise ParameterError("validation", "Learner", expected, spec)

    def describe(self) -> dict[str, Any]:
        """The scheme as plain data, for a recipe."""
        if self.kind == "holdout":
            return {"kind": "holdout", "fraction": self.fraction}
        if self.kind == "test":
            assert self.test is not None
            return {"kind": "test", "rows": len(self.test), "fingerprint": self.test.fingerprint()}
        return {"kind": self.kind, "n_splits": self.n_splits}

    def folds(self, table: Table, random_state: int = 0) -> Iterator[Fold]:
        """Yield the train/validation folds of ``table``."""
        if self.kind == "test":
            assert self.test is not None
            yield Fold(0, table, self.test)
            return
        for i, (train, valid) in enumerate(self._indices(table, random_state)):
            yield Fold(i, table.take(train), table.take(valid))

    def _indices(self, table: Table, random_state: int) -> list[tuple[np.ndarray, np.ndarray]]:
        n = len(table)
        stratify = table.task.is_classification
        y = table.y.astype(str).to_numpy() if stratify else None
        if self.kind == "time":
            order = _time_order(table)
            if n < self.n_splits + 1:
                raise DataError(
                    f"time validation with {self.n_splits} splits needs more than {n} rows."
                )
            return [(order[a], order[b]) for a, b in TimeSeriesSplit(self.n_splits).split(order)]
        if stratify:
            _check_class_counts(y, self.n_splits if self.kind == "kfold" else 2)
        if self.kind == "kfold":
            if n < self.n_splits:
                raise DataError(
                    f"{self.n_splits}-fold validation needs at least {self.n_splits} rows; got {n}."
                )
            kfold = (
                StratifiedKFold(self.n_splits, shuffle=True, random_state=random_state)
                if stratify
                else KFold(self.n_splits, shuffle=True, random_state=random_state)
            )
            return list(kfold.split(np.zeros(n), y))
        splitter = (
            StratifiedShuffleSplit(1, test_size=self.fraction, random_state=random_state)
            if stratify
            else ShuffleSplit(1, test_size=self.fraction, random_state=random_state)
        )
        return list(splitter.split(np.zeros(n), y))


def _time_order(table: Table) -> np.ndarray:
    """Row positions in time order: by the time column if there is one, else as stored."""
    column = table.schema.time_column
    if column is None:
        return np.arange(len(table))
    return np.argsort(table.frame[column].to_numpy(), kind="stable")


def _check_class_counts(y: Any, needed: int) -> None:
    values, counts = np.unique(y, return_counts=True)
    rare = values[counts < needed]
    if len(rare):
        raise DataError(
            f"Classes {list(rare)[:5]} have fewer than {needed} rows, too few for stratified "
            f"validation with {needed} folds. Use fewer folds, validation='holdout', or more data."
        )
