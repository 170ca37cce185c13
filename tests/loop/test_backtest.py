"""The backtest: a replay of real electricity data through the same policy code as `loop run`."""

from __future__ import annotations

import json
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelcycle.exceptions import ParameterError
from modelcycle.loop import Policy, backtest, backtest_starts

# 250 days of half-hours: long enough for electricity's drift to show, quick to replay.
ROWS = 12_000
PARAMS = {"n_estimators": 50, "learning_rate": 0.1}


@pytest.fixture(scope="module")
def electricity(electricity_frame: pd.DataFrame) -> pd.DataFrame:
    return electricity_frame.iloc[:ROWS].reset_index(drop=True)


def _replay(frame: pd.DataFrame, policy: Policy, **options: object):  # type: ignore[no-untyped-def]
    return backtest(frame, "class", policy=policy, interval="30m", params=PARAMS, **options)  # type: ignore[arg-type]


def test_a_policy_that_is_a_cron_without_a_gate_reproduces_periodic_retraining(
    electricity: pd.DataFrame,
) -> None:
    # Same schedule, no gate worth the name, refit on the whole window, no guard: the policy's
    # path through the replay (observe, decide, challenge, refit, promote) must give exactly
    # the cron's models, so any difference a real policy shows comes from its decisions.
    cron = Policy.model_validate(
        {
            "triggers": {"schedule": "7d"},
            "data": "last:5000",
            "cooldown": "1d",
            "gate": {"tolerance": 0.9, "refit": True, "calibration": None, "latency_ratio": None},
            "guard": None,
        }
    )
    result = _replay(electricity, cron)
    summary = result.summary()
    assert summary.loc["policy", "retrains"] == summary.loc["periodic", "retrains"] > 20
    assert summary.loc["policy", "promotions"] == summary.loc["policy", "retrains"]
    np.testing.assert_array_equal(result.batches["policy"], result.batches["periodic"])
    assert summary.loc["static", "retrains"] == 0
    # Retraining pays on a drifting series.
    assert summary.loc["periodic", "mean accuracy"] > summary.loc["static", "mean accuracy"] + 0.02


def test_a_drop_trigger_respects_its_cool_down_and_explains_each_retrain(
    electricity: pd.DataFrame, tmp_path: Path
) -> None:
    policy = Policy.model_validate(
        {
            "triggers": {"performance": {"drop": 0.03, "baseline": "live", "min_rows": 48}},
            "cooldown": "5d",
            "monitor": {"window": "2d"},
            "gate": {"tolerance": 0.05, "min_rows": 24},
        }
    )
    result = _replay(electricity, policy)
    retrains = [d for d in result.decisions if d["action"] == "retrain"]
    assert retrains, "a 0.03 drop over 250 days of electricity must fire"
    times = [datetime.fromisoformat(d["at"]) for d in retrains]
    assert all((b - a).days >= 5 for a, b in pairwise(times))
    assert all(any("performance" in r for r in d["reasons"]) for d in retrains)
    assert all(d["outcome"] for d in retrains)  # promoted, rejected or not judged: always said
    held = [d for d in result.decisions if d["action"] == "hold"]
    assert held and all(any("cool-down" in r for r in d["reasons"]) for d in held)
    assert result.summary().loc["policy", "retrains"] == len(retrains)

    page = result.to_html(tmp_path / "bt.html").read_text()
    assert "Backtest of a retraining policy" in page and "plotly" in page.lower()
    assert "performance: accuracy" in page  # the decisions and their reasons are in the report


def test_candidate_windows_are_chosen_on_the_holdout_and_every_fit_is_counted(
    electricity: pd.DataFrame,
) -> None:
    policy = Policy.model_validate(
        {
            "triggers": {"schedule": "7d"},
            "data": ["last:3000", "last:600"],
            "cooldown": "1d",
            "gate": {"tolerance": 0.9, "refit": True, "calibration": None, "latency_ratio": None},
            "guard": None,
        }
    )
    result = _replay(electricity, policy)
    summary = result.summary()
    retrains, promotions = summary.loc["policy", ["retrains", "promotions"]]
    # A challenger per candidate at each retrain, and the refit of each one promoted.
    assert summary.loc["policy", "fits"] == 2 * retrains + promotions
    assert summary.loc["periodic", "fits"] == summary.loc["periodic", "retrains"]
    outcomes = [d["outcome"] for d in result.decisions if d["action"] == "retrain"]
    chosen = [o.removeprefix("promoted (window ").removesuffix(")") for o in outcomes]
    assert set(chosen) == {"last:3000", "last:600"}, outcomes  # each wins somewhere
    assert result.settings["window"] == "last:3000, last:600"
    # The periodic strategy retrains on the first window only: the cron test's schedule.
    assert summary.loc["periodic", "retrains"] == retrains


def test_backtest_starts_replays_from_spread_out_rows(
    electricity: pd.DataFrame, tmp_path: Path
) -> None:
    policy = Policy.model_validate({"triggers": {"schedule": "10d"}, "data": "last:5000"})
    runs = backtest_starts(
        electricity, "class", starts=3, latest=0.5, policy=policy, interval="30m", params=PARAMS
    )
    assert runs.starts == [0, 3000, 6000]
    table = runs.summary()
    assert list(table["start row"]) == [0, 3000, 6000]
    # Each replay trains on its own first 10% and replays the rest: later starts, fewer steps.
    assert [r.settings["rows"] for r in runs.results] == [ROWS, ROWS - 3000, ROWS - 6000]
    assert (table["policy retrains"] < table["periodic retrains"]).all()
    np.testing.assert_allclose(table["policy − periodic"], table["policy"] - table["periodic"])
    verdict = runs.verdict()
    assert verdict["starts"] == 3
    assert verdict["mean lead"] == pytest.approx(float(table["policy − periodic"].mean()))
    assert 0 < verdict["retrain share"] < 1
    assert runs.to_dict()["starts"][1]["start row"] == 3000
    assert "several starts" in runs.to_html(tmp_path / "starts.html").read_text()


@pytest.mark.parametrize(
    ("options", "word"), [({"starts": 1}, "starts"), ({"latest": 1.5}, "latest")]
)
def test_backtest_starts_rejects_bad_settings(
    electricity: pd.DataFrame, options: dict[str, float], word: str
) -> None:
    with pytest.raises(ParameterError, match=word):
        backtest_starts(electricity, "class", **options)  # type: ignore[arg-type]


def test_the_cli_replays_from_several_starts_and_refuses_zero(
    electricity: pd.DataFrame,
    tmp_path: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    data = tmp_path / "elec.csv"
    electricity.iloc[:6000].to_csv(data, index=False)
    policy = tmp_path / "loop.yaml"
    policy.write_text("triggers: {schedule: 10d}\ndata: last:5000\n")
    args = ["loop", "backtest", str(data), "--target", "class", "--interval", "30m"]
    out = cli(*args, "--policy", str(policy), "--starts", "2", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert [row["start row"] for row in report["starts"]] == [0, 2400]
    assert report["verdict"]["starts"] == 2
    table = cli(*args, "--starts", "2", "--html", str(tmp_path / "s.html"))
    assert table.returncode == 0, table.stderr
    assert "policy − periodic: mean" in table.stdout and (tmp_path / "s.html").is_file()
    assert "its model fits" in table.stdout
    bad = cli(*args, "--starts", "0")
    assert bad.returncode == 2 and "--starts" in bad.stderr and "Traceback" not in bad.stderr
    wrong = cli(*args, "--params", "n_estimators=100")
    assert wrong.returncode == 1 and "'params' parameter" in wrong.stderr
    assert "Traceback" not in wrong.stderr
