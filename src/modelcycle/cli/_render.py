"""Rich renderings shared by commands: leaderboards and model listings."""

from __future__ import annotations

import math
from typing import Any

import orjson
from rich.table import Table as RichTable

from modelcycle.learn import METRICS, Leaderboard


def fmt(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def leaderboard_table(board: Leaderboard, title: str) -> RichTable:
    metrics = [m for m in METRICS if any(m in c.metrics for c in board)]
    table = RichTable(title=title, header_style="bold")
    table.add_column("#", justify="right")
    table.add_column("model")
    for m in metrics:
        style = "bold green" if m == board.metric else None
        table.add_column(
            m + (" ▲" if METRICS[m].greater_is_better else " ▼"), justify="right", style=style
        )
    table.add_column("fit s", justify="right")
    table.add_column("rows/s", justify="right")
    table.add_column("size", justify="right")
    table.add_column("status")
    for rank, c in enumerate(board, start=1):
        cells = [
            f"{fmt(c.metrics.get(m))} ± {fmt(c.metrics_std.get(m), 3)}" if m in c.metrics else "–"
            for m in metrics
        ]
        status = "ok" if c.ok else f"[red]{c.status}[/]"
        table.add_row(
            str(rank),
            c.name,
            *cells,
            fmt(c.fit_seconds, 2),
            f"{c.predict_rows_per_second:,.0f}" if c.ok else "–",
            human_bytes(c.size_bytes) if c.ok else "–",
            status,
        )
    return table


def dumps(data: Any) -> str:
    return orjson.dumps(
        data,
        option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS,
        default=str,
    ).decode()
