"""The registry against a real MLflow store (SQLite in the per-test home)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from sklearn.pipeline import Pipeline

import modelcycle.registry as registry_module
from modelcycle.data import Table
from modelcycle.exceptions import (
    ArtifactIntegrityError,
    ModelNotFoundError,
    ParameterError,
    RegistryError,
)
from modelcycle.registry import LoadedModel, ModelVersionInfo, RegisteredModelInfo, Registry

RegisterFn = Callable[..., ModelVersionInfo]


def model_dir(home: Path, info: ModelVersionInfo) -> Path:
    """Where the version's artifact directory lands on disk."""
    found = list((home / "artifacts").glob(f"*/models/{info.model_id}/artifacts"))
    assert len(found) == 1, found
    return found[0]


def mlflow_client(home: Path) -> MlflowClient:
    uri = f"sqlite:///{home / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_every_public_name_exists() -> None:
    for name in registry_module.__all__:
        assert hasattr(registry_module, name), name


# -- register and load ---------------------------------------------------------------------------


def test_register_then_load_round_trip(
    register: RegisterFn, registry: Registry, table: Table, logreg: Pipeline, recipe: dict[str, Any]
) -> None:
    info = register(description="first try")

    assert info.name == "income"
    assert info.version == 1
    assert info.aliases == ()
    assert info.description == "first try"
    assert info.metrics == {"roc_auc": 0.9, "accuracy": 0.85}
    assert info.status == "READY"
    assert info.source == f"models:/{info.model_id}"
    assert info.checksum is not None and len(info.checksum) == 64

    loaded = registry.load("income")
    assert isinstance(loaded, LoadedModel)
    assert (loaded.name, loaded.version, loaded.checksum) == ("income", 1, info.checksum)
    np.testing.assert_array_equal(loaded.pipeline.predict(table.X), logreg.predict(table.X))
    np.testing.assert_array_equal(
        loaded.pipeline.predict_proba(table.X), logreg.predict_proba(table.X)
    )
    assert loaded.recipe == recipe
    assert loaded.reference_profile["rows"] == len(table)
    assert loaded.metrics == info.metrics
    # The example comes back with the dtypes (and None markers) it was registered with.
    pd.testing.assert_frame_equal(loaded.input_example, table.X.head(5))
    assert [column for column, _ in loaded.input_schema] == list(table.X.columns)
    assert dict(loaded.input_schema)["workclass"] == "string"


def test_results_are_plain_data(register: RegisterFn, registry: Registry) -> None:
    register()
    registry.set_alias("income", "production", 1)

    def check(value: Any) -> None:
        assert not type(value).__module__.startswith("mlflow"), value
        if dataclasses.is_dataclass(value):
            for field in dataclasses.fields(value):
                check(getattr(value, field.name))
        elif isinstance(value, dict):
            for key, item in value.items():
                check(key)
                check(item)
        elif isinstance(value, list | tuple):
            for item in value:
                check(item)

    check(registry.list_models())
    check(registry.get_version("income", alias="production"))
    check(registry.search_versions("income"))
    loaded = registry.load("income")
    check([loaded.input_schema, loaded.aliases, loaded.recipe, loaded.metrics])


def test_signature_marks_columns_with_missing_values_optional(
    register: RegisterFn, registry: Registry, profile: dict[str, Any]
) -> None:
    register()
    schema = dict(registry.load("income").input_schema)
    # age is an integer without missing values; workclass has some in the training data.
    assert schema["age"] == "long"
    assert profile["columns"]["workclass"]["missing"] > 0
    assert schema["workclass"] == "string"


def test_trusted_types_are_derived_from_the_pipeline(
    register: RegisterFn, registry: Registry, table: Table, lgbm: Pipeline
) -> None:
    info = register(pipeline=lgbm)

    trusted = json.loads(info.tags["modelcycle.trusted_types"])
    assert "lightgbm.sklearn.LGBMClassifier" in trusted
    assert "lightgbm.basic.Booster" in trusted
    assert not any(t.startswith("sklearn.") for t in trusted)

    loaded = registry.load("income")
    assert loaded.trusted_types == tuple(trusted)
    np.testing.assert_array_equal(
        loaded.pipeline.predict_proba(table.X), lgbm.predict_proba(table.X)
    )


def test_the_model_lands_on_disk_in_mlflow_format(
    register: RegisterFn, home: Path, table: Table, lgbm: Pipeline
) -> None:
    info = register(pipeline=lgbm)
    folder = model_dir(home, info)

    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        "MLmodel",
        "conda.yaml",
        "input_example.json",
        "model.skops",
        "python_env.yaml",
        "recipe.json",
        "reference_profile.json",
        "requirements.txt",
        "serving_input_example.json",
    ]
    requirements = (folder / "requirements.txt").read_text()
    assert "lightgbm==" in requirements and "scikit-learn==" in requirements
    assert "pytest" not in requirements
    # Any MLflow tool reads it: the pyfunc flavor predicts like the pipeline.
    pyfunc = mlflow.pyfunc.load_model(str(folder))
    np.testing.assert_array_equal(pyfunc.predict(table.X.head(20)), lgbm.predict(table.X.head(20)))


def test_registration_links_version_run_and_logged_model(
    registry: Registry, register: RegisterFn, home: Path, recipe: dict[str, Any]
) -> None:
    experiment = registry.session("adult-session")
    run_id = registry.log_run(
        experiment,
        "logistic_regression",
        params={"C": 1.0},
        metrics={"roc_auc": 0.91},
        recipe=recipe,
    )
    info = register(run_id=run_id, metrics=None)

    assert info.run_id == run_id
    assert info.metrics == {"roc_auc": 0.91}  # copied from the run
    client = mlflow_client(home)
    logged = client.get_logged_model(str(info.model_id))
    assert logged.source_run_id == run_id
    assert logged.experiment_id == experiment
    assert json.loads(logged.tags["mlflow.modelVersions"]) == [{"name": "income", "version": "1"}]


def test_two_registrations_make_versions_1_and_2(
    register: RegisterFn, registry: Registry, lgbm: Pipeline
) -> None:
    first = register()
    second = register(pipeline=lgbm, metrics={"roc_auc": 0.93})

    assert (first.version, second.version) == (1, 2)
    assert [v.version for v in registry.search_versions("income")] == [1, 2]
    assert registry.get_version("income").version == 2
    assert registry.get_version("income", version="1").checksum == first.checksum
    assert registry.load("income", version=1).pipeline.steps[-1][0] == "model"
    assert type(registry.load("income").pipeline[-1]).__name__ == "LGBMClassifier"


def test_list_models(register: RegisterFn, registry: Registry) -> None:
    assert registry.list_models() == []
    register("income", description="v1")
    register("income")
    register("churn")
    registry.set_alias("income", "production", 1)

    models = registry.list_models()
    assert [m.name for m in models] == ["churn", "income"]
    income = models[1]
    assert isinstance(income, RegisteredModelInfo)
    assert income.aliases == {"production": 1}
    assert [v.version for v in income.versions] == [1, 2]
    assert income.versions[0].aliases == ("production",)
    assert income.versions[0].description == "v1"
    assert income.versions[0].metrics["roc_auc"] == 0.9
    assert income.latest_version is not None and income.latest_version.version == 2
    assert income.versions[0].created_at <= income.versions[1].created_at


# -- aliases -------------------------------------------------------------------------------------


def test_aliases_set_move_delete(register: RegisterFn, registry: Registry) -> None:
    register()
    register()

    assert registry.set_alias("income", "production", 1).aliases == ("production",)
    assert registry.get_version("income", alias="production").version == 1
    assert registry.load("income", alias="production").version == 1

    moved = registry.set_alias("income", "production", "2")
    assert moved.version == 2 and moved.aliases == ("production",)
    assert registry.get_version("income", version=1).aliases == ()
    registry.set_alias("income", "challenger", 1)
    assert registry.load("income", alias="challenger").aliases == ("challenger",)

    registry.delete_alias("income", "production")
    with pytest.raises(ModelNotFoundError, match=r"its aliases: challenger → 1\."):
        registry.get_version("income", alias="production")
    with pytest.raises(ModelNotFoundError, match="has no alias 'production'"):
        registry.delete_alias("income", "production")


@pytest.mark.parametrize("alias", ["latest", "v2", "V10", "has space", "", "a/b"])
def test_invalid_alias_names_are_refused(
    register: RegisterFn, registry: Registry, alias: str
) -> None:
    register()
    with pytest.raises(ParameterError, match="'alias' parameter"):
        registry.set_alias("income", alias, 1)


def test_alias_on_a_missing_version(register: RegisterFn, registry: Registry) -> None:
    register()
    with pytest.raises(ModelNotFoundError, match="has no version 4; its versions: 1"):
        registry.set_alias("income", "production", 4)


# -- not found -----------------------------------------------------------------------------------


def test_unknown_model_names_the_models_that_exist(
    register: RegisterFn, registry: Registry
) -> None:
    with pytest.raises(ModelNotFoundError, match="the registry has no models yet"):
        registry.load("income")
    register("income")
    register("churn")
    with pytest.raises(ModelNotFoundError) as caught:
        registry.load("incme")
    assert str(caught.value) == (
        "There is no registered model 'incme'; registered models: churn, income. "
        "Check the name, or register a model first (mc.register)."
    )
    assert caught.value.model == "incme"


def test_search_versions_of_an_unknown_model(registry: Registry) -> None:
    with pytest.raises(ModelNotFoundError, match="no registered model 'income'"):
        registry.search_versions("income")
    with pytest.raises(ModelNotFoundError, match="no registered model 'income'"):
        registry.delete_alias("income", "production")


def test_unknown_version_and_alias_messages(register: RegisterFn, registry: Registry) -> None:
    register()
    register()
    registry.set_alias("income", "challenger", 2)

    with pytest.raises(ModelNotFoundError) as caught:
        registry.load("income", version=7)
    assert str(caught.value) == (
        "Model 'income' has no version 7; its versions: 1, 2. "
        "Pass one of those, or no version for the latest."
    )
    assert (caught.value.model, caught.value.version) == ("income", "7")

    with pytest.raises(ModelNotFoundError) as caught:
        registry.load("income", alias="production")
    assert str(caught.value) == (
        "Model 'income' has no alias 'production'; its aliases: challenger → 2. "
        "Deploy a version with `modelcycle deploy income --version V`."
    )


def test_version_and_alias_together_is_a_parameter_error(
    register: RegisterFn, registry: Registry
) -> None:
    register()
    with pytest.raises(ParameterError, match="pass one or the other"):
        registry.get_version("income", version=1, alias="production")
    with pytest.raises(ParameterError, match="positive version number"):
        registry.get_version("income", version="one")


# -- integrity -----------------------------------------------------------------------------------


def test_a_changed_byte_fails_verification(
    register: RegisterFn, registry: Registry, home: Path
) -> None:
    info = register()
    skops_file = model_dir(home, info) / "model.skops"
    data = bytearray(skops_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    skops_file.write_bytes(bytes(data))

    with pytest.raises(ArtifactIntegrityError, match="changed after it was registered") as caught:
        registry.load("income")
    assert (caught.value.model, caught.value.version) == ("income", "1")


def test_an_added_file_fails_verification_and_verify_false_skips_it(
    register: RegisterFn, registry: Registry, home: Path
) -> None:
    info = register()
    folder = model_dir(home, info)
    (folder / "note.txt").write_text("hello")
    with pytest.raises(ArtifactIntegrityError):
        registry.load("income")

    (folder / "note.txt").unlink()
    recipe_file = folder / "recipe.json"
    recipe_file.write_text(json.dumps({"edited": True}))
    with pytest.raises(ArtifactIntegrityError):
        registry.load("income")
    assert registry.load("income", verify=False).recipe == {"edited": True}


def test_widened_trust_in_the_artifact_is_not_honoured(
    register: RegisterFn, registry: Registry, home: Path, lgbm: Pipeline
) -> None:
    # Trust comes from the registry's tag, not from the (writable) MLmodel file.
    info = register(pipeline=lgbm)
    client = mlflow_client(home)
    client.set_model_version_tag("income", "1", "modelcycle.trusted_types", json.dumps([]))
    with pytest.raises(RegistryError, match="not trusted at registration"):
        registry.load("income", verify=False)
    assert info.checksum is not None


def test_a_version_registered_outside_modelcycle(
    register: RegisterFn, registry: Registry, home: Path
) -> None:
    info = register()
    client = mlflow_client(home)
    client.create_registered_model("external")
    client.create_model_version("external", (model_dir(home, info)).as_uri())

    with pytest.raises(RegistryError, match="no recorded checksum"):
        registry.load("external")
    assert registry.load("external", verify=False).version == 1


# -- nothing half-written ------------------------------------------------------------------------


def assert_nothing_registered(registry: Registry, home: Path) -> None:
    assert registry.list_models() == []
    assert list((home / "artifacts").glob("*/models/*")) == []


def test_an_example_with_the_wrong_columns_registers_nothing(
    register: RegisterFn, registry: Registry, home: Path, table: Table
) -> None:
    with pytest.raises(RegistryError, match=r"lacks the columns \['age'\]") as caught:
        register(input_example=table.X.drop(columns=["age"]).head())
    assert "Nothing was registered" in str(caught.value)
    assert_nothing_registered(registry, home)


@pytest.mark.parametrize("method", ["log_model_artifacts", "create_model_version"])
def test_a_failure_mid_way_removes_what_was_written(
    register: RegisterFn,
    registry: Registry,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
) -> None:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(MlflowClient, method, fail)
        with pytest.raises(RegistryError, match="disk full") as caught:
            register()
    assert "Nothing was registered" in str(caught.value)

    assert_nothing_registered(registry, home)
    assert register().version == 1


def test_a_version_created_before_a_failure_is_removed(
    register: RegisterFn, registry: Registry, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register()
    real = MlflowClient.create_model_version

    def create_then_fail(self: MlflowClient, *args: Any, **kwargs: Any) -> None:
        real(self, *args, **kwargs)
        raise TimeoutError("the registry did not answer")

    with monkeypatch.context() as patch:
        patch.setattr(MlflowClient, "create_model_version", create_then_fail)
        with pytest.raises(RegistryError, match="while creating the model version"):
            register()

    assert [v.version for v in registry.search_versions("income")] == [1]
    assert registry.get_version("income").version == 1
    models = list((home / "artifacts").glob("*/models/*/artifacts/MLmodel"))
    assert len(models) == 1


def test_unusable_arguments_register_nothing(
    register: RegisterFn, registry: Registry, home: Path
) -> None:
    with pytest.raises(ParameterError, match="'name' parameter"):
        register("a/b")
    with pytest.raises(ParameterError, match="'input_example' parameter"):
        register(input_example=pd.DataFrame())
    with pytest.raises(ParameterError, match="'recipe' parameter"):
        register(recipe={"estimator": object()})
    with pytest.raises(ParameterError, match="'metrics' parameter"):
        register(metrics={"roc_auc": "high"})
    with pytest.raises(RegistryError, match="no run 'nope'"):
        register(run_id="nope")
    assert registry.list_models() == []


# -- sessions and runs ---------------------------------------------------------------------------


def test_session_is_get_or_create(registry: Registry, home: Path) -> None:
    first = registry.session("adult", tags={"modelcycle.task": "binary"})
    again = registry.session("adult", tags={"modelcycle.metric": "roc_auc"})
    assert first == again

    experiment = mlflow_client(home).get_experiment(first)
    assert experiment.tags["modelcycle.task"] == "binary"
    assert experiment.tags["modelcycle.metric"] == "roc_auc"
    assert experiment.artifact_location.startswith((home / "artifacts").as_uri())

    mlflow_client(home).delete_experiment(first)
    assert registry.session("adult") == first  # restored, not a new one


def test_log_run_flattens_params_and_stores_the_recipe(
    registry: Registry, home: Path, recipe: dict[str, Any]
) -> None:
    experiment = registry.session("adult")
    params: dict[str, Any] = {
        "model": {"C": 0.5, "penalty": "l2", "class_weight": None},
        "columns": ["age", "sex"],
        "long": "x" * 7000,
        "odd key!": np.int64(3),
    }
    params.update({f"p{i}": i for i in range(150)})  # more than one batch of 100
    run_id = registry.log_run(
        experiment,
        "logistic_regression",
        params=params,
        metrics={"roc_auc": 0.91, "log_loss": float("nan")},
        recipe=recipe,
        tags={"modelcycle.family": "logistic_regression", "attempt": 1},
        artifacts={"assessment.html": "<html></html>", "oof.parquet": b"\x00\x01"},
    )

    client = mlflow_client(home)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "logistic_regression"
    assert run.data.params["model.C"] == "0.5"
    assert run.data.params["model.class_weight"] == "None"
    assert run.data.params["columns"] == '["age", "sex"]'
    assert run.data.params["odd key_"] == "3"
    assert len(run.data.params["long"]) == 6000
    assert run.data.params["p149"] == "149"
    assert run.data.metrics["roc_auc"] == 0.91
    assert np.isnan(run.data.metrics["log_loss"])
    assert run.data.tags["attempt"] == "1"
    assert sorted(a.path for a in client.list_artifacts(run_id)) == [
        "assessment.html",
        "oof.parquet",
        "recipe.json",
    ]
    local = client.download_artifacts(run_id, "recipe.json", str(home))
    assert json.loads(Path(local).read_text()) == recipe


def test_nested_runs(registry: Registry, home: Path) -> None:
    experiment = registry.session("automl")
    parent = registry.log_run(experiment, "study", params={}, metrics={}, recipe={})
    child = registry.log_run(
        experiment,
        "trial-0",
        params={"lr": 0.1},
        metrics={"auc": 0.8},
        recipe={},
        parent_run_id=parent,
    )
    assert mlflow_client(home).get_run(child).data.tags["mlflow.parentRunId"] == parent
    with pytest.raises(RegistryError, match="no run 'missing'"):
        registry.log_run(experiment, "x", params={}, metrics={}, recipe={}, parent_run_id="missing")


@pytest.mark.parametrize("name", ["../escape.html", "a/b.txt", "recipe.json", ""])
def test_log_run_refuses_unsafe_artifact_names(registry: Registry, name: str) -> None:
    experiment = registry.session("adult")
    with pytest.raises(ParameterError, match="'artifacts' parameter"):
        registry.log_run(experiment, "x", params={}, metrics={}, recipe={}, artifacts={name: "x"})


def test_a_failed_run_is_deleted(
    registry: Registry, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    experiment = registry.session("adult")

    def fail(*args: Any, **kwargs: Any) -> None:
        raise OSError("read-only file system")

    monkeypatch.setattr(MlflowClient, "log_artifacts", fail)
    with pytest.raises(RegistryError, match="read-only file system"):
        registry.log_run(experiment, "x", params={"a": 1}, metrics={}, recipe={})
    assert mlflow_client(home).search_runs([experiment]) == []


# -- configuration -------------------------------------------------------------------------------


def test_the_constructor_only_stores_and_hides_passwords() -> None:
    registry = Registry(tracking_uri="postgresql+psycopg://user:secret@db.invalid:5432/mlflow")
    assert registry.tracking_uri is not None and "secret" in registry.tracking_uri
    assert "secret" not in repr(registry) and "***" in repr(registry)
    assert not hasattr(registry, "_client_")


def test_an_unreachable_store_is_a_registry_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    registry = Registry(tracking_uri=f"sqlite:///{tmp_path / 'a-file' / 'mlflow.db'}")
    with pytest.raises(RegistryError, match="Check that the tracking store"):
        registry.list_models()


def test_global_mlflow_state_is_left_alone(register: RegisterFn, registry: Registry) -> None:
    from mlflow.tracking._tracking_service import utils

    before = (utils._tracking_uri, os.environ.get("MLFLOW_TRACKING_URI"))
    register()
    registry.load("income")
    assert (utils._tracking_uri, os.environ.get("MLFLOW_TRACKING_URI")) == before
    assert mlflow.active_run() is None


def test_another_tracking_uri(
    register: RegisterFn, tmp_path: Path, mlflow_template: Path, home: Path, table: Table
) -> None:
    other_db = tmp_path / "other.db"
    shutil.copy(mlflow_template, other_db)
    other = Registry(
        tracking_uri=f"sqlite:///{other_db}", artifact_location=(tmp_path / "store").as_uri()
    )
    info = register(registry=other)

    assert info.version == 1
    assert other.load("income").pipeline.predict(table.X.head()).shape == (5,)
    assert Registry().list_models() == []  # the default store is untouched
    assert list((tmp_path / "store").glob("*/models/*/artifacts/model.skops"))


def test_load_through_mlflows_downloader(
    register: RegisterFn,
    registry: Registry,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    table: Table,
) -> None:
    # Artifact stores other than local file: URIs (S3, a tracking server) are read through
    # MLflow's downloader; a plain path takes the same route without needing a remote store.
    info = register()
    folder = str(model_dir(home, info))
    monkeypatch.setattr(MlflowClient, "get_model_version_download_uri", lambda *args: folder)
    loaded = registry.load("income")
    assert loaded.checksum == info.checksum
    assert loaded.pipeline.predict(table.X.head()).shape == (5,)

    # A models:/<model_id> location is resolved to the logged model's storage.
    monkeypatch.setattr(MlflowClient, "get_model_version_download_uri", lambda *args: info.source)
    assert registry.load("income").checksum == info.checksum
