"""Register a candidate as a model version: the bridge from a Learner to the registry."""

from __future__ import annotations

from modelcycle.data import profile_table
from modelcycle.learn._candidate import Candidate
from modelcycle.registry import ModelVersionInfo, Registry

_EXAMPLE_ROWS = 5


def register(
    candidate: Candidate,
    name: str,
    *,
    alias: str | None = None,
    description: str | None = None,
    tracking_uri: str | None = None,
) -> ModelVersionInfo:
    """Register ``candidate`` (refit on all its data if needed) as a new version of ``name``.

    The version carries the pipeline, its signature and input example, the recipe, a checksum
    of the artifact, and a reference profile of the training data for drift monitoring.

    Examples
    --------
    >>> version = mc.register(learner.best_, "income")  # doctest: +SKIP
    >>> version.version  # doctest: +SKIP
    '1'
    """
    if candidate.pipeline is None:
        candidate.refit()
    assert candidate.pipeline is not None
    table = candidate.table
    registry = Registry(tracking_uri=tracking_uri)
    info = registry.register(
        name,
        candidate.pipeline,
        run_id=candidate.run_id,
        recipe=candidate.recipe,
        input_example=table.X.head(_EXAMPLE_ROWS),
        reference_profile=profile_table(table),
        metrics=candidate.metrics,
        description=description,
    )
    if alias:
        registry.set_alias(name, alias, info.version)
    return info
