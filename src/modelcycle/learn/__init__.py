"""The Learner: model presets, validation metrics, candidates, leaderboards and registration;
clustering families, their scores and cluster profiles."""

from modelcycle.learn._assess import Inspection
from modelcycle.learn._candidate import Candidate, Leaderboard
from modelcycle.learn._cluster import (
    ClusterAssigner,
    ClusterSpec,
    cluster_scores,
    cluster_specs,
    get_cluster_spec,
)
from modelcycle.learn._cluster_candidate import ClusterCandidate
from modelcycle.learn._cluster_profile import ClusterProfile, FeatureContrast, profile_clusters
from modelcycle.learn._explain import Explanation, explain
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
from modelcycle.learn._report import session_report

__all__ = [
    "METRICS",
    "PRESETS",
    "Candidate",
    "ClusterAssigner",
    "ClusterCandidate",
    "ClusterProfile",
    "ClusterSpec",
    "Explanation",
    "FeatureContrast",
    "Inspection",
    "Leaderboard",
    "Learner",
    "Metric",
    "ModelSpec",
    "check_metric",
    "cluster_scores",
    "cluster_specs",
    "default_metric",
    "explain",
    "get_cluster_spec",
    "get_spec",
    "is_better",
    "make_recipe",
    "model_specs",
    "pipeline_from_recipe",
    "profile_clusters",
    "register",
    "score",
    "session_report",
]
