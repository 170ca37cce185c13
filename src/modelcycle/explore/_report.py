"""The exploration as one offline HTML page: tables, histograms, category bars, the target's
distribution and a correlation heatmap (Plotly, inlined by :mod:`modelcycle.report`)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from modelcycle.data import ColumnKind, Task
from modelcycle.features._rank import numeric_values
from modelcycle.report import Section

if TYPE_CHECKING:
    from modelcycle.explore._explore import Exploration

# Bins are computed here and only counts reach the page, so its size does not grow with rows.
_BINS = 30
# Charts per grid; beyond this the page would be slow to open, and the tables still list all.
_MAX_CHARTS = 48
_GRID_COLUMNS = 3
_ROW_HEIGHT = 220
_COLOR = "#3b6ea5"


def _histogram(x: np.ndarray) -> go.Bar:
    x = x[np.isfinite(x)]
    if not len(x):
        return go.Bar(x=[], y=[])
    counts, edges = np.histogram(x, bins=_BINS)
    return go.Bar(
        x=(edges[:-1] + edges[1:]) / 2,
        y=counts,
        width=np.diff(edges),
        marker_color=_COLOR,
        hovertemplate="%{x:.4g}: %{y}<extra></extra>",
    )


def _grid(title: str, names: list[str], traces: list[go.Bar]) -> go.Figure:
    rows = max(1, math.ceil(len(names) / _GRID_COLUMNS))
    fig = make_subplots(
        rows=rows,
        cols=_GRID_COLUMNS,
        subplot_titles=names,
        horizontal_spacing=0.12,
        vertical_spacing=min(0.3 / rows, 0.08) if rows > 1 else 0.0,
    )
    for i, trace in enumerate(traces):
        fig.add_trace(trace, row=i // _GRID_COLUMNS + 1, col=i % _GRID_COLUMNS + 1)
    fig.update_layout(
        title=title,
        height=_ROW_HEIGHT * rows + 80,
        showlegend=False,
        bargap=0.05,
        margin={"t": 80, "b": 30},
    )
    return fig


def _target_figure(exploration: Exploration) -> go.Figure | None:
    table = exploration.table
    if table.target is None:
        return None
    if table.task is Task.REGRESSION:
        trace = _histogram(table.y.to_numpy(dtype=np.float64))
    else:
        dist = exploration.target_distribution
        trace = go.Bar(x=dist["class"], y=dist["count"], marker_color=_COLOR)
    fig = go.Figure(trace)
    fig.update_layout(title=f"{table.target} ({table.task})", height=340, bargap=0.05)
    return fig


def _association_figure(exploration: Exploration) -> go.Figure | None:
    frame = exploration.associations
    if frame.empty:
        return None
    frame = frame.iloc[::-1]  # strongest at the top of a horizontal bar chart
    fig = go.Figure(
        go.Bar(
            x=frame["score"],
            y=frame["feature"],
            orientation="h",
            marker_color=_COLOR,
            customdata=frame["measure"],
            hovertemplate="%{y}: %{x:.3f} (%{customdata})<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"Association with {exploration.table.target}",
        xaxis={"range": [0, 1]},
        height=max(300, 22 * len(frame) + 120),
    )
    return fig


def _heatmap(exploration: Exploration) -> go.Figure | None:
    corr = exploration.correlations
    if corr.empty:
        return None
    names = list(corr.columns)[:_MAX_CHARTS]
    z = corr.loc[names, names].to_numpy()
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=names,
            y=names,
            zmin=-1,
            zmax=1,
            colorscale="RdBu",
            reversescale=True,
            text=np.round(z, 2),
            texttemplate="%{text}" if len(names) <= 15 else None,
            hovertemplate="%{y} × %{x}: %{z:.3f}<extra></extra>",
        )
    )
    size = max(400, 28 * len(names) + 200)
    fig.update_layout(title="Spearman correlation of numeric features", height=size)
    fig.update_yaxes(autorange="reversed")
    return fig


def report_sections(exploration: Exploration) -> list[Section]:
    """The sections of the exploration report, in reading order."""
    table = exploration.table
    frame = table.frame
    summary = exploration.columns
    warnings = [f"[{w.kind}] {w.message}" for w in exploration.warnings]
    overview = Section(
        "Overview",
        text=[
            f"{len(frame):,} rows × {len(frame.columns)} columns. "
            + (
                f"Target {table.target!r}: {table.task}."
                if table.target
                else "No target: the table is explored as it is (clustering)."
            ),
            "No warnings." if not warnings else "Warnings are listed above, leakage first.",
        ],
        warnings=warnings,
    )
    # Two tables read better than one wide one: what every column is, then the numbers of the
    # numeric ones (the rest would be empty cells).
    general = summary[["column", "role", "kind", "missing", "distinct", "summary"]]
    numeric_rows = summary[summary["kind"] == str(ColumnKind.NUMERIC)]
    numbers = numeric_rows.drop(columns=["role", "kind", "missing", "distinct", "summary"])
    sections = [
        overview,
        Section(
            "Columns",
            text=["missing is the share of rows without a value."],
            tables=[general, numbers] if len(numbers) else [general],
        ),
    ]

    target_fig = _target_figure(exploration)
    if target_fig is not None:
        sections.append(
            Section(
                "Target",
                tables=[exploration.target_distribution],
                figures=[target_fig],
            )
        )
    assoc_fig = _association_figure(exploration)
    if assoc_fig is not None:
        sections.append(
            Section(
                "Association with the target",
                text=[
                    "Each feature alone, on a 0-1 scale: correlation ratio η for numbers "
                    "against classes (or for a numeric target across categories), Cramér's V "
                    "for categories against classes, |Spearman ρ| for numbers against a "
                    "numeric target. Use modelcycle rank for ranking methods that also "
                    "weigh redundancy and interactions."
                ],
                tables=[exploration.associations],
                figures=[assoc_fig],
            )
        )

    numeric = [n for n in table.schema.numeric][:_MAX_CHARTS]
    if numeric:
        traces = [_histogram(numeric_values(frame[n], ColumnKind.NUMERIC)) for n in numeric]
        sections.append(
            Section(
                "Numeric columns",
                text=_cut_note(len(table.schema.numeric)),
                figures=[_grid("Histograms", numeric, traces)],
            )
        )
    categorical = list(exploration.top_categories)[:_MAX_CHARTS]
    if categorical:
        bars = []
        for name in categorical:
            top = exploration.top_categories[name][::-1]
            bars.append(
                go.Bar(
                    x=[share for _, share in top],
                    y=[label for label, _ in top],
                    orientation="h",
                    marker_color=_COLOR,
                    hovertemplate="%{y}: %{x:.1%}<extra></extra>",
                )
            )
        sections.append(
            Section(
                "Categorical columns",
                text=[
                    "Share of rows with a value, for the most frequent categories.",
                    *_cut_note(len(exploration.top_categories)),
                ],
                figures=[_grid("Top categories", categorical, bars)],
            )
        )
    heatmap = _heatmap(exploration)
    if heatmap is not None:
        sections.append(Section("Correlations", figures=[heatmap]))
    return sections


def _cut_note(n: int) -> list[str]:
    return [f"The first {_MAX_CHARTS} of {n} columns are drawn."] if n > _MAX_CHARTS else []
