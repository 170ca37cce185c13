"""`modelcycle demo`: the whole loop on the embedded default, narrated step by step.

Learn on the early part of the electricity data, deploy, serve, send later (drifted) traffic with
feedback over HTTP, find the drift, retrain, judge, promote, and watch the server swap models.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import typer

from modelcycle.cli._app import app, console
from modelcycle.cli._render import fmt, leaderboard_table
from modelcycle.config import get_settings
from modelcycle.exceptions import ModelcycleError, TableNotFoundError

# The early part trains the first model; the traffic comes from much later, after the market
# changed (the drift the loop has to catch).
_TRAIN_ROWS = 4500
_TRAFFIC = slice(30000, 33000)
_BATCH = 100
_DEMO_POLICY = """\
# The demo's policy: retrain on drift or a drop of accuracy, promote automatically.
triggers:
  drift: {status: Drift}
  performance: {drop: 0.05, min_rows: 200}
# two candidate windows: the retrain keeps the one whose model does better on the newest rows
data: [all, last:2000]
gate: {margin: 0.0, holdout: 0.25, min_rows: 200}
action: promote
cooldown: 1h
max_retrains_per_day: 4
guard: {window: 1d, tolerance: 0.02}
monitor: {window: 1d, min_rows: 200}
"""


def _find_data(name: str) -> Path:
    """The shared data folder sits beside the checkout (``../shared/data``)."""
    for base in (Path.cwd(), *Path.cwd().parents):
        candidate = base / "shared" / "data" / name
        if candidate.is_file():
            return candidate
        candidate = base.parent / "shared" / "data" / name
        if candidate.is_file():
            return candidate
    raise TableNotFoundError(f"../shared/data/{name}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@app.command()
def demo(
    data: Path | None = typer.Option(
        None, help="The electricity table (default: ../shared/data/electricity.csv)."
    ),
    name: str = typer.Option("elec", help="Name to register the model under."),
) -> None:
    """The whole loop: learn, deploy, serve, drift, retrain, gate, promote, hot-swap."""
    import pandas as pd

    started = time.monotonic()
    settings = get_settings()
    home = settings.resolved_home()
    source = data or _find_data("electricity.csv")
    frame = pd.read_csv(source)
    work = home / "demo"
    work.mkdir(parents=True, exist_ok=True)
    early = work / "electricity_early.csv"
    frame.iloc[:_TRAIN_ROWS].to_csv(early, index=False)
    traffic = frame.iloc[_TRAFFIC].reset_index(drop=True)
    policy_file = work / "loop.yaml"
    policy_file.write_text(_DEMO_POLICY, encoding="utf-8")

    console.rule("[bold]modelcycle demo: the whole loop")
    console.print(f"home: {home}  (tracking: {settings.effective_tracking_uri})", highlight=False)
    version = _learn(early, name)
    server = _Server(home, name)
    try:
        server.start()
        _step(3, f"serve: the server answers on {server.url} with version {version}")
        _step(4, f"traffic: {len(traffic)} later rows (months after training) with feedback")
        accuracy = server.send(traffic)
        console.print(f"   live accuracy of version {version}: {fmt(accuracy)}")
        step = _loop(name, policy_file)
        if step.promoted is None:
            raise ModelcycleError("The loop did not promote a challenger; see the reasons above.")
        _step(8, f"hot-swap: waiting for the server to serve version {step.promoted}")
        served = server.wait_for_version(step.promoted)
        console.print(f"   the server now answers with version [bold]{served}[/]")
        after = server.accuracy(traffic.tail(500))
        console.print(f"   accuracy on the newest 500 rows: {fmt(after)}")
    finally:
        code = server.stop()
        console.print(f"[bold]9. stop[/]: server stopped gracefully (exit {code})")
    console.print(
        f"done in {time.monotonic() - started:.0f} s. Next: `modelcycle loop history {name}`, "
        f"`modelcycle loop run {name} --policy {policy_file}`",
        highlight=False,
    )


def _step(number: int, text: str) -> None:
    console.print(f"[bold]{number}. {text}[/]", highlight=False)


def _learn(path: Path, name: str) -> int:
    from modelcycle.learn import Learner, register
    from modelcycle.serve import deploy

    _step(1, f"learn: logistic regression and LightGBM on the first {_TRAIN_ROWS} rows")
    learner = Learner(
        str(path), "class", validation="kfold:3", metric="accuracy", n_jobs=2, time_limit=120
    )
    board = learner.compare(["logistic_regression", "lightgbm"])
    console.print(leaderboard_table(board, f"{path.name} → class"))
    info = register(learner.best_, name)
    deploy(name, info.version, actor="demo", reason="first model")
    _step(2, f"register + deploy: {board.best.name} is {name} version {info.version} @production")
    return info.version


def _loop(name: str, policy: Path) -> Any:
    from modelcycle.loop._run import run_once
    from modelcycle.registry import Registry

    _step(5, "monitor + decide: check the window of traffic against the policy")
    step = run_once(name, policy)
    for reason in (*step.notes, *step.decision.reasons):
        console.print(f"   · {reason}", highlight=False)
    console.print(f"   decision: [bold]{step.decision.action}[/]")
    if step.challenger is not None:
        _step(6, f"retrain: version {step.challenger} registered @challenger")
        description = Registry().get_version(name, version=step.challenger).description
        console.print(f"   {description}", highlight=False)
    if step.gate is not None:
        verdict = "[green]passed[/]" if step.gate.passed else "[red]rejected[/]"
        _step(7, f"gate on the newest {step.gate.rows} labeled rows: {verdict}")
        for reason in step.gate.reasons:
            console.print(f"   {reason}", highlight=False)
    if step.promoted is not None:
        console.print(f"   promoted version {step.promoted} to @production")
    return step


class _Server:
    """A ``modelcycle serve`` subprocess on a free loopback port, and a client for it."""

    def __init__(self, home: Path, name: str) -> None:
        import httpx

        self.name = name
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home / "demo" / "server.log"
        self.client = httpx.Client(base_url=self.url, timeout=30)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90) -> None:
        env = {
            **os.environ,
            "MODELCYCLE_SERVE_LOG_FLUSH_INTERVAL": "0.5",
            "OMP_NUM_THREADS": "1",
        }
        with self.log.open("wb") as err:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "modelcycle",
                    "serve",
                    "--port",
                    str(self.port),
                    "--poll-interval",
                    "1",
                ],
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=env,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ModelcycleError(f"The server exited early; see {self.log}.")
            try:
                if self.client.get("/readyz").status_code == 200:
                    return
            except Exception:  # not listening yet
                pass
            time.sleep(0.2)
        raise ModelcycleError(f"The server was not ready within {timeout:.0f} s; see {self.log}.")

    def send(self, rows: Any) -> float:
        """Predict ``rows`` in batches, send their labels back as feedback; the live accuracy."""
        import orjson

        right = 0
        features = rows.drop(columns=["class"])
        for start in range(0, len(rows), _BATCH):
            part = features.iloc[start : start + _BATCH]
            body = orjson.loads(orjson.dumps(part.to_dict(orient="records")))
            answer = self.client.post(f"/v1/models/{self.name}/predict", json={"inputs": body})
            answer.raise_for_status()
            out = answer.json()
            actual = rows["class"].iloc[start : start + _BATCH].tolist()
            right += sum(int(p == a) for p, a in zip(out["predictions"], actual, strict=True))
            feedback = [
                {"request_id": out["request_id"], "row": i, "actual": a}
                for i, a in enumerate(actual)
            ]
            self.client.post(
                f"/v1/models/{self.name}/feedback", json={"feedback": feedback}
            ).raise_for_status()
        time.sleep(1.5)  # the server's log writer flushes every 0.5 s
        return right / len(rows)

    def accuracy(self, rows: Any) -> float:
        import orjson

        body = orjson.loads(orjson.dumps(rows.drop(columns=["class"]).to_dict(orient="records")))
        out = self.client.post(f"/v1/models/{self.name}/predict", json={"inputs": body}).json()
        return sum(
            int(p == a) for p, a in zip(out["predictions"], rows["class"], strict=True)
        ) / len(rows)

    def wait_for_version(self, version: int, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            probe = self.client.post(
                f"/v1/models/{self.name}/predict",
                json={
                    "inputs": [
                        {
                            "period": 0.5,
                            "nswprice": 0.05,
                            "nswdemand": 0.4,
                            "vicprice": 0.003,
                            "vicdemand": 0.42,
                            "transfer": 0.41,
                        }
                    ]
                },
            ).json()
            if int(probe.get("version", 0)) == version:
                return version
            time.sleep(0.3)
        raise ModelcycleError(f"The server did not swap to version {version} within {timeout} s.")

    def stop(self) -> int | None:
        self.client.close()
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode
