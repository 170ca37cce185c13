"""Production mode: two server replicas share one PostgreSQL registry and store.

Skipped with a reason when no PostgreSQL answers on 127.0.0.1:5432, unless
``MODELCYCLE_REQUIRE_POSTGRES=1`` (CI), where that is a failure.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _serve_helpers import Server, World, rows_of, wait_for
from sklearn.pipeline import Pipeline

from modelcycle.data import Table
from modelcycle.serve import deploy

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture(scope="module")
def postgres_uri(postgres_database: Callable[[], str]) -> str:
    """A fresh database for the module."""
    return postgres_database()


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
