"""modelcycle serve against ``mlflow models serve`` on the same registered models, in one run.

Registers a scaled logistic regression and a 200-tree LightGBM trained on electricity.csv in a
temporary home, starts ``mlflow models serve`` (one per model, ``--env-manager local``),
``modelcycle serve`` (prediction log on, as shipped, and with ``--no-log``) and a FastAPI app
that parses the body and answers a constant (the floor), each with the same number of workers
and one math thread per worker, all on loopback. Each is warmed up and then loaded by wrk with
the same settings, for a one-row and a 100-row ``dataframe_split`` body (a format both servers
read). The servers compared for a model and body size take turns in short rounds (three of 5 s
each by default), so that a change in a shared machine's load falls on all of them.
Beside the HTTP numbers it reports the in-process cost of ``predict_rows`` (compiled and through
the scikit-learn pipeline) and of the bare pipeline, and the load average.

Reproduce (wrk: ``apt-get install wrk``)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/serve/bench_vs_mlflow.py

Writes ``benchmarks/results/serve.json`` and the table in ``benchmarks/results/serve.md``.
Every process it starts is stopped when it ends, also on an error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
DATA = ROOT.parent / "shared" / "data" / "electricity.csv"
RESULTS = ROOT / "benchmarks" / "results"
TARGET = "class"
MODELS = {
    # name: (preset family, hyperparameters, label in the table)
    "elec_lr": ("logistic_regression", {}, "logistic regression (scaled)"),
    "elec_lgbm": ("lightgbm", {"n_estimators": 200}, "LightGBM, 200 trees"),
}
BATCHES = (1, 100)
COMMAND = "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/serve/bench_vs_mlflow.py"
_LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open(os.getenv("BODY"), "rb"))
wrk.body = f:read("*a")
f:close()
"""


@dataclass
class Run:
    """One wrk measurement."""

    server: str
    model: str
    rows: int
    requests_per_s: float
    rows_per_s: float
    p50_ms: float
    p99_ms: float
    failed: int


class Processes:
    """Every process the benchmark starts, each in its own session so that stopping it stops
    its workers too."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], env: dict[str, str], log: Path, cwd: Path = ROOT) -> None:
        with log.open("wb") as out:
            process = subprocess.Popen(
                args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.started.append(process)

    def stop_all(self) -> None:
        for process in self.started:
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.started:
            with suppress(subprocess.TimeoutExpired):
                process.wait(max(0.1, deadline - time.monotonic()))
            # The group may hold workers even when its leader is gone.
            _signal_group(process, signal.SIGKILL)
            process.wait()
        self.started.clear()


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def _raise_on_term(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# -- models and bodies ---------------------------------------------------------------------------


def register_models(home: Path) -> dict[str, Path]:
    """Train and register both models in ``home``; return each one's artifact folder."""
    import pandas as pd

    from modelcycle.data import load_table, profile_table
    from modelcycle.learn import get_spec
    from modelcycle.registry import Registry

    table = load_table(pd.read_csv(DATA), target=TARGET)
    registry = Registry(
        f"sqlite:///{home / 'mlflow.db'}", artifact_location=(home / "artifacts").as_uri()
    )
    folders = {}
    for name, (family, params, _) in MODELS.items():
        spec = get_spec(family, table.task)
        pipeline = spec.build(table.schema, params=params, random_state=0).fit(table.X, table.y)
        info = registry.register(
            name,
            pipeline,
            run_id=None,
            recipe={"family": family, "params": params},
            input_example=table.X.head(5),
            reference_profile=profile_table(table),
        )
        registry.set_alias(name, "production", info.version)
        assert info.model_id is not None
        found = [p.parent for p in home.rglob("MLmodel") if info.model_id in p.parts]
        folders[name] = found[0]
    return folders


def write_bodies(folder: Path) -> dict[int, Path]:
    """One-row and 100-row ``dataframe_split`` bodies of electricity rows."""
    import pandas as pd

    frame = pd.read_csv(DATA).drop(columns=[TARGET]).sample(n=max(BATCHES), random_state=1)
    bodies = {}
    for rows in BATCHES:
        part = frame.head(rows)
        body = {"dataframe_split": {"columns": list(part.columns), "data": part.values.tolist()}}
        bodies[rows] = folder / f"body-{rows}.json"
        bodies[rows].write_text(json.dumps(body))
    return bodies


# -- in process ------------------------------------------------------------------------------------


def in_process(home: Path, bodies: dict[int, Path]) -> dict[str, Any]:
    """Median latency of predict_rows (compiled and pipeline) and of the bare pipeline."""
    import pandas as pd
    from threadpoolctl import threadpool_limits

    from modelcycle.registry import Registry
    from modelcycle.serve import ServedModel

    threadpool_limits(1)
    registry = Registry(
        f"sqlite:///{home / 'mlflow.db'}", artifact_location=(home / "artifacts").as_uri()
    )
    out: dict[str, Any] = {}
    for name in MODELS:
        loaded = registry.load(name, alias="production")
        compiled = ServedModel.prepare(loaded)
        pipeline = ServedModel.prepare(loaded, compile=False)
        entry: dict[str, Any] = {"inference": compiled.describe_inference()}
        for rows, path in bodies.items():
            split = json.loads(path.read_text())["dataframe_split"]
            frame = pd.DataFrame(split["data"], columns=split["columns"])
            entry[str(rows)] = _latencies(compiled, pipeline, frame, max(20, 2000 // rows))
        out[name] = entry
    return out


def _latencies(compiled: Any, pipeline: Any, frame: Any, n: int) -> dict[str, float]:
    from modelcycle.serve import predict_rows

    records = frame.to_dict(orient="records")
    model = compiled.model.pipeline
    return {
        "predict_rows_compiled_us": _median_us(lambda: predict_rows(compiled, records), n),
        "predict_rows_pipeline_us": _median_us(lambda: predict_rows(pipeline, records), n),
        "pipeline_predict_proba_us": _median_us(lambda: model.predict_proba(frame), n),
    }


def _median_us(call: Callable[[], Any], n: int) -> float:
    for _ in range(max(5, n // 10)):
        call()
    times = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1e6, 1)


# -- servers ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, timeout: float, body: bytes | None = None, in_a_row: int = 30) -> None:
    """Until ``url`` answers 200 ``in_a_row`` times (a POST of ``body`` when given).

    Each request opens a new connection, so with several workers, which accept connections in
    turn, a run of successes means every worker has loaded its models.
    """
    deadline = time.monotonic() + timeout
    successes = 0
    while successes < in_a_row:
        request = urllib.request.Request(url, data=body, method="POST" if body else "GET")
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                successes = successes + 1 if response.status == 200 else 0
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            successes = 0
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer 200 {in_a_row} times within {timeout} s")
        if not successes:
            time.sleep(0.5)


def post(url: str, body: bytes) -> Any:
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


# -- wrk -------------------------------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def wrk(
    url: str, body: Path, lua: Path, *, threads: int, connections: int, seconds: float
) -> dict[str, float]:
    """Run wrk once (for whole seconds: wrk takes no fractions) and parse requests/s, p50, p99
    and failures from its report."""
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
    args += ["-s", str(lua), url]
    env = {**os.environ, "BODY": str(body)}
    text = subprocess.run(
        args, env=env, capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if found is None:
        raise RuntimeError(f"cannot read wrk's report:\n{text}")
    rps = float(found.group(1))
    quantiles = {
        q: float(value) * _UNITS[unit]
        for q, value, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
    }
    failed = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses:\s+(\d+)", text))
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    if errors:
        failed += sum(int(n) for n in errors.groups())
    return {"rps": rps, "p50": quantiles["50"], "p99": quantiles["99"], "failed": failed}


# -- the run ---------------------------------------------------------------------------------------


@contextmanager
def temporary_home() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="modelcycle-bench-serve-") as folder:
        yield Path(folder)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration", type=float, default=15.0, help="seconds of load per server and body"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="turns the servers take within that time"
    )
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up load")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--out", type=Path, default=RESULTS / "serve.json")
    args = parser.parse_args()
    # One math thread per process, set before NumPy loads here; the servers inherit it.
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = "1"
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _raise_on_term)
    processes = Processes()
    started = time.monotonic()
    with temporary_home() as home:
        try:
            results = run(home, processes, args)
        finally:
            # Before the home goes: a server stopping writes its prediction log there.
            processes.stop_all()
    results["wall_s"] = round(time.monotonic() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    table = render(results)
    args.out.with_suffix(".md").write_text(table)
    print(table)
    return 0 if all(results["budgets"].values()) else 1


def run(home: Path, processes: Processes, args: argparse.Namespace) -> dict[str, Any]:
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "MODELCYCLE_HOME": str(home),
        # mlflow models serve runs `uvicorn` from PATH.
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        "PYTHONUNBUFFERED": "1",
    }
    env = {k: v for k, v in env.items() if not k.startswith("MODELCYCLE_SERVE_")}
    print("registering the models ...", flush=True)
    folders = register_models(home)
    bodies = write_bodies(home)
    lua = home / "post.lua"
    lua.write_text(_LUA)
    print("measuring in process ...", flush=True)
    local = in_process(home, bodies)

    workers = str(args.workers)
    urls: dict[tuple[str, str], str] = {}
    for name, folder in folders.items():
        port = free_port()
        processes.start(
            [
                *(str(Path(bin_dir) / "mlflow"), "models", "serve", "-m", str(folder)),
                *("--env-manager", "local"),
                *("--workers", workers, "-h", "127.0.0.1", "-p", str(port)),
            ],
            env,
            home / f"mlflow-{name}.log",
        )
        urls[("mlflow", name)] = f"http://127.0.0.1:{port}/invocations"
    for server, extra in (("modelcycle", []), ("modelcycle --no-log", ["--no-log"])):
        port = free_port()
        processes.start(
            [
                *(sys.executable, "-m", "modelcycle", "serve"),
                *("--port", str(port), "--workers", workers, *extra),
            ],
            env,
            home / f"{server.replace(' ', '')}.log",
        )
        for name in MODELS:
            urls[(server, name)] = f"http://127.0.0.1:{port}/v1/models/{name}/predict"
    port = free_port()
    processes.start(
        [
            *(sys.executable, "-m", "uvicorn", "--factory", "_floor_app:create"),
            *("--host", "127.0.0.1", "--port", str(port), "--workers", workers),
            *("--log-level", "warning", "--no-access-log"),
        ],
        env,
        home / "floor.log",
        cwd=HERE,
    )
    urls[("floor", "constant")] = f"http://127.0.0.1:{port}/invocations"

    print("waiting for the servers ...", flush=True)
    one = bodies[1].read_bytes()
    for url in urls.values():
        wait_for(url, timeout=180, body=one)
    agreement = check_agreement(urls, bodies)

    load_before = os.getloadavg()
    runs: list[Run] = []
    compared = ("mlflow", "modelcycle", "modelcycle --no-log")
    groups = [(model, rows, compared) for model in MODELS for rows in BATCHES]
    groups += [("constant", rows, ("floor",)) for rows in BATCHES]
    options = {"threads": args.threads, "connections": args.connections}
    for model, rows, servers in groups:
        targets = {server: urls[(server, model)] for server in servers}
        if args.warmup > 0:
            for url in targets.values():
                wrk(url, bodies[rows], lua, seconds=args.warmup, **options)
        # The servers take turns in short rounds, so that a change in the machine's load (it is
        # shared) falls on all of them rather than on whichever ran at that moment.
        slices: dict[str, list[dict[str, float]]] = {server: [] for server in servers}
        for _ in range(args.rounds):
            for server, url in targets.items():
                seconds = args.duration / args.rounds
                slices[server].append(wrk(url, bodies[rows], lua, seconds=seconds, **options))
        for server in servers:
            result = combine(server, model, rows, slices[server])
            runs.append(result)
            print(
                f"{server:22s} {model:10s} {rows:4d} rows: {result.requests_per_s:9.1f} req/s, "
                f"p50 {result.p50_ms:8.2f} ms, p99 {result.p99_ms:8.2f} ms, "
                f"failed {result.failed}",
                flush=True,
            )
    load_after = os.getloadavg()
    return {
        "settings": {
            "workers": args.workers,
            "wrk": f"-t{args.threads} -c{args.connections} --latency",
            "seconds_per_server": args.duration,
            "rounds": args.rounds,
            "warmup_s": args.warmup,
            "data": "electricity.csv (45,312 rows, 6 numeric features)",
            "math_threads_per_worker": 1,
            "command": COMMAND,
        },
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in load_after],
        },
        "in_process": local,
        "agreement": agreement,
        "runs": [asdict(r) for r in runs],
        **judge(runs),
    }


def combine(server: str, model: str, rows: int, slices: list[dict[str, float]]) -> Run:
    """One server's rounds as one measurement: the mean rate (the rounds are equally long)
    and the median of the rounds' p50 and p99."""
    rps = statistics.mean(s["rps"] for s in slices)
    return Run(
        server=server,
        model=model,
        rows=rows,
        requests_per_s=round(rps, 1),
        rows_per_s=round(rps * rows, 1),
        p50_ms=round(statistics.median(s["p50"] for s in slices), 3),
        p99_ms=round(statistics.median(s["p99"] for s in slices), 3),
        failed=int(sum(s["failed"] for s in slices)),
    )


def check_agreement(urls: dict[tuple[str, str], str], bodies: dict[int, Path]) -> dict[str, bool]:
    """Whether both servers give the same labels for the 100-row body (same model, same
    answers)."""
    body = bodies[max(BATCHES)].read_bytes()
    same = {}
    for name in MODELS:
        theirs = post(urls[("mlflow", name)], body)["predictions"]
        ours = post(urls[("modelcycle", name)], body)["predictions"]
        same[name] = theirs == ours
    return same


def judge(runs: list[Run]) -> dict[str, Any]:
    """The issue's budgets: per model, modelcycle against mlflow."""
    found = {(r.server, r.model, r.rows): r for r in runs}
    ratios: dict[str, Any] = {}
    budgets: dict[str, bool] = {}
    for name in MODELS:
        ours1, theirs1 = found[("modelcycle", name, 1)], found[("mlflow", name, 1)]
        ours_n, theirs_n = found[("modelcycle", name, 100)], found[("mlflow", name, 100)]
        ratio = {
            "single_row_rps": round(ours1.requests_per_s / theirs1.requests_per_s, 1),
            "single_row_p50": round(ours1.p50_ms / theirs1.p50_ms, 3),
            "single_row_p99": round(ours1.p99_ms / theirs1.p99_ms, 3),
            "batch_100_rows_per_s": round(ours_n.rows_per_s / theirs_n.rows_per_s, 1),
        }
        ratios[name] = ratio
        budgets[f"{name}: >= 10x requests/s, one row"] = ratio["single_row_rps"] >= 10
        budgets[f"{name}: <= 1/10 p50, one row"] = ratio["single_row_p50"] <= 0.1
        budgets[f"{name}: >= 3x rows/s, 100 rows"] = ratio["batch_100_rows_per_s"] >= 3
        budgets[f"{name}: no failed requests"] = ours1.failed == 0 and ours_n.failed == 0
    return {"ratios": ratios, "budgets": budgets}


# -- the table -------------------------------------------------------------------------------------


_RUNS = ("model", "rows/request", "server", "requests/s", "rows/s", "p50 ms", "p99 ms", "failed")
_RATIOS = (
    "model",
    "modelcycle ÷ mlflow: requests/s (1 row)",
    "p50 (1 row)",
    "p99 (1 row)",
    "rows/s (100 rows)",
)
_IN_PROCESS = (
    "model",
    "rows",
    "predict_rows, compiled (µs)",
    "predict_rows, pipeline (µs)",
    "pipeline.predict_proba alone (µs)",
)


def render(results: dict[str, Any]) -> str:
    """The Markdown tables for docs/benchmarks.md."""
    settings, machine = results["settings"], results["machine"]
    labels = {name: label for name, (_, _, label) in MODELS.items()}
    labels["constant"] = "none (the floor)"
    servers = {"floor": "FastAPI, parse + constant"}
    runs = [
        [
            labels[r["model"]],
            r["rows"],
            servers.get(r["server"], r["server"]),
            f"{r['requests_per_s']:,.0f}",
            f"{r['rows_per_s']:,.0f}",
            f"{r['p50_ms']:.2f}",
            f"{r['p99_ms']:.2f}",
            r["failed"],
        ]
        for r in results["runs"]
    ]
    ratios = [
        [
            labels[name],
            f"{ratio['single_row_rps']}×",
            ratio["single_row_p50"],
            ratio["single_row_p99"],
            f"{ratio['batch_100_rows_per_s']}×",
        ]
        for name, ratio in results["ratios"].items()
    ]
    local = [
        [labels[name], rows, *(f"{v:,.0f}" for v in entry[str(rows)].values())]
        for name, entry in results["in_process"].items()
        for rows in BATCHES
    ]
    return "\n".join(
        [
            f"wrk {settings['wrk']}, {settings['seconds_per_server']:g} s per server in "
            f"{settings['rounds']} alternating rounds, {settings['workers']} workers per server, "
            f"one math thread per worker, {machine['cores']} cores; load average "
            f"{machine['load_average_before']} before and {machine['load_average_after']} after.",
            "",
            _markdown(_RUNS, runs),
            _markdown(_RATIOS, ratios),
            _markdown(_IN_PROCESS, local),
        ]
    )


def _markdown(header: tuple[str, ...], rows: list[list[Any]]) -> str:
    """A Markdown table; columns other than the model and the server are right-aligned."""
    align = ["---" if name in ("model", "server") else "---:" for name in header]
    lines = [list(header), align, *([str(cell) for cell in row] for row in rows)]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
