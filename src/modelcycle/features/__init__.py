"""Preprocessing pipelines built from a table's schema, and feature ranking and selection."""

from modelcycle.features._preprocess import DatetimeFeatures, Encoding, build_preprocessor
from modelcycle.features._rank import (
    RANKING_METHODS,
    FeatureSelection,
    Ranking,
    RankingMethod,
    methods_for,
    permutation_ranking,
    rank_features,
    select_features,
)

__all__ = [
    "RANKING_METHODS",
    "DatetimeFeatures",
    "Encoding",
    "FeatureSelection",
    "Ranking",
    "RankingMethod",
    "build_preprocessor",
    "methods_for",
    "permutation_ranking",
    "rank_features",
    "select_features",
]
