"""`modelcycle learn`: train and compare model families on a table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from modelcycle.cli._app import app, console
from modelcycle.cli._render import dumps, fmt, leaderboard_table
from modelcycle.data import Validation, load_table
from modelcycle.learn import Candidate, Leaderboard, Learner, model_specs, register


def split_list(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def parse_validation(spec: str, target: str | None) -> str | Validation:
    """``test:PATH`` loads a separate test table; anything else is parsed by Validation."""
    if spec.startswith("test:"):
        return Validation(kind="test", test=load_table(spec[5:], target=target))
    return Validation.parse(spec)


def learn_table(
    data: Path,
    target: str,
    *,
    preset: str,
    validation: str,
    metric: str | None,
    drop: str | None,
    time_column: str | None,
    task: str | None,
    seed: int,
    n_jobs: int | None,
    time_limit: float | None,
    quiet: bool,
) -> Learner:
    """Load, train and compare with a progress bar; shared by `learn` and `demo`."""
    table = load_table(
        data, target=target, drop=split_list(drop), time_column=time_column, task=task
    )
    presets: str | list[str] = split_list(preset) or "quick"
    if (
        isinstance(presets, list)
        and len(presets) == 1
        and presets[0] in ("quick", "linear", "trees", "all")
    ):
        presets = presets[0]
    learner = Learner(
        table,
        validation=parse_validation(validation, target),
        metric=metric,
        random_state=seed,
        n_jobs=n_jobs,
        time_limit=time_limit,
    )
    total = len(model_specs(table.task, presets, n_rows=len(table)))
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=quiet,
    ) as bar:
        job = bar.add_task(f"training {total} models on {len(table):,} rows", total=total)

        def advance(candidate: Candidate) -> None:
            bar.advance(job)
            if quiet:
                return
            score = candidate.metrics.get(learner.metric_) if candidate.ok else None
            bar.console.print(
                f"  {candidate.name:<24} {candidate.status:<8} {learner.metric_}={fmt(score)}"
            )

        learner.compare(presets, progress=advance)
    return learner


@app.command()
def learn(
    data: Path = typer.Argument(..., help="A CSV or Parquet table."),
    target: str = typer.Option(..., "--target", "-t", help="The column to learn."),
    preset: str = typer.Option(
        "quick", help="quick, linear, trees, all, or a comma-separated list of families."
    ),
    validation: str = typer.Option(
        "kfold:5", help="kfold:K, holdout:FRACTION, time:K or test:PATH."
    ),
    metric: str | None = typer.Option(
        None, help="Metric that ranks the models (default: the task's)."
    ),
    register_as: str | None = typer.Option(
        None, "--register", help="Register the best model under this name."
    ),
    alias: str | None = typer.Option(
        None, help="With --register: also point this alias at the new version."
    ),
    drop: str | None = typer.Option(
        None, help="Comma-separated columns to leave out (leakage, identifiers)."
    ),
    time_column: str | None = typer.Option(None, help="Column that orders rows in time."),
    task: str | None = typer.Option(
        None, help="Override the inferred task: binary, multiclass, regression."
    ),
    seed: int = typer.Option(0, help="Random seed of splits and models."),
    n_jobs: int | None = typer.Option(
        None, help="Models trained at once (default: the number of cores)."
    ),
    time_limit: float = typer.Option(300.0, help="Seconds one model's validation may take."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON for scripts."),
) -> None:
    """Train and compare model families on a table; optionally register the best."""
    learner = learn_table(
        data,
        target,
        preset=preset,
        validation=validation,
        metric=metric,
        drop=drop,
        time_column=time_column,
        task=task,
        seed=seed,
        n_jobs=n_jobs,
        time_limit=time_limit,
        quiet=json_out,
    )
    board: Leaderboard = learner.leaderboard_
    result: dict[str, Any] = {
        "task": str(learner.table_.task),
        "metric": board.metric,
        "best": board.best.name,
        "leaderboard": board.to_records(),
        "experiment_id": learner.experiment_id_,
    }
    if register_as:
        info = register(learner.best_, register_as, alias=alias)
        result["registered"] = {"name": info.name, "version": info.version, "alias": alias}
    if json_out:
        typer.echo(dumps(result))
        return
    console.print(
        leaderboard_table(board, f"{data.name} → {learner.table_.target} ({learner.table_.task})")
    )
    console.print(
        f"best: [bold]{board.best.name}[/] "
        f"({board.metric} = {fmt(board.best.metrics[board.metric])}), "
        f"refit on all {len(learner.table_):,} rows"
    )
    if register_as:
        reg = result["registered"]
        console.print(
            f"registered [bold]{reg['name']}[/] version {reg['version']}"
            + (f" as @{alias}" if alias else "")
        )
