"""The benchmark's data sets and their deterministic train/test splits.

Plain pandas and scikit-learn, so that both this project's virtual environment and FLAML's own
(``benchmarks/.venv-flaml``) read exactly the same rows.

``../shared/data`` holds only adult's training file (32,561 rows), not its separate 16,281-row
test set, so adult is split 80/20 like the others: the FLAML figures quoted in issue 7 for adult
were measured on that other test set, and FLAML is measured again here on this split.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SEED = 0
TEST_SIZE = 0.2

#: name -> (file, target, columns to drop, task, metric)
CASES: dict[str, tuple[str, str, list[str], str, str]] = {
    "adult": ("adult.csv", "income", [], "binary", "roc_auc"),
    "credit_german": ("credit_german.csv", "class", [], "binary", "roc_auc"),
    "electricity": ("electricity.csv", "class", [], "binary", "roc_auc"),
    "bike_hourly": (
        "bike_hourly.csv",
        "cnt",
        ["instant", "dteday", "casual", "registered"],
        "regression",
        "r2",
    ),
    "wine_quality_red": ("wine_quality_red.csv", "quality", [], "regression", "r2"),
}


def load_split(name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training and test rows of data set ``name`` (seed 0, 80/20, stratified for
    classification), every column but the dropped ones, the target included."""
    file, target, drop, task, _ = CASES[name]
    frame = pd.read_csv(DATA / file, skipinitialspace=True, na_values=["?"]).drop(columns=drop)
    stratify = frame[target] if task == "binary" else None
    train, test = train_test_split(frame, test_size=TEST_SIZE, random_state=SEED, stratify=stratify)
    return train.reset_index(drop=True), test.reset_index(drop=True)


def positive_class(train: pd.DataFrame, target: str) -> object:
    """The second of the sorted classes: the one whose probability ROC AUC ranks."""
    return sorted(train[target].unique())[1]
