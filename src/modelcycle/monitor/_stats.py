"""Two-sample tests and effect sizes for one column, vectorised.

A numeric sample is summarised by its distinct values and their counts (:class:`Counts`): every
statistic that depends only on the two empirical CDFs (Kolmogorov–Smirnov, Wasserstein,
Cramér/energy distance, PSI) is then computed on the union of distinct values, so a million
integers with 70 distinct values cost one sort and a few thousand operations. Tests that need raw
values (Anderson–Darling, Cramér–von Mises) expand the counts back; permutation tests run on a
bounded sample and shuffle labels in batches of whole matrices.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.stats as st
from numpy.typing import NDArray
from scipy.spatial.distance import jensenshannon

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

# SciPy's exact two-sample KS distribution is cheap up to this many rows per side; beyond it
# the asymptotic distribution (of en = n*m/(n+m) points) is accurate to the third decimal.
_KS_EXACT_MAX_N = 10_000
# Permutations shuffled per batch: bounds memory at batch * (n + m) int32 cells.
_PERMUTATION_BATCH = 250
# Chi-square needs expected counts of about five per cell (Cochran); rarer categories are pooled.
_MIN_EXPECTED = 5.0
# Probabilities below this are floored before logarithms (PSI with an empty bin).
_PSI_FLOOR = 1e-4
# Variance of the asymptotic Anderson–Darling distribution: 2 (pi^2 - 9) / 3.
_AD_INF_VARIANCE = 2.0 * (math.pi**2 - 9.0) / 3.0
# MATLAB's detectdrift reports 95% Clopper–Pearson style intervals for permutation p-values.
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Counts:
    """A numeric sample as sorted distinct values and how often each occurs.

    Examples
    --------
    >>> import numpy as np
    >>> c = Counts.of(np.array([3.0, 1.0, 3.0]))
    >>> c.values.tolist(), c.counts.tolist(), c.n
    ([1.0, 3.0], [1, 2], 3)
    """

    values: FloatArray
    counts: IntArray

    @classmethod
    def of(cls, x: FloatArray) -> Counts:
        values, counts = np.unique(np.asarray(x, dtype=float), return_counts=True)
        return cls(values, counts.astype(np.int64))

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def expand(self) -> FloatArray:
        """The sorted sample itself."""
        return np.repeat(self.values, self.counts)

    def mean(self) -> float:
        return float(np.dot(self.values, self.counts) / self.n)

    def std(self) -> float:
        mean = self.mean()
        return float(np.sqrt(np.dot((self.values - mean) ** 2, self.counts) / self.n))

    def cdf(self, at: FloatArray) -> FloatArray:
        """The empirical CDF P(X <= x) at each point of ``at``."""
        cumulative = np.concatenate([[0], np.cumsum(self.counts)])
        return cumulative[np.searchsorted(self.values, at, side="right")] / self.n

    def sample(self, size: int, rng: np.random.Generator) -> FloatArray:
        """A sorted sample of ``size`` values drawn without replacement.

        Drawn from positions of the sorted sample, so the result does not depend on the order
        of the rows it came from.
        """
        if size >= self.n:
            return self.expand()
        positions = np.sort(rng.choice(self.n, size=size, replace=False))
        bounds = np.cumsum(self.counts)
        return self.values[np.searchsorted(bounds, positions, side="right")]


@dataclass(frozen=True)
class TestResult:
    """A statistic and its p-value; ``p_low``/``p_high`` bound a permutation p-value (95%)."""

    statistic: float
    p_value: float
    p_low: float
    p_high: float
    permutations: int = 0

    @classmethod
    def exact(cls, statistic: float, p_value: float) -> TestResult:
        p = float(min(1.0, max(0.0, p_value)))
        return cls(float(statistic), p, p, p)


@dataclass(frozen=True)
class Ecdfs:
    """Both empirical CDFs on the union of distinct values."""

    grid: FloatArray
    reference: FloatArray
    current: FloatArray

    @classmethod
    def of(cls, a: Counts, b: Counts) -> Ecdfs:
        grid = np.union1d(a.values, b.values)
        return cls(grid, _cdf_on(grid, a), _cdf_on(grid, b))

    def ks(self) -> float:
        return float(np.max(np.abs(self.reference - self.current)))

    def wasserstein(self) -> float:
        """The first Wasserstein distance: the area between the two CDFs."""
        gaps = np.abs(self.reference - self.current)[:-1]
        return float(np.dot(gaps, np.diff(self.grid)))

    def energy(self) -> float:
        """The energy distance sqrt(2 * integral of (F - G)^2), as SciPy defines it."""
        gaps = (self.reference - self.current)[:-1]
        return float(np.sqrt(2.0 * np.dot(gaps * gaps, np.diff(self.grid))))


def _cdf_on(grid: FloatArray, c: Counts) -> FloatArray:
    mass = np.zeros(grid.size)
    mass[np.searchsorted(grid, c.values)] = c.counts
    return np.cumsum(mass) / c.n


# -- numeric tests ------------------------------------------------------------------------------


def ks_test(a: Counts, b: Counts, ecdfs: Ecdfs) -> TestResult:
    """Two-sample Kolmogorov–Smirnov test.

    Exact (SciPy) for samples of up to 10,000 rows, asymptotic beyond. With ties (discrete
    columns) both are conservative: the false-alarm rate stays at or below the nominal level.
    """
    d = ecdfs.ks()
    if d == 0.0:
        return TestResult.exact(0.0, 1.0)
    if max(a.n, b.n) <= _KS_EXACT_MAX_N:
        with warnings.catch_warnings():
            # SciPy falls back to the asymptotic p-value when the exact one does not converge.
            warnings.filterwarnings("ignore", message="ks_2samp: Exact calculation")
            return TestResult.exact(d, st.ks_2samp(a.expand(), b.expand()).pvalue)
    en = a.n * b.n / (a.n + b.n)
    return TestResult.exact(d, float(st.kstwo.sf(d, round(en))))


def anderson_test(a: Counts, b: Counts) -> TestResult:
    """k-sample Anderson–Darling test (Scholz & Stephens, midranks for ties) for two samples.

    SciPy computes the standardised statistic; its p-value is read from the asymptotic
    Anderson–Darling distribution (Marsaglia & Marsaglia, 2004) instead of SciPy's table, which
    caps p-values to [0.001, 0.25] and so could never pass a Bonferroni threshold below 0.001.
    """
    if np.union1d(a.values, b.values).size == 1:
        return TestResult.exact(0.0, 1.0)
    with warnings.catch_warnings():
        # SciPy warns that its tabulated p-value is capped; that p-value is not used.
        warnings.filterwarnings("ignore", message="p-value (capped|floored)")
        t = float(st.anderson_ksamp([a.expand(), b.expand()], variant="midrank").statistic)
    return TestResult.exact(t, ad_inf_sf(1.0 + t * math.sqrt(_AD_INF_VARIANCE)))


def ad_inf_sf(z: float) -> float:
    """P(A^2 > z) for the asymptotic Anderson–Darling distribution (|error| < 2e-6).

    Marsaglia, G. & Marsaglia, J. (2004). Evaluating the Anderson-Darling distribution.
    Journal of Statistical Software 9(2).

    Examples
    --------
    >>> round(ad_inf_sf(2.492), 3)
    0.05
    """
    if z <= 0.0:
        return 1.0
    if z < 2.0:
        poly = (
            2.00012
            + (0.247105 - (0.0649821 - (0.0347962 - (0.011672 - 0.00168691 * z) * z) * z) * z) * z
        )
        return 1.0 - math.exp(-1.2337141 / z) / math.sqrt(z) * poly
    inner = 1.0776 - (2.30695 - (0.43424 - (0.082433 - (0.008056 - 0.0003146 * z) * z) * z) * z) * z
    # 1 - exp(-exp(inner)) computed without cancellation for tiny p-values.
    return float(-math.expm1(-math.exp(inner)))


def cramervonmises_test(a: Counts, b: Counts) -> TestResult:
    """Two-sample Cramér–von Mises test (SciPy, asymptotic distribution)."""
    if np.union1d(a.values, b.values).size == 1:
        return TestResult.exact(0.0, 1.0)
    result = st.cramervonmises_2samp(a.expand(), b.expand(), method="asymptotic")
    return TestResult.exact(float(result.statistic), float(result.pvalue))


def permutation_test(
    x: FloatArray,
    y: FloatArray,
    statistic: Literal["wasserstein", "energy"],
    *,
    n_permutations: int,
    rng: np.random.Generator,
    stop_above: float,
) -> TestResult:
    """A permutation test of equal distributions with a Wasserstein or energy statistic.

    The pooled sample is sorted once; a permutation only reassigns which positions belong to
    ``x``, so both empirical CDFs at every pooled value are one cumulative sum of the shuffled
    labels, computed for a whole batch of permutations as one matrix. Shuffling stops early
    once the 95% interval of the p-value lies entirely above ``stop_above`` (the result can no
    longer be anything but stable), as only more evidence of drift needs more permutations.

    The p-value is (1 + k) / (1 + B) for k of B permuted statistics at least as large as the
    observed one, which is never zero and keeps the test's level exact.
    """
    n1, n2 = x.size, y.size
    pooled = np.concatenate([x, y])
    order = np.argsort(pooled, kind="stable")
    pooled = pooled[order]
    is_x = order < n1
    gaps = np.diff(pooled)
    # Only gaps between distinct values carry area; positions inside ties contribute nothing.
    steps = np.flatnonzero(gaps > 0)
    widths = gaps[steps]
    positions = (steps + 1).astype(float)

    def stats(labels: NDArray[np.bool_]) -> FloatArray:
        in_x = np.cumsum(labels, axis=-1, dtype=np.int32)[..., steps]
        diff = in_x * (1.0 / n1 + 1.0 / n2) - positions / n2
        if statistic == "wasserstein":
            return np.abs(diff) @ widths
        return np.sqrt(2.0 * ((diff * diff) @ widths))

    observed = float(stats(is_x))
    if steps.size == 0 or observed == 0.0:
        return TestResult(observed, 1.0, 1.0, 1.0, 0)
    tolerance = observed * 1e-12
    exceed = done = 0
    while done < n_permutations:
        batch = min(_PERMUTATION_BATCH, n_permutations - done)
        labels = rng.permuted(np.tile(is_x, (batch, 1)), axis=1)
        exceed += int(np.count_nonzero(stats(labels) >= observed - tolerance))
        done += batch
        low, _ = clopper_pearson(exceed, done)
        if low > stop_above:
            break
    low, high = clopper_pearson(exceed, done)
    return TestResult(observed, (1 + exceed) / (1 + done), low, high, done)


def clopper_pearson(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The exact (Clopper–Pearson) interval of a binomial proportion k / n.

    Examples
    --------
    >>> low, high = clopper_pearson(0, 1000)
    >>> low, round(high, 4)
    (0.0, 0.0037)
    """
    tail = (1.0 - confidence) / 2.0
    low = 0.0 if k == 0 else float(st.beta.ppf(tail, k, n - k + 1))
    high = 1.0 if k == n else float(st.beta.ppf(1.0 - tail, k + 1, n - k))
    return low, high


# -- categorical tests and effect sizes --------------------------------------------------------


def chi_square_test(a: IntArray, b: IntArray) -> TestResult:
    """Chi-square test of homogeneity on two rows of counts over the same categories.

    Categories whose expected count is under five in either sample are pooled into one cell
    (Cochran's rule), so rare and new categories still count without breaking the chi-square
    approximation. A 2x2 table gets SciPy's Yates continuity correction (conservative).
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    total = a + b
    keep = total > 0
    a, b, total = a[keep], b[keep], total[keep]
    n_a, n_b = a.sum(), b.sum()
    expected = np.minimum(n_a, n_b) * total / (n_a + n_b)
    rare = expected < _MIN_EXPECTED
    if rare.any():
        a = np.append(a[~rare], a[rare].sum())
        b = np.append(b[~rare], b[rare].sum())
    if a.size < 2:
        return TestResult.exact(0.0, 1.0)
    result = st.chi2_contingency(np.vstack([a, b]))
    return TestResult.exact(float(result.statistic), float(result.pvalue))


def shares(counts: FloatArray | IntArray) -> FloatArray:
    counts = np.asarray(counts, dtype=float)
    return counts / counts.sum()


def js_distance(p: FloatArray, q: FloatArray) -> float:
    """Jensen–Shannon distance (base 2, so between 0 and 1) of two probability vectors."""
    return float(jensenshannon(p, q, base=2.0))


def hellinger(p: FloatArray, q: FloatArray) -> float:
    """Hellinger distance (between 0 and 1) of two probability vectors."""
    return float(np.sqrt(max(0.0, 1.0 - float(np.sum(np.sqrt(p * q))))))


def psi(p: FloatArray, q: FloatArray) -> float:
    """Population stability index sum((q - p) * ln(q / p)), empty bins floored at 1e-4."""
    p = np.maximum(p, _PSI_FLOOR)
    q = np.maximum(q, _PSI_FLOOR)
    return float(np.sum((q - p) * np.log(q / p)))


def numeric_psi(a: Counts, b: Counts, bins: int = 10) -> float:
    """PSI over the reference's decile bins (the usual way PSI is reported for numbers)."""
    cumulative = np.cumsum(a.counts) / a.n
    levels = np.arange(1, bins) / bins
    edges = np.unique(a.values[np.minimum(np.searchsorted(cumulative, levels), a.values.size - 1)])
    cut = np.concatenate([[0.0], a.cdf(edges), [1.0]]), np.concatenate([[0.0], b.cdf(edges), [1.0]])
    return psi(np.diff(cut[0]), np.diff(cut[1]))
