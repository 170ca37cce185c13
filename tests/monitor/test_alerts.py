"""Webhook alerts, received by a real HTTP server on loopback: retries, no duplicates, clearing."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from modelcycle.monitor import Alerter, DriftStatus, WindowResult
from modelcycle.store import MetadataStore

SECRET = "T0000/B0000/s3cr3t-t0k3n"


class Receiver:
    """A webhook on 127.0.0.1 that records each JSON body and answers with scripted codes."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.codes: list[int] = []  # answers to give, first first; 200 once used up
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                received.bodies.append(json.loads(self.rfile.read(length)))
                code = received.codes.pop(0) if received.codes else 200
                self.send_response(code)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:  # keep the test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/{SECRET}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def firing(self) -> list[dict[str, Any]]:
        return [b for b in self.bodies if b["modelcycle"]["state"] == "firing"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def store(tmp_path: Path) -> MetadataStore:
    return MetadataStore(f"sqlite:///{tmp_path / 'mc.db'}")


def result(drift: str = "Stable", performance: str = "Stable") -> WindowResult:
    now = datetime.now(UTC)
    d, p = DriftStatus(drift), DriftStatus(performance)
    reasons = ("drift in nswprice (p<0.001, effect 0.42)",) if d is not DriftStatus.STABLE else ()
    reasons += ("accuracy 0.610 < 0.700",) if p is not DriftStatus.STABLE else ()
    return WindowResult(
        "elec",
        "3",
        now,
        now,
        500,
        200,
        None,
        {"accuracy": 0.61},
        {},
        DriftStatus.worst([d, p]),
        reasons,
        drift_status=d,
        performance_status=p,
    )


def alerter(receiver: Receiver, store: MetadataStore, sleeps: list[float]) -> Alerter:
    return Alerter([receiver.url], store=store, retries=2, backoff=0.25, sleep=sleeps.append)


def test_a_failed_post_is_retried_with_backoff(receiver: Receiver, store: MetadataStore) -> None:
    receiver.codes = [500]
    sleeps: list[float] = []
    [alert] = alerter(receiver, store, sleeps).notify(result(drift="Drift"))
    assert alert.delivered and alert.deliveries[0].attempts == 2 and sleeps == [0.25]
    assert len(receiver.bodies) == 2 and receiver.bodies[0] == receiver.bodies[1]
    body = receiver.bodies[-1]
    assert body["text"].count("elec") == 1 and "drift in nswprice" in body["text"]
    assert body["blocks"] and body["attachments"][0]["color"]
    assert body["modelcycle"]["condition"] == "drift" and body["modelcycle"]["level"] == "Drift"
    [event] = store.events("elec", kinds="alert")
    assert event.details["delivered"] and event.details["state"] == "firing"


def test_one_alert_per_condition_until_it_clears(receiver: Receiver, store: MetadataStore) -> None:
    sleeps: list[float] = []
    watch = alerter(receiver, store, sleeps)
    assert [a.level for a in watch.notify(result(drift="Warning"))] == [DriftStatus.WARNING]
    assert watch.notify(result(drift="Warning")) == []  # persists: quiet
    assert [a.level for a in watch.notify(result(drift="Drift"))] == [DriftStatus.DRIFT]  # worse
    assert watch.notify(result(drift="Warning")) == []  # better but not cleared: quiet
    # A restarted monitor (or another replica) reads the state from the store: still quiet.
    again = alerter(receiver, MetadataStore(store.uri), sleeps)
    assert again.notify(result(drift="Drift")) == []
    assert [a.state for a in again.notify(result())] == ["cleared"]
    assert [a.state for a in again.notify(result(drift="Drift"))] == ["firing"]
    assert [b["modelcycle"]["level"] for b in receiver.firing()] == ["Warning", "Drift", "Drift"]
    assert len(receiver.bodies) == 4  # three firing, one cleared


def test_performance_is_its_own_condition(receiver: Receiver, store: MetadataStore) -> None:
    watch = alerter(receiver, store, [])
    assert [a.condition for a in watch.notify(result(drift="Drift"))] == ["drift"]
    fired = watch.notify(result(drift="Drift", performance="Drift"))
    assert [a.condition for a in fired] == ["performance"]
    assert "accuracy 0.610 < 0.700" in receiver.bodies[-1]["text"]


def test_undelivered_alert_is_tried_again_and_url_secret_never_logged(
    receiver: Receiver, store: MetadataStore, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.codes = [503, 503, 503]
    sleeps: list[float] = []
    with caplog.at_level(logging.WARNING):
        [alert] = alerter(receiver, store, sleeps).notify(result(drift="Drift"))
    assert not alert.delivered and alert.deliveries[0].status_code == 503
    assert sleeps == [0.25, 0.5]  # doubled each retry
    assert SECRET not in caplog.text and "127.0.0.1" in caplog.text
    assert SECRET not in json.dumps([e.details for e in store.events("elec")])
    # Not delivered, so not counted: the next check sends it.
    assert [a.delivered for a in alerter(receiver, store, []).notify(result(drift="Drift"))] == [
        True
    ]


def test_webhooks_come_from_the_settings(
    receiver: Receiver, store: MetadataStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELCYCLE_WEBHOOKS", f" {receiver.url} ,")
    Alerter(store=store).notify(result(performance="Warning"))
    assert len(receiver.bodies) == 1


def test_no_webhook_still_records_the_alert(store: MetadataStore) -> None:
    [alert] = Alerter([], store=store).notify(result(drift="Drift"))
    assert alert.delivered and alert.deliveries == ()
    assert Alerter([], store=store).notify(result(drift="Drift")) == []
