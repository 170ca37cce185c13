"""The :class:`Registry`: experiments, runs, model versions and aliases in an MLflow store.

This is the only module of modelcycle that talks to MLflow. It takes and returns plain data (a
fitted scikit-learn pipeline, dicts, DataFrames) so the rest of the house does not change if the
registry does. Every MLflow call goes through an ``MlflowClient`` bound to this registry's URIs;
MLflow's global tracking URI is only touched, and restored, where MLflow itself reads it.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import logging
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from modelcycle.config import get_settings
from modelcycle.exceptions import (
    ArtifactIntegrityError,
    ModelcycleError,
    ModelNotFoundError,
    ParameterError,
    RegistryError,
)
from modelcycle.registry import _encode
from modelcycle.registry._checksum import directory_checksum
from modelcycle.registry._skops import load_pipeline, pip_requirements, untrusted_types
from modelcycle.registry._types import LoadedModel, ModelVersionInfo, RegisteredModelInfo
from modelcycle.registry._uri import is_database_uri, redact, scoped_tracking_uri

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion, RegisteredModel
    from mlflow.models import ModelSignature
    from mlflow.tracking import MlflowClient

logger = logging.getLogger(__name__)

CHECKSUM_TAG = "modelcycle.checksum"
TRUSTED_TYPES_TAG = "modelcycle.trusted_types"
METRICS_TAG = "modelcycle.metrics"
RECIPE_FILE = "recipe.json"
PROFILE_FILE = "reference_profile.json"
# Model versions registered without a run get their logged model in this experiment.
MODELS_EXPERIMENT = "modelcycle-models"
# An input example documents the input; a handful of rows does that, more only bloats MLmodel.
MAX_EXAMPLE_ROWS = 10

_NOT_FOUND = ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND")
_ALREADY_EXISTS = ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS")
_ALIAS = re.compile(r"^[\w\-]+$")
_RESERVED_ALIAS = re.compile(r"^(latest|[vV]\d+)$", re.IGNORECASE)
_LISTED = 20


class Registry:
    """Experiments, runs, model versions and aliases in an MLflow tracking store and registry.

    Parameters
    ----------
    tracking_uri
        Any MLflow tracking URI (``sqlite:///…``, ``postgresql+psycopg://…``, ``http://…``).
        ``None`` reads ``MODELCYCLE_TRACKING_URI``, else SQLite at ``MODELCYCLE_HOME/mlflow.db``.
    registry_uri
        The model registry's URI; ``None`` means the tracking URI (or
        ``MODELCYCLE_REGISTRY_URI`` when the tracking URI also comes from the settings).
    artifact_location
        Root URI under which new experiments keep their artifacts. ``None`` means
        ``MODELCYCLE_HOME/artifacts`` for database stores (whose MLflow default is ``./mlruns`` in
        the current folder) and the server's choice for HTTP tracking servers. Set it to shared
        storage when several machines use one database.

    Notes
    -----
    The constructor only stores its arguments; the MLflow client is created on first use, so a
    registry costs nothing until it is used and the settings are read at that moment.

    Examples
    --------
    >>> registry = Registry()                               # doctest: +SKIP
    >>> info = registry.register(
    ...     "income", pipeline, run_id=None, recipe=recipe,
    ...     input_example=X.head(), reference_profile=profile,
    ... )  # doctest: +SKIP
    >>> registry.set_alias("income", "production", info.version)  # doctest: +SKIP
    >>> model = registry.load("income", alias="production")       # doctest: +SKIP
    >>> model.pipeline.predict(X.head())                          # doctest: +SKIP
    """

    def __init__(
        self,
        tracking_uri: str | None = None,
        registry_uri: str | None = None,
        *,
        artifact_location: str | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.registry_uri = registry_uri
        self.artifact_location = artifact_location

    def __repr__(self) -> str:
        args = [
            f"{key}={redact(value)!r}"
            for key, value in (
                ("tracking_uri", self.tracking_uri),
                ("registry_uri", self.registry_uri),
                ("artifact_location", self.artifact_location),
            )
            if value is not None
        ]
        return f"Registry({', '.join(args)})"

    # -- experiments and runs ------------------------------------------------------------------

    def session(self, name: str, tags: Mapping[str, Any] | None = None) -> str:
        """Get or create the experiment of a Learner (or AutoML) session.

        Parameters
        ----------
        name
            The experiment's name; an existing experiment of that name is reused (restored if
            it was deleted) and its tags updated.
        tags
            Experiment tags; values are turned into strings.

        Returns
        -------
        str
            The experiment id.
        """
        _check_name(name, "name", "Registry.session")
        client = self._client()
        string_tags = _encode.stringify_tags(tags)
        with self._translate(f"open the experiment {name!r}"):
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                try:
                    return str(
                        client.create_experiment(
                            name,
                            artifact_location=self._experiment_artifacts(name),
                            tags=string_tags,
                        )
                    )
                except Exception as exc:
                    # Another process may have created it between the lookup and the create.
                    experiment = client.get_experiment_by_name(name)
                    if experiment is None or not _has_code(exc, _ALREADY_EXISTS):
                        raise
            if experiment.lifecycle_stage == "deleted":
                client.restore_experiment(experiment.experiment_id)
            for key, value in string_tags.items():
                client.set_experiment_tag(experiment.experiment_id, key, value)
            return str(experiment.experiment_id)

    def log_run(
        self,
        experiment_id: str,
        run_name: str,
        *,
        params: Mapping[str, Any],
        metrics: Mapping[str, float],
        recipe: Mapping[str, Any],
        tags: Mapping[str, Any] | None = None,
        artifacts: Mapping[str, str | bytes] | None = None,
        parent_run_id: str | None = None,
    ) -> str:
        """Log one candidate as a finished run.

        Parameters
        ----------
        experiment_id
            The session's experiment (from :meth:`session`).
        run_name
            A readable name (the model family, for a Learner candidate).
        params
            Hyperparameters; nested dicts become dotted keys and values strings, truncated to
            MLflow's 6,000 characters.
        metrics
            Validation metrics; NaN is kept.
        recipe
            Everything needed to train the candidate again, stored as ``recipe.json``.
        tags
            Run tags (values become strings).
        artifacts
            Extra files by plain file name, e.g. ``{"assessment.html": html}``; text is written
            as UTF-8.
        parent_run_id
            Makes this a child run (AutoML trials under their study), via ``mlflow.parentRunId``.

        Returns
        -------
        str
            The run id.

        Raises
        ------
        RegistryError
            If the run cannot be logged; a half-logged run is deleted first.
        """
        owner = "Registry.log_run"
        flat_params = _encode.flatten_params(params)
        clean_metrics = _encode.clean_metrics(metrics, owner)
        recipe_json = _encode.to_json(dict(recipe), parameter="recipe", owner=owner)
        files = {RECIPE_FILE: recipe_json.encode()}
        for file_name, content in (artifacts or {}).items():
            _check_file_name(file_name, owner)
            if file_name == RECIPE_FILE:
                raise ParameterError(
                    "artifacts",
                    owner,
                    f"free of {RECIPE_FILE!r} (the recipe is written there)",
                    file_name,
                )
            files[file_name] = content.encode() if isinstance(content, str) else bytes(content)
        run_tags = _encode.stringify_tags(tags)
        client = self._client()
        if parent_run_id is not None:
            self._get_run(parent_run_id, "parent_run_id")
            run_tags["mlflow.parentRunId"] = parent_run_id

        with self._translate(f"start a run in experiment {experiment_id}"):
            run_id: str = client.create_run(
                str(experiment_id), run_name=run_name, tags=run_tags
            ).info.run_id
        try:
            self._log_run_data(client, run_id, flat_params, clean_metrics, files)
        except Exception as exc:
            with contextlib.suppress(Exception):
                client.set_terminated(run_id, "FAILED")
                client.delete_run(run_id)
            raise RegistryError(
                f"Could not log the run {run_name!r}: {_describe(exc)}. The partial run was "
                f"deleted. Check that the tracking store ({redact(self._tracking())}) and its "
                "artifact location are reachable and writable, then log again."
            ) from exc
        return run_id

    def _log_run_data(
        self,
        client: MlflowClient,
        run_id: str,
        params: dict[str, str],
        metrics: dict[str, float],
        files: dict[str, bytes],
    ) -> None:
        from mlflow.entities import Metric, Param

        now = int(time.time() * 1000)
        items = list(params.items())
        for start in range(0, len(items), _encode.PARAMS_PER_BATCH):
            chunk = items[start : start + _encode.PARAMS_PER_BATCH]
            client.log_batch(run_id, params=[Param(k, v) for k, v in chunk])
        values = list(metrics.items())
        for start in range(0, len(values), _encode.METRICS_PER_BATCH):
            chunk_m = values[start : start + _encode.METRICS_PER_BATCH]
            client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in chunk_m])
        with tempfile.TemporaryDirectory(prefix="modelcycle-run-") as tmp:
            for file_name, content in files.items():
                (Path(tmp) / file_name).write_bytes(content)
            client.log_artifacts(run_id, tmp)
        client.set_terminated(run_id, "FINISHED")

    # -- registering -----------------------------------------------------------------------------

    def register(
        self,
        name: str,
        pipeline: Any,
        *,
        run_id: str | None,
        recipe: Mapping[str, Any],
        input_example: pd.DataFrame,
        reference_profile: Mapping[str, Any],
        metrics: Mapping[str, float] | None = None,
        description: str | None = None,
    ) -> ModelVersionInfo:
        """Register a fitted pipeline as a new version of model ``name``.

        The pipeline is saved in MLflow's model format with skops, trusting exactly the
        non-default types it contains (derived from the pipeline, recorded on the version).
        Beside it go the signature (inferred from the input example and the pipeline's
        predictions), the input example (its first 10 rows), ``recipe.json`` and
        ``reference_profile.json``. A SHA-256 of the whole directory is recorded as the version
        tag ``modelcycle.checksum`` and checked by :meth:`load`.

        Parameters
        ----------
        name
            The registered model (created if missing). No ``/`` or ``:``.
        pipeline
            A fitted scikit-learn estimator or pipeline.
        run_id
            The run (candidate) the pipeline came from, or ``None``.
        recipe
            Everything needed to train the model again (JSON-serialisable).
        input_example
            Rows of the feature columns the pipeline takes.
        reference_profile
            The training data's profile (:func:`modelcycle.data.profile_table`). Columns with
            missing values in it are marked optional in the signature.
        metrics
            Validation metrics; ``None`` copies the run's metrics when ``run_id`` is given.
        description
            Free text for the version.

        Returns
        -------
        ModelVersionInfo

        Raises
        ------
        ParameterError
            If an argument is unusable (nothing is written).
        RegistryError
            If a step fails. Whatever was written before (logged model, artifacts, version, a
            registered model created for this call) is removed first.
        """
        owner = "Registry.register"
        _check_name(name, "name", owner)
        if not isinstance(input_example, pd.DataFrame) or input_example.empty:
            raise ParameterError(
                "input_example", owner, "a DataFrame with at least one row", type(input_example)
            )
        example = input_example.head(MAX_EXAMPLE_ROWS)
        predictions = _predict(pipeline, example, name)
        recipe_json = _encode.to_json(dict(recipe), parameter="recipe", owner=owner)
        profile_json = _encode.to_json(
            dict(reference_profile), parameter="reference_profile", owner=owner
        )
        trusted = untrusted_types(pipeline)
        signature = _signature(example, predictions, reference_profile)
        metadata = _metadata(pipeline, example)
        client = self._client()

        if run_id is not None:
            run = self._get_run(run_id, "run_id")
            experiment_id = str(run.info.experiment_id)
            if metrics is None:
                metrics = dict(run.data.metrics)
        else:
            experiment_id = self.session(MODELS_EXPERIMENT, tags={"modelcycle.kind": "registry"})
        version_metrics = _encode.clean_metrics(metrics or {}, owner)

        step = "creating the logged model"
        logged_model = None
        model_created = False
        try:
            logged_model = client.create_logged_model(
                experiment_id,
                name=name,
                source_run_id=run_id,
                tags={"modelcycle.registered_model": name},
            )
            model_id: str = logged_model.model_id
            with tempfile.TemporaryDirectory(prefix="modelcycle-register-") as tmp:
                model_dir = Path(tmp) / "model"
                step = "saving the model with skops"
                _save_model(
                    pipeline,
                    model_dir,
                    logged_model=logged_model,
                    run_id=run_id,
                    trusted=trusted,
                    signature=signature,
                    example=example,
                    metadata=metadata,
                )
                (model_dir / RECIPE_FILE).write_text(recipe_json, encoding="utf-8")
                (model_dir / PROFILE_FILE).write_text(profile_json, encoding="utf-8")
                checksum = directory_checksum(model_dir)
                step = "uploading the model's artifacts"
                client.log_model_artifacts(model_id, str(model_dir))
            client.finalize_logged_model(model_id, "READY")

            step = "creating the registered model"
            model_created = self._ensure_registered_model(client, name)
            step = "creating the model version"
            tags = {
                CHECKSUM_TAG: checksum,
                TRUSTED_TYPES_TAG: json.dumps(trusted),
                METRICS_TAG: json.dumps(version_metrics),
            }
            # The SQL registry store resolves ``models:/<model_id>`` through a default client,
            # i.e. through MLflow's global tracking URI: point it at this registry's store.
            with scoped_tracking_uri(self._tracking()):
                version = client.create_model_version(
                    name,
                    f"models:/{model_id}",
                    run_id=run_id,
                    tags=tags,
                    description=description,
                    model_id=model_id,
                )
        except Exception as exc:
            leftovers = self._roll_back(client, name, logged_model, model_created)
            cause = exc if isinstance(exc, ModelcycleError) else _describe(exc)
            raise RegistryError(
                f"Registering a version of {name!r} failed while {step}: {cause}. "
                + (
                    f"Could not remove {', '.join(leftovers)}; delete them by hand. "
                    if leftovers
                    else "Nothing was registered (what had been written was removed). "
                )
                + f"Fix the cause and register again (tracking store: {redact(self._tracking())})."
            ) from exc
        self._decorate(client, model_id, run_id, name, str(version.version))
        return _version_info(client.get_model_version(name, str(version.version)))

    def _ensure_registered_model(self, client: MlflowClient, name: str) -> bool:
        """Create the registered model if missing; whether this call created it."""
        try:
            client.create_registered_model(name)
        except Exception as exc:
            if _has_code(exc, _ALREADY_EXISTS):
                return False
            raise
        return True

    def _roll_back(
        self, client: MlflowClient, name: str, logged_model: Any, model_created: bool
    ) -> list[str]:
        """Remove what a failed registration wrote; returns what could not be removed."""
        leftovers: list[str] = []
        if logged_model is not None:
            source = f"models:/{logged_model.model_id}"
            try:
                for version in self._search(client, name):
                    if version.source == source:
                        client.delete_model_version(name, version.version)
            except Exception as exc:
                if not _has_code(exc, _NOT_FOUND):
                    leftovers.append(f"the version of {name!r} from {source}")
        if model_created:
            try:
                if not self._search(client, name):
                    client.delete_registered_model(name)
            except Exception:
                leftovers.append(f"the registered model {name!r}")
        if logged_model is not None:
            try:
                client.delete_logged_model(logged_model.model_id)
            except Exception:
                leftovers.append(f"the logged model {logged_model.model_id}")
            try:
                from mlflow.store.artifact.artifact_repository_registry import (
                    get_artifact_repository,
                )

                location = logged_model.artifact_location
                get_artifact_repository(location).delete_artifacts()
                if location.startswith("file:"):
                    # Local stores keep the emptied models/<model_id>/ folder: remove it too.
                    from mlflow.utils.file_utils import local_file_uri_to_path

                    with contextlib.suppress(OSError):
                        Path(local_file_uri_to_path(location)).parent.rmdir()
            except Exception:
                leftovers.append(f"the artifacts at {logged_model.artifact_location}")
        return leftovers

    def _decorate(
        self, client: MlflowClient, model_id: str, run_id: str | None, name: str, version: str
    ) -> None:
        """Links MLflow's UI shows (run → model, model → version); optional, so never fatal."""
        try:
            from mlflow.entities import LoggedModelOutput

            client.set_logged_model_tags(
                model_id,
                {"mlflow.modelVersions": json.dumps([{"name": name, "version": version}])},
            )
            if run_id is not None:
                client.log_outputs(run_id, [LoggedModelOutput(model_id, step=0)])
        except Exception as exc:
            logger.warning("Could not link %s version %s in MLflow's UI: %s", name, version, exc)

    # -- aliases and lookups ---------------------------------------------------------------------

    def set_alias(self, name: str, alias: str, version: str | int) -> ModelVersionInfo:
        """Point ``alias`` of model ``name`` at ``version`` (moving it if it points elsewhere).

        Returns
        -------
        ModelVersionInfo
            The version, with its aliases after the change.

        Raises
        ------
        ParameterError
            If ``alias`` is not a valid alias name (letters, digits, ``_`` and ``-``; not
            ``latest`` nor ``v<number>``, which MLflow reserves).
        ModelNotFoundError
            If the model or the version does not exist.
        """
        _check_alias(alias, "Registry.set_alias")
        client = self._client()
        with self._translate(f"set the alias {alias!r} of {name!r}"):
            target, _ = self._resolve(client, name, version, None)
            client.set_registered_model_alias(name, alias, target.version)
            return _version_info(client.get_model_version(name, target.version))

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove ``alias`` from model ``name``.

        Raises
        ------
        ModelNotFoundError
            If the model does not exist or has no such alias.
        """
        client = self._client()
        with self._translate(f"delete the alias {alias!r} of {name!r}"):
            model = self._registered_model(client, name)
            aliases = dict(model.aliases or {})
            if alias not in aliases:
                raise ModelNotFoundError(_no_alias_message(name, alias, aliases), model=name)
            client.delete_registered_model_alias(name, alias)

    def get_version(
        self, name: str, version: str | int | None = None, alias: str | None = None
    ) -> ModelVersionInfo:
        """One version of ``name``: by number, by alias, or the latest when neither is given.

        Raises
        ------
        ModelNotFoundError
            If the model, version or alias does not exist; the message lists what does.
        """
        client = self._client()
        with self._translate(f"look up {name!r}"):
            return _version_info(*self._resolve(client, name, version, alias))

    def search_versions(self, name: str) -> list[ModelVersionInfo]:
        """Every live version of ``name``, oldest first.

        Raises
        ------
        ModelNotFoundError
            If there is no model ``name``.
        """
        client = self._client()
        with self._translate(f"list the versions of {name!r}"):
            aliases = dict(self._registered_model(client, name).aliases or {})
            return [_version_info(v, aliases) for v in self._search(client, name)]

    def list_models(self) -> list[RegisteredModelInfo]:
        """Every registered model with its versions and aliases, sorted by name."""
        client = self._client()
        with self._translate("list the registered models"):
            models = _pages(lambda token: client.search_registered_models(page_token=token))
            by_name: dict[str, list[ModelVersion]] = {}
            for version in _pages(lambda token: client.search_model_versions(page_token=token)):
                by_name.setdefault(version.name, []).append(version)
        out = []
        for model in sorted(models, key=lambda m: m.name):
            aliases = dict(model.aliases or {})
            versions = sorted(
                (_version_info(v, aliases) for v in by_name.get(model.name, [])),
                key=lambda v: v.version,
            )
            out.append(
                RegisteredModelInfo(
                    name=model.name,
                    description=model.description or None,
                    created_at=_timestamp(model.creation_timestamp),
                    updated_at=_timestamp(model.last_updated_timestamp),
                    aliases={k: int(v) for k, v in (model.aliases or {}).items()},
                    versions=tuple(versions),
                    tags=dict(model.tags or {}),
                )
            )
        return out

    # -- loading ---------------------------------------------------------------------------------

    def load(
        self,
        name: str,
        version: str | int | None = None,
        alias: str | None = None,
        *,
        verify: bool = True,
    ) -> LoadedModel:
        """Load a model version: the pipeline and everything registered beside it.

        Parameters
        ----------
        name
            The registered model.
        version, alias
            Which version (at most one of them); the latest when neither is given.
        verify
            Recompute the artifact's checksum before deserialising anything and refuse the
            model if it differs from the one recorded at registration.

        Returns
        -------
        LoadedModel

        Raises
        ------
        ModelNotFoundError
            If the model, version or alias does not exist.
        ArtifactIntegrityError
            If ``verify`` and the artifact changed since registration.
        RegistryError
            If the version has no recorded checksum (it was not registered by modelcycle: pass
            ``verify=False`` if you trust it), or is not a skops-saved scikit-learn model.
        """
        client = self._client()
        with self._translate(f"look up {name!r}"):
            found, aliases = self._resolve(client, name, version, alias)
            info = _version_info(found, aliases)
            uri = client.get_model_version_download_uri(name, found.version)
        with tempfile.TemporaryDirectory(prefix="modelcycle-load-") as tmp:
            with self._translate(f"download {name!r} version {info.version} from {uri}"):
                local = self._download(uri, Path(tmp))
            if verify:
                if info.checksum is None:
                    raise RegistryError(
                        f"{name} version {info.version} has no recorded checksum (tag "
                        f"{CHECKSUM_TAG!r}): it was not registered by modelcycle, so its "
                        "artifact cannot be verified. Register it with modelcycle, or load it "
                        "with verify=False if you trust where it came from."
                    )
                actual = directory_checksum(local)
                if actual != info.checksum:
                    raise ArtifactIntegrityError(name, str(info.version), info.checksum, actual)
            return _read_model(local, info)

    def _download(self, uri: str, destination: Path) -> Path:
        """Copy the artifact directory locally: verify and load the very same bytes."""
        logged_model_id = uri.removeprefix("models:/")
        if uri.startswith("models:/") and "/" not in logged_model_id:
            # MLflow's downloader for models:/ URIs adds a file (registered_model_meta) to what
            # it downloads, which would break the checksum: read the storage location instead.
            uri = self._client().get_logged_model(logged_model_id).artifact_location
        if uri.startswith("file:"):
            # Local storage: a plain copy, without MLflow's progress bars on stderr.
            from mlflow.utils.file_utils import local_file_uri_to_path

            target = destination / "model"
            shutil.copytree(local_file_uri_to_path(uri), target)
            return target
        import mlflow.artifacts

        # ``models:/<model_id>`` is resolved through a default client: scope the global URI.
        with scoped_tracking_uri(self._tracking()):
            return Path(
                mlflow.artifacts.download_artifacts(
                    artifact_uri=uri,
                    dst_path=str(destination),
                    tracking_uri=self._tracking(),
                    registry_uri=self._registry(),
                )
            )

    # -- plumbing ----------------------------------------------------------------------------------

    def _tracking(self) -> str:
        return self._uris()[0]

    def _registry(self) -> str:
        return self._uris()[1]

    def _uris(self) -> tuple[str, str]:
        """The tracking and registry URIs, resolved once so every call uses the same store."""
        uris: tuple[str, str] | None = getattr(self, "_uris_", None)
        if uris is None:
            settings = get_settings()
            tracking = self.tracking_uri or settings.effective_tracking_uri
            if self.registry_uri:
                registry = self.registry_uri
            elif self.tracking_uri:
                registry = self.tracking_uri
            else:
                registry = settings.effective_registry_uri
            uris = self._uris_ = (tracking, registry)
        return uris

    def _experiment_artifacts(self, name: str) -> str | None:
        root = self.artifact_location
        if root is None and is_database_uri(self._tracking()):
            root = getattr(self, "_artifact_root_", None) or get_settings().artifact_location
            self._artifact_root_ = root
        if root is None:
            return None
        # Readable and collision-free: names differing only in odd characters get their own folder.
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "experiment"
        return f"{root.rstrip('/')}/{slug[:80]}-{sha256(name.encode()).hexdigest()[:8]}"

    def _client(self) -> MlflowClient:
        client: MlflowClient | None = getattr(self, "_client_", None)
        if client is None:
            from mlflow.tracking import MlflowClient

            with self._translate("open the tracking store"):
                client = MlflowClient(tracking_uri=self._tracking(), registry_uri=self._registry())
            self._client_ = client
        return client

    @contextlib.contextmanager
    def _translate(self, action: str) -> Iterator[None]:
        """Turn MLflow, database and I/O errors into a RegistryError that says what failed."""
        try:
            yield
        except ModelcycleError:
            raise
        except Exception as exc:
            from mlflow.exceptions import MlflowException
            from sqlalchemy.exc import SQLAlchemyError

            if not isinstance(exc, MlflowException | SQLAlchemyError | OSError):
                raise
            raise RegistryError(
                f"Could not {action}: {_describe(exc)}. Check that the tracking store "
                f"{redact(self._tracking())} is reachable (MODELCYCLE_TRACKING_URI) and try again."
            ) from exc

    def _get_run(self, run_id: str, parameter: str) -> Any:
        client = self._client()
        try:
            return client.get_run(run_id)
        except Exception as exc:
            if _has_code(exc, _NOT_FOUND):
                raise RegistryError(
                    f"There is no run {run_id!r} (the {parameter!r} argument) in the tracking "
                    f"store {redact(self._tracking())}. Pass an id returned by log_run."
                ) from None
            with self._translate(f"look up the run {run_id!r}"):
                raise

    def _registered_model(self, client: MlflowClient, name: str) -> RegisteredModel:
        try:
            return client.get_registered_model(name)
        except Exception as exc:
            if not _has_code(exc, _NOT_FOUND):
                raise
        names = sorted(m.name for m in client.search_registered_models(max_results=_LISTED + 1))
        if names:
            listed = ", ".join(names[:_LISTED]) + (", …" if len(names) > _LISTED else "")
            known = f"registered models: {listed}"
        else:
            known = "the registry has no models yet"
        raise ModelNotFoundError(
            f"There is no registered model {name!r}; {known}. Check the name, or register a "
            "model first (mc.register).",
            model=name,
        )

    def _resolve(
        self, client: MlflowClient, name: str, version: str | int | None, alias: str | None
    ) -> tuple[ModelVersion, dict[str, str]]:
        """The version asked for, and the model's aliases (search results lack them)."""
        if version is not None and alias is not None:
            raise ParameterError(
                "alias", "Registry", "None when a version is given (pass one or the other)", alias
            )
        model = self._registered_model(client, name)
        aliases = {str(k): str(v) for k, v in (model.aliases or {}).items()}
        if alias is not None:
            if alias not in aliases:
                raise ModelNotFoundError(_no_alias_message(name, alias, aliases), model=name)
            return client.get_model_version(name, aliases[alias]), aliases
        versions = self._search(client, name)
        if not versions:
            raise ModelNotFoundError(
                f"Model {name!r} has no versions (they were deleted or never registered). "
                "Register one first (mc.register).",
                model=name,
            )
        if version is None:
            return versions[-1], aliases
        number = _version_number(version)
        for candidate in versions:
            if int(candidate.version) == number:
                return candidate, aliases
        listed = ", ".join(str(v.version) for v in versions[-_LISTED:])
        raise ModelNotFoundError(
            f"Model {name!r} has no version {number}; its versions: {listed}. Pass one of "
            "those, or no version for the latest.",
            model=name,
            version=str(number),
        )

    def _search(self, client: MlflowClient, name: str) -> list[ModelVersion]:
        """Live versions of ``name``, oldest first."""
        quote = "'" if "'" not in name else '"'
        if "'" in name and '"' in name:
            found = [
                v
                for v in _pages(lambda token: client.search_model_versions(page_token=token))
                if v.name == name
            ]
        else:
            found = _pages(
                lambda token: client.search_model_versions(
                    f"name = {quote}{name}{quote}", page_token=token
                )
            )
        return sorted(found, key=lambda v: int(v.version))


# -- helpers -----------------------------------------------------------------------------------


def _save_model(
    pipeline: Any,
    model_dir: Path,
    *,
    logged_model: Any,
    run_id: str | None,
    trusted: list[str],
    signature: ModelSignature,
    example: pd.DataFrame,
    metadata: dict[str, Any],
) -> None:
    import mlflow.sklearn
    from mlflow.models import Model

    mlflow_model = Model(
        artifact_path=logged_model.artifact_location,
        model_uuid=logged_model.model_id,
        run_id=run_id,
        model_id=logged_model.model_id,
    )
    with warnings.catch_warnings():
        # MLflow compares columns with a range when saving the example: pandas 3 deprecates it.
        warnings.filterwarnings("ignore", message="Operation with range is deprecated")
        # Explicit format and requirements: MLflow would otherwise consult the global tracking
        # URI for the format, and load the model in a subprocess (seconds) to guess requirements.
        mlflow.sklearn.save_model(
            pipeline,
            str(model_dir),
            mlflow_model=mlflow_model,
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
            skops_trusted_types=trusted,
            signature=signature,
            input_example=example,
            pip_requirements=pip_requirements(trusted),
            metadata=metadata,
        )


def _read_model(local: Path, info: ModelVersionInfo) -> LoadedModel:
    from mlflow.models import Model

    mlmodel = Model.load(str(local))
    flavor = mlmodel.flavors.get("sklearn")
    label = f"{info.name} version {info.version}"
    if flavor is None:
        raise RegistryError(
            f"{label} is not a scikit-learn model (flavors: {', '.join(mlmodel.flavors)}). "
            "modelcycle loads scikit-learn pipelines only."
        )
    fmt = flavor.get("serialization_format")
    if fmt != "skops":
        raise RegistryError(
            f"{label} is saved as {fmt!r}, which can run arbitrary code when loaded; modelcycle "
            "loads skops artifacts only. Register the pipeline again with modelcycle."
        )
    model_file = (local / str(flavor["pickled_model"])).resolve()
    if not model_file.is_relative_to(local.resolve()) or not model_file.is_file():
        raise RegistryError(f"{label}'s MLmodel points outside its artifact: refusing to load it.")
    # The tag lives in the registry database, beyond the reach of whoever can write artifacts.
    recorded = info.tags.get(TRUSTED_TYPES_TAG)
    trusted = json.loads(recorded) if recorded else list(flavor.get("skops_trusted_types") or [])
    pipeline = load_pipeline(model_file, trusted)
    meta = (mlmodel.metadata or {}).get("modelcycle", {})
    example = mlmodel.load_input_example(str(local))
    frame = (
        _restore_dtypes(example, meta.get("input_dtypes", {}), meta.get("input_nulls", []))
        if isinstance(example, pd.DataFrame)
        else pd.DataFrame()
    )
    return LoadedModel(
        name=info.name,
        version=info.version,
        pipeline=pipeline,
        recipe=_read_json(local / RECIPE_FILE),
        reference_profile=_read_json(local / PROFILE_FILE),
        input_example=frame,
        input_schema=_input_schema(mlmodel.signature),
        checksum=info.checksum,
        aliases=info.aliases,
        metrics=info.metrics,
        run_id=info.run_id,
        trusted_types=tuple(trusted),
    )


def _predict(pipeline: Any, example: pd.DataFrame, name: str) -> Any:
    if not hasattr(pipeline, "predict"):
        raise ParameterError(
            "pipeline", "Registry.register", "a fitted estimator with a predict method", pipeline
        )
    try:
        return pipeline.predict(example)
    except Exception as exc:
        expected = getattr(pipeline, "feature_names_in_", None)
        hint = ""
        if expected is not None:
            missing = [c for c in expected if c not in example.columns]
            extra = [c for c in example.columns if c not in set(expected)]
            if missing:
                hint += f" It lacks the columns {missing}."
            if extra:
                hint += f" It has columns the pipeline was not trained on: {extra}."
        raise RegistryError(
            f"Cannot register {name!r}: the pipeline fails to predict on the input example "
            f"({type(exc).__name__}: {exc}).{hint} Pass rows of the feature columns the "
            "pipeline was trained on (table.X.head()). Nothing was registered."
        ) from exc


def _signature(
    example: pd.DataFrame, predictions: Any, profile: Mapping[str, Any]
) -> ModelSignature:
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types import ColSpec, DataType, Schema, TensorSpec

    with warnings.catch_warnings():
        # MLflow's hint about integer columns and missing values is handled below instead.
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        signature = infer_signature(example, predictions)
    inputs = signature.inputs
    if inputs is None or inputs.is_tensor_spec():
        return signature
    # A few example rows rarely show missing values that the training data had: the profile
    # does. Such columns become optional, and integer ones double (NaN is a float).
    columns = profile.get("columns", {}) if isinstance(profile, Mapping) else {}
    specs: list[ColSpec | TensorSpec] = []
    for spec in inputs.inputs:
        missing = float((columns.get(spec.name) or {}).get("missing") or 0.0) > 0
        kind = spec.type
        if missing and kind in (DataType.long, DataType.integer):
            kind = DataType.double
        specs.append(ColSpec(kind, spec.name, required=spec.required and not missing))
    return ModelSignature(inputs=Schema(specs), outputs=signature.outputs, params=signature.params)


def _metadata(pipeline: Any, example: pd.DataFrame) -> dict[str, Any]:
    try:
        version = importlib.metadata.version("modelcycle")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    meta: dict[str, Any] = {
        "format": 1,
        "modelcycle_version": version,
        "input_dtypes": {str(c): str(t) for c, t in example.dtypes.items()},
        # JSON has one null; record which columns used None (not NaN) so they come back as they
        # went in: scikit-learn's imputers treat the two differently.
        "input_nulls": [
            str(c)
            for c in example.columns
            if example[c].dtype == object and any(v is None for v in example[c])
        ],
        "predict_proba": hasattr(pipeline, "predict_proba"),
    }
    classes = getattr(pipeline, "classes_", None)
    if classes is not None:
        meta["classes"] = _encode.json_safe(list(classes))
    return {"modelcycle": meta}


def _restore_dtypes(
    frame: pd.DataFrame, dtypes: Mapping[str, str], nulls: list[str]
) -> pd.DataFrame:
    frame = frame.copy()
    for column, dtype in dtypes.items():
        if column not in frame.columns:
            continue
        try:
            if dtype == "object":
                values = frame[column].astype(object)
                marker = None if column in nulls else float("nan")
                frame[column] = values.where(values.notna(), marker)
            else:
                frame[column] = frame[column].astype(pd.api.types.pandas_dtype(dtype))
        except (TypeError, ValueError):
            logger.debug("Could not restore dtype %s of column %s", dtype, column)
    return frame


def _input_schema(signature: Any) -> tuple[tuple[str, str], ...]:
    if signature is None or signature.inputs is None or signature.inputs.is_tensor_spec():
        return ()
    out = []
    for spec in signature.inputs.inputs:
        kind = spec.type
        out.append((str(spec.name), kind.name if hasattr(kind, "name") else str(kind)))
    return tuple(out)


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    value = json.loads(path.read_text(encoding="utf-8"))
    return value if isinstance(value, dict) else {"value": value}


def _version_info(
    version: ModelVersion, model_aliases: Mapping[str, Any] | None = None
) -> ModelVersionInfo:
    """Plain data from an MLflow version; aliases from the model's map when given."""
    tags = dict(version.tags or {})
    if model_aliases is None:
        aliases = tuple(sorted(version.aliases or ()))
    else:
        number = int(version.version)
        aliases = tuple(sorted(a for a, v in model_aliases.items() if int(v) == number))
    try:
        metrics = {str(k): float(v) for k, v in json.loads(tags.get(METRICS_TAG, "{}")).items()}
    except (ValueError, TypeError, AttributeError):
        metrics = {}
    source = str(version.source or "")
    model_id = getattr(version, "model_id", None)
    if not model_id and source.startswith("models:/m-"):
        model_id = source.removeprefix("models:/")
    return ModelVersionInfo(
        name=version.name,
        version=int(version.version),
        aliases=aliases,
        created_at=_timestamp(version.creation_timestamp),
        description=version.description or None,
        run_id=version.run_id or None,
        model_id=model_id or None,
        source=source,
        checksum=tags.get(CHECKSUM_TAG),
        metrics=metrics,
        tags=tags,
        status=str(version.status),
    )


def _no_alias_message(name: str, alias: str, aliases: Mapping[str, Any]) -> str:
    listed = ", ".join(f"{a} → {v}" for a, v in sorted(aliases.items()))
    known = f"its aliases: {listed}" if listed else "it has no aliases"
    return (
        f"Model {name!r} has no alias {alias!r}; {known}. "
        f"Deploy a version with `modelcycle deploy {name} --version V`."
    )


def _version_number(version: str | int) -> int:
    try:
        number = int(str(version).strip().removeprefix("v").removeprefix("V"))
    except ValueError:
        number = 0
    if number < 1:
        raise ParameterError("version", "Registry", "a positive version number", version)
    return number


def _check_name(value: Any, parameter: str, owner: str) -> None:
    if (
        not isinstance(value, str)
        or not value.strip()
        or value != value.strip()
        or "/" in value
        or ":" in value
        or value in (".", "..")
    ):
        raise ParameterError(
            parameter, owner, "a non-empty name without '/', ':' or surrounding blanks", value
        )


def _check_alias(alias: Any, owner: str) -> None:
    if not isinstance(alias, str) or not _ALIAS.match(alias) or _RESERVED_ALIAS.match(alias):
        raise ParameterError(
            "alias",
            owner,
            "a name of letters, digits, '_' and '-' other than 'latest' and 'v<number>' "
            "(MLflow reserves those)",
            alias,
        )


def _check_file_name(name: Any, owner: str) -> None:
    if (
        not isinstance(name, str)
        or not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or "\0" in name
    ):
        raise ParameterError("artifacts", owner, "keyed by plain file names", name)


def _has_code(exc: BaseException, codes: tuple[str, ...]) -> bool:
    return getattr(exc, "error_code", None) in codes


def _describe(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    return first if len(first) <= 300 else first[:300] + "…"


def _timestamp(millis: int | None) -> datetime:
    return datetime.fromtimestamp((millis or 0) / 1000, tz=UTC)


def _pages(fetch: Callable[[str | None], Any]) -> list[Any]:
    out: list[Any] = []
    token: str | None = None
    while True:
        page = fetch(token)
        out.extend(page)
        token = getattr(page, "token", None)
        if not token:
            return out
