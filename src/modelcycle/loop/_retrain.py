"""Retraining: a version's recipe rebuilt, fitted on new data and registered as a challenger."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pandas as pd

from modelcycle.data import Table, load_table, profile_table
from modelcycle.loop._window import (
    Window,
    apply_window,
    fit_recipe,
    original_rows,
    parse_window,
    training_table,
    version_ref,
)
from modelcycle.registry import ModelVersionInfo, Registry
from modelcycle.store import MetadataStore

__all__ = ["PARENT_KEY", "retrain"]

#: Recipe key naming the version a retrained version was built from.
PARENT_KEY = "modelcycle.parent_version"
_EXAMPLE_ROWS = 5


def retrain(
    name: str,
    data: Table | pd.DataFrame | str | Path,
    *,
    window: str | Window = "all",
    base: int | str = "production",
    alias: str | None = "challenger",
    time_column: str | None = None,
    description: str | None = None,
    record: bool = True,
    registry: Registry | None = None,
    store: MetadataStore | None = None,
) -> ModelVersionInfo:
    """Fit ``base``'s recipe on new labeled data and register the result as a new version.

    The pipeline is rebuilt from the recipe (same family and hyperparameters, or the same
    AutoML pipeline) and fitted on the rows ``window`` selects. The new version carries the
    same recipe with its data and parent updated, a reference profile of its own training
    rows (so drift is measured against what it learned from), and points ``alias`` at it. The
    served alias (``production``) is never touched: promoting is a separate, last step.

    Parameters
    ----------
    name
        The registered model.
    data
        New labeled rows: the features and the target of the recipe (a table, a DataFrame,
        or a CSV/Parquet file), oldest first.
    window
        ``"all"``: the original training data (when the recipe's source file is still
        readable) followed by ``data``; ``"last:N"``: the newest N of those rows (a sliding
        window); ``"since:YYYY-MM-DD"``: the rows of ``data`` at or after the date (needs
        ``time_column``).
    base
        The version (number or alias) whose recipe is retrained.
    alias
        Alias pointed at the new version (``None``: none).
    time_column
        Column of ``data`` holding each row's time (for ``since:``).
    record
        Record a ``retrain`` event in the metadata store.

    Returns
    -------
    ModelVersionInfo
        The new version.

    Examples
    --------
    >>> import modelcycle as mc
    >>> info = mc.retrain("elec", "may.csv", window="last:20000")  # doctest: +SKIP
    >>> info.aliases  # doctest: +SKIP
    ('challenger',)
    """
    registry = registry if registry is not None else Registry()
    parsed = parse_window(window)
    parent = registry.get_version(name, **version_ref(base))
    loaded = registry.load(name, version=parent.version)
    recipe = loaded.recipe
    new = _frame(data, recipe.get("target"))
    original = original_rows(recipe) if parsed.kind != "since" else None
    frame = apply_window(parsed, new, original, time_column=time_column)
    table = training_table(recipe, frame, None)
    pipeline = fit_recipe(recipe, table)
    info = registry.register(
        name,
        pipeline,
        run_id=None,
        recipe=child_recipe(recipe, table, parent.version, parsed, original is not None),
        input_example=table.X.head(_EXAMPLE_ROWS),
        reference_profile=profile_table(table),
        description=description
        or f"Retrained from version {parent.version} on {len(table)} rows (window {parsed}).",
    )
    if alias:
        info = registry.set_alias(name, alias, info.version)
    if record:
        store = store if store is not None else MetadataStore()
        store.record_event(
            "retrain",
            name,
            version=info.version,
            details={
                "parent_version": parent.version,
                "window": str(parsed),
                "rows": len(table),
                "new_rows": len(new),
                "original_rows": 0 if original is None else len(original),
                "alias": alias,
            },
        )
    return info


def child_recipe(
    recipe: dict[str, Any], table: Table, parent: int, window: Window, with_original: bool
) -> dict[str, Any]:
    """The parent's recipe, with the data it was trained on now and a link to the parent."""
    child = copy.deepcopy(recipe)
    source = (recipe.get("data") or {}).get("source") if with_original else None
    child["data"] = {
        "source": source,
        "rows": len(table),
        "fingerprint": table.fingerprint(),
        "window": str(window),
    }
    child[PARENT_KEY] = parent
    return child


def _frame(data: Table | pd.DataFrame | str | Path, target: str | None) -> pd.DataFrame:
    if isinstance(data, Table):
        return data.frame
    if isinstance(data, pd.DataFrame):
        return data
    return load_table(data, target=target).frame
