"""Fixtures for registry tests: a small adult table and two fitted pipelines (fitted once)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from lightgbm import LGBMClassifier
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from modelcycle.data import ColumnKind, Table, load_table, profile_table
from modelcycle.registry import ModelVersionInfo, Registry


@pytest.fixture(scope="session")
def table(adult_sample: pd.DataFrame) -> Table:
    return load_table(adult_sample.head(600), target="income")


def _preprocessor(table: Table) -> ColumnTransformer:
    kinds = table.schema.columns
    numeric = [c for c, k in kinds.items() if k is ColumnKind.NUMERIC]
    categorical = [c for c, k in kinds.items() if k is ColumnKind.CATEGORICAL]
    return ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), numeric),
            # load_table marks missing strings as None, which OneHotEncoder takes as a category.
            ("cat", OneHotEncoder(handle_unknown="ignore"), categorical),
        ]
    )


@pytest.fixture(scope="session")
def logreg(table: Table) -> Pipeline:
    model = LogisticRegression(max_iter=500)
    return Pipeline([("prep", _preprocessor(table)), ("model", model)]).fit(table.X, table.y)


@pytest.fixture(scope="session")
def lgbm(table: Table) -> Pipeline:
    model = LGBMClassifier(n_estimators=15, num_leaves=7, n_jobs=1, verbose=-1, random_state=0)
    return Pipeline([("prep", _preprocessor(table)), ("model", model)]).fit(table.X, table.y)


@pytest.fixture(scope="session")
def profile(table: Table) -> dict[str, Any]:
    return profile_table(table, sample_size=200)


@pytest.fixture(scope="session")
def recipe(table: Table) -> dict[str, Any]:
    return {
        "model": {"family": "logistic_regression", "params": {"max_iter": 500}},
        "features": list(table.schema.features),
        "target": table.target,
        "validation": {"kind": "kfold", "folds": 5},
        "seed": 0,
    }


@pytest.fixture
def registry(home: Any) -> Registry:
    """A registry on the per-test home's (pre-migrated) SQLite store."""
    return Registry()


RegisterFn = Callable[..., ModelVersionInfo]


@pytest.fixture
def register(
    registry: Registry,
    table: Table,
    logreg: Pipeline,
    recipe: dict[str, Any],
    profile: dict[str, Any],
) -> RegisterFn:
    """Register a pipeline (the logistic regression by default) with sensible arguments."""

    def _register(name: str = "income", pipeline: Any = None, **overrides: Any) -> ModelVersionInfo:
        reg = overrides.pop("registry", registry)
        kwargs: dict[str, Any] = {
            "run_id": None,
            "recipe": recipe,
            "input_example": table.X.head(5),
            "reference_profile": profile,
            "metrics": {"roc_auc": 0.9, "accuracy": 0.85},
        }
        kwargs.update(overrides)
        return reg.register(name, logreg if pipeline is None else pipeline, **kwargs)

    return _register


@pytest.fixture(autouse=True)
def no_store_in_the_working_folder() -> Iterator[None]:
    """MLflow's default store is ./mlflow.db: a registry must never fall back to it."""
    stray = Path("mlflow.db")
    existed = stray.exists()
    yield
    assert existed or not stray.exists(), "a registry call opened MLflow's default ./mlflow.db"
