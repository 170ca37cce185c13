"""detect_drift: false alarms at most alpha, power on planted shifts, effect sizes, verdicts."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from modelcycle.data import load_table, profile_table
from modelcycle.monitor import DriftReport, DriftStatus, detect_drift

ALPHA = 0.05
MakeFrame = Callable[..., pd.DataFrame]


def _halves(frame: pd.DataFrame, n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = np.random.default_rng(seed).permutation(len(frame))[: 2 * n]
    return frame.iloc[rows[:n]], frame.iloc[rows[n:]]


def test_false_alarm_rate_of_the_table_verdict_is_at_most_alpha(adult: pd.DataFrame) -> None:
    """200 random halves of real data (15 mixed columns): the verdict is Drift at most alpha."""
    trials = 200
    alarms = sum(
        detect_drift(*_halves(adult, 400, seed), multivariate=False).status is DriftStatus.DRIFT
        for seed in range(trials)
    )
    # alpha plus two binomial standard errors: the check fails for a real excess, not by chance.
    assert alarms / trials <= ALPHA + 2 * np.sqrt(ALPHA * (1 - ALPHA) / trials)


def test_false_alarm_rate_with_benjamini_hochberg(make_frame: MakeFrame) -> None:
    trials = 300
    alarms = sum(
        detect_drift(
            make_frame(300, 2 * s), make_frame(300, 2 * s + 1), correction="bh", multivariate=False
        ).status
        is DriftStatus.DRIFT
        for s in range(trials)
    )
    assert alarms / trials <= ALPHA + 2 * np.sqrt(ALPHA * (1 - ALPHA) / trials)


def test_uncorrected_tests_would_raise_false_alarms(adult: pd.DataFrame) -> None:
    """Why the correction exists: raw p-values of 15 columns often dip under alpha."""
    trials = 60
    raw = sum(
        bool(
            (
                detect_drift(*_halves(adult, 400, s), multivariate=False).columns["p_value"] < ALPHA
            ).any()
        )
        for s in range(trials)
    )
    assert raw / trials > ALPHA


@pytest.mark.parametrize(
    ("shift", "share", "column"), [(0.5, 0.3, "x"), (0.0, 0.5, "c")], ids=["numeric", "category"]
)
def test_power_on_planted_shifts(
    make_frame: MakeFrame, shift: float, share: float, column: str
) -> None:
    """A 0.5 std shift, or a share moving from 30% to 50%, is found nearly always at n=1000."""
    trials = 40
    found = 0
    for seed in range(trials):
        report = detect_drift(
            make_frame(1000, 2 * seed),
            make_frame(1000, 2 * seed + 1, shift=shift, share=share),
            multivariate=False,
        )
        found += column in report.drifted
    assert found / trials >= 0.95


def test_trivial_shift_on_large_data_is_significant_but_stable(make_frame: MakeFrame) -> None:
    ref = make_frame(400_000, 1)
    cur = make_frame(400_000, 2, shift=0.02)
    report = detect_drift(ref, cur, multivariate=False)
    row = report.columns.loc["x"]
    assert row["p_adjusted"] < 1e-6
    assert row["effect"] == pytest.approx(0.02, abs=0.006)
    assert row["status"] == "Stable" and report.status is DriftStatus.STABLE
    assert "trivial" in row["note"]
    # The same shift counts when the user says it matters.
    strict = detect_drift(ref, cur, multivariate=False, min_effect={"x": 0.01})
    assert strict.drifted == ["x"]


def test_report_columns_and_fields(make_frame: MakeFrame) -> None:
    report = detect_drift(make_frame(500, 0), make_frame(500, 1, shift=1.0), multivariate=False)
    assert isinstance(report, DriftReport)
    assert list(report.columns.index) == ["x", "c"]
    x = report.columns.loc["x"]
    assert x["kind"] == "numeric" and x["test"] == "ks" and x["effect_metric"] == "wasserstein/std"
    assert x["effect"] == pytest.approx(1.0, abs=0.15)
    assert x["p_value_low"] == x["p_value"] == x["p_value_high"]
    assert x["p_adjusted"] == pytest.approx(min(1.0, 2 * x["p_value"]))
    c = report.columns.loc["c"]
    assert c["kind"] == "categorical" and c["test"] == "chi2"
    assert c["effect_metric"] == "jensen_shannon" and c["status"] == "Stable"
    assert report.drifted == ["x"] and report.warned == []
    assert "DriftReport(status=Drift" in repr(report)


@pytest.mark.parametrize("method", ["anderson", "cramervonmises", "energy", "wasserstein"])
def test_every_numeric_method_finds_a_clear_shift(make_frame: MakeFrame, method: str) -> None:
    report = detect_drift(
        make_frame(600, 0),
        make_frame(600, 1, shift=0.6),
        methods={"x": method},
        multivariate=False,
    )
    row = report.columns.loc["x"]
    assert row["test"] == method and row["status"] == "Drift"
    if method in ("energy", "wasserstein"):
        assert row["p_value_low"] <= row["p_value"] <= row["p_value_high"]
        assert row["p_adjusted_high"] < ALPHA
        assert "permutation" in row["note"]


def test_hellinger_effect_and_bh_correction(make_frame: MakeFrame) -> None:
    report = detect_drift(
        make_frame(2000, 0),
        make_frame(2000, 1, share=0.5),
        correction="bh",
        categorical_effect="hellinger",
        multivariate=False,
    )
    c = report.columns.loc["c"]
    assert c["effect_metric"] == "hellinger" and c["status"] == "Drift"
    assert report.settings["correction"] == "bh"


def test_warning_between_the_two_levels(make_frame: MakeFrame) -> None:
    # Find a column whose corrected p-value falls between alpha and warning_alpha.
    for seed in range(200):
        report = detect_drift(
            make_frame(300, 1000 + seed),
            make_frame(300, 2000 + seed, shift=0.22),
            columns=["x"],
            multivariate=False,
        )
        p = report.columns.loc["x", "p_adjusted"]
        if ALPHA <= p <= 0.1:
            assert report.columns.loc["x", "status"] == "Warning"
            assert report.status is DriftStatus.WARNING and report.warned == ["x"]
            return
    pytest.fail("no p-value between the levels in 200 tries")


def test_profile_reference_gives_the_same_verdicts_as_the_table(adult: pd.DataFrame) -> None:
    ref, rest = _halves(adult, 6000, seed=11)
    table = load_table(ref.reset_index(drop=True), target="income")
    profile = profile_table(table)
    same = rest.iloc[:3000]
    moved = same.assign(
        fnlwgt=same["fnlwgt"] + round(0.5 * ref["fnlwgt"].std()),
        sex=np.where(np.arange(len(same)) % 4 == 0, "Female", same["sex"]),
    )
    for current, expected in ((same, []), (moved, ["fnlwgt", "sex"])):
        by_table = detect_drift(table, current, multivariate=False)
        by_profile = detect_drift(profile, current, multivariate=False)
        assert by_table.drifted == by_profile.drifted == expected
        assert by_table.status == by_profile.status
    assert by_profile.settings["reference"] == "profile"
    assert "profile's sample" in by_profile.columns.loc["age", "note"]


def test_profile_reference_without_labels_and_with_new_categories(adult: pd.DataFrame) -> None:
    table = load_table(adult.iloc[:5000], target="income")
    profile = profile_table(table, sample_size=1000)
    window = adult.iloc[5000:8000].drop(columns=["income"]).copy()
    window.loc[window.index[:400], "workclass"] = "Robot"
    report = detect_drift(profile, window, multivariate=False)
    assert report.skipped == {"income": "target absent from the current data (no labels yet)"}
    assert report.drifted == ["workclass"]
    assert "new category" in report.columns.loc["workclass", "note"]


def test_label_and_prediction_drift_are_columns(make_frame: MakeFrame) -> None:
    ref = make_frame(1000, 0).assign(prediction=0.2, label="no")
    cur = make_frame(1000, 1).assign(prediction=0.6, label="yes")
    report = detect_drift(ref, cur, multivariate=False)
    assert set(report.drifted) == {"prediction", "label"}


def test_domain_classifier_catches_drift_no_column_shows() -> None:
    """Two correlated columns decorrelated: each marginal is unchanged, the joint is not."""
    rng = np.random.default_rng(0)
    n = 3000
    x = rng.normal(size=n)
    ref = pd.DataFrame({"x": x, "y": x + 0.3 * rng.normal(size=n)})
    x2 = rng.normal(size=n)
    y2 = rng.permutation(x2 + 0.3 * rng.normal(size=n))
    cur = pd.DataFrame({"x": x2, "y": y2})
    report = detect_drift(ref, cur, multivariate_sample=2000)
    assert report.drifted == []
    assert report.domain is not None and report.domain.status is DriftStatus.DRIFT
    assert report.domain.ci_low > 0.55 and report.status is DriftStatus.DRIFT
    assert report.domain.p_adjusted < ALPHA
    same = detect_drift(ref, ref.sample(frac=1.0, random_state=1), multivariate_sample=2000)
    assert same.domain is not None and same.domain.status is DriftStatus.STABLE
    assert same.status is DriftStatus.STABLE


def test_domain_classifier_is_skipped_on_tiny_windows(make_frame: MakeFrame) -> None:
    report = detect_drift(make_frame(500, 0), make_frame(20, 1))
    assert report.domain is None
    assert "fewer than 50 rows" in report.skipped["(domain classifier)"]


def test_same_seed_same_report_and_row_order_does_not_matter(adult: pd.DataFrame) -> None:
    ref, cur = _halves(adult, 2500, seed=3)
    cur = cur.assign(age=cur["age"] + 3)
    first = detect_drift(ref, cur, methods={"hours_per_week": "energy"})
    again = detect_drift(
        ref.sample(frac=1.0, random_state=7),
        cur.sample(frac=1.0, random_state=8),
        methods={"hours_per_week": "energy"},
    )
    pd.testing.assert_frame_equal(first.columns, again.columns)
    assert first.domain is not None and again.domain is not None
    assert first.domain.auc == again.domain.auc
