"""The HTTP API (FastAPI): routes, error handling, request logging and the worker's life cycle.

Every route answers JSON. Anything a client can fix gets a 4xx whose body names the field and
the fix (``{"error", "message", "field", "request_id"}``); a 5xx means the server itself could
not answer (a model still loading, the store unreachable, a bug).

The prediction routes are answered in raw ASGI before FastAPI routes the request
(:mod:`modelcycle.serve._route`): they read the body and decode it with orjson rather than
through a pydantic model, since validation against the model's signature happens once, in
:mod:`modelcycle.serve._inputs`. Small bodies are predicted on the event loop; larger ones in a
worker thread, so one big batch cannot stall the other connections (and can be timed out).
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import datetime
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, JsonValue
from starlette.exceptions import HTTPException
from starlette.responses import Response

from modelcycle.config import Settings, get_settings
from modelcycle.exceptions import (
    ModelcycleError,
    StoreError,
)
from modelcycle.registry import Registry
from modelcycle.serve._auth import KeyChecker
from modelcycle.serve._deploy import deploy, deployment_record, rollback
from modelcycle.serve._errors import RequestError
from modelcycle.serve._inputs import FORMATS
from modelcycle.serve._metrics import ServerMetrics
from modelcycle.serve._options import ServeOptions
from modelcycle.serve._pool import DeploymentStatus, ModelPool, PoolEvents
from modelcycle.serve._predict import ServedModel
from modelcycle.serve._route import (
    JSON,
    REQUEST_ID,
    TARGET,
    Answer,
    PredictRoute,
    dumps,
    error_answer,
    internal_error,
    library_error,
    request_id_of,
    split_alias,
)
from modelcycle.store import Deployment, LogWriter, MetadataStore

logger = logging.getLogger(__name__)


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]


# -- request and response bodies (documentation and validation of the small routes) -------------


class FeedbackItem(BaseModel):
    """The true value of one row of an earlier prediction request."""

    model_config = ConfigDict(extra="forbid")
    request_id: str = Field(min_length=1, max_length=128, description="The prediction's id.")
    actual: JsonValue = Field(description="The ground truth for that row.")
    row: int = Field(0, ge=0, le=10_000_000, description="The row of the batch (0 for one row).")


class FeedbackRequest(BaseModel):
    """Ground truth for earlier predictions, matched to them by request id and row."""

    model_config = ConfigDict(extra="forbid")
    feedback: list[FeedbackItem] = Field(min_length=1)


class DeployRequest(BaseModel):
    """Which version the alias should point at."""

    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1)
    alias: str = Field("production", min_length=1, max_length=64, pattern=r"^[\w\-]+$")
    reason: str | None = Field(None, max_length=1000)


class RollbackRequest(BaseModel):
    """Which alias to roll back."""

    model_config = ConfigDict(extra="forbid")
    alias: str = Field("production", min_length=1, max_length=64, pattern=r"^[\w\-]+$")
    reason: str | None = Field(None, max_length=1000)


class PredictResponse(BaseModel):
    """What ``/predict`` answers."""

    model: str
    version: int
    alias: str | None
    request_id: str
    predictions: list[Any]
    probabilities: list[dict[str, float]] | None = Field(
        None, description="Per row, each class's probability (classifiers only)."
    )


class ErrorResponse(BaseModel):
    """Every error: a short code, the message (cause and fix), the field at fault."""

    error: str
    message: str
    field: str | None = None
    row: int | None = None
    request_id: str | None = None


_ROWS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {"type": "object", "additionalProperties": True},
    "description": "Rows, each an object of column values.",
}
_PREDICT_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        JSON: {
            "schema": {
                "type": "object",
                "description": (
                    "Exactly one of inputs, dataframe_records, dataframe_split or instances "
                    "(MLflow's scoring formats)."
                ),
                "properties": {
                    "inputs": {
                        "oneOf": [
                            _ROWS_SCHEMA,
                            {
                                "type": "object",
                                "additionalProperties": {"type": "array"},
                                "description": "Columns, each a list of values.",
                            },
                        ]
                    },
                    "dataframe_records": _ROWS_SCHEMA,
                    "dataframe_split": {
                        "type": "object",
                        "properties": {
                            "columns": {"type": "array", "items": {"type": "string"}},
                            "data": {"type": "array", "items": {"type": "array"}},
                            "index": {"type": "array"},
                        },
                        "required": ["columns", "data"],
                    },
                    "instances": _ROWS_SCHEMA,
                    "params": {"type": "object", "description": "Ignored."},
                },
                "example": {"inputs": [{"column": 1.0}]},
            }
        }
    },
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 413, 415, 422, 503)
}
_SECURITY: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}]


# -- the server ------------------------------------------------------------------------------------


class _Events(PoolEvents):
    """The pool's events for a server: its metrics, and the garbage collector's freeze.

    Once every deployment has loaded, what exists then (libraries, models) is moved out of the
    collector's generations: a full collection walks every tracked object, and with the
    libraries a model needs that took hundreds of milliseconds, often enough under load to set
    the p99 latency. Objects frozen stay freed by reference counting; versions loaded later
    are collected as usual.
    """

    def __init__(self, metrics: ServerMetrics) -> None:
        self.metrics = metrics
        self.pool: ModelPool | None = None
        self.frozen = False

    def polled(self, ok: bool) -> None:
        self.metrics.polled(ok)
        if not self.frozen and self.pool is not None and self.pool.ready:
            self.frozen = True
            gc.collect()  # garbage of the loads is not worth keeping forever
            gc.freeze()

    def swapped(self, model: str, alias: str, old: int | None, new: int) -> None:
        self.metrics.swapped(model, alias, old, new)

    def load_failed(self, model: str, alias: str, version: int) -> None:
        self.metrics.load_failed(model, alias, version)

    def retired(self, model: str, alias: str) -> None:
        self.metrics.retired(model, alias)


class _Server:
    """What the routes share: options, pool, log writer, keys, metrics."""

    def __init__(
        self, settings: Settings, registry: Registry | None, store: MetadataStore | None
    ) -> None:
        self.settings = settings
        self.options = ServeOptions.from_settings(settings)
        self.registry = registry if registry is not None else Registry()
        self.store = store if store is not None else MetadataStore()
        self.metrics = ServerMetrics()
        events = _Events(self.metrics)
        self.pool = ModelPool(
            self.registry,
            aliases=self.options.aliases,
            poll_interval=self.options.poll_interval,
            events=events,
        )
        events.pool = self.pool
        self.keys = KeyChecker(self.store, required=self.options.require_keys)
        self.writer: LogWriter | None = None
        self.log: _LogBatcher | None = None

    def start(self) -> None:
        _pin_threads()
        if self.options.log_predictions:
            self.writer = LogWriter(
                self.settings.effective_log_dir,
                max_queue=self.options.log_queue,
                flush_rows=self.options.log_flush_rows,
                flush_interval=self.options.log_flush_interval,
            )
            self.metrics.follow_log(self.writer)
            self.log = _LogBatcher(self.writer)
        self.pool.start()

    def stop(self) -> None:
        self.pool.close()
        if self.log is not None:
            self.log.flush()
        if self.writer is not None:
            try:
                # Uvicorn has finished every request by now: this writes all that they logged.
                self.writer.close(timeout=max(30.0, self.options.request_timeout))
            except StoreError as exc:
                logger.error("%s", exc)
            self.metrics.sync_log()
        self.store.close()


class _LogBatcher:
    """Hands logged requests to the log writer in bursts rather than one by one.

    Each hand-over to the writer's thread wakes it, and that wake-up (a GIL hand-off between two
    threads) cost more than the rest of the logging; collecting requests on the event loop for a
    few milliseconds makes it one wake-up per burst. Used from the event loop's thread only.
    """

    def __init__(self, writer: LogWriter, interval: float = 0.02, burst: int = 256) -> None:
        self.writer = writer
        self.interval = interval
        self.burst = burst
        self._items: list[tuple[Any, ...]] = []
        self._timer: asyncio.TimerHandle | None = None

    def add(self, *item: Any) -> None:
        self._items.append(item)
        if len(self._items) >= self.burst:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.interval, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        items, self._items = self._items, []
        for item in items:
            # Never blocks: a full queue drops the rows and counts them (log_rows_dropped).
            self.writer.log_prediction(*item)


def _pin_threads() -> None:
    """One math thread per worker: workers are the parallelism, and BLAS or OpenMP threads on
    top of them oversubscribe the cores and collapse throughput."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn depends on threadpoolctl
        return
    threadpool_limits(limits=1)


class _App(FastAPI):
    """FastAPI, with the prediction routes answered before routing.

    Routing, dependency solving and the exception middleware cost more than a compiled model's
    one-row prediction; :class:`~modelcycle.serve._route.PredictRoute` answers those two routes
    in raw ASGI (behind the same body limit) and everything else goes through FastAPI.
    """

    predict_route: ASGIApp | None = None

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        fast = self.predict_route
        if fast is not None:
            target = PredictRoute.target(scope)
            if target is not None:
                scope[TARGET] = target
                await fast(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings | None = None,
    *,
    registry: Registry | None = None,
    store: MetadataStore | None = None,
) -> FastAPI:
    """The server as an ASGI app (one worker's worth).

    Parameters
    ----------
    settings
        ``None`` reads the environment (``MODELCYCLE_*``); the ``serve_*`` fields configure
        the server.
    registry, store
        Default to the ones the settings name.

    Raises
    ------
    ConfigError
        If a ``serve_*`` setting is out of range.

    Examples
    --------
    Run it with any ASGI server; ``modelcycle serve`` adds the start-up checks (keys required
    off loopback) and several workers::

        uvicorn --factory modelcycle.serve:create_app
    """
    server = _Server(settings or get_settings(), registry, store)
    options = server.options

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        server.start()
        try:
            yield
        finally:
            server.stop()

    app = _App(
        title="modelcycle",
        summary="Predictions from the registered models, following their aliases.",
        version=_version(),
        lifespan=lifespan,
    )
    app.state.modelcycle = server
    app.add_middleware(_BodyLimit, limit=options.max_body_bytes)
    _install_handlers(app)
    _add_security_schemes(app)

    # -- prediction -------------------------------------------------------------------------

    # Answered before routing by _App (see _route.py); these routes describe it in the OpenAPI
    # schema and serve an app mounted inside another one.
    route = PredictRoute(server)
    app.predict_route = _BodyLimit(route, limit=options.max_body_bytes)

    async def run_predict(
        request: Request, name: str, alias: str | None, version: str | None
    ) -> Response:
        return _response(await route.answer(request.scope, request.receive, name, alias, version))

    @app.post(
        "/v1/models/{name}/predict",
        tags=["predict"],
        summary="Predict with the version an alias points at",
        description=(
            "`name` is a model (served under `production`) or `model@alias`. The body holds the "
            f"rows in one of: {', '.join(FORMATS)}."
        ),
        response_model=PredictResponse,
        responses=_ERRORS,
        openapi_extra={"requestBody": _PREDICT_BODY, "security": _SECURITY},
    )
    async def predict(name: str, request: Request) -> Response:
        model, alias = split_alias(name)
        return await run_predict(request, model, alias, None)

    @app.post(
        "/v1/models/{name}/versions/{version}/predict",
        tags=["predict"],
        summary="Predict with one version of a served model",
        response_model=PredictResponse,
        responses=_ERRORS,
        openapi_extra={"requestBody": _PREDICT_BODY, "security": _SECURITY},
    )
    async def predict_version(name: str, version: str, request: Request) -> Response:
        return await run_predict(request, split_alias(name)[0], None, version)

    @app.post(
        "/v1/models/{name}/feedback",
        tags=["predict"],
        summary="Send the ground truth of earlier predictions",
        status_code=202,
        responses=_ERRORS,
        openapi_extra={"security": _SECURITY},
    )
    async def feedback(name: str, body: FeedbackRequest, request: Request) -> Response:
        request_id = _request_id(request)
        await server.keys.authorize(request, "predict")
        model = split_alias(name)[0]
        if model not in server.pool.models():
            server.pool.get(model)  # raises the 404 that lists what is served
        if len(body.feedback) > options.max_batch_rows:
            raise RequestError(
                413,
                "batch_too_large",
                f"{len(body.feedback)} feedback items is more than the limit of "
                f"{options.max_batch_rows}. Send them in smaller batches.",
                field="feedback",
            )
        if server.writer is not None:
            grouped: dict[str, tuple[list[Any], list[int]]] = {}
            for item in body.feedback:
                actuals, rows = grouped.setdefault(item.request_id, ([], []))
                actuals.append(item.actual)
                rows.append(item.row)
            for rid, (actuals, rows) in grouped.items():
                if not server.writer.log_feedback(model, rid, actuals, rows=rows):
                    raise RequestError(
                        503,
                        "log_full",
                        "The feedback log's queue is full; nothing after the first "
                        f"{len(grouped)} request ids was kept. Retry in a moment.",
                    )
        payload = {"accepted": len(body.feedback), "request_id": request_id}
        return Response(dumps(payload), 202, media_type=JSON)

    # -- models -----------------------------------------------------------------------------

    @app.get("/v1/models", tags=["models"], summary="The models served and their versions")
    async def list_models(request: Request) -> Response:
        await server.keys.authorize(request, "predict")
        statuses = server.pool.status()
        models = [
            {"name": m, "deployments": [_status(s) for s in statuses if s.model == m]}
            for m in server.pool.models()
        ]
        payload = {
            "models": models,
            "aliases": list(options.aliases),
            "polled_at": _iso(server.pool.polled_at),
            "poll_error": server.pool.poll_error,
        }
        return Response(dumps(payload), media_type=JSON)

    @app.get(
        "/v1/models/{name}",
        tags=["models"],
        summary="One model: versions served, load status, last error, inputs",
        responses=_ERRORS,
    )
    async def show_model(name: str, request: Request) -> Response:
        await server.keys.authorize(request, "predict")
        model, alias = split_alias(name)
        statuses = [s for s in server.pool.status(model) if alias in (None, s.alias)]
        if not statuses:
            server.pool.get(model, alias)  # raises the 404 that lists what is served
        served = _any_loaded(server.pool, statuses)
        payload: dict[str, Any] = {
            "name": model,
            "deployments": [_status(s) for s in statuses],
        }
        if served is not None:
            payload["inputs"] = served.spec.describe()
            payload["classes"] = list(served.classes) if served.classes else None
        return Response(dumps(payload), media_type=JSON)

    @app.post(
        "/v1/models/{name}/deploy",
        tags=["admin"],
        summary="Point an alias at a version (admin key)",
        responses=_ERRORS,
        openapi_extra={"security": _SECURITY},
    )
    def deploy_route(name: str, body: DeployRequest, request: Request) -> Response:
        return _move(server, request, body.alias, body.reason, deploy, name, body.version)

    @app.post(
        "/v1/models/{name}/rollback",
        tags=["admin"],
        summary="Point an alias back at its previous version (admin key)",
        responses=_ERRORS,
        openapi_extra={"security": _SECURITY},
    )
    def rollback_route(name: str, body: RollbackRequest, request: Request) -> Response:
        return _move(server, request, body.alias, body.reason, rollback, name)

    # -- operations ---------------------------------------------------------------------------

    @app.get("/healthz", tags=["operations"], summary="The process is up")
    async def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type=JSON)

    @app.get(
        "/readyz",
        tags=["operations"],
        summary="Every deployment has a version loaded (503 until then)",
        responses={503: {"description": "Not ready yet"}},
    )
    async def readyz() -> Response:
        pool = server.pool
        waiting = [f"{s.model}@{s.alias}" for s in pool.status() if s.version is None]
        ready = pool.ready
        payload = {"ready": ready, "models": len(pool.models()), "waiting": waiting}
        if pool.polled_at is None:
            payload["poll_error"] = pool.poll_error
        return Response(dumps(payload), 200 if ready else 503, media_type=JSON)

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics")
    async def metrics() -> Response:
        content, content_type = server.metrics.render()
        return Response(content, media_type=content_type)

    return app


def app_factory() -> FastAPI:
    """The app as configured by the environment, for ``uvicorn --factory`` and the workers of
    ``modelcycle serve``."""
    return create_app()


# -- helpers ---------------------------------------------------------------------------------------


def _response(answer: Answer) -> Response:
    return Response(answer.content, answer.status, answer.headers, media_type=JSON)


def _error(exc: RequestError, request_id: str | None) -> Response:
    return _response(error_answer(exc, request_id))


def _request_id(request: Request) -> str:
    return request_id_of(request.headers.get("x-request-id"))


def _any_loaded(pool: ModelPool, statuses: list[DeploymentStatus]) -> ServedModel | None:
    for status in statuses:
        try:
            return pool.get(status.model, status.alias)
        except RequestError:
            continue
    return None


def _status(status: DeploymentStatus) -> dict[str, Any]:
    out = asdict(status)
    out["loaded_at"] = _iso(status.loaded_at)
    return out


def _move(
    server: _Server,
    request: Request,
    alias: str,
    reason: str | None,
    action: Callable[..., Deployment],
    *args: Any,
) -> Response:
    """Run ``deploy`` or ``rollback`` for an admin key; answer once this worker serves the move
    (the other workers and replicas follow on their next poll)."""
    key = anyio.from_thread.run(server.keys.authorize, request, "admin")
    move = action(
        *args,
        alias=alias,
        actor=f"key:{key.key_id}" if key else None,
        reason=reason,
        registry=server.registry,
        store=server.store,
    )
    server.pool.poll()
    status = server.pool.settle(
        move.model, move.alias, int(move.version), server.options.request_timeout
    )
    payload = deployment_record(move)
    payload["serving"] = _status(status) if status is not None else None
    return Response(dumps(payload), media_type=JSON)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _version() -> str:
    from modelcycle import __version__

    return __version__


# -- errors ----------------------------------------------------------------------------------------


def _install_handlers(app: FastAPI) -> None:
    """Every failure becomes the same JSON shape; nothing a client sends can produce a 5xx."""

    def request_id(request: Request) -> str | None:
        given = request.headers.get("x-request-id")
        return given if given is not None and REQUEST_ID.match(given) else None

    async def on_request_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestError)
        return _error(exc, request_id(request))

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return _error(_from_validation(exc), request_id(request))

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = str(exc.detail)
        if exc.status_code == 404:
            message = f"No route {request.url.path!r}. See /docs for the API."
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path!r}. See /docs."
        error = RequestError(exc.status_code, code, message)
        response = _error(error, request_id(request))
        response.headers.update(exc.headers or {})
        return response

    async def on_library(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ModelcycleError)
        return _error(library_error(exc), request_id(request))

    async def on_bug(request: Request, exc: Exception) -> Response:
        logger.exception("Unhandled error on %s %s", request.method, request.url.path)
        return _response(internal_error(exc, request_id(request)))

    app.add_exception_handler(RequestError, on_request_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(ModelcycleError, on_library)
    app.add_exception_handler(Exception, on_bug)


_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


def _from_validation(exc: RequestValidationError) -> RequestError:
    errors = exc.errors()
    first = errors[0] if errors else {}
    location = [str(part) for part in first.get("loc", ()) if part != "body"]
    field = ".".join(location) or "body"
    kind = str(first.get("type", ""))
    if kind == "json_invalid":
        return RequestError(
            400,
            "malformed_json",
            "The request body is not valid JSON. Send a JSON object; see /docs for its fields.",
        )
    message = str(first.get("msg", "invalid value"))
    return RequestError(
        422,
        "invalid_field",
        f"The field {field!r} is invalid: {message}. See /docs for what this route takes.",
        field=field,
    )


class _BodyLimit:
    """Refuses bodies over the limit before reading them, whatever the route (pure ASGI)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, value in scope["headers"]:
            if key == b"content-length":
                if not value.isdigit() or int(value) > self.limit:
                    await self._refuse(scope, send, value.decode("latin-1"))
                    return
                break
        else:
            # A chunked body has no length up front: count it as it arrives.
            receive = self._counted(receive)
        await self.app(scope, receive, send)

    def _counted(
        self, receive: Callable[[], Awaitable[Message]]
    ) -> Callable[[], Awaitable[Message]]:
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise HTTPException(413, self._message(f"more than {self.limit}"))
            return message

        return counted

    def _message(self, size: str) -> str:
        return (
            f"The request body ({size} bytes) is over this server's limit of {self.limit} "
            "bytes. Send smaller batches (or raise MODELCYCLE_SERVE_MAX_BODY_BYTES)."
        )

    async def _refuse(
        self, scope: Scope, send: Callable[[Message], Awaitable[None]], size: str
    ) -> None:
        status, code = (413, "body_too_large") if size.isdigit() else (400, "bad_request")
        message = self._message(size) if size.isdigit() else "Content-Length is not a number."
        body = dumps(RequestError(status, code, message, field="Content-Length").payload(None))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", JSON.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _add_security_schemes(app: FastAPI) -> None:
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = base()
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
