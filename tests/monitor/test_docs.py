"""The Examples sections of the monitor's docstrings run as written."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "modelcycle.monitor._drift",
    "modelcycle.monitor._domain",
    "modelcycle.monitor._inputs",
    "modelcycle.monitor._reference",
    "modelcycle.monitor._report",
    "modelcycle.monitor._stats",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
