"""AutoML: search model families, hyperparameters and feature engineering within a time
budget (Optuna), ensemble the best trials, and return an ordinary, registrable candidate."""

from modelcycle.automl._automl import AutoMLResult, automl
from modelcycle.automl._ensemble import Selection, select_ensemble
from modelcycle.automl._executor import LocalExecutor, TrialExecutor
from modelcycle.automl._pipeline import build_pipeline, pipeline_from_recipe
from modelcycle.automl._report import automl_report
from modelcycle.automl._search import SearchProgress, Trial
from modelcycle.automl._space import FAMILIES

__all__ = [
    "FAMILIES",
    "AutoMLResult",
    "LocalExecutor",
    "SearchProgress",
    "Selection",
    "Trial",
    "TrialExecutor",
    "automl",
    "automl_report",
    "build_pipeline",
    "pipeline_from_recipe",
    "select_ensemble",
]
