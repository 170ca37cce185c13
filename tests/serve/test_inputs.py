"""Request bodies to model inputs, in-process: the checks, the conversions, and their properties."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import modelcycle.serve
from modelcycle.exceptions import OptionalDependencyError
from modelcycle.serve import Column, InputSpec, RequestError, parse_batch
from modelcycle.store._jsontext import json_objects

SPEC = InputSpec(
    (
        Column("x", "number", True, "float64"),
        Column("n", "integer", True, "int64"),
        Column("job", "string", False, "object"),
        Column("ok", "boolean", False, "bool"),
        Column("when", "datetime", False, "datetime64[ns]"),
    )
)


def parse(body: Any, max_rows: int = 100) -> Any:
    return parse_batch(orjson.dumps(body), SPEC, max_rows)


def test_records_and_columns_give_the_same_arrays() -> None:
    rows = [
        {"x": 1.5, "n": 2, "job": "clerk", "ok": True, "when": "2024-01-02T03:04:05"},
        {"x": "2", "n": 3.0, "job": None, "ok": None},
    ]
    records = parse({"inputs": rows})
    columns = parse({"instances": {k: [r.get(k) for r in rows] for k in SPEC.names}})
    split = parse(
        {
            "dataframe_split": {
                "columns": SPEC.names,
                "data": [[r.get(k) for k in SPEC.names] for r in rows],
            }
        }
    )
    for batch in (records, columns, split):
        assert batch.n_rows == 2
        assert batch.columns["x"].tolist() == [1.5, 2.0]
        assert batch.columns["n"].dtype == np.int64
        assert batch.columns["job"].tolist() == ["clerk", None]
        assert batch.columns["ok"].tolist() == [True, None]
        assert str(batch.columns["when"][0]).startswith("2024-01-02T03:04:05")
    frame = records.frame()
    assert frame.dtypes["job"] == np.dtype(object) and list(frame.columns) == SPEC.names
    logged = [orjson.loads(text) for text in json_objects(records.columns).to_pylist()]
    assert logged[1]["job"] is None and logged[0]["when"].startswith("2024-01-02")


def test_numeric_only_batches_are_one_block() -> None:
    spec = InputSpec(
        (Column("a", "number", True, "float64"), Column("b", "number", True, "float64"))
    )
    frame = parse_batch(b'{"inputs": [{"a": 1, "b": null}]}', spec).frame()
    assert frame.shape == (1, 2) and np.isnan(frame.loc[0, "b"])


@pytest.mark.parametrize(
    ("row", "code", "field"),
    [
        ({"n": 1}, "missing_column", "x"),
        ({"x": 1}, "missing_column", "n"),
        ({"x": "abc", "n": 1}, "not_a_number", "x"),
        ({"x": [1], "n": 1}, "wrong_type", "x"),
        ({"x": 1, "n": 1.5}, "wrong_type", "n"),
        ({"x": 1, "n": 1, "ok": "yes"}, "wrong_type", "ok"),
        ({"x": 1, "n": 1, "job": {"a": 1}}, "wrong_type", "job"),
        ({"x": 1, "n": 1, "when": "not a date"}, "wrong_type", "when"),
        ({"x": 1, "n": 1, "when": 5}, "wrong_type", "when"),
    ],
)
def test_refusals_name_the_field(row: dict[str, Any], code: str, field: str) -> None:
    with pytest.raises(RequestError) as caught:
        parse({"inputs": [{"x": 0, "n": 0}, row]})
    error = caught.value
    assert (error.status, error.code, error.field) == (422, code, field)
    assert error.row in (None, 1)


def test_limits() -> None:
    with pytest.raises(RequestError, match="more than this server's limit of 3") as caught:
        parse({"inputs": [{"x": 1, "n": 1}] * 4}, max_rows=3)
    assert caught.value.status == 413
    with pytest.raises(RequestError) as empty:
        parse({"dataframe_split": {"columns": ["x", "n"], "data": []}})
    assert empty.value.code == "empty_batch"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(
    body=st.one_of(
        json_values,
        st.dictionaries(
            st.sampled_from(["inputs", "instances", "dataframe_split", "dataframe_records"]),
            json_values,
            max_size=2,
        ),
        st.fixed_dictionaries(
            {
                "inputs": st.lists(
                    st.dictionaries(st.sampled_from(SPEC.names), json_values), max_size=3
                )
            }
        ),
    )
)
def test_any_json_is_accepted_or_refused_with_a_request_error(body: Any) -> None:
    try:
        content = orjson.dumps(body)
    except orjson.JSONEncodeError:
        return  # integers beyond 64 bits: no client can send them as JSON numbers orjson reads
    try:
        batch = parse_batch(content, SPEC, 100)
    except RequestError as error:
        assert 400 <= error.status < 500 and str(error)
        return
    assert batch.n_rows >= 1
    assert all(len(a) == batch.n_rows for a in batch.columns.values())
    batch.frame()
    assert all(orjson.loads(text) for text in json_objects(batch.columns).to_pylist())


def test_the_app_names_the_extra_when_fastapi_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "fastapi", None)
    monkeypatch.delitem(sys.modules, "modelcycle.serve._app", raising=False)
    if "create_app" in vars(modelcycle.serve):  # cached by an earlier import
        monkeypatch.delattr(modelcycle.serve, "create_app")
    with pytest.raises(OptionalDependencyError, match=r"pip install 'modelcycle\[serve\]'"):
        modelcycle.serve.create_app  # noqa: B018
