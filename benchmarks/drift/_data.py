"""Data of the drift benchmarks, built identically in modelcycle's and Evidently's environments.

Only NumPy and pandas are used, and every sample comes from a seeded PCG64 generator, so the two
processes (pandas 3 for modelcycle, pandas 2 for Evidently) compare exactly the same rows.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "adult.csv"
# The planted shifts: a numeric column moved by a share of its standard deviation (rounded to
# whole units, so the moved values stay integers like the rest), and a category's share raised.
NUMERIC_COLUMN = "fnlwgt"
CATEGORY_COLUMN, CATEGORY_FROM, CATEGORY_TO = "sex", "Male", "Female"
SHIFTS = {
    "none": ("none", 0.0),
    "numeric +0.1 std": ("numeric", 0.1),
    "numeric +0.5 std": ("numeric", 0.5),
    "category +5 points": ("category", 0.05),
    "category +20 points": ("category", 0.20),
}


def adult() -> pd.DataFrame:
    """The 14 feature columns of adult.csv (6 numeric, 8 categorical, missing values)."""
    frame = pd.read_csv(DATA, skipinitialspace=True, na_values=["?"])
    return frame.drop(columns=["income"])


def resample(frame: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` rows drawn with replacement: an iid sample of the empirical distribution."""
    return frame.iloc[rng.integers(0, len(frame), n)].reset_index(drop=True)


def rng_for(*key: int) -> np.random.Generator:
    return np.random.default_rng(list(key))


def halves(frame: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Random halves of the real data: no drift by construction."""
    order = rng_for(seed, 7).permutation(len(frame))
    half = len(frame) // 2
    ref = frame.iloc[order[:half]].reset_index(drop=True)
    cur = frame.iloc[order[half : 2 * half]].reset_index(drop=True)
    return ref, cur


def planted(
    frame: pd.DataFrame, shift: str, n: int, trial: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A reference and a current sample of ``n`` rows each, the current one shifted."""
    kind, amount = SHIFTS[shift]
    code = int(re.sub(r"\D", "", shift) or 0)
    rng = rng_for(trial, n, code, len(kind))
    ref = resample(frame, n, rng)
    cur = resample(frame, n, rng)
    if kind == "numeric":
        std = frame[NUMERIC_COLUMN].std()
        cur[NUMERIC_COLUMN] = cur[NUMERIC_COLUMN] + round(amount * std)
    elif kind == "category":
        # Relabel rows of one category as another: only this column's distribution changes.
        candidates = np.flatnonzero((cur[CATEGORY_COLUMN] == CATEGORY_FROM).to_numpy())
        moved = rng.choice(candidates, size=round(amount * n), replace=False)
        column = cur[CATEGORY_COLUMN].to_numpy(dtype=object, copy=True)
        column[moved] = CATEGORY_TO
        cur[CATEGORY_COLUMN] = column
    return ref, cur


def shifted_column(shift: str) -> str | None:
    kind = SHIFTS[shift][0]
    return {"numeric": NUMERIC_COLUMN, "category": CATEGORY_COLUMN}.get(kind)


def peak_rss_reset() -> int:
    """Reset the process's peak resident memory (Linux) and return the current one, in bytes."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status("VmRSS")


def peak_rss() -> int:
    """Peak resident memory since the last reset, in bytes."""
    return _status("VmHWM")


def _status(field: str) -> int:
    text = Path("/proc/self/status").read_text()
    match = re.search(rf"{field}:\s+(\d+) kB", text)
    assert match is not None
    return int(match.group(1)) * 1024
