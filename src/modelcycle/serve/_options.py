"""The server's options, read from the settings (``MODELCYCLE_SERVE_*``) and checked once."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from modelcycle.config import Settings
from modelcycle.exceptions import ConfigError

_ALIAS = re.compile(r"^[\w\-]+$")
#: Set by `modelcycle serve --workers N` so every worker reports into one set of metrics.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


@dataclass(frozen=True)
class ServeOptions:
    """What one server worker needs to know beyond where the registry and store are.

    Each field mirrors a ``serve_*`` setting (``MODELCYCLE_SERVE_<FIELD>``); see ``docs/serve.md``.
    """

    aliases: tuple[str, ...] = ("production",)
    poll_interval: float = 5.0
    require_keys: bool = False
    max_body_bytes: int = 4 * 1024 * 1024
    max_batch_rows: int = 10_000
    request_timeout: float = 30.0
    log_predictions: bool = True
    log_queue: int = 10_000
    log_flush_rows: int = 5_000
    log_flush_interval: float = 5.0

    @classmethod
    def from_settings(cls, settings: Settings) -> ServeOptions:
        """Read and check the ``serve_*`` settings.

        Raises
        ------
        ConfigError
            If a value is out of range; the message names the environment variable.
        """
        # Each field is the setting of the same name with the ``serve_`` prefix.
        values = {f.name: getattr(settings, f"serve_{f.name}") for f in fields(cls)}
        values["aliases"] = tuple(values["aliases"])
        options = cls(**values)
        options.check()
        return options

    def check(self) -> None:
        """Raise :class:`ConfigError` naming the first setting out of range."""
        if not self.aliases or not all(_ALIAS.match(a) for a in self.aliases):
            _bad("aliases", "a comma-separated list of alias names", ",".join(self.aliases))
        positive = {
            "poll_interval": self.poll_interval,
            "max_body_bytes": self.max_body_bytes,
            "max_batch_rows": self.max_batch_rows,
            "request_timeout": self.request_timeout,
            "log_queue": self.log_queue,
            "log_flush_rows": self.log_flush_rows,
            "log_flush_interval": self.log_flush_interval,
        }
        for name, value in positive.items():
            if not value > 0:
                _bad(name, "a positive number", value)


def _bad(name: str, expected: str, got: object) -> None:
    raise ConfigError(
        f"MODELCYCLE_SERVE_{name.upper()} must be {expected}. Got {got!r} instead; fix the "
        "environment variable (or the matching `modelcycle serve` option)."
    )
