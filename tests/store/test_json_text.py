"""Column-wise JSON text for the prediction log equals the row-by-row encoding."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from modelcycle.store._jsontext import concat_columns, json_objects, text_values
from modelcycle.store._schema import json_dumps


def rows_of(columns: dict[str, Any]) -> list[dict[str, Any]]:
    n = len(next(iter(columns.values())))
    return [{k: _plain(v[i]) for k, v in columns.items()} for i in range(n)]


def _plain(value: Any) -> Any:
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else str(np.datetime_as_string(value, unit="us"))
    return value.item() if isinstance(value, np.generic) else value


def as_parsed(texts: Any) -> list[Any]:
    return [orjson.loads(t) for t in texts.to_pylist()]


def test_every_kind_of_column_gives_the_rows_json() -> None:
    columns = {
        "x": np.array([0.05644299999999999, 1.0, np.nan, -np.inf, 1e20, -0.0]),
        "n": np.array([1, -2, 3, 0, 2**62, 7], dtype=np.int64),
        "ok": np.array([True, False, True, True, False, False]),
        "job": np.array(["clerk", None, 'say "hi"', "naïve", "a\\b", "tab\there"], dtype=object),
        "mixed": np.array([1, "two", None, 2.5, True, [1, 2]], dtype=object),
        "u": np.array(["a", "b", "c", "d", "e", "f"]),
    }
    texts = json_objects(columns).to_pylist()
    expected = [json_dumps(row) for row in rows_of(columns)]
    assert [orjson.loads(t) for t in texts] == [orjson.loads(e) for e in expected]
    # Floats stay floats and NaN/inf become null, as the row encoder writes them.
    assert texts[1].startswith('{"x":1.0,') and texts[2].startswith('{"x":null,')
    assert list(orjson.loads(texts[0])) == list(columns)


def test_datetimes_are_iso_text() -> None:
    when = np.array(["2024-01-02T03:04:05", "NaT"], dtype="datetime64[ns]")
    texts = json_objects({"when": when}).to_pylist()
    assert orjson.loads(texts[0])["when"].startswith("2024-01-02T03:04:05")
    assert orjson.loads(texts[1]) == {"when": None}


def test_nested_columns_make_nested_objects() -> None:
    columns = {
        "prediction": np.array(["UP", "DOWN"], dtype=object),
        "probabilities": {"DOWN": np.array([0.25, 0.5]), "UP": np.array([0.75, 0.5])},
    }
    assert as_parsed(json_objects(columns)) == [
        {"prediction": "UP", "probabilities": {"DOWN": 0.25, "UP": 0.75}},
        {"prediction": "DOWN", "probabilities": {"DOWN": 0.5, "UP": 0.5}},
    ]
    assert json_objects({}, rows=2).to_pylist() == ["{}", "{}"]


def test_text_values_keep_strings_and_encode_the_rest() -> None:
    assert text_values(np.array(["yes", None], dtype=object)).to_pylist() == ["yes", None]
    assert text_values(np.array([1.0, np.nan])).to_pylist() == ["1.0", None]
    assert text_values(np.array([3, 4])).to_pylist() == ["3", "4"]


def test_stacking_keeps_row_order() -> None:
    first = {"a": np.array([1.0]), "p": {"k": np.array(["x"], dtype=object)}}
    second = {"a": np.array([2.0, 3.0]), "p": {"k": np.array(["y", "z"], dtype=object)}}
    stacked = concat_columns([first, second])
    assert as_parsed(json_objects(stacked)) == [
        {"a": 1.0, "p": {"k": "x"}},
        {"a": 2.0, "p": {"k": "y"}},
        {"a": 3.0, "p": {"k": "z"}},
    ]


@settings(max_examples=150, deadline=None)
@given(
    floats=hnp.arrays(np.float64, 5, elements=st.floats(allow_nan=True, allow_infinity=True)),
    ints=hnp.arrays(np.int64, 5),
    texts=st.lists(st.one_of(st.none(), st.text()), min_size=5, max_size=5),
)
def test_any_values_encode_like_the_row_encoder(
    floats: np.ndarray, ints: np.ndarray, texts: list[str | None]
) -> None:
    columns = {"f": floats, "i": ints, "s": np.array(texts, dtype=object)}
    parsed = as_parsed(json_objects(columns))
    assert parsed == [orjson.loads(json_dumps(row)) for row in rows_of(columns)]


@pytest.mark.parametrize("dtype", [np.float32, np.uint8, np.int16])
def test_other_numeric_widths(dtype: type) -> None:
    values = np.array([1, 2.5 if dtype is np.float32 else 2, 0], dtype=dtype)
    assert as_parsed(json_objects({"v": values})) == [{"v": v} for v in values.tolist()]
