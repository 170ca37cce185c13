"""The metadata store's tables (shared by every backend) and the encodings the store uses.

Every table name starts with ``mc_`` so that the store can share a database with MLflow's own
tracking tables (MLflow already has ``metrics``, ``experiments``, ...) without a clash.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Dialect


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp that goes in and comes out as an aware UTC ``datetime``.

    SQLite has no time zones, so values are stored as naive UTC there; PostgreSQL keeps
    ``timestamptz``. Naive datetimes passed in are taken to be UTC already.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        # SQLite would store the offset as text and then compare strings with and without
        # offsets; storing naive UTC keeps lexical order equal to time order.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return as_utc(value)


def as_utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime (naive values are taken to be UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def json_dumps(value: Any) -> str:
    """Encode ``value`` as JSON text, for event details and the prediction log.

    orjson is fast, understands numpy scalars and arrays and datetimes, and writes NaN as
    ``null`` (NaN is not valid JSON); anything else it cannot encode becomes its ``str()``.
    """
    return orjson.dumps(
        value, default=str, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
    ).decode()


metadata = sa.MetaData()

events = sa.Table(
    "mc_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("model", sa.String(255), nullable=True),
    sa.Column("version", sa.String(64), nullable=True),
    sa.Column("details", sa.JSON, nullable=False),
    sa.Index("ix_mc_events_model_at", "model", "at"),
    sa.Index("ix_mc_events_at", "at"),
)

deployments = sa.Table(
    "mc_deployments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("model", sa.String(255), nullable=False),
    sa.Column("alias", sa.String(255), nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("previous_version", sa.String(64), nullable=True),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(255), nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Index("ix_mc_deployments_model_alias", "model", "alias", "id"),
)

api_keys = sa.Table(
    "mc_api_keys",
    metadata,
    # key_id is the non-secret part of the key (shown in listings, used for lookup).
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("key_hash", sa.String(64), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("name", sa.String(255), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
)

metrics = sa.Table(
    "mc_metrics",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model", sa.String(255), nullable=False),
    sa.Column("version", sa.String(64), nullable=True),
    sa.Column("name", sa.String(255), nullable=False),
    # NULL stands for "undefined" (NaN): SQLite cannot keep NaN, so no backend keeps it.
    sa.Column("value", sa.Float, nullable=True),
    sa.Column("window_start", UTCDateTime, nullable=False),
    sa.Column("window_end", UTCDateTime, nullable=False),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
    sa.Column("details", sa.JSON, nullable=False),
    sa.Index("ix_mc_metrics_model_name_end", "model", "name", "window_end"),
)
