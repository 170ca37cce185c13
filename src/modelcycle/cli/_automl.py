"""`modelcycle automl`: design a model within a time budget."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable

from modelcycle.cli._app import app, console
from modelcycle.cli._learn import parse_validation, split_list
from modelcycle.cli._render import dumps, fmt, leaderboard_table
from modelcycle.data import load_table
from modelcycle.learn import Leaderboard, register

# Trials shown in the terminal's leaderboard (--json and the report have them all).
_SHOWN = 10


def _families_table(frame: Any, metric: str) -> RichTable:
    table = RichTable(
        title="best configuration per family", header_style="bold", box=box.SIMPLE_HEAD
    )
    for column in ("family", "trials", "pruned", metric, "configuration"):
        table.add_column(
            column, justify="right" if column in ("trials", "pruned", metric) else "left"
        )
    for row in frame.to_dict(orient="records"):
        config = {**(row["params"] or {}), **(row["preprocessing"] or {})}
        table.add_row(
            row["family"],
            str(row["trials"]),
            str(row["pruned"]),
            fmt(row[f"best {metric}"]),
            json.dumps(config, default=str) if row["params"] else "–",
        )
    return table


@app.command()
def automl(
    data: Path = typer.Argument(..., help="A CSV or Parquet table."),
    target: str = typer.Option(..., "--target", "-t", help="The column to learn."),
    budget: float = typer.Option(
        60.0, help="Seconds the search may take (the refit comes on top)."
    ),
    metric: str | None = typer.Option(None, help="Metric to optimise (default: the task's)."),
    validation: str = typer.Option(
        "auto", help="auto, kfold:K, holdout:FRACTION, time:K or test:PATH."
    ),
    families: str | None = typer.Option(
        None, help="Comma-separated model families to search (default: all of the task's)."
    ),
    ensemble: bool = typer.Option(
        True, "--ensemble/--no-ensemble", help="Try an ensemble of the best trials."
    ),
    n_jobs: int | None = typer.Option(None, help="Trials at once (default: the number of cores)."),
    max_trials: int | None = typer.Option(None, help="Stop after this many trials."),
    seed: int = typer.Option(0, help="Random seed of splits, sampler and models."),
    drop: str | None = typer.Option(
        None, help="Comma-separated columns to leave out (leakage, identifiers)."
    ),
    time_column: str | None = typer.Option(None, help="Column that orders rows in time."),
    task: str | None = typer.Option(
        None, help="Override the inferred task: binary, multiclass, regression."
    ),
    register_as: str | None = typer.Option(
        None, "--register", help="Register the chosen model under this name."
    ),
    alias: str | None = typer.Option(
        None, help="With --register: also point this alias at the new version."
    ),
    html: Path | None = typer.Option(None, "--html", help="Write the session report here."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON for scripts."),
) -> None:
    """Search model families, hyperparameters and features within a budget; refit the best."""
    from modelcycle.automl import SearchProgress, automl_report
    from modelcycle.automl import automl as run_automl

    table = load_table(
        data, target=target, drop=split_list(drop), time_column=time_column, task=task
    )
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=json_out,
    ) as bar:
        job = bar.add_task(
            f"searching {len(table):,} rows for {budget:g} s", total=budget, status="starting"
        )

        def advance(state: SearchProgress) -> None:
            best = (
                f"best {fmt(state.best_score)} ({state.best})"
                if not math.isnan(state.best_score)
                else "no model yet"
            )
            bar.update(
                job,
                completed=min(state.elapsed, state.budget),
                status=f"{best} · {state.finished} trials, {state.running} running",
            )

        result = run_automl(
            table,
            budget=budget,
            metric=metric,
            validation=parse_validation(validation, target) if validation != "auto" else "auto",
            families=split_list(families),
            ensemble=ensemble,
            n_jobs=n_jobs,
            max_trials=max_trials,
            random_state=seed,
            progress=advance,
        )
    out: dict[str, Any] = result.summary()
    out["leaderboard"] = result.leaderboard.to_records()
    out["families"] = json.loads(result.best_per_family().to_json(orient="records"))
    if register_as:
        info = register(result.best, register_as, alias=alias)
        out["registered"] = {"name": info.name, "version": info.version, "alias": alias}
    if html is not None:
        out["report"] = str(automl_report(result, html))
    if json_out:
        typer.echo(dumps(out))
        return
    board = result.leaderboard
    top = Leaderboard(list(board)[:_SHOWN], board.metric)
    console.print(
        leaderboard_table(top, f"{data.name} → {target}: best {len(top)} of {len(board)} trials")
    )
    console.print(_families_table(result.best_per_family(), result.metric))
    best = result.best
    console.print(
        f"best: [bold]{best.name}[/] ({result.metric} = {fmt(best.metrics.get(result.metric))}); "
        f"search {result.search_seconds:.1f} s of a {budget:g} s budget, "
        f"refit on all {len(table):,} rows {result.refit_seconds:.1f} s"
    )
    if result.ensemble and result.ensemble["adopted"]:
        members = ", ".join(
            f"{m} × {w:.2f}"
            for m, w in zip(result.ensemble["members"], result.ensemble["weights"], strict=True)
        )
        console.print(f"ensemble: {members}")
    if register_as:
        reg = out["registered"]
        console.print(
            f"registered [bold]{reg['name']}[/] version {reg['version']}"
            + (f" as @{alias}" if alias else "")
        )
    if html is not None:
        console.print(f"report: {out['report']}")
