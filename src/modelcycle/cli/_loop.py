"""`modelcycle retrain`, `approve` and `loop run|history|backtest`: the retraining loop."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich import box
from rich.table import Table as RichTable

from modelcycle.cli._app import app, console
from modelcycle.cli._render import dumps, fmt
from modelcycle.exceptions import ParameterError

if TYPE_CHECKING:
    import pandas as pd

    from modelcycle.loop import BacktestResult, StartsResult

loop_app = typer.Typer(
    help="The retraining loop: run a policy, show its timeline, backtest it.",
    no_args_is_help=True,
)
app.add_typer(loop_app, name="loop")


@app.command()
def retrain(
    name: str = typer.Argument(..., help="The registered model."),
    data: Path = typer.Option(..., "--data", help="New labeled rows (CSV or Parquet)."),
    window: list[str] = typer.Option(
        ["all"],
        help="all | last:N | since:YYYY-MM-DD; repeat it for candidates judged on --holdout.",
    ),
    holdout: Path | None = typer.Option(
        None, help="Labeled rows newer than --data, to choose among several windows on."
    ),
    metric: str | None = typer.Option(None, help="What the candidates are ranked by."),
    base: str = typer.Option("production", help="Version or alias whose recipe is retrained."),
    alias: str = typer.Option("challenger", help="Alias of the new version."),
    time_column: str | None = typer.Option(None, help="Column with each row's time (since:)."),
    json_out: bool = typer.Option(False, "--json", help="Print the new version as JSON."),
) -> None:
    """Retrain a version's recipe on new data and register it as a challenger."""
    from modelcycle.loop import retrain as retrain_model

    info = retrain_model(
        name,
        data,
        window=window,
        holdout=holdout,
        metric=metric,
        base=base,
        alias=alias,
        time_column=time_column,
    )
    if json_out:
        typer.echo(dumps({"model": info.name, "version": info.version, "aliases": info.aliases}))
        return
    console.print(
        f"Registered {info.name} version {info.version} as @{alias}: {info.description}",
        highlight=False,
    )


@app.command()
def approve(
    name: str = typer.Argument(..., help="The registered model."),
    version: int | None = typer.Option(None, help="The waiting version (default: the latest)."),
    alias: str = typer.Option("production", help="The alias to promote it to."),
) -> None:
    """Promote the challenger that passed the gate and waits for approval."""
    from modelcycle.cli._deploy import _actor
    from modelcycle.loop._run import approve as approve_version

    promoted = approve_version(name, version, alias=alias, actor=_actor())
    console.print(f"Promoted {name} version {promoted} to @{alias}.", highlight=False)


@loop_app.command("run")
def run(
    name: str = typer.Argument(..., help="The served model."),
    policy: Path = typer.Option(..., "--policy", help="The policy file (YAML)."),
    once: bool = typer.Option(False, "--once", help="One step, then exit (for cron or CI)."),
    alias: str = typer.Option("production", help="The alias the server follows."),
    every: str | None = typer.Option(None, help="Time between steps (default: monitor.every)."),
    json_out: bool = typer.Option(False, "--json", help="Print each step as JSON."),
) -> None:
    """Monitor → decide → retrain → gate → promote → guard, as a long-lived process or once."""
    from modelcycle.loop import load_policy
    from modelcycle.loop._policy import parse_duration
    from modelcycle.loop._run import StepResult, run_once
    from modelcycle.loop._run import run as run_loop

    rules = load_policy(policy)

    def show(step: StepResult) -> None:
        if json_out:
            typer.echo(dumps(step.to_dict()))
            return
        decision = step.decision
        console.print(
            f"[bold]{step.at:%Y-%m-%d %H:%M:%S}[/] {name}@{alias} v{step.champion}: "
            f"[bold]{decision.action}[/]",
            highlight=False,
        )
        for reason in (*step.notes, *decision.reasons):
            console.print(f"  · {reason}", highlight=False)
        if step.gate is not None:
            verdict = "[green]passed[/]" if step.gate.passed else "[red]rejected[/]"
            console.print(f"  gate on {step.gate.rows} rows: {verdict}")
            for reason in step.gate.reasons:
                console.print(f"    {reason}", highlight=False)
        if step.promoted is not None:
            console.print(f"  [green]promoted version {step.promoted}[/]")
        if step.rolled_back_to is not None:
            console.print(f"  [yellow]rolled back to version {step.rolled_back_to}[/]")

    if once:
        show(run_once(name, rules, alias=alias))
        return
    run_loop(name, rules, alias=alias, every=parse_duration(every) if every else None, on_step=show)


@loop_app.command("history")
def history(
    name: str = typer.Argument(..., help="The model."),
    limit: int = typer.Option(50, help="Most recent events shown."),
    quiet: bool = typer.Option(False, "--quiet", help="Hide 'none' decisions."),
    json_out: bool = typer.Option(False, "--json", help="Print the events as JSON."),
) -> None:
    """The loop's timeline: decisions, retrains, verdicts, promotions, rollbacks, and why."""
    from modelcycle.loop._run import history as loop_history

    events = loop_history(name, limit=limit)
    if quiet:
        events = [e for e in events if e.details.get("action") != "none"]
    if json_out:
        typer.echo(
            dumps(
                [
                    {"at": e.at.isoformat(), "kind": e.kind, "version": e.version, **e.details}
                    for e in events
                ]
            )
        )
        return
    table = RichTable(title=f"loop timeline of {name}", box=box.SIMPLE_HEAD, header_style="bold")
    for column in ("time (UTC)", "event", "v", "what and why"):
        table.add_column(column, overflow="fold")
    for e in events:
        table.add_row(
            f"{e.at:%Y-%m-%d %H:%M:%S}", _kind(e.kind, e.details), e.version or "", _why(e.details)
        )
    console.print(table)


@loop_app.command("backtest")
def backtest(
    data: Path = typer.Argument(..., help="A time-ordered labeled table (CSV or Parquet)."),
    target: str = typer.Option(..., "--target", help="The column to predict."),
    policy: Path | None = typer.Option(None, "--policy", help="The policy file (YAML)."),
    time_column: str | None = typer.Option(None, help="Each row's time (else --interval)."),
    interval: str = typer.Option("1h", help="Time between rows when there is no time column."),
    drop: str | None = typer.Option(None, help="Comma-separated columns to leave out."),
    train_fraction: float = typer.Option(0.1, help="Share of the oldest rows to train on."),
    step: str = typer.Option("1d", help="Simulated time between two decisions."),
    batch: str = typer.Option("7d", help="Span of the batches scores are reported on."),
    period: str = typer.Option("7d", help="How often the periodic strategy retrains."),
    family: str = typer.Option("lightgbm", help="Model family of the recipe."),
    params: str | None = typer.Option(
        None, "--params", help="The recipe's hyperparameters as JSON: '{\"n_estimators\": 100}'."
    ),
    starts: int = typer.Option(
        1,
        "--starts",
        min=1,
        help="Replay from this many start rows (the first to 40% in) and report the spread.",
    ),
    html: Path | None = typer.Option(None, "--html", help="Write the report (table + plot)."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Replay history through a policy: static vs periodic vs policy, with retrains counted."""
    from modelcycle.loop import StartsResult, backtest_starts
    from modelcycle.loop import backtest as run_backtest

    options = {
        "policy": policy,
        "time_column": time_column,
        "interval": interval,
        "drop": [c.strip() for c in drop.split(",")] if drop else None,
        "train_fraction": train_fraction,
        "step": step,
        "batch": batch,
        "period": period,
        "family": family,
        "params": _params(params),
    }
    replay: Callable[..., BacktestResult | StartsResult] = run_backtest
    unit = "steps"
    if starts > 1:
        replay, unit = functools.partial(backtest_starts, starts=starts), "starts"
    with console.status("replaying…") as status:
        result = replay(
            data,
            target,
            progress=lambda done, total: status.update(f"replaying… {done}/{total} {unit}"),
            **options,
        )
    if html is not None:
        result.to_html(html)
    if json_out:
        typer.echo(dumps(result.to_dict()))
        return
    if isinstance(result, StartsResult):
        _print_starts(result, f"backtest of {data.name} → {target} from {starts} starts")
    else:
        title = f"backtest of {data.name} → {target}"
        console.print(_frame_table(title, result.summary().reset_index()))
        console.print(", ".join(f"{k}: {v}" for k, v in result.settings.items()), highlight=False)
    if html is not None:
        console.print(f"report: {html}")


def _print_starts(runs: StartsResult, title: str) -> None:
    console.print(_frame_table(f"{title} ({runs.metric})", runs.summary()))
    verdict = runs.verdict()
    console.print(
        f"policy − periodic: mean {verdict['mean lead']:+.4f} (sd {verdict['lead std']:.4f}, "
        f"worst {verdict['worst lead']:+.4f}); at least as good with fewer retrains on "
        f"{verdict['as good with fewer retrains']} of {verdict['starts']} starts; "
        f"{verdict['retrain share']:.0%} of the periodic retrains and "
        f"{verdict['fit share']:.1f}× its model fits",
        highlight=False,
    )


def _frame_table(title: str, frame: pd.DataFrame) -> RichTable:
    table = RichTable(title=title, box=box.SIMPLE_HEAD)
    for i, column in enumerate(frame.columns):
        table.add_column(str(column), justify="left" if i == 0 else "right")
    # object dtype keeps the retrain counts integers (a mixed row would turn them into floats)
    for _, row in frame.astype(object).iterrows():
        table.add_row(*[fmt(v) for v in row.tolist()])
    return table


def _params(text: str | None) -> dict[str, object] | None:
    """``--params``: the recipe's hyperparameters, a JSON object."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        expected = "a JSON object such as '{\"n_estimators\": 100}'"
        raise ParameterError("params", "loop backtest", expected, text)
    return value


_COLOURS = {
    "promoted": "green",
    "promote": "green",
    "reject": "red",
    "guard": "yellow",
    "rollback": "yellow",
    "retrain": "cyan",
    "pending": "magenta",
}


def _kind(kind: str, details: dict[str, object]) -> str:
    label = f"{kind}:{details.get('action')}" if kind == "decision" else kind
    colour = _COLOURS.get(kind)
    return f"[{colour}]{label}[/]" if colour else label


def _why(details: dict[str, object]) -> str:
    reasons = details.get("reasons")
    if isinstance(reasons, list) and reasons:
        return "; ".join(str(r) for r in reasons)
    keys = ("parent_version", "window", "rows", "from", "reason", "previous_version")
    return ", ".join(f"{k} {details[k]}" for k in keys if details.get(k) is not None)
