"""Tracking URIs: scoping MLflow's global one, telling embedded stores apart, hiding passwords."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

_DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
_LOCK = threading.RLock()


@contextmanager
def scoped_tracking_uri(uri: str) -> Iterator[None]:
    """Set MLflow's global tracking URI for the block, then restore exactly what was there.

    A few MLflow code paths ignore the client they are called through and open a default client
    (the SQL registry store resolving ``models:/<model_id>`` sources, for one). The lock keeps two
    registries in one process from interleaving their overrides.
    """
    import mlflow
    from mlflow.tracking._tracking_service import utils as tracking_utils

    with _LOCK:
        previous = getattr(tracking_utils, "_tracking_uri", None)
        previous_env = os.environ.get("MLFLOW_TRACKING_URI")
        mlflow.set_tracking_uri(uri)
        try:
            yield
        finally:
            # set_tracking_uri(None) clears both the global and the environment variable.
            mlflow.set_tracking_uri(cast(Any, previous))
            if previous_env is None:
                os.environ.pop("MLFLOW_TRACKING_URI", None)
            else:
                os.environ["MLFLOW_TRACKING_URI"] = previous_env


def is_database_uri(uri: str) -> bool:
    """Whether ``uri`` names a database (``sqlite:``, ``postgresql+psycopg:``, ...).

    MLflow gives experiments of a database store artifact folders relative to the current working
    directory (``./mlruns``) unless told otherwise; HTTP servers and file stores decide themselves.
    """
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower()
    return scheme in _DATABASE_SCHEMES


def redact(uri: str) -> str:
    """``uri`` with any password replaced by ``***`` (safe for messages and logs)."""
    return re.sub(r"(//[^/:@]*:)[^/@]*@", r"\1***@", uri)
