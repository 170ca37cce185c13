"""The registry on PostgreSQL: the production setting of the tracking store and registry.

Skipped with a reason when no server answers on 127.0.0.1:5432, unless
``MODELCYCLE_REQUIRE_POSTGRES=1`` (CI), where that is a failure.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from modelcycle.data import Table
from modelcycle.exceptions import ArtifactIntegrityError, ModelNotFoundError
from modelcycle.registry import Registry

pytestmark = pytest.mark.postgres


@pytest.fixture
def postgres_uri(postgres_database: Callable[[], str]) -> str:
    """A fresh, empty database for each test."""
    return postgres_database()


def test_register_alias_load_on_postgres(
    postgres_uri: str,
    home: Path,
    table: Table,
    logreg: Pipeline,
    lgbm: Pipeline,
    recipe: dict[str, Any],
    profile: dict[str, Any],
) -> None:
    registry = Registry(tracking_uri=postgres_uri)
    experiment = registry.session("adult", tags={"modelcycle.kind": "learner"})
    run_id = registry.log_run(
        experiment, "lightgbm", params={"n_estimators": 15}, metrics={"roc_auc": 0.9}, recipe=recipe
    )
    common: dict[str, Any] = {
        "recipe": recipe,
        "input_example": table.X.head(5),
        "reference_profile": profile,
    }
    first = registry.register("income", logreg, run_id=None, **common)
    second = registry.register("income", lgbm, run_id=run_id, **common)
    assert (first.version, second.version) == (1, 2)
    assert second.metrics == {"roc_auc": 0.9}

    registry.set_alias("income", "production", 2)
    loaded = registry.load("income", alias="production")
    np.testing.assert_array_equal(
        loaded.pipeline.predict_proba(table.X), lgbm.predict_proba(table.X)
    )
    assert [(m.name, m.aliases) for m in registry.list_models()] == [("income", {"production": 2})]
    with pytest.raises(ModelNotFoundError, match="its aliases: production → 2"):
        registry.load("income", alias="champion")

    # Artifacts go under the home folder (MLflow's default for a database is ./mlruns).
    skops_files = list(
        (home / "artifacts").glob(f"*/models/{second.model_id}/artifacts/model.skops")
    )
    assert len(skops_files) == 1
    skops_files[0].write_bytes(skops_files[0].read_bytes() + b"\0")
    with pytest.raises(ArtifactIntegrityError):
        registry.load("income", version=2)
    # The embedded default store was never touched.
    assert Registry().list_models() == []
