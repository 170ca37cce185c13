"""Log a Learner session to the registry's tracking store: an experiment, a run per candidate."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelcycle.data import Table, Validation
from modelcycle.learn._plots import assessment_figures
from modelcycle.registry import Registry
from modelcycle.report import Section, render_page

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
        figures = assessment_figures(
            candidate.table.task, candidate.oof, candidate.table.schema.classes
        )
        if figures:
            page = render_page(
                f"{candidate.label}: validation",
                [Section("Assessment", figures=list(figures.values()))],
            )
            artifacts["assessment.html"] = page
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
