"""Queries over the prediction and feedback log with DuckDB, returned as pandas frames."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import orjson
import pandas as pd
import pyarrow as pa

from modelcycle.config import Settings, import_optional
from modelcycle.exceptions import ParameterError, StoreError

from ._jsontext import json_objects
from ._log import (
    FEEDBACK,
    FEEDBACK_SCHEMA,
    INPUT_PREFIX,
    PREDICTION_COLUMN,
    PREDICTION_SCHEMA,
    PREDICTIONS,
    PROBABILITY_PREFIX,
    model_folder,
)
from ._schema import as_utc

#: Columns every prediction frame starts with; feature columns follow.
PREDICTION_COLUMNS: tuple[str, ...] = (
    "request_id",
    "row",
    "model",
    "version",
    "alias",
    "ts",
    "latency_ms",
    "prediction",
    "outputs",
)
#: Columns of a feedback frame.
FEEDBACK_COLUMNS: tuple[str, ...] = ("request_id", "row", "model", "ts", "actual")
#: Columns :meth:`LogReader.joined` adds to the prediction columns.
JOINED_COLUMNS: tuple[str, ...] = ("actual", "feedback_ts")

# Feedback is filed under the date it arrived, which can precede its prediction's date by a
# little when replicas' clocks disagree around midnight.
_CLOCK_SLACK = timedelta(days=1)


class LogReader:
    """Reads the prediction and feedback log into pandas frames.

    Parameters
    ----------
    log_dir
        The log folder; defaults to ``Settings().effective_log_dir``.

    Notes
    -----
    Needs DuckDB (``pip install 'modelcycle[monitor]'``). Only complete files are read (writers
    rename a file into place once written), so reading while servers write is safe. An empty or
    missing log gives empty frames with the usual columns. ``since`` is inclusive, ``until``
    exclusive; naive datetimes are taken to be UTC.

    Feature columns come from each row's ``inputs``; a feature whose name is one of the log's own
    columns (``model``, ``ts``, ...) is renamed ``input_<name>``.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> LogReader(folder).predictions("churn").columns.tolist()[:3]
    ['request_id', 'row', 'model']
    """

    def __init__(self, log_dir: str | os.PathLike[str] | None = None) -> None:
        self.log_dir = log_dir

    def _root(self) -> Path:
        if self.log_dir is not None:
            return Path(self.log_dir).expanduser()
        return Settings().effective_log_dir

    def predictions(
        self,
        model: str,
        since: datetime | None = None,
        until: datetime | None = None,
        version: str | int | None = None,
        limit: int | None = None,
        *,
        expand_inputs: bool = True,
    ) -> pd.DataFrame:
        """Logged predictions of ``model``, oldest first.

        Parameters
        ----------
        model
            The model's name.
        since, until
            Only rows served at or after ``since`` and before ``until``.
        version
            Only rows served by this version.
        limit
            Only the newest ``limit`` rows (still returned oldest first).
        expand_inputs
            Turn the JSON ``inputs`` into one column per feature (else keep ``inputs`` as text).

        Returns
        -------
        pandas.DataFrame
            :data:`PREDICTION_COLUMNS`, then the features. ``outputs`` stays JSON text.
        """
        where, params = _filters(since, until, version)
        sql = f"SELECT * FROM predictions {where}"
        frame = self._query(model, sql, params, limit, since=since, until=until, joined=False)
        return _finish(frame, expand_inputs)

    def feedback(
        self,
        model: str,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """Logged feedback of ``model``, oldest first, with ``actual`` parsed from JSON.

        ``since``/``until`` filter on when the feedback arrived. Every record is returned, even
        several for the same request and row (:meth:`joined` keeps the latest).
        """
        where, params = _filters(since, until, None)
        files = self._files(FEEDBACK, model, since, until)
        with self._connection() as con:
            _source(con, "feedback", files, FEEDBACK_SCHEMA)
            sql = _ordered(f"SELECT * FROM feedback {where}", limit)
            frame = con.execute(sql, params).df()
        frame = frame.loc[:, list(FEEDBACK_COLUMNS)]
        frame["actual"] = _parse_json(frame["actual"])
        return frame

    def joined(
        self,
        model: str,
        since: datetime | None = None,
        until: datetime | None = None,
        version: str | int | None = None,
        limit: int | None = None,
        *,
        how: Literal["inner", "left"] = "inner",
        expand_inputs: bool = True,
    ) -> pd.DataFrame:
        """Predictions with their feedback, matched on ``request_id`` and ``row``.

        Parameters
        ----------
        since, until, version, limit, expand_inputs
            As in :meth:`predictions` (filters apply to the predictions).
        how
            ``"inner"`` keeps predictions that have feedback; ``"left"`` keeps every prediction
            (``actual`` is missing where no feedback came).

        Returns
        -------
        pandas.DataFrame
            The prediction columns, features, ``actual`` (parsed from JSON) and ``feedback_ts``.
            When feedback for a row was sent more than once, the latest counts.
        """
        if how not in ("inner", "left"):
            raise ParameterError("how", "LogReader.joined", "'inner' or 'left'", how)
        where, params = _filters(since, until, version, prefix="p.")
        join = "JOIN" if how == "inner" else "LEFT JOIN"
        sql = f"""
            SELECT p.*, f.actual, f.ts AS feedback_ts
            FROM predictions AS p
            {join} (
                SELECT request_id, "row", actual, ts FROM feedback
                QUALIFY row_number() OVER (PARTITION BY request_id, "row" ORDER BY ts DESC) = 1
            ) AS f
            ON p.request_id = f.request_id AND p."row" = f."row"
            {where}
        """
        frame = self._query(model, sql, params, limit, since=since, until=until, joined=True)
        frame["actual"] = _parse_json(frame["actual"])
        return _finish(frame, expand_inputs, tail=JOINED_COLUMNS)

    # -- plumbing ------------------------------------------------------------------------------

    def _query(
        self,
        model: str,
        sql: str,
        params: list[Any],
        limit: int | None,
        *,
        since: datetime | None,
        until: datetime | None,
        joined: bool,
    ) -> pd.DataFrame:
        with self._connection() as con:
            _source(con, "predictions", self._files(PREDICTIONS, model, since, until), None)
            if joined:
                # Feedback arrives after its prediction, so only its lower date bound prunes.
                lower = as_utc(since) - _CLOCK_SLACK if since is not None else None
                _source(con, "feedback", self._files(FEEDBACK, model, lower, None), None)
            return con.execute(_ordered(sql, limit), params).df()

    def _files(
        self, kind: str, model: str, since: datetime | None, until: datetime | None
    ) -> list[str]:
        """Complete files of ``kind`` for ``model`` whose date partition can hold the range."""
        folder = model_folder(self._root(), kind, model)
        first = as_utc(since).date() if since is not None else date.min
        last = as_utc(until).date() if until is not None else date.max
        try:
            days = sorted(p for p in folder.iterdir() if p.name.startswith("date="))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StoreError(
                f"Cannot read the prediction log under {folder}: {exc}. Check MODELCYCLE_LOG_DIR."
            ) from exc
        files: list[str] = []
        for day in days:
            try:
                when = date.fromisoformat(day.name.removeprefix("date="))
            except ValueError:
                continue  # not ours: leave foreign folders alone
            if first <= when <= last:
                files += sorted(str(p) for p in day.glob("part-*.parquet"))
        return files

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        duckdb = import_optional("duckdb", feature="Reading the prediction log", extra="monitor")
        con = duckdb.connect()
        try:
            # Timestamps come back in UTC whatever the machine's time zone.
            con.execute("SET TimeZone = 'UTC'")
            yield con
        except duckdb.Error as exc:
            raise StoreError(
                f"Cannot query the prediction log under {self._root()}: {exc}. A file may be "
                "damaged or written by an incompatible version; check the files it names."
            ) from exc
        finally:
            con.close()


def _source(con: Any, name: str, files: list[str], schema: pa.Schema | None) -> None:
    """Make view ``name`` over ``files`` (or over no rows, with the log's columns)."""
    if schema is None:
        schema = PREDICTION_SCHEMA if name == "predictions" else FEEDBACK_SCHEMA
    if files:
        # union_by_name tolerates files written by older versions with fewer columns; hive
        # partitioning is off because model and date are already columns of every file.
        relation = con.read_parquet(files, union_by_name=True, hive_partitioning=False)
    else:
        relation = con.from_arrow(schema.empty_table())
    relation.create_view(name, replace=True)


def _filters(
    since: datetime | None, until: datetime | None, version: str | int | None, prefix: str = ""
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if since is not None:
        clauses.append(f"{prefix}ts >= ?")
        params.append(as_utc(since))
    if until is not None:
        clauses.append(f"{prefix}ts < ?")
        params.append(as_utc(until))
    if version is not None:
        clauses.append(f"{prefix}version = ?")
        params.append(str(version))
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params


def _ordered(sql: str, limit: int | None) -> str:
    order = 'ts, request_id, "row"'
    if limit is None:
        return f"SELECT * FROM ({sql}) ORDER BY {order}"
    if not isinstance(limit, int) or limit < 0:
        raise ParameterError("limit", "LogReader", "a non-negative integer", limit)
    newest = 'ts DESC, request_id DESC, "row" DESC'
    return f"SELECT * FROM (SELECT * FROM ({sql}) ORDER BY {newest} LIMIT {limit}) ORDER BY {order}"


def _parse_json(values: pd.Series) -> pd.Series:
    # Missing text comes back as None, NaN or NA depending on the string dtype in use.
    parsed = [orjson.loads(v) if isinstance(v, str) else None for v in values]
    if not parsed:
        return pd.Series([], index=values.index, dtype=object, name=values.name)
    # Let pandas pick the dtype (numbers stay numbers, labels become strings).
    return pd.Series(parsed, index=values.index, name=values.name)


def _finish(frame: pd.DataFrame, expand_inputs: bool, tail: tuple[str, ...] = ()) -> pd.DataFrame:
    """Order the columns and turn the inputs (JSON text or typed columns) into feature columns."""
    frame = frame.reset_index(drop=True)
    typed_inputs = [c for c in frame.columns if c.startswith(INPUT_PREFIX)]
    typed_outputs = [
        c for c in frame.columns if c == PREDICTION_COLUMN or c.startswith(PROBABILITY_PREFIX)
    ]
    # Rows logged as columns have no text; their values are in the typed columns.
    typed = frame["inputs"].isna() if typed_inputs or typed_outputs else None
    if typed is not None and typed.any():
        frame.loc[typed, "outputs"] = _outputs_text(frame.loc[typed, typed_outputs])
    inputs = frame.pop("inputs")
    features = _features(frame[typed_inputs], inputs, typed)
    head = [c for c in PREDICTION_COLUMNS if c in frame.columns]
    frame = frame.loc[:, [*head, *tail]]
    if not expand_inputs:
        if typed is not None and typed.any():
            inputs = inputs.copy()
            typed_features = features.loc[typed]
            columns = {str(c): typed_features[c].to_numpy() for c in typed_features.columns}
            inputs[typed] = json_objects(columns, len(typed_features)).to_pylist()
        frame.insert(len(head), "inputs", inputs)
        return frame
    if features.columns.empty:
        return frame
    taken = set(frame.columns)
    features.columns = [f"input_{c}" if c in taken else c for c in features.columns]
    return pd.concat([frame.iloc[:, : len(head)], features, frame.loc[:, list(tail)]], axis=1)


def _features(
    typed_columns: pd.DataFrame, inputs: pd.Series, typed: pd.Series | None
) -> pd.DataFrame:
    """One column per feature: typed rows from their columns, the others parsed from JSON."""
    texts = ~typed if typed is not None else pd.Series(True, index=inputs.index)
    parts = []
    if typed is not None and typed.any():
        part = typed_columns.loc[typed]
        part.columns = [c.removeprefix(INPUT_PREFIX) for c in part.columns]
        parts.append(part)
    if texts.any() or not parts:
        values = inputs[texts]
        records = [orjson.loads(v) if isinstance(v, str) else {} for v in values]
        parts.append(pd.DataFrame.from_records(records, index=values.index))
    features = parts[0] if len(parts) == 1 else pd.concat(parts)
    return features.reindex(inputs.index)


def _outputs_text(typed: pd.DataFrame) -> list[str]:
    """The ``outputs`` JSON of rows logged as columns, as the row form writes it."""
    columns: dict[str, Any] = {}
    if PREDICTION_COLUMN in typed.columns:
        columns["prediction"] = typed[PREDICTION_COLUMN].to_numpy()
    probabilities = {
        c.removeprefix(PROBABILITY_PREFIX): typed[c].to_numpy()
        for c in typed.columns
        if c.startswith(PROBABILITY_PREFIX)
    }
    if probabilities:
        columns["probabilities"] = probabilities
    texts: list[str] = json_objects(columns, len(typed)).to_pylist()
    return texts
