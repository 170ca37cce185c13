"""Cluster profiles: what sets each cluster apart from the whole table.

A clustering is only useful once a person can say what its clusters are. For every cluster and
feature a profile compares the cluster with the whole table (mean of a numeric column, mode of a
categorical one) and scores how distinctive the feature is with one scale for every kind: the
*standardised difference*, (cluster mean - table mean) / table standard deviation. A category is
scored through its indicator (1 in that category, 0 elsewhere), whose mean is the category's
share ``p`` and whose standard deviation is ``sqrt(p (1 - p))``, so "alcohol is 1.6 sd higher"
and "sex = Female is 1.6 sd more frequent" rank on the same scale.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from modelcycle.data import ColumnKind, Table
from modelcycle.exceptions import ParameterError

__all__ = ["NOISE", "ClusterProfile", "FeatureContrast", "profile_clusters"]

#: The label of rows a density-based clustering leaves out of every cluster.
NOISE = -1

# Missing categorical values form a category of their own, as in the preprocessing.
_MISSING = "(missing)"


@dataclass(frozen=True)
class FeatureContrast:
    """How one feature of a cluster compares with the whole table.

    Attributes
    ----------
    feature
        The column.
    kind
        ``"numeric"``, ``"datetime"`` or ``"categorical"``.
    cluster_value, overall_value
        The mean in the cluster and in the table (an ISO timestamp for datetimes), or for a
        categorical column its most frequent category in each.
    difference
        The standardised difference: of the mean for numeric and datetime columns, of the share
        of :attr:`category` for categorical ones. ``+1.5`` reads "1.5 standard deviations above
        the table"; ``0`` where the column is constant.
    category
        Categorical only: the category whose share differs most (which may be rarer than the
        mode, e.g. a cluster of 40 % students among 5 % in the table).
    cluster_share, overall_share
        Categorical only: the share of :attr:`category` in the cluster and in the table.
    lift
        Categorical only: ``cluster_share / overall_share``.
    """

    feature: str
    kind: str
    cluster_value: float | str | None
    overall_value: float | str | None
    difference: float
    category: str | None = None
    cluster_share: float | None = None
    overall_share: float | None = None
    lift: float | None = None

    def describe(self) -> str:
        """One short line: ``alcohol ↑ 12.1 vs 10.4 (+1.6 sd)``.

        Examples
        --------
        >>> FeatureContrast("alcohol", "numeric", 12.1, 10.42, 1.6).describe()
        'alcohol ↑ 12.1 vs 10.4 (+1.6 sd)'
        >>> FeatureContrast("sex", "categorical", "Female", "Male", 1.4, "Female", 0.9, 0.33,
        ...                 2.7).describe()
        'sex = Female ↑ 90% vs 33% (lift 2.7)'
        """
        arrow = "↑" if self.difference > 0 else "↓" if self.difference < 0 else "="
        if self.kind == "categorical":
            return (
                f"{self.feature} = {self.category} {arrow} {_percent(self.cluster_share)} vs "
                f"{_percent(self.overall_share)} (lift {_number(self.lift)})"
            )
        return (
            f"{self.feature} {arrow} {_number(self.cluster_value)} vs "
            f"{_number(self.overall_value)} ({self.difference:+.1f} sd)"
        )


@dataclass(frozen=True)
class ClusterProfile:
    """One cluster: its size and how each feature sets it apart, most distinctive first.

    Attributes
    ----------
    cluster
        The cluster's label (``-1``: the rows a density-based clustering left as noise).
    size
        Its number of rows.
    share
        Its share of the table's rows.
    features
        One :class:`FeatureContrast` per feature, by decreasing absolute difference.
    """

    cluster: int
    size: int
    share: float
    features: tuple[FeatureContrast, ...]

    @property
    def is_noise(self) -> bool:
        return self.cluster == NOISE

    def top(self, n: int = 3) -> tuple[FeatureContrast, ...]:
        """The ``n`` features that set the cluster apart most."""
        return self.features[:n]

    def to_frame(self) -> pd.DataFrame:
        """The features' contrasts, one row each, most distinctive first."""
        return pd.DataFrame([asdict(f) for f in self.features])

    def to_dict(self, top: int | None = None) -> dict[str, Any]:
        """Plain JSON-able data (``NaN`` becomes ``None``); ``top`` keeps the first features."""
        features = self.features if top is None else self.features[:top]
        return {
            "cluster": self.cluster,
            "size": self.size,
            "share": self.share,
            "features": [{k: _json(v) for k, v in asdict(f).items()} for f in features],
        }


def profile_clusters(table: Table, labels: Iterable[Any]) -> list[ClusterProfile]:
    """Profile each cluster of ``table``'s rows against the whole table.

    Parameters
    ----------
    table
        The rows that were clustered; its feature columns (``table.X``) are profiled.
    labels
        The cluster of each row, in row order (``-1`` for noise).

    Returns
    -------
    list of ClusterProfile
        One per cluster in label order, noise (if any) last.

    Raises
    ------
    ParameterError
        ``labels`` does not hold one label per row.

    Examples
    --------
    >>> import pandas as pd
    >>> from modelcycle.data import load_table
    >>> table = load_table(pd.DataFrame({"x": [1.0, 1.2, 9.0, 9.5], "c": ["a", "a", "b", "b"]}))
    >>> profiles = profile_clusters(table, [0, 0, 1, 1])
    >>> [(p.cluster, p.size, p.top(1)[0].feature) for p in profiles]
    [(0, 2, 'c'), (1, 2, 'c')]
    >>> profiles[1].features[1].describe()
    'x ↑ 9.25 vs 5.17 (+1.0 sd)'
    """
    codes = np.asarray(list(labels) if not isinstance(labels, np.ndarray) else labels)
    if codes.ndim != 1 or len(codes) != len(table):
        raise ParameterError(
            "labels", "profile_clusters", f"one cluster label per row ({len(table)})", codes.shape
        )
    codes = codes.astype(np.int64)
    clusters = sorted(set(codes.tolist()), key=lambda c: (c == NOISE, c))
    contrasts: dict[int, list[FeatureContrast]] = {c: [] for c in clusters}
    frame, schema = table.frame, table.schema
    for name in schema.features:
        kind = schema.columns[name]
        by_cluster = (
            _categorical(name, frame[name], codes)
            if kind is ColumnKind.CATEGORICAL
            else _numeric(name, frame[name], codes, kind)
        )
        for cluster, contrast in by_cluster.items():
            contrasts[cluster].append(contrast)
    sizes = pd.Series(codes).value_counts()
    return [
        ClusterProfile(
            cluster=int(c),
            size=int(sizes[c]),
            share=float(sizes[c] / len(codes)),
            features=tuple(sorted(contrasts[c], key=_distinctiveness, reverse=True)),
        )
        for c in clusters
    ]


def _numeric(
    name: str, column: pd.Series, codes: np.ndarray, kind: ColumnKind
) -> dict[int, FeatureContrast]:
    is_time = kind is ColumnKind.DATETIME
    values = _seconds(column) if is_time else _floats(column)
    overall = float(np.nanmean(values)) if np.isfinite(values).any() else math.nan
    spread = float(np.nanstd(values)) if np.isfinite(values).any() else math.nan
    means = pd.Series(values).groupby(codes).mean()
    show = _timestamp if is_time else float
    return {
        int(cluster): FeatureContrast(
            feature=name,
            kind=str(kind),
            cluster_value=show(mean),
            overall_value=show(overall),
            difference=_standardised(mean - overall, spread),
        )
        for cluster, mean in zip(means.index.tolist(), means.tolist(), strict=True)
    }


def _categorical(name: str, column: pd.Series, codes: np.ndarray) -> dict[int, FeatureContrast]:
    values = column.astype(object).where(column.notna(), _MISSING).astype(str)
    overall = values.value_counts(normalize=True)
    shares = pd.crosstab(codes, values.to_numpy(), normalize="index")
    shares = shares.reindex(columns=overall.index, fill_value=0.0)
    p = overall.to_numpy()
    # Each category's indicator has standard deviation sqrt(p (1 - p)) over the table.
    spread = np.sqrt(p * (1.0 - p))
    categories = [str(c) for c in overall.index]
    out = {}
    for cluster, q in zip(shares.index.tolist(), shares.to_numpy(dtype=float), strict=True):
        differences = np.array([_standardised(d, s) for d, s in zip(q - p, spread, strict=True)])
        pick = int(np.argmax(np.abs(differences)))
        out[int(cluster)] = FeatureContrast(
            feature=name,
            kind=str(ColumnKind.CATEGORICAL),
            cluster_value=categories[int(np.argmax(q))],
            overall_value=categories[0],
            difference=float(differences[pick]),
            category=categories[pick],
            cluster_share=float(q[pick]),
            overall_share=float(p[pick]),
            lift=float(q[pick] / p[pick]),
        )
    return out


def _floats(column: pd.Series) -> np.ndarray:
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _seconds(column: pd.Series) -> np.ndarray:
    """Datetimes as seconds since the epoch (``NaN`` where missing or unparsable)."""
    stamps = pd.to_datetime(column, errors="coerce", format="mixed", utc=True)
    return ((stamps - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)).to_numpy(
        dtype=np.float64, na_value=np.nan
    )


def _timestamp(seconds: float) -> str | None:
    if not math.isfinite(seconds):
        return None
    return pd.Timestamp(seconds, unit="s").isoformat()


def _standardised(difference: float, spread: float) -> float:
    if not (math.isfinite(difference) and math.isfinite(spread)) or spread <= 0.0:
        return 0.0  # a constant (or all-missing) column distinguishes nothing
    return float(difference / spread)


def _distinctiveness(contrast: FeatureContrast) -> float:
    return abs(contrast.difference)


def _number(value: Any) -> str:
    if isinstance(value, float | int) and not isinstance(value, bool):
        return "–" if not math.isfinite(value) else f"{value:.3g}"
    return "–" if value is None else str(value)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _json(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
