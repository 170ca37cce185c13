"""Settings, read from ``MODELCYCLE_*`` environment variables, and the home folder.

Every piece of state has an embedded default under ``MODELCYCLE_HOME`` so that a new user
runs every command without starting a server.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from modelcycle.exceptions import OptionalDependencyError


class Settings(BaseSettings):
    """modelcycle's settings; each field can be set as ``MODELCYCLE_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="MODELCYCLE_", extra="ignore")

    home: Path = Field(default_factory=lambda: Path.home() / ".modelcycle")
    tracking_uri: str | None = None
    registry_uri: str | None = None
    store_uri: str | None = None
    log_dir: Path | None = None

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
