"""`modelcycle models`: list registered models and show one's versions and aliases."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table as RichTable

from modelcycle.cli._app import console, models_app
from modelcycle.cli._render import dumps, fmt
from modelcycle.registry import ModelVersionInfo, RegisteredModelInfo, Registry


def _version_record(v: ModelVersionInfo) -> dict[str, Any]:
    return {
        "version": v.version,
        "aliases": list(v.aliases),
        "created_at": v.created_at.isoformat(),
        "run_id": v.run_id,
        "checksum": v.checksum,
        "metrics": v.metrics,
        "description": v.description,
    }


def _model_record(m: RegisteredModelInfo) -> dict[str, Any]:
    return {
        "name": m.name,
        "description": m.description,
        "aliases": m.aliases,
        "versions": [_version_record(v) for v in m.versions],
        "updated_at": m.updated_at.isoformat(),
    }


@models_app.command("list")
def list_models(
    json_out: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """List registered models with their latest version and aliases."""
    models = Registry().list_models()
    if json_out:
        typer.echo(dumps([_model_record(m) for m in models]))
        return
    if not models:
        console.print(
            "No registered models yet: `modelcycle learn DATA --target T --register NAME`."
        )
        return
    table = RichTable(title="registered models", header_style="bold")
    for col in ("model", "versions", "latest", "aliases", "updated"):
        table.add_column(col)
    for m in models:
        latest = m.latest_version
        aliases = ", ".join(f"@{a} → v{v}" for a, v in sorted(m.aliases.items()))
        table.add_row(
            m.name,
            str(len(m.versions)),
            f"v{latest.version}" if latest else "–",
            aliases or "–",
            m.updated_at.strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)


@models_app.command("show")
def show_model(
    name: str = typer.Argument(..., help="The registered model's name."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Show a model's versions, aliases, metrics and checksums."""
    registry = Registry()
    versions = registry.search_versions(name)
    if json_out:
        typer.echo(dumps([_version_record(v) for v in versions]))
        return
    metric_names = sorted({k for v in versions for k in v.metrics if not k.endswith("_std")})
    table = RichTable(title=f"model {name}", header_style="bold")
    table.add_column("version", justify="right")
    table.add_column("aliases")
    for m in metric_names:
        table.add_column(m, justify="right")
    table.add_column("registered")
    table.add_column("checksum")
    for v in versions:
        table.add_row(
            str(v.version),
            ", ".join(f"@{a}" for a in v.aliases) or "–",
            *[fmt(v.metrics.get(m)) for m in metric_names],
            v.created_at.strftime("%Y-%m-%d %H:%M"),
            (v.checksum or "–")[:12],
        )
    console.print(table)
