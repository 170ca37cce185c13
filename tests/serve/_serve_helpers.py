"""Helpers of the server tests: worlds (home folders), server processes, the CLI, waiting."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from modelcycle.data import Table, profile_table
from modelcycle.registry import ModelVersionInfo, Registry
from modelcycle.store import MetadataStore


class World:
    """One home folder: an MLflow store, a metadata store and a log folder, and helpers."""

    def __init__(self, home: Path, env: dict[str, str] | None = None) -> None:
        self.home = home
        self.env = {"MODELCYCLE_HOME": str(home), **(env or {})}
        tracking = self.env.get("MODELCYCLE_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
        self.registry = Registry(tracking, artifact_location=(home / "artifacts").as_uri())
        self.store_uri = self.env.get("MODELCYCLE_STORE_URI", f"sqlite:///{home / 'modelcycle.db'}")
        self.log_dir = home / "logs"

    def store(self) -> MetadataStore:
        return MetadataStore(self.store_uri)

    def register(
        self, name: str, pipeline: Any, table: Table, *, alias: str | None = None
    ) -> ModelVersionInfo:
        info = self.registry.register(
            name,
            pipeline,
            run_id=None,
            recipe={"family": type(pipeline[-1]).__name__},
            input_example=table.X.head(5),
            reference_profile=profile_table(table, sample_size=200),
        )
        if alias is not None:
            self.registry.set_alias(name, alias, info.version)
        return info

    def artifact_file(self, info: ModelVersionInfo, file_name: str = "model.skops") -> Path:
        """The stored artifact file of a version (to corrupt it)."""
        assert info.model_id is not None
        found = [p for p in self.home.rglob(file_name) if info.model_id in p.parts]
        assert len(found) == 1, found
        return found[0]


# -- servers -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_cli(
    world: World, *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``modelcycle ARGS`` as a process in the world's home."""
    return subprocess.run(
        [sys.executable, "-m", "modelcycle", *args],
        capture_output=True,
        text=True,
        env=_environment(world, env),
        timeout=timeout,
    )


def _environment(world: World, extra: dict[str, str] | None) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MODELCYCLE_", "PROMETHEUS_"))}
    return {**base, "OMP_NUM_THREADS": "1", **world.env, **(extra or {})}


class Server:
    """A ``modelcycle serve`` process and an HTTP client for it."""

    def __init__(self, world: World, args: list[str], env: dict[str, str] | None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stderr_path = world.home / f"server-{self.port}.err"
        self._stderr = self.stderr_path.open("w")
        command = [sys.executable, "-m", "modelcycle", "serve", "--port", str(self.port)]
        self.process = subprocess.Popen(
            [*command, "--poll-interval", "0.2", *args],
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            env=_environment(world, env),
        )
        self.client = httpx.Client(base_url=self.url, timeout=30)

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited early:\n{self.stderr}")
            try:
                if self.client.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the server was not ready within {timeout} s:\n{self.stderr}")

    def predict(self, name: str, rows: list[dict[str, Any]], **kwargs: Any) -> httpx.Response:
        return self.client.post(f"/v1/models/{name}/predict", json={"inputs": rows}, **kwargs)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Stop the server gracefully and return its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError(
                    f"the server did not stop on {sig!r}:\n{self.stderr}"
                ) from None
        self.client.close()
        self._stderr.close()
        return int(self.process.returncode)


def wait_for(condition: Any, timeout: float = 30, interval: float = 0.1) -> Any:
    """Poll ``condition()`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last value {value!r})")
        time.sleep(interval)


def rows_of(table: Table, n: int, start: int = 0) -> list[dict[str, Any]]:
    """Rows as a JSON client would send them (NaN as null)."""
    import orjson

    frame = table.X.iloc[start : start + n]
    return orjson.loads(
        orjson.dumps(frame.to_dict(orient="records"), option=orjson.OPT_SERIALIZE_NUMPY)
    )
