"""Settings, read from ``MODELCYCLE_*`` environment variables, and the home folder.

Every piece of state has an embedded default under ``MODELCYCLE_HOME`` so that a new user
runs every command without starting a server.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from modelcycle.exceptions import OptionalDependencyError


class Settings(BaseSettings):
    """modelcycle's settings; each field can be set as ``MODELCYCLE_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="MODELCYCLE_", extra="ignore")

    home: Path = Field(default_factory=lambda: Path.home() / ".modelcycle")
    tracking_uri: str | None = None
    registry_uri: str | None = None
    store_uri: str | None = None
    log_dir: Path | None = None

    # The server (`modelcycle serve` sets these from its flags for its worker processes).
    # Which aliases are served: a comma-separated list in MODELCYCLE_SERVE_ALIASES.
    serve_aliases: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["production"])
    serve_poll_interval: float = 5.0
    serve_require_keys: bool = False
    serve_max_body_bytes: int = 4 * 1024 * 1024
    serve_max_batch_rows: int = 10_000
    serve_request_timeout: float = 30.0
    serve_log_predictions: bool = True
    serve_log_queue: int = 10_000
    serve_log_flush_rows: int = 5_000
    serve_log_flush_interval: float = 5.0

    # The monitor: webhooks that receive alerts, comma-separated in MODELCYCLE_WEBHOOKS.
    # They often hold secrets in their path, so they are never logged whole.
    webhooks: Annotated[list[str], NoDecode] = Field(default_factory=list, repr=False)

    @field_validator("serve_aliases", "webhooks", mode="before")
    @classmethod
    def _split_aliases(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    def resolved_home(self) -> Path:
        home = self.home.expanduser().resolve()
        home.mkdir(parents=True, exist_ok=True)
        return home

    @property
    def effective_tracking_uri(self) -> str:
        """MLflow tracking URI: the setting, or SQLite under the home folder."""
        if self.tracking_uri:
            return self.tracking_uri
        return f"sqlite:///{self.resolved_home() / 'mlflow.db'}"

    @property
    def effective_registry_uri(self) -> str:
        return self.registry_uri or self.effective_tracking_uri

    @property
    def artifact_location(self) -> str:
        """Where new experiments keep artifacts when the tracking store is embedded."""
        return (self.resolved_home() / "artifacts").as_uri()

    @property
    def effective_store_uri(self) -> str:
        if self.store_uri:
            return self.store_uri
        return f"sqlite:///{self.resolved_home() / 'modelcycle.db'}"

    @property
    def effective_log_dir(self) -> Path:
        path = (self.log_dir or self.resolved_home() / "logs").expanduser()
        path.mkdir(parents=True, exist_ok=True)
        return path


def get_settings() -> Settings:
    """Read the settings afresh from the environment (no cached global)."""
    return Settings()


def import_optional(
    module: str, *, feature: str, extra: str, package: str | None = None
) -> ModuleType:
    """Import ``module`` or raise an error naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise OptionalDependencyError(feature, package or module.split(".")[0], extra) from exc
