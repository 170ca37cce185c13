"""The metadata store: events, deployments, API keys and monitor metrics in one SQL database.

SQLite (WAL mode) under the home folder by default, PostgreSQL in production. Every write is one
transaction: it is either wholly there or not at all. Several processes may share a store; each
writes its own rows, and no lock is held between calls.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import re
import secrets
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, get_args

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.schema import CreateIndex, CreateTable

from modelcycle.config import Settings
from modelcycle.exceptions import OptionalDependencyError, ParameterError, StoreError

from . import _schema as t
from ._schema import as_utc, json_dumps

Role = Literal["predict", "admin"]
ROLES: tuple[str, ...] = get_args(Role)

#: Plaintext keys look like ``mc_<key id>_<secret>``; the key id is 12 hex characters.
KEY_PREFIX = "mc_"
_KEY_ID = re.compile(r"[0-9a-f]{12}")
# A fixed hash to compare against when a key id is unknown, so that the answer for an unknown
# id does the same work as the answer for a wrong secret.
_DUMMY_HASH = hashlib.sha256(b"modelcycle-unknown-key").hexdigest()
# Any constant works; it only has to be the same in every process that creates the schema.
_SCHEMA_LOCK_KEY = 0x6D635F7363686D61  # "mc_schma"


@dataclass(frozen=True, slots=True)
class Event:
    """One decision or observation of the loop (a deploy, drift found, a retrain, ...).

    Attributes
    ----------
    id
        Increasing identifier assigned by the store.
    kind
        Free string such as ``"deploy"``, ``"rollback"``, ``"drift"``, ``"retrain"``,
        ``"promote"``, ``"reject"`` or ``"alert"``.
    model, version
        The model (and version) the event is about, if any.
    details
        JSON-compatible reasons and numbers.
    at
        When it happened (aware, UTC).
    """

    id: int
    kind: str
    model: str | None
    version: str | None
    details: dict[str, Any]
    at: datetime


@dataclass(frozen=True, slots=True)
class Deployment:
    """One move of an alias: ``alias`` of ``model`` now points at ``version``.

    Attributes
    ----------
    action
        ``"deploy"`` for an ordinary move, ``"rollback"`` when the move undoes the previous one.
    previous_version
        What the alias pointed at just before this move (``None`` if it did not exist).
    """

    id: int
    model: str
    alias: str
    version: str
    previous_version: str | None
    action: str
    actor: str | None
    reason: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What the store knows about an API key; never the key itself.

    Attributes
    ----------
    key_id
        The non-secret identifier embedded in the key (``mc_<key_id>_...``), safe to show.
    role
        ``"predict"`` or ``"admin"``; admin implies predict.
    """

    key_id: str
    role: str
    name: str | None
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        """Whether the key has not been revoked."""
        return self.revoked_at is None

    def allows(self, role: str) -> bool:
        """Whether this key may act as ``role`` (admin implies predict).

        Examples
        --------
        >>> from datetime import UTC, datetime
        >>> info = KeyInfo("0123456789ab", "admin", None, datetime.now(UTC))
        >>> info.allows("predict"), info.allows("admin")
        (True, True)
        """
        if not self.active:
            return False
        return self.role == "admin" or self.role == role


@dataclass(frozen=True, slots=True)
class Metric:
    """One number computed over a window of traffic (a drift statistic, an accuracy, ...).

    ``value`` is ``None`` when it was undefined (NaN) when recorded.
    """

    id: int
    model: str
    version: str | None
    name: str
    value: float | None
    window_start: datetime
    window_end: datetime
    recorded_at: datetime
    details: dict[str, Any] = field(default_factory=dict)


def redact_uri(uri: str) -> str:
    """Return ``uri`` with any password replaced by ``***``, for messages and logs.

    Examples
    --------
    >>> redact_uri("postgresql+psycopg://me:s3cret@db:5432/mc")
    'postgresql+psycopg://me:***@db:5432/mc'
    """
    try:
        return make_url(uri).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        # Not parseable as a URL: hide whatever sits between "://user:" and "@".
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", uri)


def _now() -> datetime:
    return datetime.now(UTC)


def _version(value: str | int | None) -> str | None:
    return None if value is None else str(value)


def _hash_key(key: str) -> str:
    # Keys carry 256 random bits, so a plain SHA-256 is as good as a slow KDF here.
    return hashlib.sha256(key.encode()).hexdigest()


def _details(value: Mapping[str, Any] | None, owner: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ParameterError("details", owner, "a mapping of JSON-compatible values", value)
    return dict(value)


def _kinds(kinds: str | Iterable[str] | None) -> list[str] | None:
    if kinds is None:
        return None
    return [kinds] if isinstance(kinds, str) else list(kinds)


class MetadataStore:
    """The shared metadata store: events, deployments, API keys and metrics.

    The tables are created on first use (idempotently, and safely when several processes start
    at once). The connection is opened lazily, so constructing a store does no I/O.

    Parameters
    ----------
    uri
        A SQLAlchemy URL: ``sqlite:///path/modelcycle.db`` or
        ``postgresql+psycopg://user:password@host/db``. Defaults to
        ``Settings().effective_store_uri`` (``MODELCYCLE_STORE_URI``, else SQLite under
        ``MODELCYCLE_HOME``).

    Notes
    -----
    Timestamps are returned as aware UTC datetimes; naive datetimes given to the store are taken
    to be UTC. Every failure of the database is raised as :class:`~modelcycle.exceptions.StoreError`
    with the URI (password hidden) and what to do; a failed write leaves nothing behind.

    Examples
    --------
    >>> store = MetadataStore("sqlite://")
    >>> store.record_event("drift", "churn", version="3", details={"share": 0.4}).kind
    'drift'
    >>> [e.kind for e in store.events("churn")]
    ['drift']
    >>> store.close()
    """

    def __init__(self, uri: str | None = None) -> None:
        self.uri = uri
        self._engine: Engine | None = None
        self._url: URL | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()

    # -- connection ----------------------------------------------------------------------------

    @property
    def safe_uri(self) -> str:
        """The store's URI with its password hidden, for messages and logs."""
        return redact_uri(self._resolved_uri())

    def _resolved_uri(self) -> str:
        return self.uri if self.uri is not None else Settings().effective_store_uri

    def _ready(self) -> Engine:
        """The engine, created (and the schema with it) on first use."""
        if self._engine is not None:
            if self._pid != os.getpid():
                # A forked child must not reuse its parent's pooled connections.
                self._engine.dispose(close=False)
                self._pid = os.getpid()
            return self._engine
        with self._lock:
            if self._engine is None:
                engine = self._create_engine(self._resolved_uri())
                try:
                    self._create_schema(engine)
                except BaseException:
                    engine.dispose()
                    raise
                self._engine = engine
                self._pid = os.getpid()
        return self._engine

    def _create_engine(self, uri: str) -> Engine:
        safe = redact_uri(uri)
        try:
            url = make_url(uri)
        except (ArgumentError, ValueError) as exc:
            raise StoreError(
                f"The metadata store URI {safe!r} is not a valid database URL: {exc}. "
                "Set MODELCYCLE_STORE_URI to e.g. 'sqlite:////path/modelcycle.db' or "
                "'postgresql+psycopg://user@host:5432/db'."
            ) from exc
        self._url = url
        backend = url.get_backend_name()
        kwargs: dict[str, Any] = {"json_serializer": json_dumps}
        if backend == "sqlite":
            # Other processes may hold the write lock for a moment; wait instead of failing.
            kwargs["connect_args"] = {"timeout": 30}
        elif backend == "postgresql":
            kwargs["pool_pre_ping"] = True
        try:
            engine = sa.create_engine(url, **kwargs)
        except ImportError as exc:
            raise OptionalDependencyError(
                f"The metadata store at {safe}", exc.name or url.get_driver_name(), "postgres"
            ) from exc
        except (ArgumentError, NoSuchModuleError) as exc:
            raise StoreError(
                f"The metadata store URI {safe!r} names a database SQLAlchemy cannot use: {exc}. "
                "Use 'sqlite:///...' or 'postgresql+psycopg://...' in MODELCYCLE_STORE_URI."
            ) from exc
        if backend == "sqlite":
            sa.event.listen(engine, "connect", _sqlite_on_connect)
        return engine

    def _create_schema(self, engine: Engine) -> None:
        names = [table.name for table in t.metadata.sorted_tables]
        for attempt in range(5):
            try:
                with engine.connect() as conn:
                    if all(sa.inspect(conn).has_table(name) for name in names):
                        return
            except SQLAlchemyError as exc:
                if attempt < 4 and _is_transient(exc):
                    time.sleep(0.05 * (attempt + 1))
                    continue
                raise self._error(None, exc) from exc
            try:
                with engine.begin() as conn:
                    if conn.dialect.name == "postgresql":
                        # Concurrent CREATE TABLE IF NOT EXISTS can still collide in PostgreSQL's
                        # catalog; serialize schema creation (only) for the length of this
                        # transaction.
                        conn.execute(
                            sa.text("SELECT pg_advisory_xact_lock(:key)"),
                            {"key": _SCHEMA_LOCK_KEY},
                        )
                    for table in t.metadata.sorted_tables:
                        conn.execute(CreateTable(table, if_not_exists=True))
                        for index in sorted(table.indexes, key=lambda i: str(i.name)):
                            conn.execute(CreateIndex(index, if_not_exists=True))
                return
            except SQLAlchemyError as exc:
                # Another process creating the same tables may win a race we cannot prevent
                # on every backend; its tables are then there on the next look.
                if attempt == 4 or not _is_transient(exc):
                    raise self._error("create the tables", exc, write=True) from exc
                time.sleep(0.05 * (attempt + 1))

    def close(self) -> None:
        """Close the store's connections (it reconnects if used again)."""
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None

    def __enter__(self) -> MetadataStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MetadataStore({self.safe_uri!r})"

    @contextmanager
    def _transaction(self, action: str) -> Iterator[Connection]:
        try:
            with self._ready().begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise self._error(action, exc, write=True) from exc

    @contextmanager
    def _reading(self, action: str) -> Iterator[Connection]:
        try:
            with self._ready().connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise self._error(action, exc, write=False) from exc

    def _error(
        self, action: str | None, exc: SQLAlchemyError, *, write: bool = False
    ) -> StoreError:
        """A StoreError saying what failed, why (password hidden) and what to do.

        ``action`` ``None`` means the store could not be reached at all.
        """
        safe = redact_uri(self._resolved_uri())
        cause = str(exc.orig) if isinstance(exc, DBAPIError) else str(exc)
        cause = cause.strip().splitlines()[0] if cause.strip() else type(exc).__name__
        password = self._url.password if self._url is not None else None
        if password:
            cause = cause.replace(str(password), "***")
        lowered = cause.lower()
        if "unable to open database file" in lowered or "readonly database" in lowered:
            hint = (
                "Check that the SQLite file's folder exists and is writable "
                "(MODELCYCLE_STORE_URI, or MODELCYCLE_HOME for the default store)."
            )
        elif "locked" in lowered or "busy" in lowered:
            hint = "Another process kept the database busy too long; retry the operation."
        elif action is None or isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):
            hint = "Check MODELCYCLE_STORE_URI and that the database server is running."
        else:
            hint = "Check MODELCYCLE_STORE_URI and the database's logs."
        if action is None:
            return StoreError(f"Cannot reach the metadata store at {safe}: {cause}. {hint}")
        if write:
            hint = "The transaction was rolled back, so nothing was written. " + hint
        return StoreError(f"Could not {action} in the metadata store at {safe}: {cause}. {hint}")

    # -- events --------------------------------------------------------------------------------

    def record_event(
        self,
        kind: str,
        model: str | None,
        *,
        version: str | int | None = None,
        details: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> Event:
        """Record one event and return it as stored.

        Parameters
        ----------
        kind
            What happened: a short free string (``"drift"``, ``"retrain"``, ``"promote"``, ...).
        model
            The model it is about, or ``None`` for system-wide events.
        version
            The model version it is about, if any.
        details
            JSON-compatible reasons and numbers (numpy scalars and datetimes are converted).
        at
            When it happened; defaults to now.
        """
        if not isinstance(kind, str) or not kind or len(kind) > 64:
            raise ParameterError("kind", "record_event", "a non-empty string of at most 64", kind)
        values = {
            "kind": kind,
            "model": model,
            "version": _version(version),
            "details": _details(details, "record_event"),
            "at": as_utc(at) if at is not None else _now(),
        }
        with self._transaction(f"record a {kind!r} event") as conn:
            key = _inserted_id(conn.execute(t.events.insert().values(**values)))
        return self._event_from(dict(values, id=key))

    def events(
        self,
        model: str | None = None,
        kinds: str | Iterable[str] | None = None,
        since: datetime | None = None,
        limit: int | None = None,
        *,
        until: datetime | None = None,
    ) -> list[Event]:
        """Events, oldest first (newest last).

        Parameters
        ----------
        model
            Only events about this model (all events when ``None``).
        kinds
            Only events of this kind or these kinds.
        since, until
            Only events at or after ``since`` and before ``until``.
        limit
            Only the newest ``limit`` events (still returned oldest first).
        """
        query = sa.select(t.events)
        if model is not None:
            query = query.where(t.events.c.model == model)
        kind_list = _kinds(kinds)
        if kind_list is not None:
            query = query.where(t.events.c.kind.in_(kind_list))
        if since is not None:
            query = query.where(t.events.c.at >= as_utc(since))
        if until is not None:
            query = query.where(t.events.c.at < as_utc(until))
        query = _newest_last(query, t.events.c.at, t.events.c.id, limit)
        with self._reading("read events") as conn:
            rows = conn.execute(query).mappings().all()
        return sorted((self._event_from(row) for row in rows), key=lambda e: (e.at, e.id))

    @staticmethod
    def _event_from(row: Mapping[Any, Any]) -> Event:
        return Event(
            id=int(row["id"]),
            kind=row["kind"],
            model=row["model"],
            version=row["version"],
            details=dict(row["details"] or {}),
            at=as_utc(row["at"]),
        )

    # -- deployments ---------------------------------------------------------------------------

    def record_deployment(
        self,
        model: str,
        alias: str,
        version: str | int,
        previous_version: str | int | None,
        actor: str | None,
        *,
        action: Literal["deploy", "rollback"] = "deploy",
        reason: str | None = None,
        at: datetime | None = None,
    ) -> Deployment:
        """Record that ``alias`` of ``model`` moved from ``previous_version`` to ``version``.

        The move and a matching event (kind ``action``, details with alias, previous version,
        actor and reason) are written in one transaction, so the event timeline is complete
        without the caller recording a second event.

        Parameters
        ----------
        model, alias, version
            The alias that moved and the version it points at now.
        previous_version
            What the alias pointed at before (``None`` if it was new).
        actor
            Who or what moved it (a user, ``"loop"``, an API key id).
        action
            ``"rollback"`` when the move undoes a bad version; :meth:`previous_version` then
            skips the version rolled back from.
        reason
            Free text kept with the move.
        at
            When it happened; defaults to now.
        """
        if action not in ("deploy", "rollback"):
            raise ParameterError("action", "record_deployment", "'deploy' or 'rollback'", action)
        values = {
            "model": model,
            "alias": alias,
            "version": str(version),
            "previous_version": _version(previous_version),
            "action": action,
            "actor": actor,
            "reason": reason,
            "at": as_utc(at) if at is not None else _now(),
        }
        event = {
            "kind": action,
            "model": model,
            "version": values["version"],
            "at": values["at"],
            "details": {
                "alias": alias,
                "previous_version": values["previous_version"],
                "actor": actor,
                "reason": reason,
            },
        }
        with self._transaction(f"record the {action} of {model}@{alias}") as conn:
            key = _inserted_id(conn.execute(t.deployments.insert().values(**values)))
            conn.execute(t.events.insert().values(**event))
        return self._deployment_from(dict(values, id=key))

    def deployment_history(
        self, model: str, alias: str | None = "production", limit: int | None = None
    ) -> list[Deployment]:
        """The moves of ``alias`` of ``model`` (every alias when ``None``), oldest first.

        ``limit`` keeps only the newest moves.
        """
        query = sa.select(t.deployments).where(t.deployments.c.model == model)
        if alias is not None:
            query = query.where(t.deployments.c.alias == alias)
        query = _newest_last(query, t.deployments.c.id, None, limit)
        with self._reading(f"read the deployment history of {model}") as conn:
            rows = conn.execute(query).mappings().all()
        return sorted((self._deployment_from(row) for row in rows), key=lambda d: d.id)

    def current_version(self, model: str, alias: str = "production") -> str | None:
        """The version ``alias`` points at according to the last recorded move, if any."""
        history = self.deployment_history(model, alias, limit=1)
        return history[-1].version if history else None

    def previous_version(self, model: str, alias: str = "production") -> str | None:
        """The version to roll back to, or ``None`` if there is none.

        That is the latest version the alias pointed at before its current one, skipping the
        current version itself and every version the alias was rolled back from (unless that
        version was deployed again afterwards).

        Examples
        --------
        >>> store = MetadataStore("sqlite://")
        >>> for v, prev in [("1", None), ("2", "1"), ("3", "2")]:
        ...     _ = store.record_deployment("m", "production", v, prev, "me")
        >>> store.previous_version("m")
        '2'
        >>> _ = store.record_deployment("m", "production", "2", "3", "me", action="rollback")
        >>> store.previous_version("m")  # 3 was rolled back from, 2 is current
        '1'
        >>> store.close()
        """
        history = self.deployment_history(model, alias)
        if not history:
            return None
        bad: set[str] = set()
        # The alias may have existed before the store saw it move: that earlier version counts.
        pointed = [history[0].previous_version] if history[0].previous_version else []
        for move in history:
            if move.action == "rollback" and move.previous_version is not None:
                bad.add(move.previous_version)
            bad.discard(move.version)  # deploying a version again clears its rollback
            pointed.append(move.version)
        current = history[-1].version
        for version in reversed(pointed):
            if version is not None and version != current and version not in bad:
                return version
        return None

    @staticmethod
    def _deployment_from(row: Mapping[Any, Any]) -> Deployment:
        return Deployment(
            id=int(row["id"]),
            model=row["model"],
            alias=row["alias"],
            version=row["version"],
            previous_version=row["previous_version"],
            action=row["action"],
            actor=row["actor"],
            reason=row["reason"],
            at=as_utc(row["at"]),
        )

    # -- API keys ------------------------------------------------------------------------------

    def create_key(self, role: Role = "predict", name: str | None = None) -> str:
        """Create an API key and return it; this is the only time the plaintext is available.

        Only a SHA-256 hash of the key is stored, with its non-secret key id.

        Parameters
        ----------
        role
            ``"predict"`` (may call the prediction routes) or ``"admin"`` (may also deploy and
            roll back).
        name
            A label for people (``"ci"``, ``"frontend"``).

        Returns
        -------
        str
            ``mc_<key id>_<secret>``: 12 hex characters of id and 32 random bytes, URL-safe.
        """
        if role not in ROLES:
            raise ParameterError("role", "create_key", "'predict' or 'admin'", role)
        key_id = secrets.token_hex(6)
        key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        values = {
            "key_id": key_id,
            "key_hash": _hash_key(key),
            "role": role,
            "name": name,
            "created_at": _now(),
            "revoked_at": None,
        }
        with self._transaction("create an API key") as conn:
            conn.execute(t.api_keys.insert().values(**values))
        return key

    def verify_key(self, key: str) -> KeyInfo | None:
        """Return the key's :class:`KeyInfo` if ``key`` is a valid, unrevoked key, else ``None``.

        The key is looked up by its id and its hash compared in constant time. Check the role
        with :meth:`KeyInfo.allows`.
        """
        if not isinstance(key, str) or not key.startswith(KEY_PREFIX):
            return None
        key_id, _, secret = key[len(KEY_PREFIX) :].partition("_")
        if not _KEY_ID.fullmatch(key_id) or not secret:
            return None
        query = sa.select(t.api_keys).where(t.api_keys.c.key_id == key_id)
        with self._reading("verify an API key") as conn:
            row = conn.execute(query).mappings().first()
        expected = row["key_hash"] if row is not None else _DUMMY_HASH
        matches = hmac.compare_digest(expected.encode(), _hash_key(key).encode())
        if row is None or not matches or row["revoked_at"] is not None:
            return None
        return self._key_from(row)

    def list_keys(self, *, include_revoked: bool = True) -> list[KeyInfo]:
        """Every API key (never the secrets), oldest first."""
        query = sa.select(t.api_keys).order_by(t.api_keys.c.created_at, t.api_keys.c.key_id)
        if not include_revoked:
            query = query.where(t.api_keys.c.revoked_at.is_(None))
        with self._reading("list API keys") as conn:
            rows = conn.execute(query).mappings().all()
        return [self._key_from(row) for row in rows]

    def revoke_key(self, key_id: str) -> KeyInfo | None:
        """Revoke the key with this id; return its info, or ``None`` if there is no such key.

        Revoking a revoked key keeps its first revocation time.
        """
        if isinstance(key_id, str) and key_id.startswith(KEY_PREFIX):
            # Accept the whole plaintext key too: its id is the part after the prefix.
            key_id = key_id[len(KEY_PREFIX) :].partition("_")[0]
        table = t.api_keys
        with self._transaction(f"revoke the API key {key_id!r}") as conn:
            conn.execute(
                table.update()
                .where(table.c.key_id == key_id, table.c.revoked_at.is_(None))
                .values(revoked_at=_now())
            )
            row = conn.execute(sa.select(table).where(table.c.key_id == key_id)).mappings().first()
        return self._key_from(row) if row is not None else None

    @staticmethod
    def _key_from(row: Mapping[Any, Any]) -> KeyInfo:
        revoked = row["revoked_at"]
        return KeyInfo(
            key_id=row["key_id"],
            role=row["role"],
            name=row["name"],
            created_at=as_utc(row["created_at"]),
            revoked_at=as_utc(revoked) if revoked is not None else None,
        )

    # -- metrics -------------------------------------------------------------------------------

    def record_metric(
        self,
        model: str,
        version: str | int | None,
        name: str,
        value: float | None,
        window_start: datetime,
        window_end: datetime,
        details: Mapping[str, Any] | None = None,
    ) -> Metric:
        """Record one number computed over a window of traffic (a drift score, an accuracy).

        Parameters
        ----------
        model, version
            What the number is about.
        name
            What it measures, e.g. ``"drift.share"`` or ``"drift.psi.age"``.
        value
            The number; NaN and ``None`` are stored as ``None`` ("undefined").
        window_start, window_end
            The window of traffic it was computed over.
        details
            JSON-compatible extras (test used, thresholds, sample sizes).
        """
        return self.record_metrics(
            model, version, {name: value}, window_start, window_end, details
        )[0]

    def record_metrics(
        self,
        model: str,
        version: str | int | None,
        values: Mapping[str, float | None],
        window_start: datetime,
        window_end: datetime,
        details: Mapping[str, Any] | None = None,
    ) -> list[Metric]:
        """Record several numbers over one window in one transaction (all or none).

        Same parameters as :meth:`record_metric`, with ``values`` mapping names to numbers;
        ``details`` is stored with each of them.
        """
        start, end = as_utc(window_start), as_utc(window_end)
        if end < start:
            raise ParameterError(
                "window_end", "record_metric", f"at or after window_start ({start})", end
            )
        common = {
            "model": model,
            "version": _version(version),
            "window_start": start,
            "window_end": end,
            "recorded_at": _now(),
            "details": _details(details, "record_metric"),
        }
        rows = [dict(common, name=str(name), value=_float(v)) for name, v in values.items()]
        with self._transaction(f"record metrics of {model}") as conn:
            for row in rows:
                row["id"] = _inserted_id(conn.execute(t.metrics.insert().values(**row)))
        return [self._metric_from(row) for row in rows]

    def metrics(
        self,
        model: str,
        name: str | Iterable[str] | None = None,
        since: datetime | None = None,
        *,
        version: str | int | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[Metric]:
        """Recorded metrics of ``model``, by window end, oldest first.

        Parameters
        ----------
        name
            Only this metric (or these metrics).
        since, until
            Only windows ending at or after ``since`` and before ``until``.
        version
            Only this model version.
        limit
            Only the newest ``limit`` metrics (still returned oldest first).
        """
        m = t.metrics
        query = sa.select(m).where(m.c.model == model)
        names = _kinds(name)
        if names is not None:
            query = query.where(m.c.name.in_(names))
        if version is not None:
            query = query.where(m.c.version == str(version))
        if since is not None:
            query = query.where(m.c.window_end >= as_utc(since))
        if until is not None:
            query = query.where(m.c.window_end < as_utc(until))
        query = _newest_last(query, m.c.window_end, m.c.id, limit)
        with self._reading(f"read metrics of {model}") as conn:
            rows = conn.execute(query).mappings().all()
        return sorted((self._metric_from(r) for r in rows), key=lambda x: (x.window_end, x.id))

    @staticmethod
    def _metric_from(row: Mapping[Any, Any]) -> Metric:
        return Metric(
            id=int(row["id"]),
            model=row["model"],
            version=row["version"],
            name=row["name"],
            value=_float(row["value"]),
            window_start=as_utc(row["window_start"]),
            window_end=as_utc(row["window_end"]),
            recorded_at=as_utc(row["recorded_at"]),
            details=dict(row["details"] or {}),
        )


def _inserted_id(result: sa.CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    if key is None:  # pragma: no cover - every insert here has an autoincrement key
        raise StoreError("The metadata store did not return the id of a new row.")
    return int(key[0])


def _float(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _newest_last(
    query: sa.Select[Any],
    order: sa.ColumnElement[Any],
    tiebreak: sa.ColumnElement[Any] | None,
    limit: int | None,
) -> sa.Select[Any]:
    """Order by time; with a limit, keep the newest rows (the caller re-sorts oldest first)."""
    columns = [order] if tiebreak is None else [order, tiebreak]
    if limit is None:
        return query.order_by(*columns)
    if limit < 0:
        raise ParameterError("limit", "the metadata store", "a non-negative integer", limit)
    return query.order_by(*(c.desc() for c in columns)).limit(limit)


def _is_transient(exc: SQLAlchemyError) -> bool:
    text = str(exc).lower()
    return any(
        word in text for word in ("already exists", "locked", "busy", "duplicate key", "deadlock")
    )


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL lets readers (the server, the monitor) proceed while one process writes.
        cursor.execute("PRAGMA busy_timeout = 30000")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()
