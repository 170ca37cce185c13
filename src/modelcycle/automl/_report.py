"""The HTML report of an AutoML session: how the best score grew with time, the best
configuration of each family, the leaderboard, the ensemble and the chosen model's assessment."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import plotly.graph_objects as go

from modelcycle.learn import METRICS, Leaderboard
from modelcycle.learn._plots import assessment_figures
from modelcycle.learn._report import leaderboard_frame
from modelcycle.report import Section, write_page

if TYPE_CHECKING:
    from modelcycle.automl._automl import AutoMLResult

# Trials shown in the report's leaderboard (all of them are in the tracking store).
_TOP = 25
_PALETTE = ("#2f6fde", "#e4572e", "#17a398", "#f3a712", "#8e44ad", "#6c757d", "#c0392b")


def progress_figure(result: AutoMLResult) -> go.Figure:
    """Every trial's score when it finished (open markers: pruned after a cheap step), and
    the best score so far as a step line, against seconds since the search began."""
    metric = result.metric
    fig = go.Figure()
    families = list(dict.fromkeys(t.family for t in result.trials))
    for i, family in enumerate(families):
        color = _PALETTE[i % len(_PALETTE)]
        for status, symbol in (("ok", "circle"), ("pruned", "circle-open")):
            shown = [
                t
                for t in result.trials
                if t.family == family and t.status == status and math.isfinite(t.score)
            ]
            if not shown:
                continue
            fig.add_trace(
                go.Scatter(
                    x=[t.finished for t in shown],
                    y=[t.score for t in shown],
                    mode="markers",
                    marker={"color": color, "symbol": symbol, "size": 7},
                    name=family if status == "ok" else f"{family} (pruned)",
                    text=[t.name for t in shown],
                    hovertemplate="%{text}<br>%{x:.1f} s<br>%{y:.4f}<extra></extra>",
                )
            )
    history = result.history()
    if not history.empty:
        end = max(result.search_seconds, float(history["seconds"].iloc[-1]))
        fig.add_trace(
            go.Scatter(
                x=[*history["seconds"], end],
                y=[*history["best"], history["best"].iloc[-1]],
                mode="lines",
                line={"shape": "hv", "color": "#1f2933", "width": 2},
                name="best so far",
            )
        )
    fig.add_vline(x=result.budget, line={"dash": "dot", "color": "#9aa5b1"})
    fig.update_layout(
        title=f"{metric} of each trial and the best so far (dotted: the budget)",
        xaxis_title="seconds since the search began",
        yaxis_title=f"validation {metric}",
        height=460,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
    )
    return fig


def _families_table(result: AutoMLResult) -> pd.DataFrame:
    frame = result.best_per_family()
    for column in ("params", "preprocessing"):
        frame[column] = [json.dumps(v, default=str) if v else "–" for v in frame[column]]
    return frame


def _ensemble_section(result: AutoMLResult) -> Section | None:
    info = result.ensemble
    if not info:
        return None
    verdict = (
        "adopted: it validates better than the best single model"
        if info["adopted"]
        else "not adopted: it does not validate better than the best single model"
    )
    text = [
        "Greedy ensemble selection (Caruana et al. 2004) over the best trials: "
        f"{info['score']:.4f} against {info['best_single']:.4f} for the best single model; "
        f"{verdict}."
    ]
    members = pd.DataFrame({"member": info["members"], "weight": info["weights"]})
    return Section("Ensemble", text=text, tables=[members])


def automl_report(result: AutoMLResult, path: str | Path) -> Path:
    """Write the HTML report of an AutoML session to ``path`` and return the path.

    The page holds a summary, the best score so far against time (every trial as a point), the
    best configuration of each family, the leaderboard of the best trials, the ensemble and the
    chosen model's assessment from its validation predictions. plotly.js is inlined once, so
    the page opens without a network.

    Examples
    --------
    >>> result = mc.automl("adult.csv", target="income", budget=60)  # doctest: +SKIP
    >>> automl_report(result, "automl.html")  # doctest: +SKIP
    PosixPath('automl.html')
    """
    table = result.table
    best = result.best
    metric = result.metric
    statuses = pd.Series([t.status for t in result.trials]).value_counts().to_dict()
    described = ", ".join(f"{n} {s}" for s, n in statuses.items())
    rows = f"{len(table):,} rows, {len(table.schema.features)} features, " if table else ""
    arrow = "higher" if METRICS[metric].greater_is_better else "lower"
    summary = Section(
        "Summary",
        text=[
            f"{rows}task {result.task}, {metric} ({arrow} is better), validation "
            f"{result.validation}.",
            f"Budget {result.budget:g} s: the search took {result.search_seconds:.1f} s and the "
            f"final refit on every row {result.refit_seconds:.1f} s more. {len(result.trials)} "
            f"trials: {described}.",
            f"Chosen: {best.label} ({best.name}), validation {metric} "
            f"{best.metrics.get(metric, math.nan):.4f}.",
        ],
    )
    top = Leaderboard(list(result.leaderboard)[:_TOP], metric)
    sections = [
        summary,
        Section("Best score so far", figures=[progress_figure(result)]),
        Section(
            "Best configuration per family",
            text=["Each family's best finished trial and how many of its trials were pruned."],
            tables=[_families_table(result)],
        ),
        Section(
            f"Leaderboard (best {len(top)} of {len(result.leaderboard)})",
            tables=[leaderboard_frame(top)],
        ),
    ]
    ensemble = _ensemble_section(result)
    if ensemble is not None:
        sections.append(ensemble)
    if best.oof is not None and table is not None:
        figures: dict[str, Any] = assessment_figures(table.task, best.oof, table.schema.classes)
        sections.append(
            Section(
                f"Chosen model: {best.label}",
                text=["From its validation predictions (out-of-fold with cross-validation)."],
                figures=list(figures.values()),
            )
        )
    source = Path(table.source).name if table and table.source else "table"
    target = table.target if table else ""
    return write_page(
        path,
        f"AutoML: {source} → {target}",
        sections,
        subtitle=f"experiment {result.experiment_id}" if result.experiment_id else None,
    )
