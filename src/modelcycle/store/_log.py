"""The append-only prediction and feedback log: Parquet files written by a background thread.

Layout under the log folder (``MODELCYCLE_LOG_DIR``, default ``HOME/logs``)::

    predictions/model=<name>/date=<YYYY-MM-DD>/part-<writer id>-<seq>.parquet
    feedback/model=<name>/date=<YYYY-MM-DD>/part-<writer id>-<seq>.parquet

``<name>`` is the model name percent-encoded (``urllib.parse.quote(name, safe="")``) and the date
is the UTC date of each row's ``ts``. Each writer has its own id, so processes sharing the folder
never write the same file, and a file appears under its final name only once it is complete
(written to a hidden temporary name, then renamed).

A batch request of k rows logs k prediction rows sharing one ``request_id``, told apart by the
``row`` column (0 … k-1). Feedback names the same ``request_id`` and ``row``.

Requests logged as columns (as the server does) keep each value typed in a column of its own:
``inputs.<feature>``, ``outputs.prediction`` and ``outputs.probabilities.<class>``, with the
``inputs`` and ``outputs`` text null. Requests logged as rows store JSON text there instead.
:class:`~modelcycle.store.LogReader` gives the same frames for both.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import re
import secrets
import socket
import threading
import time
import weakref
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from modelcycle.config import Settings
from modelcycle.exceptions import ParameterError, StoreError

from ._jsontext import (
    Columns,
    column_length,
    column_shape,
    concat_columns,
    iso_times,
    json_objects,
    text_values,
)
from ._schema import as_utc, json_dumps

logger = logging.getLogger(__name__)

PREDICTION_SCHEMA = pa.schema(
    [
        pa.field("request_id", pa.string(), nullable=False),
        pa.field("row", pa.int32(), nullable=False),
        pa.field("model", pa.string(), nullable=False),
        pa.field("version", pa.string()),
        pa.field("alias", pa.string()),
        pa.field("ts", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("latency_ms", pa.float64()),
        pa.field("prediction", pa.string()),
        pa.field("inputs", pa.string()),
        pa.field("outputs", pa.string()),
    ]
)
"""Columns of a prediction log file. ``inputs`` and ``outputs`` are JSON objects as text;
``prediction`` repeats ``outputs["prediction"]`` as text for quick queries; ``latency_ms`` is the
whole request's latency (shared by its rows)."""

FEEDBACK_SCHEMA = pa.schema(
    [
        pa.field("request_id", pa.string(), nullable=False),
        pa.field("row", pa.int32(), nullable=False),
        pa.field("model", pa.string(), nullable=False),
        pa.field("ts", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("actual", pa.string()),
    ]
)
"""Columns of a feedback log file. ``actual`` is the ground truth as JSON text."""

#: Prefix of the typed input columns of requests logged as columns.
INPUT_PREFIX = "inputs."
#: The typed prediction, and the prefix of the typed class probabilities.
PREDICTION_COLUMN = "outputs.prediction"
PROBABILITY_PREFIX = "outputs.probabilities."

PREDICTIONS = "predictions"
FEEDBACK = "feedback"


def model_folder(root: Path, kind: str, model: str) -> Path:
    """The folder holding ``kind`` (``"predictions"`` or ``"feedback"``) files of ``model``."""
    # Percent-encoding keeps any model name to one safe path segment and is reversible.
    return root / kind / f"model={quote(model, safe='')}"


def _prediction_text(output: Any) -> str | None:
    value = output.get("prediction") if isinstance(output, Mapping) else output
    if value is None:
        return None
    return value if isinstance(value, str) else json_dumps(value)


def _writer_id() -> str:
    host = re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname())[:64] or "host"
    return f"{host}-{os.getpid()}-{secrets.token_hex(4)}"


@dataclass(slots=True)
class _Predictions:
    model: str
    version: str | None
    alias: str | None
    request_id: str
    inputs: Sequence[Mapping[str, Any]] | Columns
    outputs: Sequence[Any] | Columns
    latency_ms: float | None
    ts: datetime
    rows: int


@dataclass(slots=True)
class _Feedback:
    model: str
    request_id: str
    actuals: Sequence[Any]
    row_ids: Sequence[int]
    ts: datetime

    @property
    def rows(self) -> int:
        return len(self.actuals)


@dataclass(slots=True)
class _Control:
    """Asks the thread to write what it holds (and to stop, if ``stop``), then say so."""

    done: threading.Event
    stop: bool = False


_Item = _Predictions | _Feedback | _Control

# Writers still open at interpreter exit are closed then, so a forgotten close() loses nothing.
_OPEN_WRITERS: weakref.WeakSet[LogWriter] = weakref.WeakSet()


@atexit.register
def _close_open_writers() -> None:
    for writer in list(_OPEN_WRITERS):
        try:
            writer.close()
        except Exception:  # exiting anyway: report, do not mask the real exit status
            logger.exception("The prediction log writer %s failed to close", writer.writer_id)


class LogWriter:
    """Appends predictions and feedback to the Parquet log without slowing the caller.

    Calls to :meth:`log_prediction` and :meth:`log_feedback` only put the request on a bounded
    queue; a background thread turns batches into Parquet files every ``flush_rows`` rows or
    ``flush_interval`` seconds. When the queue is full the request is dropped and counted in
    :attr:`dropped` rather than making the caller wait. :meth:`close` writes everything still
    queued.

    Parameters
    ----------
    log_dir
        The log folder; defaults to ``Settings().effective_log_dir`` (``MODELCYCLE_LOG_DIR``, else
        ``HOME/logs``).
    max_queue
        How many requests (each of one or more rows) may wait for the thread.
    flush_rows
        Write a file once this many rows are waiting.
    flush_interval
        Write waiting rows at the latest this many seconds after the first of them arrived.

    Attributes
    ----------
    writer_id
        ``<host>-<pid>-<random>``: part of every file name, unique per writer.
    log_dir
        The resolved log folder.

    Notes
    -----
    The writer keeps references to the ``inputs``/``outputs`` passed in until they are written
    (they are encoded to JSON on the background thread); do not change them after logging.
    Given as columns (a mapping of name to array) rather than rows, they are encoded many times
    faster, a whole file's worth at once.
    Create a writer in each process, after any fork: the thread does not survive a fork.
    A write that fails is retried twice, then its rows are counted in :attr:`failed`, the error is
    logged, and :meth:`close` raises :class:`~modelcycle.exceptions.StoreError`.

    Examples
    --------
    >>> import tempfile
    >>> with LogWriter(tempfile.mkdtemp(), flush_interval=0.1) as writer:
    ...     writer.log_prediction("churn", "3", "production", "req-1",
    ...                           [{"age": 41}], [{"prediction": "yes"}], latency_ms=2.5)
    True
    >>> writer.written, writer.dropped
    (1, 0)
    """

    def __init__(
        self,
        log_dir: str | os.PathLike[str] | None = None,
        *,
        max_queue: int = 10_000,
        flush_rows: int = 5_000,
        flush_interval: float = 5.0,
    ) -> None:
        for name, value in (("max_queue", max_queue), ("flush_rows", flush_rows)):
            if not isinstance(value, int) or value < 1:
                raise ParameterError(name, "LogWriter", "a positive integer", value)
        if not isinstance(flush_interval, int | float) or not flush_interval > 0:
            raise ParameterError(
                "flush_interval", "LogWriter", "a positive number of seconds", flush_interval
            )
        self.max_queue = max_queue
        self.flush_rows = flush_rows
        self.flush_interval = float(flush_interval)
        self.writer_id = _writer_id()
        self.log_dir = self._prepare(log_dir)
        self._queue: queue.Queue[_Item] = queue.Queue(maxsize=max_queue)
        self._lock = threading.Lock()
        self._closed = False
        self._stop_sent = False
        self._seq = 0
        self._written = 0
        self._dropped = 0
        self._failed = 0
        self.last_error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"modelcycle-log-{self.writer_id}", daemon=True
        )
        self._thread.start()
        _OPEN_WRITERS.add(self)

    def _prepare(self, log_dir: str | os.PathLike[str] | None) -> Path:
        """Resolve the folder and prove it is writable now, rather than at the first flush."""
        try:
            root = Path(log_dir).expanduser() if log_dir is not None else None
            root = root if root is not None else Settings().effective_log_dir
            root.mkdir(parents=True, exist_ok=True)
            probe = root / f".probe-{self.writer_id}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            where = log_dir if log_dir is not None else "MODELCYCLE_LOG_DIR"
            raise StoreError(
                f"Cannot write the prediction log under {where}: {exc}. Point MODELCYCLE_LOG_DIR "
                "(or log_dir) at a folder this process can create and write."
            ) from exc
        return root

    # -- counters ------------------------------------------------------------------------------

    @property
    def written(self) -> int:
        """Rows written to Parquet files so far."""
        return self._written

    @property
    def dropped(self) -> int:
        """Rows refused because the queue was full or the writer closed."""
        return self._dropped

    @property
    def failed(self) -> int:
        """Rows lost because their file could not be written (see :attr:`last_error`)."""
        return self._failed

    @property
    def queued(self) -> int:
        """Requests waiting for the background thread (approximate)."""
        return self._queue.qsize()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    # -- logging -------------------------------------------------------------------------------

    def log_prediction(
        self,
        model: str,
        version: str | int | None,
        alias: str | None,
        request_id: str,
        inputs: Sequence[Mapping[str, Any]] | Columns,
        outputs: Sequence[Any] | Columns,
        latency_ms: float | None,
        *,
        ts: datetime | None = None,
    ) -> bool:
        """Queue the k rows of one prediction request; never blocks.

        Parameters
        ----------
        model, version, alias
            What served the request (``alias`` is ``None`` when a version was asked for).
        request_id
            The request's id; row ``i`` of the batch is logged with ``row = i``.
        inputs
            One mapping of feature values per row, or the same as columns: a mapping of feature
            name to a 1-D array (or sequence) of the rows' values.
        outputs
            One entry per row, usually ``{"prediction": ..., "probabilities": {...}}``; the
            ``prediction`` entry (or the entry itself, if not a mapping) fills the text column
            ``prediction``. As columns: ``{"prediction": array, "probabilities": {class:
            array}}``, each row's object built from the arrays' values.
        latency_ms
            The request's latency.
        ts
            When the request was served; defaults to now.

        Returns
        -------
        bool
            ``True`` if queued, ``False`` if dropped (queue full or writer closed).
        """
        rows = _length(inputs)
        if _length(outputs) != rows:
            raise ParameterError(
                "outputs", "log_prediction", f"one entry per input row ({rows})", outputs
            )
        item = _Predictions(
            model=model,
            version=None if version is None else str(version),
            alias=alias,
            request_id=str(request_id),
            inputs=inputs,
            outputs=outputs,
            latency_ms=latency_ms,
            ts=as_utc(ts) if ts is not None else datetime.now(UTC),
            rows=rows,
        )
        return self._put(item)

    def log_feedback(
        self,
        model: str,
        request_id: str,
        actuals: Sequence[Any],
        *,
        rows: Sequence[int] | None = None,
        ts: datetime | None = None,
    ) -> bool:
        """Queue the ground truth of (some rows of) one earlier request; never blocks.

        Parameters
        ----------
        model
            The model that served the request.
        request_id
            The id the prediction was logged with.
        actuals
            The true values (any JSON-compatible value each), one per row.
        rows
            The rows of the request they belong to; defaults to ``0 … len(actuals) - 1``.
        ts
            When the feedback arrived; defaults to now.

        Returns
        -------
        bool
            ``True`` if queued, ``False`` if dropped.
        """
        if isinstance(actuals, str | bytes) or not isinstance(actuals, Sequence):
            raise ParameterError("actuals", "log_feedback", "a sequence of values", actuals)
        row_ids = list(range(len(actuals))) if rows is None else [int(r) for r in rows]
        if len(row_ids) != len(actuals):
            raise ParameterError(
                "rows", "log_feedback", f"one row index per value ({len(actuals)})", rows
            )
        item = _Feedback(
            model=model,
            request_id=str(request_id),
            actuals=actuals,
            row_ids=row_ids,
            ts=as_utc(ts) if ts is not None else datetime.now(UTC),
        )
        return self._put(item)

    def _put(self, item: _Predictions | _Feedback) -> bool:
        if not item.rows:
            return True  # nothing to write, and an empty file would only slow readers
        with self._lock:
            if not self._closed:
                try:
                    self._queue.put_nowait(item)
                    return True
                except queue.Full:
                    pass
            self._dropped += item.rows
            return False

    # -- flushing and closing ------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Write every row queued so far; return ``False`` if that took longer than ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        done = threading.Event()
        try:
            if not self._thread.is_alive():
                return True
            if self._closed:  # closing writes everything: wait for that instead
                return self._stop_sent and self._wait(deadline)
            self._queue.put(_Control(done), timeout=timeout)
        except queue.Full:
            return False
        # The thread may stop (a concurrent close) before it reaches this request: then
        # everything before the stop has been written, which is what was asked.
        while not done.wait(0.05):
            if not self._thread.is_alive():
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
        return True

    def _wait(self, deadline: float | None) -> bool:
        self._thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not self._thread.is_alive()

    def close(self, timeout: float | None = None) -> None:
        """Write everything still queued, stop the thread, and report lost rows.

        Parameters
        ----------
        timeout
            How long to wait for the last writes (``None``: as long as they take).

        Raises
        ------
        StoreError
            If some rows could not be written (the message says how many and why), or the last
            writes did not finish within ``timeout`` (call ``close()`` again to wait longer).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            # From here on log calls are refused, so nothing can land behind the stop request.
            self._closed = True
        _OPEN_WRITERS.discard(self)
        if not self._stop_sent and self._thread.is_alive():
            try:
                # May wait for room in a full queue: closing may take time, logging may not.
                self._queue.put(_Control(threading.Event(), stop=True), timeout=timeout)
                self._stop_sent = True
            except queue.Full:
                pass
        finished = self._wait(deadline) if self._stop_sent else not self._thread.is_alive()
        if not finished:
            raise StoreError(
                f"The prediction log writer {self.writer_id} did not finish writing within "
                f"{timeout} s ({self.queued} requests still queued). Call close() again to wait "
                "longer."
            )
        if self._failed:
            raise StoreError(
                f"{self._failed} logged rows could not be written under {self.log_dir}: "
                f"{self.last_error}. Check that the folder exists, is writable and has free "
                "space; rows logged after that are written normally."
            )

    def __enter__(self) -> LogWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"LogWriter({str(self.log_dir)!r}, {state}, written={self._written}, "
            f"dropped={self._dropped}, failed={self._failed})"
        )

    # -- the background thread -----------------------------------------------------------------

    def _run(self) -> None:
        pending: list[_Predictions | _Feedback] = []
        rows = 0
        deadline = 0.0
        while True:
            timeout = None if not pending else max(0.0, deadline - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            if isinstance(item, _Control):
                self._write_all(pending)
                pending, rows = [], 0
                item.done.set()
                if item.stop:
                    return
                continue
            if item is not None:
                if not pending:
                    deadline = time.monotonic() + self.flush_interval
                pending.append(item)
                rows += item.rows
            if pending and (rows >= self.flush_rows or time.monotonic() >= deadline):
                self._write_all(pending)
                pending, rows = [], 0

    def _write_all(self, items: list[_Predictions | _Feedback]) -> None:
        """Write the items, one file per (kind, model, date); never raises."""
        try:
            groups = _group(items)
        except Exception as exc:  # a bug or an unencodable value must not kill the thread
            self._fail(sum(item.rows for item in items), exc)
            return
        for (kind, model, day), table in groups:
            count = table.num_rows
            error: BaseException | None = None
            # A shared folder can hiccup; retry briefly, but not so long that the queue fills.
            for pause in (0.05, 0.2, None):
                try:
                    self._write_file(kind, model, day, table)
                    self._written += count
                    error = None
                    break
                except Exception as exc:
                    error = exc
                    if pause is not None:
                        time.sleep(pause)
            if error is not None:
                self._fail(count, error)

    def _write_file(self, kind: str, model: str, day: date, table: pa.Table) -> None:
        folder = model_folder(self.log_dir, kind, model) / f"date={day.isoformat()}"
        folder.mkdir(parents=True, exist_ok=True)
        self._seq += 1
        name = f"part-{self.writer_id}-{self._seq:06d}.parquet"
        # Readers list only "part-*.parquet": the hidden temporary name is invisible to them,
        # and the rename is atomic on a local or POSIX shared file system.
        temporary = folder / f".{name}.tmp"
        try:
            pq.write_table(table, temporary, compression="zstd")
            os.replace(temporary, folder / name)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    def _fail(self, rows: int, exc: BaseException) -> None:
        self._failed += rows
        self.last_error = exc
        logger.error(
            "The prediction log writer %s lost %d rows: %s (log folder %s)",
            self.writer_id,
            rows,
            exc,
            self.log_dir,
        )


def _length(rows_or_columns: Sequence[Any] | Columns) -> int:
    if type(rows_or_columns) is dict or isinstance(rows_or_columns, Mapping):
        return column_length(rows_or_columns)
    return len(rows_or_columns)


def _group(
    items: list[_Predictions | _Feedback],
) -> list[tuple[tuple[str, str, date], pa.Table]]:
    """Turn queued requests into tables per (kind, model, UTC date), rows in queue order: one
    table each, unless a column's type changed between requests (a new version of the model)."""
    runs: dict[tuple[str, str, date], list[list[_Predictions | _Feedback]]] = defaultdict(list)
    shapes: dict[tuple[str, str, date], Any] = {}
    for item in items:
        kind = PREDICTIONS if isinstance(item, _Predictions) else FEEDBACK
        key = (kind, item.model, item.ts.date())
        group, shape = runs[key], _shape(item)
        # Consecutive requests of one shape (columns of the same names and types) are stacked.
        if group and shapes[key] == shape:
            group[-1].append(item)
        else:
            group.append([item])
            shapes[key] = shape
    return [(key, table) for key, group in runs.items() for table in _merged(group)]


def _shape(item: _Predictions | _Feedback) -> Any:
    """Requests of equal shape share a table: feedback, rows, or typed columns of equal types."""
    if isinstance(item, _Feedback):
        return "feedback"
    if not _native(item):
        return "rows"
    assert isinstance(item.inputs, Mapping) and isinstance(item.outputs, Mapping)
    return column_shape(item.inputs), column_shape(item.outputs)


def _native(item: _Predictions) -> bool:
    """Whether a request is stored in typed columns (given as columns, of a known output form)."""
    outputs = item.outputs
    return (
        isinstance(item.inputs, Mapping)
        and isinstance(outputs, Mapping)
        and "prediction" in outputs
        and set(outputs) <= {"prediction", "probabilities"}
        and isinstance(outputs.get("probabilities", {}), Mapping)
    )


def _table(run: list[_Predictions | _Feedback]) -> pa.Table:
    """One run of same-shaped requests as a table of the log's columns."""
    counts = np.fromiter((item.rows for item in run), dtype=np.int64, count=len(run))
    owner = pa.array(np.repeat(np.arange(len(run)), counts))

    def repeated(values: list[Any], type: pa.DataType) -> pa.Array:
        # Each request's value converted once, then repeated for its rows by index.
        return pa.array(values, type).take(owner)

    columns: dict[str, Any] = {
        "request_id": repeated([item.request_id for item in run], pa.string()),
        "model": repeated([item.model for item in run], pa.string()),
        "ts": repeated([item.ts for item in run], pa.timestamp("us", tz="UTC")),
    }
    predictions = [item for item in run if isinstance(item, _Predictions)]
    if not predictions:
        feedback = [item for item in run if isinstance(item, _Feedback)]
        columns["row"] = [r for item in feedback for r in item.row_ids]
        columns["actual"] = [json_dumps(value) for item in feedback for value in item.actuals]
        return pa.table(columns, schema=FEEDBACK_SCHEMA)
    columns["row"] = np.concatenate([np.arange(k, dtype=np.int32) for k in counts])
    columns["version"] = repeated([item.version for item in predictions], pa.string())
    columns["alias"] = repeated([item.alias for item in predictions], pa.string())
    columns["latency_ms"] = repeated([item.latency_ms for item in predictions], pa.float64())
    if _native(predictions[0]):
        return _typed(columns, predictions)
    columns["prediction"], columns["inputs"], columns["outputs"] = [], [], []
    for item in predictions:
        columns["prediction"] += _prediction_texts(item.outputs)
        columns["inputs"] += _json_texts(item.inputs)
        columns["outputs"] += _json_texts(item.outputs)
    return pa.table(columns, schema=PREDICTION_SCHEMA)


def _json_texts(values: Sequence[Any] | Columns) -> list[str]:
    if isinstance(values, Mapping):
        texts: list[str] = json_objects(values, column_length(values)).to_pylist()
        return texts
    return [json_dumps(_plain(v)) for v in values]


def _prediction_texts(outputs: Sequence[Any] | Columns) -> list[str | None]:
    if not isinstance(outputs, Mapping):
        return [_prediction_text(v) for v in outputs]
    if "prediction" not in outputs:
        return [None] * column_length(outputs)
    texts: list[str | None] = text_values(outputs["prediction"]).to_pylist()
    return texts


def _typed(columns: dict[str, Any], run: list[_Predictions]) -> pa.Table:
    """Requests given as columns: every input and output value in a typed column of its own.

    Building JSON text row by row is most of the cost of logging; typed columns are written as
    they are (and compress better). A column Arrow cannot type (mixed values) keeps JSON text.
    """
    inputs = concat_columns([item.inputs for item in run])  # type: ignore[misc]
    outputs = concat_columns([item.outputs for item in run])  # type: ignore[misc]
    columns["prediction"] = text_values(outputs["prediction"])
    columns["inputs"] = pa.nulls(len(columns["request_id"]), pa.string())
    columns["outputs"] = columns["inputs"]
    table = pa.table(columns, schema=PREDICTION_SCHEMA)
    extra = {INPUT_PREFIX + str(k): v for k, v in inputs.items()}
    extra[PREDICTION_COLUMN] = outputs["prediction"]
    for label, values in outputs.get("probabilities", {}).items():
        extra[PROBABILITY_PREFIX + str(label)] = values
    for name, values in extra.items():
        table = table.append_column(name, _typed_array(values))
    return table


def _typed_array(values: Any) -> pa.Array:
    array = values if isinstance(values, np.ndarray) else np.asarray(values, dtype=object)
    if array.ndim == 1 and array.dtype.kind == "M":
        return pa.array(iso_times(array), pa.string())  # as the row form writes them
    if array.ndim == 1:
        try:
            return pa.array(array, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            pass
    return text_values(values)  # values of mixed types as JSON text


def _merged(runs: list[list[_Predictions | _Feedback]]) -> list[pa.Table]:
    """The runs' tables as one (a column absent from some is null there, numbers widen), or,
    when a column's types cannot be merged (text in one, numbers in another), as they are."""
    parts = [_table(run) for run in runs]
    if len(parts) == 1:
        return parts
    try:
        return [pa.concat_tables(parts, promote_options="permissive")]
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return parts


def _plain(row: Any) -> Any:
    return dict(row) if isinstance(row, Mapping) else row
