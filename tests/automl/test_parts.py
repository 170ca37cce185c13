"""The parts of AutoML on their own: ensemble selection, the executor, the search space."""

from __future__ import annotations

import time

import numpy as np
import pytest

from modelcycle.automl import LocalExecutor, TrialExecutor, select_ensemble
from modelcycle.automl._space import FAMILIES, SpaceContext, portfolio
from modelcycle.data import Task


def _drain(executor: LocalExecutor) -> dict[str, object]:
    results = {}
    while executor.running():
        results.update({r.key: r for r in executor.poll(5)})
    return results


def test_executor_runs_jobs_against_its_payload() -> None:
    executor = LocalExecutor(2)  # jobs submitted while workers start may run in this process
    assert isinstance(executor, TrialExecutor)
    executor.start(2)
    try:
        executor.submit("a", pow, (3,), 30)
        executor.submit("b", pow, (4,), 30)
        results = _drain(executor)
        assert {k: r.value for k, r in results.items()} == {"a": 8, "b": 16}  # type: ignore[attr-defined]
    finally:
        executor.close()


def test_executor_stops_slow_jobs_and_reports_failures() -> None:
    slow = LocalExecutor(1, inline=False)
    slow.start(60.0)
    bad = LocalExecutor(1, inline=False)
    bad.start("not a number")
    try:
        start = time.perf_counter()
        slow.submit("slow", time.sleep, (), 1.0)
        bad.submit("bad", int, (), 30)
        results = {**_drain(slow), **_drain(bad)}
        assert time.perf_counter() - start < 20
        stopped, failed = results["slow"], results["bad"]
        assert stopped.status == "timeout" and "time limit" in stopped.error  # type: ignore[attr-defined]
        assert failed.status == "failed" and "ValueError" in failed.error  # type: ignore[attr-defined]
        # A stopped worker is replaced on the next submit; cancel stops what still runs.
        slow.submit("cut", time.sleep, (), None)
        (cut,) = slow.cancel()
        assert cut.key == "cut" and cut.status == "timeout"
    finally:
        slow.close()
        bad.close()


def test_ensemble_selection_beats_its_members_and_respects_costs() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=400)
    # Three models with independent errors: their average is better than any of them.
    library = [y + rng.normal(scale=1.0, size=400) for _ in range(3)]
    chosen = select_ensemble(library, y, [200, 200], Task.REGRESSION, "rmse", ())
    single = min(np.sqrt(np.mean((p - y) ** 2)) for p in library)
    assert len(chosen.members) == 3 and chosen.score < single * 0.8
    assert np.isclose(sum(chosen.weights), 1.0)
    first = chosen.members[int(np.argmax(chosen.weights))]
    dear = (first + 1) % 3
    costs = [5.0 if j == dear else 1.0 for j in range(3)]
    cheap = select_ensemble(
        library, y, [400], Task.REGRESSION, "rmse", (), costs=costs, max_cost=2.5, workers=1
    )
    assert dear not in cheap.members and len(cheap.members) == 2


def test_ensemble_selection_of_class_probabilities() -> None:
    y = np.array(["a", "b"] * 50, dtype=object)
    good = np.column_stack([(y == "a") * 0.6 + 0.2, (y == "b") * 0.6 + 0.2])
    noise = np.full((100, 2), 0.5)
    chosen = select_ensemble([noise, good], y, [100], Task.BINARY, "roc_auc", ("a", "b"))
    assert chosen.members == (1,) and chosen.score == 1.0


@pytest.mark.parametrize("task", [Task.BINARY, Task.REGRESSION])
def test_portfolio_starts_with_default_lightgbm_and_the_forests(task: Task) -> None:
    ctx = SpaceContext(task, n_rows=20_000, n_features=16, has_categorical=True)
    warm = portfolio(task, FAMILIES[task], ctx)
    families = [w["family"] for w in warm]
    assert families[0] == "lightgbm" and {"random_forest", "extra_trees"} <= set(families)
    assert "knn" not in families  # a default kNN costs too much to predict on 20,000 rows
    forest = next(w for w in warm if w["family"] == "random_forest")
    assert forest["random_forest.min_samples_leaf"] == 1
