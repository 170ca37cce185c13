"""Store backends for the conformance suite: SQLite in the test's home, and a real PostgreSQL.

PostgreSQL runs in a database created for the session and dropped after it. When the server is
not reachable the PostgreSQL cases are skipped, unless MODELCYCLE_REQUIRE_POSTGRES=1 (CI), when
they fail.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from modelcycle.store import MetadataStore

POSTGRES_SERVER = "postgresql://postgres@127.0.0.1:5432"
STORE_TABLES = ("mc_events", "mc_deployments", "mc_api_keys", "mc_metrics")


@pytest.fixture(scope="session")
def postgres_uri() -> Iterator[str]:
    """A SQLAlchemy URI of a fresh PostgreSQL database, dropped at the end of the session."""
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - psycopg is a dev dependency
        _unavailable(f"psycopg is not installed ({exc})")
    try:
        admin = psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        cause = " ".join(str(exc).split())  # psycopg's message spans lines
        _unavailable(f"PostgreSQL is not reachable at {POSTGRES_SERVER} ({cause})")
    name = f"mc_test_{os.getpid()}_{secrets.token_hex(4)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("MODELCYCLE_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"{reason}; MODELCYCLE_REQUIRE_POSTGRES=1 requires it", pytrace=False)
    pytest.skip(f"{reason}; set MODELCYCLE_REQUIRE_POSTGRES=1 to make this a failure")


def _drop_store_tables(uri: str) -> None:
    import psycopg

    with psycopg.connect(uri.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {', '.join(STORE_TABLES)}")


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def store_uri(request: pytest.FixtureRequest, clean_environ: Path) -> str:
    """The URI of an empty store (no tables yet) on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{clean_environ / 'store.db'}"
    uri: str = request.getfixturevalue("postgres_uri")
    # Each test starts without tables, so every test also exercises creation on first use.
    _drop_store_tables(uri)
    return uri


@pytest.fixture
def store(store_uri: str) -> Iterator[MetadataStore]:
    store = MetadataStore(store_uri)
    yield store
    store.close()
