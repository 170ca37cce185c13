"""A real home (MLflow, store, log), a real server process and the electricity data."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

# The server helpers live in tests/serve; with --import-mode=importlib no folder is on sys.path.
sys.path.insert(0, str(Path(__file__).parents[1] / "serve"))
from _serve_helpers import Server, World


@pytest.fixture(scope="session")
def electricity_frame(data_dir: Path) -> pd.DataFrame:
    return pd.read_csv(data_dir / "electricity.csv")


@pytest.fixture
def world(home: Path) -> World:
    """This test's home as a World (the server helpers' view of a home folder)."""
    return World(home)


@pytest.fixture
def server(world: World):  # type: ignore[no-untyped-def]
    started: list[Server] = []

    def start() -> Server:
        srv = Server(world, [], {"MODELCYCLE_SERVE_LOG_FLUSH_INTERVAL": "0.2"})
        started.append(srv)
        srv.wait_ready()
        return srv

    yield start
    for srv in started:
        srv.stop()
