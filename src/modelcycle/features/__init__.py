"""Preprocessing pipelines built from a table's schema."""

from modelcycle.features._preprocess import DatetimeFeatures, Encoding, build_preprocessor

__all__ = ["DatetimeFeatures", "Encoding", "build_preprocessor"]
