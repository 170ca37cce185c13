"""skops persistence: which types a pipeline needs trusted, what it needs installed, loading it.

skops refuses to load any type outside its default allow-list (scikit-learn, NumPy, SciPy) unless
told to trust it. modelcycle derives that list from the pipeline at registration, records it in the
registry, and trusts exactly those types (no more) when loading.
"""

from __future__ import annotations

import functools
import importlib.metadata
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from modelcycle.exceptions import RegistryError

# Always needed to load and call a pipeline from the MLflow model format.
_BASE_DISTRIBUTIONS = ("numpy", "pandas", "scikit-learn", "scipy", "skops")


def untrusted_types(pipeline: Any) -> list[str]:
    """The types in ``pipeline`` outside skops' default allow-list, sorted.

    Raises
    ------
    RegistryError
        If skops cannot serialise the pipeline (a lambda, a locally defined class, ...).
    """
    import skops.io

    try:
        data = skops.io.dumps(pipeline)
    except Exception as exc:
        raise RegistryError(
            f"The pipeline cannot be saved with skops ({type(exc).__name__}: {exc}). skops saves "
            "scikit-learn objects and functions or classes defined at the top level of a module; "
            "replace lambdas and locally defined functions or classes with top-level ones."
        ) from exc
    return sorted(skops.io.get_untrusted_types(data=data))


def load_pipeline(path: str | Path, trusted: Iterable[str]) -> Any:
    """Load a skops file trusting only ``trusted`` beyond skops' defaults."""
    import skops.io
    from skops.io.exceptions import UntrustedTypesFoundException

    trusted = list(trusted)
    try:
        return skops.io.load(path, trusted=trusted)
    except UntrustedTypesFoundException as exc:
        raise RegistryError(
            f"The model file {Path(path).name} holds types that were not trusted at registration "
            f"({exc}); trusted: {', '.join(trusted) or 'none'}. The artifact was changed after "
            "registration: register the model again."
        ) from exc


def pip_requirements(types: Iterable[str]) -> list[str]:
    """Pinned requirements for loading a pipeline made of the given extra ``types``.

    Each type's top-level module is mapped to the distribution that installs it (``lightgbm``,
    ``modelcycle``, ...); standard-library modules need nothing. This replaces MLflow's
    requirement inference, which loads the model in a subprocess (seconds) and picks up whatever
    happens to be imported (pytest, rich, ...).
    """
    distributions = set(_BASE_DISTRIBUTIONS)
    owners = _module_owners()
    for name in types:
        top = name.split(".", 1)[0]
        if top in sys.stdlib_module_names or top == "builtins":
            continue
        distributions.update(owners.get(top, ()))
    pinned = []
    for dist in sorted(distributions, key=str.lower):
        try:
            pinned.append(f"{dist}=={importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            pinned.append(dist)
    return pinned


@functools.cache
def _module_owners() -> dict[str, tuple[str, ...]]:
    # Scanning every installed distribution takes tens of milliseconds; once per process is enough.
    return {k: tuple(v) for k, v in importlib.metadata.packages_distributions().items()}
