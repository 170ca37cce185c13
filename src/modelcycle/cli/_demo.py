"""`modelcycle demo`: the main job on the embedded default, narrated step by step."""

from __future__ import annotations

from pathlib import Path

import typer

from modelcycle.cli._app import app, console
from modelcycle.cli._learn import learn_table
from modelcycle.cli._render import fmt, leaderboard_table
from modelcycle.config import get_settings
from modelcycle.exceptions import TableNotFoundError
from modelcycle.learn import register


def _find_data(name: str) -> Path:
    """The shared data folder sits beside the checkout (``../shared/data``)."""
    for base in (Path.cwd(), *Path.cwd().parents):
        candidate = base / "shared" / "data" / name
        if candidate.is_file():
            return candidate
        candidate = base.parent / "shared" / "data" / name
        if candidate.is_file():
            return candidate
    raise TableNotFoundError(f"../shared/data/{name}")


@app.command()
def demo(
    data: Path | None = typer.Option(
        None, help="The adult census table (default: ../shared/data/adult.csv)."
    ),
    name: str = typer.Option("income", help="Name to register the best model under."),
) -> None:
    """Learn on the adult census data with the quick preset and register the best model."""
    path = data or _find_data("adult.csv")
    settings = get_settings()
    console.rule("[bold]modelcycle demo")
    console.print(
        f"home: {settings.resolved_home()}  (tracking: {settings.effective_tracking_uri})"
    )
    console.print(
        f"[bold]1. learn[/]: every quick model family on {path.name}, 5-fold stratified CV"
    )
    learner = learn_table(
        path,
        "income",
        preset="quick",
        validation="kfold:5",
        metric=None,
        drop=None,
        time_column=None,
        task=None,
        seed=0,
        n_jobs=None,
        time_limit=300.0,
        quiet=False,
    )
    board = learner.leaderboard_
    console.print(leaderboard_table(board, f"{path.name} → income"))
    best = board.best
    console.print(
        f"[bold]2. register[/]: the best, {best.name} "
        f"({board.metric} {fmt(best.metrics[board.metric])}), refit on all rows"
    )
    info = register(best, name, alias="production")
    console.print(f"registered [bold]{info.name}[/] version {info.version} as @production")
    console.print("next: `modelcycle models show income`")
