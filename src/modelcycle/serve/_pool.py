"""The model pool: which version serves each (model, alias), kept in step with the registry.

A background thread polls the registry every ``poll_interval`` seconds. When an alias moves,
the new version is loaded on a loader thread (checksum verified, warm-up prediction on its
input example) and then swapped in by a single reference assignment: a request holds the
:class:`~modelcycle.serve.ServedModel` it started with, so requests in flight finish on the old
version and no request ever sees a half-loaded one. A version that fails to load is not swapped
in; the old one keeps serving and the failure is reported by :meth:`ModelPool.status`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from modelcycle.exceptions import ModelNotFoundError, ParameterError
from modelcycle.registry import Registry
from modelcycle.serve._errors import RequestError
from modelcycle.serve._predict import ServedModel

logger = logging.getLogger(__name__)

# A failed version is retried, but not on every poll: checksumming a large artifact that is
# known to be corrupt would burn a core. The wait doubles per failure, up to this cap.
_MAX_RETRY_SECONDS = 300.0


class PoolEvents:
    """Hooks the pool calls when something happens; the server's metrics implement them.

    The default methods do nothing. They are called from the pool's threads and must not block.
    """

    def polled(self, ok: bool) -> None:
        """A poll of the registry finished (``ok`` False: the registry could not be read)."""

    def swapped(self, model: str, alias: str, old: int | None, new: int) -> None:
        """``alias`` of ``model`` now serves version ``new`` (``old`` before, if any)."""

    def load_failed(self, model: str, alias: str, version: int) -> None:
        """Loading ``version`` for ``alias`` of ``model`` failed."""

    def retired(self, model: str, alias: str) -> None:
        """``alias`` of ``model`` is no longer served (the alias or the model is gone)."""


@dataclass(frozen=True)
class DeploymentStatus:
    """What one (model, alias) deployment is doing, for ``GET /v1/models/{name}``.

    Attributes
    ----------
    state
        ``"loaded"`` (serving the version the alias points at), ``"loading"`` (a new version
        is being loaded; ``version`` still serves), ``"failed"`` (the version the alias points
        at could not be loaded; ``version`` still serves, if any) or ``"pending"``.
    version
        The version answering requests now, or ``None``.
    target_version
        The version the alias points at in the registry.
    error, error_version
        The last load failure and the version it concerned (cleared once the alias serves its
        target).
    inference
        How the serving version predicts (``ServedModel.describe_inference``), or ``None``.
    """

    model: str
    alias: str
    state: str
    version: int | None
    target_version: int
    loaded_at: datetime | None
    swaps: int
    error: str | None
    error_version: int | None
    inference: dict[str, Any] | None = None


class _Slot:
    """The mutable state of one deployment; changed only under the pool's lock."""

    __slots__ = (
        "alias",
        "current",
        "error",
        "error_version",
        "failures",
        "loading",
        "model",
        "retry_at",
        "swaps",
        "target",
    )

    def __init__(self, model: str, alias: str, target: int) -> None:
        self.model = model
        self.alias = alias
        self.target = target
        # Read without the lock on the request path: one attribute read, always a whole object.
        self.current: ServedModel | None = None
        self.loading: int | None = None
        self.error: str | None = None
        self.error_version: int | None = None
        self.failures = 0
        self.retry_at = 0.0
        self.swaps = 0


class ModelPool:
    """The versions a server answers with, following the registry's aliases.

    Parameters
    ----------
    registry
        Where models and aliases come from; ``None`` means ``Registry()`` (the settings).
    aliases
        The aliases served. A model is served under each of these it has; a model with none
        of them is not served.
    poll_interval
        Seconds between polls of the registry.
    events
        Hooks for swaps, failures and polls (metrics).
    max_versions
        How many versions asked for by number (``/versions/{v}/predict``) stay loaded besides
        the aliased ones; the least recently used goes first.

    Examples
    --------
    >>> pool = ModelPool(Registry(), poll_interval=5)  # doctest: +SKIP
    >>> pool.start(); pool.wait_ready(60)                # doctest: +SKIP
    True
    >>> pool.get("income").version                       # doctest: +SKIP
    3
    >>> pool.close()                                     # doctest: +SKIP
    """

    def __init__(
        self,
        registry: Registry | None = None,
        *,
        aliases: Sequence[str] = ("production",),
        poll_interval: float = 5.0,
        events: PoolEvents | None = None,
        max_versions: int = 4,
    ) -> None:
        if isinstance(aliases, str) or not aliases or not all(isinstance(a, str) for a in aliases):
            raise ParameterError("aliases", "ModelPool", "a non-empty list of alias names", aliases)
        if not isinstance(poll_interval, int | float) or not poll_interval > 0:
            raise ParameterError(
                "poll_interval", "ModelPool", "a positive number of seconds", poll_interval
            )
        self.registry = registry if registry is not None else Registry()
        self.aliases = tuple(aliases)
        self.poll_interval = float(poll_interval)
        self.events = events if events is not None else PoolEvents()
        self.max_versions = max_versions
        self.polled_at: datetime | None = None
        self.poll_error: str | None = None
        self._slots: dict[tuple[str, str], _Slot] = {}
        self._lock = threading.Lock()
        self._polled = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # One loader: loads are rare, and two at once would only compete with requests for CPU.
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="modelcycle-load")
        self._versions: OrderedDict[tuple[str, int], ServedModel] = OrderedDict()
        self._versions_lock = threading.Lock()

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Start polling in a background thread (the first poll starts at once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="modelcycle-poller", daemon=True)
            self._thread.start()

    def close(self, timeout: float | None = 10.0) -> None:
        """Stop polling and loading; the loaded models stay usable until dropped."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._loader.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.poll_interval)

    # -- following the registry ----------------------------------------------------------------

    def poll(self) -> bool:
        """Read the registry's aliases once and start loading whatever moved.

        Returns
        -------
        bool
            ``False`` if the registry could not be read (everything loaded keeps serving and
            :attr:`poll_error` says why).
        """
        try:
            models = self.registry.list_models()
        except Exception as exc:
            self.poll_error = f"{type(exc).__name__}: {exc}"
            logger.warning("Could not poll the registry: %s", self.poll_error)
            self.events.polled(False)
            return False
        wanted = {
            (m.name, alias): int(version)
            for m in models
            for alias, version in m.aliases.items()
            if alias in self.aliases
        }
        with self._lock:
            for key in [k for k in self._slots if k not in wanted]:
                # Requests holding its model finish; new ones get a 404.
                del self._slots[key]
                self.events.retired(*key)
            for key, version in wanted.items():
                self._follow(key, version)
        self.polled_at = datetime.now(UTC)
        self.poll_error = None
        self._polled.set()
        self.events.polled(True)
        return True

    def _follow(self, key: tuple[str, str], version: int) -> None:
        """Bring one slot towards ``version`` (called under the lock)."""
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot(key[0], key[1], version)
        slot.target = version
        if slot.current is not None and slot.current.version == version:
            slot.error = slot.error_version = None
            slot.failures = 0
            return
        if slot.loading == version:
            return
        shared = self._loaded(key[0], version)
        if shared is not None:
            self._swap(slot, shared)
            return
        if slot.error_version == version and time.monotonic() < slot.retry_at:
            return
        slot.loading = version
        self._loader.submit(self._load, key, version)

    def _loaded(self, model: str, version: int) -> ServedModel | None:
        """An already loaded copy of this version (another alias may serve it)."""
        for slot in self._slots.values():
            current = slot.current
            if current is not None and current.name == model and current.version == version:
                return current
        return self._versions.get((model, version))

    def _load(self, key: tuple[str, str], version: int) -> None:
        model, alias = key
        try:
            served = self._prepare(model, version)
        except Exception as exc:
            message = f"version {version} failed to load: {type(exc).__name__}: {exc}"
            logger.warning("%s@%s %s", model, alias, message)
            with self._lock:
                slot = self._slots.get(key)
                if slot is not None and slot.loading == version:
                    slot.loading = None
                    slot.error, slot.error_version = message, version
                    slot.failures += 1
                    wait = min(_MAX_RETRY_SECONDS, self.poll_interval * 2**slot.failures)
                    slot.retry_at = time.monotonic() + wait
            self.events.load_failed(model, alias, version)
            return
        with self._lock:
            slot = self._slots.get(key)
            if slot is not None and slot.loading == version:
                slot.loading = None
            if slot is not None and slot.target == version:
                self._swap(slot, served)
            # Otherwise the alias moved on (or went away) while loading: drop this version.

    def _swap(self, slot: _Slot, served: ServedModel) -> None:
        old = slot.current
        # The swap itself: one reference assignment, atomic for every reader.
        slot.current = served
        slot.error = slot.error_version = None
        slot.failures = 0
        if old is not None:
            slot.swaps += 1
        self.events.swapped(slot.model, slot.alias, old.version if old else None, served.version)

    def _prepare(self, model: str, version: int) -> ServedModel:
        loaded = self.registry.load(model, version=version, verify=True)
        served = ServedModel.prepare(loaded)
        served.warm_up()
        return served

    # -- lookups (the request path) ----------------------------------------------------------

    def get(self, model: str, alias: str | None = None) -> ServedModel:
        """The version serving ``alias`` (the first served alias when ``None``) of ``model``.

        Raises
        ------
        RequestError
            404 if the model or alias is not served here, 503 if it is still loading or its
            only version failed to load.
        """
        slot = self._slots.get((model, alias or self.aliases[0]))
        current = slot.current if slot is not None else None
        if current is not None:
            return current
        if slot is None:
            raise self._not_served(model, alias)
        if slot.error is not None:
            raise RequestError(
                503,
                "model_unavailable",
                f"{model}@{slot.alias} has no version loaded: {slot.error}. Deploy a version "
                f"that loads (modelcycle deploy {model} --version V); see GET /v1/models/{model}.",
                field="name",
            )
        raise RequestError(
            503,
            "model_loading",
            f"{model}@{slot.alias} (version {slot.target}) is still loading. Retry in a moment.",
            field="name",
        )

    def version(self, model: str, version: int) -> ServedModel:
        """Version ``version`` of a served model, loaded on first use (blocking).

        Raises
        ------
        RequestError
            404 if the model is not served or has no such version, 503 if it fails to load.
        """
        if not any(key[0] == model for key in list(self._slots)):
            raise self._not_served(model, None)
        found = self._loaded(model, version)
        if found is not None:
            return found
        with self._versions_lock:
            found = self._versions.get((model, version))
            if found is None:
                found = self._load_version(model, version)
                self._versions[(model, version)] = found
            self._versions.move_to_end((model, version))
            while len(self._versions) > self.max_versions:
                self._versions.popitem(last=False)
        return found

    def _load_version(self, model: str, version: int) -> ServedModel:
        try:
            return self._prepare(model, version)
        except ModelNotFoundError as exc:
            raise RequestError(404, "version_not_found", str(exc), field="version") from exc
        except RequestError:
            raise
        except Exception as exc:
            raise RequestError(
                503,
                "model_unavailable",
                f"{model} version {version} failed to load: {type(exc).__name__}: {exc}",
                field="version",
            ) from exc

    def _not_served(self, model: str, alias: str | None) -> RequestError:
        served = sorted({f"{m}@{a}" for m, a in list(self._slots)})
        listed = ", ".join(served[:20]) if served else "none"
        if alias is not None and any(key[0] == model for key in list(self._slots)):
            return RequestError(
                404,
                "alias_not_served",
                f"{model!r} is not served under the alias {alias!r}; served here: {listed}. "
                f"This server follows the aliases {', '.join(self.aliases)} "
                "(modelcycle serve --alias NAME adds one).",
                field="alias",
            )
        return RequestError(
            404,
            "model_not_found",
            f"No model {model!r} is served here; served: {listed}. A model is served once "
            f"one of its versions has the alias {self.aliases[0]!r}: "
            f"modelcycle deploy {model} --version V.",
            field="name",
        )

    # -- state ---------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Whether the registry was read and every deployment has a version loaded."""
        return self._polled.is_set() and all(s.current is not None for s in self._slots.values())

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until :attr:`ready` (or ``timeout`` seconds); return whether it is."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.ready:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def settle(
        self, model: str, alias: str, version: int, timeout: float
    ) -> DeploymentStatus | None:
        """Wait until ``alias`` of ``model`` serves ``version`` or failed to load it.

        Returns the deployment's status then (or at ``timeout``), or ``None`` if this pool does
        not serve that alias.
        """
        if alias not in self.aliases:
            return None
        deadline = time.monotonic() + timeout
        while True:
            found = [s for s in self.status(model) if s.alias == alias]
            done = found and (found[0].version == version or found[0].error_version == version)
            if done or time.monotonic() >= deadline:
                return found[0] if found else None
            time.sleep(0.02)

    def status(self, model: str | None = None) -> list[DeploymentStatus]:
        """The state of every deployment (of ``model`` only, when given), sorted."""
        with self._lock:
            slots = [s for k, s in sorted(self._slots.items()) if model in (None, k[0])]
            return [_status(s) for s in slots]

    def models(self) -> list[str]:
        """The names of the models served (under any alias), sorted."""
        return sorted({key[0] for key in list(self._slots)})


def _status(slot: _Slot) -> DeploymentStatus:
    current = slot.current
    if slot.loading is not None:
        state = "loading"
    elif current is not None and current.version == slot.target:
        state = "loaded"
    elif slot.error is not None:
        state = "failed"
    else:
        state = "pending"
    return DeploymentStatus(
        model=slot.model,
        alias=slot.alias,
        state=state,
        version=current.version if current is not None else None,
        target_version=slot.target,
        loaded_at=current.loaded_at if current is not None else None,
        swaps=slot.swaps,
        error=slot.error,
        error_version=slot.error_version,
        inference=current.describe_inference() if current is not None else None,
    )
