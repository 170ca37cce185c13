"""`modelcycle explore`: summarise a table and warn about leakage and unusable columns."""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import typer
from rich.table import Table as RichTable

from modelcycle.cli._app import app, console
from modelcycle.cli._learn import split_list
from modelcycle.cli._render import dumps
from modelcycle.data import load_table
from modelcycle.explore import Exploration, explore

# Short names of the association measures, explained under the table.
_SHORT = {"correlation ratio η": "η", "Cramér's V": "V", "|Spearman ρ|": "|ρ|"}
_LEGEND = (
    "with target: η correlation ratio, V Cramér's V, |ρ| absolute Spearman correlation "
    "(0 = none, 1 = determined)"
)


def _numbers(row: Mapping[Hashable, Any]) -> str:
    low, high, mean = row["min"], row["max"], row["mean"]
    if not isinstance(mean, float) or math.isnan(mean):
        return str(row["summary"])
    return f"{low:.4g} … {high:.4g}, mean {mean:.4g}"


def columns_table(found: Exploration, title: str) -> RichTable:
    styles = {w.column: "bold red" if w.serious else "yellow" for w in found.warnings}
    strength = {
        r.feature: f"{r.score:.3f} {_SHORT.get(str(r.measure), r.measure)}"
        for r in found.associations.itertuples()
    }
    table = RichTable(title=title, header_style="bold")
    for name, justify in (
        ("column", "left"),
        ("kind", "left"),
        ("missing", "right"),
        ("distinct", "right"),
        ("values", "left"),
        ("with target", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in found.columns.to_dict(orient="records"):
        name = str(row["column"])
        role = " (target)" if row["role"] == "target" else ""
        table.add_row(
            f"[{styles[name]}]{name}[/]{role}" if name in styles else name + role,
            str(row["kind"]),
            f"{row['missing']:.1%}" if row["missing"] else "–",
            f"{row['distinct']:,}",
            _numbers(row),
            strength.get(name, ""),
        )
    return table


def target_table(found: Exploration) -> RichTable:
    dist = found.target_distribution
    table = RichTable(title=f"target {found.target}", header_style="bold")
    for col in dist.columns:
        table.add_column(str(col), justify="left" if col in ("class", "statistic") else "right")
    for row in dist.itertuples(index=False):
        cells = [
            f"{v:.1%}" if col == "share" else f"{v:,.6g}" if isinstance(v, int | float) else str(v)
            for col, v in zip(dist.columns, row, strict=True)
        ]
        table.add_row(*cells)
    return table


@app.command("explore")
def explore_command(
    data: Path = typer.Argument(..., help="A CSV or Parquet table."),
    target: str | None = typer.Option(
        None, "--target", "-t", help="The column to learn (omit for clustering)."
    ),
    drop: str | None = typer.Option(None, help="Comma-separated columns to leave out."),
    task: str | None = typer.Option(
        None, help="Override the inferred task: binary, multiclass, regression."
    ),
    html: Path | None = typer.Option(None, help="Also write a self-contained HTML report here."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON for scripts."),
) -> None:
    """Summarise a table's columns and target, and warn about leakage and unusable columns."""
    table = load_table(data, target=target, drop=split_list(drop), task=task)
    found = explore(table)
    report = found.to_html(html) if html else None
    if json_out:
        result = found.to_dict()
        result["report"] = str(report) if report else None
        typer.echo(dumps(result))
        return
    rows, cols = table.frame.shape
    about = f"target {table.target} ({table.task})" if table.target else "no target"
    console.print(columns_table(found, f"{data.name}: {rows:,} rows × {cols} columns, {about}"))
    if table.target is not None:
        console.print(f"[dim]{_LEGEND}[/]", highlight=False)
    if table.target is not None:
        console.print(target_table(found))
    if found.warnings:
        console.print(f"[bold]{len(found.warnings)} warning(s)[/]")
        for w in found.warnings:
            style = "bold red" if w.serious else "yellow"
            console.print(f"  [{style}]⚠ {w.kind}[/] {w.message}", highlight=False)
    else:
        console.print("[green]no warnings[/]")
    if report:
        console.print(f"report: {report}")
