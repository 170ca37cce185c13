"""`modelcycle monitor`: check a deployed model's live traffic once or on a schedule."""

from __future__ import annotations

from pathlib import Path

import typer

from modelcycle.cli._app import app, console, err_console
from modelcycle.cli._render import dumps, fmt
from modelcycle.exceptions import ParameterError
from modelcycle.monitor import DriftStatus, Monitor, WindowResult, monitor_report

# Same meaning as `modelcycle drift --fail-on-drift`: 1 and 2 are bad input and a wrong
# command line, so a Drift verdict a CI job or a cron wrapper can gate on gets its own code.
EXIT_DRIFT = 3
_STYLES = {"Stable": "green", "Warning": "yellow", "Drift": "bold red"}


def _thresholds(items: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items:
        metric, sep, value = item.partition("=")
        try:
            out[metric.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise ParameterError(
                "--threshold", "modelcycle monitor", "METRIC=NUMBER, e.g. accuracy=0.7", item
            )
    return out


@app.command()
def monitor(
    name: str = typer.Argument(..., help="The registered model to watch."),
    alias: str = typer.Option("production", help="The alias whose version is checked."),
    window: str = typer.Option(
        "1h", help="Window: a duration (30m, 1h, 1d) or a count (10000rows)."
    ),
    every: str = typer.Option("5m", help="Time between checks (ignored with --once)."),
    once: bool = typer.Option(False, "--once", help="Check one window and exit."),
    threshold: list[str] = typer.Option(
        [],
        "--threshold",
        help="METRIC=VALUE, repeatable: a floor for accuracy/roc_auc/f1, a ceiling for rmse/mae.",
    ),
    min_rows: int = typer.Option(100, help="Fewer rows than this and no drift test runs."),
    detector: str = typer.Option(
        "adwin", help="Streaming detector on the errors: adwin, page_hinkley, ddm, hddm_a, hddm_w."
    ),
    webhook: list[str] = typer.Option(
        [], "--webhook", help="Post alerts to this URL (repeatable; default MODELCYCLE_WEBHOOKS)."
    ),
    alerts: bool = typer.Option(True, "--alerts/--no-alerts", help="Send and record alerts."),
    multivariate: bool = typer.Option(
        True, "--multivariate/--no-multivariate", help="Run the domain-classifier test."
    ),
    html: Path | None = typer.Option(
        None, "--html", help="Write the monitoring report (history and latest window) here."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print each result as JSON."),
    metrics_port: int | None = typer.Option(
        None, "--metrics-port", help="Serve Prometheus gauges on 127.0.0.1:PORT while running."
    ),
    fail_on_drift: bool = typer.Option(
        False, "--fail-on-drift", help=f"With --once, exit {EXIT_DRIFT} when the status is Drift."
    ),
) -> None:
    """Check the live traffic of NAME's deployed version: drift, performance, alerts.

    Exit codes: 0 checked (whatever the status), 1 bad input (unknown model, bad window),
    2 wrong command line, and 3 with --once --fail-on-drift when the status is Drift.
    """
    watcher = Monitor(
        name,
        alias=alias,
        window=window,
        every=every,
        thresholds=_thresholds(threshold),
        min_rows=min_rows,
        detector=detector,
        webhooks=webhook or None,
        alerts=alerts,
        metrics_port=metrics_port,
        drift_options={"multivariate": multivariate},
    )

    def show(result: WindowResult) -> None:
        if json_out:
            typer.echo(dumps(result.to_dict()))
        else:
            _print(result)
        if html is not None:
            monitor_report(name, html)
        for alert in watcher.alerts_[-2:]:
            failed = [d.webhook for d in alert.deliveries if not d.ok]
            if failed:
                err_console.print(f"[yellow]warning:[/] alert not delivered to {', '.join(failed)}")

    if once:
        result = watcher.run_once()
        show(result)
        if fail_on_drift and result.status is DriftStatus.DRIFT:
            raise typer.Exit(EXIT_DRIFT)
        return
    watcher.run(on_result=show)


def _print(result: WindowResult) -> None:
    style = _STYLES[result.status.value]
    console.print(
        f"{result.window_end:%Y-%m-%d %H:%M:%S} {result.model} v{result.version} "
        f"({result.alias}): [{style}]{result.status.value}[/] · {result.rows:,} rows, "
        f"{result.labeled_rows:,} labeled"
    )
    metrics = [f"{k} {fmt(v, 3)}" for k, v in result.performance.items()]
    metrics += [f"estimated {k} {fmt(v, 3)}" for k, v in result.estimated.items()]
    if metrics:
        console.print("  " + " · ".join(metrics), highlight=False)
    for reason in result.reasons:
        console.print(f"  - {reason}", highlight=False)
