"""The result of a drift check: per-column verdicts, the multivariate test, JSON and HTML."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# Colours of the three statuses in every figure (green, amber, red).
STATUS_COLOURS = {"Stable": "#2e7d32", "Warning": "#ef8f00", "Drift": "#c62828"}
# Figures of reference-vs-current distributions shown at most (the most significant first).
_MAX_DISTRIBUTION_FIGURES = 20
# p-values are drawn on a log axis; zero is drawn at this floor.
_P_FLOOR = 1e-16


class DriftStatus(StrEnum):
    """The verdict of one test or of a whole table, as MATLAB's detectdrift names them."""

    STABLE = "Stable"
    WARNING = "Warning"
    DRIFT = "Drift"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]

    @classmethod
    def worst(cls, statuses: Iterable[DriftStatus]) -> DriftStatus:
        """The most severe of ``statuses`` (Stable when there are none).

        Examples
        --------
        >>> DriftStatus.worst([DriftStatus.STABLE, DriftStatus.WARNING])
        <DriftStatus.WARNING: 'Warning'>
        """
        return max(statuses, key=lambda s: s.severity, default=cls.STABLE)

    @classmethod
    def decide(
        cls,
        p_low: float,
        p_high: float,
        effect_ok: bool,
        alpha: float,
        warning_alpha: float,
    ) -> DriftStatus:
        """Status from a corrected p-value interval and whether the effect is large enough.

        Drift needs the whole interval below ``alpha`` and a large enough effect; Stable is a
        trivial effect or an interval wholly above ``warning_alpha``; anything between is a
        Warning (MATLAB's rule for permutation p-values; an exact p-value is its own interval).
        """
        if not effect_ok:
            return cls.STABLE
        if p_high < alpha:
            return cls.DRIFT
        if p_low > warning_alpha:
            return cls.STABLE
        return cls.WARNING


_SEVERITY = {DriftStatus.STABLE: 0, DriftStatus.WARNING: 1, DriftStatus.DRIFT: 2}


@dataclass(frozen=True)
class DomainClassifierResult:
    """The multivariate test: how well a classifier tells current rows from reference rows.

    Attributes
    ----------
    auc
        Cross-validated ROC AUC (0.5: indistinguishable; 1: fully separable).
    ci_low, ci_high
        The AUC's confidence interval at level ``1 - alpha`` (DeLong standard error).
    p_value, p_adjusted
        One-sided p-value of AUC > 0.5, before and after the multiple-testing correction.
    threshold
        Drift needs ``ci_low`` above this AUC (and a significant ``p_adjusted``).
    status
        Stable, Warning or Drift.
    n_reference, n_current
        Rows of each side the classifier saw (a bounded sample).
    folds
        Cross-validation folds.
    importance
        Share of the classifier's total gain per column: what tells the two sides apart.
    """

    auc: float
    ci_low: float
    ci_high: float
    p_value: float
    p_adjusted: float
    threshold: float
    status: DriftStatus
    n_reference: int
    n_current: int
    folds: int
    importance: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "auc": self.auc,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "p_value": self.p_value,
            "p_adjusted": self.p_adjusted,
            "threshold": self.threshold,
            "status": str(self.status),
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "folds": self.folds,
            "importance": self.importance,
        }


@dataclass(frozen=True, repr=False)
class DriftReport:
    """Per-column drift between a reference and a current window, and the table's verdict.

    Attributes
    ----------
    columns
        One row per compared column (indexed by name): ``kind``, ``test``, ``statistic``,
        ``p_value`` with its interval ``p_value_low``/``p_value_high`` (equal unless the
        p-value comes from permutations), the corrected ``p_adjusted`` (and interval),
        ``effect`` with its ``effect_metric`` and ``min_effect``, ``psi``, row and missing
        counts of both sides, ``status`` and a ``note`` in words.
    status
        The table's verdict: the most severe status of any column or of the domain classifier.
    domain
        The multivariate domain-classifier test, or ``None`` when it did not run.
    skipped
        Columns not compared, each with the reason.
    settings
        The thresholds, correction and tests used.
    n_reference, n_current
        Rows on each side.
    elapsed_seconds
        Wall time of the check.
    distributions
        Reference and current histograms, ECDFs or category shares per column (for plots).
    """

    columns: pd.DataFrame
    status: DriftStatus
    domain: DomainClassifierResult | None
    skipped: dict[str, str]
    settings: dict[str, Any]
    n_reference: int
    n_current: int
    elapsed_seconds: float
    distributions: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def drifted(self) -> list[str]:
        """Names of the columns whose status is Drift."""
        return self._with_status(DriftStatus.DRIFT)

    @property
    def warned(self) -> list[str]:
        """Names of the columns whose status is Warning."""
        return self._with_status(DriftStatus.WARNING)

    def _with_status(self, status: DriftStatus) -> list[str]:
        return [str(c) for c in self.columns.index[self.columns["status"] == str(status)]]

    def __repr__(self) -> str:
        domain = (
            f", domain AUC {self.domain.auc:.3f} [{self.domain.ci_low:.3f}, "
            f"{self.domain.ci_high:.3f}]"
            if self.domain
            else ""
        )
        return (
            f"DriftReport(status={self.status.value}, drifted={self.drifted}, "
            f"columns={len(self.columns)}{domain})"
        )

    def to_dict(self) -> dict[str, Any]:
        """Everything but the plot data, as JSON-safe values (NaN and infinities are None).

        Examples
        --------
        >>> import json, pandas as pd
        >>> from modelcycle.monitor import detect_drift
        >>> frame = pd.DataFrame({"x": [1.5, 2.0, 3.0] * 30})
        >>> report = detect_drift(frame, frame, multivariate=False)
        >>> json.loads(json.dumps(report.to_dict()))["status"]
        'Stable'
        """
        records = [
            {"column": str(name), **{k: _json(v) for k, v in row.items()}}
            for name, row in self.columns.to_dict(orient="index").items()
        ]
        return {
            "status": str(self.status),
            "drifted": self.drifted,
            "warned": self.warned,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "columns": records,
            "domain": _json(self.domain.to_dict()) if self.domain else None,
            "skipped": dict(self.skipped),
            "settings": _json(self.settings),
            "elapsed_seconds": round(self.elapsed_seconds, 4),
        }

    def to_html(self, path: str | Path, *, title: str = "Drift report") -> Path:
        """Write a self-contained HTML report (works offline) and return its path.

        The page shows the verdict, each column's corrected p-value with its interval against
        the drift and warning thresholds (like MATLAB's ``plotDriftStatus``), effect sizes
        against their minimum, the domain classifier, and reference-vs-current histograms
        and ECDFs (or category shares) of every drifted or warned column.
        """
        from modelcycle.monitor._html import write_report

        return write_report(self, Path(path), title=title)


def _json(value: Any) -> Any:
    """Plain Python values for json.dumps: NaN/inf become None, numpy scalars Python ones."""
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def ordered_for_display(report: DriftReport) -> Sequence[str]:
    """Drifted and warned columns, most significant first, at most 20 of them."""
    flagged = report.columns[report.columns["status"] != str(DriftStatus.STABLE)]
    ranked = flagged.sort_values(["p_adjusted", "effect"], ascending=[True, False])
    return [str(c) for c in ranked.index[:_MAX_DISTRIBUTION_FIGURES]]


def p_floor(value: float) -> float:
    return max(value, _P_FLOOR)
