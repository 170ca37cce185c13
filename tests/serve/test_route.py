"""The prediction route answered in raw ASGI: its timeouts and body limits, over a real server."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from _serve_helpers import Server, World, rows_of
from sklearn.pipeline import Pipeline

from modelcycle.data import Table
from modelcycle.serve._route import Deadlines, PredictRoute

MAX_BYTES = 2000


@pytest.fixture(scope="module")
def server(world: World, start_server: Any, electricity: Table, elec_logreg: Pipeline) -> Server:
    world.register("elec", elec_logreg, electricity, alias="production")
    return start_server(  # type: ignore[no-any-return]
        "--request-timeout", "1", "--max-body-bytes", str(MAX_BYTES)
    )


def test_a_body_that_never_arrives_times_out(server: Server, electricity: Table) -> None:
    head = (
        b"POST /v1/models/elec/predict HTTP/1.1\r\nHost: test\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as client:
        started = time.monotonic()
        client.sendall(head + b'{"inputs": ')  # and then nothing
        status_line = client.recv(65536).split(b"\r\n", 1)[0]
        waited = time.monotonic() - started
    assert b" 503 " in status_line
    assert 0.9 <= waited < 5
    # The worker is unharmed.
    assert server.predict("elec", rows_of(electricity, 1)).status_code == 200


def test_a_chunked_body_over_the_limit_is_refused(server: Server) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"inputs": ['
        for _ in range(200):
            yield b'{"period": 0.5},'
        yield b"{}]}"

    answer = server.client.post(
        "/v1/models/elec/predict",
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 413
    assert answer.json()["error"] == "body_too_large"


def test_the_route_matches_only_predictions() -> None:
    def target(method: str, path: str, root: str = "") -> Any:
        scope = {"type": "http", "method": method, "path": path, "root_path": root}
        return PredictRoute.target(scope)

    assert target("POST", "/v1/models/elec/predict") == ("elec", None, None)
    assert target("POST", "/v1/models/elec@challenger/predict") == ("elec", "challenger", None)
    assert target("POST", "/v1/models/elec/versions/3/predict") == ("elec", None, "3")
    assert target("POST", "/api/v1/models/elec/predict", root="/api") == ("elec", None, None)
    for method, path in [
        ("GET", "/v1/models/elec/predict"),
        ("POST", "/v1/models//predict"),
        ("POST", "/v1/models/elec/predict/"),
        ("POST", "/v1/models/a/b/predict"),
        ("POST", "/v1/models/elec/feedback"),
    ]:
        assert target(method, path) is None, (method, path)
    assert PredictRoute.target({"type": "lifespan"}) is None


def test_deadlines_cancel_only_what_is_late() -> None:
    async def main() -> None:
        deadlines = Deadlines(period=0.01)
        never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await deadlines.wait(never, started + 0.05)
        assert 0.05 <= time.monotonic() - started < 1
        assert await deadlines.wait(asyncio.sleep(0.02, "answer"), time.monotonic() + 5) == "answer"
        # A cancellation from elsewhere is not a timeout.
        task = asyncio.create_task(deadlines.wait(asyncio.sleep(5), time.monotonic() + 5))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
