"""Compiled inference: every preset family that compiles answers exactly as its pipeline, on
held-out rows, nulls, unseen categories and loosely typed values; what does not compile, or
compiles wrongly, is served by the pipeline."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from modelcycle.data import Table, load_table, profile_table
from modelcycle.learn import get_spec, model_specs
from modelcycle.registry import LoadedModel
from modelcycle.serve import (
    Inference,
    InputSpec,
    RequestError,
    ServedModel,
    _compiled,
    predict_rows,
)

TOLERANCE = 1e-9
TRAIN_ROWS = 1000
CLASSIFIERS = [s.name for s in model_specs("binary", "all", TRAIN_ROWS)]
REGRESSORS = [s.name for s in model_specs("regression", "all", TRAIN_ROWS)]
CASES = [("adult", f) for f in CLASSIFIERS] + [("electricity", f) for f in CLASSIFIERS]
CASES += [("bike", f) for f in REGRESSORS]


@pytest.fixture(scope="module")
def datasets(
    adult_sample: pd.DataFrame, electricity: Table, bike_sample: pd.DataFrame
) -> dict[str, tuple[Table, pd.DataFrame]]:
    """Per data set: a training table (the first rows) and held-out feature rows."""
    frames = {
        "adult": (adult_sample, "income"),  # numbers, categories, missing values
        "electricity": (electricity.frame, "class"),  # numbers only
        "bike": (bike_sample, "cnt"),  # a date column, a regression target
    }
    return {
        name: (
            load_table(frame.head(TRAIN_ROWS), target=target),
            frame.iloc[TRAIN_ROWS : TRAIN_ROWS + 40].drop(columns=[target]),
        )
        for name, (frame, target) in frames.items()
    }


def loaded(pipeline: Any, table: Table) -> LoadedModel:
    """A fitted pipeline as the registry would hand it to the server."""
    return LoadedModel(
        name="m",
        version=1,
        pipeline=pipeline,
        recipe={},
        reference_profile=profile_table(table, sample_size=400),
        input_example=table.X.head(5),
        input_schema=(),
        checksum=None,
        aliases=(),
        metrics={},
        run_id=None,
        trusted_types=(),
    )


def as_json(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as a JSON client sends them."""
    records = frame.to_dict(orient="records")
    return orjson.loads(orjson.dumps(records, default=str, option=orjson.OPT_SERIALIZE_NUMPY))


def variants(rows: list[dict[str, Any]], spec: InputSpec) -> dict[str, list[dict[str, Any]]]:
    """The held-out rows as sent, and bent in every way the signature still accepts."""
    optional = [c.name for c in spec.columns if not c.required]
    strings = [c.name for c in spec.columns if c.kind == "string"]
    numbers = [c.name for c in spec.columns if c.kind in ("number", "integer")]
    out = {"held-out rows": rows, "one row": rows[:1]}
    if optional:
        out["optional columns null"] = [{**r, **dict.fromkeys(optional)} for r in rows]
        out["optional columns absent"] = [
            {k: v for k, v in r.items() if k not in optional} for r in rows
        ]
    if strings:
        out["unseen categories"] = [{**r, **dict.fromkeys(strings, "never-seen")} for r in rows]
        out["numbers as categories"] = [{**r, **dict.fromkeys(strings, 7)} for r in rows]
    out["numbers as strings"] = [
        {**r, **{n: str(r[n]) for n in numbers if r.get(n) is not None}} for r in rows
    ]
    return out


def outcome(served: ServedModel, rows: list[dict[str, Any]]) -> tuple[Any, ...]:
    try:
        result = predict_rows(served, rows)
    except RequestError as exc:
        return ("refused", exc.status, exc.code)
    return ("answered", result.predictions, result.probabilities)


def assert_same(got: tuple[Any, ...], want: tuple[Any, ...], labels: bool) -> None:
    assert got[0] == want[0], (got, want)
    if got[0] == "refused":
        assert got == want
        return
    if labels:
        assert got[1] == want[1]
    else:
        np.testing.assert_allclose(got[1], want[1], rtol=TOLERANCE, atol=TOLERANCE)
    if want[2] is None:
        assert got[2] is None
        return
    assert [list(p) for p in got[2]] == [list(p) for p in want[2]]  # the same classes, in order
    values = np.array([list(p.values()) for p in got[2]])
    expected = np.array([list(p.values()) for p in want[2]])
    np.testing.assert_allclose(values, expected, rtol=0, atol=TOLERANCE)


@pytest.mark.slow
@pytest.mark.parametrize(("data", "family"), CASES, ids=[f"{d}-{f}" for d, f in CASES])
def test_every_preset_compiles_and_matches_its_pipeline(
    datasets: dict[str, tuple[Table, pd.DataFrame]], data: str, family: str
) -> None:
    table, held_out = datasets[data]
    spec = get_spec(family, table.task)
    pipeline = spec.build(table.schema, random_state=0).fit(table.X, table.y)
    model = loaded(pipeline, table)

    compiled = ServedModel.prepare(model)
    assert compiled.inference.path == "compiled", compiled.inference.detail
    assert compiled.inference.verified_rows > 0
    assert compiled.inference.max_abs_diff is not None
    assert compiled.inference.max_abs_diff <= TOLERANCE

    plain = ServedModel.prepare(model, compile=False)
    assert plain.inference.path == "pipeline"
    labels = table.task != "regression"
    for name, rows in variants(as_json(held_out), compiled.spec).items():
        got, want = outcome(compiled, rows), outcome(plain, rows)
        assert got[0] == "answered", (name, got)
        assert_same(got, want, labels)
    # Every batch above was answered by the compiled path, not handed back to the pipeline.
    assert compiled.describe_inference()["declined_batches"] == 0


@pytest.mark.parametrize(
    "step",
    [PCA(n_components=3), FunctionTransformer(np.log1p)],
    ids=["PCA", "FunctionTransformer"],
)
def test_an_unknown_step_is_served_by_the_pipeline(
    electricity: Table, step: Any, caplog: pytest.LogCaptureFixture
) -> None:
    pipeline = make_pipeline(step, StandardScaler(), LogisticRegression(max_iter=500))
    X = electricity.X.abs()  # log1p needs no negative values
    pipeline.fit(X, electricity.y)
    model = loaded(pipeline, load_table(pd.concat([X, electricity.y], axis=1), target="class"))
    served = ServedModel.prepare(model)
    assert served.inference == Inference(
        "pipeline", f"not compiled: the step {type(step).__name__} is not one the compiler knows"
    )
    rows = as_json(X.head(3))
    assert predict_rows(served, rows).predictions == pipeline.predict(X.head(3)).tolist()


def test_a_model_fitted_on_named_columns_is_served_by_the_pipeline(
    electricity: Table, elec_tree: Pipeline
) -> None:
    served = ServedModel.prepare(loaded(elec_tree, electricity))
    assert served.inference.path == "pipeline"
    assert "fitted on named columns" in served.inference.detail


def test_a_wrong_compilation_is_caught_by_the_verification(
    monkeypatch: pytest.MonkeyPatch, electricity: Table, elec_logreg: Pipeline
) -> None:
    model = loaded(elec_logreg, electricity)
    assert ServedModel.prepare(model).inference.path == "compiled"

    # A compiler bug: the scaler's division forgotten.
    def subtract_only(self: Any, X: np.ndarray) -> None:
        X -= self.mean

    monkeypatch.setattr(_compiled._Scale, "__call__", subtract_only)
    served = ServedModel.prepare(model)
    assert served.inference.path == "pipeline"
    assert served.inference.detail.startswith("compiled, but it disagrees with the pipeline")
    rows = as_json(electricity.X.head(5))
    expected = elec_logreg.predict(electricity.X.head(5)).tolist()
    assert predict_rows(served, rows).predictions == expected


def test_verify_names_the_first_disagreement(electricity: Table, elec_logreg: Pipeline) -> None:
    model = loaded(elec_logreg, electricity)
    served = ServedModel.prepare(model, compile=False)
    compiled = _compiled.compile_pipeline(elec_logreg, served.spec)
    batches = _compiled.verification_batches(model, served.spec)
    rows, worst = _compiled.verify(compiled, served._pipeline_outputs, batches, labels=True)
    assert rows > 400 and worst <= TOLERANCE

    compiled.head.intercept = compiled.head.intercept + 1e-6
    with pytest.raises(_compiled.Mismatch, match="probabilities"):
        _compiled.verify(compiled, served._pipeline_outputs, batches, labels=True)


def test_lightgbm_without_its_single_row_predictor(
    monkeypatch: pytest.MonkeyPatch, datasets: dict[str, tuple[Table, pd.DataFrame]]
) -> None:
    table, held_out = datasets["adult"]
    pipeline = get_spec("lightgbm", table.task).build(table.schema, params={"n_estimators": 20})
    model = loaded(pipeline.fit(table.X, table.y), table)
    fast = ServedModel.prepare(model)
    assert "single-row predictor" in fast.inference.detail
    monkeypatch.setattr(_compiled._LightGBMRow, "create", classmethod(lambda cls, booster: None))
    slow = ServedModel.prepare(model)
    assert slow.inference.path == "compiled"
    assert "single-row predictor" not in slow.inference.detail
    for rows in (as_json(held_out.head(1)), as_json(held_out)):
        assert_same(outcome(fast, rows), outcome(slow, rows), labels=True)


def test_values_the_compiled_path_does_not_take_go_to_the_pipeline(
    electricity: Table, elec_logreg: Pipeline
) -> None:
    served = ServedModel.prepare(loaded(elec_logreg, electricity))
    plain = ServedModel.prepare(loaded(elec_logreg, electricity), compile=False)
    rows = as_json(electricity.X.head(2))
    rows[1]["vicprice"] = "inf"  # a number to the signature, refused by the scaler
    got, want = outcome(served, rows), outcome(plain, rows)
    assert got == want and got[:2] == ("refused", 422)
    assert served.describe_inference()["declined_batches"] == 1
