"""A real server process on a random loopback port, over a real MLflow store, with real models.

Models are small scikit-learn pipelines fitted once per session on samples of the shared data
(electricity: numeric columns; adult: numeric and categorical columns with missing values).
A "world" is a home folder with a migrated MLflow store and a metadata store; servers started
on it run as ``python -m modelcycle serve`` with that home, exactly as a user would start them.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier

from modelcycle.data import ColumnKind, Table, load_table

# The helpers live beside this file; with --import-mode=importlib the folder is not on sys.path.
sys.path.insert(0, str(Path(__file__).parent))
from _serve_helpers import Server, World

ELECTRICITY = ["period", "nswprice", "nswdemand", "vicprice", "vicdemand", "transfer"]


# -- models --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def electricity(data_dir: Path) -> Table:
    frame = pd.read_csv(data_dir / "electricity.csv").sample(n=2000, random_state=0)
    return load_table(frame.reset_index(drop=True), target="class")


@pytest.fixture(scope="session")
def elec_logreg(electricity: Table) -> Pipeline:
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    return model.fit(electricity.X, electricity.y)


@pytest.fixture(scope="session")
def elec_tree(electricity: Table) -> Pipeline:
    model = make_pipeline(DecisionTreeClassifier(max_depth=4, random_state=0))
    return model.fit(electricity.X, electricity.y)


@pytest.fixture(scope="session")
def adult(adult_sample: pd.DataFrame) -> Table:
    return load_table(adult_sample.head(800), target="income")


@pytest.fixture(scope="session")
def adult_pipeline(adult: Table) -> Pipeline:
    kinds = adult.schema.columns
    numeric = [c for c, k in kinds.items() if k is ColumnKind.NUMERIC]
    categorical = [c for c, k in kinds.items() if k is ColumnKind.CATEGORICAL]
    prep = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), numeric),
            ("cat", OneHotEncoder(handle_unknown="ignore"), categorical),
        ]
    )
    return Pipeline([("prep", prep), ("model", LogisticRegression(max_iter=300))]).fit(
        adult.X, adult.y
    )


# -- worlds --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, mlflow_template: Path) -> World:
    """A home shared by the tests of a module (and the server they start on it)."""
    home = tmp_path_factory.mktemp("serve-home")
    shutil.copy(mlflow_template, home / "mlflow.db")
    return World(home)


@pytest.fixture(scope="module")
def start_server(world: World) -> Iterator[Any]:
    """Start servers on the module's world; each is stopped when the module ends."""
    started: list[Server] = []

    def start(*args: str, env: dict[str, str] | None = None, ready: bool = True) -> Server:
        server = Server(world, list(args), env)
        started.append(server)
        if ready:
            server.wait_ready()
        return server

    yield start
    for server in started:
        server.stop()
