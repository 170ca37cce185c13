"""The prediction route in raw ASGI: the one route whose per-request cost decides throughput.

For a one-row prediction of a compiled model, FastAPI's routing, dependency solving and
exception middleware cost several times the model. So ``POST /v1/models/{name}/predict`` (and
``/versions/{v}/predict``) are answered by :class:`PredictRoute` before FastAPI routes the
request: headers are read from the ASGI scope, the body straight from ``receive``, and the
answer is sent as two ASGI messages. The FastAPI routes of the same paths stay registered, for
the OpenAPI description and for anyone mounting the app inside another one; they call the same
:meth:`PredictRoute.answer`, so there is one implementation of what a prediction does.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import anyio
import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request

from modelcycle.exceptions import ConfigError, ModelcycleError, ModelNotFoundError, RegistryError
from modelcycle.serve._errors import RequestError
from modelcycle.serve._predict import Prediction, ServedModel, predict_body

if TYPE_CHECKING:
    from modelcycle.serve._app import _Server

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Bodies up to this size are decoded and predicted on the event loop: for a few rows a hop to a
# thread costs more than the work (measured in docs/serve.md, "Tuning").
INLINE_BODY_BYTES = 16 * 1024
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
JSON = "application/json"
#: The scope key under which the app passes the parsed route (model, alias, version) on.
TARGET = "modelcycle.predict"
_PREFIX = "/v1/models/"
_SUFFIX = "/predict"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class Answer(NamedTuple):
    """A response before it is sent: status, JSON body, extra headers."""

    status: int
    content: bytes
    headers: dict[str, str]

    async def send(self, send: Send) -> None:
        """Send it as raw ASGI messages."""
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self.content)).encode()),
        ]
        headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self.headers.items()]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.content})


class _Disconnected(Exception):
    """The client went away before sending its whole body: nothing to answer."""


class PredictRoute:
    """Answers the prediction routes for one worker.

    Parameters
    ----------
    server
        What the routes share (options, pool, keys, metrics, the prediction log).
    """

    def __init__(self, server: _Server) -> None:
        self.server = server
        self.deadlines = Deadlines(min(1.0, server.options.request_timeout / 4))

    @staticmethod
    def target(scope: Scope) -> tuple[str, str | None, str | None] | None:
        """``(model, alias, version)`` if the request is a prediction, else ``None``."""
        if scope["type"] != "http" or scope["method"] != "POST":
            return None
        path: str = scope["path"]
        root = scope.get("root_path")
        if root and path.startswith(root):
            path = path[len(root) :]
        if not (path.startswith(_PREFIX) and path.endswith(_SUFFIX)):
            return None
        parts = path[len(_PREFIX) : -len(_SUFFIX)].split("/")
        if len(parts) == 1 and parts[0]:
            return (*split_alias(parts[0]), None)
        if len(parts) == 3 and parts[0] and parts[1] == "versions" and parts[2]:
            return split_alias(parts[0])[0], None, parts[2]
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        target = scope.get(TARGET) or self.target(scope)
        assert target is not None, "PredictRoute called for another route"
        try:
            answer = await self.answer(scope, receive, *target)
        except _Disconnected:
            return
        except ModelcycleError as exc:  # the registry or the store failing under a request
            answer = error_answer(library_error(exc), request_id_or_none(dict(scope["headers"])))
        except Exception as exc:
            logger.exception("Unhandled error on POST %s", scope["path"])
            answer = internal_error(exc, request_id_or_none(dict(scope["headers"])))
        await answer.send(send)

    async def answer(
        self, scope: Scope, receive: Receive, name: str, alias: str | None, version: str | None
    ) -> Answer:
        """Read, check and predict one request; every refusal becomes its 4xx (or 503)."""
        started = time.perf_counter()
        server = self.server
        options = server.options
        headers: dict[bytes, bytes] = dict(scope["headers"])
        try:
            request_id = request_id_of(headers.get(b"x-request-id"))
        except RequestError as exc:
            return error_answer(exc, None)
        label = ("", "")
        try:
            await server.keys.authorize(Request(scope), "predict")
            check_content_type(headers.get(b"content-type"))
            deadline = time.monotonic() + options.request_timeout
            if version is None:
                served = server.pool.get(name, alias)
            else:
                number = version_number(version)
                loading = anyio.to_thread.run_sync(server.pool.version, name, number)
                served = await self.deadlines.wait(loading, deadline)
            label = (served.name, str(served.version))
            body = await self.deadlines.wait(_read_body(receive), deadline)
            if len(body) <= INLINE_BODY_BYTES:
                batch, result = predict_body(served, body, options.max_batch_rows)
            else:
                # A big batch in a thread, so that it cannot stall the other connections.
                predicting = anyio.to_thread.run_sync(
                    predict_body, served, body, options.max_batch_rows, abandon_on_cancel=True
                )
                batch, result = await self.deadlines.wait(predicting, deadline)
        except RequestError as exc:
            server.metrics.observe(*label, exc.status, 0.0, 0)
            return error_answer(exc, request_id)
        except TimeoutError:
            late = RequestError(
                503,
                "timeout",
                f"The request took longer than {options.request_timeout:g} s. Send smaller "
                "batches, or raise MODELCYCLE_SERVE_REQUEST_TIMEOUT.",
            )
            server.metrics.observe(*label, late.status, 0.0, 0)
            return error_answer(late, request_id)
        used_alias = None if version is not None else alias or options.aliases[0]
        content = dumps(answer_payload(served, used_alias, request_id, result))
        elapsed = time.perf_counter() - started
        if server.log is not None:
            server.log.add(
                served.name,
                served.version,
                used_alias,
                request_id,
                batch.columns,
                result.columns,
                elapsed * 1000.0,
            )
        server.metrics.observe(*label, 200, elapsed, batch.n_rows)
        return Answer(200, content, {"x-request-id": request_id})


class Deadlines:
    """Request timeouts with one timer per worker rather than one per request.

    A timer per request (``asyncio.timeout``) stays allocated until its deadline even when the
    request is answered within a millisecond: at thousands of requests a second, that is
    hundreds of thousands of live objects for the garbage collector to walk. Instead a request
    registers while it awaits (its body, a thread), and a check every ``period`` seconds, run
    only while some request waits, cancels those past their deadline, which then raise
    :class:`TimeoutError`. A deadline is thus kept to within ``period``.

    Parameters
    ----------
    period
        Seconds between checks.
    """

    def __init__(self, period: float) -> None:
        self.period = period
        self._waiting: dict[asyncio.Task[Any], float] = {}
        self._expired: set[asyncio.Task[Any]] = set()
        self._check_handle: asyncio.TimerHandle | None = None

    async def wait(self, awaitable: Awaitable[T], deadline: float) -> T:
        """Await ``awaitable``; raise :class:`TimeoutError` once ``time.monotonic()`` passes
        ``deadline``."""
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - always called from a task
            return await awaitable
        self._waiting[task] = deadline
        if self._check_handle is None:
            self._check_handle = asyncio.get_running_loop().call_later(self.period, self._check)
        try:
            return await awaitable
        except asyncio.CancelledError:
            if task not in self._expired:
                raise
            self._expired.discard(task)
            task.uncancel()
            raise TimeoutError from None
        finally:
            del self._waiting[task]

    def _check(self) -> None:
        self._check_handle = None
        now = time.monotonic()
        for task, deadline in self._waiting.items():
            if deadline <= now and task not in self._expired:
                self._expired.add(task)
                task.cancel()
        if self._waiting:
            self._check_handle = asyncio.get_running_loop().call_later(self.period, self._check)


async def _read_body(receive: Receive) -> bytes:
    """The whole body; its size is bounded by :class:`~modelcycle.serve._app._BodyLimit`, which
    wraps ``receive`` for bodies sent without a length."""
    try:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        body: bytes = message.get("body", b"")
        if not message.get("more_body", False):
            return body  # the usual case: the whole body came with the headers
        chunks = [body]
        while message.get("more_body", False):
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunks.append(message.get("body", b""))
        return b"".join(chunks)
    except HTTPException as exc:
        raise RequestError(exc.status_code, "body_too_large", str(exc.detail)) from None


# -- shared by every route -------------------------------------------------------------------------


def answer_payload(
    served: ServedModel, alias: str | None, request_id: str, result: Prediction
) -> dict[str, Any]:
    """The body of a successful prediction."""
    payload: dict[str, Any] = {
        "model": served.name,
        "version": served.version,
        "alias": alias,
        "request_id": request_id,
        "predictions": result.predictions,
    }
    if result.probabilities is not None:
        payload["probabilities"] = result.probabilities
    return payload


def dumps(payload: Any) -> bytes:
    """JSON bytes of a response body (NumPy values included)."""
    return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


def error_answer(exc: RequestError, request_id: str | None) -> Answer:
    """The answer to a refused request: its JSON shape and the headers its status needs."""
    headers = {"x-request-id": request_id} if request_id else {}
    if exc.status == 401:
        headers["www-authenticate"] = "Bearer"
    elif exc.status == 503:
        headers["retry-after"] = "1"
    return Answer(exc.status, dumps(exc.payload(request_id)), headers)


def library_error(exc: ModelcycleError) -> RequestError:
    """The refusal a library error becomes: a missing model is a 404, a bad setting a 422, a
    registry conflict a 409, anything else (the store or registry unreachable) a 503."""
    status = 503
    if isinstance(exc, ModelNotFoundError):
        status = 404
    elif isinstance(exc, ConfigError):
        status = 422
    elif isinstance(exc, RegistryError):
        status = 409
    code = {404: "not_found", 409: "conflict", 422: "invalid_parameter"}.get(status, "unavailable")
    return RequestError(status, code, str(exc))


def internal_error(exc: BaseException, request_id: str | None) -> Answer:
    """The answer to a bug: a 500 that says so, without the details."""
    error = RequestError(
        500,
        "internal_error",
        f"The server failed on this request ({type(exc).__name__}). This is a bug in "
        "modelcycle: report it with the request id.",
    )
    return error_answer(error, request_id)


def request_id_of(header: bytes | str | None) -> str:
    """The request id a client sent in ``X-Request-ID``, or a new one."""
    if header is None:
        return uuid.uuid4().hex
    given = header.decode("latin-1") if isinstance(header, bytes) else header
    if not REQUEST_ID.match(given):
        raise RequestError(
            400,
            "invalid_request_id",
            "The X-Request-ID header must be 1 to 128 letters, digits or '._:-'. Send such an "
            "id, or leave the header out and the server makes one.",
            field="X-Request-ID",
        )
    return given


def request_id_or_none(headers: dict[bytes, bytes]) -> str | None:
    """The client's request id if it is a valid one (for error answers)."""
    given = headers.get(b"x-request-id")
    text = given.decode("latin-1") if given is not None else None
    return text if text is not None and REQUEST_ID.match(text) else None


def check_content_type(header: bytes | str | None) -> None:
    """Refuse a body that says it is not JSON (no header: assume JSON)."""
    if header is None:
        return
    kind = header.decode("latin-1") if isinstance(header, bytes) else header
    media = kind.partition(";")[0].strip().lower()
    if media != JSON and not media.endswith("+json"):
        raise RequestError(
            415,
            "unsupported_media_type",
            f"The body is sent as {media!r}; the server reads JSON. Send it with "
            "'Content-Type: application/json'.",
            field="Content-Type",
        )


def split_alias(name: str) -> tuple[str, str | None]:
    """``model@alias`` → (model, alias); a plain name → (name, None)."""
    if "@" in name:
        model, _, alias = name.rpartition("@")
        if model and alias:
            return model, alias
    return name, None


def version_number(text: str) -> int:
    """The number in ``/versions/{v}`` (``3`` or ``v3``)."""
    digits = text.removeprefix("v").removeprefix("V")
    if digits.isdigit() and 0 < int(digits) < 2**31:
        return int(digits)
    raise RequestError(
        422,
        "invalid_version",
        f"{text!r} is not a version number. Use the number from `modelcycle models show NAME` "
        "(e.g. /versions/3/predict).",
        field="version",
    )
