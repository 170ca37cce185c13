"""`modelcycle learn`: train and compare model families on a table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table as RichTable

from modelcycle.cli._app import app, console
from modelcycle.cli._render import dumps, fmt, leaderboard_table
from modelcycle.data import Task, Validation, load_table
from modelcycle.exceptions import ParameterError
from modelcycle.features import RANKING_METHODS
from modelcycle.learn import (
    Candidate,
    ClusterCandidate,
    Leaderboard,
    Learner,
    cluster_specs,
    model_specs,
    register,
    session_report,
)


def split_list(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def parse_features(value: str | None) -> str | list[str] | None:
    """``METHOD:K`` (``mrmr:10``) is a ranked selection; anything else lists columns."""
    if value and value.split(":")[0].strip() in RANKING_METHODS:
        return value.strip()
    return split_list(value)


def parse_clusters(value: str | None) -> list[int] | None:
    """``2-8`` (a range, both ends included), ``3`` or ``2,4,6`` (or a mix: ``2-4,8``)."""
    if not value:
        return None
    counts: list[int] = []
    try:
        for item in split_list(value) or []:
            low, _, high = item.partition("-")
            counts += range(int(low), int(high or low) + 1)
    except ValueError:
        counts = []
    if not counts:
        raise ParameterError(
            "--clusters", "modelcycle learn", "a range such as 2-8, or counts such as 2,4,6", value
        )
    return counts


def parse_validation(spec: str, target: str | None) -> str | Validation:
    """``test:PATH`` loads a separate test table; anything else is parsed by Validation."""
    if spec.startswith("test:"):
        return Validation(kind="test", test=load_table(spec[5:], target=target))
    return Validation.parse(spec)


def learn_table(
    data: Path,
    target: str | None,
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
    features: str | None = None,
    clusters: str | None = None,
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
        features=parse_features(features),
    )
    n_clusters = parse_clusters(clusters)
    total = len(
        cluster_specs(presets, n_clusters, n_rows=len(table))
        if table.task is Task.CLUSTERING
        else model_specs(table.task, presets, n_rows=len(table))
    )
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

        learner.compare(presets, n_clusters=n_clusters, progress=advance)
    return learner


@app.command()
def learn(
    data: Path = typer.Argument(..., help="A CSV or Parquet table."),
    target: str | None = typer.Option(
        None, "--target", "-t", help="The column to learn; without one the rows are clustered."
    ),
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
        None, help="Override the inferred task: binary, multiclass, regression, clustering."
    ),
    clusters: str | None = typer.Option(
        None, help="Clustering: the numbers of clusters to try, e.g. 2-8 (the default) or 3,5."
    ),
    seed: int = typer.Option(0, help="Random seed of splits and models."),
    n_jobs: int | None = typer.Option(
        None, help="Models trained at once (default: the number of cores)."
    ),
    time_limit: float = typer.Option(300.0, help="Seconds one model's validation may take."),
    features: str | None = typer.Option(
        None, help="Columns to learn from (a,b,c) or a ranked selection (mrmr:10, anova:5)."
    ),
    html: Path | None = typer.Option(
        None, "--html", help="Write the session report (assessments, explanation) to this file."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON for scripts."),
) -> None:
    """Train and compare model families on a table; optionally register the best."""
    if html is not None and (target is None or task == "clustering"):
        raise ParameterError(
            "--html",
            "learn",
            "used with a target (session reports assess supervised models)",
            str(html),
        )
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
        features=features,
        clusters=clusters,
    )
    board: Leaderboard = learner.leaderboard_
    result: dict[str, Any] = {
        "task": str(learner.table_.task),
        "metric": board.metric,
        "best": board.best.name,
        "leaderboard": board.to_records(),
        "experiment_id": learner.experiment_id_,
    }
    if learner.feature_selection_ is not None:
        result["feature_selection"] = learner.feature_selection_.to_dict()
    best = learner.best_
    if isinstance(best, ClusterCandidate):
        result["clusters"] = best.summary()
    if register_as:
        info = register(learner.best_, register_as, alias=alias)
        result["registered"] = {"name": info.name, "version": info.version, "alias": alias}
    if html is not None:
        result["report"] = str(session_report(learner, html))
    if json_out:
        typer.echo(dumps(result))
        return
    goal = learner.table_.target or "clusters"
    console.print(leaderboard_table(board, f"{data.name} → {goal} ({learner.table_.task})"))
    console.print(
        f"best: [bold]{board.best.name}[/] "
        f"({board.metric} = {fmt(board.best.metrics[board.metric])}), "
        f"refit on all {len(learner.table_):,} rows"
    )
    if learner.feature_selection_ is not None:
        chosen = learner.feature_selection_
        console.print(f"features ({chosen.method}:{chosen.top_k}): {', '.join(chosen.features)}")
    if isinstance(best, ClusterCandidate):
        console.print(clusters_table(best))
    if register_as:
        reg = result["registered"]
        console.print(
            f"registered [bold]{reg['name']}[/] version {reg['version']}"
            + (f" as @{alias}" if alias else "")
        )
    if html is not None:
        console.print(f"report: {result['report']}")


def clusters_table(candidate: ClusterCandidate, top: int = 3) -> RichTable:
    """Each cluster's size and the features that set it apart most."""
    table = RichTable(
        title=f"{candidate.name}: {candidate.n_clusters} clusters",
        header_style="bold",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("cluster", justify="right")
    table.add_column("rows", justify="right")
    table.add_column("share", justify="right")
    table.add_column(f"what sets it apart (top {top}, vs all rows)")
    for profile in candidate.profiles():
        table.add_row(
            "noise" if profile.is_noise else str(profile.cluster),
            f"{profile.size:,}",
            f"{profile.share:.0%}",
            "\n".join(contrast.describe() for contrast in profile.top(top)),
        )
    return table
