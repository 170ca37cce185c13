"""Fixtures for drift tests: the adult census data, whole, and synthetic mixed frames."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

MakeFrame = Callable[..., pd.DataFrame]


@pytest.fixture(scope="session")
def adult(data_dir: Path) -> pd.DataFrame:
    """All 32,561 rows of adult.csv, read as a user would."""
    return pd.read_csv(data_dir / "adult.csv", skipinitialspace=True, na_values=["?"])


def _mixed_frame(n: int, seed: int, *, shift: float = 0.0, share: float = 0.3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(shift, 1.0, n),
            "c": np.where(rng.random(n) < share, "b", "a"),
        }
    )


@pytest.fixture(scope="session")
def make_frame() -> MakeFrame:
    """``make_frame(n, seed, shift=0, share=0.3)``: a normal column x moved by ``shift`` stds
    and a two-category column c with P(c = 'b') = ``share``."""
    return _mixed_frame
