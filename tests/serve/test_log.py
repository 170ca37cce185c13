"""The prediction log: every row served is on disk after a graceful stop; overload drops rows
and counts them."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

import pytest
from _serve_helpers import World, rows_of
from sklearn.pipeline import Pipeline

from modelcycle.data import Table
from modelcycle.store import LogReader

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def model(world: World, electricity: Table, elec_logreg: Pipeline) -> None:
    world.register("elec", elec_logreg, electricity, alias="production")


def test_graceful_stop_writes_every_row_served(
    world: World, start_server: Any, electricity: Table
) -> None:
    # No flush before the stop: only the shutdown can have written these rows.
    server = start_server(env={"MODELCYCLE_SERVE_LOG_FLUSH_INTERVAL": "600"})
    served: dict[str, int] = {}
    for i, size in enumerate([1, 5, 1, 17, 2, 1, 40] * 3):
        response = server.predict("elec", rows_of(electricity, size, start=i))
        assert response.status_code == 200, response.text
        served[response.json()["request_id"]] = size
    assert server.stop(signal.SIGTERM) == 0, server.stderr

    frame = LogReader(world.log_dir).predictions("elec")
    mine = frame[frame["request_id"].isin(list(served))]
    assert len(mine) == sum(served.values())
    assert mine.groupby("request_id").size().to_dict() == served
    assert set(mine["version"]) == {"1"} and set(mine["alias"]) == {"production"}
    assert (mine["latency_ms"] > 0).all()


def test_overload_drops_rows_and_counts_them(
    world: World, start_server: Any, electricity: Table
) -> None:
    server = start_server(
        env={"MODELCYCLE_SERVE_LOG_QUEUE": "1", "MODELCYCLE_SERVE_LOG_FLUSH_ROWS": "1"}
    )
    rows = rows_of(electricity, 2)
    ids: list[str] = []
    lock = threading.Lock()

    def client() -> None:
        import httpx

        with httpx.Client(base_url=server.url, timeout=30) as http:
            for _ in range(60):
                answer = http.post("/v1/models/elec/predict", json={"inputs": rows})
                assert answer.status_code == 200
                with lock:
                    ids.append(answer.json()["request_id"])

    threads = [threading.Thread(target=client) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    time.sleep(0.5)  # the last requests reach the writer's queue in bursts of 20 ms
    metrics = server.client.get("/metrics").text
    dropped = next(
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith("modelcycle_log_rows_dropped_total ")
    )
    assert server.stop(signal.SIGINT) == 0, server.stderr  # Ctrl-C is graceful too
    frame = LogReader(world.log_dir).predictions("elec")
    written = int(frame["request_id"].isin(ids).sum())
    assert dropped > 0
    assert written + dropped == 2 * len(ids)
