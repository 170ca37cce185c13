"""The HTML page of a drift report: status chart, effect sizes, distributions (offline Plotly)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from modelcycle.monitor._report import (
    STATUS_COLOURS,
    DriftStatus,
    ordered_for_display,
    p_floor,
)
from modelcycle.report import Section, write_page

if TYPE_CHECKING:
    from modelcycle.monitor._report import DriftReport

_REFERENCE_COLOUR = "#5c6bc0"
_CURRENT_COLOUR = "#ff7043"
_DOMAIN_LABEL = "(domain classifier)"


def write_report(report: DriftReport, path: Path, *, title: str) -> Path:
    """Write ``report`` as one self-contained page."""
    sections = [_summary(report), _status_section(report), _effect_section(report)]
    if report.domain is not None:
        sections.append(_domain_section(report))
    sections.extend(_distribution_sections(report))
    if report.skipped:
        skipped = pd.DataFrame(
            {"column": list(report.skipped), "reason": list(report.skipped.values())}
        )
        sections.append(Section("Not compared", tables=[skipped]))
    subtitle = (
        f"reference: {report.n_reference:,} rows ({report.settings['reference']}) · current: "
        f"{report.n_current:,} rows · checked in {report.elapsed_seconds:.2f} s"
    )
    return write_page(path, f"{title}: {report.status.value}", sections, subtitle=subtitle)


def _summary(report: DriftReport) -> Section:
    s = report.settings
    verdict = (
        f"Verdict: {report.status.value}. Drifted columns: {', '.join(report.drifted) or 'none'}"
        f"; warnings: {', '.join(report.warned) or 'none'}."
    )
    rule = (
        f"A column drifts when its p-value, corrected for {_family_size(report)} tests by "
        f"{'Bonferroni' if s['correction'] == 'bonferroni' else 'Benjamini–Hochberg'}, is below "
        f"{s['alpha']:g} (the whole 95% interval, for permutation p-values) and its effect "
        f"reaches min_effect; between {s['alpha']:g} and {s['warning_alpha']:g} it is a Warning."
        " A significant but trivial effect stays Stable."
    )
    table = pd.DataFrame(
        {
            "column": report.columns.index,
            "status": report.columns["status"],
            "kind": report.columns["kind"],
            "test": report.columns["test"],
            "p (corrected)": [
                _p_text(float(p), float(low), float(high))
                for p, low, high in zip(
                    report.columns["p_adjusted"],
                    report.columns["p_adjusted_low"],
                    report.columns["p_adjusted_high"],
                    strict=True,
                )
            ],
            "effect": [
                _number(r.effect) + f" ({r.effect_metric})" for r in report.columns.itertuples()
            ],
            "min effect": report.columns["min_effect"].map(_number),
            "PSI": report.columns["psi"].map(_number),
            "missing ref → cur": [
                f"{_percent(float(ref))} → {_percent(float(cur))}"
                for ref, cur in zip(
                    report.columns["missing_reference"],
                    report.columns["missing_current"],
                    strict=True,
                )
            ],
            "note": report.columns["note"],
        }
    )
    return Section("Summary", text=[verdict, rule], tables=[table])


def _family_size(report: DriftReport) -> int:
    in_family = report.columns["test"] != "kind check"
    in_family &= report.columns["p_value"].notna()
    return int(in_family.sum()) + (report.domain is not None)


def _status_section(report: DriftReport) -> Section:
    """Corrected p-values with their intervals against the two thresholds (plotDriftStatus)."""
    frame = report.columns[report.columns["p_adjusted"].notna()]
    names = [str(n) for n in frame.index]
    p = frame["p_adjusted"].to_numpy(dtype=float)
    low = frame["p_adjusted_low"].to_numpy(dtype=float)
    high = frame["p_adjusted_high"].to_numpy(dtype=float)
    status = list(frame["status"])
    if report.domain is not None:
        d = report.domain
        names.append(_DOMAIN_LABEL)
        p, low, high = (np.append(v, d.p_adjusted) for v in (p, low, high))
        status.append(str(d.status))
    fig = go.Figure()
    for value in DriftStatus:
        idx = [i for i, s in enumerate(status) if s == value.value]
        if not idx:
            continue
        y = np.array([p_floor(p[i]) for i in idx])
        fig.add_trace(
            go.Scatter(
                x=[names[i] for i in idx],
                y=y,
                mode="markers",
                name=value.value,
                marker={"color": STATUS_COLOURS[value.value], "size": 11},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [max(0.0, p_floor(high[i]) - p_floor(p[i])) for i in idx],
                    "arrayminus": [max(0.0, p_floor(p[i]) - p_floor(low[i])) for i in idx],
                },
                hovertemplate="%{x}: p = %{y:.3g}<extra></extra>",
            )
        )
    s = report.settings
    for level, label, dash in (
        (s["alpha"], "drift threshold", "dash"),
        (s["warning_alpha"], "warning threshold", "dot"),
    ):
        fig.add_hline(y=level, line_dash=dash, line_color="#52606d", annotation_text=label)
    fig.update_yaxes(type="log", title="corrected p-value (log)")
    fig.update_layout(height=420, margin={"t": 30}, legend_title_text="status")
    return Section(
        "Drift status per column",
        text=[
            "Each point is a corrected p-value; error bars are the 95% interval of a permutation"
            " p-value (none for exact tests). Below the drift threshold with a large enough "
            "effect is Drift; between the lines is a Warning."
        ],
        figures=[fig],
    )


def _effect_section(report: DriftReport) -> Section:
    frame = report.columns[report.columns["effect"].notna()]
    effects = frame["effect"].to_numpy(dtype=float)
    finite = effects[np.isfinite(effects)]
    cap = float(max(finite.max(initial=0.0), frame["min_effect"].max()) * 1.5 or 1.0)
    shown = np.where(np.isfinite(effects), effects, cap)
    fig = go.Figure(
        go.Bar(
            x=[str(n) for n in frame.index],
            y=shown,
            marker_color=[STATUS_COLOURS[s] for s in frame["status"]],
            name="effect",
            customdata=frame["effect_metric"],
            hovertemplate="%{x}: %{y:.3g} (%{customdata})<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[str(n) for n in frame.index],
            y=frame["min_effect"],
            mode="markers",
            marker={"symbol": "line-ew-open", "size": 28, "color": "#1f2933", "line": {"width": 2}},
            name="min_effect",
        )
    )
    fig.update_layout(height=380, margin={"t": 30}, yaxis_title="effect size")
    return Section(
        "Effect sizes",
        text=[
            "Numeric columns: Wasserstein distance divided by the reference's standard deviation "
            "(a shift of the mean by k standard deviations scores k). Categorical columns and "
            "missing shares: Jensen–Shannon or Hellinger distance (0 to 1). A column drifts only "
            "when its bar reaches its min_effect mark."
        ],
        figures=[fig],
    )


def _domain_section(report: DriftReport) -> Section:
    d = report.domain
    assert d is not None
    text = [
        f"A classifier told current rows from reference rows with ROC AUC {d.auc:.3f} "
        f"({1 - report.settings['alpha']:.0%} interval {d.ci_low:.3f} to {d.ci_high:.3f}; "
        f"{d.folds}-fold cross-validation on {d.n_reference:,} + {d.n_current:,} rows). "
        f"0.5 means indistinguishable. Drift needs the interval's lower end above {d.threshold:g}"
        f" and a corrected p-value below {report.settings['alpha']:g} (it is "
        f"{d.p_adjusted:.3g}): status {d.status.value}.",
    ]
    top = list(d.importance.items())[:15]
    fig = go.Figure(
        go.Bar(
            x=[v for _, v in top][::-1],
            y=[k for k, _ in top][::-1],
            orientation="h",
            marker_color=STATUS_COLOURS[d.status.value],
        )
    )
    fig.update_layout(
        height=max(250, 26 * len(top) + 80),
        margin={"t": 30},
        xaxis_title="share of the classifier's gain (what tells the sides apart)",
    )
    return Section("Multivariate: domain classifier", text=text, figures=[fig])


def _distribution_sections(report: DriftReport) -> list[Section]:
    names = [n for n in ordered_for_display(report) if n in report.distributions]
    if not names:
        return [Section("Distributions", text=["No column drifted or warned."])]
    figures = [_distribution_figure(n, report.distributions[n], report) for n in names]
    return [
        Section(
            "Reference vs current (drifted and warned columns)",
            text=["Shares of rows per bin or category, and empirical CDFs of numeric columns."],
            figures=figures,
        )
    ]


def _distribution_figure(name: str, data: dict[str, Any], report: DriftReport) -> go.Figure:
    row = report.columns.loc[name]
    title = (
        f"{name}: {row['status']} (p = {_number(row['p_adjusted'])}, "
        f"effect {_number(row['effect'])})"
    )
    if data["kind"] == "categorical":
        fig = go.Figure()
        for side, colour in (("reference", _REFERENCE_COLOUR), ("current", _CURRENT_COLOUR)):
            fig.add_trace(
                go.Bar(x=data["categories"], y=data[side], name=side, marker_color=colour)
            )
        fig.update_layout(barmode="group", yaxis_title="share of rows")
    else:
        fig = make_subplots(rows=1, cols=2, subplot_titles=("histogram", "ECDF"))
        hist = data["histogram"]
        edges = np.asarray(hist["edges"], dtype=float)
        centres = (edges[:-1] + edges[1:]) / 2 if edges.size > 1 else edges
        for side, colour in (("reference", _REFERENCE_COLOUR), ("current", _CURRENT_COLOUR)):
            fig.add_trace(
                go.Bar(x=centres, y=hist[side], name=side, marker_color=colour, opacity=0.6),
                row=1,
                col=1,
            )
            fig.add_trace(
                go.Scatter(
                    x=data["ecdf"]["x"],
                    y=data["ecdf"][side],
                    line_shape="hv",
                    name=side,
                    marker_color=colour,
                    showlegend=False,
                ),
                row=1,
                col=2,
            )
        fig.update_layout(barmode="overlay")
        fig.update_yaxes(title_text="share of rows", row=1, col=1)
    fig.update_layout(title=title, height=360, margin={"t": 60})
    return fig


def _number(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float) and math.isinf(value):
        return "∞"
    return f"{value:.3g}"


def _percent(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.1%}"


def _p_text(p: float, low: float, high: float) -> str:
    if math.isnan(p):
        return "–"
    if low == high:
        return _number(p)
    return f"{_number(p)} [{_number(low)}, {_number(high)}]"
