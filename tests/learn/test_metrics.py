"""Validation metrics against scikit-learn's references, and their edge cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler, label_binarize

from modelcycle.data import Task
from modelcycle.exceptions import ParameterError
from modelcycle.learn import METRICS, check_metric, default_metric, is_better, score


@pytest.fixture(scope="module")
def binary_predictions(adult_sample: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Real predictions: a logistic regression on adult's numeric columns."""
    X = adult_sample[["age", "education_num", "hours_per_week", "capital_gain"]].to_numpy()
    y = adult_sample["income"].to_numpy()
    model = LogisticRegression(max_iter=1000).fit(X[:2000], y[:2000])
    return y[2000:], model.predict(X[2000:]), model.predict_proba(X[2000:])


@pytest.fixture(scope="module")
def multiclass_predictions(wine: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X, y = wine.drop(columns="quality").to_numpy(), wine["quality"].to_numpy()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X[::2], y[::2])
    return y[1::2], model.predict(X[1::2]), model.predict_proba(X[1::2])


def test_binary_matches_sklearn(binary_predictions: tuple[np.ndarray, ...]) -> None:
    y, pred, proba = binary_predictions
    got = score("binary", y, pred, proba, classes=["<=50K", ">50K"])
    assert got == pytest.approx(
        {
            "accuracy": skm.accuracy_score(y, pred),
            "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
            # The positive class is the second of the sorted classes.
            "f1": skm.f1_score(y, pred, pos_label=">50K"),
            "roc_auc": skm.roc_auc_score(y == ">50K", proba[:, 1]),
            "log_loss": skm.log_loss(y, proba, labels=["<=50K", ">50K"]),
        }
    )


def test_binary_accepts_the_positive_column_alone(
    binary_predictions: tuple[np.ndarray, ...],
) -> None:
    y, pred, proba = binary_predictions
    assert score("binary", y, pred, proba[:, 1]) == pytest.approx(score("binary", y, pred, proba))


def test_multiclass_matches_sklearn(multiclass_predictions: tuple[np.ndarray, ...]) -> None:
    y, pred, proba = multiclass_predictions
    classes = sorted(set(y))
    got = score("multiclass", y, pred, proba, classes=classes)
    assert got == pytest.approx(
        {
            "accuracy": skm.accuracy_score(y, pred),
            "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
            "f1": skm.f1_score(y, pred, average="macro", zero_division=0),
            "roc_auc": skm.roc_auc_score(y, proba, multi_class="ovr", average="weighted"),
            "log_loss": skm.log_loss(y, proba, labels=classes),
        }
    )


def test_regression_matches_sklearn(wine: pd.DataFrame) -> None:
    y = wine["quality"].to_numpy(dtype=float)
    pred = y.mean() + 0.5 * (wine["alcohol"].to_numpy() - wine["alcohol"].mean())
    assert score("regression", y, pred) == pytest.approx(
        {
            "rmse": skm.root_mean_squared_error(y, pred),
            "mae": skm.mean_absolute_error(y, pred),
            "r2": skm.r2_score(y, pred),
            "mape": skm.mean_absolute_percentage_error(y, pred),
        }
    )


def test_a_class_the_model_never_saw_counts_as_probability_zero(
    multiclass_predictions: tuple[np.ndarray, ...],
) -> None:
    # A fold's model trained without quality 3: its probabilities have no column for it.
    y, pred, proba = multiclass_predictions
    classes = sorted(set(y))
    seen = [c for c in classes if c != 3]
    partial = proba[:, 1:] / proba[:, 1:].sum(axis=1, keepdims=True)
    got = score("multiclass", y, pred, partial, classes=seen)
    full = np.column_stack([np.zeros(len(y)), partial])
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, full, labels=classes))
    assert got["roc_auc"] == pytest.approx(
        skm.roc_auc_score(y, full, multi_class="ovr", average="weighted")
    )


def test_classes_missing_from_a_fold_are_left_out_of_roc_auc(
    multiclass_predictions: tuple[np.ndarray, ...],
) -> None:
    # A validation fold without quality 8: the model still has a column for it.
    y, pred, proba = multiclass_predictions
    keep = y != 8
    classes = sorted(set(y))
    got = score("multiclass", y[keep], pred[keep], proba[keep], classes=classes)
    present = [c for c in classes if c != 8]
    columns = [classes.index(c) for c in present]
    # sklearn's weighted one-vs-rest over the classes present, via its multilabel form.
    reference = skm.roc_auc_score(
        label_binarize(y[keep], classes=present), proba[keep][:, columns], average="weighted"
    )
    assert got["roc_auc"] == pytest.approx(reference)
    assert math.isfinite(got["log_loss"])


def test_one_class_in_y_true_leaves_roc_auc_undefined() -> None:
    got = score("binary", ["no"] * 3, ["no", "yes", "no"], [0.1, 0.8, 0.3], classes=["no", "yes"])
    assert math.isnan(got["roc_auc"])
    assert got["accuracy"] == pytest.approx(2 / 3)
    assert math.isfinite(got["log_loss"])


def test_without_probabilities_the_probability_metrics_are_skipped() -> None:
    got = score("multiclass", [1, 2, 3], [1, 2, 2])
    assert set(got) == {"accuracy", "balanced_accuracy", "f1"}


def test_numeric_classes_sort_naturally() -> None:
    # 10 > 9 although "10" < "9": the positive class of (9, 10) is 10.
    got = score("binary", [9, 10, 10], [10, 10, 10], metrics=["f1"])
    assert got["f1"] == pytest.approx(skm.f1_score([9, 10, 10], [10, 10, 10], pos_label=10))


def test_a_subset_of_metrics() -> None:
    got = score("regression", [1.0, 2.0], [1.0, 3.0], metrics=["mae"])
    assert got == {"mae": 0.5}


def test_a_metric_of_another_task_names_the_fitting_ones() -> None:
    with pytest.raises(ParameterError, match=r"'rmse'.*'mape' for a regression task.*'roc_auc'"):
        score("regression", [1.0], [1.0], metrics=["roc_auc"])
    with pytest.raises(ParameterError, match=r"'accuracy'.*for a binary task"):
        check_metric("r2", Task.BINARY, owner="Learner")


def test_wrong_shapes_raise() -> None:
    with pytest.raises(ParameterError, match="one per y_true"):
        score("binary", [0, 1], [0])
    with pytest.raises(ParameterError, match=r"shape \(2, 2\)"):
        score("binary", [0, 1], [0, 1], np.ones((2, 3)) / 3, classes=[0, 1])


def test_default_metrics_fit_their_task() -> None:
    assert default_metric(Task.BINARY) == "roc_auc"
    assert default_metric("multiclass") == "accuracy"
    assert default_metric("regression") == "rmse"
    for task in (Task.BINARY, Task.MULTICLASS, Task.REGRESSION):
        assert task in METRICS[default_metric(task)].tasks
    with pytest.raises(ParameterError, match="supervised"):
        default_metric("clustering")


def test_is_better_follows_the_direction() -> None:
    assert is_better("roc_auc", 0.9, 0.8)
    assert not is_better("roc_auc", 0.8, 0.8)
    assert is_better("log_loss", 0.2, 0.3)
    assert is_better("rmse", 1.0, math.nan)
    assert not is_better("rmse", math.nan, 1.0)
    with pytest.raises(ParameterError, match="metric"):
        is_better("speed", 1.0, 2.0)


@given(
    metric=st.sampled_from(sorted(METRICS)),
    a=st.floats(allow_infinity=False),
    b=st.floats(allow_infinity=False),
)
def test_is_better_is_a_strict_order(metric: str, a: float, b: float) -> None:
    assert not (is_better(metric, a, b) and is_better(metric, b, a))
    if not math.isnan(a) and not math.isnan(b) and a != b:
        assert is_better(metric, a, b) != is_better(metric, b, a)
