"""`modelcycle rank`: rank a table's features by what they tell about the target."""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import typer
from rich.table import Table as RichTable

from modelcycle.cli._app import app, console
from modelcycle.cli._learn import split_list
from modelcycle.cli._render import dumps, fmt
from modelcycle.data import load_table
from modelcycle.features import RANKING_METHODS, Ranking, rank_features


def _p_value(row: Mapping[Hashable, Any]) -> str:
    """A p-value too small for a float (strong features on large tables) is shown from its
    score, -log10 p, instead of as 0."""
    p = float(row["p_value"])
    if p > 0:
        return f"{p:.2e}"
    exponent = math.floor(-float(row["score"]))
    return f"{10 ** (-float(row['score']) - exponent):.2f}e{exponent}"


def ranking_table(ranking: Ranking, rows: int, title: str, caption: str) -> RichTable:
    frame = ranking.frame.head(rows)
    table = RichTable(title=title, caption=caption, header_style="bold")
    table.add_column("#", justify="right")
    table.add_column("feature")
    table.add_column("kind")
    table.add_column("score", justify="right", style="bold green")
    extra = [c for c in ("p_value", "relevance", "redundancy", "std") if c in frame]
    for col in extra:
        table.add_column(col.replace("_", "-"), justify="right")
    for row in frame.to_dict(orient="records"):
        cells = [str(row["rank"]), str(row["feature"]), str(row["kind"]), fmt(row["score"])]
        cells += [_p_value(row) if c == "p_value" else fmt(row[c]) for c in extra]
        table.add_row(*cells)
    return table


@app.command("rank")
def rank_command(
    data: Path = typer.Argument(..., help="A CSV or Parquet table."),
    target: str = typer.Option(..., "--target", "-t", help="The column to learn."),
    method: str = typer.Option("mrmr", help="Ranking method: " + ", ".join(RANKING_METHODS) + "."),
    top: int | None = typer.Option(None, "--top", min=1, help="Show the best N features only."),
    drop: str | None = typer.Option(None, help="Comma-separated columns to leave out."),
    task: str | None = typer.Option(
        None, help="Override the inferred task: binary, multiclass, regression."
    ),
    seed: int = typer.Option(0, help="Seed of row sampling (mutual_info, mrmr, relieff)."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON for scripts."),
) -> None:
    """Rank a table's features by how much each tells about the target."""
    table = load_table(data, target=target, drop=split_list(drop), task=task)
    ranking = rank_features(table, method, random_state=seed)
    rows = top or len(ranking.frame)
    if json_out:
        result = ranking.to_dict()
        result["features"] = result["features"][:rows]
        typer.echo(dumps(result))
        return
    info = RANKING_METHODS[ranking.method]
    title = f"{data.name} → {target} ({table.task}), ranked by {method}"
    console.print(ranking_table(ranking, rows, title, f"score: {info.score}"))
    for note in ranking.notes:
        console.print(f"[dim]{note}[/]", highlight=False)
