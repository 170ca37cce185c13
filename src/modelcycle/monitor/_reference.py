"""The reference of a registered model: the profile of its training data, stored beside it."""

from __future__ import annotations

from typing import Any

from modelcycle.exceptions import ParameterError


def parse_model_spec(spec: str) -> tuple[str, str | None, str | None]:
    """Split ``NAME``, ``NAME@ALIAS`` or ``NAME/VERSION`` into (name, version, alias).

    Examples
    --------
    >>> parse_model_spec("income@production")
    ('income', None, 'production')
    >>> parse_model_spec("income/3")
    ('income', '3', None)
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ParameterError("model", "model_reference", "NAME, NAME@ALIAS or NAME/VERSION", spec)
    spec = spec.strip()
    if "@" in spec:
        name, alias = spec.split("@", 1)
        if name and alias:
            return name, None, alias
    elif "/" in spec:
        name, version = spec.rsplit("/", 1)
        if name and version.isdigit():
            return name, version, None
    else:
        return spec, None, None
    raise ParameterError("model", "model_reference", "NAME, NAME@ALIAS or NAME/VERSION", spec)


def model_reference(model: str, *, tracking_uri: str | None = None) -> dict[str, Any]:
    """The reference profile registered with a model version, for :func:`detect_drift`.

    Parameters
    ----------
    model
        ``NAME`` (the latest version), ``NAME@ALIAS`` or ``NAME/VERSION``.
    tracking_uri
        The registry to read (default: the configured one).

    Raises
    ------
    ModelNotFoundError
        If the model, version or alias does not exist.

    Examples
    --------
    >>> from modelcycle.monitor import detect_drift, model_reference
    >>> profile = model_reference("income@production")  # doctest: +SKIP
    >>> detect_drift(profile, todays_requests).status  # doctest: +SKIP
    <DriftStatus.STABLE: 'Stable'>
    """
    from modelcycle.registry import Registry

    name, version, alias = parse_model_spec(model)
    loaded = Registry(tracking_uri=tracking_uri).load(name, version=version, alias=alias)
    return dict(loaded.reference_profile)
