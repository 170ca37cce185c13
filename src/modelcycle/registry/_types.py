"""Plain-data views of registry objects: no MLflow object leaves ``modelcycle.registry``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class ModelVersionInfo:
    """One version of a registered model.

    Attributes
    ----------
    name
        The registered model's name.
    version
        The version number (1, 2, ...), unique within ``name``.
    aliases
        The aliases pointing at this version (``production``, ``challenger``, ...), sorted.
    created_at
        When the version was registered (UTC).
    description
        Free text given at registration, or ``None``.
    run_id
        The MLflow run (candidate) the version came from, or ``None``.
    model_id
        The MLflow 3 logged model that holds the artifact.
    source
        Where the artifact lives (``models:/<model_id>``).
    checksum
        SHA-256 of the artifact directory recorded at registration; ``None`` for a version
        registered outside modelcycle.
    metrics
        Validation metrics recorded at registration.
    tags
        Every tag of the version, modelcycle's own (``modelcycle.*``) included.
    status
        MLflow's status of the version (``READY`` once registered).
    """

    name: str
    version: int
    aliases: tuple[str, ...]
    created_at: datetime
    description: str | None
    run_id: str | None
    model_id: str | None
    source: str
    checksum: str | None
    metrics: dict[str, float]
    tags: dict[str, str]
    status: str


@dataclass(frozen=True)
class RegisteredModelInfo:
    """A registered model with its versions.

    Attributes
    ----------
    name
        The model's name.
    description
        The model's description, or ``None``.
    created_at, updated_at
        When the model was created and last changed (UTC).
    aliases
        Each alias and the version it points at.
    versions
        Every live version, oldest first.
    tags
        The model's tags.
    """

    name: str
    description: str | None
    created_at: datetime
    updated_at: datetime
    aliases: dict[str, int]
    versions: tuple[ModelVersionInfo, ...]
    tags: dict[str, str]

    @property
    def latest_version(self) -> ModelVersionInfo | None:
        """The newest version, or ``None`` when the model has none."""
        return self.versions[-1] if self.versions else None


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A model version loaded for use: the pipeline and everything registered beside it.

    Attributes
    ----------
    name, version
        Which version this is.
    pipeline
        The fitted scikit-learn pipeline, deserialised with skops trusting only the types
        recorded at registration.
    recipe
        Everything needed to train the model again.
    reference_profile
        The training data's profile, for drift monitoring.
    input_example
        A few rows the model accepts, with the column types it was registered with.
    input_schema
        ``(column, type)`` pairs of the model signature's inputs, with MLflow's type names
        (``long``, ``double``, ``string``, ``boolean``, ``datetime``, ...).
    checksum
        The SHA-256 recorded at registration (verified unless loaded with ``verify=False``).
    aliases
        The aliases pointing at this version when it was loaded.
    metrics
        Validation metrics recorded at registration.
    run_id
        The run the version came from, or ``None``.
    trusted_types
        The non-default types skops was allowed to load.
    """

    name: str
    version: int
    pipeline: Any
    recipe: dict[str, Any]
    reference_profile: dict[str, Any]
    input_example: pd.DataFrame
    input_schema: tuple[tuple[str, str], ...]
    checksum: str | None
    aliases: tuple[str, ...]
    metrics: dict[str, float]
    run_id: str | None
    trusted_types: tuple[str, ...]
