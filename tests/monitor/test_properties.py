"""Properties that hold for any data: identical inputs never drift; row order never matters."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelcycle.monitor import DriftStatus, detect_drift

METHODS = ["ks", "anderson", "cramervonmises", "energy", "wasserstein"]


@st.composite
def frames(draw: st.DrawFn, min_rows: int = 1) -> pd.DataFrame:
    n = draw(st.integers(min_rows, 80))
    numbers = st.one_of(
        st.integers(-5, 5).map(float),
        st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
        st.just(float("nan")),
    )
    categories = st.one_of(st.sampled_from(["a", "b", "c", "d"]), st.none())
    return pd.DataFrame(
        {
            "x": draw(st.lists(numbers, min_size=n, max_size=n)),
            "k": draw(st.lists(st.integers(0, 3).map(float), min_size=n, max_size=n)),
            "c": draw(st.lists(categories, min_size=n, max_size=n)),
        }
    )


KINDS = {"x": "numeric", "k": "numeric", "c": "categorical"}


@given(frames(), st.sampled_from(METHODS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_identical_inputs_never_drift(frame: pd.DataFrame, method: str) -> None:
    report = detect_drift(
        frame,
        frame.copy(),
        kinds=KINDS,
        methods={"numeric": method},
        n_permutations=500,
        multivariate=False,
    )
    assert report.status is DriftStatus.STABLE
    tested = report.columns[report.columns["p_value"].notna()]
    assert (tested["effect"] == 0).all()
    assert (tested["status"] == "Stable").all()


@given(frames(), frames(), st.sampled_from(METHODS), st.randoms(use_true_random=False))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_verdicts_do_not_depend_on_row_order(
    ref: pd.DataFrame, cur: pd.DataFrame, method: str, shuffle: object
) -> None:
    seed = shuffle.randint(0, 2**31)  # type: ignore[attr-defined]
    options = {
        "kinds": KINDS,
        "methods": {"numeric": method},
        "n_permutations": 500,
        "multivariate": False,
    }
    first = detect_drift(ref, cur, **options)  # type: ignore[arg-type]
    rng = np.random.default_rng(seed)
    again = detect_drift(
        ref.iloc[rng.permutation(len(ref))], cur.iloc[rng.permutation(len(cur))], **options
    )  # type: ignore[arg-type]
    assert first.status == again.status
    pd.testing.assert_frame_equal(first.columns, again.columns)
