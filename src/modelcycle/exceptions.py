"""Every error modelcycle raises, rooted at :class:`ModelcycleError`.

Messages follow one template: what happened, why, and what to do about it.

::

    ModelcycleError
    ├── ConfigError                 a setting or argument is invalid
    │   └── ParameterError          a function argument is out of range or of the wrong kind
    ├── DataError                   a table cannot be used as given
    │   ├── TableNotFoundError      the file does not exist
    │   ├── EmptyTableError         no rows (or no usable columns)
    │   ├── ColumnNotFoundError     a named column is absent (carries suggestions)
    │   ├── TargetError             the target cannot be learned (one class, all missing, ...)
    │   └── ColumnMismatchError     two tables to compare do not have the columns asked for
    ├── LearnError                  training failed for every candidate, or a candidate is unusable
    ├── RegistryError               the registry refused or lost something
    │   ├── ModelNotFoundError      no such model, version or alias
    │   └── ArtifactIntegrityError  an artifact's checksum does not match the one recorded
    ├── StoreError                  the metadata store or the prediction log failed
    └── OptionalDependencyError     an extra is not installed

    ModelcycleWarning               something to act on that is not an error
    ├── DataWarning                 a table looks suspicious (leakage, constant column, ...)
    └── DriftWarning                a drift check cannot reach the decision it was asked for
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ModelcycleError(Exception):
    """The root of every error raised by modelcycle."""


class ConfigError(ModelcycleError):
    """A setting or argument is invalid."""


class ParameterError(ConfigError, ValueError):
    """A parameter is out of range or of the wrong kind.

    The message follows scikit-learn's template:
    ``The 'budget' parameter of automl must be a positive number of seconds. Got -5 instead.``
    """

    def __init__(self, parameter: str, owner: str, expected: str, got: object) -> None:
        self.parameter = parameter
        self.owner = owner
        super().__init__(
            f"The {parameter!r} parameter of {owner} must be {expected}. Got {got!r} instead."
        )


class DataError(ModelcycleError, ValueError):
    """A table cannot be used as given."""


class TableNotFoundError(DataError, FileNotFoundError):
    """The file behind a table does not exist."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(
            f"No table at {path!r}: the file does not exist. "
            "Check the path (relative paths start from the current folder)."
        )


class EmptyTableError(DataError):
    """The table has no rows or no usable columns."""


class ColumnNotFoundError(DataError, KeyError):
    """A named column is not in the table; ``suggestions`` holds the closest names."""

    def __init__(self, column: str, available: Iterable[str], role: str = "column") -> None:
        self.column = column
        self.available = list(available)
        self.suggestions = difflib.get_close_matches(column, self.available, n=3, cutoff=0.5)
        hint = (
            f" Did you mean {', '.join(repr(s) for s in self.suggestions)}?"
            if self.suggestions
            else f" Available columns: {', '.join(self.available[:20])}"
            + (" …" if len(self.available) > 20 else "")
            + "."
        )
        super().__init__(f"The {role} {column!r} is not a column of the table.{hint}")

    def __str__(self) -> str:  # KeyError would quote the message again
        return str(self.args[0])


class TargetError(DataError):
    """The target column cannot be learned from."""

    def __init__(self, message: str, column: str | None = None) -> None:
        self.column = column
        super().__init__(message)


class ColumnMismatchError(DataError):
    """Two tables compared column by column (drift) lack columns the comparison needs.

    ``missing`` maps each side (``"reference"``, ``"current"``) to the columns it lacks.
    """

    def __init__(self, message: str, missing: dict[str, list[str]]) -> None:
        self.missing = missing
        super().__init__(message)


class LearnError(ModelcycleError):
    """Training failed, or a candidate cannot be used."""


class RegistryError(ModelcycleError):
    """The model registry refused an operation."""


class ModelNotFoundError(RegistryError, LookupError):
    """No such registered model, version or alias."""

    def __init__(self, message: str, model: str | None = None, version: str | None = None):
        self.model = model
        self.version = version
        super().__init__(message)


class ArtifactIntegrityError(RegistryError):
    """An artifact's checksum does not match the one recorded at registration."""

    def __init__(self, model: str, version: str, expected: str, actual: str) -> None:
        self.model = model
        self.version = version
        super().__init__(
            f"The artifact of {model} version {version} has checksum {actual[:12]}…, "
            f"but {expected[:12]}… was recorded at registration: it changed after it was "
            "registered. Register the model again; do not edit artifacts in place."
        )


class StoreError(ModelcycleError):
    """The metadata store or the prediction log failed."""


class OptionalDependencyError(ModelcycleError, ImportError):
    """A feature needs a package from an extra that is not installed."""

    def __init__(self, feature: str, package: str, extra: str) -> None:
        self.feature = feature
        self.package = package
        self.extra = extra
        super().__init__(f"{feature} requires {package}: pip install 'modelcycle[{extra}]'")


class ModelcycleWarning(UserWarning):
    """Something the user should act on that is not an error."""


class DataWarning(ModelcycleWarning):
    """A table looks suspicious: likely leakage, a constant column, an identifier."""


class DriftWarning(ModelcycleWarning):
    """A drift check cannot reach the decision it was asked for (too few permutations, ...)."""


__all__ = [
    "ArtifactIntegrityError",
    "ColumnMismatchError",
    "ColumnNotFoundError",
    "ConfigError",
    "DataError",
    "DataWarning",
    "DriftWarning",
    "EmptyTableError",
    "LearnError",
    "ModelNotFoundError",
    "ModelcycleError",
    "ModelcycleWarning",
    "OptionalDependencyError",
    "ParameterError",
    "RegistryError",
    "StoreError",
    "TableNotFoundError",
    "TargetError",
]
