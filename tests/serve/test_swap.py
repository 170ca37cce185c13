"""The server follows the registry: hot-swap under load, failed loads, models coming and going."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import httpx
import pytest
from _serve_helpers import Server, World, rows_of, wait_for
from sklearn.pipeline import Pipeline

from modelcycle.data import Table


@pytest.fixture(scope="module")
def server(world: World, start_server: Any, electricity: Table, elec_logreg: Pipeline) -> Server:
    # Every test registers its own model, so they do not depend on each other's order.
    world.register("steady", elec_logreg, electricity, alias="production")
    return start_server("--no-log")  # type: ignore[no-any-return]


def _deployments(server: Server, name: str) -> dict[str, Any]:
    return {d["alias"]: d for d in server.client.get(f"/v1/models/{name}").json()["deployments"]}


@pytest.mark.slow
def test_hot_swap_under_load_fails_no_request(
    server: Server, world: World, electricity: Table, elec_logreg: Pipeline, elec_tree: Pipeline
) -> None:
    world.register("swap", elec_logreg, electricity, alias="production")
    wait_for(lambda: server.predict("swap", rows_of(electricity, 1)).status_code == 200)
    second = world.register("swap", elec_tree, electricity)
    rows = rows_of(electricity, 3)
    seen: list[tuple[float, int]] = []
    failures: list[str] = []
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            while not stop.is_set():
                try:
                    response = client.post("/v1/models/swap/predict", json={"inputs": rows})
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                    continue
                if response.status_code != 200:
                    failures.append(response.text)
                else:
                    seen.append((time.monotonic(), response.json()["version"]))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)
        moved_at = time.monotonic()
        world.registry.set_alias("swap", "production", second.version)
        wait_for(lambda: any(v == 2 and t > moved_at for t, v in seen), timeout=60)
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == []
    versions = [v for _, v in seen]
    assert Counter(versions).keys() == {1, 2}
    first_new = versions.index(2)
    assert set(versions[first_new + 20 :]) == {2}  # once swapped, it stays swapped
    assert _deployments(server, "swap")["production"]["swaps"] == 1
    assert 'modelcycle_swaps_total{alias="production",model="swap"} 1.0' in (
        server.client.get("/metrics").text
    )


def test_corrupt_version_keeps_the_old_one_serving(
    server: Server, world: World, electricity: Table, elec_logreg: Pipeline, elec_tree: Pipeline
) -> None:
    world.register("fragile", elec_logreg, electricity, alias="production")
    rows = rows_of(electricity, 1)
    wait_for(lambda: server.predict("fragile", rows).status_code == 200)
    broken = world.register("fragile", elec_tree, electricity)
    artifact = world.artifact_file(broken)
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 0xFF
    artifact.write_bytes(bytes(data))
    world.registry.set_alias("fragile", "production", broken.version)

    failed = wait_for(lambda: _deployments(server, "fragile")["production"]["error"])
    assert "checksum" in failed and "version 2" in failed
    status = _deployments(server, "fragile")["production"]
    assert (status["state"], status["version"], status["target_version"]) == ("failed", 1, 2)
    answer = server.predict("fragile", rows)
    assert (answer.status_code, answer.json()["version"]) == (200, 1)
    assert 'modelcycle_load_failures_total{alias="production",model="fragile"}' in (
        server.client.get("/metrics").text
    )
    # Pointing the alias back clears the error.
    world.registry.set_alias("fragile", "production", 1)
    wait_for(lambda: _deployments(server, "fragile")["production"]["state"] == "loaded")
    assert _deployments(server, "fragile")["production"]["error"] is None


def test_models_appear_and_disappear_without_restart(
    server: Server, world: World, electricity: Table, elec_logreg: Pipeline
) -> None:
    rows = rows_of(electricity, 1)
    assert server.predict("late", rows).status_code == 404
    info = world.register("late", elec_logreg, electricity)
    time.sleep(0.5)  # registered but not promoted: still not served
    assert server.predict("late", rows).status_code == 404
    world.registry.set_alias("late", "production", info.version)
    wait_for(lambda: server.predict("late", rows).status_code == 200)
    world.registry.delete_alias("late", "production")
    wait_for(lambda: server.predict("late", rows).status_code == 404)
    names = [m["name"] for m in server.client.get("/v1/models").json()["models"]]
    assert "late" not in names and "steady" in names
