"""The per-column statistics agree with SciPy, and each test holds its level on null data."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as st
from hypothesis import given, settings
from hypothesis import strategies as hst

from modelcycle.monitor._stats import (
    Counts,
    Ecdfs,
    ad_inf_sf,
    anderson_test,
    chi_square_test,
    clopper_pearson,
    cramervonmises_test,
    hellinger,
    js_distance,
    ks_test,
    numeric_psi,
    permutation_test,
)

samples = hst.lists(
    hst.integers(-20, 20).map(float) | hst.floats(-1e3, 1e3, allow_nan=False),
    min_size=1,
    max_size=60,
)


@pytest.mark.filterwarnings("ignore:ks_2samp. Exact calculation")
@given(samples, samples)
@settings(max_examples=60, deadline=None)
def test_distances_equal_scipy(x: list[float], y: list[float]) -> None:
    a, b = Counts.of(np.array(x)), Counts.of(np.array(y))
    ecdfs = Ecdfs.of(a, b)
    assert ecdfs.ks() == pytest.approx(st.ks_2samp(x, y).statistic, abs=1e-12)
    assert ecdfs.wasserstein() == pytest.approx(st.wasserstein_distance(x, y), abs=1e-9)
    assert ecdfs.energy() == pytest.approx(st.energy_distance(x, y), abs=1e-9)
    assert ks_test(a, b, ecdfs).p_value == pytest.approx(st.ks_2samp(x, y).pvalue)


@given(samples)
@settings(max_examples=40, deadline=None)
def test_identical_samples_have_p_one(x: list[float]) -> None:
    a = Counts.of(np.array(x))
    ecdfs = Ecdfs.of(a, a)
    assert ks_test(a, a, ecdfs).p_value == 1.0
    assert ecdfs.wasserstein() == 0.0
    rng = np.random.default_rng(0)
    result = permutation_test(
        a.expand(), a.expand(), "energy", n_permutations=50, rng=rng, stop_above=0.1
    )
    assert result.p_value == 1.0


def test_counts_sample_is_a_sorted_subsample() -> None:
    c = Counts.of(np.array([5.0, 1.0, 1.0, 3.0, 3.0, 3.0]))
    drawn = c.sample(4, np.random.default_rng(0))
    assert list(drawn) == sorted(drawn) and len(drawn) == 4
    assert set(drawn) <= {1.0, 3.0, 5.0}
    assert c.sample(10, np.random.default_rng(0)).tolist() == [1, 1, 3, 3, 3, 5]
    assert c.mean() == pytest.approx(np.mean([5, 1, 1, 3, 3, 3]))
    assert c.std() == pytest.approx(np.std([5, 1, 1, 3, 3, 3]))


def test_anderson_p_value_matches_scipy_table_and_is_not_capped() -> None:
    # Inside SciPy's table (0.001 to 0.25) the asymptotic p-value agrees with its interpolation.
    rng = np.random.default_rng(1)
    for shift in (0.0, 0.05, 0.1, 0.15):
        x, y = rng.normal(size=800), rng.normal(shift, 1, 800)
        ours = anderson_test(Counts.of(x), Counts.of(y)).p_value
        theirs = st.anderson_ksamp(
            [x, y], variant="midrank", method=st.PermutationMethod(999, random_state=0)
        ).pvalue
        assert ours == pytest.approx(theirs, abs=0.05)
    far = anderson_test(Counts.of(rng.normal(size=2000)), Counts.of(rng.normal(1, 1, 2000)))
    assert far.p_value < 1e-6  # SciPy's table would say 0.001
    assert ad_inf_sf(3.857) == pytest.approx(0.01, abs=5e-4)


def test_cramervonmises_equals_scipy() -> None:
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=300), rng.normal(0.2, 1, 400)
    ours = cramervonmises_test(Counts.of(x), Counts.of(y))
    theirs = st.cramervonmises_2samp(x, y, method="asymptotic")
    assert ours.p_value == pytest.approx(theirs.pvalue)
    assert ours.statistic == pytest.approx(theirs.statistic)


def test_chi_square_pools_rare_categories() -> None:
    a = np.array([500, 400, 2, 1, 0])
    b = np.array([480, 420, 1, 0, 3])
    result = chi_square_test(a, b)
    # The three rare categories form one cell: a 2 x 3 table.
    pooled = st.chi2_contingency(np.array([[500, 400, 3], [480, 420, 4]]))
    assert result.p_value == pytest.approx(pooled.pvalue)
    assert chi_square_test(np.array([10, 0]), np.array([7, 0])).p_value == 1.0


def test_distances_of_categories() -> None:
    p = np.array([0.5, 0.5])
    assert js_distance(p, p) == 0.0 and hellinger(p, p) == 0.0
    assert js_distance(np.array([1.0, 0]), np.array([0, 1.0])) == pytest.approx(1.0)
    assert hellinger(np.array([1.0, 0]), np.array([0, 1.0])) == pytest.approx(1.0)


def test_psi_of_a_shift() -> None:
    rng = np.random.default_rng(3)
    x = Counts.of(rng.normal(size=20_000))
    assert numeric_psi(x, x) == 0.0
    assert numeric_psi(x, Counts.of(rng.normal(0.5, 1, 20_000))) == pytest.approx(0.25, abs=0.06)


def test_clopper_pearson_bounds() -> None:
    low, high = clopper_pearson(5, 100)
    assert low < 0.05 < high
    assert clopper_pearson(100, 100) == (pytest.approx(0.9637833), 1.0)


@pytest.mark.parametrize("method", ["ks", "anderson", "cramervonmises"])
def test_exact_tests_hold_their_level(method: str) -> None:
    """On continuous null data the rejection rate at 5% is near 5% (neither liberal nor lazy)."""
    rng = np.random.default_rng(4)
    trials, rejections = 400, 0
    for _ in range(trials):
        a, b = Counts.of(rng.normal(size=120)), Counts.of(rng.normal(size=90))
        if method == "ks":
            p = ks_test(a, b, Ecdfs.of(a, b)).p_value
        elif method == "anderson":
            p = anderson_test(a, b).p_value
        else:
            p = cramervonmises_test(a, b).p_value
        rejections += p < 0.05
    assert 0.02 <= rejections / trials <= 0.085


@pytest.mark.parametrize("statistic", ["energy", "wasserstein"])
def test_permutation_tests_hold_their_level_and_have_power(statistic: str) -> None:
    rng = np.random.default_rng(5)
    trials = 150

    def rate(shift: float) -> float:
        hits = 0
        for _ in range(trials):
            x, y = np.sort(rng.normal(size=60)), np.sort(rng.normal(shift, 1, 80))
            result = permutation_test(
                x,
                y,
                statistic,
                n_permutations=199,
                rng=rng,
                stop_above=0.1,  # type: ignore[arg-type]
            )
            assert result.p_low <= result.p_value <= result.p_high or result.permutations < 199
            hits += result.p_value < 0.05
        return hits / trials

    assert rate(0.0) <= 0.09
    assert rate(1.0) >= 0.9


def test_permutation_test_stops_early_when_clearly_stable() -> None:
    rng = np.random.default_rng(6)
    x, y = np.sort(rng.normal(size=500)), np.sort(rng.normal(size=500))
    result = permutation_test(x, y, "energy", n_permutations=5000, rng=rng, stop_above=0.1)
    assert result.permutations < 5000 and result.p_low > 0.1
