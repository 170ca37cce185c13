"""Clustering candidates: a family at one number of clusters, with its clusters and profiles."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelcycle.data import Table, Validation
from modelcycle.exceptions import LearnError
from modelcycle.learn._candidate import Candidate
from modelcycle.learn._cluster import SILHOUETTE_ROWS, ClusterFit, ClusterSpec, fit_labels
from modelcycle.learn._cluster_profile import NOISE, ClusterProfile, profile_clusters
from modelcycle.learn._parallel import JobResult
from modelcycle.learn._recipe import make_recipe, pipeline_from_recipe

__all__ = ["ClusterCandidate", "cluster_candidate"]

#: How a clustering is scored, recorded in its recipe where a supervised one records its
#: validation scheme.
IN_SAMPLE = {"kind": "in-sample", "silhouette_rows": SILHOUETTE_ROWS}


@dataclass
class ClusterCandidate(Candidate):
    """A clustering candidate: one family at one number of clusters, fitted on every row.

    Its ``metrics`` are internal validity scores on the rows it was fitted on (there is no
    held-out truth to score a clustering against), so ``metrics_std`` is 0, as for one holdout
    split. ``labels`` holds the cluster of each training row (``-1``: noise).

    Examples
    --------
    >>> board = mc.Learner(table_without_target).compare()  # doctest: +SKIP
    >>> best = board.best  # doctest: +SKIP
    >>> best.sizes(), best.profiles()[0].top(2)  # doctest: +SKIP
    """

    labels: np.ndarray | None = field(default=None, repr=False)
    _profiles: list[ClusterProfile] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def n_clusters(self) -> int:
        """The number of clusters found (noise aside)."""
        return len(self.sizes()) - (NOISE in self.sizes())

    def refit(self) -> ClusterCandidate:
        """Fit this candidate's recipe on all of its rows again; returns self.

        The labels are those of the refit model (the same as before for the same seed).
        """
        if not self.ok:
            super().refit()  # raises the error that says why a failed candidate cannot be refit
        pipeline = pipeline_from_recipe(self.recipe)
        self.labels = fit_labels(pipeline, self.table.X)
        self.pipeline = pipeline
        self._profiles = None
        return self

    def sizes(self) -> dict[int, int]:
        """The number of rows in each cluster, by label (noise, ``-1``, last)."""
        labels = self._labels()
        values, counts = np.unique(labels, return_counts=True)
        order = sorted(range(len(values)), key=lambda i: (values[i] == NOISE, values[i]))
        return {int(values[i]): int(counts[i]) for i in order}

    def profiles(self) -> list[ClusterProfile]:
        """What sets each cluster apart from the whole table (see
        :func:`~modelcycle.learn.profile_clusters`)."""
        if self._profiles is None:
            self._profiles = profile_clusters(self.table, self._labels())
        return self._profiles

    def summary(self, top: int | None = None) -> dict[str, Any]:
        """The clusters as plain JSON-able data: count, noise share, sizes and profiles
        (``top``: keep each profile's most distinctive features only)."""
        sizes = self.sizes()
        return {
            "model": self.name,
            "n_clusters": self.n_clusters,
            "noise": sizes.get(NOISE, 0) / len(self.table),
            "sizes": {str(k): v for k, v in sizes.items()},
            "profiles": [p.to_dict(top) for p in self.profiles()],
        }

    def _labels(self) -> np.ndarray:
        if self.labels is None:
            raise LearnError(
                f"The candidate {self.name!r} {self.status} ({self.error}), so it has no "
                "clusters. Choose a candidate whose status is 'ok'."
            )
        return self.labels


def cluster_candidate(
    spec: ClusterSpec, result: JobResult, table: Table, random_state: int
) -> ClusterCandidate:
    """The candidate of one finished (or failed) clustering job."""
    recipe = make_recipe(
        spec.family,
        dict(spec.params),
        table,
        Validation(),
        random_state,
        extra={"validation": dict(IN_SAMPLE)},
    )
    candidate = ClusterCandidate(
        spec.name, spec.label, result.status, recipe, table, error=result.error
    )
    if result.status != "ok":
        return candidate
    fit: ClusterFit = result.value
    candidate.metrics = dict(fit.metrics)
    candidate.metrics_std = dict.fromkeys(fit.metrics, 0.0)
    candidate.fit_seconds = fit.fit_seconds
    candidate.predict_rows_per_second = fit.predict_rows / max(fit.predict_seconds, 1e-9)
    candidate.size_bytes = fit.size_bytes
    candidate.labels = fit.labels
    return candidate
