"""Every name a package exports exists, and the import rules of the house hold."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest

import modelcycle

PACKAGES = sorted(
    m.name
    for m in pkgutil.iter_modules(modelcycle.__path__, "modelcycle.")
    if not m.name.split(".")[-1].startswith("_")
)


@pytest.mark.parametrize("package", ["modelcycle", *PACKAGES])
def test_every_exported_name_exists(package: str) -> None:
    module = importlib.import_module(package)
    for name in getattr(module, "__all__", []):
        assert hasattr(module, name), f"{package}.__all__ names {name!r}, which does not exist"


def test_facade_lists_every_lazy_export() -> None:
    assert sorted(modelcycle.__all__) == sorted([*modelcycle._EXPORTS, "__version__"])


def test_only_the_registry_imports_mlflow() -> None:
    code = (
        "import sys, modelcycle.data, modelcycle.features, modelcycle.store, modelcycle.report;"
        "print('mlflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
