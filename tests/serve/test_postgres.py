"""Production mode: two server replicas share one PostgreSQL registry and store.

Skipped with a reason when no PostgreSQL answers on 127.0.0.1:5432, unless
``MODELCYCLE_REQUIRE_POSTGRES=1`` (CI), where that is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _serve_helpers import Server, World, rows_of, wait_for
from sklearn.pipeline import Pipeline

from modelcycle.data import Table
from modelcycle.serve import deploy

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _unavailable(reason: str) -> None:
    if os.environ.get("MODELCYCLE_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL is required (MODELCYCLE_REQUIRE_POSTGRES=1) but {reason}")
    pytest.skip(f"{reason}; set MODELCYCLE_REQUIRE_POSTGRES=1 to make this a failure")


@pytest.fixture(scope="module")
def postgres_uri() -> Iterator[str]:
    """A fresh database for the module, dropped afterwards."""
    try:
        import psycopg
    except ImportError:
        _unavailable("psycopg is not installed (pip install 'modelcycle[postgres]')")
        raise
    try:
        admin = psycopg.connect(
            "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3",
            autocommit=True,
        )
    except psycopg.OperationalError as exc:
        _unavailable(f"PostgreSQL is not reachable at 127.0.0.1:5432 ({exc})")
        raise
    name = f"modelcycle_serve_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, postgres_uri: str) -> World:
    home: Path = tmp_path_factory.mktemp("serve-postgres")
    # Artifacts stay on this machine's disk (the replicas share it, as they would an NFS share).
    env = {"MODELCYCLE_TRACKING_URI": postgres_uri, "MODELCYCLE_STORE_URI": postgres_uri}
    return World(home, env)


def test_two_replicas_follow_one_registry(
    world: World,
    start_server: Any,
    electricity: Table,
    elec_logreg: Pipeline,
    elec_tree: Pipeline,
) -> None:
    world.register("elec", elec_logreg, electricity, alias="production")
    second = world.register("elec", elec_tree, electricity)
    one: Server = start_server()
    two: Server = start_server("--workers", "2")
    rows = rows_of(electricity, 1)
    for replica in (one, two):
        assert replica.predict("elec", rows).json()["version"] == 1

    with world.store() as store:
        move = deploy("elec", second.version, registry=world.registry, store=store)
    assert (move.version, move.previous_version) == ("2", "1")

    def serves_two(replica: Server) -> bool:
        # Several requests, so that each of the second replica's workers answers some.
        return all(replica.predict("elec", rows).json()["version"] == 2 for _ in range(8))

    wait_for(lambda: serves_two(one) and serves_two(two), timeout=60)
    # Metrics of the two workers are summed into one exposition.
    metrics = two.client.get("/metrics").text
    total = sum(
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith('modelcycle_requests_total{model="elec",status="200"')
    )
    assert total >= 9
    with world.store() as store:
        assert [d.version for d in store.deployment_history("elec")] == ["2"]
