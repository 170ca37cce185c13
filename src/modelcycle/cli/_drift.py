"""`modelcycle drift`: compare a current table with a reference table or a model's profile."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import typer
from rich.table import Table as RichTable

from modelcycle.cli._app import app, console, err_console
from modelcycle.cli._render import dumps
from modelcycle.data import load_table
from modelcycle.exceptions import ParameterError
from modelcycle.monitor import DriftReport, DriftStatus, detect_drift, model_reference

# With --fail-on-drift, a Drift verdict exits with this code so a CI job can gate on it
# (1 and 2 already mean bad input and a wrong command line).
EXIT_DRIFT = 3
_STYLES = {"Stable": "green", "Warning": "yellow", "Drift": "bold red"}


@app.command()
def drift(
    tables: list[Path] = typer.Argument(
        ...,
        metavar="[REFERENCE] CURRENT",
        help="The reference table and the current table (CSV or Parquet); only CURRENT with "
        "--model.",
    ),
    model: str | None = typer.Option(
        None,
        "--model",
        help="Use the reference profile registered with NAME, NAME@ALIAS or NAME/VERSION "
        "instead of a reference table.",
    ),
    columns: str | None = typer.Option(None, help="Comma-separated columns to compare."),
    alpha: float = typer.Option(0.05, help="Significance level of Drift, after correction."),
    warning_alpha: float = typer.Option(0.1, help="Level of Warning, after correction."),
    correction: str = typer.Option("bonferroni", help="bonferroni or bh (Benjamini–Hochberg)."),
    min_effect: float | None = typer.Option(
        None, help="Smallest effect that counts as drift (default 0.05 numeric, 0.03 categorical)."
    ),
    test: str | None = typer.Option(
        None, help="Numeric test: ks (default), anderson, cramervonmises, energy, wasserstein."
    ),
    multivariate: bool = typer.Option(
        True, "--multivariate/--no-multivariate", help="Run the domain-classifier test."
    ),
    seed: int = typer.Option(0, help="Seed of permutations and samples."),
    html: Path | None = typer.Option(None, "--html", help="Write an HTML report here."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    fail_on_drift: bool = typer.Option(
        False, "--fail-on-drift", help=f"Exit with code {EXIT_DRIFT} when the verdict is Drift."
    ),
) -> None:
    """Test every column of CURRENT for drift from REFERENCE (or a registered model's profile).

    Exit codes: 0 checked (whatever the verdict), 1 bad input, 2 wrong command line, and 3 for
    a Drift verdict when --fail-on-drift is given.
    """
    expected = 1 if model else 2
    if len(tables) != expected:
        raise ParameterError(
            "tables",
            "modelcycle drift",
            "REFERENCE CURRENT, or only CURRENT with --model",
            " ".join(map(str, tables)),
        )
    reference: Any = model_reference(model) if model else load_table(tables[0])
    current = load_table(tables[-1]).frame
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = detect_drift(
            reference,
            current,
            columns=[c.strip() for c in columns.split(",") if c.strip()] if columns else None,
            alpha=alpha,
            warning_alpha=warning_alpha,
            correction=correction,  # type: ignore[arg-type]
            min_effect=min_effect,
            methods={"numeric": test} if test else None,
            multivariate=multivariate,
            random_state=seed,
        )
    for w in caught:
        err_console.print(f"[yellow]warning:[/] {w.message}", highlight=False, soft_wrap=True)
    if html is not None:
        report.to_html(html)
    if json_out:
        typer.echo(dumps(report.to_dict()))
    else:
        _print(report, html)
    if fail_on_drift and report.status is DriftStatus.DRIFT:
        raise typer.Exit(EXIT_DRIFT)


def _print(report: DriftReport, html: Path | None) -> None:
    table = RichTable(
        title=f"drift: {report.n_reference:,} reference rows vs {report.n_current:,} current rows",
        header_style="bold",
    )
    for header, justify in (
        ("column", "left"),
        ("kind", "left"),
        ("test", "left"),
        ("p (corrected)", "right"),
        ("effect", "right"),
        ("min", "right"),
        ("status", "left"),
        ("note", "left"),
    ):
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for name, row in report.columns.iterrows():
        p = _p(row["p_adjusted"], row["p_adjusted_low"], row["p_adjusted_high"])
        table.add_row(
            str(name),
            row["kind"],
            row["test"],
            p,
            f"{_num(row['effect'])} {row['effect_metric']}",
            _num(row["min_effect"]),
            f"[{_STYLES[row['status']]}]{row['status']}[/]",
            row["note"] or "",
        )
    console.print(table)
    if report.domain is not None:
        d = report.domain
        console.print(
            f"domain classifier: AUC {d.auc:.3f} [{d.ci_low:.3f}, {d.ci_high:.3f}] "
            f"(drift above {d.threshold:g}), p = {_num(d.p_adjusted)} → "
            f"[{_STYLES[d.status.value]}]{d.status.value}[/]"
        )
    for name, reason in report.skipped.items():
        console.print(f"[dim]not compared: {name}: {reason}[/]")
    style = _STYLES[report.status.value]
    drifted = f" ({', '.join(report.drifted)})" if report.drifted else ""
    console.print(f"verdict: [{style}]{report.status.value}[/]{drifted}")
    if html is not None:
        console.print(f"report: {html}")


def _num(value: Any) -> str:
    if value is None or value != value:
        return "–"
    if value == float("inf"):
        return "∞"
    return f"{value:.3g}"


def _p(p: float, low: float, high: float) -> str:
    if p != p:
        return "–"
    return _num(p) if low == high else f"{_num(p)} [{_num(low)}, {_num(high)}]"
