"""`modelcycle serve`: check the options, say where it serves, then become the server."""

from __future__ import annotations

import typer

from modelcycle.cli._app import app, err_console


@app.command()
def serve(
    host: str = typer.Option(
        "127.0.0.1", help="Address to listen on; any non-loopback address requires API keys."
    ),
    port: int = typer.Option(8000, help="TCP port."),
    workers: int = typer.Option(
        1, min=1, help="Worker processes, each with its own copy of every served model."
    ),
    alias: list[str] | None = typer.Option(
        None, "--alias", help="Alias to serve (repeat for several). Default: production."
    ),
    poll_interval: float | None = typer.Option(
        None, help="Seconds between polls of the registry for moved aliases (default 5)."
    ),
    insecure: bool = typer.Option(
        False, "--insecure", help="Serve on a non-loopback address without API keys."
    ),
    require_keys: bool = typer.Option(
        False, "--require-keys", help="Require API keys even on 127.0.0.1."
    ),
    max_body_bytes: int | None = typer.Option(None, help="Largest request body (default 4 MiB)."),
    max_batch_rows: int | None = typer.Option(None, help="Most rows per request (default 10000)."),
    request_timeout: float | None = typer.Option(
        None, help="Seconds a request may take (default 30)."
    ),
    no_log: bool = typer.Option(False, "--no-log", help="Do not write the prediction log."),
    log_level: str = typer.Option("warning", help="Uvicorn's log level."),
) -> None:
    """Serve every model with a production alias over HTTP, following the registry."""
    from modelcycle.serve import plan
    from modelcycle.serve._run import exec_server

    chosen = {
        "aliases": alias or None,
        "poll_interval": poll_interval,
        "max_body_bytes": max_body_bytes,
        "max_batch_rows": max_batch_rows,
        "request_timeout": request_timeout,
        "log_predictions": False if no_log else None,
    }
    started = plan(
        host,
        port,
        workers=workers,
        insecure=insecure,
        require_keys=require_keys,
        settings={k: v for k, v in chosen.items() if v is not None},
    )
    err_console.print(started.describe(), highlight=False, soft_wrap=True)
    exec_server(
        host,
        port,
        workers=workers,
        insecure=insecure,
        require_keys=require_keys,
        log_level=log_level,
    )
