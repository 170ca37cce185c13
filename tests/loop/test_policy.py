"""The policy file and the pure decision: triggers, limits, the guard, errors naming the line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from modelcycle.loop import LoopState, Observation, Policy, PolicyError

NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)
DRIFT = Observation(drift_status="Drift", drifted_columns=("nswprice",), rows=500)


def test_drift_triggers_a_retrain_with_reasons() -> None:
    decision = Policy().decide(LoopState(champion=1), DRIFT, NOW)
    assert decision.action == "retrain"
    assert any("Drift" in r and "nswprice" in r for r in decision.reasons)
    stable = Policy().decide(LoopState(champion=1), Observation(drift_status="Stable"), NOW)
    assert stable.action == "none" and "Stable" in stable.reasons[0]


def test_named_columns_trigger_only_on_those_columns() -> None:
    policy = Policy.from_yaml("triggers: {drift: {columns: [vicprice]}}")
    seen = Observation(
        drift_status="Drift", column_status={"nswprice": "Drift", "vicprice": "Stable"}
    )
    assert policy.decide(LoopState(), seen, NOW).action == "none"
    hit = Observation(column_status={"vicprice": "Drift"})
    assert policy.decide(LoopState(), hit, NOW).action == "retrain"


def test_cool_down_holds_a_fired_trigger() -> None:
    policy = Policy.from_yaml("cooldown: 6h")
    state = LoopState(champion=1).after_retrain(NOW - timedelta(hours=2))
    held = policy.decide(state, DRIFT, NOW)
    assert held.action == "hold"
    assert any(r.startswith("cool-down") for r in held.reasons)
    assert policy.decide(state, DRIFT, NOW + timedelta(hours=4, minutes=1)).action == "retrain"


def test_daily_limit_holds_until_a_day_has_passed() -> None:
    policy = Policy.from_yaml("cooldown: 0\nmax_retrains_per_day: 2")
    state = LoopState(champion=1)
    for hours in (10, 5):
        state = state.after_retrain(NOW - timedelta(hours=hours))
    held = policy.decide(state, DRIFT, NOW)
    assert held.action == "hold" and any("daily limit" in r for r in held.reasons)
    assert policy.decide(state, DRIFT, NOW + timedelta(hours=14, minutes=1)).action == "retrain"


def test_performance_drop_schedule_and_new_labels() -> None:
    policy = Policy.from_yaml(
        "triggers:\n  performance: {drop: 0.05, min_rows: 100}\n  schedule: 7d\n  new_labels: 1000"
    )
    state = LoopState(champion=1, metric="accuracy", baseline=0.85, champion_since=NOW)
    fine = Observation(performance={"accuracy": 0.83}, labeled_rows=500, new_labels=10)
    assert policy.decide(state, fine, NOW + timedelta(days=1)).action == "none"
    worse = Observation(performance={"accuracy": 0.78}, labeled_rows=500)
    assert "below the champion's gate baseline" in policy.decide(state, worse, NOW).reasons[0]
    assert policy.decide(state, fine, NOW + timedelta(days=8)).action == "retrain"
    many = Observation(new_labels=1500)
    assert policy.decide(state, many, NOW).action == "retrain"


def test_a_live_baseline_drop_counts_from_the_champions_first_window() -> None:
    policy = Policy.from_yaml("triggers:\n  performance: {drop: 0.05, baseline: live}")
    assert policy.live_metric("binary") == "accuracy"
    assert Policy.from_yaml("triggers:\n  performance: {drop: 0.05}").live_metric("binary") is None
    # The gate's baseline (0.95) would fire on 0.83; the live one waits for its first window.
    state = LoopState(champion=1, metric="accuracy", baseline=0.95, champion_since=NOW)
    seen = Observation(performance={"accuracy": 0.83}, labeled_rows=500)
    assert policy.decide(state, seen, NOW).action == "none"
    measured = LoopState(champion=1, metric="accuracy", baseline=0.95, live_baseline=0.86)
    assert policy.decide(measured, seen, NOW).action == "none"
    worse = Observation(performance={"accuracy": 0.80}, labeled_rows=500)
    decision = policy.decide(measured, worse, NOW)
    assert decision.action == "retrain"
    assert "live baseline 0.8600" in decision.reasons[0]
    promoted = measured.after_promotion(2, NOW, 0.8, 0.9)
    assert promoted.live_baseline is None and promoted.baseline == 0.9


def test_guard_rolls_back_within_its_window_only() -> None:
    policy = Policy.from_yaml("triggers: {}\nguard: {window: 1d, tolerance: 0.02, min_rows: 50}")
    state = LoopState(champion=1, metric="accuracy").after_promotion(2, NOW, 0.80, 0.86)
    bad = Observation(performance={"accuracy": 0.70}, labeled_rows=200)
    decision = policy.decide(state, bad, NOW + timedelta(hours=3))
    assert decision.action == "rollback" and "version 1" in decision.reasons[0]
    assert policy.decide(state, bad, NOW + timedelta(days=2)).action == "none"
    ok = Observation(performance={"accuracy": 0.79}, labeled_rows=200)
    assert policy.decide(state, ok, NOW + timedelta(hours=3)).action == "none"
    assert state.after_rollback(NOW).champion == 1


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (
            "action: promote\ncooldown: 1d\ntriggers:\n  drift: {status: Drift}\n  drfit: 3\n",
            5,
            ["unknown key", "triggers.drfit"],
        ),
        ("cooldown: 2h\nmax_retrains_per_day: lots\n", 2, ["max_retrains_per_day", "integer"]),
        (
            "triggers:\n  performance:\n    metric: accuracy\n    below: 1.5\n",
            4,
            ["triggers.performance.below", "between 0 and 1"],
        ),
        ("gate:\n  margin: -0.1\n", 2, ["gate.margin", "greater than or equal to 0"]),
        ("cooldown: soon\n", 1, ["cooldown", "duration"]),
        ("triggers: [drift\n", 2, ["not valid YAML"]),
        (
            "triggers:\n  performance: {drop: 0.05, baseline: live}\nmonitor:\n  window: 500rows\n",
            3,
            ["monitor", "baseline: live"],
        ),
        (
            "triggers:\n  performance:\n    below: 0.7\n    baseline: live\n",
            4,
            ["triggers.performance.baseline", "'drop'"],
        ),
        ("cooldown: 1d\ndata: []\n", 2, ["data", "empty list"]),
        ("data: [last:500, last:50x]\n", 1, ["data", "last:N"]),
        ("cooldown: 1d\ndata: [last:500, last:500]\n", 2, ["data", "differ"]),
    ],
    ids=[
        "unknown-key",
        "wrong-type",
        "impossible-threshold",
        "negative-margin",
        "duration",
        "yaml",
        "live-baseline-rows-window",
        "live-baseline-without-drop",
        "no-windows",
        "bad-candidate-window",
        "same-window-twice",
    ],
)
def test_invalid_policy_names_the_line(text: str, line: int, words: list[str]) -> None:
    with pytest.raises(PolicyError) as caught:
        Policy.from_yaml(text, source="loop.yaml")
    message = str(caught.value)
    assert f"loop.yaml, line {line}" in message, message
    for word in words:
        assert word in message, message


def test_schedule_skips_while_the_champion_holds_its_baseline_until_max_age() -> None:
    policy = Policy.from_yaml(
        "triggers:\n  schedule: {every: 6d, skip_within: 0.01, max_age: 12d, min_rows: 100}"
    )
    state = LoopState(champion=1, metric="accuracy", baseline=0.85, champion_since=NOW)
    fine = Observation(performance={"accuracy": 0.845}, labeled_rows=500)
    worse = Observation(performance={"accuracy": 0.82}, labeled_rows=500)
    assert policy.decide(state, worse, NOW + timedelta(days=5)).action == "none"
    skipped = policy.decide(state, fine, NOW + timedelta(days=7))
    assert skipped.action == "none" and "skipped" in skipped.reasons[0]
    assert policy.decide(state, worse, NOW + timedelta(days=7)).action == "retrain"
    forced = policy.decide(state, fine, NOW + timedelta(days=12))
    assert forced.action == "retrain" and "max age" in forced.reasons[0]
    # Too few labeled rows to tell: the schedule is kept.
    unknown = Observation(performance={"accuracy": 0.9}, labeled_rows=10)
    assert policy.decide(state, unknown, NOW + timedelta(days=7)).action == "retrain"


def test_schedule_shorthand_and_invalid_max_age() -> None:
    short = Policy.from_yaml("triggers: {schedule: 7d}").triggers.schedule
    assert short is not None and short.every == timedelta(days=7) and short.skip_within is None
    with pytest.raises(PolicyError) as caught:
        Policy.from_yaml("triggers:\n  schedule: {every: 7d, max_age: 3d}\n", source="loop.yaml")
    assert "loop.yaml, line 2" in str(caught.value) and "max_age" in str(caught.value)


def test_data_is_one_window_or_a_list_of_candidates() -> None:
    assert Policy().windows == ("all",)
    assert Policy.from_yaml("data: last:500").windows == ("last:500",)
    assert Policy.from_yaml("data: [last:500, all]").windows == ("last:500", "all")


def test_the_gate_holds_out_its_share_but_at_most_half_of_the_champions_traffic() -> None:
    gate = Policy.from_yaml("gate: {holdout: 0.25}").gate
    assert gate.held_rows(1000, 2000) == 250
    assert gate.held_rows(1000, 301) == 150


def test_gate_tolerance_lets_a_slightly_worse_challenger_pass() -> None:
    gate = Policy.from_yaml("gate: {margin: 0.01, tolerance: 0.03}").gate
    assert gate.threshold == pytest.approx(-0.02)
    assert Policy().gate.threshold == 0.0


def test_judge_with_a_negative_margin_passes_a_challenger_within_tolerance() -> None:
    import numpy as np
    import pandas as pd
    from sklearn.dummy import DummyRegressor

    from modelcycle.data import load_table
    from modelcycle.loop import judge

    x = np.arange(200, dtype=float)
    table = load_table(pd.DataFrame({"x": x, "y": np.sqrt(x) + 0.5}), target="y", task="regression")
    old = DummyRegressor(strategy="mean").fit(table.X, table.y)
    new = DummyRegressor(strategy="median").fit(table.X, table.y)  # slightly worse R²
    strict = judge(old, new, table, margin=0.0, guardrails={})
    tolerant = judge(old, new, table, margin=-0.05, guardrails={})
    assert not strict.passed and tolerant.passed
    assert tolerant.checks[0].limit == "worse by ≤ 0.05"
