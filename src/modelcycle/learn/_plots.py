"""Plotly figures that assess a model: how it errs (from out-of-fold predictions), what it relies
on (importance, partial dependence) and why it predicted one row as it did (a waterfall).

Figures carry at most a few hundred points per curve and a few thousand per scatter, so a report
with a dozen of them stays small whatever the table's size.
"""

from __future__ import annotations

import base64
import gzip
import html
import json
import math
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots
from sklearn.calibration import calibration_curve
from sklearn.metrics import confusion_matrix, precision_recall_curve, roc_curve

from modelcycle.data import Task
from modelcycle.learn._assess import Inspection

if TYPE_CHECKING:
    from modelcycle.learn._candidate import Candidate, Leaderboard

#: Most points drawn per curve (ROC, precision-recall): beyond that a line looks the same.
CURVE_POINTS = 300
#: Most rows drawn in a scatter plot.
SCATTER_POINTS = 2000
#: Most features in an importance bar chart.
TOP_FEATURES = 20
_DOTTED = {"dash": "dot", "color": "#9aa5b1"}
_PALETTE = ("#2f6fde", "#e4572e", "#17a398", "#f3a712", "#8e44ad", "#6c757d", "#c0392b")


# -- from out-of-fold predictions ----------------------------------------------------------------


def assessment_figures(
    task: Task, oof: pd.DataFrame, classes: tuple[Any, ...]
) -> dict[str, go.Figure]:
    """The figures that tell how a candidate errs, by task, from out-of-fold predictions.

    Classification: confusion matrix, ROC and precision-recall curves and a reliability
    (calibration) curve, one-vs-rest per class for multiclass tasks (the last three need
    probabilities). Regression: predicted vs actual, residuals vs predicted, and the residuals'
    distribution.

    Examples
    --------
    >>> oof = pd.DataFrame({"actual": [1.0, 2.0, 3.0], "prediction": [1.1, 1.9, 3.2]})
    >>> sorted(assessment_figures(Task.REGRESSION, oof, ()))
    ['predicted_vs_actual', 'residual_distribution', 'residuals']
    """
    if oof.empty:
        return {}
    if not task.is_classification:
        return {
            "predicted_vs_actual": _predicted_vs_actual(oof),
            "residuals": _residuals(oof),
            "residual_distribution": _residual_distribution(oof),
        }
    figures = {"confusion_matrix": _confusion(oof, classes)}
    scores = _one_vs_rest(task, oof, classes)
    if scores:
        figures["roc_curve"] = _roc(scores)
        figures["precision_recall"] = _precision_recall(scores)
        figures["calibration"] = _calibration(scores)
    return figures


def _one_vs_rest(
    task: Task, oof: pd.DataFrame, classes: tuple[Any, ...]
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(class, is that class, its probability)`` for the positive class of a binary task and
    for every class of a multiclass one; empty when the model gave no probabilities."""
    chosen = classes[-1:] if task is Task.BINARY else classes
    if not chosen or not all(f"proba_{c}" in oof for c in chosen):
        return []
    actual = oof["actual"].astype(str).to_numpy()
    out = []
    for cls in chosen:
        truth = actual == str(cls)
        if truth.all() or not truth.any():
            continue  # a curve needs both outcomes
        out.append((str(cls), truth, oof[f"proba_{cls}"].to_numpy(dtype=float)))
    return out


def _thin(*arrays: np.ndarray, points: int = CURVE_POINTS) -> list[np.ndarray]:
    """Every array at the same evenly spread positions, first and last kept."""
    n = len(arrays[0])
    if n <= points:
        return list(arrays)
    keep = np.unique(np.linspace(0, n - 1, points).round().astype(int))
    return [a[keep] for a in arrays]


def _confusion(oof: pd.DataFrame, classes: tuple[Any, ...]) -> go.Figure:
    labels = [str(c) for c in classes]
    matrix = confusion_matrix(
        oof["actual"].astype(str), oof["prediction"].astype(str), labels=labels
    )
    totals = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
    fig = go.Figure(
        go.Heatmap(
            z=share,
            x=labels,
            y=labels,
            colorscale="Blues",
            zmin=0,
            zmax=1,
            text=matrix,
            texttemplate="%{text}",
            customdata=share * 100,
            hovertemplate="actual %{y}, predicted %{x}: %{text} rows "
            "(%{customdata:.1f}% of actual)<extra></extra>",
            colorbar={"title": "share of actual"},
        )
    )
    fig.update_layout(
        title="Confusion matrix (validation)", xaxis_title="predicted", yaxis_title="actual"
    )
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category")
    return fig


def _curves(
    scores: list[tuple[str, np.ndarray, np.ndarray]],
    points: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    *,
    name: str,
    x_title: str,
    y_title: str,
) -> go.Figure:
    """One thinned line per class, whose ``x`` and ``y`` are ``points(is the class, proba)``."""
    fig = go.Figure()
    for cls, truth, proba in scores:
        x, y = _thin(*points(truth, proba))
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=cls))
    which = f"positive class {scores[0][0]}" if len(scores) == 1 else "one class vs the rest"
    fig.update_layout(title=f"{name} ({which})", xaxis_title=x_title, yaxis_title=y_title)
    return fig


def _roc_points(truth: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    fpr, tpr, _ = roc_curve(truth, proba)
    return fpr, tpr


def _pr_points(truth: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    precision, recall, _ = precision_recall_curve(truth, proba)
    return recall, precision


def _roc(scores: list[tuple[str, np.ndarray, np.ndarray]]) -> go.Figure:
    fig = _curves(
        scores,
        _roc_points,
        name="ROC curve",
        x_title="false positive rate",
        y_title="true positive rate",
    )
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=_DOTTED, name="chance"))
    return fig


def _precision_recall(scores: list[tuple[str, np.ndarray, np.ndarray]]) -> go.Figure:
    fig = _curves(
        scores, _pr_points, name="Precision-recall curve", x_title="recall", y_title="precision"
    )
    if len(scores) == 1:
        # A classifier that guesses has the positives' prevalence as its precision.
        prevalence = float(scores[0][1].mean())
        fig.add_trace(
            go.Scatter(x=[0, 1], y=[prevalence] * 2, mode="lines", line=_DOTTED, name="chance")
        )
    fig.update_yaxes(range=[0, 1.02])
    return fig


def _calibration(scores: list[tuple[str, np.ndarray, np.ndarray]]) -> go.Figure:
    fig = go.Figure()
    for cls, truth, proba in scores:
        # Quantile bins hold equal numbers of rows, so no point rests on a handful of them.
        observed, predicted = calibration_curve(truth, proba, n_bins=10, strategy="quantile")
        fig.add_trace(go.Scatter(x=predicted, y=observed, mode="lines+markers", name=cls))
    fig.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=_DOTTED, name="perfectly calibrated")
    )
    fig.update_layout(
        title="Reliability (calibration) curve",
        xaxis_title="mean predicted probability",
        yaxis_title="observed frequency",
    )
    return fig


def _scatter_sample(oof: pd.DataFrame) -> pd.DataFrame:
    return oof.sample(n=min(len(oof), SCATTER_POINTS), random_state=0)


def _rows(x: Any, y: Any, *, title: str, x_title: str, y_title: str) -> go.Figure:
    fig = go.Figure(
        go.Scatter(x=x, y=y, mode="markers", marker={"size": 4, "opacity": 0.5}, name="rows")
    )
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title)
    return fig


def _predicted_vs_actual(oof: pd.DataFrame) -> go.Figure:
    sample = _scatter_sample(oof)
    values = sample[["actual", "prediction"]].to_numpy(dtype=float)
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    fig = _rows(
        sample["actual"],
        sample["prediction"],
        title="Predicted vs actual (validation)",
        x_title="actual",
        y_title="predicted",
    )
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", line=_DOTTED, name="perfect"))
    return fig


def _residual_values(oof: pd.DataFrame) -> np.ndarray:
    return oof["actual"].to_numpy(dtype=float) - oof["prediction"].to_numpy(dtype=float)


def _residuals(oof: pd.DataFrame) -> go.Figure:
    sample = _scatter_sample(oof)
    fig = _rows(
        sample["prediction"],
        _residual_values(sample),
        title="Residuals vs predicted (validation)",
        x_title="predicted",
        y_title="actual − predicted",
    )
    fig.add_hline(y=0, line=_DOTTED)
    return fig


def _residual_distribution(oof: pd.DataFrame) -> go.Figure:
    residuals = _residual_values(oof)
    residuals = residuals[np.isfinite(residuals)]
    # Binned here rather than by plotly.js, so the page holds 40 bars, not every residual.
    counts, edges = np.histogram(residuals, bins=40)
    fig = go.Figure(
        go.Bar(
            x=(edges[:-1] + edges[1:]) / 2,
            y=counts,
            width=np.diff(edges),
            marker_line_width=0,
            name="rows",
        )
    )
    fig.add_vline(x=0, line=_DOTTED)
    fig.update_layout(
        title="Distribution of residuals (validation)",
        xaxis_title="actual − predicted",
        yaxis_title="rows",
        bargap=0,
    )
    return fig


# -- importance, dependence, explanations ------------------------------------------------------


def importance_figure(
    frame: pd.DataFrame,
    *,
    title: str,
    axis_title: str,
    value: str = "importance",
    error: str | None = "std",
) -> go.Figure:
    """A horizontal bar chart of per-feature values, largest on top (at most 20 features)."""
    top = frame.dropna(subset=[value]).nlargest(TOP_FEATURES, value).iloc[::-1]
    errors = None
    if error and error in top and top[error].fillna(0).gt(0).any():
        errors = {"type": "data", "array": top[error].fillna(0).to_numpy()}
    fig = go.Figure(
        go.Bar(x=top[value], y=top["feature"].astype(str), orientation="h", error_x=errors)
    )
    fig.update_layout(
        title=title,
        xaxis_title=axis_title,
        yaxis={"type": "category"},
        height=max(300, 28 * len(top) + 120),
    )
    return fig


def dependence_figure(
    tables: Mapping[str, pd.DataFrame],
    categorical: Sequence[str] = (),
    *,
    title: str = "Partial dependence of the top features",
) -> go.Figure:
    """Partial dependence of each output on each feature, one panel per feature."""
    features = list(tables)
    cols = min(3, max(1, len(features)))
    rows = math.ceil(len(features) / cols) or 1
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=features or None)
    colors = _PALETTE
    for i, feature in enumerate(features):
        frame = tables[feature]
        outputs = [c for c in frame.columns if c != "value"]
        is_categorical = feature in categorical
        for k, output in enumerate(outputs):
            fig.add_trace(
                go.Scatter(
                    x=frame["value"].astype(str) if is_categorical else frame["value"],
                    y=frame[output],
                    mode="markers" if is_categorical else "lines+markers",
                    # One colour per output in every panel: the legend speaks for all of them.
                    marker={"color": colors[k % len(colors)], "size": 7},
                    line={"color": colors[k % len(colors)]},
                    name=output,
                    legendgroup=output,
                    showlegend=i == 0 and len(outputs) > 1,
                ),
                row=i // cols + 1,
                col=i % cols + 1,
            )
        if is_categorical:
            fig.update_xaxes(type="category", row=i // cols + 1, col=i % cols + 1)
        if i % cols == 0 and outputs:
            fig.update_yaxes(
                title_text=outputs[0] if len(outputs) == 1 else "output",
                row=i // cols + 1,
                col=1,
            )
    fig.update_layout(title=title, height=320 * rows + 80)
    return fig


def inspection_figures(inspection: Inspection) -> dict[str, go.Figure]:
    """Feature importance and partial dependence of one model."""
    axis = {
        "permutation": f"increase in {inspection.loss} when the column is shuffled",
        "gain": "share of total split gain",
        "impurity": "share of total impurity decrease",
        "|coefficient|": "share of total |coefficient| × input std",
    }.get(inspection.method, inspection.method)
    figures = {
        "feature_importance": importance_figure(
            inspection.importance,
            title=f"Feature importance ({inspection.method})",
            axis_title=axis,
        )
    }
    if inspection.partial_dependence:
        figures["partial_dependence"] = dependence_figure(
            inspection.partial_dependence, inspection.categorical
        )
    return figures


def candidate_figures(candidate: Candidate) -> dict[str, go.Figure]:
    """Every assessment figure of a candidate: its errors, then its importance and dependence."""
    if candidate.oof is None:
        return {}
    table = candidate.table
    figures = assessment_figures(table.task, candidate.oof, table.schema.classes)
    if candidate.inspection is not None:
        figures.update(inspection_figures(candidate.inspection))
    return figures


def waterfall_figure(
    local: pd.DataFrame, base_value: float, prediction: float, *, output: str, top: int = 12
) -> go.Figure:
    """How one prediction is built from the base value, feature by feature (largest first)."""
    ordered = local.reindex(local["contribution"].abs().sort_values(ascending=False).index)
    shown = ordered.head(top)
    labels = [f"{f} = {_short(v)}" for f, v in zip(shown["feature"], shown["value"], strict=True)]
    values = shown["contribution"].tolist()
    rest = ordered.iloc[top:]
    if len(rest):
        labels.append(f"{len(rest)} other features")
        values.append(float(rest["contribution"].sum()))
    # Bars start at the base value, not at 0: a regression's base of 200 bikes would dwarf
    # contributions of a few bikes each. The total bar spans base value → prediction.
    fig = go.Figure(
        go.Waterfall(
            orientation="h",
            y=["base value", *labels, "prediction"],
            x=[0.0, *values, None],
            base=base_value,
            measure=["relative", *["relative"] * len(values), "total"],
            text=[f"{base_value:.4g}", *[f"{v:+.3g}" for v in values], f"{prediction:.4g}"],
            textposition="outside",
            connector={"line": {"color": "#9aa5b1"}},
        )
    )
    fig.update_layout(
        title=f"Why this prediction: contributions to the {output}",
        xaxis_title=output,
        yaxis={"autorange": "reversed", "type": "category"},
        height=max(320, 28 * (len(labels) + 2) + 120),
    )
    return fig


def _short(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return f"{value:.4g}"
    text = str(value)
    return text if len(text) <= 24 else text[:23] + "…"


def metric_figure(board: Leaderboard, metric: str | None = None) -> go.Figure:
    """The candidates' validation metric as bars with ± one standard deviation across folds."""
    metric = metric or board.metric
    ok = [c for c in board if c.ok and metric in c.metrics]
    means = np.array([c.metrics[metric] for c in ok], dtype=float)
    stds = np.nan_to_num(np.array([c.metrics_std.get(metric, 0.0) for c in ok], dtype=float))
    fig = go.Figure(
        go.Bar(
            x=[c.name for c in ok],
            y=means,
            error_y={"type": "data", "array": stds},
            marker_color=["#2f6fde" if i == 0 else "#9fb3c8" for i in range(len(ok))],
        )
    )
    title = f"{metric} by model (validation mean ± std across folds)"
    finite = np.isfinite(means)
    if finite.sum() > 1:
        # Good models differ in the second decimal: zoom onto the bars' tops so the
        # differences and error bars are visible, and say so in the title.
        lo, hi = float((means - stds)[finite].min()), float((means + stds)[finite].max())
        margin = max(hi - lo, 1e-9) * 0.25
        fig.update_yaxes(range=[lo - margin, hi + margin])
        title += ", axis zoomed"
    fig.update_layout(title=title, yaxis_title=metric, xaxis={"type": "category"})
    return fig


# -- a light offline page --------------------------------------------------------------------


@lru_cache(maxsize=1)
def _compressed_plotlyjs() -> str:
    # mtime=0: the same bytes every time, so identical runs log identical artifacts.
    return base64.b64encode(gzip.compress(get_plotlyjs().encode(), 9, mtime=0)).decode()


_LOADER = """
(async () => {
  const bytes = Uint8Array.from(atob(document.getElementById("mc-plotly").textContent),
                                c => c.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  const code = document.createElement("script");
  code.textContent = await new Response(stream).text();
  document.head.appendChild(code);
  const figures = JSON.parse(document.getElementById("mc-figures").textContent);
  figures.forEach((f, i) => Plotly.newPlot("mc-fig-" + i, f.data, f.layout, {responsive: true}));
})().catch(e => {
  document.body.insertAdjacentHTML("beforeend",
    "<p>The figures need a browser that can decompress (2023 or later): " + e + "</p>");
});
"""


def light_page(title: str, figures: Mapping[str, go.Figure]) -> str:
    """A self-contained page of figures with plotly.js gzip-compressed inside it.

    Logged with every candidate's run, where a page with plotly.js inlined as is would cost
    4.8 MB each; compressed it is 2 MB and still opens offline (the browser inflates it with
    ``DecompressionStream``). A CDN link would be smaller but breaks the offline promise.
    """
    payload = json.dumps([json.loads(f.to_json()) for f in figures.values()])
    # "<" escaped: the JSON sits inside a <script> element, which "</script>" would end.
    payload = payload.replace("<", "\\u003c")
    divs = "".join(f"<div id='mc-fig-{i}'></div>" for i in range(len(figures)))
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px}</style>"
        f"</head><body><h1>{html.escape(title)}</h1>{divs}"
        f"<script type='application/json' id='mc-figures'>{payload}</script>"
        f"<script type='text/plain' id='mc-plotly'>{_compressed_plotlyjs()}</script>"
        f"<script>{_LOADER}</script></body></html>"
    )


def assessment_artifacts(title: str, figures: Mapping[str, go.Figure]) -> dict[str, str]:
    """The files a candidate's run carries: every figure as Plotly JSON and one light page.

    Measured on adult (32,561 rows, 8 figures): ``assessment.json`` ~60 KB, which a later
    viewer re-renders exactly, and ``assessment.html`` ~2 MB (was 5 MB with plotly.js inlined
    as is), which the MLflow UI shows without a network.
    """
    payload = {name: json.loads(fig.to_json()) for name, fig in figures.items()}
    return {
        "assessment.json": json.dumps(payload, separators=(",", ":")),
        "assessment.html": light_page(title, figures),
    }
