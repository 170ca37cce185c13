"""Batch drift detection: :func:`detect_drift` compares a reference with a current window."""

from __future__ import annotations

import time
import warnings
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
import scipy.stats as st

from modelcycle.data import ColumnKind, Table
from modelcycle.exceptions import ColumnMismatchError, DriftWarning, ParameterError
from modelcycle.monitor._domain import MIN_ROWS, fit_domain_classifier
from modelcycle.monitor._inputs import (
    MISSING,
    OTHER,
    CategoricalColumn,
    FrameSide,
    KindChange,
    NumericColumn,
    ProfileSide,
    as_side,
    infer_kinds,
)
from modelcycle.monitor._report import DomainClassifierResult, DriftReport, DriftStatus
from modelcycle.monitor._stats import (
    Counts,
    Ecdfs,
    TestResult,
    anderson_test,
    chi_square_test,
    clopper_pearson,
    cramervonmises_test,
    hellinger,
    js_distance,
    ks_test,
    numeric_psi,
    permutation_test,
    psi,
    shares,
)

NUMERIC_METHODS = ("ks", "anderson", "cramervonmises", "energy", "wasserstein")
CATEGORICAL_METHODS = ("chi2",)
_ALIASES = {
    "kolmogorov-smirnov": "ks",
    "kolmogorov_smirnov": "ks",
    "ad": "anderson",
    "anderson-darling": "anderson",
    "anderson_darling": "anderson",
    "cvm": "cramervonmises",
    "cramer-von-mises": "cramervonmises",
    "cramer_von_mises": "cramervonmises",
    "chi-square": "chi2",
    "chisquare": "chi2",
    "chi_square": "chi2",
}
PERMUTATION_METHODS = ("energy", "wasserstein")
# Defaults of min_effect: a mean shift of 5% of a standard deviation moves the normalised
# Wasserstein distance by 0.05; a category's share moving by about 3.5 points on a balanced
# binary column gives a Jensen–Shannon distance of 0.03. Smaller changes are called trivial.
DEFAULT_MIN_EFFECT = {"numeric": 0.05, "categorical": 0.03}
_TESTED_KINDS = (ColumnKind.NUMERIC, ColumnKind.CATEGORICAL)
_FIELDS = (
    "kind",
    "test",
    "statistic",
    "p_value",
    "p_value_low",
    "p_value_high",
    "p_adjusted",
    "p_adjusted_low",
    "p_adjusted_high",
    "effect",
    "effect_metric",
    "min_effect",
    "psi",
    "n_reference",
    "n_current",
    "missing_reference",
    "missing_current",
    "status",
    "note",
)


@dataclass(frozen=True)
class _Settings:
    alpha: float
    warning_alpha: float
    correction: str
    min_effect: dict[str, float]
    methods: dict[str, str]
    categorical_effect: str
    n_permutations: int
    permutation_sample: int
    random_state: int

    def method(self, name: str, kind: str) -> str:
        return self.methods.get(name) or self.methods[kind]

    def threshold(self, name: str, kind: str) -> float:
        return self.min_effect.get(name, self.min_effect[kind])

    def category_distance(self, p: np.ndarray, q: np.ndarray) -> float:
        return js_distance(p, q) if self.categorical_effect == "jensen_shannon" else hellinger(p, q)

    def rng(self, name: str) -> np.random.Generator:
        # One stream per column: adding a column does not change another column's permutations.
        return np.random.default_rng([self.random_state, zlib.crc32(name.encode())])


class _Part(NamedTuple):
    """One test of a column (a numeric column has one for values and one for missingness)."""

    result: TestResult
    effect: float
    threshold: float
    test: str
    metric: str


@dataclass
class _Outcome:
    """One column's test before the correction: what goes into a row of the report."""

    kind: str
    test: str
    statistic: float
    p_value: float
    p_low: float
    p_high: float
    effect: float
    effect_metric: str
    min_effect: float
    effect_ok: bool
    psi: float
    n_reference: int
    n_current: int
    missing_reference: float
    missing_current: float
    note: str = ""
    in_family: bool = True
    forced: DriftStatus | None = None


def detect_drift(
    reference: Table | pd.DataFrame | Mapping[str, Any],
    current: Table | pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    alpha: float = 0.05,
    warning_alpha: float = 0.1,
    correction: Literal["bonferroni", "bh"] = "bonferroni",
    min_effect: float | Mapping[str, float] | None = None,
    methods: Mapping[str, str] | None = None,
    categorical_effect: Literal["jensen_shannon", "hellinger"] = "jensen_shannon",
    n_permutations: int = 2000,
    permutation_sample: int = 5000,
    multivariate: bool = True,
    multivariate_sample: int = 5000,
    auc_threshold: float = 0.55,
    kinds: Mapping[str, str | ColumnKind] | None = None,
    random_state: int = 0,
    n_jobs: int = 1,
) -> DriftReport:
    """Test every column of ``current`` for drift from ``reference``, and the table as a whole.

    Each column gets a two-sample test suited to its kind, a p-value corrected for the number
    of tests, and an effect size. A column drifts only when its corrected p-value is below
    ``alpha`` **and** its effect reaches ``min_effect``: large windows make every trivial
    difference significant, and the effect size is what keeps them from raising alarms. A
    domain classifier (reference rows vs current rows) adds a multivariate test.

    Parameters
    ----------
    reference
        The data the model was trained on: a :class:`~modelcycle.data.Table`, a DataFrame, or
        a reference profile (``Registry().load(name).reference_profile`` or
        :func:`~modelcycle.data.profile_table`). With a profile, categorical columns are tested
        against the exact category counts of the whole training set and numeric columns
        against the profile's bounded random sample; no training data is read.
    current
        The window to check, with the same columns (extra columns such as request ids are
        skipped; a missing target is skipped, so label drift is tested when labels exist).
    columns
        Compare only these columns (each must exist on both sides).
    alpha
        Family-wise significance level of Drift (after the correction).
    warning_alpha
        Level of Warning: a corrected p-value between ``alpha`` and this is a Warning.
    correction
        ``"bonferroni"`` (controls the chance of any false alarm) or ``"bh"``
        (Benjamini–Hochberg, controls the share of false alarms among alarms; more power).
    min_effect
        Smallest effect that counts as drift: a number for every column, or a mapping with keys
        ``"numeric"``, ``"categorical"`` or column names. Defaults: 0.05 for numeric columns
        (Wasserstein distance / reference std) and 0.03 for categorical ones (Jensen–Shannon
        or Hellinger distance).
    methods
        Test per kind or per column, e.g. ``{"numeric": "anderson", "age": "energy"}``.
        Numeric: ``"ks"`` (default), ``"anderson"``, ``"cramervonmises"``, ``"energy"``,
        ``"wasserstein"`` (the last two by permutation); categorical: ``"chi2"``.
    categorical_effect
        Effect size of categorical columns: ``"jensen_shannon"`` or ``"hellinger"``.
    n_permutations
        Most permutations per permutation test (fewer when the p-value is clearly large).
    permutation_sample
        Rows per side a permutation test draws (the other tests use every row).
    multivariate
        Also run the domain-classifier test.
    multivariate_sample
        Rows per side the domain classifier sees.
    auc_threshold
        Drift from the domain classifier needs the lower bound of its AUC's interval above this.
    kinds
        Override the kind of some columns, e.g. ``{"zip": "categorical"}``.
    random_state
        Seed of permutations, samples and the classifier: equal seeds give equal reports.
    n_jobs
        Threads of the domain classifier.

    Returns
    -------
    DriftReport

    Raises
    ------
    EmptyTableError
        If either side has no rows.
    ColumnMismatchError
        If ``current`` lacks a reference column (or either side lacks one of ``columns``).
    ParameterError
        If a parameter is out of range.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from modelcycle.monitor import detect_drift
    >>> rng = np.random.default_rng(0)
    >>> ref = pd.DataFrame({"x": rng.normal(size=2000), "c": rng.choice(["a", "b"], 2000)})
    >>> cur = ref.assign(x=ref["x"] + 0.5)
    >>> report = detect_drift(ref, cur, multivariate=False)
    >>> report.status, report.drifted
    (<DriftStatus.DRIFT: 'Drift'>, ['x'])
    """
    started = time.perf_counter()
    settings = _settings(
        alpha,
        warning_alpha,
        correction,
        min_effect,
        methods,
        categorical_effect,
        n_permutations,
        permutation_sample,
        random_state,
    )
    _check_domain_params(multivariate_sample, auc_threshold, n_jobs)
    overrides = _kinds(kinds)
    ref = as_side(reference, "reference", overrides)
    cur = as_side(current, "current")
    assert isinstance(cur, FrameSide)
    ref.kinds.update(overrides)
    names, skipped = _select_columns(ref, cur, columns)
    if isinstance(ref, FrameSide):
        infer_kinds(ref, names)

    outcomes: dict[str, _Outcome] = {}
    distributions: dict[str, dict[str, Any]] = {}
    numeric: list[str] = []
    categorical: list[str] = []
    for name in names:
        kind = _test_kind(ref.kinds[name], explicit=columns is not None)
        if kind is None:
            skipped[name] = (
                f"{ref.kinds[name]} column: not tested unless named in columns= "
                "(dates and identifiers change by nature)"
            )
            continue
        if kind is ColumnKind.NUMERIC:
            outcome, plot = _numeric(name, ref, cur, settings)
        else:
            outcome, plot = _categorical(name, ref, cur, settings)
        # The classifier learns from columns with values on both sides and an unchanged kind.
        if outcome.in_family and outcome.n_reference and outcome.n_current:
            (numeric if kind is ColumnKind.NUMERIC else categorical).append(name)
        outcomes[name] = outcome
        if plot:
            distributions[name] = plot

    domain = None
    if multivariate:
        domain, reason = _domain(
            ref, cur, numeric, categorical, multivariate_sample, settings.random_state, n_jobs
        )
        if reason:
            skipped["(domain classifier)"] = reason
    frame, domain_result = _decide(outcomes, domain, settings, auc_threshold)
    statuses = [DriftStatus(s) for s in frame["status"]]
    if domain_result is not None:
        statuses.append(domain_result.status)
    return DriftReport(
        columns=frame,
        status=DriftStatus.worst(statuses),
        domain=domain_result,
        skipped=skipped,
        settings={
            "alpha": settings.alpha,
            "warning_alpha": settings.warning_alpha,
            "correction": settings.correction,
            "min_effect": settings.min_effect,
            "methods": settings.methods,
            "categorical_effect": settings.categorical_effect,
            "n_permutations": settings.n_permutations,
            "permutation_sample": settings.permutation_sample,
            "multivariate": multivariate,
            "multivariate_sample": multivariate_sample,
            "auc_threshold": auc_threshold,
            "random_state": settings.random_state,
            "reference": ref.source,
        },
        n_reference=ref.rows,
        n_current=cur.rows,
        elapsed_seconds=time.perf_counter() - started,
        distributions=distributions,
    )


# -- parameters ---------------------------------------------------------------------------------


def _settings(
    alpha: float,
    warning_alpha: float,
    correction: str,
    min_effect: float | Mapping[str, float] | None,
    methods: Mapping[str, str] | None,
    categorical_effect: str,
    n_permutations: int,
    permutation_sample: int,
    random_state: int,
) -> _Settings:
    owner = "detect_drift"
    if not _is_number(alpha) or not 0 < alpha < 1:
        raise ParameterError("alpha", owner, "a number between 0 and 1 (exclusive)", alpha)
    if not _is_number(warning_alpha) or not alpha <= warning_alpha < 1:
        raise ParameterError(
            "warning_alpha",
            owner,
            f"a number from alpha ({alpha}) up to 1 (exclusive)",
            warning_alpha,
        )
    if correction not in ("bonferroni", "bh"):
        raise ParameterError("correction", owner, "'bonferroni' or 'bh'", correction)
    if categorical_effect not in ("jensen_shannon", "hellinger"):
        raise ParameterError(
            "categorical_effect", owner, "'jensen_shannon' or 'hellinger'", categorical_effect
        )
    if not isinstance(n_permutations, int) or n_permutations < 1:
        raise ParameterError("n_permutations", owner, "a positive integer", n_permutations)
    if not isinstance(permutation_sample, int) or permutation_sample < 10:
        raise ParameterError(
            "permutation_sample", owner, "an integer of at least 10", permutation_sample
        )
    if not isinstance(random_state, int) or isinstance(random_state, bool) or random_state < 0:
        raise ParameterError("random_state", owner, "a non-negative integer", random_state)
    thresholds = dict(DEFAULT_MIN_EFFECT)
    if isinstance(min_effect, Mapping):
        thresholds.update({str(k): v for k, v in min_effect.items()})
    elif min_effect is not None:
        thresholds = {"numeric": min_effect, "categorical": min_effect}
    for key, threshold in thresholds.items():
        if not _is_number(threshold) or threshold < 0:
            raise ParameterError(
                "min_effect", owner, f"a non-negative number (for {key!r})", threshold
            )
    chosen = {"numeric": "ks", "categorical": "chi2"}
    for key, value in (methods or {}).items():
        name = _ALIASES.get(str(value).lower(), str(value).lower())
        allowed: tuple[str, ...] = CATEGORICAL_METHODS if key == "categorical" else NUMERIC_METHODS
        if key not in ("numeric", "categorical"):
            allowed = NUMERIC_METHODS + CATEGORICAL_METHODS
        if name not in allowed:
            raise ParameterError(
                "methods", owner, f"for {key!r} one of {', '.join(allowed)}", value
            )
        chosen[str(key)] = name
    return _Settings(
        float(alpha),
        float(warning_alpha),
        correction,
        thresholds,
        chosen,
        categorical_effect,
        n_permutations,
        permutation_sample,
        random_state,
    )


def _check_domain_params(sample: int, threshold: float, n_jobs: int) -> None:
    owner = "detect_drift"
    if not isinstance(sample, int) or sample < MIN_ROWS:
        raise ParameterError(
            "multivariate_sample", owner, f"an integer of at least {MIN_ROWS}", sample
        )
    if not _is_number(threshold) or not 0.5 <= threshold < 1:
        raise ParameterError(
            "auc_threshold", owner, "a number from 0.5 up to 1 (exclusive)", threshold
        )
    if not isinstance(n_jobs, int) or n_jobs < 1:
        raise ParameterError("n_jobs", owner, "a positive integer", n_jobs)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)


def _kinds(kinds: Mapping[str, str | ColumnKind] | None) -> dict[str, ColumnKind]:
    out: dict[str, ColumnKind] = {}
    for name, kind in (kinds or {}).items():
        try:
            out[str(name)] = ColumnKind(kind)
        except ValueError:
            raise ParameterError(
                "kinds",
                "detect_drift",
                f"a mapping to {', '.join(k.value for k in ColumnKind)} (for {name!r})",
                kind,
            ) from None
    return out


def _select_columns(
    ref: FrameSide | ProfileSide, cur: FrameSide, columns: Sequence[str] | None
) -> tuple[list[str], dict[str, str]]:
    """The columns to compare, and those left out with the reason."""
    ref_names = list(ref.kinds) if isinstance(ref, ProfileSide) else list(ref.frame.columns)
    if isinstance(ref, FrameSide) and ref.source == "table":
        ref_names = [c for c in ref.frame.columns if c in ref.kinds]
    cur_names = [str(c) for c in cur.frame.columns]
    skipped: dict[str, str] = {}
    if columns is not None:
        if isinstance(columns, str):
            columns = [columns]
        missing = {
            "reference": [c for c in columns if c not in ref_names],
            "current": [c for c in columns if c not in cur_names],
        }
        if missing["reference"] or missing["current"]:
            raise ColumnMismatchError(
                "Some columns asked for are absent: "
                + "; ".join(
                    f"the {side} data lacks {cols}" for side, cols in missing.items() if cols
                )
                + ". Check the names in columns=.",
                {k: v for k, v in missing.items() if v},
            )
        return list(dict.fromkeys(columns)), skipped
    absent = [c for c in ref_names if c not in cur_names and c != ref.target]
    common = [c for c in ref_names if c in cur_names]
    if absent or not common:
        raise ColumnMismatchError(
            f"The current data lacks the reference columns {absent or ref_names}: a column the "
            "model was trained on is missing, so its drift cannot be judged. Add the columns, "
            "or pass columns=[...] to compare only some.",
            {"current": absent or ref_names},
        )
    if ref.target is not None and ref.target not in cur_names:
        skipped[ref.target] = "target absent from the current data (no labels yet)"
    for name in cur_names:
        if name not in ref_names:
            skipped[name] = "not in the reference"
    return common, skipped


def _test_kind(kind: ColumnKind, *, explicit: bool) -> ColumnKind | None:
    """The test family of a kind; dates, text and identifiers only when asked for by name."""
    if kind in _TESTED_KINDS:
        return kind
    if not explicit:
        return None
    return ColumnKind.NUMERIC if kind is ColumnKind.DATETIME else ColumnKind.CATEGORICAL


# -- one column ---------------------------------------------------------------------------------


def _numeric(
    name: str, ref: FrameSide | ProfileSide, cur: FrameSide, settings: _Settings
) -> tuple[_Outcome, dict[str, Any] | None]:
    dates = ref.kinds[name] is ColumnKind.DATETIME
    a = ref.numeric(name, dates=dates)
    b = cur.numeric(name, dates=dates)
    assert isinstance(a, NumericColumn)
    threshold = settings.threshold(name, "numeric")
    if isinstance(b, KindChange):
        return _kind_change("numeric", b.message, a.rows, cur.rows, threshold), None
    parts: list[_Part] = []
    notes = [a.note] if a.note else []
    plot = None
    psi_value = np.nan
    if a.values is not None and b.values is not None:
        ecdfs = Ecdfs.of(a.values, b.values)
        method = settings.method(name, "numeric")
        if method in ("anderson", "cramervonmises") and min(a.values.n, b.values.n) < 2:
            method = "ks"  # the other two need two values a side; KS does not
        result = _value_test(method, a.values, b.values, ecdfs, settings, settings.rng(name))
        effect = ecdfs.wasserstein() / _scale(a, b)
        parts.append(_Part(result, effect, threshold, method, "wasserstein/std"))
        psi_value = numeric_psi(a.values, b.values)
        plot = _numeric_plot(a.values, b.values, ecdfs)
        if result.permutations:
            notes.append(
                f"permutation p-value: {result.permutations:,} permutations of a sample of "
                f"{min(a.values.n, settings.permutation_sample):,} + "
                f"{min(b.values.n, settings.permutation_sample):,} rows"
            )
    if (a.missing or b.missing) and (a.values is not None or b.values is not None):
        table_a = np.array([a.rows - a.missing, a.missing])
        table_b = np.array([b.rows - b.missing, b.missing])
        result = chi_square_test(table_a, table_b)
        effect = settings.category_distance(shares(table_a), shares(table_b))
        cat_threshold = settings.threshold(name, "categorical")
        parts.append(
            _Part(
                result, effect, cat_threshold, "chi2 (missing share)", settings.categorical_effect
            )
        )
        if b.values is None and a.values is not None:
            notes.append("every value is missing in the current data")
        elif a.values is None and b.values is not None:
            notes.append("every value is missing in the reference")
    if not parts:
        return _nothing_to_compare("numeric", "wasserstein/std", threshold), None
    # Values and missingness are two tests of one column: Bonferroni within the column keeps
    # the column a single hypothesis of the family.
    factor = float(len(parts))
    result = min(parts, key=lambda part: part.result.p_value).result
    loudest = max(
        parts, key=lambda part: part.effect / part.threshold if part.threshold else np.inf
    )
    if len(parts) == 2:
        notes.append(
            f"missing share {_share(a.missing, a.rows):.1%} → {_share(b.missing, b.rows):.1%}; "
            "p-value is the smaller of the value and missing-share tests, doubled"
        )
    return _Outcome(
        kind="numeric",
        test=" + ".join(part.test for part in parts),
        statistic=result.statistic,
        p_value=min(1.0, result.p_value * factor),
        p_low=min(1.0, result.p_low * factor),
        p_high=min(1.0, result.p_high * factor),
        effect=loudest.effect,
        effect_metric=loudest.metric,
        min_effect=loudest.threshold,
        effect_ok=any(part.effect >= part.threshold for part in parts),
        psi=psi_value,
        n_reference=a.values.n if a.values is not None else 0,
        n_current=b.values.n if b.values is not None else 0,
        missing_reference=_share(a.missing, a.rows),
        missing_current=_share(b.missing, b.rows),
        note="; ".join(notes),
    ), plot


def _value_test(
    method: str,
    a: Counts,
    b: Counts,
    ecdfs: Ecdfs,
    settings: _Settings,
    rng: np.random.Generator,
) -> TestResult:
    if method == "ks":
        return ks_test(a, b, ecdfs)
    if method == "anderson":
        return anderson_test(a, b)
    if method == "cramervonmises":
        return cramervonmises_test(a, b)
    statistic: Literal["wasserstein", "energy"] = "energy" if method == "energy" else "wasserstein"
    return permutation_test(
        a.sample(settings.permutation_sample, rng),
        b.sample(settings.permutation_sample, rng),
        statistic,
        n_permutations=settings.n_permutations,
        rng=rng,
        stop_above=settings.warning_alpha,
    )


def _scale(a: NumericColumn, b: NumericColumn) -> float:
    """The reference's standard deviation; a constant reference falls back to the current's."""
    for std in (a.std, b.std):
        if std is not None and std > 0:
            return std
    return 1.0


def _categorical(
    name: str, ref: FrameSide | ProfileSide, cur: FrameSide, settings: _Settings
) -> tuple[_Outcome, dict[str, Any] | None]:
    a = ref.categorical(name)
    threshold = settings.threshold(name, "categorical")
    if cur.is_numeric_dtype(name) and not _has_numbers(a):
        return _kind_change(
            "categorical",
            "kind changed: the current values are numbers where the reference holds text "
            f"categories (e.g. {next(iter(a.counts), '')!r})",
            ref.rows,
            cur.rows,
            threshold,
        ), None
    b = cur.categorical(name)
    if set(a.counts) | set(b.counts) <= {MISSING}:
        return _nothing_to_compare("categorical", settings.categorical_effect, threshold), None
    b_counts = _fold_unknown(a, b)
    categories = sorted(set(a.counts) | set(b_counts), key=lambda k: (-a.counts.get(k, 0.0), k))
    counts_a = np.array([a.counts.get(k, 0.0) for k in categories])
    counts_b = np.array([b_counts.get(k, 0.0) for k in categories])
    result = chi_square_test(np.rint(counts_a).astype(np.int64), counts_b.astype(np.int64))
    p, q = shares(counts_a), shares(counts_b)
    effect = settings.category_distance(p, q)
    new = [k for k in categories if a.counts.get(k, 0.0) == 0 and k != OTHER]
    plural = "category" if len(new) == 1 else "categories"
    notes = [f"{len(new)} new {plural} (e.g. {new[0]!r})"] if new else []
    return _Outcome(
        kind="categorical",
        test=settings.method(name, "categorical"),
        statistic=result.statistic,
        p_value=result.p_value,
        p_low=result.p_low,
        p_high=result.p_high,
        effect=effect,
        effect_metric=settings.categorical_effect,
        min_effect=threshold,
        effect_ok=effect >= threshold,
        psi=psi(p, q),
        n_reference=round(a.rows - a.missing),
        n_current=round(b.rows - b.missing),
        missing_reference=_share(a.missing, a.rows),
        missing_current=_share(b.missing, b.rows),
        note="; ".join(notes),
    ), _categorical_plot(categories, p, q)


def _fold_unknown(a: CategoricalColumn, b: CategoricalColumn) -> dict[str, float]:
    """Current categories a profile lumped into <other> are counted there too."""
    if OTHER not in a.counts:
        return b.counts
    folded: dict[str, float] = {}
    for key, count in b.counts.items():
        target = key if key in a.counts else OTHER
        folded[target] = folded.get(target, 0.0) + count
    return folded


def _has_numbers(column: CategoricalColumn) -> bool:
    keys = [k for k in column.counts if k not in (MISSING, OTHER)]
    return not keys or any(_parses_as_number(k) for k in keys)


def _parses_as_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _nothing_to_compare(kind: str, metric: str, threshold: float) -> _Outcome:
    """Every value is missing on both sides: reported, but not a test of the family."""
    return _Outcome(
        kind,
        "–",
        np.nan,
        np.nan,
        np.nan,
        np.nan,
        np.nan,
        metric,
        threshold,
        False,
        np.nan,
        0,
        0,
        1.0,
        1.0,
        "every value is missing on both sides: nothing to compare",
        in_family=False,
    )


def _kind_change(kind: str, message: str, n_ref: int, n_cur: int, threshold: float) -> _Outcome:
    """A column whose values changed kind drifts by definition: no test is needed."""
    return _Outcome(
        kind,
        "kind check",
        np.nan,
        0.0,
        0.0,
        0.0,
        np.inf,
        "kind changed",
        threshold,
        True,
        np.nan,
        n_ref,
        n_cur,
        np.nan,
        np.nan,
        message,
        in_family=False,
        forced=DriftStatus.DRIFT,
    )


def _share(part: float, whole: float) -> float:
    return float(part / whole) if whole else np.nan


# -- plot data ----------------------------------------------------------------------------------

_ECDF_POINTS = 200
_HISTOGRAM_BINS = 30


def _numeric_plot(a: Counts, b: Counts, ecdfs: Ecdfs) -> dict[str, Any]:
    grid = ecdfs.grid
    take = np.unique(np.linspace(0, grid.size - 1, min(grid.size, _ECDF_POINTS)).astype(int))
    low, high = float(grid[0]), float(grid[-1])
    if grid.size > _HISTOGRAM_BINS:
        # Bins over the central 99% of the reference, so one outlier does not squash the rest.
        cum = np.cumsum(a.counts) / a.n
        low = float(a.values[int(np.searchsorted(cum, 0.005))])
        high = float(a.values[min(int(np.searchsorted(cum, 0.995)), a.values.size - 1)])
    edges = np.linspace(low, high, _HISTOGRAM_BINS + 1) if high > low else np.array([low, low])
    inner = edges[1:-1]
    hist_a = np.diff(np.concatenate([[0.0], a.cdf(inner), [1.0]]))
    hist_b = np.diff(np.concatenate([[0.0], b.cdf(inner), [1.0]]))
    return {
        "kind": "numeric",
        "ecdf": {
            "x": grid[take].tolist(),
            "reference": ecdfs.reference[take].tolist(),
            "current": ecdfs.current[take].tolist(),
        },
        "histogram": {
            "edges": edges.tolist(),
            "reference": hist_a.tolist(),
            "current": hist_b.tolist(),
        },
    }


def _categorical_plot(categories: list[str], p: np.ndarray, q: np.ndarray) -> dict[str, Any]:
    top = np.argsort(-np.maximum(p, q), kind="stable")[:20]
    return {
        "kind": "categorical",
        "categories": [categories[i] for i in top],
        "reference": p[top].tolist(),
        "current": q[top].tolist(),
    }


# -- the multivariate test and the verdicts -----------------------------------------------------


def _domain(
    ref: FrameSide | ProfileSide,
    cur: FrameSide,
    numeric: list[str],
    categorical: list[str],
    sample: int,
    random_state: int,
    n_jobs: int,
) -> tuple[Any, str]:
    reference = ref.sample_frame()
    if not numeric and not categorical:
        return None, "no column to learn from"
    if min(len(reference), cur.rows) < MIN_ROWS:
        return None, f"fewer than {MIN_ROWS} rows on a side: too few to train a classifier"
    fit = fit_domain_classifier(
        reference,
        cur.frame,
        numeric,
        categorical,
        max_rows=sample,
        folds=5,
        random_state=random_state,
        n_jobs=n_jobs,
    )
    return fit, ""


def _adjust(p: np.ndarray, correction: str) -> np.ndarray:
    if p.size == 0:
        return p
    if correction == "bonferroni":
        return np.minimum(1.0, p * p.size)
    return np.asarray(st.false_discovery_control(p, method="bh"))


def _decide(
    outcomes: dict[str, _Outcome],
    domain: Any,
    settings: _Settings,
    auc_threshold: float,
) -> tuple[pd.DataFrame, DomainClassifierResult | None]:
    """Correct the family of p-values together, then give every test its status."""
    family = [name for name, o in outcomes.items() if o.in_family]
    p = [outcomes[n].p_value for n in family]
    low = [outcomes[n].p_low for n in family]
    high = [outcomes[n].p_high for n in family]
    domain_p = np.nan
    if domain is not None:
        se = domain.se
        domain_p = (
            float(st.norm.sf((domain.auc - 0.5) / se)) if se > 0 else float(domain.auc <= 0.5)
        )
        p, low, high = [*p, domain_p], [*low, domain_p], [*high, domain_p]
    adjusted = _adjust(np.array(p), settings.correction)
    adjusted_low = _adjust(np.array(low), settings.correction)
    adjusted_high = _adjust(np.array(high), settings.correction)
    _warn_if_unreachable(outcomes, len(p), settings)

    rows: dict[str, dict[str, Any]] = {}
    position = {name: i for i, name in enumerate(family)}
    for name, o in outcomes.items():
        if name in position:
            i = position[name]
            p_adj, p_adj_low, p_adj_high = adjusted[i], adjusted_low[i], adjusted_high[i]
            status = DriftStatus.decide(
                p_adj_low, p_adj_high, o.effect_ok, settings.alpha, settings.warning_alpha
            )
        else:
            p_adj = p_adj_low = p_adj_high = o.p_value
            status = o.forced or DriftStatus.STABLE
        note = o.note
        if o.in_family and not o.effect_ok and p_adj_high < settings.alpha:
            note = "; ".join(
                filter(
                    None,
                    [
                        note,
                        f"significant but trivial: effect {o.effect:.3g} is under "
                        f"min_effect {o.min_effect:g}",
                    ],
                )
            )
        rows[name] = {
            "kind": o.kind,
            "test": o.test,
            "statistic": o.statistic,
            "p_value": o.p_value,
            "p_value_low": o.p_low,
            "p_value_high": o.p_high,
            "p_adjusted": p_adj,
            "p_adjusted_low": p_adj_low,
            "p_adjusted_high": p_adj_high,
            "effect": o.effect,
            "effect_metric": o.effect_metric,
            "min_effect": o.min_effect,
            "psi": o.psi,
            "n_reference": o.n_reference,
            "n_current": o.n_current,
            "missing_reference": o.missing_reference,
            "missing_current": o.missing_current,
            "status": str(status),
            "note": note,
        }
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=list(_FIELDS))
    frame.index.name = "column"
    result = None
    if domain is not None:
        z = st.norm.ppf(1.0 - settings.alpha / 2.0)
        ci_low = max(0.0, domain.auc - z * domain.se)
        ci_high = min(1.0, domain.auc + z * domain.se)
        p_adj = float(adjusted[-1])
        if p_adj < settings.alpha and ci_low > auc_threshold:
            status = DriftStatus.DRIFT
        elif p_adj < settings.warning_alpha and domain.auc > auc_threshold:
            status = DriftStatus.WARNING
        else:
            status = DriftStatus.STABLE
        result = DomainClassifierResult(
            auc=float(domain.auc),
            ci_low=float(ci_low),
            ci_high=float(ci_high),
            p_value=domain_p,
            p_adjusted=p_adj,
            threshold=auc_threshold,
            status=status,
            n_reference=domain.n_reference,
            n_current=domain.n_current,
            folds=domain.folds,
            importance=domain.importance,
        )
    return frame, result


def _warn_if_unreachable(outcomes: dict[str, _Outcome], family: int, settings: _Settings) -> None:
    """A permutation p-value can never drift when its smallest interval is above alpha."""
    permuted = [n for n, o in outcomes.items() if o.test.split(" ")[0] in PERMUTATION_METHODS]
    if not permuted:
        return
    factor = family if settings.correction == "bonferroni" else 1
    smallest = clopper_pearson(0, settings.n_permutations)[1] * factor
    if smallest >= settings.alpha:
        needed = int(np.ceil(3.7 * factor / settings.alpha)) + 1
        warnings.warn(
            DriftWarning(
                f"With n_permutations={settings.n_permutations} and {family} tests, the "
                f"permutation tests of {permuted} can never reach Drift (the smallest corrected "
                f"p-value interval ends at {smallest:.3g} >= alpha={settings.alpha}). "
                f"Use n_permutations >= {needed}."
            ),
            stacklevel=3,
        )
