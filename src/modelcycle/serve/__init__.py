"""The production server: every model with a served alias, over HTTP, following the registry.

* :class:`ModelPool` keeps one loaded version per (model, alias), polls the registry and swaps a
  new version in atomically once it has loaded, verified and warmed up.
* :func:`create_app` is the FastAPI app of one worker (routes, auth, metrics, prediction log);
  :func:`serve` runs it with uvicorn in one or several worker processes.
* :func:`deploy` and :func:`rollback` move an alias and record the move in the metadata store.
* :func:`predict_rows` is the prediction path without HTTP (validation, conversion, model).
  A served version is compiled into NumPy operations when its pipeline allows and the result
  agrees with the pipeline; :class:`Inference` (``ServedModel.inference``) says which path
  predicts and why.

The app and the runner need the ``serve`` extra (FastAPI, uvicorn, prometheus-client); they are
imported on first use, so deploying or rolling back does not.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from modelcycle.serve._compiled import Inference
from modelcycle.serve._deploy import deploy, deployment_record, rollback
from modelcycle.serve._errors import RequestError
from modelcycle.serve._inputs import FORMATS, Batch, Column, InputSpec, parse_batch
from modelcycle.serve._options import ServeOptions
from modelcycle.serve._pool import DeploymentStatus, ModelPool, PoolEvents
from modelcycle.serve._predict import Prediction, ServedModel, predict_body, predict_rows

if TYPE_CHECKING:
    from modelcycle.serve._app import app_factory, create_app
    from modelcycle.serve._run import ServePlan, is_loopback, plan, serve

_LAZY = {
    "app_factory": "modelcycle.serve._app",
    "create_app": "modelcycle.serve._app",
    "ServePlan": "modelcycle.serve._run",
    "is_loopback": "modelcycle.serve._run",
    "plan": "modelcycle.serve._run",
    "serve": "modelcycle.serve._run",
}
_EXTRA_MODULES = ("fastapi", "starlette", "uvicorn", "prometheus_client")

__all__ = [
    "FORMATS",
    "Batch",
    "Column",
    "DeploymentStatus",
    "Inference",
    "InputSpec",
    "ModelPool",
    "PoolEvents",
    "Prediction",
    "RequestError",
    "ServeOptions",
    "ServePlan",
    "ServedModel",
    "app_factory",
    "create_app",
    "deploy",
    "deployment_record",
    "is_loopback",
    "parse_batch",
    "plan",
    "predict_body",
    "predict_rows",
    "rollback",
    "serve",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'modelcycle.serve' has no attribute {name!r}")
    from modelcycle.exceptions import OptionalDependencyError

    try:
        value = getattr(importlib.import_module(module), name)
    except ImportError as exc:
        if exc.name is not None and exc.name.split(".")[0] in _EXTRA_MODULES:
            raise OptionalDependencyError(
                f"modelcycle.serve.{name}", exc.name.split(".")[0], "serve"
            ) from exc
        raise
    globals()[name] = value
    return value
