"""Backtest budget: static model vs weekly periodic retraining vs the policy, on two data sets.

Replays electricity (time order, rows are half-hours, first 10% to train, accuracy) and
bike_hourly (by date, first 10% to train, R²) through `benchmarks/loop/policy.yaml` with one
LightGBM recipe (100 trees) and a decision every simulated day. Then, for the spread a single
path through history hides, the same replay from 5 start rows (the first to 40% in, each
training on the first 10% of its rows). Reproduce with:

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/loop/bench_backtest.py [--starts 5]

Writes benchmarks/results/loop_backtest.json and an HTML report per data set beside it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from modelcycle.loop import backtest, backtest_starts

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"
PARAMS = {"n_estimators": 100, "learning_rate": 0.1}
CASES = {
    "electricity": {"data": DATA / "electricity.csv", "target": "class", "interval": "30m"},
    "bike_hourly": {
        "data": DATA / "bike_hourly.csv",
        "target": "cnt",
        "time_column": "dteday",
        "drop": ["instant", "casual", "registered"],
    },
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=5, help="start rows (1: the replay only)")
    starts = parser.parse_args().starts
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, case in CASES.items():
        started = time.perf_counter()
        options = {"policy": HERE / "policy.yaml", "params": PARAMS, **case}
        # The first of the starts is the replay itself: it is not run twice.
        runs = backtest_starts(starts=starts, **options) if starts > 1 else None
        result = runs.results[0] if runs is not None else backtest(**options)
        result.to_html(RESULTS / f"loop_backtest_{name}.html")
        print(f"== {name} ({time.perf_counter() - started:.0f} s)")
        print(result.summary().round(4).to_string())
        out[name] = {**result.to_dict(), "seconds": round(time.perf_counter() - started, 1)}
        out[name].pop("decisions")
        if runs is not None:
            runs.to_html(RESULTS / f"loop_backtest_{name}_starts.html")
            print(f"-- {name} from {starts} starts")
            print(runs.summary().round(4).to_string(index=False))
            print(runs.verdict())
            out[name]["from starts"] = runs.to_dict()
    (RESULTS / "loop_backtest.json").write_text(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
