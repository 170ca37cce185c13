"""Exploring a table before learning from it: summaries, associations with the target, and
warnings about leakage and unusable columns."""

from modelcycle.explore._checks import DataIssue, IssueKind
from modelcycle.explore._explore import Exploration, explore

__all__ = ["DataIssue", "Exploration", "IssueKind", "explore"]
