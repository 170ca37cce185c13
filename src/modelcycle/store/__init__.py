"""The state the server, the monitor and the retraining loop share.

* :class:`MetadataStore`: events, deployments (alias moves), API keys and monitor metrics in
  SQL (SQLite in WAL mode under the home folder by default, PostgreSQL in production).
* :class:`LogWriter` / :class:`LogReader`: the append-only prediction and feedback log, Parquet
  files partitioned by model and date, written by a background thread, read with DuckDB.

Several processes may share one store and one log folder: each writes its own rows and files,
and no lock is held across processes.
"""

from modelcycle.store._log import FEEDBACK_SCHEMA, PREDICTION_SCHEMA, LogWriter
from modelcycle.store._metadata import (
    Deployment,
    Event,
    KeyInfo,
    MetadataStore,
    Metric,
    Role,
    redact_uri,
)
from modelcycle.store._reader import (
    FEEDBACK_COLUMNS,
    JOINED_COLUMNS,
    PREDICTION_COLUMNS,
    LogReader,
)

__all__ = [
    "FEEDBACK_COLUMNS",
    "FEEDBACK_SCHEMA",
    "JOINED_COLUMNS",
    "PREDICTION_COLUMNS",
    "PREDICTION_SCHEMA",
    "Deployment",
    "Event",
    "KeyInfo",
    "LogReader",
    "LogWriter",
    "MetadataStore",
    "Metric",
    "Role",
    "redact_uri",
]
