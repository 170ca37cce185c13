"""The store's public surface: names, examples, and what it may import."""

from __future__ import annotations

import ast
import doctest
import importlib
from pathlib import Path

import pytest

import modelcycle.store as store

MODULES = sorted(p.stem for p in Path(store.__file__).parent.glob("_*.py") if p.stem != "__init__")
# store sits low in the house: it may use settings and errors, nothing else of modelcycle,
# and never MLflow (only registry/ talks to MLflow).
ALLOWED_FIRST_PARTY = {"modelcycle.config", "modelcycle.exceptions"}


def test_every_public_name_exists() -> None:
    assert sorted(store.__all__) == sorted(set(store.__all__))
    for name in store.__all__:
        assert hasattr(store, name), name


@pytest.mark.parametrize("module", MODULES)
def test_imports_stay_downhill(module: str) -> None:
    source = (Path(store.__file__).parent / f"{module}.py").read_text()
    imported: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.append(node.module)
    for name in imported:
        assert not name.startswith("mlflow"), name
        if name.split(".")[0] == "modelcycle":
            assert name in ALLOWED_FIRST_PARTY or name.startswith("modelcycle.store"), name


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(
        importlib.import_module(f"modelcycle.store.{module}"), optionflags=doctest.ELLIPSIS
    )
    assert result.failed == 0
