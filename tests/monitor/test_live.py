"""Live monitoring end to end: a real server process serves a model, its Parquet log is checked.

The model is trained on a random 70% of the first 4,000 rows of the electricity data. Traffic is
first the other 30% of those rows (same distribution: Stable), then 1,200 rows from two years
later (the market changed: Drift), each with its true labels sent back as feedback.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from modelcycle.data import load_table, profile_table
from modelcycle.monitor import DriftStatus, Monitor, check_window, monitor_report

sys.path.insert(0, str(Path(__file__).parents[1] / "serve"))
from _serve_helpers import Server, World, free_port, run_cli

pytestmark = pytest.mark.slow
FEATURES = ["period", "nswprice", "nswdemand", "vicprice", "vicdemand", "transfer"]
BATCH = 100


class Live:
    """The world after the traffic: where things are, and what was sent."""

    def __init__(self, world: World, pipeline: Pipeline, early: pd.DataFrame, late: pd.DataFrame):
        self.world = world
        self.pipeline = pipeline
        self.early = early
        self.late = late
        self.middle = datetime.now(UTC)

    def where(self) -> dict[str, Any]:
        w = self.world
        return {"registry": w.registry, "store": w.store(), "log_dir": w.log_dir}


def _send(server: Server, rows: pd.DataFrame) -> None:
    """Predict in batches and send every row's true label back as feedback."""
    for start in range(0, len(rows), BATCH):
        part = rows.iloc[start : start + BATCH]
        answer = server.predict("elec", part[FEATURES].to_dict(orient="records"))
        assert answer.status_code == 200, answer.text
        rid = answer.json()["request_id"]
        items = [
            {"request_id": rid, "row": i, "actual": int(y)} for i, y in enumerate(part["class"])
        ]
        sent = server.client.post("/v1/models/elec/feedback", json={"feedback": items})
        assert sent.status_code == 202, sent.text


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, mlflow_template: Path, data_dir: Path) -> Live:
    import shutil

    frame = pd.read_csv(data_dir / "electricity.csv")
    first = frame.iloc[:4000]
    train = first.sample(frac=0.7, random_state=0)
    early = first.drop(train.index).sample(n=1200, random_state=1)
    late = frame.iloc[40000:41200]
    table = load_table(train.reset_index(drop=True), target="class")
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    pipeline.fit(table.X, table.y)

    home = tmp_path_factory.mktemp("live-home")
    shutil.copy(mlflow_template, home / "mlflow.db")
    world = World(home)
    info = world.registry.register(
        "elec",
        pipeline,
        run_id=None,
        recipe={"family": "LogisticRegression", "schema": table.schema.to_dict()},
        input_example=table.X.head(5),
        reference_profile=profile_table(table),
    )
    world.registry.set_alias("elec", "production", info.version)

    server = Server(world, [], {"MODELCYCLE_SERVE_LOG_FLUSH_INTERVAL": "0.5"})
    try:
        server.wait_ready()
        _send(server, early)
        time.sleep(0.05)  # the early rows' timestamps all precede `middle`
        state = Live(world, pipeline, early, late)
        time.sleep(0.05)
        _send(server, late)
    finally:
        code = server.stop()  # graceful: the log holds every row served and every label
    assert code == 0, server.stderr
    return state


def test_traffic_like_training_is_stable(live: Live) -> None:
    result = check_window("elec", window="1200rows", end=live.middle, **live.where())
    assert result.rows == 1200 and result.labeled_rows == 1200
    assert result.version == "1" and result.window_end == live.middle
    assert result.drift is not None and result.drift.status is DriftStatus.STABLE, result.reasons
    assert result.status is DriftStatus.STABLE, result.reasons
    assert result.prediction_drift is not None and result.label_drift is not None
    assert result.stream is not None and result.stream["n_seen"] == 1200
    # The estimate without labels lands near the measured accuracy on the same rows.
    assert abs(result.estimated["accuracy"] - result.performance["accuracy"]) < 0.05


def test_later_traffic_drifts_with_reasons_and_exact_performance(live: Live) -> None:
    where = live.where()
    result = check_window("elec", window="1200rows", thresholds={"accuracy": 0.9}, **where)
    assert result.rows == 1200 and result.labeled_rows == 1200
    assert result.status is DriftStatus.DRIFT
    assert result.drift is not None and result.drift.status is DriftStatus.DRIFT
    assert any(r.startswith("drift in ") and "effect" in r for r in result.reasons)
    assert any(r.startswith("accuracy ") and "< 0.900" in r for r in result.reasons)

    # Live performance is sklearn's on the same rows.
    y = live.late["class"].to_numpy()
    X = live.late[FEATURES]
    predicted = live.pipeline.predict(X)
    proba = live.pipeline.predict_proba(X)[:, 1]
    assert result.performance["accuracy"] == pytest.approx(accuracy_score(y, predicted), abs=1e-12)
    assert result.performance["f1"] == pytest.approx(f1_score(y, predicted), abs=1e-12)
    assert result.performance["roc_auc"] == pytest.approx(roc_auc_score(y, proba), abs=1e-9)

    # Recorded: metrics per window, a "monitor" event, and a status-change event.
    store = where["store"]
    statuses = store.metrics("elec", "status")
    assert [m.value for m in statuses][-1] == 2.0
    changes = store.events("elec", kinds="drift")
    assert changes and changes[-1].details["to"] == "Drift"
    assert json.dumps(result.to_dict())  # JSON-safe

    page = monitor_report("elec", live.world.home / "history.html", store=store)
    text = page.read_text()
    assert "Status over time" in text and "Latest window" in text and "drift in" in text


def test_empty_window_is_a_clear_result(live: Live) -> None:
    old = datetime(2001, 1, 1, tzinfo=UTC)
    result = check_window("elec", window="1h", end=old, record=False, **live.where())
    assert result.rows == 0 and result.drift is None and result.status is DriftStatus.STABLE
    assert result.performance == {} and result.estimated == {}
    assert "only 0 rows" in result.reasons[0]


def test_monitor_exports_prometheus_gauges(live: Live) -> None:
    where = live.where()
    monitor = Monitor("elec", window="1200rows", alerts=False, metrics_port=free_port(), **where)
    port = monitor.serve_metrics()
    try:
        assert monitor.run_once().status is DriftStatus.DRIFT
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        monitor._metrics_server.shutdown()
    assert 'modelcycle_monitor_status{model="elec"} 2.0' in text
    assert 'modelcycle_monitor_performance{metric="accuracy",model="elec"}' in text
    share = next(
        line for line in text.splitlines() if line.startswith("modelcycle_monitor_drift_share")
    )
    assert 0 < float(share.split()[-1]) <= 1


def test_cli_once_json_fail_on_drift_and_html(live: Live) -> None:
    html = live.world.home / "cli.html"
    done = run_cli(
        live.world,
        "monitor",
        "elec",
        "--once",
        "--json",
        "--window",
        "1200rows",
        "--fail-on-drift",
        "--no-alerts",
        "--html",
        str(html),
    )
    assert done.returncode == 3, done.stderr
    out = json.loads(done.stdout)
    assert out["status"] == "Drift" and out["rows"] == 1200 and out["reasons"]
    assert np.isfinite(out["performance"]["accuracy"]) and html.is_file()


def test_cli_unknown_model_is_one_line_exit_1(
    live: Live, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # In process (the command above already proves the process path): same handler, no startup.
    from modelcycle.cli import run_main

    monkeypatch.setenv("MODELCYCLE_HOME", str(live.world.home))
    with pytest.raises(SystemExit) as exit_:
        run_main(["monitor", "nope", "--once"])
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope" in err and "Traceback" not in err


def test_monitor_loop_stops_on_sigterm(live: Live) -> None:
    import os
    import signal

    monitor = Monitor("elec", window="1200rows", every="1h", alerts=False, **live.where())
    seen: list[DriftStatus] = []

    def on_result(result: Any) -> None:
        seen.append(result.status)
        os.kill(os.getpid(), signal.SIGTERM)  # handled by run(): finish, do not die

    before = signal.getsignal(signal.SIGTERM)
    monitor.run(on_result=on_result)  # would wait an hour for the next check without the signal
    assert seen == [DriftStatus.DRIFT] and signal.getsignal(signal.SIGTERM) is before
