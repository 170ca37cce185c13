"""Deploy and roll back: move an alias in the registry and record the move in the metadata store.

The registry's alias is what servers follow; the store keeps the history (who moved what, when,
why), from which :func:`rollback` finds the version to return to. A move that cannot be recorded
is undone, so the registry and the history never disagree because of a failure here.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from modelcycle.exceptions import ModelNotFoundError, RegistryError
from modelcycle.registry import Registry
from modelcycle.store import Deployment, MetadataStore

logger = logging.getLogger(__name__)


def deploy(
    name: str,
    version: str | int,
    *,
    alias: str = "production",
    actor: str | None = None,
    reason: str | None = None,
    registry: Registry | None = None,
    store: MetadataStore | None = None,
) -> Deployment:
    """Point ``alias`` of model ``name`` at ``version`` and record the move.

    Every server following the alias picks the version up within its poll interval.

    Parameters
    ----------
    name
        The registered model.
    version
        The version to serve (``3`` or ``"v3"``).
    alias
        The alias to move.
    actor
        Who deploys (a user name, ``"key:<key id>"``), kept in the history.
    reason
        Free text kept in the history.
    registry, store
        Default to the ones the settings name.

    Returns
    -------
    Deployment
        The recorded move (with the version the alias pointed at before).

    Raises
    ------
    ModelNotFoundError
        If the model or the version does not exist (nothing changes).
    StoreError
        If the move cannot be recorded; the alias is moved back first.

    Examples
    --------
    >>> deploy("income", 3).previous_version  # doctest: +SKIP
    '2'
    """
    registry = registry if registry is not None else Registry()
    store = store if store is not None else MetadataStore()
    target = registry.get_version(name, version=version)
    previous = _current(registry, name, alias)
    return _move(registry, store, name, alias, target.version, previous, actor, reason, "deploy")


def rollback(
    name: str,
    *,
    alias: str = "production",
    actor: str | None = None,
    reason: str | None = None,
    registry: Registry | None = None,
    store: MetadataStore | None = None,
) -> Deployment:
    """Point ``alias`` of ``name`` back at the version it served before, and record it.

    The version to return to comes from the recorded history
    (:meth:`~modelcycle.store.MetadataStore.previous_version`): versions already rolled back
    from are skipped. If the alias was moved outside modelcycle since the last recorded move,
    the rollback returns to the last version modelcycle deployed.

    Raises
    ------
    ModelNotFoundError
        If the model has no such alias.
    RegistryError
        If the history holds no earlier version to return to.
    StoreError
        If the move cannot be recorded; the alias is moved back first.
    """
    registry = registry if registry is not None else Registry()
    store = store if store is not None else MetadataStore()
    current = registry.get_version(name, alias=alias).version
    recorded = store.current_version(name, alias)
    if recorded is not None and int(recorded) != current:
        target: str | None = recorded
    else:
        target = store.previous_version(name, alias)
    if target is None or int(target) == current:
        raise RegistryError(
            f"Cannot roll back {name}@{alias}: no earlier version is recorded (it serves "
            f"version {current}, and the deployment history has nothing before it). Deploy "
            f"the version you want with `modelcycle deploy {name} --version V --alias {alias}`."
        )
    return _move(registry, store, name, alias, int(target), current, actor, reason, "rollback")


def deployment_record(move: Deployment) -> dict[str, Any]:
    """A recorded move as JSON-ready data (for the CLI's ``--json`` and the HTTP API)."""
    return {
        "model": move.model,
        "alias": move.alias,
        "version": int(move.version),
        "previous_version": int(move.previous_version) if move.previous_version else None,
        "action": move.action,
        "actor": move.actor,
        "reason": move.reason,
        "at": move.at.isoformat(),
    }


def _current(registry: Registry, name: str, alias: str) -> int | None:
    try:
        return registry.get_version(name, alias=alias).version
    except ModelNotFoundError:
        return None


def _move(
    registry: Registry,
    store: MetadataStore,
    name: str,
    alias: str,
    version: int,
    previous: int | None,
    actor: str | None,
    reason: str | None,
    action: str,
) -> Deployment:
    registry.set_alias(name, alias, version)
    try:
        return store.record_deployment(
            name,
            alias,
            version,
            previous,
            actor,
            action="rollback" if action == "rollback" else "deploy",
            reason=reason,
        )
    except BaseException:
        # Servers follow the alias: it must not point at a move the history lacks.
        with contextlib.suppress(Exception):
            if previous is None:
                registry.delete_alias(name, alias)
            else:
                registry.set_alias(name, alias, previous)
        raise
