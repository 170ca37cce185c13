"""False alarms and detection power of drift detection, next to Evidently's on the same data.

1. No drift: 200 random halves of adult.csv (14 feature columns, 16,280 rows a side). Drift
   verdicts here are false alarms; the table verdict must raise them at most alpha = 5% of the time.
2. Planted shifts: reference and current samples of 1k, 10k and 100k rows drawn with replacement
   from adult.csv, the current one shifted in one column only: fnlwgt moved by 0.1 or 0.5
   standard deviations, or the share of sex = Female raised by 5 or 20 points (plus no shift).

modelcycle runs detect_drift with its defaults (KS / chi-square, Bonferroni, alpha 0.05, minimum
effects, domain classifier); Evidently 0.7 runs DataDriftPreset with its defaults (in its own
virtual environment, on the very same rows). Results: benchmarks/results/drift_quality.json.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/drift/bench_quality.py [--quick]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _data  # noqa: E402
from bench_speed import evidently_python  # noqa: E402

from modelcycle.monitor import DriftStatus, detect_drift  # noqa: E402

RESULTS = HERE.parents[1] / "benchmarks" / "results" / "drift_quality.json"
HALVES = 200
TRIALS = {1_000: 100, 10_000: 50, 100_000: 20}
ALPHA = 0.05


def jobs(quick: bool) -> list[dict[str, Any]]:
    scale = 10 if quick else 1
    out: list[dict[str, Any]] = [
        {"kind": "halves", "seed": seed} for seed in range(HALVES // scale)
    ]
    for shift in _data.SHIFTS:
        for n, trials in TRIALS.items():
            out += [
                {"kind": "planted", "shift": shift, "n": n, "trial": t}
                for t in range(max(2, trials // scale))
            ]
    return out


def ours(job: dict[str, Any], frame: Any) -> dict[str, Any]:
    if job["kind"] == "halves":
        ref, cur = _data.halves(frame, job["seed"])
    else:
        ref, cur = _data.planted(frame, job["shift"], job["n"], job["trial"])
    report = detect_drift(ref, cur)
    columns = report.columns
    return {
        **job,
        "drift": report.status is DriftStatus.DRIFT,
        "warning": report.status is DriftStatus.WARNING,
        "drifted": report.drifted,
        "domain": report.domain.status.value if report.domain else None,
        "raw_any": bool((columns["p_value"] < ALPHA).any()),
        "seconds": report.elapsed_seconds,
    }


def rate(values: list[bool]) -> str:
    return f"{sum(values) / len(values):.0%}" if values else "–"


def summarise(mine: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> str:
    lines = []
    halves_m = [r for r in mine if r["kind"] == "halves"]
    halves_e = [r for r in theirs if r["kind"] == "halves"]
    lines += [
        f"No drift: {len(halves_m)} random halves of adult.csv (16,280 rows a side, 14 columns)",
        "",
        "| verdict | share of splits flagged |",
        "| --- | ---: |",
        f"| modelcycle table verdict Drift (Bonferroni, alpha {ALPHA}) | "
        f"{rate([r['drift'] for r in halves_m])} |",
        f"| modelcycle table verdict Warning | {rate([r['warning'] for r in halves_m])} |",
        f"| per-column tests without correction: any p < {ALPHA} | "
        f"{rate([r['raw_any'] for r in halves_m])} |",
        f"| Evidently dataset drift (share of drifted columns >= 0.5) | "
        f"{rate([r['dataset_drift'] for r in halves_e])} |",
        f"| Evidently: any column drifted | "
        f"{rate([any(r['columns'].values()) for r in halves_e])} |",
        "",
        "Planted shifts: share of trials flagged (rows = rows per side)",
        "",
        "| shift | rows | trials | modelcycle verdict Drift | modelcycle: shifted column Drift "
        "| Evidently: shifted column drift | Evidently dataset drift |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    cells_m: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    cells_e: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for r in mine:
        if r["kind"] == "planted":
            cells_m[(r["shift"], r["n"])].append(r)
    for r in theirs:
        if r["kind"] == "planted":
            cells_e[(r["shift"], r["n"])].append(r)
    for shift in _data.SHIFTS:
        column = _data.shifted_column(shift)
        for n in TRIALS:
            m, e = cells_m[(shift, n)], cells_e[(shift, n)]
            if column is None:  # no shift: any flagged column is a false alarm
                ours_col = [bool(r["drifted"]) for r in m]
                theirs_col = [any(r["columns"].values()) for r in e]
            else:
                ours_col = [column in r["drifted"] for r in m]
                theirs_col = [bool(r["columns"].get(column)) for r in e]
            lines.append(
                f"| {shift} | {n:,} | {len(m)} | {rate([r['drift'] for r in m])} | "
                f"{rate(ours_col)} | {rate(theirs_col)} | "
                f"{rate([r['dataset_drift'] for r in e])} |"
            )
    return "\n".join(lines)


def main(quick: bool) -> None:
    todo = jobs(quick)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(todo, handle)
    # Evidently works through the same jobs in its own process meanwhile.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    evidently = subprocess.Popen(
        [str(evidently_python()), str(HERE / "_evidently_worker.py"), "quality", handle.name],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    frame = _data.adult()
    start = time.perf_counter()
    mine = [ours(job, frame) for job in todo]
    ours_seconds = time.perf_counter() - start
    out, _ = evidently.communicate()
    Path(handle.name).unlink()
    if evidently.returncode != 0:
        raise SystemExit("the Evidently worker failed")
    theirs = json.loads(out.strip().splitlines()[-1])
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps({"modelcycle": mine, "evidently_0_7": theirs, "quick": quick}, indent=1) + "\n"
    )
    print(summarise(mine, theirs))
    print(f"\nmodelcycle: {len(mine)} checks in {ours_seconds:.0f} s")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv[1:])
