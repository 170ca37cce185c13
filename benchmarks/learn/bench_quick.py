"""How long the `quick` preset takes on adult and bike_hourly, and how good its best model is.

Runs the CLI exactly as a user would (a fresh home, default settings) and records wall time and the
best model's validation metric. Reproduce with:

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/learn/bench_quick.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
CASES = [
    ("adult", ["adult.csv", "--target", "income"]),
    ("bike_hourly", ["bike_hourly.csv", "--target", "cnt", "--drop", "instant,casual,registered"]),
]


def run_case(args: list[str]) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "MODELCYCLE_HOME": home, "OMP_NUM_THREADS": "1"}
        cmd = [
            sys.executable,
            "-m",
            "modelcycle",
            "learn",
            str(DATA / args[0]),
            *args[1:],
            "--preset",
            "quick",
            "--json",
        ]
        start = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
        wall = time.perf_counter() - start
    result = json.loads(out.stdout)
    best = result["leaderboard"][0]
    return {
        "wall_s": round(wall, 1),
        "models": len(result["leaderboard"]),
        "best": result["best"],
        "metric": result["metric"],
        "value": round(best[result["metric"]], 4),
        "std": round(best[result["metric"] + "_std"], 4),
    }


def main() -> None:
    rows = {name: run_case(args) for name, args in CASES}
    print(json.dumps(rows, indent=2))
    out = ROOT / "benchmarks" / "results" / "learn_quick.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
