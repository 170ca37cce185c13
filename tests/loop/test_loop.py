"""The loop end to end: a real server process, a real store and log, the electricity data."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest

from modelcycle.data import Validation, load_table, profile_table
from modelcycle.exceptions import ParameterError
from modelcycle.learn import make_recipe, pipeline_from_recipe
from modelcycle.loop import PARENT_KEY, compare_versions, retrain
from modelcycle.loop._run import run_once
from modelcycle.serve import deploy

pytestmark = pytest.mark.slow

POLICY = """\
triggers:
  drift: {status: Drift}
  performance: {drop: 0.05, min_rows: 200}
data: [last:1500, last:3000]
gate: {holdout: 0.25, min_rows: 200, latency_ratio: null, refit: true}
cooldown: 0
monitor: {window: 1d, min_rows: 200}
"""


def _register_first(world: Any, frame: pd.DataFrame, home: Path, labels: Any = None) -> int:
    """Version of a logistic regression on the first 4,000 rows (from its CSV: retrain reads it)."""
    early = home / "early.csv"
    rows = frame.iloc[:4000].copy()
    if labels is not None:
        rows["class"] = labels(rows["class"])
    rows.to_csv(early, index=False)
    table = load_table(early, target="class")
    recipe = make_recipe("logistic_regression", {}, table, Validation.parse("holdout:0.2"), 0)
    pipeline = pipeline_from_recipe(recipe).fit(table.X, table.y)
    info = world.registry.register(
        "elec",
        pipeline,
        run_id=None,
        recipe=recipe,
        input_example=table.X.head(5),
        reference_profile=profile_table(table),
        metrics={"accuracy": 0.85},
    )
    return info.version


def _send(server: Any, frame: pd.DataFrame) -> None:
    """Predict ``frame`` over HTTP in batches and send its labels back as feedback."""
    features = frame.drop(columns=["class"])
    for start in range(0, len(frame), 200):
        part = features.iloc[start : start + 200]
        body = orjson.loads(orjson.dumps(part.to_dict(orient="records")))
        answer = server.predict("elec", body)
        assert answer.status_code == 200, answer.text
        rid = answer.json()["request_id"]
        actual = frame["class"].iloc[start : start + 200].tolist()
        feedback = [{"request_id": rid, "row": i, "actual": a} for i, a in enumerate(actual)]
        sent = server.client.post("/v1/models/elec/feedback", json={"feedback": feedback})
        assert sent.status_code == 202, sent.text


def _wait_logged(world: Any, rows: int) -> None:
    from _serve_helpers import wait_for

    from modelcycle.store import LogReader

    wait_for(lambda: len(LogReader(world.log_dir).joined("elec")) >= rows, timeout=30)


def _serving_with_feedback(
    world: Any, home: Path, server: Any, frame: pd.DataFrame
) -> tuple[int, Any, Any]:
    """A first version in production, a server, and 1,600 later rows served with feedback."""
    first = _register_first(world, frame, home)
    store = world.store()
    deploy("elec", first, registry=world.registry, store=store)
    srv = server()
    _send(srv, frame.iloc[30000:31600])
    _wait_logged(world, 1600)
    return first, store, srv


def _served_version(server: Any, frame: pd.DataFrame) -> int:
    row = orjson.loads(orjson.dumps(frame.drop(columns=["class"]).head(1).to_dict("records")))
    return int(server.predict("elec", row).json()["version"])


def test_drift_leads_to_retrain_gate_promotion_and_the_server_swaps(
    world: Any, home: Path, server: Any, electricity_frame: pd.DataFrame, cli: Any
) -> None:
    from _serve_helpers import wait_for

    first = _register_first(world, electricity_frame, home)
    deploy("elec", first, registry=world.registry, store=world.store())
    srv = server()
    traffic = electricity_frame.iloc[30000:32000]
    _send(srv, traffic)
    _wait_logged(world, len(traffic))
    policy = home / "loop.yaml"
    policy.write_text(POLICY)

    done = cli("loop", "run", "elec", "--policy", str(policy), "--once", "--json")
    assert done.returncode == 0, done.stderr
    step = json.loads(done.stdout)
    assert step["decision"]["action"] == "retrain"
    assert step["gate"]["passed"], step["gate"]["checks"]
    promoted = step["promoted"]
    assert promoted == world.registry.get_version("elec", alias="production").version
    recipe = world.registry.load("elec", version=promoted).recipe
    assert recipe[PARENT_KEY] == first
    # The challenger's window was chosen among the candidates; the refit kept it.
    judged, refit = world.store().events("elec", kinds="retrain")[-2:]
    assert judged.version == str(step["challenger"]) and refit.version == str(promoted)
    assert set(judged.details["candidates"]) == {"last:1500", "last:3000"}
    assert refit.details["window"] == judged.details["window"] == recipe["data"]["window"]
    wait_for(lambda: _served_version(srv, traffic) == promoted, timeout=30)

    timeline = cli("loop", "history", "elec", "--json")
    kinds = [e["kind"] for e in json.loads(timeline.stdout)]
    for kind in ("decision", "retrain", "promote", "deploy", "promoted"):
        assert kind in kinds, kinds


def test_worse_challenger_is_rejected_with_reasons(
    world: Any, home: Path, electricity_frame: pd.DataFrame
) -> None:
    good = _register_first(world, electricity_frame, home)
    deploy("elec", good, registry=world.registry, store=world.store())
    # A challenger trained on flipped labels: worse on any honest holdout.
    flipped = electricity_frame.iloc[4000:8000].assign(**{"class": lambda f: 1 - f["class"]})
    worse = retrain(
        "elec", flipped, window="last:4000", registry=world.registry, store=world.store()
    )
    result = compare_versions(
        "elec",
        "production",
        "challenger",
        electricity_frame.iloc[8000:9000],
        registry=world.registry,
        store=world.store(),
    )
    assert not result.passed
    assert result.reasons[0].startswith("FAILED accuracy")
    event = world.store().events("elec", kinds="reject")[-1]
    assert event.version == str(worse.version)
    assert any("FAILED" in r for r in event.details["reasons"])
    assert world.registry.get_version("elec", alias="production").version == good


def test_retrain_among_candidate_windows_keeps_the_best_on_the_holdout(
    world: Any, home: Path, electricity_frame: pd.DataFrame, cli: Any
) -> None:
    _register_first(world, electricity_frame, home)
    # The older 3,000 new rows carry flipped labels: only the short window learns the truth.
    new = electricity_frame.iloc[4000:8000].copy()
    new.loc[new.index[:3000], "class"] = 1 - new["class"].iloc[:3000]
    holdout = electricity_frame.iloc[8000:9000]
    info = retrain(
        "elec",
        new,
        window=["last:4000", "last:1000"],
        holdout=holdout,
        metric="accuracy",
        base=1,
        registry=world.registry,
        store=world.store(),
    )
    recipe = world.registry.load("elec", version=info.version).recipe
    assert recipe["data"]["window"] == "last:1000" and recipe["data"]["rows"] == 1000
    event = world.store().events("elec", kinds="retrain")[-1]
    scores = event.details["candidates"]
    assert event.details["window"] == "last:1000" and event.details["metric"] == "accuracy"
    assert scores["last:1000"] > scores["last:4000"] + 0.2, scores
    assert "window last:1000; accuracy on 1000 held-out rows: last:4000 " in str(info.description)

    # The same from the command line; several windows without a holdout is refused.
    new.to_csv(home / "new.csv", index=False)
    holdout.to_csv(home / "holdout.csv", index=False)
    windows = ["--window", "last:4000", "--window", "last:1000"]
    done = cli("retrain", "elec", "--data", str(home / "new.csv"), *windows, "--base", "1",
               "--holdout", str(home / "holdout.csv"), "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    chosen = world.registry.load("elec", version=json.loads(done.stdout)["version"]).recipe
    assert chosen["data"]["window"] == "last:1000"
    refused = cli("retrain", "elec", "--data", str(home / "new.csv"), *windows, "--base", "1")
    assert refused.returncode == 1
    assert "holdout" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    with pytest.raises(ParameterError, match="'accuracy'"):
        retrain("elec", new, window=windows[1::2], holdout=holdout, metric="rmse", base=1,
                registry=world.registry, store=world.store())  # fmt: skip


def test_guard_rolls_back_a_promoted_model_that_does_worse_live(
    world: Any, home: Path, server: Any, electricity_frame: pd.DataFrame
) -> None:
    good = _register_first(world, electricity_frame, home)
    store = world.store()
    deploy("elec", good, registry=world.registry, store=store)
    bad = retrain(
        "elec",
        electricity_frame.iloc[4000:6000].assign(**{"class": lambda f: 1 - f["class"]}),
        window="last:2000",
        registry=world.registry,
        store=store,
    ).version
    # As the loop records an automatic promotion: the old champion scored 0.80 at the gate.
    deploy("elec", bad, registry=world.registry, store=store)
    store.record_event(
        "promoted",
        "elec",
        version=bad,
        details={"from": good, "old_metric": 0.80, "new_metric": 0.82},
    )
    srv = server()
    _send(srv, electricity_frame.iloc[6000:6600])
    _wait_logged(world, 600)
    policy = home / "guard.yaml"
    policy.write_text(
        "triggers: {}\nguard: {window: 1d, min_rows: 200}\nmonitor: {window: 1d, min_rows: 200}\n"
    )
    step = run_once("elec", policy, registry=world.registry, store=store, log_dir=world.log_dir)
    assert step.decision.action == "rollback", step.decision.reasons
    assert step.rolled_back_to == good
    assert world.registry.get_version("elec", alias="production").version == good
    assert store.events("elec", kinds="guard")


def test_a_crash_between_retrain_and_promotion_leaves_a_consistent_state(
    world: Any, home: Path, server: Any, electricity_frame: pd.DataFrame, monkeypatch: Any
) -> None:
    import modelcycle.loop._run as loop_run

    first, store, _ = _serving_with_feedback(world, home, server, electricity_frame)
    policy = home / "loop.yaml"
    policy.write_text(POLICY)

    def killed(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt  # the process dies between retrain and gate

    monkeypatch.setattr(loop_run, "compare_versions", killed)
    with pytest.raises(KeyboardInterrupt):
        run_once("elec", policy, registry=world.registry, store=store, log_dir=world.log_dir)
    challenger = world.registry.get_version("elec", alias="challenger").version
    assert challenger != first
    assert world.registry.get_version("elec", alias="production").version == first

    monkeypatch.undo()
    step = run_once("elec", policy, registry=world.registry, store=store, log_dir=world.log_dir)
    assert any("carrying on" in n for n in step.notes)
    # The leftover challenger passed and was refitted on its own window before promotion.
    production = world.registry.get_version("elec", alias="production").version
    windows = {int(e.version): e.details["window"] for e in store.events("elec", kinds="retrain")}
    assert production == challenger + 1 and windows[production] == windows[challenger]


def test_a_long_running_loop_waits_for_approval_and_approve_promotes(
    world: Any, home: Path, server: Any, electricity_frame: pd.DataFrame, cli: Any
) -> None:
    from _serve_helpers import wait_for

    from modelcycle.loop._run import run

    first, store, srv = _serving_with_feedback(world, home, server, electricity_frame)
    policy = home / "approve.yaml"
    # The cool-down keeps the second step from retraining again: it holds.
    policy.write_text(POLICY.replace("cooldown: 0", "cooldown: 1d") + "action: approve\n")
    steps: list[Any] = []
    done = run(
        "elec",
        policy,
        every=timedelta(0),
        steps=2,
        on_step=steps.append,
        registry=world.registry,
        store=store,
        log_dir=world.log_dir,
    )
    assert done == 2 and [s.decision.action for s in steps] == ["retrain", "hold"]
    assert steps[1].decision.reasons and "cool" in " ".join(steps[1].decision.reasons).lower()
    pending = store.events("elec", kinds="pending")
    assert len(pending) == 1 and steps[0].promoted is None
    assert world.registry.get_version("elec", alias="production").version == first

    approved = cli("approve", "elec", home=home)
    assert approved.returncode == 0, approved.stderr
    target = int(pending[0].version or 0)
    assert world.registry.get_version("elec", alias="production").version == target
    wait_for(lambda: _served_version(srv, electricity_frame.iloc[:1]) == target, timeout=30)
    again = cli("approve", "elec", home=home)
    assert again.returncode != 0 and "no longer waiting" in again.stderr


def test_the_live_baseline_is_read_from_the_champions_first_window(
    world: Any, home: Path, server: Any, electricity_frame: pd.DataFrame
) -> None:
    from datetime import UTC, datetime

    from modelcycle.learn import score
    from modelcycle.loop import load_policy
    from modelcycle.loop._run import _Context, _state
    from modelcycle.store import LogReader

    _serving_with_feedback(world, home, server, electricity_frame)
    policy = home / "live.yaml"
    policy.write_text(
        "triggers:\n  performance: {drop: 0.05, baseline: live, min_rows: 100}\n"
        "monitor: {window: 1d, min_rows: 100}\n"
    )
    rules = load_policy(policy)
    champion = world.registry.load("elec", alias="production")

    def state_at(now: datetime) -> Any:
        ctx = _Context(
            "elec",
            "production",
            rules,
            world.registry,
            world.store(),
            LogReader(world.log_dir),
            now,
        )
        return _state(ctx, champion, "accuracy")

    assert state_at(datetime.now(UTC)).live_baseline is None  # its first day is not over
    later = state_at(datetime.now(UTC) + timedelta(days=2))
    served = LogReader(world.log_dir).joined("elec")
    expected = score(
        "binary",
        served["actual"].astype(int),
        served["prediction"].astype(int),
        metrics=["accuracy"],
    )["accuracy"]
    assert later.live_baseline == pytest.approx(expected)
