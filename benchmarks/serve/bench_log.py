"""What the prediction log costs per request: rows as dicts against the server's columns.

Writes the same electricity requests (1 and 100 rows, each with a label and two class
probabilities per row) through a ``LogWriter`` twice: once as one dict per row (how rows
logged from Python arrive, and how the server logged before the log kept typed columns), and
once as column arrays (how the server logs now). The time is from the first ``log_prediction``
to the end of ``close()``, so it holds everything the writer's thread does: building the
columns, JSON where there is any, and writing Parquet. Row dicts are built before the clock
starts, so the row form is timed without the cost of making them.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/serve/bench_log.py

Writes ``benchmarks/results/log.json``.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelcycle.store import LogWriter

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "electricity.csv"
RESULTS = ROOT / "benchmarks" / "results"
ROWS_LOGGED = 200_000  # per form and request size: enough for a few files of each


def requests(frame: pd.DataFrame, size: int, count: int) -> list[tuple[Any, Any]]:
    """``count`` requests of ``size`` rows as (input columns, output columns)."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(count):
        part = frame.iloc[(i * size) % (len(frame) - size) :][:size]
        up = rng.random(size)
        inputs = {name: part[name].to_numpy() for name in part.columns}
        outputs = {
            "prediction": np.where(up > 0.5, "UP", "DOWN").astype(object),
            "probabilities": {"DOWN": 1.0 - up, "UP": up},
        }
        out.append((inputs, outputs))
    return out


def as_rows(inputs: dict[str, Any], outputs: dict[str, Any]) -> tuple[list[dict], list[dict]]:
    """The same request as plain Python rows (as ``tolist`` gives them)."""
    names = list(inputs)
    values = zip(*(column.tolist() for column in inputs.values()), strict=True)
    rows = [dict(zip(names, row, strict=True)) for row in values]
    proba = outputs["probabilities"]
    labels, down, up = outputs["prediction"].tolist(), proba["DOWN"].tolist(), proba["UP"].tolist()
    results = [
        {"prediction": p, "probabilities": {"DOWN": d, "UP": u}}
        for p, d, u in zip(labels, down, up, strict=True)
    ]
    return rows, results


def timed(batch: list[tuple[Any, Any]], rows: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        writer = LogWriter(folder, max_queue=len(batch) + 1, flush_interval=60)
        started = time.perf_counter()
        for i, (inputs, outputs) in enumerate(batch):
            writer.log_prediction("elec", "1", "production", f"r{i}", inputs, outputs, 1.0)
        writer.close()
        assert (writer.written, writer.dropped, writer.failed) == (rows, 0, 0)
        return time.perf_counter() - started


def main() -> None:
    frame = pd.read_csv(DATA).drop(columns=["class"]).astype(float)
    results = []
    for size in (1, 100):
        count = ROWS_LOGGED // size
        columns = requests(frame, size, count)
        rows = [as_rows(*request) for request in columns]
        for form, batch in (("rows (a dict per row)", rows), ("columns (arrays)", columns)):
            seconds = min(timed(batch, size * count) for _ in range(3))
            results.append(
                {
                    "rows_per_request": size,
                    "form": form,
                    "us_per_request": 1e6 * seconds / count,
                    "us_per_row": 1e6 * seconds / ROWS_LOGGED,
                }
            )
            print(
                f"{size:>3} rows/request  {form:<22} {results[-1]['us_per_request']:8.1f} µs "
                f"per request  {results[-1]['us_per_row']:6.2f} µs per row",
                flush=True,
            )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "log.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
