"""The multivariate drift test: can a classifier tell reference rows from current rows?

A gradient-boosted classifier (LightGBM) learns to label rows as reference (0) or current (1) on
a bounded sample of each; its cross-validated ROC AUC is 0.5 when the two tables come from one
joint distribution and grows with any difference it can exploit, including changed relations
between columns that no single column shows. The AUC's standard error comes from DeLong's
method on the out-of-fold scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.stats import rankdata

from modelcycle.monitor._inputs import MISSING, canonical

# Fewer rows than this per side make the AUC too noisy to be worth fitting.
MIN_ROWS = 50


@dataclass(frozen=True)
class DomainFit:
    """What the classifier achieved: AUC, its standard error, and which columns it used."""

    auc: float
    se: float
    n_reference: int
    n_current: int
    folds: int
    importance: dict[str, float]


def canonical_sample(frame: pd.DataFrame, size: int, key: str) -> pd.DataFrame:
    """Up to ``size`` rows chosen by a keyed hash of their content, in hash order.

    The rows with the smallest hashes are a uniform random sample that depends on the rows'
    content only, so the result (and every verdict built on it) does not change when the rows
    are shuffled. ``key`` (16 characters) plays the part of a seed.

    Identical rows would share a hash and be taken all together or not at all (a sample of a
    few distinct rows, each many times), so each copy's hash is mixed with its occurrence
    number among its twins first: twins are interchangeable, so which copy gets which number
    does not matter.
    """
    hashed = pd.util.hash_pandas_object(frame, index=False, hash_key=key)
    hashes: NDArray[np.uint64] = np.asarray(hashed, dtype=np.uint64)
    order = np.argsort(hashes, kind="stable")
    ordered = hashes[order]
    starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
    first = np.repeat(starts, np.diff(np.append(starts, ordered.size)))
    occurrence: NDArray[np.uint64] = np.zeros(hashes.size, dtype=np.uint64)
    occurrence[order] = np.arange(ordered.size) - first
    keys = _mix(np.bitwise_xor(hashes, _mix(occurrence + np.uint64(1))))
    chosen = np.argpartition(keys, size - 1)[:size] if len(frame) > size else np.arange(len(frame))
    chosen = chosen[np.argsort(keys[chosen], kind="stable")]
    return frame.iloc[chosen]


def _mix(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """The splitmix64 finaliser: spreads any change of input bits over all output bits."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _encode(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
) -> NDArray[np.float64]:
    """One float matrix for both sides: numbers as they are, categories as shared codes."""
    columns: list[np.ndarray] = []
    for name in numeric:
        both = pd.concat([reference[name], current[name]], ignore_index=True)
        columns.append(pd.to_numeric(both, errors="coerce").to_numpy(dtype=float))
    for name in categorical:
        values = pd.Categorical(pd.concat([reference[name], current[name]], ignore_index=True))
        # Spell categories once per distinct value, not once per row; missing (-1) is a code.
        spelled = [canonical(c) for c in values.categories]
        distinct = {k: i for i, k in enumerate(dict.fromkeys([*spelled, MISSING]))}
        lookup = np.array([distinct[k] for k in [*spelled, MISSING]], dtype=float)
        columns.append(lookup[values.codes])
    return np.column_stack(columns) if columns else np.empty((len(reference) + len(current), 0))


def auc_delong(scores: NDArray[np.float64], labels: NDArray[np.int_]) -> tuple[float, float]:
    """ROC AUC of ``scores`` for ``labels`` (1 positive) and its DeLong standard error.

    The fast midrank form of DeLong, DeLong & Clarke-Pearson (1988) given by Sun & Xu (2014).

    Examples
    --------
    >>> import numpy as np
    >>> auc, se = auc_delong(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]))
    >>> auc
    0.75
    """
    positive = scores[labels == 1]
    negative = scores[labels == 0]
    m, n = positive.size, negative.size
    ranks = rankdata(np.concatenate([positive, negative]))
    auc = float((ranks[:m].sum() - m * (m + 1) / 2) / (m * n))
    v10 = (ranks[:m] - rankdata(positive)) / n
    v01 = 1.0 - (ranks[m:] - rankdata(negative)) / m
    variance = v10.var(ddof=1) / m + v01.var(ddof=1) / n
    return auc, float(np.sqrt(max(variance, 0.0)))


def fit_domain_classifier(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    *,
    max_rows: int,
    folds: int,
    random_state: int,
    n_jobs: int,
) -> DomainFit:
    """Cross-validated AUC of a LightGBM classifier of reference vs current rows.

    Each side contributes at most ``max_rows`` rows (equal numbers when both are large), drawn
    by :func:`canonical_sample` with a different key per side so the two samples are
    independent even when the tables share rows.
    """
    from lightgbm import LGBMClassifier
    from sklearn.model_selection import StratifiedKFold

    features = [*numeric, *categorical]
    size = min(max_rows, len(reference), len(current))
    ref = canonical_sample(reference[features], size, f"ref{random_state:013d}"[-16:])
    cur = canonical_sample(current[features], size, f"cur{random_state:013d}"[-16:])
    X = _encode(ref, cur, numeric, categorical)
    y = np.concatenate([np.zeros(len(ref), dtype=int), np.ones(len(cur), dtype=int)])
    scores = np.zeros(y.size)
    gain = np.zeros(len(features))
    categorical_idx = list(range(len(numeric), len(features)))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=random_state)
    for train, test in splitter.split(X, y):
        model = LGBMClassifier(
            n_estimators=100,
            learning_rate=0.1,
            num_leaves=15,
            min_child_samples=20,
            random_state=random_state,
            n_jobs=n_jobs,
            verbose=-1,
        )
        model.fit(X[train], y[train], categorical_feature=categorical_idx or "auto")
        scores[test] = np.asarray(model.predict_proba(X[test]))[:, 1]
        gain += model.booster_.feature_importance(importance_type="gain")
    auc, se = auc_delong(scores, y)
    total = gain.sum()
    importance = {
        name: float(g / total) if total > 0 else 0.0
        for name, g in sorted(zip(features, gain, strict=True), key=lambda item: -item[1])
    }
    return DomainFit(auc, se, len(ref), len(cur), folds, importance)
