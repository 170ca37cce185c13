"""Request bodies to validated column arrays: the formats the server reads and its input checks.

A body is JSON in one of MLflow's scoring formats, so MLflow clients work unchanged::

    {"inputs": [{"age": 41, "job": "clerk"}, ...]}             records
    {"inputs": {"age": [41, 35], "job": ["clerk", "chef"]}}    columns
    {"dataframe_records": [{"age": 41, ...}, ...]}
    {"dataframe_split": {"columns": ["age", "job"], "data": [[41, "clerk"], ...]}}
    {"instances": [{"age": 41, ...}, ...]}                     (or columns, as for inputs)

Every value is checked against the model's signature (:class:`InputSpec`) before the model sees
it, and each refusal is a :class:`~modelcycle.serve.RequestError` naming the column (and row)
and the fix. Values become one NumPy array per column with the dtype the model was registered
with; no per-row objects are built on the way.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd

from modelcycle.registry import LoadedModel
from modelcycle.serve._errors import RequestError

#: The keys a request body may use for its rows (exactly one of them).
FORMATS = ("inputs", "dataframe_records", "dataframe_split", "instances")
# MLflow clients may send inference parameters; these models take none, so they are ignored.
_IGNORED_KEYS = ("params",)

# MLflow signature types → the kind of value a column takes.
_KINDS = {
    "double": "number",
    "float": "number",
    "long": "integer",
    "integer": "integer",
    "boolean": "boolean",
    "string": "string",
    "binary": "string",
    "datetime": "datetime",
}
_DEFAULT_DTYPES = {
    "number": "float64",
    "integer": "int64",
    "boolean": "bool",
    "string": "object",
    "datetime": "datetime64[ns]",
}
_EXPECTED = {
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
    "string": "a string",
    "datetime": "an ISO-8601 date or time string",
}
_MISSING = object()
_JSON_NUMBERS = frozenset({float, int})
_UNPROCESSABLE = 422


@dataclass(frozen=True, slots=True)
class Column:
    """One input column of a model's signature.

    Attributes
    ----------
    name
        The column's name.
    kind
        ``"number"``, ``"integer"``, ``"boolean"``, ``"string"`` or ``"datetime"``.
    required
        Whether every row must have it; optional columns (those with missing values in the
        training data) may be left out or null.
    dtype
        The pandas dtype the column was registered with (``float64``, ``int64``, ``object``…).
    """

    name: str
    kind: str
    required: bool
    dtype: str


@dataclass(frozen=True)
class InputSpec:
    """The columns a model takes, in the order it was trained on.

    Examples
    --------
    >>> spec = InputSpec((Column("x", "number", True, "float64"),))
    >>> parse_batch(b'{"inputs": [{"x": 1.5}, {"x": "2"}]}', spec).columns["x"].tolist()
    [1.5, 2.0]
    """

    columns: tuple[Column, ...]

    @classmethod
    def from_model(cls, model: LoadedModel) -> InputSpec:
        """The spec of a loaded model: its signature, registered dtypes and optional columns.

        Raises
        ------
        RequestError
            (500) If the model has neither a signature nor an input example: nothing says what
            it takes. Such a model cannot be served; register it with modelcycle.
        """
        example = model.input_example
        dtypes = {str(c): str(t) for c, t in example.dtypes.items()} if len(example.columns) else {}
        schema = list(model.input_schema) or [
            (name, _kind_of_dtype(dtype)) for name, dtype in dtypes.items()
        ]
        if not schema:
            raise RequestError(
                500,
                "no_signature",
                f"{model.name} version {model.version} has no input signature and no input "
                "example, so the server cannot check what it is sent. Register it with "
                "modelcycle (mc.register), which records both.",
            )
        profile = model.reference_profile.get("columns", {}) if model.reference_profile else {}
        columns = []
        for name, mlflow_type in schema:
            kind = _KINDS.get(mlflow_type, mlflow_type)
            if kind not in _EXPECTED:
                kind = "string"
            missing = float((profile.get(name) or {}).get("missing") or 0.0) > 0
            columns.append(Column(name, kind, not missing, dtypes.get(name, _DEFAULT_DTYPES[kind])))
        return cls(tuple(columns))

    @property
    def names(self) -> list[str]:
        """The column names, in order."""
        return [c.name for c in self.columns]

    def describe(self) -> list[dict[str, Any]]:
        """The columns as JSON-ready dicts (for ``GET /v1/models/{name}``)."""
        return [{"name": c.name, "type": c.kind, "required": c.required} for c in self.columns]


def _kind_of_dtype(dtype: str) -> str:
    if dtype.startswith(("float", "Float")):
        return "double"
    if dtype.startswith(("int", "Int", "uint", "UInt")):
        return "long"
    if dtype in ("bool", "boolean"):
        return "boolean"
    if dtype.startswith("datetime"):
        return "datetime"
    return "string"


class Batch:
    """Validated rows as one array per column, ready for the model.

    Parameters
    ----------
    spec
        The model's columns.
    columns
        One array per column of ``spec``, all of length ``n_rows``.
    """

    __slots__ = ("columns", "n_rows", "spec")

    def __init__(self, spec: InputSpec, columns: dict[str, np.ndarray], n_rows: int) -> None:
        self.spec = spec
        self.columns = columns
        self.n_rows = n_rows

    def frame(self) -> pd.DataFrame:
        """The batch as a DataFrame with the registered dtypes, built without copying."""
        arrays = list(self.columns.values())
        if all(a.dtype == np.float64 for a in arrays):
            # One 2-D block: half the cost of a frame of separate columns, and the column
            # selection inside a pipeline is cheaper on it too.
            block = np.column_stack(arrays) if len(arrays) > 1 else arrays[0][:, None]
            return pd.DataFrame(block, columns=list(self.columns), copy=False)
        data = {
            # Object columns stay object: pandas would otherwise infer its string dtype, and
            # the pipeline was fitted on what it was registered with.
            name: pd.Series(a, dtype=object, copy=False) if a.dtype == object else a
            for name, a in self.columns.items()
        }
        return pd.DataFrame(data, copy=False)


# -- parsing -------------------------------------------------------------------------------------


def parse_json(body: bytes) -> Any:
    """Decode a JSON body, or refuse it with a 400 that says where it broke."""
    if not body:
        raise RequestError(
            400,
            "empty_body",
            'The request body is empty. Send a JSON object such as {"inputs": [{...}]}.',
        )
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(
            400,
            "malformed_json",
            f"The request body is not valid JSON ({exc}). Send a JSON object such as "
            '{"inputs": [{"column": value, ...}]}.',
        ) from None


def parse_batch(body: bytes, spec: InputSpec, max_rows: int = 10_000) -> Batch:
    """Decode, validate and convert a request body.

    Parameters
    ----------
    body
        The raw JSON body.
    spec
        The model's columns.
    max_rows
        The most rows a batch may have.

    Raises
    ------
    RequestError
        400 for a body that is not JSON, 413 for a batch over ``max_rows``, 422 for anything
        else the model cannot take; the message names the field and the fix.
    """
    return batch_from_payload(parse_json(body), spec, max_rows)


def batch_from_payload(payload: Any, spec: InputSpec, max_rows: int = 10_000) -> Batch:
    """Validate and convert an already decoded body (see :func:`parse_batch`)."""
    if not isinstance(payload, dict):
        raise _body_error(f"The request body is a JSON {_json_type(payload)}, not an object.")
    unknown = [k for k in payload if k not in FORMATS and k not in _IGNORED_KEYS]
    if unknown:
        raise RequestError(
            _UNPROCESSABLE,
            "unknown_key",
            f"The request body has the key {unknown[0]!r}, which the server does not read. "
            f"Put the rows under one of {', '.join(FORMATS)}.",
            field=str(unknown[0]),
        )
    present = [k for k in FORMATS if k in payload]
    if len(present) != 1:
        raise _body_error(
            "The request body has "
            + (f"several row keys ({', '.join(present)})" if present else "no rows")
            + "."
        )
    key = present[0]
    data = payload[key]
    if key == "dataframe_split":
        values, n_rows = _from_split(data, spec)
    elif isinstance(data, list) and key != "dataframe_split":
        values, n_rows = _from_records(data, key, spec, max_rows)
    elif isinstance(data, dict) and key in ("inputs", "instances"):
        values, n_rows = _from_columns(data, key, spec)
    else:
        raise RequestError(
            _UNPROCESSABLE,
            "invalid_body",
            f"{key!r} holds a JSON {_json_type(data)}; it must hold a list of row objects"
            + (" or an object of column lists." if key in ("inputs", "instances") else "."),
            field=key,
        )
    _check_size(n_rows, max_rows)
    columns = {c.name: _convert(c, values[c.name]) for c in spec.columns}
    return Batch(spec, columns, n_rows)


def records_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame's rows as a JSON client would send them (NaN as null, timestamps as strings)."""
    return orjson.loads(
        orjson.dumps(
            frame.to_dict(orient="records"),
            default=str,
            option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS,
        )
    )


def batch_from_rows(rows: Sequence[Mapping[str, Any]], spec: InputSpec) -> Batch:
    """Validate and convert rows given in Python (the in-process path; no size limit)."""
    return batch_from_payload({"inputs": list(rows)}, spec, max_rows=max(1, len(rows)))


def _body_error(what: str) -> RequestError:
    return RequestError(
        _UNPROCESSABLE,
        "invalid_body",
        f"{what} Send exactly one of {', '.join(FORMATS)}, e.g. "
        '{"inputs": [{"column": value, ...}]}.',
    )


def _check_size(n_rows: int, max_rows: int) -> None:
    if n_rows == 0:
        raise RequestError(
            _UNPROCESSABLE,
            "empty_batch",
            "The batch has no rows. Send at least one row.",
        )
    if n_rows > max_rows:
        raise RequestError(
            413,
            "batch_too_large",
            f"The batch has {n_rows} rows, more than this server's limit of {max_rows}. "
            "Split it into smaller batches (or raise MODELCYCLE_SERVE_MAX_BATCH_ROWS).",
        )


def _from_records(
    records: list[Any], key: str, spec: InputSpec, max_rows: int
) -> tuple[dict[str, list[Any]], int]:
    _check_size(len(records), max_rows)
    for i, row in enumerate(records):
        if not isinstance(row, dict):
            raise RequestError(
                _UNPROCESSABLE,
                "invalid_row",
                f"Row {i} of {key!r} is a JSON {_json_type(row)}; each row must be an object "
                'of column values, e.g. {"column": value}; lists of values go in '
                "dataframe_split, with the column names.",
                field=f"{key}[{i}]",
                row=i,
            )
    values: dict[str, list[Any]] = {}
    for column in spec.columns:
        name = column.name
        got = [row.get(name, _MISSING) for row in records]
        if any(v is _MISSING for v in got):
            row = next(i for i, v in enumerate(got) if v is _MISSING)
            if column.required:
                raise _missing(column, records[row].keys(), row)
            got = [None if v is _MISSING else v for v in got]
        values[name] = got
    return values, len(records)


def _from_columns(
    data: dict[str, Any], key: str, spec: InputSpec
) -> tuple[dict[str, list[Any]], int]:
    lengths = {name: len(v) for name, v in data.items() if isinstance(v, list)}
    for name, v in data.items():
        if not isinstance(v, list):
            raise RequestError(
                _UNPROCESSABLE,
                "invalid_column",
                f"Column {name!r} of {key!r} is a JSON {_json_type(v)}; in the column form each "
                "column must be a list of values, one per row.",
                field=str(name),
            )
    if len(set(lengths.values())) > 1:
        raise RequestError(
            _UNPROCESSABLE,
            "ragged_columns",
            f"The columns of {key!r} have different lengths ({_lengths(lengths)}). Send one "
            "value per row in every column.",
            field=key,
        )
    n_rows = next(iter(lengths.values()), 0)
    return _pick(data, n_rows, spec), n_rows


def _from_split(data: Any, spec: InputSpec) -> tuple[dict[str, list[Any]], int]:
    key = "dataframe_split"
    if not isinstance(data, dict):
        raise RequestError(
            _UNPROCESSABLE,
            "invalid_body",
            f"{key!r} holds a JSON {_json_type(data)}; it must be an object with 'columns' "
            "(a list of names) and 'data' (a list of rows, each a list of values).",
            field=key,
        )
    names, rows = data.get("columns"), data.get("data")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise RequestError(
            _UNPROCESSABLE,
            "invalid_body",
            f"{key}.columns must be a list of column names.",
            field=f"{key}.columns",
        )
    if len(set(names)) != len(names):
        duplicate = next(n for n in names if names.count(n) > 1)
        raise RequestError(
            _UNPROCESSABLE,
            "duplicate_column",
            f"{key}.columns names {duplicate!r} twice. Name each column once.",
            field=duplicate,
        )
    if not isinstance(rows, list):
        raise RequestError(
            _UNPROCESSABLE,
            "invalid_body",
            f"{key}.data must be a list of rows, each a list of values in the order of "
            f"{key}.columns.",
            field=f"{key}.data",
        )
    # One pass in C over the rows; the loop below only runs to say which row is wrong.
    width = len(names)
    if set(map(type, rows)) - {list} or set(map(len, rows)) - {width}:
        _check_split_rows(rows, width)
    columns = dict(zip(names, (list(c) for c in zip(*rows, strict=True)), strict=False))
    if not rows:
        columns = {n: [] for n in names}
    return _pick(columns, len(rows), spec), len(rows)


def _check_split_rows(rows: list[Any], width: int) -> None:
    key = "dataframe_split"
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            raise RequestError(
                _UNPROCESSABLE,
                "invalid_row",
                f"Row {i} of {key}.data is "
                + (f"a list of {len(row)} values" if isinstance(row, list) else "not a list")
                + f"; each row must list {width} values, one per name in {key}.columns.",
                field=f"{key}.data[{i}]",
                row=i,
            )


def _pick(data: Mapping[str, list[Any]], n_rows: int, spec: InputSpec) -> dict[str, list[Any]]:
    values: dict[str, list[Any]] = {}
    for column in spec.columns:
        got = data.get(column.name)
        if got is None:
            if column.required and n_rows:
                raise _missing(column, data.keys(), None)
            got = [None] * n_rows
        values[column.name] = got
    return values


def _missing(column: Column, keys: Any, row: int | None) -> RequestError:
    unknown = [str(k) for k in keys]
    close = difflib.get_close_matches(column.name, unknown, n=1, cutoff=0.6)
    hint = f" (it has {close[0]!r}: a misspelling?)" if close else ""
    where = f"Row {row} lacks" if row is not None else "The request lacks"
    return RequestError(
        _UNPROCESSABLE,
        "missing_column",
        f"{where} the required column {column.name!r}{hint}. Send {_EXPECTED[column.kind]} "
        f"for {column.name!r} in every row.",
        field=column.name,
        row=row,
    )


# -- conversion ----------------------------------------------------------------------------------


def _convert(column: Column, values: list[Any]) -> np.ndarray:
    kind = column.kind
    if kind == "number" or kind == "integer":
        return _numbers(column, values)
    if kind == "boolean":
        return _booleans(column, values)
    if kind == "datetime":
        return _datetimes(column, values)
    return _strings(column, values)


def _numbers(column: Column, values: list[Any]) -> np.ndarray:
    whole = column.kind == "integer"
    if set(map(type, values)) <= _JSON_NUMBERS:
        # Plain JSON numbers, the usual case: checked as one array rather than one by one.
        array = _floats(column, values)
        if whole:
            fractional = np.isfinite(array) & (array != np.trunc(array))
            if fractional.any():
                i = int(np.argmax(fractional))
                raise _wrong(column, i, values[i], "has a fractional part")
    else:
        _check_numbers(column, values, whole)
        array = _floats(column, values)
    if whole and column.dtype.startswith(("int", "Int")) and np.isfinite(array).all():
        # Nulls (NaN) keep a column float: the registered pipeline imputes them.
        return array.astype(np.int64)
    if column.dtype == "float32":
        return array.astype(np.float32)
    return array


def _check_numbers(column: Column, values: list[Any], whole: bool) -> None:
    for i, v in enumerate(values):
        t = type(v)
        if t is float:
            if whole and math.isfinite(v) and not v.is_integer():
                raise _wrong(column, i, v, "has a fractional part")
            continue
        if t is int:
            continue
        if v is None:
            continue
        if t is str:
            try:
                number = float(v)
            except ValueError:
                raise _wrong(column, i, v, "is not a number") from None
            if whole and math.isfinite(number) and not number.is_integer():
                raise _wrong(column, i, v, "has a fractional part")
            continue
        if isinstance(v, bool | np.bool_) or not isinstance(v, numbers.Real):
            raise _wrong(column, i, v)


def _floats(column: Column, values: list[Any]) -> np.ndarray:
    try:
        return np.array(values, dtype=np.float64)
    except (OverflowError, ValueError, TypeError):
        raise _wrong(column, 0, values[0], "is out of range") from None


def _booleans(column: Column, values: list[Any]) -> np.ndarray:
    for i, v in enumerate(values):
        if v is not None and not isinstance(v, bool | np.bool_):
            raise _wrong(column, i, v)
    if any(v is None for v in values):
        return _objects(values)
    return np.array(values, dtype=bool)


def _strings(column: Column, values: list[Any]) -> np.ndarray:
    for i, v in enumerate(values):
        if isinstance(v, dict | list):
            raise _wrong(column, i, v)
    return _objects(values)


def _datetimes(column: Column, values: list[Any]) -> np.ndarray:
    for i, v in enumerate(values):
        if v is not None and not isinstance(v, str):
            raise _wrong(column, i, v)
    parsed = pd.to_datetime(pd.Series(values, dtype=object), errors="coerce", format="ISO8601")
    bad = parsed.isna().to_numpy() & np.array([v is not None for v in values], dtype=bool)
    if bad.any():
        i = int(np.argmax(bad))
        raise _wrong(column, i, values[i], "is not an ISO-8601 date or time")
    if parsed.dt.tz is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return parsed.to_numpy()


def _objects(values: list[Any]) -> np.ndarray:
    # np.array would turn equal-length lists into a 2-D array; slice assignment never does.
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def _wrong(column: Column, row: int, value: Any, why: str | None = None) -> RequestError:
    shown = _short(value)
    reason = why or f"is a JSON {_json_type(value)}"
    nullable = "" if column.required else " (or null)"
    return RequestError(
        _UNPROCESSABLE,
        "not_a_number" if why == "is not a number" else "wrong_type",
        f"Column {column.name!r} of row {row}: {shown} {reason}, but the model takes "
        f"{_EXPECTED[column.kind]}{nullable} there. Send {_EXPECTED[column.kind]}.",
        field=column.name,
        row=row,
    )


def _short(value: Any) -> str:
    text = orjson.dumps(value, default=str).decode()
    return text if len(text) <= 60 else text[:57] + "..."


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _lengths(lengths: Mapping[str, int]) -> str:
    shown = list(lengths.items())[:4]
    return ", ".join(f"{k}: {v}" for k, v in shown) + (", ..." if len(lengths) > 4 else "")
