"""The `modelcycle` command: a thin layer of Typer commands over the library."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from modelcycle.exceptions import ModelcycleError

app = typer.Typer(
    name="modelcycle",
    help="The machine-learning lifecycle as one loop: learn, register, serve, monitor, retrain.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
models_app = typer.Typer(
    help="Registered models, their versions and aliases.", no_args_is_help=True
)
app.add_typer(models_app, name="models")


def _console(stderr: bool = False) -> Console:
    # Piped output (CI logs, files) has no terminal width; 80 columns would crush tables.
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else 150)


console = _console()
err_console = _console(stderr=True)

# Exit codes: 0 success, 1 the operation failed on bad input or state (the message says why),
# 2 the command line itself is wrong (Typer), 70 an internal error (a bug to report).
EXIT_ERROR = 1
EXIT_INTERNAL = 70

_state: dict[str, bool] = {"debug": False}

F = TypeVar("F", bound=Callable[..., Any])


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and debug logs."),
) -> None:
    _state["debug"] = debug
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


def run_main(args: list[str] | None = None) -> None:
    """Run the app; turn errors into one readable line and an exit code.

    Typer's standalone mode already prints usage errors and exits 2; what reaches the handlers
    below comes from the library.
    """
    try:
        app(args=args)
    except ModelcycleError as exc:
        if _state["debug"]:
            raise
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(EXIT_ERROR)
    except Exception as exc:
        if _state["debug"]:
            raise
        err_console.print(
            f"[bold red]internal error:[/] {type(exc).__name__}: {exc} "
            "(run again with --debug for the traceback, and report it)",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(EXIT_INTERNAL)
