"""`modelcycle explore` and `modelcycle rank` as a user runs them: real processes, Rich output,
JSON, HTML reports and one-line errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

CliRunner = Callable[..., CompletedProcess[str]]


def test_explore_bike_prints_warnings_and_writes_a_report(
    data_dir: Path,
    tmp_path: Path,
    clean_environ: Path,
    cli: CliRunner,
) -> None:
    report = tmp_path / "bike.html"
    out = cli("explore", str(data_dir / "bike_hourly.csv"), "--target", "cnt",
              "--html", str(report), home=clean_environ)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "leakage" in out.stdout and "registered" in out.stdout and "casual" in out.stdout
    assert "17,379 rows" in out.stdout
    assert report.is_file() and report.stat().st_size > 1_000_000


def test_explore_json_without_target_and_with_drop(
    data_dir: Path, clean_environ: Path, cli: CliRunner
) -> None:
    out = cli("explore", str(data_dir / "wine_quality_red.csv"), "--drop", "quality", "--json",
              home=clean_environ)  # fmt: skip
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["target"] is None and result["rows"] == 1599
    assert "quality" not in {c["column"] for c in result["columns"]}


def test_rank_command(data_dir: Path, clean_environ: Path, cli: CliRunner) -> None:
    bike = str(data_dir / "bike_hourly.csv")
    out = cli("rank", bike, "--target", "cnt", "--drop", "casual,registered", "--method",
              "f_test", "--top", "3", "--json", home=clean_environ)  # fmt: skip
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["method"] == "f_test" and len(result["features"]) == 3
    assert {"hr", "temp"} <= {f["feature"] for f in result["features"]}

    wrong = cli("rank", bike, "--target", "cnt", "--method", "chi2", home=clean_environ)
    assert wrong.returncode == 1
    assert "'f_test'" in wrong.stderr and "Traceback" not in wrong.stderr
