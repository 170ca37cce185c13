"""Log a Learner session to the registry's tracking store: an experiment, a run per candidate."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelcycle.data import Table, Validation
from modelcycle.learn._cluster_candidate import ClusterCandidate
from modelcycle.learn._plots import assessment_artifacts, candidate_figures
from modelcycle.registry import Registry

if TYPE_CHECKING:
    from modelcycle.learn._candidate import Candidate


@dataclass(frozen=True)
class Session:
    registry: Registry
    experiment_id: str


def track_session(
    tracking_uri: str | None, name: str, table: Table, validation: Validation, metric: str
) -> Session:
    registry = Registry(tracking_uri=tracking_uri)
    tags = {
        "modelcycle.kind": "learner",
        "modelcycle.task": str(table.task),
        "modelcycle.target": str(table.target),
        "modelcycle.metric": metric,
        "modelcycle.validation": str(validation.describe()),
    }
    return Session(registry, registry.session(name, tags=tags))


def track_candidate(session: Session, candidate: Candidate) -> str:
    """Log one candidate as a run; returns the run id."""
    metrics = dict(candidate.metrics)
    metrics.update({f"{k}_std": v for k, v in candidate.metrics_std.items()})
    if candidate.ok:
        metrics.update(
            fit_seconds=candidate.fit_seconds,
            predict_rows_per_second=candidate.predict_rows_per_second,
            size_bytes=float(candidate.size_bytes),
        )
    artifacts: dict[str, str | bytes] = {}
    if candidate.oof is not None and not candidate.oof.empty:
        buffer = io.BytesIO()
        candidate.oof.to_parquet(buffer, index=False)
        artifacts["oof_predictions.parquet"] = buffer.getvalue()
        figures = candidate_figures(candidate)
        if figures:
            artifacts.update(assessment_artifacts(f"{candidate.label}: validation", figures))
    if isinstance(candidate, ClusterCandidate) and candidate.ok:
        # What each cluster is: the reason to open a clustering's run at all.
        artifacts["clusters.json"] = json.dumps(candidate.summary(), indent=2)
    tags: dict[str, Any] = {
        "modelcycle.family": candidate.name,
        "modelcycle.status": candidate.status,
    }
    if candidate.error:
        tags["modelcycle.error"] = candidate.error[:4000]
    return session.registry.log_run(
        session.experiment_id,
        candidate.name,
        params=candidate.recipe["params"],
        metrics=metrics,
        recipe=candidate.recipe,
        tags=tags,
        artifacts=artifacts,
    )
