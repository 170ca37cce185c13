"""Store backends for the conformance suite: SQLite in the test's home, and a real PostgreSQL.

PostgreSQL runs in a database created for the session and dropped after it. When the server is
not reachable the PostgreSQL cases are skipped, unless MODELCYCLE_REQUIRE_POSTGRES=1 (CI), when
they fail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from modelcycle.store import MetadataStore

STORE_TABLES = ("mc_events", "mc_deployments", "mc_api_keys", "mc_metrics")


@pytest.fixture(scope="session")
def postgres_uri(postgres_database: Callable[[], str]) -> str:
    """One fresh database for the store suite (each test drops the tables it finds)."""
    return postgres_database()


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
