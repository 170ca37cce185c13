"""The `modelcycle` command line (Typer + Rich): thin, every command calls the library."""

from modelcycle.cli import (  # noqa: F401  (register the commands)
    _automl,
    _demo,
    _deploy,
    _drift,
    _explain,
    _explore,
    _keys,
    _learn,
    _loop,
    _models,
    _monitor,
    _rank,
    _serve,
)
from modelcycle.cli._app import app, run_main


def main() -> None:
    """Entry point of the `modelcycle` console script."""
    run_main()


__all__ = ["app", "main"]
