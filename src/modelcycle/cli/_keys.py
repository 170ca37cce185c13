"""`modelcycle keys`: API keys for the server (create prints the key once; only a hash is kept)."""

from __future__ import annotations

import typer
from rich.table import Table as RichTable

from modelcycle.cli._app import app, console, err_console
from modelcycle.exceptions import ModelcycleError
from modelcycle.store import KeyInfo, MetadataStore

keys_app = typer.Typer(help="API keys for `modelcycle serve`.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def _record(info: KeyInfo) -> dict[str, object]:
    return {
        "key_id": info.key_id,
        "role": info.role,
        "name": info.name,
        "created_at": info.created_at.isoformat(),
        "revoked_at": info.revoked_at.isoformat() if info.revoked_at else None,
    }


@keys_app.command("create")
def create(
    role: str = typer.Option("predict", help="predict (call predictions) or admin (also deploy)."),
    name: str | None = typer.Option(None, help="A label for people, e.g. the client's name."),
    json_out: bool = typer.Option(False, "--json", help="Print the key and its id as JSON."),
) -> None:
    """Create an API key and print it; it cannot be shown again."""
    with MetadataStore() as store:
        key = store.create_key(role, name)  # type: ignore[arg-type]
    key_id = key.removeprefix("mc_").partition("_")[0]
    if json_out:
        from modelcycle.cli._render import dumps

        typer.echo(dumps({"key": key, "key_id": key_id, "role": role, "name": name}))
        return
    typer.echo(key)
    err_console.print(
        f"Key {key_id} ({role}) created. Store it now: only its hash is kept. Send it as "
        "'Authorization: Bearer <key>'.",
        highlight=False,
    )


@keys_app.command("list")
def list_keys(
    all_keys: bool = typer.Option(False, "--all", help="Include revoked keys."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """List API keys (ids, roles, names; never the keys)."""
    with MetadataStore() as store:
        keys = store.list_keys(include_revoked=all_keys)
    if json_out:
        from modelcycle.cli._render import dumps

        typer.echo(dumps([_record(k) for k in keys]))
        return
    if not keys:
        console.print("No API keys: `modelcycle keys create --role predict`.")
        return
    table = RichTable(title="API keys", header_style="bold")
    for column in ("key id", "role", "name", "created", "revoked"):
        table.add_column(column)
    for k in keys:
        table.add_row(
            k.key_id,
            k.role,
            k.name or "–",
            k.created_at.strftime("%Y-%m-%d %H:%M"),
            k.revoked_at.strftime("%Y-%m-%d %H:%M") if k.revoked_at else "–",
        )
    console.print(table)


@keys_app.command("revoke")
def revoke(key_id: str = typer.Argument(..., help="The key's id (or the whole key).")) -> None:
    """Revoke an API key; servers refuse it within seconds."""
    with MetadataStore() as store:
        info = store.revoke_key(key_id)
    if info is None:
        raise ModelcycleError(
            f"There is no API key {key_id!r}. See the ids with `modelcycle keys list --all`."
        )
    console.print(f"Revoked key {info.key_id} ({info.role}).", highlight=False)
