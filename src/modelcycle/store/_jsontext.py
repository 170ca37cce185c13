"""JSON text for many rows at once, built column by column in Arrow.

The prediction log keeps the values of requests logged as columns in typed columns; where it
needs the JSON text of such rows (outputs of an unusual form, readers asking for the text) it is
built here: each column is turned into text once by an Arrow kernel and the objects are
assembled by element-wise concatenation, instead of a dict and an encoder call per row.

The text parses to what :func:`~modelcycle.store._schema.json_dumps` writes for the same row
(floats in their shortest form with at least one decimal, ``NaN`` and infinities as ``null``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ._schema import json_dumps

Columns = Mapping[str, Any]
"""One array (or sequence, or nested :data:`Columns`) of values per key, all of one length."""

# A string holding any of these needs escaping in JSON; the rare column that has one is encoded
# value by value instead.
_NEEDS_ESCAPE = r'["\\\x00-\x1f]'


def column_length(columns: Columns) -> int:
    """The number of rows of ``columns`` (of its first column; 0 when it has none)."""
    for values in columns.values():
        if type(values) is dict or isinstance(values, Mapping):
            return column_length(values)
        return len(values)
    return 0


def json_objects(columns: Columns, rows: int | None = None) -> pa.StringArray:
    """One JSON object per row: ``{"key": value, ...}`` in the order of ``columns``.

    ``rows`` is needed only when ``columns`` is empty (every row is then ``{}``).
    """
    if not columns:
        return pa.array(["{}"] * (rows or 0), pa.string())
    parts: list[Any] = []
    for i, (name, values) in enumerate(columns.items()):
        parts.append(("{" if i == 0 else ",") + json_dumps(str(name)) + ":")
        parts.append(json_values(values))
    parts.append("}")
    return pc.binary_join_element_wise(*parts, "")


def json_values(values: Any) -> pa.StringArray:
    """One JSON text per value of a column (a nested mapping gives one object per row)."""
    if isinstance(values, Mapping):
        return json_objects(values)
    array = _array(values)
    kind = array.dtype.kind
    if array.ndim == 1 and kind == "f":
        numbers = pa.array(array)
        text = pc.cast(numbers, pa.string())
        # A whole float prints as "1": add ".0" so that readers keep it a float, as json_dumps.
        whole = pc.invert(pc.match_substring_regex(text, r"[.eni]"))
        text = pc.if_else(whole, pc.binary_join_element_wise(text, ".0", ""), text)
        return pc.if_else(pc.is_finite(numbers), text, "null")  # NaN and ±inf are not JSON
    if array.ndim == 1 and kind in "iub":
        return pc.cast(pa.array(array), pa.string())
    if array.ndim == 1 and kind in "OU":
        strings = _strings(array)
        if strings is not None:
            return pc.fill_null(pc.binary_join_element_wise('"', strings, '"', ""), "null")
    if array.ndim == 1 and kind == "M":
        return pa.array([json_dumps(v) for v in iso_times(array)], pa.string())
    return pa.array([json_dumps(v) for v in _items(values, array)], pa.string())


def text_values(values: Any) -> pa.StringArray:
    """Each value as text: strings as they are, anything else as JSON, missing as null."""
    array = _array(values)
    if array.ndim == 1 and array.dtype.kind in "OU":
        strings = _strings(array, escaped=False)
        if strings is not None:
            return strings
    text = json_values(values)
    return pc.if_else(pc.equal(text, "null"), pa.scalar(None, pa.string()), text)


def concat_columns(parts: Sequence[Columns]) -> Columns:
    """Stack same-shaped :data:`Columns` row-wise into one."""
    first = parts[0]
    if len(parts) == 1:
        return first
    stacked: dict[str, Any] = {}
    for name, values in first.items():
        column = [part[name] for part in parts]
        if isinstance(values, Mapping):
            stacked[name] = concat_columns(column)
        elif all(type(v) is np.ndarray for v in column):  # the server's case: no conversion
            stacked[name] = np.concatenate(column)
        else:
            stacked[name] = np.concatenate([_array(v) for v in column])
    return stacked


def column_shape(columns: Columns) -> tuple[Any, ...]:
    """What two :data:`Columns` must share to be stacked: keys, nesting and value types."""
    # Called for every logged request: arrays and dicts (the server's case) are told apart by
    # their exact type, cheaper than an isinstance check against an abstract class.
    kinds: list[Any] = []
    for values in columns.values():
        kind = type(values)
        if kind is np.ndarray:
            kinds.append(values.dtype)
        elif kind is dict or isinstance(values, Mapping):
            kinds.append(column_shape(values))
        else:
            kinds.append(_OBJECT)
    return (*columns, *kinds)


_OBJECT = np.dtype(object)


def _array(values: Any) -> np.ndarray:
    if isinstance(values, np.ndarray):
        return values
    array = np.asarray(values, dtype=object)
    if array.ndim != 1:  # a list of lists: keep one Python object per row
        array = np.empty(len(values), dtype=object)
        array[:] = list(values)
    return array


def _strings(array: np.ndarray, *, escaped: bool = True) -> pa.StringArray | None:
    """The column as Arrow strings (missing values null), or ``None`` if it holds other types
    or, when ``escaped``, a string that JSON must escape."""
    try:
        strings = pa.array(array, pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if escaped and pc.any(pc.match_substring_regex(strings, _NEEDS_ESCAPE)).as_py():
        return None
    return strings


def iso_times(array: np.ndarray) -> list[str | None]:
    """Datetimes as ISO 8601 text (missing ones as ``None``)."""
    return [None if pd.isna(v) else pd.Timestamp(v).isoformat() for v in array]


def _items(values: Any, array: np.ndarray) -> list[Any]:
    return list(values) if not isinstance(values, np.ndarray) else array.tolist()
