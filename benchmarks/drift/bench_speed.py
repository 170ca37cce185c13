"""Speed and memory of drift detection on 1,000,000 vs 1,000,000 rows of adult-like data.

Both sides are 14 mixed columns sampled with replacement from adult.csv (the same rows for both
tools). modelcycle's detect_drift runs with its defaults (KS / chi-square on every row, the
domain classifier on 5,000 rows per side), from the DataFrames and from the reference profile;
Evidently 0.7 runs its DataDriftPreset in its own virtual environment (it needs pandas < 3).
Each runs in a fresh process that records wall time and peak resident memory of the check alone.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/drift/bench_speed.py [ROWS]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
EVIDENTLY_VENV = ROOT / "benchmarks" / ".venv-evidently"
RESULTS = ROOT / "benchmarks" / "results" / "drift_speed.json"
ROWS = 1_000_000


def evidently_python() -> Path:
    """Evidently's interpreter, building its virtual environment on first use."""
    python = EVIDENTLY_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(EVIDENTLY_VENV)], check=True)
        subprocess.run(
            [str(EVIDENTLY_VENV / "bin" / "pip"), "install", "-q", "evidently==0.7.*", "pandas<3"],
            check=True,
        )
    return python


VARIANTS = ("dataframes", "dataframes, no domain classifier", "reference profile")


def worker(rows: int, variant: str) -> dict[str, Any]:
    """modelcycle's side: one variant in a fresh process, so memory peaks do not mix."""
    sys.path.insert(0, str(HERE))
    import _data

    from modelcycle.data import load_table, profile_table
    from modelcycle.monitor import detect_drift

    frame = _data.adult()
    rng = _data.rng_for(0, rows)
    ref, cur = _data.resample(frame, rows, rng), _data.resample(frame, rows, rng)
    reference: Any = ref
    if variant == "reference profile":
        # The profile is made once, at registration; the check itself reads no training data.
        reference = profile_table(load_table(ref))
    base = _data.peak_rss_reset()
    start = time.perf_counter()
    report = detect_drift(reference, cur, multivariate=variant != VARIANTS[1])
    return {
        "seconds": time.perf_counter() - start,
        "peak_extra_bytes": _data.peak_rss() - base,
        "peak_bytes": _data.peak_rss(),
        "status": report.status.value,
        "drifted": report.drifted,
    }


def _run(cmd: list[str]) -> Any:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(rows: int) -> None:
    ours = {v: _run([sys.executable, __file__, "--worker", str(rows), v]) for v in VARIANTS}
    theirs = _run([str(evidently_python()), str(HERE / "_evidently_worker.py"), "speed", str(rows)])
    result = {"rows": rows, "modelcycle": ours, "evidently_0_7": theirs}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    mb = 1024**2
    print("| tool, reference | time (s) | peak extra memory (MB) | verdict |")
    print("| --- | ---: | ---: | --- |")
    for name, r in ours.items():
        print(
            f"| modelcycle, {name} | {r['seconds']:.2f} | {r['peak_extra_bytes'] / mb:.0f} | "
            f"{r['status']} |"
        )
    verdict = "Drift" if theirs["dataset_drift"] else "no dataset drift"
    print(
        f"| Evidently 0.7 DataDriftPreset | {theirs['seconds']:.2f} | "
        f"{theirs['peak_extra_bytes'] / mb:.0f} | {verdict}, columns {theirs['drifted']} |"
    )
    speedup = theirs["seconds"] / ours["dataframes"]["seconds"]
    print(f"speed-up (DataFrames, defaults): {speedup:.1f}x")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        print(json.dumps(worker(int(sys.argv[2]), sys.argv[3])))
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else ROWS)
