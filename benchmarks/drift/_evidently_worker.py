"""Evidently's side of the drift benchmarks, run with benchmarks/.venv-evidently/bin/python.

Evidently 0.7 needs pandas < 3, so it lives in its own virtual environment; this script reads a
job file (JSON), builds the same data as modelcycle's side (``_data.py``) and prints JSON results.

    python _evidently_worker.py speed ROWS
    python _evidently_worker.py quality JOBS.json
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from typing import Any

import _data

warnings.filterwarnings("ignore")

from evidently import Report  # noqa: E402
from evidently.presets import DataDriftPreset  # noqa: E402

# Evidently's per-column rule (evidently/legacy/calculations/stattests/*.py): p-value tests drift
# when the p-value is at most the threshold, distances when the distance is at least it.
_P_VALUE_METHODS = ("p_value",)


def run(ref: Any, cur: Any) -> dict[str, Any]:
    """One DataDriftPreset report: dataset drift (share >= 0.5) and each column's verdict."""
    snapshot = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
    columns: dict[str, bool] = {}
    share = None
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"].endswith("DriftedColumnsCount"):
            share = metric["value"]["share"]
            drift_share = config["drift_share"]
        elif config["type"].endswith("ValueDrift"):
            value, threshold = metric["value"], config["threshold"]
            if any(m in config["method"] for m in _P_VALUE_METHODS):
                columns[config["column"]] = bool(value <= threshold)
            else:
                columns[config["column"]] = bool(value >= threshold)
    assert share is not None
    return {"dataset_drift": bool(share >= drift_share), "share": float(share), "columns": columns}


def speed(rows: int) -> dict[str, Any]:
    frame = _data.adult()
    rng = _data.rng_for(0, rows)
    ref, cur = _data.resample(frame, rows, rng), _data.resample(frame, rows, rng)
    base = _data.peak_rss_reset()
    start = time.perf_counter()
    result = run(ref, cur)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "peak_extra_bytes": _data.peak_rss() - base,
        "peak_bytes": _data.peak_rss(),
        "dataset_drift": result["dataset_drift"],
        "drifted": sorted(c for c, d in result["columns"].items() if d),
    }


def quality(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    frame = _data.adult()
    out = []
    for job in jobs:
        if job["kind"] == "halves":
            ref, cur = _data.halves(frame, job["seed"])
        else:
            ref, cur = _data.planted(frame, job["shift"], job["n"], job["trial"])
        result = run(ref, cur)
        out.append({**job, **result})
    return out


def main(argv: list[str]) -> None:
    if argv[0] == "speed":
        print(json.dumps(speed(int(argv[1]))))
    else:
        with open(argv[1]) as handle:
            print(json.dumps(quality(json.load(handle))))


if __name__ == "__main__":
    main(sys.argv[1:])
