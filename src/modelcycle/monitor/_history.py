"""The monitoring report over time: status and performance across recorded windows."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from modelcycle.monitor._report import STATUS_COLOURS
from modelcycle.report import Section, write_page
from modelcycle.store import MetadataStore

_STATUS_NAMES = ("status", "drift.status", "performance.status")
_LEVELS = ["Stable", "Warning", "Drift"]


def monitor_report(
    name: str,
    path: str | Path,
    since: datetime | None = None,
    *,
    store: MetadataStore | None = None,
) -> Path:
    """Write a self-contained HTML page of a model's monitoring history and return its path.

    The page shows the status of every recorded window (overall, data and thresholds), the
    share of drifted columns, live and estimated metrics over time, the latest window's
    per-column verdicts and reasons, and the status-change and alert events.

    Parameters
    ----------
    name
        The monitored model.
    path
        Where to write the page.
    since
        Only windows ending at or after this time.
    store
        The metadata store (default: the configured one).

    Examples
    --------
    >>> from modelcycle.monitor import monitor_report
    >>> monitor_report("elec", "elec-monitoring.html")  # doctest: +SKIP
    PosixPath('elec-monitoring.html')
    """
    store = store or MetadataStore()
    metrics = store.metrics(name, since=since)
    frame = pd.DataFrame(
        [
            {"end": m.window_end, "name": m.name, "value": m.value, "version": m.version}
            for m in metrics
        ],
        columns=["end", "name", "value", "version"],
    )
    events = store.events(name, kinds=["monitor", "drift", "performance", "alert"], since=since)
    latest = next((e for e in reversed(events) if e.kind == "monitor"), None)
    windows = int((frame["name"] == "status").sum())
    sections = [_status_section(frame), *_metric_sections(frame)]
    if latest is not None:
        sections.append(_latest_section(latest.details))
    changes = [e for e in events if e.kind != "monitor"]
    if changes:
        table = pd.DataFrame(
            {
                "at": [e.at.strftime("%Y-%m-%d %H:%M:%S") for e in changes],
                "kind": [e.kind for e in changes],
                "version": [e.version for e in changes],
                "what": [_event_text(e.kind, e.details) for e in changes],
            }
        )
        sections.append(Section("Status changes and alerts", tables=[table]))
    status = latest.details.get("status", "–") if latest is not None else "no windows recorded"
    return write_page(
        path,
        f"Monitoring {name}: {status}",
        sections,
        subtitle=f"{windows} recorded windows"
        + (f" since {since:%Y-%m-%d %H:%M}" if since else ""),
    )


def _status_section(frame: pd.DataFrame) -> Section:
    rows = frame[frame["name"].isin(_STATUS_NAMES)]
    if rows.empty:
        return Section(
            "Status over time",
            text=["No window has been recorded yet: run `modelcycle monitor NAME` first."],
        )
    fig = go.Figure()
    for name, part in rows.groupby("name", sort=False):
        fig.add_trace(
            go.Scatter(
                x=part["end"],
                y=part["value"],
                mode="lines+markers",
                name=name,
                line={"shape": "hv"},
            )
        )
    fig.update_layout(
        height=320,
        margin={"t": 30},
        yaxis={"tickvals": [0, 1, 2], "ticktext": _LEVELS, "range": [-0.2, 2.2]},
    )
    for level, colour in enumerate(STATUS_COLOURS.values()):
        fig.add_hrect(y0=level - 0.5, y1=level + 0.5, fillcolor=colour, opacity=0.06, line_width=0)
    return Section("Status over time", figures=[fig])


def _metric_sections(frame: pd.DataFrame) -> list[Section]:
    sections = []
    groups = (
        ("Share of drifted columns", ["drift.share"]),
        (
            "Performance from feedback, and estimated without labels",
            sorted(
                n
                for n in frame["name"].unique()
                if n.startswith(("performance.", "estimated.")) and not n.endswith(".status")
            ),
        ),
    )
    for title, names in groups:
        rows = frame[frame["name"].isin(names)]
        if rows.empty:
            continue
        fig = go.Figure()
        for name, part in rows.groupby("name"):
            dash = "dot" if str(name).startswith("estimated.") else "solid"
            fig.add_trace(
                go.Scatter(
                    x=part["end"],
                    y=part["value"],
                    mode="lines+markers",
                    name=str(name),
                    line={"dash": dash},
                )
            )
        fig.update_layout(height=320, margin={"t": 30})
        sections.append(Section(title, figures=[fig]))
    return sections


def _latest_section(details: dict[str, Any]) -> Section:
    drift = details.get("drift")
    text = [
        f"window {details.get('window_start')} – {details.get('window_end')}, "
        f"{details.get('rows')} rows ({details.get('labeled_rows')} labeled), version "
        f"{details.get('version')}: {details.get('status')}"
    ]
    text += [f"• {r}" for r in details.get("reasons", []) or []]
    tables = []
    if isinstance(drift, dict) and drift.get("columns"):
        cols = pd.DataFrame(drift["columns"])
        keep = [
            c
            for c in (
                "column",
                "kind",
                "test",
                "p_adjusted",
                "effect",
                "min_effect",
                "status",
                "note",
            )
            if c in cols.columns
        ]
        tables.append(cols[keep])
    return Section("Latest window", text=text, tables=tables)


def _event_text(kind: str, details: dict[str, object]) -> str:
    if kind == "alert":
        return f"{details.get('condition')} {details.get('state')} ({details.get('level')})"
    return f"{details.get('from')} → {details.get('to')}"
