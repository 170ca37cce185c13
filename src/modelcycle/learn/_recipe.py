"""Recipes: everything needed to train a model again, as plain JSON-able data."""

from __future__ import annotations

import platform
from importlib import metadata
from typing import Any

from sklearn.pipeline import Pipeline

from modelcycle.data import Schema, Table, Task, Validation
from modelcycle.exceptions import ConfigError
from modelcycle.learn._cluster import get_cluster_spec
from modelcycle.learn._presets import ModelSpec, get_spec

RECIPE_VERSION = 1
_LIBRARIES = ("modelcycle", "scikit-learn", "lightgbm", "pandas", "numpy")


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for lib in _LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            continue
    return out


def _family_spec(family: str, task: Task) -> ModelSpec:
    """The spec of ``family``: clustering families have a registry of their own."""
    return get_cluster_spec(family) if task is Task.CLUSTERING else get_spec(family, task)


def make_recipe(
    family: str,
    params: dict[str, Any],
    table: Table,
    validation: Validation,
    random_state: int,
    *,
    source: str = "learner",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The recipe of one candidate: family, hyperparameters, features, data and validation."""
    schema = table.schema
    return {
        "recipe_version": RECIPE_VERSION,
        "source": source,
        "family": family,
        "params": params,
        "task": str(schema.task),
        "target": schema.target,
        "features": schema.features,
        "schema": schema.to_dict(),
        "preprocessing": _family_spec(family, schema.task).preprocessing,
        "validation": validation.describe(),
        "random_state": random_state,
        "data": {
            "source": table.source,
            "rows": len(table),
            "fingerprint": table.fingerprint(),
        },
        "versions": _versions(),
        **(extra or {}),
    }


def pipeline_from_recipe(recipe: dict[str, Any]) -> Pipeline:
    """An unfitted pipeline built exactly as the recipe says (for retraining)."""
    if recipe.get("source") == "automl":
        # AutoML recipes can describe ensembles and engineered features, which the automl
        # package (a layer above learn) builds; imported here so learn does not depend on it.
        from modelcycle.automl._pipeline import pipeline_from_recipe as automl_pipeline

        return automl_pipeline(recipe)
    try:
        schema = Schema.from_dict(recipe["schema"]).with_features(list(recipe["features"]))
        spec = _family_spec(recipe["family"], schema.task)
        return spec.build(schema, params=recipe["params"], random_state=recipe["random_state"])
    except KeyError as exc:
        raise ConfigError(
            f"The recipe lacks the field {exc.args[0]!r}: it was not written by this version of "
            "modelcycle. Train the model again to get a complete recipe."
        ) from None
