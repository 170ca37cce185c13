"""modelcycle's AutoML against FLAML 2.x, with the same budget, on the same splits (issue 7).

Protocol: seed 0; 80/20 splits (stratified for classification) of adult, credit_german,
electricity (ROC AUC), bike_hourly without instant/dteday/casual/registered and
wine_quality_red (R²) from ../shared/data; budgets of 60 s and 10 s; the same number of cores
for both systems (``--n-jobs``, default 2); the default baselines (LightGBM with its defaults, a
300-tree random forest) in the same run. Each AutoML run is a fresh process that times only the
call that searches and refits (``mc.automl``; FLAML's ``AutoML.fit``, which also retrains its
best model), so both pay for their own start-up inside the budget. modelcycle tracks every trial
in an MLflow store, as it does for users (one store for the whole benchmark, migrated once).

Adult's separate test file is not in ../shared/data, so adult is split 80/20 too (see
``_splits.py``); FLAML is measured again on that split here.

    # once: FLAML in its own virtual environment
    python -m venv benchmarks/.venv-flaml
    benchmarks/.venv-flaml/bin/pip install 'flaml[automl]' lightgbm scikit-learn pandas
    # full run (about 25 minutes), or --quick (2 data sets, 10 s)
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/automl/bench_vs_flaml.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from _splits import CASES, SEED, load_split, positive_class  # noqa: E402

FLAML_PYTHON = ROOT / "benchmarks" / ".venv-flaml" / "bin" / "python"
RESULTS = ROOT / "benchmarks" / "results" / "automl.json"
QUICK = ["credit_german", "wine_quality_red"]
SYSTEMS = ("modelcycle", "FLAML", "LightGBM default", "random forest 300")


def _metric(task: str, truth: Any, train: Any, target: str, model: Any, X: Any) -> float:
    from sklearn.metrics import r2_score, roc_auc_score

    if task == "binary":
        positive = positive_class(train, target)
        column = list(model.classes_).index(positive)
        return float(roc_auc_score(truth == positive, model.predict_proba(X)[:, column]))
    return float(r2_score(truth, model.predict(X)))


def run_modelcycle(name: str, budget: float, n_jobs: int) -> dict[str, Any]:
    """One AutoML run (in this process, which the orchestrator started afresh)."""
    import modelcycle as mc
    from modelcycle.automl import automl

    _, target, _, task, metric = CASES[name]
    train, test = load_split(name)
    table = mc.load_table(train, target=target, task=task)
    start = time.perf_counter()
    result = automl(
        table, budget=budget, metric=metric, n_jobs=n_jobs, random_state=SEED, tracking=True
    )
    wall = time.perf_counter() - start
    value = _metric(
        task, test[target], train, target, result.best.pipeline, test[table.schema.features]
    )
    statuses: dict[str, int] = {}
    for trial in result.trials:
        statuses[trial.status] = statuses.get(trial.status, 0) + 1
    return {
        "system": "modelcycle",
        "test": value,
        "wall_s": wall,
        "search_s": result.search_seconds,
        "refit_s": result.refit_seconds,
        "best": result.best.name,
        "validation": result.best.metrics.get(metric),
        "trials": statuses,
        "ensemble": {k: v for k, v in (result.ensemble or {}).items() if k != "predictions"},
    }


def run_baselines(name: str) -> list[dict[str, Any]]:
    """Default LightGBM (pandas categoricals) and a 300-tree random forest (integer codes),
    single-threaded: they are references for accuracy, and LightGBM's threads spin for
    seconds on a small table when other processes share the cores."""
    import pandas as pd
    from lightgbm import LGBMClassifier, LGBMRegressor
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    _, target, _, task, _ = CASES[name]
    train, test = load_split(name)
    X, X_test = train.drop(columns=[target]), test.drop(columns=[target])
    for column in X.columns:
        if X[column].dtype.kind not in "biuf":
            # Categories of the training rows, so both parts share their codes.
            dtype = pd.CategoricalDtype(X[column].astype("category").cat.categories)
            X[column], X_test[column] = X[column].astype(dtype), X_test[column].astype(dtype)

    def codes(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.apply(lambda c: c.cat.codes if c.dtype == "category" else c).fillna(-1)

    classify = task == "binary"
    lightgbm = (LGBMClassifier if classify else LGBMRegressor)(
        random_state=SEED, n_jobs=1, verbose=-1
    )
    forest = (RandomForestClassifier if classify else RandomForestRegressor)(
        n_estimators=300, random_state=SEED, n_jobs=1
    )
    out = []
    for system, model, X_fit, X_eval in (
        ("LightGBM default", lightgbm, X, X_test),
        ("random forest 300", forest, codes(X), codes(X_test)),
    ):
        start = time.perf_counter()
        model.fit(X_fit, train[target])
        wall = time.perf_counter() - start
        value = _metric(task, test[target], train, target, model, X_eval)
        out.append({"system": system, "test": value, "wall_s": wall})
    return out


def _subprocess(cmd: list[str], env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        tail = out.stderr.strip().splitlines()[-3:]
        return {"error": f"exit {out.returncode}: {' | '.join(tail)}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 data sets at 10 s")
    parser.add_argument("--datasets", nargs="*", default=None)
    parser.add_argument("--budgets", nargs="*", type=float, default=None)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument(
        "--systems", nargs="*", default=["modelcycle", "FLAML"], help="AutoML systems to run"
    )
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--worker", nargs=3, metavar=("NAME", "BUDGET", "N_JOBS"))
    args = parser.parse_args()
    if args.worker:
        name, budget, n_jobs = args.worker
        print(json.dumps(run_modelcycle(name, float(budget), int(n_jobs)), default=str))
        return

    datasets = args.datasets or (QUICK if args.quick else list(CASES))
    budgets = args.budgets or ([10.0] if args.quick else [60.0, 10.0])
    output = args.output or (RESULTS.with_name("automl_quick.json") if args.quick else RESULTS)
    if not FLAML_PYTHON.exists():
        sys.exit(
            f"FLAML's virtual environment is missing: create it as {__doc__.split('# once')[1]}"
        )
    flaml_version = subprocess.run(
        [str(FLAML_PYTHON), "-c", "import flaml; print(flaml.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()

    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="modelcycle-bench-automl-") as home:
        env = {**os.environ, "MODELCYCLE_HOME": home, "OMP_NUM_THREADS": "1"}
        # Migrate the tracking store once, as a user's store is, before anything is timed.
        subprocess.run(
            [
                sys.executable,
                "-c",
                "from modelcycle.registry import Registry; Registry().session('warm-up')",
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        for name in datasets:
            for row in run_baselines(name):
                runs.append({"dataset": name, "budget": None, **row})
                print(json.dumps(runs[-1]), flush=True)
            for budget in budgets:
                for system, cmd in (
                    (
                        "modelcycle",
                        [sys.executable, __file__, "--worker", name, str(budget), str(args.n_jobs)],
                    ),
                    (
                        "FLAML",
                        [
                            str(FLAML_PYTHON),
                            str(HERE / "_flaml_runner.py"),
                            name,
                            str(budget),
                            str(args.n_jobs),
                        ],
                    ),
                ):
                    if system not in args.systems:
                        continue
                    before = _load()
                    row = _subprocess(cmd, env)
                    runs.append(
                        {
                            **row,
                            "dataset": name,
                            "budget": budget,
                            "system": system,
                            "version": row.get("system"),
                            "load_before": before,
                            "load_after": _load(),
                        }
                    )
                    print(json.dumps(runs[-1], default=str), flush=True)

    summary = summarise(runs, datasets, budgets)
    result = {
        "protocol": {
            "seed": SEED,
            "split": "80/20, stratified for classification; adult.csv split too (no test file)",
            "n_jobs": args.n_jobs,
            "budgets_s": budgets,
            "flaml": flaml_version,
            "cores": os.cpu_count(),
            "command": "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/automl/bench_vs_flaml.py"
            + (" --quick" if args.quick else ""),
        },
        "runs": runs,
        "summary": summary,
    }
    output.parent.mkdir(exist_ok=True)
    output.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(markdown(runs, datasets, budgets, summary))


def _score(
    runs: list[dict[str, Any]], name: str, system: str, budget: float | None
) -> float | None:
    for run in runs:
        if run["dataset"] == name and run["system"] == system and run.get("test") is not None:
            if system in ("modelcycle", "FLAML") and run["budget"] != budget:
                continue
            return float(run["test"])
    return None


def summarise(
    runs: list[dict[str, Any]], datasets: list[str], budgets: list[float]
) -> dict[str, Any]:
    """Per budget: modelcycle's wins over FLAML, and every system's mean rank (1 = best)."""
    out: dict[str, Any] = {}
    for budget in budgets:
        ranks: dict[str, list[float]] = {s: [] for s in SYSTEMS}
        wins = 0
        beats_baselines = 0
        for name in datasets:
            scores = {s: _score(runs, name, s, budget) for s in SYSTEMS}
            if None in scores.values():
                continue
            ordered = sorted(scores.values(), reverse=True)
            for system, value in scores.items():
                ranks[system].append(1 + ordered.index(value))
            wins += scores["modelcycle"] > scores["FLAML"]
            beats_baselines += scores["modelcycle"] > max(
                scores["LightGBM default"], scores["random forest 300"]
            )
        out[str(budget)] = {
            "modelcycle_wins_over_flaml": wins,
            "modelcycle_beats_both_baselines": beats_baselines,
            "data_sets": len(datasets),
            "mean_rank": {s: (sum(r) / len(r) if r else None) for s, r in ranks.items()},
        }
    return out


def markdown(
    runs: list[dict[str, Any]], datasets: list[str], budgets: list[float], summary: dict[str, Any]
) -> str:
    """The table for docs/benchmarks.md."""

    def cell(name: str, system: str, budget: float | None) -> str:
        for run in runs:
            if (
                run["dataset"] == name
                and run["system"] == system
                and (budget is None or run["budget"] == budget)
            ):
                if "error" in run:
                    return "error"
                wall = f"{run['wall_s']:.1f} s"
                if system == "modelcycle":
                    wall += f" ({run['search_s']:.1f} + refit {run['refit_s']:.1f})"
                return f"{run['test']:.4f} ({wall})"
        return "–"

    head = ["data (metric)"]
    for budget in budgets:
        head += [f"modelcycle {budget:g} s", f"FLAML {budget:g} s"]
    head += ["LightGBM default", "RF 300"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for name in datasets:
        row = [f"{name} ({CASES[name][4]})"]
        for budget in budgets:
            row += [cell(name, "modelcycle", budget), cell(name, "FLAML", budget)]
        row += [cell(name, "LightGBM default", None), cell(name, "random forest 300", None)]
        lines.append("| " + " | ".join(row) + " |")
    for budget in budgets:
        s = summary[str(budget)]
        ranks = ", ".join(f"{k} {v:.2f}" for k, v in s["mean_rank"].items() if v is not None)
        lines.append(
            f"\n{budget:g} s: modelcycle beats FLAML on {s['modelcycle_wins_over_flaml']} of "
            f"{s['data_sets']}, beats both baselines on {s['modelcycle_beats_both_baselines']}; "
            f"mean rank {ranks}."
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
