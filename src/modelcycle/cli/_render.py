"""Rich renderings shared by commands: leaderboards and model listings."""

from __future__ import annotations

import math
from typing import Any

import orjson
from rich import box
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


def compact(n: float) -> str:
    """1234567 -> '1.2M': rates and counts that fit a narrow column."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.1f}{unit}"
    return f"{n:.0f}"


def leaderboard_table(board: Leaderboard, title: str) -> RichTable:
    """The ranking metric with its spread first, the task's other metrics after it."""
    others = [m for m in METRICS if m != board.metric and any(m in c.metrics for c in board)]
    table = RichTable(title=title, header_style="bold", box=box.SIMPLE_HEAD)
    table.add_column("#", justify="right")
    table.add_column("model", no_wrap=True)
    arrow = "▲" if METRICS[board.metric].greater_is_better else "▼"
    table.add_column(f"{board.metric} {arrow}", justify="right", style="bold green", no_wrap=True)
    for m in others:
        table.add_column(m, justify="right")
    table.add_column("fit s", justify="right")
    table.add_column("rows/s", justify="right")
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("status")
    for rank, c in enumerate(board, start=1):
        main = (
            f"{fmt(c.metrics[board.metric])} ± {fmt(c.metrics_std.get(board.metric), 3)}"
            if board.metric in c.metrics
            else "–"
        )
        table.add_row(
            str(rank),
            c.name,
            main,
            *[fmt(c.metrics.get(m)) for m in others],
            fmt(c.fit_seconds, 2),
            compact(c.predict_rows_per_second) if c.ok else "–",
            human_bytes(c.size_bytes) if c.ok else "–",
            "ok" if c.ok else f"[red]{c.status}[/]",
        )
    return table


def dumps(data: Any) -> str:
    return orjson.dumps(
        data,
        option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS,
        default=str,
    ).decode()
