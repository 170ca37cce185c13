"""``python -m modelcycle.serve``: the server without the command line's other commands.

``modelcycle serve`` checks its options and then becomes this (see ``exec_server``), so the
server and its workers import only what serving needs. The checks run again here, so starting
it by hand is just as safe. Options other than these come from ``MODELCYCLE_SERVE_*``.
"""

from __future__ import annotations

import argparse
import sys

from modelcycle.exceptions import ModelcycleError
from modelcycle.serve._run import serve


def main() -> None:
    """Parse the address and worker count, then serve until stopped."""
    parser = argparse.ArgumentParser(prog="python -m modelcycle.serve")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--insecure", action="store_true")
    parser.add_argument("--require-keys", action="store_true")
    args = parser.parse_args()
    try:
        serve(
            args.host,
            args.port,
            workers=args.workers,
            insecure=args.insecure,
            require_keys=args.require_keys,
            log_level=args.log_level,
        )
    except ModelcycleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
