"""`modelcycle deploy` and `modelcycle rollback`: move an alias and record why."""

from __future__ import annotations

import getpass

import typer

from modelcycle.cli._app import app, console
from modelcycle.store import Deployment


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in containers without /etc/passwd entries
        return "cli"


def _report(move: Deployment, json_out: bool) -> None:
    if json_out:
        from modelcycle.cli._render import dumps
        from modelcycle.serve import deployment_record

        typer.echo(dumps(deployment_record(move)))
        return
    was = f" (was version {move.previous_version})" if move.previous_version else ""
    verb = "Rolled back" if move.action == "rollback" else "Deployed"
    console.print(
        f"{verb} {move.model}@{move.alias} to version {move.version}{was}. Running servers "
        "pick it up within their poll interval.",
        highlight=False,
    )


@app.command()
def deploy(
    name: str = typer.Argument(..., help="The registered model."),
    version: str = typer.Option(..., "--version", "-v", help="The version to serve."),
    alias: str = typer.Option("production", help="The alias to point at it."),
    reason: str | None = typer.Option(None, help="Why, for the deployment history."),
    json_out: bool = typer.Option(False, "--json", help="Print the move as JSON."),
) -> None:
    """Point an alias (production by default) at a version; servers follow within seconds."""
    from modelcycle.serve import deploy as deploy_version

    _report(deploy_version(name, version, alias=alias, actor=_actor(), reason=reason), json_out)


@app.command()
def rollback(
    name: str = typer.Argument(..., help="The registered model."),
    alias: str = typer.Option("production", help="The alias to move back."),
    reason: str | None = typer.Option(None, help="Why, for the deployment history."),
    json_out: bool = typer.Option(False, "--json", help="Print the move as JSON."),
) -> None:
    """Point an alias back at the version it served before."""
    from modelcycle.serve import rollback as rollback_alias

    _report(rollback_alias(name, alias=alias, actor=_actor(), reason=reason), json_out)
