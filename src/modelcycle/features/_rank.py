"""Feature ranking and selection: score each raw feature column by what it tells about the target.

Univariate tests (chi-square, ANOVA, Kruskal-Wallis, F-test) and mutual information come from
scikit-learn and SciPy; MRMR and ReliefF/RReliefF are written here with vectorised NumPy, on a
bounded sample of rows so their cost does not grow with the table.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import sparse, stats
from sklearn.feature_selection import (
    chi2,
    f_classif,
    f_regression,
    mutual_info_classif,
    mutual_info_regression,
)
from sklearn.inspection import permutation_importance
from sklearn.metrics import f1_score, make_scorer
from sklearn.utils.validation import check_is_fitted

from modelcycle.data import ColumnKind, Table, Task
from modelcycle.exceptions import EmptyTableError, ParameterError, TargetError

__all__ = [
    "RANKING_METHODS",
    "FeatureSelection",
    "Ranking",
    "RankingMethod",
    "methods_for",
    "permutation_ranking",
    "rank_features",
    "select_features",
]

_CLASSIFICATION = frozenset({Task.BINARY, Task.MULTICLASS})
_REGRESSION = frozenset({Task.REGRESSION})
_LN10 = float(np.log(10.0))


# -- encoding raw columns ---------------------------------------------------------------------


def category_codes(values: pd.Series) -> np.ndarray:
    """Integer codes ``0 .. K-1`` of a column's distinct values; missing values share one more
    code, since missingness is often informative (adult's occupation)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    codes = codes.astype(np.int64)
    codes[codes < 0] = len(uniques)
    return codes


def quantile_codes(x: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-frequency bin codes ``0 .. K-1`` of numbers; missing values get a bin of their own.

    Bins follow mid-ranks, so tied values stay in one bin and a heavy tie does not swallow
    its neighbours: adult's capital_gain (92 % zeros) becomes "zero" and "positive" bins,
    where cutting at quantiles would give one bin (every decile is 0).
    """
    x = np.asarray(x, dtype=np.float64)
    finite = np.isfinite(x)
    codes = np.full(len(x), n_bins, dtype=np.int64)
    if finite.any():
        position = (stats.rankdata(x[finite]) - 0.5) / finite.sum()
        codes[finite] = np.minimum((position * n_bins).astype(np.int64), n_bins - 1)
    return np.unique(codes, return_inverse=True)[1].astype(np.int64)


def numeric_values(series: pd.Series, kind: ColumnKind) -> np.ndarray:
    """A numeric or datetime column as float64 with ``NaN`` for missing values.

    A datetime becomes days since 1970 (its trend over time): one number per raw column, so a
    ranking names columns a model can be given.
    """
    if kind is ColumnKind.DATETIME:
        when = pd.to_datetime(series, errors="coerce", utc=True, format="mixed")
        days = (when - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(days=1)
        return np.asarray(days.to_numpy(dtype=np.float64, na_value=np.nan))
    return np.asarray(
        pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    )


@dataclass(frozen=True, eq=False)
class _Features:
    """A table's feature columns as one float matrix, with what each method needs to know."""

    names: list[str]
    kinds: list[ColumnKind]
    # Numbers with NaN for numeric and datetime columns; category codes for categorical ones.
    raw: np.ndarray
    discrete: np.ndarray
    y: np.ndarray
    task: Task

    @classmethod
    def of(cls, table: Table) -> _Features:
        names = list(table.schema.features)
        if not names:
            raise EmptyTableError(
                "The table has no feature column to rank: every column is an identifier or "
                "free text. Override kinds with load_table(..., kinds={...})."
            )
        kinds = [table.schema.columns[n] for n in names]
        frame = table.frame
        raw = np.empty((len(frame), len(names)), dtype=np.float64)
        for j, (name, kind) in enumerate(zip(names, kinds, strict=True)):
            if kind is ColumnKind.CATEGORICAL:
                raw[:, j] = category_codes(frame[name])
            else:
                raw[:, j] = numeric_values(frame[name], kind)
        discrete = np.array([k is ColumnKind.CATEGORICAL for k in kinds], dtype=bool)
        if table.task in _CLASSIFICATION:
            y = category_codes(frame[table.target]).astype(np.float64)
        else:
            y = frame[table.target].to_numpy(dtype=np.float64)
        return cls(names, kinds, raw, discrete, y, table.task)

    def take(self, rows: np.ndarray) -> _Features:
        return _Features(
            self.names, self.kinds, self.raw[rows], self.discrete, self.y[rows], self.task
        )

    @property
    def classification(self) -> bool:
        return self.task in _CLASSIFICATION

    def imputed(self) -> np.ndarray:
        """Missing numbers replaced by the column median (0 for an all-missing column)."""
        out = self.raw.copy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: handled below
            medians = np.nanmedian(out, axis=0)
        medians = np.where(np.isnan(medians), 0.0, medians)
        rows, cols = np.nonzero(np.isnan(out))
        out[rows, cols] = medians[cols]
        return out

    def codes(self, n_bins: int) -> np.ndarray:
        """Every column as discrete codes: categories as they are, numbers in quantile bins."""
        out = np.empty(self.raw.shape, dtype=np.int64)
        for j in range(self.raw.shape[1]):
            column = self.raw[:, j]
            out[:, j] = (
                np.unique(column, return_inverse=True)[1]
                if self.discrete[j]
                else quantile_codes(column, n_bins)
            )
        return out

    def constant(self) -> np.ndarray:
        """Columns with one value (missing counted as a value) in these rows: they carry no
        information, and the tests below divide by their variance."""
        raw = np.where(np.isnan(self.raw), np.inf, self.raw)
        return np.asarray((raw == raw[:1]).all(axis=0)) if len(raw) else np.ones(0, bool)

    def y_codes(self, n_bins: int) -> np.ndarray:
        if self.classification:
            return self.y.astype(np.int64)
        return quantile_codes(self.y, n_bins)


# -- the methods ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Options:
    random_state: int
    n_bins: int
    criterion: str
    n_neighbors: int | None
    n_samples: int
    max_rows: int | None


@dataclass
class _Scores:
    """What a method returns: one score per column, and optional extra columns and notes."""

    score: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    order: np.ndarray | None = None  # selection order, for methods whose rank is not by score
    notes: list[str] = field(default_factory=list)


def _log_sf(distribution: Any, statistic: np.ndarray, **params: Any) -> np.ndarray:
    """``log P(X > statistic)``, accurate where the p-value itself underflows (large tables).

    The classic ``logsf`` of chi-square and F returns ``-inf`` once ``p < 1e-308``, which
    would tie every strong feature; SciPy's distribution infrastructure (1.15+) evaluates
    the tail in log space, so those entries are computed again with it.
    """
    statistic = np.asarray(statistic, dtype=np.float64)
    logp = np.atleast_1d(np.asarray(distribution.logsf(statistic, **params), dtype=np.float64))
    lost = np.isneginf(logp)
    make = getattr(stats, "make_distribution", None)
    if lost.any() and make is not None:
        shaped = {k: np.broadcast_to(v, logp.shape)[lost] for k, v in params.items()}
        with np.errstate(divide="ignore"):  # it tries log(sf) first, then falls back
            logp[lost] = make(distribution)(**shaped).logccdf(statistic[lost])
    return logp


def _neg_log10(logp: np.ndarray) -> np.ndarray:
    """``-log10(p)`` from ``log(p)``: a score that keeps ordering features whose p-values
    underflow to 0 on large tables (as MATLAB's fscchi2 scores, ``-log(p)``)."""
    return np.maximum(-np.asarray(logp, dtype=np.float64) / _LN10, 0.0)


def _tested(stat: np.ndarray, logp: np.ndarray, test: np.ndarray, notes: list[str]) -> _Scores:
    stat = np.nan_to_num(stat, nan=0.0)
    logp = np.nan_to_num(logp, nan=0.0)
    return _Scores(
        _neg_log10(logp),
        {"statistic": stat, "p_value": np.exp(logp), "test": test},
        notes=notes,
    )


def _chi2_columns(codes: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pearson's chi-square test of independence of each code column with the classes.

    scikit-learn's ``chi2`` on the one-hot columns of a variable (all levels, none dropped)
    sums ``(observed - expected)² / expected`` over every cell of its contingency table with
    the classes, which is the Pearson statistic of that table; its degrees of freedom are
    ``(levels - 1) × (classes - 1)``.
    """
    n, p = codes.shape
    if p == 0:
        return np.zeros(0), np.zeros(0)
    levels = codes.max(axis=0) + 1
    offsets = np.concatenate([[0], np.cumsum(levels)[:-1]])
    onehot = sparse.csr_matrix(
        (np.ones(n * p), (np.repeat(np.arange(n), p), (codes + offsets).ravel())),
        shape=(n, int(levels.sum())),
    )
    cell_stats, _ = chi2(onehot, y)
    statistic = np.add.reduceat(np.nan_to_num(cell_stats), offsets)
    dof = (levels - 1) * (len(np.unique(y)) - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        logp = np.where(dof > 0, _log_sf(stats.chi2, statistic, df=np.maximum(dof, 1)), 0.0)
    return np.where(dof > 0, statistic, 0.0), logp


def _chi2(f: _Features, o: _Options) -> _Scores:
    stat, logp = _chi2_columns(f.codes(o.n_bins), f.y.astype(np.int64))
    notes = [
        f"Numeric columns are cut into {o.n_bins} equal-frequency bins; missing values are a "
        "bin or category of their own."
    ]
    return _tested(stat, logp, np.full(len(stat), "chi2", dtype=object), notes)


def _by_kind(
    f: _Features,
    o: _Options,
    numeric_test: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    numeric_name: str,
    categorical_test: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    categorical_name: str,
    note: str,
) -> _Scores:
    """Run ``numeric_test`` on the numeric columns and ``categorical_test`` on the categorical
    ones (each returns statistics and log p-values); constant columns score 0."""
    p = len(f.names)
    stat, logp = np.zeros(p), np.zeros(p)
    test = np.where(f.discrete, categorical_name, numeric_name).astype(object)
    usable = ~f.constant()
    numeric = usable & ~f.discrete
    if numeric.any():
        X = f.imputed()[:, numeric]
        stat[numeric], logp[numeric] = numeric_test(X, f.y)
    categorical = usable & f.discrete
    if categorical.any():
        codes = f.codes(o.n_bins)[:, categorical]
        stat[categorical], logp[categorical] = categorical_test(codes)
    notes = [note] if f.discrete.any() else []
    return _tested(stat, logp, test, notes)


def _class_test(
    numeric_test: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    name: str,
    label: str,
) -> Callable[[_Features, _Options], _Scores]:
    """A test of numbers across classes, with categorical columns scored by the chi-square
    test of independence (a test of numbers does not apply to them)."""

    def run(f: _Features, o: _Options) -> _Scores:
        return _by_kind(
            f,
            o,
            numeric_test,
            name,
            lambda codes: _chi2_columns(codes, f.y.astype(np.int64)),
            "chi2",
            f"{label}; categorical columns are scored by the chi-square test of independence "
            "instead (both scores are -log10 p, so they compare).",
        )

    return run


def _f_classes(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    F, _ = f_classif(X, y)
    k = len(np.unique(y))
    return F, _log_sf(stats.f, F, dfn=k - 1, dfd=len(y) - k)


def _h_classes(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    groups = [X[y == c] for c in np.unique(y)]
    H = np.atleast_1d(stats.kruskal(*groups, axis=0).statistic)
    return H, _log_sf(stats.chi2, H, df=len(groups) - 1)


_anova = _class_test(_f_classes, "anova_f", "ANOVA compares the means of numbers")
_kruskal = _class_test(_h_classes, "kruskal_h", "Kruskal-Wallis compares the ranks of numbers")


def _f_test(f: _Features, o: _Options) -> _Scores:
    def numeric(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        F, _ = f_regression(X, y)
        return F, _log_sf(stats.f, F, dfn=1, dfd=len(y) - 2)

    def categorical(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # One-way ANOVA of the target across a column's categories: the F-test of a numeric
        # target against a grouping, with (levels - 1, n - levels) degrees of freedom.
        out = [f_classif(f.y[:, None], codes[:, j])[0][0] for j in range(codes.shape[1])]
        F = np.asarray(out)
        levels = codes.max(axis=0) + 1
        return F, _log_sf(stats.f, F, dfn=levels - 1, dfd=len(f.y) - levels)

    return _by_kind(
        f,
        o,
        numeric,
        "f_regression",
        categorical,
        "anova_f",
        "Categorical columns are scored by a one-way ANOVA of the target across their "
        "categories (both scores are -log10 p, so they compare).",
    )


def _mutual_info(f: _Features, o: _Options) -> _Scores:
    estimate = mutual_info_classif if f.classification else mutual_info_regression
    score = estimate(
        f.imputed(),
        f.y.astype(np.int64) if f.classification else f.y,
        discrete_features=f.discrete,
        n_neighbors=o.n_neighbors or 3,
        random_state=o.random_state,
    )
    return _Scores(
        np.asarray(score),
        notes=[
            "Mutual information in nats: k-nearest-neighbour estimate (Kraskov et al. 2004; "
            "Ross 2014) for numbers, counts for categories; missing numbers take the median."
        ],
    )


def _plugin_mi(a: np.ndarray, b: np.ndarray, levels_b: int) -> np.ndarray:
    """Plug-in mutual information (nats) of each column of ``a`` (codes) with ``b`` (codes)."""
    n = len(b)
    out = np.empty(a.shape[1])
    pb = np.bincount(b, minlength=levels_b) / n
    for j in range(a.shape[1]):
        levels_a = int(a[:, j].max()) + 1
        joint = np.bincount(a[:, j] * levels_b + b, minlength=levels_a * levels_b)
        pj = joint.reshape(levels_a, levels_b) / n
        pa = pj.sum(axis=1)
        nz = pj > 0
        out[j] = float((pj[nz] * np.log(pj[nz] / np.outer(pa, pb)[nz])).sum())
    return np.maximum(out, 0.0)


def _mrmr(f: _Features, o: _Options) -> _Scores:
    """Minimum redundancy, maximum relevance (Ding & Peng 2005, "Minimum redundancy feature
    selection from microarray gene expression data", J. Bioinform. Comput. Biol. 3(2):185-205).

    Greedy forward selection. Relevance is I(x; y), redundancy the mean I(x; s) over the
    features s already chosen; the next feature maximises relevance / redundancy (MIQ, the
    default, as MATLAB's fscmrmr) or relevance - redundancy (MID). MIQ is the default because
    under MID a feature with almost no relevance but no redundancy either (adult's fnlwgt)
    jumps ahead of strong features once their redundancy exceeds their relevance. Mutual
    information is the plug-in estimate on discretised data (numbers in equal-frequency bins,
    a regression target too), which treats categorical and numeric columns alike.
    """
    codes = f.codes(o.n_bins)
    y = f.y_codes(o.n_bins)
    p = codes.shape[1]
    relevance = _plugin_mi(codes, y, int(y.max()) + 1)
    redundancy_sum = np.zeros(p)
    redundancy = np.zeros(p)
    score = np.zeros(p)
    chosen: list[int] = []
    # Features that tell nothing about the target are never picked by the criterion: they go
    # last, in table order, with score 0 (as fscmrmr ranks zero-relevance predictors last).
    eps = 1e-12
    remaining = [j for j in range(p) if relevance[j] > eps]
    while remaining:
        cand = np.asarray(remaining)
        red = redundancy_sum[cand] / len(chosen) if chosen else np.zeros(len(cand))
        rel = relevance[cand]
        zero = red <= eps
        if o.criterion == "mid":
            best = int(np.argmax(rel - red))
            value = float(rel[best] - red[best])
        elif zero.any():
            # MIQ is undefined at zero redundancy (the first pick, or a feature sharing nothing
            # with those chosen): the most relevant such feature goes first, as in fscmrmr.
            best = int(np.argmax(np.where(zero, rel, -np.inf)))
            value = np.inf
        else:
            best = int(np.argmax(rel / red))
            value = float(rel[best] / red[best])
        j = int(cand[best])
        redundancy[j], score[j] = red[best], value
        chosen.append(j)
        remaining.remove(j)
        if remaining:
            rest = np.asarray(remaining)
            levels = int(codes[:, j].max()) + 1
            redundancy_sum[rest] += _plugin_mi(codes[:, rest], codes[:, j], levels)
    order = np.asarray(chosen + [j for j in range(p) if relevance[j] <= eps], dtype=np.int64)
    label = (
        "relevance − mean redundancy (MID)"
        if o.criterion == "mid"
        else "relevance / mean redundancy (MIQ), inf for the first pick (no redundancy yet)"
    )
    notes = [
        f"Rank is the order of greedy selection; score is the criterion when the feature was "
        f"chosen: {label}. Mutual information is estimated on {o.n_bins} equal-frequency bins."
    ]
    return _Scores(
        score, {"relevance": relevance, "redundancy": redundancy}, order=order, notes=notes
    )


def _relief_inputs(f: _Features) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Numbers scaled by their range (so each feature's diff is in [0, 1], as in Kononenko
    1994) and category codes; missing numbers take the median, missing categories are a
    category."""
    X = f.imputed()
    num = X[:, ~f.discrete]
    span = num.max(axis=0) - num.min(axis=0) if len(num) else np.zeros(num.shape[1])
    scaled = (num - num.min(axis=0)) / np.where(span > 0, span, 1.0) if len(num) else num
    return scaled, X[:, f.discrete], ~f.discrete


# The ramp diff of numbers (Robnik-Šikonja & Kononenko 2003, sec. 2.7, after Hong 1997):
# values closer than 5 % of the range are equal, farther than 10 % entirely different. With the
# plain |a - b| a number rarely differs by as much as a mismatched category, so neighbours
# always share every category and categorical features score 0 however informative they are.
_RAMP_EQUAL, _RAMP_DIFFERENT = 0.05, 0.10


def _ramp(distance: np.ndarray) -> np.ndarray:
    return np.clip((distance - _RAMP_EQUAL) / (_RAMP_DIFFERENT - _RAMP_EQUAL), 0.0, 1.0)


def _diffs(
    num: np.ndarray, cat: np.ndarray, rows: np.ndarray, others: np.ndarray, is_num: np.ndarray
) -> np.ndarray:
    """diff(A, R, N) of every feature between rows R (m,) and their neighbours N (m, k): the
    ramp of |a - b| for scaled numbers, 0/1 for categories. Shape (m, k, features)."""
    out = np.empty((*others.shape, len(is_num)))
    out[..., is_num] = _ramp(np.abs(num[others] - num[rows][:, None, :]))
    out[..., ~is_num] = cat[others] != cat[rows][:, None, :]
    return out


def _distances(num: np.ndarray, cat: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Distances (the sum of diffs, as in ReliefF) from ``rows`` to every row, one feature at a
    time so memory stays at rows × n."""
    dist = np.zeros((len(rows), len(num)))
    for j in range(num.shape[1]):
        dist += _ramp(np.abs(num[rows, j][:, None] - num[None, :, j]))
    for j in range(cat.shape[1]):
        dist += cat[rows, j][:, None] != cat[None, :, j]
    dist[np.arange(len(rows)), rows] = np.inf  # a row is not its own neighbour
    return dist


def _nearest(dist: np.ndarray, columns: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` nearest of ``columns`` for each row of ``dist`` (row indices, unsorted)."""
    sub = dist[:, columns]
    k = min(k, len(columns))
    return np.asarray(columns[np.argpartition(sub, k - 1, axis=1)[:, :k]])


# Rows of distances computed at once: bounds memory at _CHUNK × pool size floats.
_CHUNK = 256


def _relief_sample(f: _Features, o: _Options) -> tuple[np.ndarray, int]:
    """The rows whose neighbourhoods update the weights, and the number of neighbours."""
    rng = np.random.default_rng(o.random_state)
    m = min(o.n_samples, len(f.y))
    return rng.choice(len(f.y), size=m, replace=False), o.n_neighbors or 10


def _relieff(f: _Features, o: _Options) -> _Scores:
    """ReliefF (Kononenko 1994, "Estimating attributes: analysis and extensions of RELIEF",
    ECML-94, LNCS 784:171-182).

    For m sampled rows R, with k nearest hits H (same class) and k nearest misses M(C) from
    each other class C: W[A] += -mean diff(A, R, H) + Σ_C P(C) / (1 - P(class(R))) mean
    diff(A, R, M(C)), averaged over the m rows. Sensitive to feature interactions (XOR) that
    univariate tests miss, because neighbours are found in all features at once.
    """
    sample, k = _relief_sample(f, o)
    num, cat, is_num = _relief_inputs(f)
    y = f.y.astype(np.int64)
    classes = np.unique(y)
    prior = np.bincount(y, minlength=int(classes.max()) + 1) / len(y)
    members = {int(c): np.flatnonzero(y == c) for c in classes}
    weights = np.zeros(len(is_num))
    for start in range(0, len(sample), _CHUNK):
        rows = sample[start : start + _CHUNK]
        dist = _distances(num, cat, rows)
        own = y[rows]
        for c in classes:
            # A row is its own nearest (at infinite distance) only when its class has fewer
            # than k other rows; keep k below that so no hit set includes the row itself.
            near = _nearest(dist, members[int(c)], max(1, min(k, len(members[int(c)]) - 1)))
            mean_diff = _diffs(num, cat, rows, near, is_num).mean(axis=1)
            # -1 for hits; the class's share among the other classes for misses.
            factor = np.where(own == c, -1.0, prior[c] / (1.0 - prior[own]))
            weights += (factor[:, None] * mean_diff).sum(axis=0)
    return _Scores(weights / len(sample), notes=[_relief_note(len(sample), k, len(f.y))])


def _rrelieff(f: _Features, o: _Options) -> _Scores:
    """RReliefF for a numeric target (Robnik-Šikonja & Kononenko 2003, "Theoretical and
    empirical analysis of ReliefF and RReliefF", Machine Learning 53:23-69).

    With the k nearest neighbours I of each sampled row R, equally weighted (the paper's
    constant influence), accumulate N_dC = Σ diff(τ), N_dA = Σ diff(A), N_dC&dA = Σ diff(τ)
    diff(A), and score W[A] = N_dC&dA / N_dC - (N_dA - N_dC&dA) / (m - N_dC), where τ is the
    target scaled by its range.
    """
    sample, k = _relief_sample(f, o)
    num, cat, is_num = _relief_inputs(f)
    span = np.ptp(f.y)
    tau = (f.y - f.y.min()) / (span if span > 0 else 1.0)
    everyone = np.arange(len(f.y))
    n_dc, n_da, n_dcda = 0.0, np.zeros(len(is_num)), np.zeros(len(is_num))
    for start in range(0, len(sample), _CHUNK):
        rows = sample[start : start + _CHUNK]
        near = _nearest(_distances(num, cat, rows), everyone, k)
        influence = 1.0 / near.shape[1]
        d_tau = np.abs(tau[near] - tau[rows][:, None])
        d_a = _diffs(num, cat, rows, near, is_num)
        n_dc += float(d_tau.sum()) * influence
        n_da += d_a.sum(axis=(0, 1)) * influence
        n_dcda += (d_tau[..., None] * d_a).sum(axis=(0, 1)) * influence
    m = len(sample)
    with np.errstate(invalid="ignore", divide="ignore"):
        weights = n_dcda / n_dc - (n_da - n_dcda) / (m - n_dc)
    return _Scores(np.nan_to_num(weights), notes=[_relief_note(m, k, len(f.y))])


def _relief_note(m: int, k: int, n: int) -> str:
    return (
        f"Weights from {m:,} sampled rows and {k} nearest neighbours among {n:,} rows; numbers "
        "differ by a ramp from 5 % to 10 % of their range, missing numbers take the median."
    )


@dataclass(frozen=True)
class RankingMethod:
    """A ranking method: the tasks it fits, what its score means, and where it comes from.

    Examples
    --------
    >>> RANKING_METHODS["kruskal"].score
    '-log10 p of the Kruskal-Wallis H test'
    """

    name: str
    tasks: frozenset[Task]
    score: str
    reference: str
    run: Callable[[_Features, _Options], _Scores] = field(repr=False)
    # Rows used at most by default (a random sample beyond), bounding the cost on large tables.
    max_rows: int | None = None


#: Every ranking method by name. A method fits classification, regression or both.
RANKING_METHODS: Mapping[str, RankingMethod] = MappingProxyType(
    {
        m.name: m
        for m in (
            RankingMethod(
                "mrmr",
                _CLASSIFICATION | _REGRESSION,
                "mRMR criterion at selection",
                "Ding & Peng 2005, J. Bioinform. Comput. Biol. 3(2):185-205",
                _mrmr,
                50_000,
            ),
            RankingMethod(
                "mutual_info",
                _CLASSIFICATION | _REGRESSION,
                "mutual information (nats)",
                "Kraskov et al. 2004; Ross 2014 (scikit-learn)",
                _mutual_info,
                50_000,
            ),
            RankingMethod(
                "chi2",
                _CLASSIFICATION,
                "-log10 p of the chi-square test",
                "Pearson's chi-square test of independence (scikit-learn)",
                _chi2,
            ),
            RankingMethod(
                "anova",
                _CLASSIFICATION,
                "-log10 p of the one-way ANOVA F-test",
                "Fisher's F-test (scikit-learn f_classif)",
                _anova,
            ),
            RankingMethod(
                "kruskal",
                _CLASSIFICATION,
                "-log10 p of the Kruskal-Wallis H test",
                "Kruskal & Wallis 1952 (SciPy)",
                _kruskal,
            ),
            RankingMethod(
                "relieff",
                _CLASSIFICATION,
                "ReliefF weight",
                "Kononenko 1994, ECML-94, LNCS 784:171-182",
                _relieff,
                10_000,
            ),
            RankingMethod(
                "f_test",
                _REGRESSION,
                "-log10 p of the F-test",
                "F-test of a linear fit (scikit-learn f_regression)",
                _f_test,
            ),
            RankingMethod(
                "rrelieff",
                _REGRESSION,
                "RReliefF weight",
                "Robnik-Šikonja & Kononenko 2003, Machine Learning 53:23-69",
                _rrelieff,
                10_000,
            ),
        )
    }
)


def methods_for(task: Task | str) -> list[str]:
    """The ranking methods that fit ``task``.

    Examples
    --------
    >>> methods_for("regression")
    ['mrmr', 'mutual_info', 'f_test', 'rrelieff']
    """
    return [name for name, m in RANKING_METHODS.items() if Task(task) in m.tasks]


# -- the result -------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Ranking:
    """Features ranked by one method.

    ``frame`` has a row per feature in rank order with columns ``feature``, ``kind``,
    ``score`` (higher is more useful; see :data:`RANKING_METHODS` for what it means),
    ``rank`` (1 is best) and ``method``, plus method-specific columns (``statistic`` and
    ``p_value`` for tests, ``relevance`` and ``redundancy`` for MRMR, ``std`` for permutation
    importance). ``notes`` say how columns were encoded and what was left out.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from modelcycle.data import load_table
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=200)
    >>> frame = pd.DataFrame({"signal": x, "noise": rng.normal(size=200), "y": x > 0})
    >>> ranking = rank_features(load_table(frame, target="y"), "anova")
    >>> ranking.top(1)
    ['signal']
    """

    method: str
    task: Task
    target: str
    frame: pd.DataFrame
    notes: tuple[str, ...] = ()

    @property
    def features(self) -> list[str]:
        """Every ranked feature, best first."""
        return [str(f) for f in self.frame["feature"]]

    def top(self, k: int) -> list[str]:
        """The ``k`` best features."""
        _check_positive(k, "k", "Ranking.top")
        return self.features[:k]

    def scores(self) -> dict[str, float]:
        """Feature → score."""
        return dict(zip(self.features, self.frame["score"].astype(float).tolist(), strict=True))

    def to_records(self) -> list[dict[str, Any]]:
        """The ranking as JSON-able rows (``NaN`` and infinities become ``None``)."""
        return [
            {str(k): jsonable(v) for k, v in row.items()}
            for row in self.frame.to_dict(orient="records")
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "task": str(self.task),
            "target": self.target,
            "features": self.to_records(),
            "notes": list(self.notes),
        }


def jsonable(value: Any) -> Any:
    """A plain Python value for JSON: NumPy scalars unwrapped, NaN and infinities as None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _check_method(method: Any, task: Task) -> RankingMethod:
    info = RANKING_METHODS.get(method) if isinstance(method, str) else None
    if info is None or task not in info.tasks:
        fitting = ", ".join(map(repr, methods_for(task)))
        raise ParameterError(
            "method", "rank_features", f"one of {fitting} for a {task} task", method
        )
    return info


def _check_positive(
    value: Any, name: str, owner: str = "rank_features", *, allow_none: bool = False
) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
        expected = "a positive integer" + (" or None" if allow_none else "")
        raise ParameterError(name, owner, expected, value)


def rank_features(
    table: Table,
    method: str = "mrmr",
    *,
    random_state: int = 0,
    n_bins: int = 10,
    criterion: Literal["miq", "mid"] = "miq",
    n_neighbors: int | None = None,
    n_samples: int = 1000,
    max_rows: int | None = None,
) -> Ranking:
    """Rank a table's feature columns by how much each tells about the target.

    Works on the raw columns (``table.schema.features``): categorical columns are encoded as
    each method needs (codes, or a contingency table with the classes), missing numbers take
    the median and missing categories are a category of their own, a datetime column is
    scored as its timestamp. Identifier and free-text columns are left out. Constant and
    all-missing columns score 0.

    Parameters
    ----------
    table
        A table with a target (binary, multiclass or regression).
    method
        Classification: ``"mrmr"``, ``"mutual_info"``, ``"chi2"``, ``"anova"``,
        ``"kruskal"``, ``"relieff"``. Regression: ``"mrmr"``, ``"mutual_info"``,
        ``"f_test"``, ``"rrelieff"``. See :data:`RANKING_METHODS`.
    random_state
        Seed of row sampling and of the mutual-information estimator's noise.
    n_bins
        Equal-frequency bins of numeric columns (and of a regression target) for ``chi2`` and
        ``mrmr``.
    criterion
        ``mrmr`` only: ``"miq"`` (relevance / redundancy, as MATLAB's ``fscmrmr``) or
        ``"mid"`` (relevance − redundancy).
    n_neighbors
        Neighbours of the k-NN estimators: 3 for ``mutual_info``, 10 for ``relieff`` and
        ``rrelieff`` by default.
    n_samples
        ``relieff``/``rrelieff`` only: rows whose neighbourhoods update the weights.
    max_rows
        Rows used at most (a random sample beyond). Default: 50,000 for ``mrmr`` and
        ``mutual_info``, 10,000 neighbour candidates for ``relieff``/``rrelieff``, all rows
        for the univariate tests.

    Returns
    -------
    Ranking

    Raises
    ------
    ParameterError
        The method does not fit the task (the message names those that do), or an option is
        out of range.
    TargetError
        The table has no target.

    Examples
    --------
    >>> from modelcycle.data import load_table
    >>> table = load_table("adult.csv", target="income")  # doctest: +SKIP
    >>> rank_features(table, "mrmr").top(3)  # doctest: +SKIP
    ['relationship', 'capital_gain', 'education']
    """
    if not isinstance(table, Table):
        raise ParameterError(
            "table", "rank_features", "a modelcycle Table (see load_table)", type(table).__name__
        )
    if table.target is None:
        raise TargetError(
            "Ranking features needs a target: load the table with target=... "
            "(a table without one is for clustering)."
        )
    info = _check_method(method, table.task)
    if criterion not in ("mid", "miq"):
        raise ParameterError("criterion", "rank_features", "'miq' or 'mid'", criterion)
    _check_positive(n_bins, "n_bins")
    _check_positive(n_samples, "n_samples")
    _check_positive(n_neighbors, "n_neighbors", allow_none=True)
    _check_positive(max_rows, "max_rows", allow_none=True)
    options = _Options(random_state, n_bins, criterion, n_neighbors, n_samples, max_rows)
    features = _Features.of(table)
    limit = max_rows or info.max_rows
    notes: list[str] = []
    if limit is not None and len(features.y) > limit:
        rows = np.sort(
            np.random.default_rng(random_state).choice(len(features.y), limit, replace=False)
        )
        features = features.take(rows)
        notes.append(f"Computed on a random sample of {limit:,} of {len(table):,} rows.")
    result = info.run(features, options)
    constant = features.constant()
    if constant.any():
        # Estimators leave rounding noise (1e-15) on columns that carry nothing; say 0.
        result.score = np.where(constant, 0.0, result.score)
        names = ", ".join(n for n, c in zip(features.names, constant, strict=True) if c)
        notes.append(f"Constant or all-missing columns carry no information and score 0: {names}.")
    left_out = [c for c in table.schema.columns if c not in features.names]
    if left_out:
        notes.append("Identifier and text columns are not ranked: " + ", ".join(left_out) + ".")
    if table.schema.datetime:
        notes.append(
            "Datetime columns are scored as their timestamp (the trend over time): "
            + ", ".join(table.schema.datetime)
            + "."
        )
    return _ranking(info.name, table, features.names, result, [*result.notes, *notes])


def _ranking(
    method: str, table: Table, names: list[str], result: _Scores, notes: list[str]
) -> Ranking:
    frame = pd.DataFrame(
        {
            "feature": names,
            "kind": [str(table.schema.columns[n]) for n in names],
            "score": np.asarray(result.score, dtype=np.float64),
            **result.extra,
        }
    )
    if result.order is not None:
        frame = frame.iloc[result.order]
    else:
        frame = frame.sort_values("score", ascending=False, kind="stable", na_position="last")
    frame = frame.reset_index(drop=True)
    frame.insert(3, "rank", np.arange(1, len(frame) + 1))
    frame.insert(4, "method", method)
    assert table.target is not None
    return Ranking(method, table.task, table.target, frame, tuple(notes))


# -- permutation importance of a fitted model -------------------------------------------------

_DEFAULT_SCORING = {Task.BINARY: "roc_auc", Task.MULTICLASS: "accuracy", Task.REGRESSION: "rmse"}


def _scorer(metric: str | Callable[..., float] | None, table: Table) -> str | Callable[..., float]:
    """scikit-learn scoring for a modelcycle metric name (greater is better, so errors are
    negated), or a scorer callable ``(estimator, X, y) -> float`` as given."""
    if callable(metric):
        return metric
    name = metric or _DEFAULT_SCORING[table.task]
    binary = table.task is Task.BINARY
    scoring: dict[str, str | Callable[..., float]] = {
        "accuracy": "accuracy",
        "balanced_accuracy": "balanced_accuracy",
        "roc_auc": "roc_auc" if binary else "roc_auc_ovr_weighted",
        "log_loss": "neg_log_loss",
        "f1": make_scorer(f1_score, pos_label=table.schema.classes[-1]) if binary else "f1_macro",
    }
    if table.task is Task.REGRESSION:
        scoring = {
            "rmse": "neg_root_mean_squared_error",
            "mae": "neg_mean_absolute_error",
            "r2": "r2",
            "mape": "neg_mean_absolute_percentage_error",
        }
    if name not in scoring:
        raise ParameterError(
            "metric",
            "permutation_ranking",
            f"one of {', '.join(map(repr, scoring))} for a {table.task} task, or a scorer callable",
            metric,
        )
    return scoring[name]


def permutation_ranking(
    pipeline: Any,
    table: Table,
    *,
    metric: str | Callable[..., float] | None = None,
    n_repeats: int = 5,
    random_state: int = 0,
) -> Ranking:
    """Rank raw feature columns by how much a fitted model's score drops when each is shuffled.

    scikit-learn's :func:`~sklearn.inspection.permutation_importance` on the raw columns the
    pipeline reads, so a categorical column counts once, not once per one-hot level. Rank on
    held-out rows to measure what the model uses to generalise.

    Parameters
    ----------
    pipeline
        A fitted pipeline that takes the table's feature columns (or a ``Candidate``, whose
        refit ``pipeline`` is used).
    table
        Rows with the target to score on.
    metric
        A modelcycle metric name (``"roc_auc"``, ``"accuracy"``, ``"rmse"``, …; the task's
        default when ``None``) or a scorer ``(estimator, X, y) -> float``.
    n_repeats
        Shuffles per column; ``std`` gives their spread.
    random_state
        Seed of the shuffles.

    Returns
    -------
    Ranking
        ``score`` is the mean drop of the score (in the metric's units; positive means the
        model relies on the column), ``std`` its standard deviation over repeats.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn.compose import make_column_transformer
    >>> from sklearn.linear_model import LinearRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from modelcycle.data import load_table
    >>> rng = np.random.default_rng(0)
    >>> frame = pd.DataFrame({"a": rng.normal(size=100), "b": rng.normal(size=100)})
    >>> frame["y"] = 3 * frame["a"]
    >>> table = load_table(frame, target="y")
    >>> model = make_pipeline(make_column_transformer(("passthrough", ["a", "b"])),
    ...                       LinearRegression()).fit(table.X, table.y)
    >>> permutation_ranking(model, table).top(1)
    ['a']
    """
    model = getattr(pipeline, "pipeline", pipeline)
    if model is None:  # a Candidate that was never refit
        refit = getattr(pipeline, "refit", None)
        model = refit().pipeline if callable(refit) else None
    if model is None or not hasattr(model, "predict"):
        raise ParameterError(
            "pipeline",
            "permutation_ranking",
            "a fitted pipeline or a Candidate",
            type(pipeline).__name__,
        )
    check_is_fitted(model)
    if table.target is None:
        raise TargetError(
            "permutation_ranking needs a table with the target: load it with target=... ."
        )
    _check_positive(n_repeats, "n_repeats", "permutation_ranking")
    result = permutation_importance(
        model,
        table.X,
        table.y,
        scoring=_scorer(metric, table),
        n_repeats=n_repeats,
        random_state=random_state,
        n_jobs=1,
    )
    names = list(table.X.columns)
    scores = _Scores(
        np.asarray(result.importances_mean), {"std": np.asarray(result.importances_std)}
    )
    label = (
        metric
        if isinstance(metric, str)
        else ("a custom scorer" if metric else _DEFAULT_SCORING[table.task])
    )
    notes = [
        f"Mean drop of {label} over {n_repeats} shuffles of each column, on {len(table):,} rows."
    ]
    return _ranking("permutation", table, names, scores, notes)


# -- selection --------------------------------------------------------------------------------

_SPEC = re.compile(r"^\s*([a-z_0-9]+)\s*:\s*(\d+)\s*$")


@dataclass(frozen=True, eq=False)
class FeatureSelection:
    """The top ``top_k`` features of a ranking, and the scores they were chosen by.

    Examples
    --------
    >>> import pandas as pd
    >>> from modelcycle.data import load_table
    >>> frame = pd.DataFrame({"colour": list("rgbrgb" * 20), "size": list("sml" * 40)})
    >>> frame["y"] = frame["colour"] == "r"
    >>> spec = {"method": "chi2", "top_k": 1}
    >>> select_features(load_table(frame, target="y"), spec).to_dict()["features"]
    ['colour']
    """

    method: str
    top_k: int
    features: list[str]
    ranking: Ranking = field(repr=False)
    options: dict[str, Any] = field(default_factory=dict)

    def apply(self, table: Table) -> Table:
        """The table with its features restricted to the selected ones."""
        return Table(table.frame, table.schema.with_features(self.features), table.source)

    def to_dict(self) -> dict[str, Any]:
        """What a recipe records: method, k, the chosen features and every feature's score."""
        return {
            "method": self.method,
            "top_k": self.top_k,
            "features": list(self.features),
            "scores": {k: jsonable(v) for k, v in self.ranking.scores().items()},
            "options": dict(self.options),
        }


# The rank_features options a selection mapping may carry besides method and top_k.
_SELECTION_OPTIONS = frozenset({"criterion", "n_bins", "n_neighbors", "n_samples", "max_rows"})


def _parse_selection(spec: Any) -> tuple[str, Any, dict[str, Any]]:
    """``"mrmr:10"`` or ``{"method": "mrmr", "top_k": 10, ...options}`` → (method, k, options)."""
    expected = (
        "a selection like 'mrmr:10' or {'method': 'mrmr', 'top_k': 10} (methods: "
        + ", ".join(RANKING_METHODS)
        + ")"
    )
    if isinstance(spec, str):
        match = _SPEC.match(spec)
        if match is None or match.group(1) not in RANKING_METHODS:
            raise ParameterError("features", "select_features", expected, spec)
        return match.group(1), int(match.group(2)), {}
    if isinstance(spec, Mapping) and {"method", "top_k"} <= set(spec):
        options = {k: v for k, v in spec.items() if k not in ("method", "top_k")}
        unknown = sorted(set(options) - _SELECTION_OPTIONS)
        if unknown:
            raise ParameterError(
                "features",
                "select_features",
                f"a mapping whose options are among {sorted(_SELECTION_OPTIONS)}",
                unknown,
            )
        return str(spec["method"]), spec["top_k"], options
    raise ParameterError("features", "select_features", expected, spec)


def select_features(
    table: Table, spec: str | Mapping[str, Any], *, random_state: int = 0
) -> FeatureSelection:
    """Rank a table's features and keep the best ``k``.

    Parameters
    ----------
    table
        The training table (selection must not see validation or test rows).
    spec
        ``"METHOD:K"`` (``"mrmr:10"``) or a mapping with ``method``, ``top_k`` and any
        :func:`rank_features` options (``{"method": "mrmr", "top_k": 10, "criterion": "mid"}``).
    random_state
        Passed to :func:`rank_features`.

    Returns
    -------
    FeatureSelection
        ``apply(table)`` restricts a table to the chosen features; ``to_dict()`` is what a
        recipe records.

    Raises
    ------
    ParameterError
        The spec is malformed, names an unknown method or option, or ``k`` is not positive.

    Examples
    --------
    >>> from modelcycle.data import load_table
    >>> table = load_table("adult.csv", target="income")  # doctest: +SKIP
    >>> select_features(table, "mrmr:3").features  # doctest: +SKIP
    ['relationship', 'capital_gain', 'education_num']
    """
    method, k, options = _parse_selection(spec)
    _check_positive(k, "top_k", "select_features")
    ranking = rank_features(table, method, random_state=random_state, **options)
    return FeatureSelection(method, k, ranking.top(k), ranking, options)
