"""Run FLAML on one data set and budget; print the test metric and wall time as JSON.

Runs in FLAML's own virtual environment (``benchmarks/.venv-flaml``), started by
``bench_vs_flaml.py``; only the ``fit`` call is timed.

    benchmarks/.venv-flaml/bin/python benchmarks/automl/_flaml_runner.py NAME BUDGET N_JOBS
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import flaml
from _splits import CASES, SEED, load_split, positive_class
from flaml import AutoML
from sklearn.metrics import r2_score, roc_auc_score


def main(name: str, budget: float, n_jobs: int) -> dict[str, object]:
    _, target, _, task, metric = CASES[name]
    train, test = load_split(name)
    X, y = train.drop(columns=[target]), train[target]
    automl = AutoML()
    start = time.perf_counter()
    automl.fit(
        X_train=X,
        y_train=y,
        task="classification" if task == "binary" else "regression",
        metric=metric,
        time_budget=budget,
        n_jobs=n_jobs,
        seed=SEED,
        verbose=0,
    )
    wall = time.perf_counter() - start
    X_test, y_test = test.drop(columns=[target]), test[target]
    if task == "binary":
        positive = positive_class(train, target)
        column = list(automl.classes_).index(positive)
        value = roc_auc_score(y_test == positive, automl.predict_proba(X_test)[:, column])
    else:
        value = r2_score(y_test, automl.predict(X_test))
    return {
        "system": f"FLAML {flaml.__version__}",
        "test": float(value),
        "wall_s": wall,
        "best": automl.best_estimator,
        "config": automl.best_config,
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3])), default=str))
