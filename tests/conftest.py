"""Shared fixtures: every test gets a clean home folder and environment.

MLflow's SQLite store migrates its schema when first opened, which takes seconds; one template
store is migrated per session and copied into each test's home instead.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pandas as pd
import pytest

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow SQLite store with its migrations already applied."""
    from mlflow.tracking import MlflowClient

    folder = tmp_path_factory.mktemp("mlflow-template")
    db = folder / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Each test runs with its own MODELCYCLE_HOME and no stray MODELCYCLE_/MLFLOW_ settings."""
    for key in list(os.environ):
        if key.startswith(("MODELCYCLE_", "MLFLOW_")) and key != "MODELCYCLE_REQUIRE_POSTGRES":
            monkeypatch.delenv(key)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("MODELCYCLE_HOME", str(home))
    yield home


@pytest.fixture
def home(clean_environ: Path, mlflow_template: Path) -> Path:
    """A home folder whose MLflow store is ready (copied from the migrated template)."""
    shutil.copy(mlflow_template, clean_environ / "mlflow.db")
    return clean_environ


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"the shared data folder {DATA} is missing")
    return DATA


@pytest.fixture(scope="session")
def adult_sample(data_dir: Path) -> pd.DataFrame:
    """3,000 rows of the adult census data (mixed kinds, missing values)."""
    frame = pd.read_csv(data_dir / "adult.csv", skipinitialspace=True, na_values=["?"])
    return frame.sample(n=3000, random_state=0).reset_index(drop=True)


@pytest.fixture(scope="session")
def wine(data_dir: Path) -> pd.DataFrame:
    return pd.read_csv(data_dir / "wine_quality_red.csv")


@pytest.fixture(scope="session")
def bike_sample(data_dir: Path) -> pd.DataFrame:
    frame = pd.read_csv(data_dir / "bike_hourly.csv")
    return frame.drop(columns=["instant", "casual", "registered"]).head(3000)


Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(clean_environ: Path) -> Cli:
    """Run ``modelcycle ARGS`` as a user would: a real process in this test's home folder."""

    def run(
        *args: str, home: Path | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "MODELCYCLE_HOME": str(home or clean_environ),
            "OMP_NUM_THREADS": "1",
            "COLUMNS": "160",
        }
        return subprocess.run(
            [sys.executable, "-m", "modelcycle", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )

    return run


POSTGRES = "postgresql://postgres@127.0.0.1:5432"


def _postgres_unavailable(reason: str) -> NoReturn:
    """Skip locally; fail where PostgreSQL is required (CI sets MODELCYCLE_REQUIRE_POSTGRES=1)."""
    if os.environ.get("MODELCYCLE_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"{reason}; MODELCYCLE_REQUIRE_POSTGRES=1 requires it", pytrace=False)
    pytest.skip(f"{reason}; set MODELCYCLE_REQUIRE_POSTGRES=1 to make this a failure")


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[Callable[[], str]]:
    """Make fresh PostgreSQL databases on 127.0.0.1:5432; every one is dropped after the session.

    Call the returned function for the SQLAlchemy URI of a new, empty database; fixtures of any
    scope build their own ``postgres_uri`` from it.
    """
    try:
        import psycopg
    except ImportError as exc:
        _postgres_unavailable(
            f"psycopg is not installed ({exc}): pip install 'modelcycle[postgres]'"
        )
    try:
        admin = psycopg.connect(f"{POSTGRES}/postgres", autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        cause = " ".join(str(exc).split())  # psycopg's message spans lines
        _postgres_unavailable(f"PostgreSQL is not reachable at {POSTGRES} ({cause})")
    created: list[str] = []

    def create() -> str:
        name = f"mc_test_{os.getpid()}_{secrets.token_hex(4)}"
        admin.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"

    with admin:
        try:
            yield create
        finally:
            # MLflow and the servers keep pooled connections open: FORCE closes them.
            for name in created:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
