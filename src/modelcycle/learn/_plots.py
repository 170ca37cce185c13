"""Assessment plots of one candidate from its out-of-fold predictions (Plotly, offline)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from sklearn.metrics import confusion_matrix, roc_curve

from modelcycle.data import Task


def assessment_figures(
    task: Task, oof: pd.DataFrame, classes: tuple[Any, ...]
) -> dict[str, go.Figure]:
    """The figures that tell how a candidate errs: by task, from out-of-fold predictions."""
    if oof.empty:
        return {}
    if task.is_classification:
        figures = {"confusion_matrix": _confusion(oof, classes)}
        if task is Task.BINARY and f"proba_{classes[1]}" in oof:
            figures["roc_curve"] = _roc(oof, classes)
        return figures
    return {"predicted_vs_actual": _predicted_vs_actual(oof)}


def _confusion(oof: pd.DataFrame, classes: tuple[Any, ...]) -> go.Figure:
    labels = [str(c) for c in classes]
    matrix = confusion_matrix(
        oof["actual"].astype(str), oof["prediction"].astype(str), labels=labels
    )
    fig = go.Figure(
        go.Heatmap(
            z=matrix, x=labels, y=labels, colorscale="Blues", text=matrix, texttemplate="%{text}"
        )
    )
    fig.update_layout(
        title="Confusion matrix (validation)", xaxis_title="predicted", yaxis_title="actual"
    )
    fig.update_yaxes(autorange="reversed")
    return fig


def _roc(oof: pd.DataFrame, classes: tuple[Any, ...]) -> go.Figure:
    positive = classes[1]
    fpr, tpr, _ = roc_curve(oof["actual"].astype(str) == str(positive), oof[f"proba_{positive}"])
    fig = go.Figure(go.Scatter(x=fpr, y=tpr, mode="lines", name="ROC"))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot"}, name="chance"))
    fig.update_layout(
        title=f"ROC curve (positive class {positive})",
        xaxis_title="false positive rate",
        yaxis_title="true positive rate",
    )
    return fig


def _predicted_vs_actual(oof: pd.DataFrame) -> go.Figure:
    sample = oof.sample(n=min(len(oof), 5000), random_state=0)
    lo = float(np.nanmin(sample[["actual", "prediction"]].to_numpy(dtype=float)))
    hi = float(np.nanmax(sample[["actual", "prediction"]].to_numpy(dtype=float)))
    fig = go.Figure(
        go.Scattergl(
            x=sample["actual"],
            y=sample["prediction"],
            mode="markers",
            marker={"size": 4, "opacity": 0.5},
            name="rows",
        )
    )
    fig.add_trace(
        go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", line={"dash": "dot"}, name="perfect")
    )
    fig.update_layout(
        title="Predicted vs actual (validation)", xaxis_title="actual", yaxis_title="predicted"
    )
    return fig
