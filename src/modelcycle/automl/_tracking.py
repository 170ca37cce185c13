"""Log an AutoML session as MLflow runs from a background thread: a parent run for the search,
a nested run per trial, and one for the final model.

An MLflow write takes tens of milliseconds (seconds for a new store's first migration), and a
search finishes a trial every fraction of a second; writing from the search loop would leave
the workers idle while it waits. The thread writes in order while the search goes on, and the
search waits for it only at the end, while the final model is refit.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from modelcycle.exceptions import RegistryError
from modelcycle.registry import Registry

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunRecord:
    """One run to log, and where to report its id."""

    name: str
    params: Mapping[str, Any]
    metrics: Mapping[str, float]
    recipe: Mapping[str, Any]
    tags: Mapping[str, Any]
    artifacts: Mapping[str, str | bytes]
    on_logged: Callable[[str], None]


class SessionTracker:
    """The experiment, its parent run, and a queue of nested runs written by a thread.

    Parameters
    ----------
    tracking_uri
        The MLflow tracking store (``None``: the configured one).
    experiment
        The experiment's name.
    tags
        Experiment tags.
    settings
        The search's settings: the parent run's parameters and recipe.
    """

    def __init__(
        self,
        tracking_uri: str | None,
        experiment: str,
        tags: Mapping[str, Any],
        settings: Mapping[str, Any],
    ) -> None:
        self._registry = Registry(tracking_uri=tracking_uri)
        self._experiment = experiment
        self._tags = dict(tags)
        self._settings = dict(settings)
        self._queue: queue.Queue[RunRecord | None] = queue.Queue()
        self._error: BaseException | None = None
        self.experiment_id: str | None = None
        self.parent_run_id: str | None = None
        self._thread = threading.Thread(target=self._work, name="modelcycle-automl-tracking")
        self._thread.daemon = True
        self._thread.start()

    def _work(self) -> None:
        try:
            self.experiment_id = self._registry.session(self._experiment, tags=self._tags)
            self.parent_run_id = self._registry.log_run(
                self.experiment_id,
                "automl",
                params=self._settings,
                metrics={},
                recipe=self._settings,
                tags={"modelcycle.kind": "automl", **self._tags},
            )
        except BaseException as exc:
            self._error = exc
        while True:
            record = self._queue.get()
            if record is None:
                return
            if self._error is not None:
                continue  # drain: the error is raised once, by finish()
            try:
                record.on_logged(self._log(record))
            except BaseException as exc:
                self._error = exc

    def _log(self, record: RunRecord) -> str:
        assert self.experiment_id is not None
        return self._registry.log_run(
            self.experiment_id,
            record.name,
            params=record.params,
            metrics=record.metrics,
            recipe=record.recipe,
            tags=record.tags,
            artifacts=record.artifacts,
            parent_run_id=self.parent_run_id,
        )

    def log(self, record: RunRecord) -> None:
        """Queue a nested run; ``record.on_logged`` receives its id once written."""
        self._queue.put(record)

    def finish(self) -> None:
        """Write every queued run, stop the thread, and raise what went wrong, if anything.

        Raises
        ------
        RegistryError
            A run could not be logged.
        """
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            if isinstance(self._error, RegistryError):
                raise self._error
            raise RegistryError(
                f"Could not track the AutoML session: {type(self._error).__name__}: "
                f"{self._error}. Check the tracking store (MODELCYCLE_TRACKING_URI)."
            ) from self._error
