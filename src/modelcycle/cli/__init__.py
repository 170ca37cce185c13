"""The `modelcycle` command line (Typer + Rich): thin, every command calls the library."""

from modelcycle.cli import _demo, _learn, _models  # noqa: F401  (register the commands)
from modelcycle.cli._app import app, run_main


def main() -> None:
    """Entry point of the `modelcycle` console script."""
    run_main()


__all__ = ["app", "main"]
