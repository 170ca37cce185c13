"""Backtesting a policy from several starts: one replay is one path through history.

A single replay's difference between the policy and periodic retraining is of the order of
its noise (which weeks a retrain lands in, which rows the gate holds out), so tuning a policy
on one replay fits that noise. Replaying from several start rows, each training its first model
on the rows after its start, gives a spread: a policy worth trusting wins on most starts, not
only on the one it was tuned on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelcycle.data import Table, load_table
from modelcycle.exceptions import ParameterError
from modelcycle.loop._backtest import BacktestResult, backtest

__all__ = ["StartsResult", "backtest_starts"]


@dataclass
class StartsResult:
    """The replays of one policy from several start rows.

    Attributes
    ----------
    metric
        The metric reported (see :class:`BacktestResult`).
    starts
        The first row of each replay, in the table as given.
    results
        Each replay's :class:`BacktestResult`, in the order of ``starts``.
    """

    metric: str
    starts: list[int]
    results: list[BacktestResult] = field(default_factory=list)

    def summary(self) -> pd.DataFrame:
        """One row per start: each strategy's mean batch score, the policy's lead over periodic
        retraining (negative: behind), and the retrains and model fits of both."""
        rows = []
        for start, result in zip(self.starts, self.results, strict=True):
            table = result.summary()
            score = table[f"mean {self.metric}"]
            retrains, fits = table["retrains"].astype(int), table["fits"].astype(int)
            rows.append(
                {
                    "start row": start,
                    "static": float(score["static"]),
                    "periodic": float(score["periodic"]),
                    "policy": float(score["policy"]),
                    "policy − periodic": float(score["policy"] - score["periodic"]),
                    "periodic retrains": int(retrains["periodic"]),
                    "policy retrains": int(retrains["policy"]),
                    "periodic fits": int(fits["periodic"]),
                    "policy fits": int(fits["policy"]),
                }
            )
        return pd.DataFrame(rows)

    def verdict(self) -> dict[str, Any]:
        """Over the starts: the mean lead over periodic retraining, its spread, on how many
        starts the policy was at least as good with fewer retrains, and its share of the
        periodic strategy's retrains and model fits."""
        table = self.summary()
        lead = table["policy − periodic"]
        fewer = table["policy retrains"] < table["periodic retrains"]
        return {
            "starts": len(table),
            "mean lead": float(lead.mean()),
            "lead std": float(lead.std(ddof=1)) if len(table) > 1 else math.nan,
            "worst lead": float(lead.min()),
            "as good with fewer retrains": int(((lead >= 0) & fewer).sum()),
            "retrain share": float(
                table["policy retrains"].sum() / max(1, table["periodic retrains"].sum())
            ),
            "fit share": float(table["policy fits"].sum() / max(1, table["periodic fits"].sum())),
        }

    def figure(self) -> Any:
        """The policy's lead over periodic retraining at each start (a Plotly bar chart)."""
        import plotly.graph_objects as go

        table = self.summary()
        lead = table["policy − periodic"]
        share = table["policy retrains"] / table["periodic retrains"].clip(lower=1)
        fig = go.Figure(
            go.Bar(
                x=[str(s) for s in table["start row"]],
                y=lead,
                marker_color=np.where(lead >= 0, "#2e7d32", "#c62828").tolist(),
                text=[f"{r:.0%} of the retrains" for r in share],
                textposition="outside",
                name="policy − periodic",
            )
        )
        fig.add_hline(y=float(lead.mean()), line_dash="dash", annotation_text="mean")
        fig.update_layout(
            title=f"policy − periodic retraining, mean {self.metric} per batch, by start row",
            xaxis_title="start row of the replay",
            yaxis_title=f"difference in {self.metric}",
            template="plotly_white",
        )
        return fig

    def to_html(self, path: str | Path) -> Path:
        """Write the table and the chart to one self-contained page."""
        from modelcycle.report import Section, write_page

        verdict = pd.DataFrame([self.verdict()])
        return write_page(
            path,
            "Backtest of a retraining policy from several starts",
            [
                Section(
                    "The policy against periodic retraining",
                    tables=[verdict, self.summary()],
                    figures=[self.figure()],
                )
            ],
            subtitle=", ".join(f"{k}: {v}" for k, v in self.results[0].settings.items()),
        )

    def to_dict(self) -> dict[str, Any]:
        """The verdict and one summary row per start (JSON-ready)."""
        return {
            "metric": self.metric,
            "verdict": self.verdict(),
            "starts": self.summary().to_dict(orient="records"),
        }


def backtest_starts(
    data: Table | pd.DataFrame | str | Path,
    target: str | None = None,
    *,
    starts: int = 5,
    latest: float = 0.4,
    time_column: str | None = None,
    drop: Sequence[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    **options: Any,
) -> StartsResult:
    """Replay ``data`` from ``starts`` start rows spread evenly from the first to ``latest``.

    Each replay is :func:`backtest` on the rows from its start on (its first model trains on
    ``train_fraction`` of those), with the same ``options`` (``policy``, ``interval``,
    ``step``, ``period``, ``family``, ``params``...). The last replay starts ``latest`` of
    the way into the table, so every replay covers most of the history.

    Examples
    --------
    >>> runs = backtest_starts("electricity.csv", "class", interval="30m")  # doctest: +SKIP
    >>> runs.verdict()["mean lead"]  # doctest: +SKIP
    """
    if isinstance(starts, bool) or not isinstance(starts, int) or starts < 2:
        raise ParameterError("starts", "backtest_starts", "a whole number of at least 2", starts)
    if not 0 < latest < 1:
        raise ParameterError("latest", "backtest_starts", "a share between 0 and 1", latest)
    table = load_table(data, target=target, drop=list(drop or []), time_column=time_column)
    first_rows = [round(i * latest * len(table) / (starts - 1)) for i in range(starts)]
    results = []
    for index, row in enumerate(first_rows):
        results.append(
            backtest(
                table.take(slice(row, None)),
                table.schema.target,
                time_column=time_column,
                **options,
            )
        )
        if progress is not None:
            progress(index + 1, starts)
    return StartsResult(results[0].metric, first_rows, results)
