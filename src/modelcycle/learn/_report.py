"""The HTML report of a Learner session: the leaderboard, every candidate's assessment, and an
explanation of the best model, on one page that works offline."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from modelcycle.data import Task
from modelcycle.exceptions import LearnError
from modelcycle.learn._explain import explain
from modelcycle.learn._metrics import METRICS
from modelcycle.learn._plots import candidate_figures, metric_figure
from modelcycle.report import Section, write_page

if TYPE_CHECKING:
    from modelcycle.learn._candidate import Leaderboard
    from modelcycle.learn._learner import Learner


def leaderboard_frame(board: Leaderboard) -> pd.DataFrame:
    """The leaderboard as a compact table: each metric as ``mean ± std``, costs, status."""
    metrics = [m for m in METRICS if any(m in c.metrics for c in board)]
    rows = []
    for rank, c in enumerate(board, start=1):
        row: dict[str, Any] = {"rank": rank, "model": c.name}
        for m in metrics:
            value = c.metrics.get(m)
            row[m] = f"{value:.4f} ± {c.metrics_std.get(m, 0.0):.3f}" if value is not None else "–"
        row["fit s"] = f"{c.fit_seconds:.2f}" if c.ok else "–"
        row["rows/s"] = f"{c.predict_rows_per_second:,.0f}" if c.ok else "–"
        row["size KB"] = f"{c.size_bytes / 1024:,.1f}" if c.ok else "–"
        row["status"] = c.status
        rows.append(row)
    return pd.DataFrame(rows)


def _describe(validation: dict[str, Any]) -> str:
    kind = validation.get("kind")
    if kind == "kfold":
        return f"{validation['n_splits']}-fold cross-validation"
    if kind == "time":
        return f"{validation['n_splits']} time-ordered folds"
    if kind == "holdout":
        return f"a held-out {validation['fraction']:.0%} of the rows"
    if kind == "test":
        return f"a separate test table of {validation['rows']:,} rows"
    return str(validation)


def session_report(learner: Learner, path: str | Path, *, row: int | None = 0) -> Path:
    """Write the HTML report of a Learner session after :meth:`Learner.compare`.

    The page holds the leaderboard, the validation metric of every model as bars with ± one
    standard deviation across folds, each candidate's assessment figures (how it errs, what
    it relies on), and an explanation of the refit best model: permutation importance,
    Shapley values and partial dependence on the training table, and why it predicted
    ``row`` as it did (``None`` leaves that out). plotly.js is inlined once, so the page
    opens without a network.

    Parameters
    ----------
    learner
        A Learner whose :meth:`~Learner.compare` has run.
    path
        Where to write the page (parent folders are created).
    row
        The training row whose prediction the best model explains.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    LearnError
        ``compare`` has not run yet.

    Examples
    --------
    >>> learner = mc.Learner("adult.csv", target="income")  # doctest: +SKIP
    >>> board = learner.compare("quick")  # doctest: +SKIP
    >>> session_report(learner, "adult.html")  # doctest: +SKIP
    PosixPath('adult.html')
    """
    board: Leaderboard | None = getattr(learner, "leaderboard_", None)
    if board is None:
        raise LearnError(
            "This Learner has not compared any model yet, so there is nothing to report. "
            "Call learner.compare(...) first."
        )
    table, best = learner.table_, learner.best_
    if not table.task.is_classification and table.task is not Task.REGRESSION:
        raise LearnError(
            f"A session report assesses supervised models; this session's task is {table.task}. "
            "Learn with a target column to get one."
        )
    scheme = _describe(learner.validation_.describe())
    sections = [
        Section(
            "Leaderboard",
            text=[
                f"{len(table):,} rows, {len(table.schema.features)} features, target "
                f"{table.target} ({table.task}); validation: {scheme}; ranked by "
                f"{board.metric}. The best model, {best.label}, was refit on every row."
            ],
            tables=[leaderboard_frame(board)],
            figures=[metric_figure(board)],
        )
    ]
    for rank, candidate in enumerate(board, start=1):
        title = f"{rank}. {candidate.label} ({candidate.name})"
        if not candidate.ok:
            error = (candidate.error or "").strip().splitlines()
            sections.append(
                Section(title, warnings=[f"{candidate.status}: {error[0] if error else ''}"])
            )
            continue
        metric = board.metric
        sections.append(
            Section(
                title,
                text=[
                    f"{metric} {candidate.metrics[metric]:.4f} ± "
                    f"{candidate.metrics_std.get(metric, 0.0):.4f}. The curves come from "
                    "out-of-fold predictions; importance and partial dependence from the model "
                    "of the last validation fold, on that fold's rows."
                ],
                figures=list(candidate_figures(candidate).values()),
            )
        )
    explanation = explain(best, table, row=row, random_state=learner.random_state)
    for section in explanation.sections():
        section.title = f"Best model ({best.name}): {section.title[0].lower()}{section.title[1:]}"
        sections.append(section)
    source = Path(table.source).name if table.source else "table"
    return write_page(
        path,
        f"Learner session: {source} → {table.target}",
        sections,
        subtitle=f"experiment {learner.experiment_id_}" if learner.experiment_id_ else None,
    )
