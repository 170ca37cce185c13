"""`modelcycle explain`: what a registered model relies on, and why it predicted one row."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table as RichTable

from modelcycle.cli._app import app, console
from modelcycle.cli._render import dumps, fmt
from modelcycle.learn import Explanation, explain
from modelcycle.registry import LoadedModel, Registry

_SHOWN = 15


def load_model(reference: str) -> LoadedModel:
    """``NAME`` (latest version), ``NAME@ALIAS`` or ``NAME:VERSION`` from the registry."""
    if ":" in reference:
        name, _, version = reference.partition(":")
        return Registry().load(name, version=version)
    if "@" in reference:
        name, _, alias = reference.rpartition("@")
        return Registry().load(name, alias=alias)
    return Registry().load(reference)


def _global_table(explanation: Explanation) -> RichTable:
    table = RichTable(
        title=f"{explanation.model}: what it relies on", header_style="bold", title_justify="left"
    )
    table.add_column("feature")
    table.add_column(f"permutation ({explanation.loss} ↑)", justify="right")
    table.add_column("mean |SHAP|", justify="right")
    for record in explanation.global_importance.head(_SHOWN).itertuples():
        table.add_row(
            str(record.feature),
            f"{fmt(record.permutation_importance)} ± {fmt(record.permutation_std, 3)}",
            fmt(record.mean_abs_shap),
        )
    return table


def _local_table(explanation: Explanation) -> RichTable:
    assert explanation.local is not None
    table = RichTable(
        title=f"row {explanation.row}: contributions to the {explanation.output}",
        header_style="bold",
        title_justify="left",
    )
    table.add_column("feature")
    table.add_column("value")
    table.add_column("contribution", justify="right")
    shown = explanation.local.head(_SHOWN)
    for feature, value, contribution in zip(
        shown["feature"], shown["value"], shown["contribution"].astype(float), strict=True
    ):
        style = "green" if contribution > 0 else "red"
        table.add_row(str(feature), str(value), f"[{style}]{contribution:+.4f}[/]")
    return table


@app.command("explain")
def explain_command(
    model: str = typer.Argument(
        ..., help="A registered model: NAME (latest version), NAME@ALIAS or NAME:VERSION."
    ),
    data: Path = typer.Argument(..., help="A CSV or Parquet table with the model's columns."),
    row: int | None = typer.Option(None, "--row", help="Also explain this row's prediction."),
    html: Path | None = typer.Option(None, "--html", help="Write the explanation to this page."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
    seed: int = typer.Option(0, help="Random seed of the samples drawn."),
) -> None:
    """Explain a registered model: feature importance, Shapley values, partial dependence."""
    loaded = load_model(model)
    explanation = explain(loaded, data, row=row, random_state=seed)
    if html is not None:
        explanation.to_html(html)
    if json_out:
        record = explanation.to_dict()
        if html is not None:
            record["report"] = str(html)
        typer.echo(dumps(record))
        return
    console.print(_global_table(explanation))
    if explanation.local is not None:
        console.print(_local_table(explanation))
        console.print(
            f"base value {explanation.base_value:.4f} + contributions "
            f"{explanation.local['contribution'].sum():+.4f} = {explanation.output} "
            f"{explanation.prediction:.4f}"
        )
    console.print(f"Shapley values: {explanation.method}", style="dim")
    if html is not None:
        console.print(f"report: {html}")
