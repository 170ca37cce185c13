"""API keys on the request path: who may predict, who may deploy.

Keys are verified by the metadata store (hash looked up by key id, compared in constant time).
Answers are cached for a few seconds, keyed by the key's SHA-256 (never the key itself), so a
busy client costs one store query per interval rather than one per request; a revoked key
stops working within that interval.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from modelcycle.serve._errors import RequestError
from modelcycle.store import KeyInfo, MetadataStore

# Real keys are ~60 characters; anything much longer is refused without touching the store.
_MAX_KEY_LENGTH = 256


class KeyChecker:
    """Checks the ``Authorization: Bearer <key>`` (or ``X-API-Key``) header of requests.

    Parameters
    ----------
    store
        Where keys are verified.
    required
        Whether keys are checked at all. When not, prediction routes are open and admin routes
        are closed (deploying over HTTP always needs an admin key).
    ttl
        Seconds an answer (valid or not) is reused.
    max_entries
        Most answers kept; the oldest go first.
    """

    def __init__(
        self,
        store: MetadataStore,
        *,
        required: bool,
        ttl: float = 5.0,
        max_entries: int = 1024,
    ) -> None:
        self.store = store
        self.required = required
        self.ttl = ttl
        self.max_entries = max_entries
        self._cache: OrderedDict[bytes, tuple[float, KeyInfo | None]] = OrderedDict()
        self._lock = threading.Lock()

    async def authorize(self, request: Request, role: str) -> KeyInfo | None:
        """The caller's key if it may act as ``role``; raise 401 or 403 otherwise.

        Returns ``None`` when keys are not required (and ``role`` is ``"predict"``).
        """
        if not self.required:
            if role == "admin":
                raise RequestError(
                    403,
                    "admin_needs_keys",
                    "Deploying over HTTP needs an admin API key, and this server was started "
                    "without keys. Start it with --require-keys after `modelcycle keys create "
                    "--role admin`, or use `modelcycle deploy` / `modelcycle rollback`.",
                    field="Authorization",
                )
            return None
        key = _key_of(request)
        digest = hashlib.sha256(key.encode()).digest()
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            info = cached[1]
        else:
            info = await run_in_threadpool(self._verify, key)
            with self._lock:
                self._cache[digest] = (now + self.ttl, info)
                self._cache.move_to_end(digest)
                while len(self._cache) > self.max_entries:
                    self._cache.popitem(last=False)
        if info is None:
            raise RequestError(
                401,
                "invalid_key",
                "The API key is not valid (unknown, revoked or mistyped). Send a key from "
                "`modelcycle keys create` as 'Authorization: Bearer <key>'.",
                field="Authorization",
            )
        if not info.allows(role):
            raise RequestError(
                403,
                "forbidden",
                f"The API key {info.key_id} has the role {info.role!r}; this route needs "
                f"{role!r}. Use a key created with `modelcycle keys create --role {role}`.",
                field="Authorization",
            )
        return info

    def _verify(self, key: str) -> KeyInfo | None:
        if len(key) > _MAX_KEY_LENGTH:
            return None
        return self.store.verify_key(key)


def _key_of(request: Request) -> str:
    headers = request.headers
    value = headers.get("authorization")
    if value is not None:
        scheme, _, token = value.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        raise RequestError(
            401,
            "invalid_authorization",
            "The Authorization header must be 'Bearer <key>'. Send the key from "
            "`modelcycle keys create` that way (or as X-API-Key: <key>).",
            field="Authorization",
        )
    value = headers.get("x-api-key")
    if value:
        return value.strip()
    raise RequestError(
        401,
        "missing_key",
        "This server requires an API key. Send 'Authorization: Bearer <key>' with a key from "
        "`modelcycle keys create --role predict`.",
        field="Authorization",
    )
