"""The prediction and feedback log: the background writer, its files, and the DuckDB reader."""

from __future__ import annotations

import logging
import shutil
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pyarrow.parquet as pq
import pytest

from modelcycle.exceptions import OptionalDependencyError, ParameterError, StoreError
from modelcycle.store import (
    FEEDBACK_COLUMNS,
    JOINED_COLUMNS,
    PREDICTION_COLUMNS,
    PREDICTION_SCHEMA,
    LogReader,
    LogWriter,
)

T0 = datetime(2026, 3, 1, 23, 59, 58, tzinfo=UTC)


def parquet_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.parquet"))


def log_requests(writer: LogWriter, model: str, count: int, *, start: int = 0) -> int:
    """Log ``count`` requests of 1-3 rows each; return the number of rows."""
    rows = 0
    for i in range(start, start + count):
        k = i % 3 + 1
        inputs = [{"age": i, "city": f"c{j}", "score": i / 10} for j in range(k)]
        outputs = [{"prediction": "yes" if i % 2 else "no", "probabilities": [0.3, 0.7]}] * k
        writer.log_prediction(model, "1", "production", f"r{i}", inputs, outputs, latency_ms=1.5)
        rows += k
    return rows


def test_rows_on_disk_equal_rows_logged_after_close(tmp_path: Path) -> None:
    writer = LogWriter(tmp_path, flush_rows=50, flush_interval=60)
    logged = log_requests(writer, "churn", 200)
    writer.close()
    assert (writer.written, writer.dropped, writer.failed) == (logged, 0, 0)
    files = parquet_files(tmp_path)
    assert len(files) > 1  # flushed by row count along the way, and the rest by close()
    assert sum(pq.read_metadata(f).num_rows for f in files) == logged
    assert all(pq.read_schema(f).equals(PREDICTION_SCHEMA) for f in files)
    # Every request's rows are there exactly once.
    frame = LogReader(tmp_path).predictions("churn")
    assert len(frame) == logged
    assert not frame.duplicated(["request_id", "row"]).any()
    assert frame.groupby("request_id")["row"].max().to_dict()["r5"] == 2


def test_files_are_partitioned_by_model_and_utc_date(tmp_path: Path) -> None:
    with LogWriter(tmp_path) as writer:
        for second in range(4):  # 23:59:58 … 00:00:01: two days
            ts = T0 + timedelta(seconds=second)
            writer.log_prediction("churn", 1, None, f"r{second}", [{"x": 1}], [0], 1.0, ts=ts)
        writer.log_prediction("a/b c", 1, None, "s", [{"x": 1}], [0], 1.0, ts=T0)
        writer.log_feedback("churn", "r0", [1], ts=T0)
    folders = {str(f.parent.relative_to(tmp_path)) for f in parquet_files(tmp_path)}
    assert folders == {
        "predictions/model=churn/date=2026-03-01",
        "predictions/model=churn/date=2026-03-02",
        "predictions/model=a%2Fb%20c/date=2026-03-01",
        "feedback/model=churn/date=2026-03-01",
    }
    names = [f.name for f in parquet_files(tmp_path)]
    assert all(n.startswith(f"part-{writer.writer_id}-") for n in names)
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".parquet"]
    assert LogReader(tmp_path).predictions("a/b c")["request_id"].tolist() == ["s"]


def test_rows_are_flushed_on_time_without_close(tmp_path: Path) -> None:
    writer = LogWriter(tmp_path, flush_rows=1000, flush_interval=0.05)
    try:
        writer.log_prediction("m", "1", None, "r", [{"x": 1}], [{"prediction": 1}], 1.0)
        deadline = time.monotonic() + 5
        while not parquet_files(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert writer.written == 1
    finally:
        writer.close()


def test_flush_writes_what_is_queued(tmp_path: Path) -> None:
    with LogWriter(tmp_path, flush_interval=60) as writer:
        logged = log_requests(writer, "m", 10)
        assert writer.flush(timeout=10)
        assert len(LogReader(tmp_path).predictions("m")) == writer.written == logged


def test_a_full_queue_drops_and_counts_and_never_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = LogWriter(tmp_path, max_queue=2, flush_rows=1, flush_interval=60)
    gate = threading.Event()
    real_write = writer._write_file

    def slow_write(*args):
        gate.wait(10)  # the disk is stuck: the queue fills up behind the thread
        real_write(*args)

    monkeypatch.setattr(writer, "_write_file", slow_write)
    accepted = slowest = 0.0
    for i in range(1000):
        started = time.perf_counter()
        ok = writer.log_prediction("m", "1", None, f"r{i}", [{"x": i}], [0], 1.0)
        slowest = max(slowest, time.perf_counter() - started)
        accepted += ok
    assert slowest < 0.5  # a burst never waits for the stuck disk (10 s)
    assert 1 <= accepted <= 3  # one in the thread's hands, at most two queued
    assert writer.dropped == 1000 - accepted
    with pytest.raises(StoreError, match=r"did not finish writing within 0\.1 s"):
        writer.close(timeout=0.1)
    gate.set()
    writer.close()  # again: now it finishes
    assert writer.written == accepted
    assert writer.written + writer.dropped == 1000
    assert len(LogReader(tmp_path).predictions("m")) == accepted


def test_an_empty_request_writes_no_file(tmp_path: Path) -> None:
    with LogWriter(tmp_path) as writer:
        assert writer.log_prediction("m", "1", None, "r", [], [], 1.0)
        assert writer.log_feedback("m", "r", [])
    assert (writer.written, writer.dropped) == (0, 0)
    assert parquet_files(tmp_path) == []


def test_logging_after_close_is_dropped(tmp_path: Path) -> None:
    writer = LogWriter(tmp_path)
    writer.close()
    assert writer.closed
    assert not writer.log_prediction("m", "1", None, "r", [{"x": 1}, {"x": 2}], [0, 1], 1.0)
    assert not writer.log_feedback("m", "r", [1])
    assert writer.dropped == 3
    writer.close()  # closing twice is harmless


def test_reader_joins_feedback_on_request_and_row(tmp_path: Path) -> None:
    with LogWriter(tmp_path) as writer:
        batch = [{"age": 30, "city": "x"}, {"age": 40, "city": "y"}, {"age": 50, "city": "z"}]
        outputs = [{"prediction": "no"}, {"prediction": "yes"}, {"prediction": "yes"}]
        writer.log_prediction("m", "2", "production", "batch", batch, outputs, 3.0, ts=T0)
        single = [{"age": 60, "city": "w"}]
        writer.log_prediction(
            "m", "2", "production", "single", single, [{"prediction": "no"}], 1.0, ts=T0
        )
        writer.log_prediction(
            "m", "2", None, "unlabelled", single, [{"prediction": "no"}], 1.0, ts=T0
        )
        later = T0 + timedelta(hours=1)
        writer.log_feedback("m", "batch", ["no", "no"], rows=[0, 2], ts=later)
        writer.log_feedback("m", "batch", ["yes"], rows=[2], ts=later + timedelta(minutes=1))
        writer.log_feedback("m", "single", ["yes"], ts=later)
        writer.log_feedback("other", "single", ["no"], ts=later)  # another model's feedback
        writer.log_feedback("m", "unknown", ["no"], ts=later)  # for no logged prediction
    reader = LogReader(tmp_path)

    joined = reader.joined("m")
    assert list(joined.columns) == [*PREDICTION_COLUMNS, "age", "city", *JOINED_COLUMNS]
    got = {(r.request_id, r.row): r.actual for r in joined.itertuples()}
    assert got == {("batch", 0): "no", ("batch", 2): "yes", ("single", 0): "yes"}  # latest wins
    assert joined.loc[joined.request_id == "single", "age"].item() == 60
    assert (joined["feedback_ts"] > joined["ts"]).all()

    left = reader.joined("m", how="left")
    assert len(left) == 5
    assert left.loc[left.request_id == "unlabelled", "actual"].isna().all()

    feedback = reader.feedback("m")
    assert list(feedback.columns) == list(FEEDBACK_COLUMNS)
    assert len(feedback) == 5

    with pytest.raises(ParameterError, match="'how'"):
        reader.joined("m", how="outer")  # type: ignore[arg-type]


def test_reader_expands_inputs_and_filters(tmp_path: Path) -> None:
    with LogWriter(tmp_path) as writer:
        for hour in range(5):
            writer.log_prediction(
                "m",
                "1" if hour < 3 else "2",
                "production",
                f"r{hour}",
                [{"age": hour, "income": hour * 1.5, "city": None, "model": "feature"}],
                [{"prediction": hour % 2, "probabilities": {"0": 0.5, "1": 0.5}}],
                latency_ms=float(hour),
                ts=T0 + timedelta(hours=hour),
            )
    reader = LogReader(tmp_path)
    frame = reader.predictions("m")
    assert list(frame.columns) == [*PREDICTION_COLUMNS, "age", "income", "city", "input_model"]
    assert frame["age"].tolist() == [0, 1, 2, 3, 4]
    assert frame["income"].dtype == np.float64
    assert frame["city"].isna().all()
    assert frame["prediction"].tolist() == ["0", "1", "0", "1", "0"]
    assert str(frame["ts"].dt.tz) == "UTC"
    assert frame["outputs"].iloc[1].startswith('{"prediction":1')

    since = reader.predictions("m", since=T0 + timedelta(hours=2))  # the next day's files only
    assert since["request_id"].tolist() == ["r2", "r3", "r4"]
    until = reader.predictions("m", until=T0 + timedelta(hours=2))
    assert until["request_id"].tolist() == ["r0", "r1"]
    assert reader.predictions("m", version=2)["request_id"].tolist() == ["r3", "r4"]
    assert reader.predictions("m", limit=2)["request_id"].tolist() == ["r3", "r4"]
    raw = reader.predictions("m", expand_inputs=False)
    assert list(raw.columns) == [*PREDICTION_COLUMNS, "inputs"]


def test_empty_log_gives_empty_frames_with_columns(tmp_path: Path) -> None:
    reader = LogReader(tmp_path / "never-written")
    predictions = reader.predictions("m")
    assert predictions.empty and list(predictions.columns) == list(PREDICTION_COLUMNS)
    assert str(predictions["ts"].dtype) == "datetime64[us, UTC]"
    feedback = reader.feedback("m")
    assert feedback.empty and list(feedback.columns) == list(FEEDBACK_COLUMNS)
    joined = reader.joined("m", how="left")
    assert joined.empty and list(joined.columns) == [*PREDICTION_COLUMNS, *JOINED_COLUMNS]


def test_default_folder_is_under_home(clean_environ: Path) -> None:
    with LogWriter() as writer:
        writer.log_prediction("m", "1", None, "r", [{"x": 1}], [0], 1.0)
    assert writer.log_dir == clean_environ / "logs"
    assert len(LogReader().predictions("m")) == 1


def test_unwritable_folder_is_reported_at_once(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="Cannot write the prediction log under"):
        LogWriter(blocker / "logs")


def test_a_failed_write_is_reported_not_silent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "logs"
    writer = LogWriter(folder, flush_interval=60)
    # The folder vanishes and a file takes its place: no write below it can succeed.
    shutil.rmtree(folder)
    folder.write_text("")
    writer.log_prediction("m", "1", None, "r", [{"x": 1}, {"x": 2}], [0, 1], 1.0)
    with (
        caplog.at_level(logging.ERROR, logger="modelcycle.store"),
        pytest.raises(StoreError, match="2 logged rows could not be written"),
    ):
        writer.close()
    assert (writer.written, writer.failed) == (0, 2)
    assert isinstance(writer.last_error, OSError)
    assert "lost 2 rows" in caplog.text


def test_unencodable_values_are_written_as_text(tmp_path: Path) -> None:
    with LogWriter(tmp_path) as writer:
        inputs = [{"when": T0, "n": np.int64(3), "x": np.float32(0.5), "path": Path("/data/x")}]
        writer.log_prediction("m", "1", None, "r", inputs, [{"prediction": np.int64(1)}], 1.0)
    frame = LogReader(tmp_path).predictions("m")
    assert frame["n"].item() == 3 and frame["prediction"].item() == "1"
    assert frame["when"].item().startswith("2026-03-01T23:59:58")
    assert frame["path"].item() == "/data/x"


def test_columns_and_rows_log_the_same(tmp_path: Path) -> None:
    rows = [{"x": 1.5, "city": "Oslo"}, {"x": float("nan"), "city": None}]
    outputs = [
        {"prediction": "yes", "probabilities": {"no": 0.25, "yes": 0.75}},
        {"prediction": "no", "probabilities": {"no": 0.5, "yes": 0.5}},
    ]
    columns = {"x": np.array([1.5, np.nan]), "city": np.array(["Oslo", None], dtype=object)}
    output_columns = {
        "prediction": np.array(["yes", "no"], dtype=object),
        "probabilities": {"no": np.array([0.25, 0.5]), "yes": np.array([0.75, 0.5])},
    }
    with LogWriter(tmp_path) as writer:
        for i in range(3):  # row and column requests interleaved land in one file, in order
            writer.log_prediction("m", "1", None, f"rows{i}", rows, outputs, 1.0)
            writer.log_prediction("m", "1", None, f"cols{i}", columns, output_columns, 1.0)
        writer.log_prediction("m", "1", None, "nopred", {"x": np.array([2.0])}, {"k": [1]}, 1.0)
        with pytest.raises(ParameterError, match="'outputs'"):
            writer.log_prediction("m", "1", None, "r", columns, {"prediction": [1]}, 1.0)
    assert len(parquet_files(tmp_path)) == 1
    frame = LogReader(tmp_path).predictions("m", expand_inputs=False)
    assert frame["request_id"].tolist()[:4] == ["rows0", "rows0", "cols0", "cols0"]
    kind = frame["request_id"].str[:4]
    for name in ("inputs", "outputs"):
        by_rows = [orjson.loads(t) for t in frame.loc[kind == "rows", name]]
        by_columns = [orjson.loads(t) for t in frame.loc[kind == "cols", name]]
        assert by_rows == by_columns
    assert frame.loc[kind == "rows", "prediction"].tolist() == ["yes", "no"] * 3
    assert frame.loc[kind == "cols", "prediction"].tolist() == ["yes", "no"] * 3
    assert orjson.loads(frame["inputs"].iloc[3]) == {"x": None, "city": None}
    assert frame.set_index("request_id")["prediction"].isna().to_dict() == {
        **{f"{k}{i}": False for k in ("rows", "cols") for i in range(3)},
        "nopred": True,
    }


def test_typed_columns_are_read_back_across_files(tmp_path: Path) -> None:
    when = np.array(["2024-01-02T03:04:05"], dtype="datetime64[ns]")
    mixed = np.empty(1, dtype=object)
    mixed[0] = {"a": 1}
    with LogWriter(tmp_path, flush_rows=1) as writer:  # one file per request
        writer.log_prediction(
            "m",
            "1",
            None,
            "a",
            {"n": np.array([3]), "job": np.array(["x"], dtype=object)},
            {"prediction": np.array([1])},
            1.0,
        )
        writer.log_prediction(
            "m",
            "2",
            None,
            "b",
            {"n": np.array([2.5]), "when": when, "odd": mixed},
            {"prediction": np.array([0]), "probabilities": {"0": np.array([0.9])}},
            1.0,
        )
        writer.log_prediction("m", "2", None, "c", [{"n": 7, "job": "y"}], [{"prediction": 1}], 1.0)
    assert len(parquet_files(tmp_path)) == 3
    frame = LogReader(tmp_path).predictions("m").set_index("request_id")
    assert frame["n"].tolist() == [3.0, 2.5, 7.0]
    assert frame.loc["a", "job"] == "x" and frame.loc["c", "job"] == "y"
    assert frame.loc["b", "when"].startswith("2024-01-02T03:04:05")
    assert frame.loc["b", "odd"] == {"a": 1}  # as the row form gives it
    assert frame["prediction"].tolist() == ["1", "0", "1"]
    assert orjson.loads(frame.loc["b", "outputs"]) == {"prediction": 0, "probabilities": {"0": 0.9}}
    assert orjson.loads(frame.loc["c", "outputs"]) == {"prediction": 1}
    text = LogReader(tmp_path).predictions("m", expand_inputs=False).set_index("request_id")
    assert orjson.loads(text.loc["a", "inputs"])["job"] == "x"


def test_a_feature_whose_type_changes_between_requests_loses_nothing(tmp_path: Path) -> None:
    # A new version may take a feature as text that the old one took as a number; both land in
    # the same flush while the server swaps.
    with LogWriter(tmp_path) as writer:
        for version, values in (("1", np.array([1, 2])), ("2", np.array(["x", "y"], dtype=object))):
            output = {"prediction": np.array([0, 1])}
            writer.log_prediction("m", version, None, f"r{version}", {"z": values}, output, 1.0)
    assert (writer.written, writer.failed) == (4, 0)
    assert len(parquet_files(tmp_path)) == 2  # one file per type
    frame = LogReader(tmp_path).predictions("m")
    assert [str(v) for v in frame["z"]] == ["1", "2", "x", "y"]


def test_a_column_of_mixed_types_is_kept_as_json_text(tmp_path: Path) -> None:
    with LogWriter(tmp_path) as writer:
        mixed = np.array([1, "a", None], dtype=object)
        writer.log_prediction("m", "1", None, "r", {"v": mixed}, {"prediction": [0, 1, 0]}, 1.0)
    values = LogReader(tmp_path).predictions("m")["v"]
    assert values[:2].tolist() == ["1", '"a"'] and pd.isna(values[2])


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"max_queue": 0}, "max_queue"),
        ({"flush_rows": -1}, "flush_rows"),
        ({"flush_interval": 0}, "flush_interval"),
    ],
    ids=["max_queue", "flush_rows", "flush_interval"],
)
def test_bad_writer_settings(tmp_path: Path, kwargs: dict, parameter: str) -> None:
    with pytest.raises(ParameterError, match=f"'{parameter}'"):
        LogWriter(tmp_path, **kwargs)


def test_mismatched_rows_are_refused(tmp_path: Path) -> None:
    with LogWriter(tmp_path) as writer:
        with pytest.raises(ParameterError, match="'outputs'"):
            writer.log_prediction("m", "1", None, "r", [{"x": 1}], [0, 1], 1.0)
        with pytest.raises(ParameterError, match="'actuals'"):
            writer.log_feedback("m", "r", "yes")  # type: ignore[arg-type]
        with pytest.raises(ParameterError, match="'rows'"):
            writer.log_feedback("m", "r", [1, 0], rows=[0])


def test_reader_without_duckdb_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "duckdb", None)
    with pytest.raises(OptionalDependencyError, match=r"modelcycle\[monitor\]"):
        LogReader(tmp_path).predictions("m")
