"""The metadata store's conformance suite, run on every backend (ids: sqlite, postgresql)."""

from __future__ import annotations

import sqlite3
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from modelcycle.exceptions import OptionalDependencyError, ParameterError, StoreError
from modelcycle.store import Deployment, Event, KeyInfo, MetadataStore, Metric, redact_uri

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@contextmanager
def failing_insert(store: MetadataStore, table: str, nth: int = 1) -> Iterator[None]:
    """Make the ``nth`` INSERT into ``table`` fail as the database itself would."""
    engine = store._ready()
    seen: list[str] = []

    def boom(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT") and table in statement:
            seen.append(statement)
            if len(seen) == nth:
                raise engine.dialect.loaded_dbapi.OperationalError("injected failure")

    sa.event.listen(engine, "before_cursor_execute", boom)
    try:
        yield
    finally:
        sa.event.remove(engine, "before_cursor_execute", boom)


# -- creation and connection ------------------------------------------------------------------


def test_tables_are_created_on_first_use_and_reused(store_uri: str) -> None:
    with MetadataStore(store_uri) as first:
        first.record_event("deploy", "m")
    # A second store (a restart, another process) finds the tables and the data.
    with MetadataStore(store_uri) as second:
        assert [e.kind for e in second.events("m")] == ["deploy"]


def test_concurrent_first_use_creates_tables_once(store_uri: str) -> None:
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def first_use(i: int) -> None:
        store = MetadataStore(store_uri)  # one engine each, as separate processes would have
        try:
            start.wait()
            store.record_event("start", "m", details={"worker": i})
        except BaseException as exc:
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=first_use, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with MetadataStore(store_uri) as store:
        assert sorted(e.details["worker"] for e in store.events("m")) == [0, 1, 2, 3]


def test_default_store_is_sqlite_in_wal_mode_under_home(clean_environ: Path) -> None:
    with MetadataStore() as store:
        store.record_event("deploy", "m")
        assert "modelcycle.db" in store.safe_uri
    db = clean_environ / "modelcycle.db"
    assert db.is_file()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_constructing_a_store_does_no_io(tmp_path: Path) -> None:
    MetadataStore(f"sqlite:///{tmp_path / 'nowhere' / 'x.db'}")  # fails only when used


def test_unreachable_server_is_a_store_error_without_the_password() -> None:
    uri = "postgresql+psycopg://admin:s3cret-pw@127.0.0.1:1/mc?connect_timeout=2"
    with pytest.raises(StoreError) as info:
        MetadataStore(uri).events()
    message = str(info.value)
    assert message.startswith("Cannot reach the metadata store at")
    assert "s3cret-pw" not in message
    assert "postgresql+psycopg://admin:***@127.0.0.1:1/mc" in message
    assert "MODELCYCLE_STORE_URI" in message


def test_missing_sqlite_folder_says_what_to_check(tmp_path: Path) -> None:
    store = MetadataStore(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    with pytest.raises(StoreError, match="folder exists and is writable"):
        store.record_event("deploy", "m")


@pytest.mark.parametrize(
    "uri", ["not a url", "nosuchdb://host/db"], ids=["malformed", "unknown-dialect"]
)
def test_unusable_uri_is_a_store_error(uri: str) -> None:
    with pytest.raises(StoreError, match="MODELCYCLE_STORE_URI"):
        MetadataStore(uri).events()


def test_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(OptionalDependencyError, match=r"modelcycle\[postgres\]"):
        MetadataStore("postgresql+psycopg://u:pw@127.0.0.1/db").events()


def test_redact_uri_hides_passwords() -> None:
    assert redact_uri("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
    assert redact_uri("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
    assert "pw" not in redact_uri("weird://u:pw@h:notaport/db")


# -- events -----------------------------------------------------------------------------------


def test_event_round_trip(store: MetadataStore) -> None:
    before = datetime.now(UTC)
    event = store.record_event(
        "drift", "churn", version=3, details={"share": np.float64(0.4), "n": np.int64(7)}
    )
    assert isinstance(event, Event)
    assert (event.kind, event.model, event.version) == ("drift", "churn", "3")
    assert before <= event.at <= datetime.now(UTC)
    [stored] = store.events("churn")
    assert stored == event
    assert stored.details == {"share": 0.4, "n": 7}
    assert stored.at.tzinfo is not None and stored.at.utcoffset() == timedelta(0)


def test_event_details_keep_nested_json_and_datetimes(store: MetadataStore) -> None:
    details = {"features": ["age", "income"], "p": {"age": 0.01}, "when": T0, "none": None}
    store.record_event("drift", "m", details=details)
    [event] = store.events("m")
    assert event.details["features"] == ["age", "income"]
    assert event.details["p"] == {"age": 0.01}
    assert event.details["when"].startswith("2026-03-01T12:00:00")
    assert event.details["none"] is None


def test_events_are_filtered_and_newest_last(store: MetadataStore) -> None:
    # Recorded out of order: the store orders by time, not by insertion.
    store.record_event("retrain", "a", at=T0 + timedelta(hours=2))
    store.record_event("drift", "a", at=T0)
    store.record_event("promote", "a", at=T0 + timedelta(hours=3))
    store.record_event("drift", "b", at=T0 + timedelta(hours=1))
    store.record_event("alert", None, at=T0 + timedelta(hours=4))

    assert [e.kind for e in store.events("a")] == ["drift", "retrain", "promote"]
    assert [e.model for e in store.events()] == ["a", "b", "a", "a", None]
    assert [e.kind for e in store.events(kinds="drift")] == ["drift", "drift"]
    assert [e.kind for e in store.events("a", kinds=["drift", "promote"])] == ["drift", "promote"]
    since = store.events(since=T0 + timedelta(hours=2))
    assert [e.kind for e in since] == ["retrain", "promote", "alert"]
    until = store.events(until=T0 + timedelta(hours=2))
    assert [e.kind for e in until] == ["drift", "drift"]
    assert [e.kind for e in store.events("a", limit=2)] == ["retrain", "promote"]
    assert store.events("nobody") == []


def test_naive_datetimes_are_utc(store: MetadataStore) -> None:
    store.record_event("drift", "m", at=datetime(2026, 3, 1, 12, 0))
    [event] = store.events("m", since=datetime(2026, 3, 1, 11, 59))
    assert event.at == T0


def test_bad_event_arguments(store: MetadataStore) -> None:
    with pytest.raises(ParameterError, match="'kind'"):
        store.record_event("", "m")
    with pytest.raises(ParameterError, match="'details'"):
        store.record_event("drift", "m", details=[1, 2])  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="'limit'"):
        store.events(limit=-1)


# -- deployments ------------------------------------------------------------------------------


def test_deployment_history_round_trip(store: MetadataStore) -> None:
    first = store.record_deployment("m", "production", 1, None, "alice", reason="first")
    store.record_deployment("m", "production", "2", "1", "loop")
    store.record_deployment("m", "staging", "3", None, "bob")
    assert isinstance(first, Deployment)
    history = store.deployment_history("m")
    assert [(d.version, d.previous_version, d.actor) for d in history] == [
        ("1", None, "alice"),
        ("2", "1", "loop"),
    ]
    assert history[0] == first
    assert history[0].reason == "first" and history[0].action == "deploy"
    assert [d.alias for d in store.deployment_history("m", alias=None)] == [
        "production",
        "production",
        "staging",
    ]
    assert store.deployment_history("m", limit=1)[0].version == "2"
    assert store.current_version("m") == "2"
    assert store.current_version("m", "staging") == "3"
    assert store.current_version("other") is None


def test_a_deployment_is_also_an_event(store: MetadataStore) -> None:
    store.record_deployment("m", "production", "2", "1", "alice", reason="better auc")
    store.record_deployment("m", "production", "1", "2", "alice", action="rollback")
    deploy, rollback = store.events("m")
    assert (deploy.kind, deploy.version) == ("deploy", "2")
    assert deploy.details == {
        "alias": "production",
        "previous_version": "1",
        "actor": "alice",
        "reason": "better auc",
    }
    assert (rollback.kind, rollback.version) == ("rollback", "1")


@pytest.mark.parametrize(
    ("moves", "expected"),
    [
        pytest.param([], None, id="no-history"),
        pytest.param([("1", None, "deploy")], None, id="first-deploy"),
        pytest.param([("2", "1", "deploy")], "1", id="alias-existed-before"),
        pytest.param([("1", None, "deploy"), ("2", "1", "deploy")], "1", id="one-back"),
        pytest.param(
            [
                ("1", None, "deploy"),
                ("2", "1", "deploy"),
                ("3", "2", "deploy"),
                ("2", "3", "rollback"),
            ],
            "1",
            id="skips-rolled-back-from",
        ),
        pytest.param(
            [("1", None, "deploy"), ("2", "1", "deploy"), ("1", "2", "rollback")],
            None,
            id="nothing-left",
        ),
        pytest.param(
            [
                ("1", None, "deploy"),
                ("2", "1", "deploy"),
                ("1", "2", "rollback"),
                ("3", "1", "deploy"),
            ],
            "1",
            id="deploy-after-rollback",
        ),
        pytest.param(
            [
                ("1", None, "deploy"),
                ("2", "1", "deploy"),
                ("1", "2", "rollback"),
                ("2", "1", "deploy"),  # fixed and deployed again: no longer "bad"
                ("3", "2", "deploy"),
            ],
            "2",
            id="redeployed-version-counts-again",
        ),
        pytest.param(
            [("1", None, "deploy"), ("2", "1", "deploy"), ("2", "2", "deploy")],
            "1",
            id="same-version-twice",
        ),
    ],
)
def test_previous_version(
    store: MetadataStore, moves: list[tuple[str, str | None, str]], expected: str | None
) -> None:
    for version, previous, action in moves:
        store.record_deployment("m", "production", version, previous, "t", action=action)  # type: ignore[arg-type]
    store.record_deployment("m", "staging", "9", None, "t")  # another alias does not interfere
    assert store.previous_version("m", "production") == expected


def test_failed_deployment_write_leaves_nothing(store: MetadataStore) -> None:
    store.record_deployment("m", "production", "1", None, "t")
    # The deployment row goes in, then its event fails: neither may remain.
    with failing_insert(store, "mc_events"), pytest.raises(StoreError) as info:
        store.record_deployment("m", "production", "2", "1", "t")
    assert "Could not record the deploy of m@production" in str(info.value)
    assert "nothing was written" in str(info.value)
    assert [d.version for d in store.deployment_history("m")] == ["1"]
    assert [e.version for e in store.events("m")] == ["1"]


def test_bad_deployment_action(store: MetadataStore) -> None:
    with pytest.raises(ParameterError, match="'action'"):
        store.record_deployment("m", "production", "1", None, "t", action="undo")  # type: ignore[arg-type]


# -- API keys ---------------------------------------------------------------------------------


def test_key_round_trip(store: MetadataStore) -> None:
    key = store.create_key("predict", "frontend")
    assert key.startswith("mc_") and len(key) > 50
    info = store.verify_key(key)
    assert isinstance(info, KeyInfo)
    assert (info.role, info.name, info.active) == ("predict", "frontend", True)
    assert key.startswith(f"mc_{info.key_id}_")
    assert info.allows("predict") and not info.allows("admin")


def test_admin_implies_predict(store: MetadataStore) -> None:
    info = store.verify_key(store.create_key("admin"))
    assert info is not None and info.allows("admin") and info.allows("predict")


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda k: k[:-1] + ("A" if k[-1] != "A" else "B"), id="wrong-secret"),
        pytest.param(lambda k: "mc_000000000000_" + k.split("_", 2)[2], id="unknown-id"),
        pytest.param(lambda k: k.removeprefix("mc_"), id="no-prefix"),
        pytest.param(lambda k: k.split("_", 2)[0] + "_" + k.split("_", 2)[1], id="no-secret"),
        pytest.param(lambda k: "mc_zz'; drop table_x", id="garbage"),
        pytest.param(lambda k: "", id="empty"),
    ],
)
def test_wrong_keys_are_refused(store: MetadataStore, tamper) -> None:
    key = store.create_key("admin")
    assert store.verify_key(tamper(key)) is None


def test_revoked_key_is_refused(store: MetadataStore) -> None:
    key = store.create_key("admin", "ci")
    other = store.create_key("predict")
    key_id = key.split("_")[1]
    revoked = store.revoke_key(key_id)
    assert revoked is not None and not revoked.active and revoked.revoked_at is not None
    assert not revoked.allows("predict")
    assert store.verify_key(key) is None
    assert store.verify_key(other) is not None
    # Revoking again keeps the first time; unknown ids say so.
    assert store.revoke_key(key_id) == revoked
    assert store.revoke_key("ffffffffffff") is None
    assert store.revoke_key(other) is not None  # the plaintext key works as well as its id
    assert store.verify_key(other) is None


def test_list_keys_shows_no_secrets(store: MetadataStore) -> None:
    keys = [store.create_key("predict", "a"), store.create_key("admin", "b")]
    store.revoke_key(keys[0].split("_")[1])
    listed = store.list_keys()
    assert [(k.name, k.role, k.active) for k in listed] == [
        ("a", "predict", False),
        ("b", "admin", True),
    ]
    assert [k.name for k in store.list_keys(include_revoked=False)] == ["b"]
    # Only hashes are stored: no plaintext key, nor its secret part, is in the database.
    with store._ready().connect() as conn:
        stored = " ".join(
            str(v) for row in conn.execute(sa.text("SELECT * FROM mc_api_keys")) for v in row
        )
    for key in keys:
        assert key not in stored and key.split("_", 2)[2] not in stored


def test_bad_role(store: MetadataStore) -> None:
    with pytest.raises(ParameterError, match="'role'"):
        store.create_key("root")  # type: ignore[arg-type]


# -- metrics ----------------------------------------------------------------------------------


def test_metric_round_trip(store: MetadataStore) -> None:
    metric = store.record_metric(
        "m", 3, "drift.share", 0.25, T0, T0 + timedelta(hours=1), {"test": "ks", "n": 500}
    )
    assert isinstance(metric, Metric)
    [stored] = store.metrics("m")
    assert stored == metric
    assert (stored.version, stored.value, stored.details) == ("3", 0.25, {"test": "ks", "n": 500})
    assert stored.window_start == T0 and stored.window_end == T0 + timedelta(hours=1)


def test_metrics_are_filtered(store: MetadataStore) -> None:
    for hour in range(4):
        end = T0 + timedelta(hours=hour + 1)
        store.record_metrics(
            "m",
            "1" if hour < 2 else "2",
            {"acc": 0.9 - hour / 10, "psi.age": hour},
            end - timedelta(hours=1),
            end,
        )
    store.record_metric("other", "1", "acc", 0.5, T0, T0 + timedelta(hours=1))
    assert len(store.metrics("m")) == 8
    acc = store.metrics("m", "acc")
    assert [m.value for m in acc] == pytest.approx([0.9, 0.8, 0.7, 0.6])
    assert [
        m.value for m in store.metrics("m", "acc", since=T0 + timedelta(hours=3))
    ] == pytest.approx([0.7, 0.6])
    assert len(store.metrics("m", ["acc", "psi.age"], version="2")) == 4
    assert [m.value for m in store.metrics("m", "psi.age", limit=2)] == [2.0, 3.0]
    assert [
        m.value for m in store.metrics("m", "acc", until=T0 + timedelta(hours=2))
    ] == pytest.approx([0.9])


def test_undefined_metric_is_none(store: MetadataStore) -> None:
    store.record_metrics("m", None, {"nan": float("nan"), "none": None}, T0, T0)
    assert {m.name: m.value for m in store.metrics("m")} == {"nan": None, "none": None}


def test_failed_metrics_write_leaves_nothing(store: MetadataStore) -> None:
    store.record_metric("m", "1", "kept", 1.0, T0, T0)
    with failing_insert(store, "mc_metrics", nth=2), pytest.raises(StoreError, match="rolled back"):
        store.record_metrics("m", "1", {"a": 1.0, "b": 2.0, "c": 3.0}, T0, T0)
    assert [m.name for m in store.metrics("m")] == ["kept"]


def test_bad_metric_window(store: MetadataStore) -> None:
    with pytest.raises(ParameterError, match="'window_end'"):
        store.record_metric("m", "1", "acc", 1.0, T0, T0 - timedelta(seconds=1))
