"""The Learner: model presets, validation metrics, candidates, leaderboards and registration."""

from modelcycle.learn._candidate import Candidate, Leaderboard
from modelcycle.learn._learner import Learner
from modelcycle.learn._metrics import (
    METRICS,
    Metric,
    check_metric,
    default_metric,
    is_better,
    score,
)
from modelcycle.learn._presets import PRESETS, ModelSpec, get_spec, model_specs
from modelcycle.learn._recipe import make_recipe, pipeline_from_recipe
from modelcycle.learn._register import register

__all__ = [
    "METRICS",
    "PRESETS",
    "Candidate",
    "Leaderboard",
    "Learner",
    "Metric",
    "ModelSpec",
    "check_metric",
    "default_metric",
    "get_spec",
    "is_better",
    "make_recipe",
    "model_specs",
    "pipeline_from_recipe",
    "register",
    "score",
]
