"""Run every benchmark (or those named) and print where their results are recorded.

python benchmarks/run.py            # all
python benchmarks/run.py learn      # one folder
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(names: list[str]) -> int:
    scripts = sorted(HERE.glob("*/bench_*.py"))
    if names:
        scripts = [s for s in scripts if s.parent.name in names]
    failed = 0
    for script in scripts:
        print(f"== {script.relative_to(HERE.parent)}", flush=True)
        failed += subprocess.run([sys.executable, str(script)], check=False).returncode != 0
    print("results: docs/benchmarks.md")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
