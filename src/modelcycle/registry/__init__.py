"""The model registry: the only part of modelcycle that talks to MLflow.

A :class:`Registry` logs Learner sessions (experiments) and candidates (runs), registers fitted
pipelines as model versions with their recipe, signature, input example, reference profile and
checksum, moves aliases, and loads versions back after verifying their checksum.
"""

from modelcycle.registry._registry import Registry
from modelcycle.registry._types import LoadedModel, ModelVersionInfo, RegisteredModelInfo

__all__ = ["LoadedModel", "ModelVersionInfo", "RegisteredModelInfo", "Registry"]
