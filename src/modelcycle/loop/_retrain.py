"""Retraining: a version's recipe rebuilt, fitted on new data and registered as a challenger."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from modelcycle.data import Table, load_table, profile_table
from modelcycle.exceptions import ParameterError
from modelcycle.loop._window import (
    Window,
    apply_window,
    choose_window,
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
    window: str | Window | Sequence[str | Window] = "all",
    holdout: Table | pd.DataFrame | str | Path | None = None,
    metric: str | None = None,
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
        ``time_column``). Or a list of candidate windows: one model is fitted per window
        and the one that scores best on ``holdout`` is registered (a tie keeps the earlier).
    holdout
        Labeled rows newer than ``data`` (none of the candidates learns from them), needed
        with several windows; with one, its score is recorded.
    metric
        What the candidates are ranked by (default: the task's metric).
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
    candidates = [window] if isinstance(window, str | Window) else list(window)
    if not candidates:
        raise ParameterError("window", "retrain", "a window or a list of windows", window)
    parsed = [parse_window(w) for w in candidates]
    parent = registry.get_version(name, **version_ref(base))
    loaded = registry.load(name, version=parent.version)
    recipe = loaded.recipe
    target = recipe.get("target")
    new = _frame(data, target)
    original = original_rows(recipe) if any(w.kind != "since" for w in parsed) else None

    def rows(chosen: Window) -> Table:
        frame = apply_window(chosen, new, original, time_column=time_column)
        return training_table(recipe, frame, None)

    held = None if holdout is None else training_table(recipe, _frame(holdout, target), None)
    choice = choose_window(recipe, parsed, rows, held, metric)
    table = choice.table
    with_original = original is not None and choice.window.kind != "since"
    info = registry.register(
        name,
        choice.pipeline,
        run_id=None,
        recipe=child_recipe(recipe, table, parent.version, choice.window, with_original),
        input_example=table.X.head(_EXAMPLE_ROWS),
        reference_profile=profile_table(table),
        description=description
        or f"Retrained from version {parent.version} on {len(table)} rows ({choice.describe()}).",
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
                "window": str(choice.window),
                **({"candidates": choice.scores, "metric": choice.metric} if choice.scores else {}),
                "rows": len(table),
                "new_rows": len(new),
                "original_rows": len(original) if with_original and original is not None else 0,
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
