"""Starting the server: the security checks, then uvicorn with one or several workers.

Workers are separate processes (uvicorn's supervisor spawns them), each with its own model pool,
poller and log writer. They learn their options from the environment: :func:`serve` writes the
``MODELCYCLE_SERVE_*`` variables before starting them, so a worker reads exactly what a user
could have set by hand.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import FrameType
from typing import NoReturn

from modelcycle.config import get_settings, import_optional
from modelcycle.exceptions import ConfigError
from modelcycle.serve._options import MULTIPROC_ENV, ServeOptions
from modelcycle.store import MetadataStore, redact_uri

APP = "modelcycle.serve._app:app_factory"
# Math libraries read these when first loaded, i.e. in each worker before any import of NumPy.
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class ServePlan:
    """What :func:`serve` is about to start, for the start-up line.

    Attributes
    ----------
    url
        Where the server listens.
    keys_required
        Whether requests need API keys.
    """

    url: str
    workers: int
    keys_required: bool
    options: ServeOptions
    tracking_uri: str

    def describe(self) -> str:
        """One line for the terminal."""
        auth = "API keys required" if self.keys_required else "no API keys"
        return (
            f"modelcycle serving {', '.join('@' + a for a in self.options.aliases)} on "
            f"{self.url} ({self.workers} worker{'s' * (self.workers > 1)}, {auth}, registry "
            f"{redact_uri(self.tracking_uri)}, docs at {self.url}/docs)"
        )


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only.

    Examples
    --------
    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def plan(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    workers: int = 1,
    insecure: bool = False,
    require_keys: bool = False,
    settings: Mapping[str, object] | None = None,
) -> ServePlan:
    """Check the options and the machine, and set the environment the workers will read.

    Parameters
    ----------
    host, port
        Where to listen.
    workers
        How many worker processes.
    insecure
        Serve on a non-loopback address without API keys.
    require_keys
        Require API keys even on loopback.
    settings
        ``serve_*`` settings to pass to the workers, by field name without the prefix
        (``{"poll_interval": 0.5, "aliases": ["production", "challenger"]}``).

    Raises
    ------
    ConfigError
        If an option is out of range, the address cannot be listened on, or keys are needed and
        the metadata store has none.
    """
    if not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"--workers must be a positive number of processes. Got {workers!r}.")
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigError(f"--port must be a TCP port between 1 and 65535. Got {port!r}.")
    if insecure and require_keys:
        raise ConfigError("--insecure and --require-keys contradict each other: pass one of them.")
    for name, value in (settings or {}).items():
        text = ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
        os.environ[f"MODELCYCLE_SERVE_{name.upper()}"] = text
    loopback = is_loopback(host)
    keys_required = require_keys or not (loopback or insecure)
    os.environ["MODELCYCLE_SERVE_REQUIRE_KEYS"] = "true" if keys_required else "false"
    current = get_settings()
    options = ServeOptions.from_settings(current)
    if keys_required:
        _check_keys(host, loopback)
    _check_address(host, port)
    for variable in _THREAD_VARIABLES:
        os.environ.setdefault(variable, "1")
    shown = f"[{host}]" if ":" in host else host
    return ServePlan(
        url=f"http://{shown}:{port}",
        workers=workers,
        keys_required=keys_required,
        options=options,
        tracking_uri=current.effective_tracking_uri,
    )


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    workers: int = 1,
    insecure: bool = False,
    require_keys: bool = False,
    settings: Mapping[str, object] | None = None,
    log_level: str = "warning",
    on_start: Callable[[ServePlan], None] | None = None,
) -> None:
    """Serve every model with a served alias until interrupted (SIGINT or SIGTERM).

    A stop is graceful: requests in flight finish, then each worker writes what it logged and
    exits. See :func:`plan` for the parameters; ``on_start`` gets the plan just before the
    server starts (the CLI prints it).

    Notes
    -----
    This sets environment variables of the current process (the ``MODELCYCLE_SERVE_*`` options,
    one math thread per worker), since that is how the worker processes learn them. Workers are
    spawned, so a script calling this with ``workers > 1`` needs the usual
    ``if __name__ == "__main__":`` guard.
    """
    started = plan(
        host,
        port,
        workers=workers,
        insecure=insecure,
        require_keys=require_keys,
        settings=settings,
    )
    if on_start is not None:
        on_start(started)
    run(host, port, workers=workers, log_level=log_level)


def exec_server(
    host: str,
    port: int,
    *,
    workers: int = 1,
    insecure: bool = False,
    require_keys: bool = False,
    log_level: str = "warning",
) -> NoReturn:
    """Replace this process by ``python -m modelcycle.serve`` (after :func:`plan`).

    The command line does this so that the server and its spawned workers start from a fresh
    interpreter that imports the serving code only, not every command's libraries; the process
    id stays the same, so signals reach the server.
    """
    args = ["--host", host, "--port", str(port), "--workers", str(workers)]
    args += ["--log-level", log_level]
    args += ["--insecure"] * insecure + ["--require-keys"] * require_keys
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "modelcycle.serve", *args])


def run(host: str, port: int, *, workers: int = 1, log_level: str = "warning") -> None:
    """Run uvicorn with the options already in the environment (see :func:`plan`)."""
    uvicorn = import_optional("uvicorn", feature="modelcycle serve", extra="serve")
    import_optional("fastapi", feature="modelcycle serve", extra="serve")
    options = ServeOptions.from_settings(get_settings())
    metrics_dir = None
    if workers > 1:
        metrics_dir = tempfile.mkdtemp(prefix="modelcycle-metrics-")
        os.environ[MULTIPROC_ENV] = metrics_dir
    # Uvicorn stops gracefully on SIGINT/SIGTERM, restores the handlers it found, and then
    # raises the signal again; these handlers turn that into a normal return (exit status 0, and
    # the clean-up below runs) instead of death by signal.
    previous = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        uvicorn.run(
            APP,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            access_log=False,
            server_header=False,
            # A request stuck past its own timeout must not hold a stop forever.
            timeout_graceful_shutdown=int(options.request_timeout) + 5,
        )
    except _Stopped:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


class _Stopped(Exception):
    """A stop signal, after uvicorn has already shut down gracefully."""


def _stopped(sig: int, frame: FrameType | None) -> None:
    raise _Stopped


def _check_keys(host: str, loopback: bool) -> None:
    store = MetadataStore()
    try:
        active = store.list_keys(include_revoked=False)
    finally:
        store.close()
    if not active:
        where = "with --require-keys" if loopback else f"on {host}, which is not loopback,"
        raise ConfigError(
            f"Serving {where} requires API keys, and the metadata store has none. Create one "
            "with `modelcycle keys create --role predict`"
            + ("" if loopback else ", or pass --insecure to serve without keys")
            + "."
        )


def _check_address(host: str, port: int) -> None:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except OSError as exc:
        raise ConfigError(f"Cannot resolve --host {host!r}: {exc}. Pass an IP address.") from exc
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise ConfigError(
                f"Cannot listen on {host}:{port}: {exc.strerror or exc}. Pick another --port, "
                "or stop whatever is using it."
            ) from exc
