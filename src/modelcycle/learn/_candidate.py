"""Candidates (one trained model family) and the leaderboard that ranks them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from modelcycle.data import Table
from modelcycle.exceptions import LearnError
from modelcycle.learn._assess import Inspection
from modelcycle.learn._metrics import METRICS
from modelcycle.learn._recipe import pipeline_from_recipe


@dataclass
class Candidate:
    """One model family trained and validated in a session.

    ``metrics`` and ``metrics_std`` hold the validation mean and standard deviation across folds.
    ``pipeline`` is the model refit on all training data; it is ``None`` until :meth:`refit`
    runs (the Learner refits the best candidate itself). ``inspection`` holds the feature
    importance and partial dependence of the last validation fold's model.
    """

    name: str
    label: str
    status: str
    recipe: dict[str, Any]
    table: Table = field(repr=False)
    metrics: dict[str, float] = field(default_factory=dict)
    metrics_std: dict[str, float] = field(default_factory=dict)
    fit_seconds: float = float("nan")
    predict_rows_per_second: float = float("nan")
    size_bytes: int = 0
    error: str | None = None
    run_id: str | None = None
    oof: pd.DataFrame | None = field(default=None, repr=False)
    pipeline: Pipeline | None = field(default=None, repr=False)
    inspection: Inspection | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def refit(self) -> Candidate:
        """Fit this candidate's recipe on all of its training table; returns self."""
        if not self.ok:
            raise LearnError(
                f"The candidate {self.name!r} {self.status} during validation ({self.error}), "
                "so it cannot be refit. Choose a candidate whose status is 'ok'."
            )
        pipeline = pipeline_from_recipe(self.recipe)
        pipeline.fit(self.table.X, self.table.y)
        self.pipeline = pipeline
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predict with the refit pipeline (refitting first if needed)."""
        if self.pipeline is None:
            self.refit()
        assert self.pipeline is not None
        return np.asarray(self.pipeline.predict(X))


class Leaderboard:
    """The candidates of a session ranked by a metric (failed ones last)."""

    def __init__(self, candidates: list[Candidate], metric: str) -> None:
        self.metric = metric
        greater = METRICS[metric].greater_is_better
        sign = -1.0 if greater else 1.0

        def key(c: Candidate) -> tuple[int, float]:
            value = c.metrics.get(metric, float("nan"))
            return (0, sign * value) if c.ok and np.isfinite(value) else (1, 0.0)

        self.candidates = sorted(candidates, key=key)

    def __iter__(self) -> Any:
        return iter(self.candidates)

    def __len__(self) -> int:
        return len(self.candidates)

    def __getitem__(self, name: str | int) -> Candidate:
        if isinstance(name, int):
            return self.candidates[name]
        for c in self.candidates:
            if c.name == name:
                return c
        names = ", ".join(c.name for c in self.candidates)
        raise KeyError(f"No candidate {name!r} in this leaderboard; it has: {names}.")

    @property
    def best(self) -> Candidate:
        first = self.candidates[0] if self.candidates else None
        if first is None or not first.ok:
            errors = "; ".join(f"{c.name}: {c.error}" for c in self.candidates[:5])
            raise LearnError(f"Every candidate failed, so there is no best model. {errors}")
        return first

    def to_frame(self) -> pd.DataFrame:
        """One row per candidate: metrics (mean and std), costs and status."""
        rows = []
        for rank, c in enumerate(self.candidates, start=1):
            row: dict[str, Any] = {"rank": rank, "model": c.name, "status": c.status}
            for m, v in c.metrics.items():
                row[m] = v
                row[f"{m}_std"] = c.metrics_std.get(m, float("nan"))
            row["fit_seconds"] = c.fit_seconds
            row["predict_rows_per_s"] = c.predict_rows_per_second
            row["size_bytes"] = c.size_bytes
            rows.append(row)
        return pd.DataFrame(rows)

    def to_records(self) -> list[dict[str, Any]]:
        """JSON-safe rows (NaN becomes None)."""
        frame = self.to_frame().astype(object)
        return frame.where(frame.notna(), None).to_dict(orient="records")  # type: ignore[return-value]
