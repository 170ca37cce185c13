"""modelcycle: the machine-learning lifecycle as one loop.

The names a user imports live here::

    import modelcycle as mc

    table = mc.load_table("adult.csv", target="income")
    board = mc.Learner(table).compare(preset="quick")
    mc.register(board.best, "income", alias="production")

Names are imported on first use, so ``import modelcycle.store`` in a server worker does not pay
for scikit-learn, and the CLI starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the subpackage that defines it
_EXPORTS = {
    "ColumnKind": "modelcycle.data",
    "Schema": "modelcycle.data",
    "Table": "modelcycle.data",
    "Task": "modelcycle.data",
    "Validation": "modelcycle.data",
    "load_table": "modelcycle.data",
    "profile_table": "modelcycle.data",
    "ModelcycleError": "modelcycle.exceptions",
    "ModelcycleWarning": "modelcycle.exceptions",
    "Candidate": "modelcycle.learn",
    "Leaderboard": "modelcycle.learn",
    "Learner": "modelcycle.learn",
    "register": "modelcycle.learn",
    "Registry": "modelcycle.registry",
    "MetadataStore": "modelcycle.store",
    "explore": "modelcycle.explore",
    "Exploration": "modelcycle.explore",
    "rank_features": "modelcycle.features",
    "Ranking": "modelcycle.features",
    "select_features": "modelcycle.features",
    "permutation_ranking": "modelcycle.features",
    "explain": "modelcycle.learn",
    "Explanation": "modelcycle.learn",
    "session_report": "modelcycle.learn",
    "ClusterCandidate": "modelcycle.learn",
    "profile_clusters": "modelcycle.learn",
    "deploy": "modelcycle.serve",
    "rollback": "modelcycle.serve",
    "retrain": "modelcycle.loop",
    "compare_versions": "modelcycle.loop",
    "Policy": "modelcycle.loop",
    "backtest": "modelcycle.loop",
    "backtest_starts": "modelcycle.loop",
    "detect_drift": "modelcycle.monitor",
    "DriftReport": "modelcycle.monitor",
    "DriftStatus": "modelcycle.monitor",
    "model_reference": "modelcycle.monitor",
    "check_window": "modelcycle.monitor",
    "Monitor": "modelcycle.monitor",
    "StreamMonitor": "modelcycle.monitor",
    "monitor_report": "modelcycle.monitor",
    "automl": "modelcycle.automl",
    "AutoMLResult": "modelcycle.automl",
}

__all__ = [
    "AutoMLResult",
    "Candidate",
    "ClusterCandidate",
    "ColumnKind",
    "DriftReport",
    "DriftStatus",
    "Explanation",
    "Exploration",
    "Leaderboard",
    "Learner",
    "MetadataStore",
    "ModelcycleError",
    "ModelcycleWarning",
    "Monitor",
    "Policy",
    "Ranking",
    "Registry",
    "Schema",
    "StreamMonitor",
    "Table",
    "Task",
    "Validation",
    "__version__",
    "automl",
    "backtest",
    "backtest_starts",
    "check_window",
    "compare_versions",
    "deploy",
    "detect_drift",
    "explain",
    "explore",
    "load_table",
    "model_reference",
    "monitor_report",
    "permutation_ranking",
    "profile_clusters",
    "profile_table",
    "rank_features",
    "register",
    "retrain",
    "rollback",
    "select_features",
    "session_report",
]

if TYPE_CHECKING:
    from modelcycle.automl import AutoMLResult, automl
    from modelcycle.data import (
        ColumnKind,
        Schema,
        Table,
        Task,
        Validation,
        load_table,
        profile_table,
    )
    from modelcycle.exceptions import ModelcycleError, ModelcycleWarning
    from modelcycle.explore import Exploration, explore
    from modelcycle.features import Ranking, permutation_ranking, rank_features, select_features
    from modelcycle.learn import (
        Candidate,
        ClusterCandidate,
        Explanation,
        Leaderboard,
        Learner,
        explain,
        profile_clusters,
        register,
        session_report,
    )
    from modelcycle.loop import Policy, backtest, backtest_starts, compare_versions, retrain
    from modelcycle.monitor import (
        DriftReport,
        DriftStatus,
        Monitor,
        StreamMonitor,
        check_window,
        detect_drift,
        model_reference,
        monitor_report,
    )
    from modelcycle.registry import Registry
    from modelcycle.serve import deploy, rollback
    from modelcycle.store import MetadataStore


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'modelcycle' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
