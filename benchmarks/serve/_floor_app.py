"""The floor: a FastAPI endpoint that reads and parses the same JSON body and answers a constant.

Whatever a prediction server does beyond this (checking the body against a signature, the model,
logging, metrics) is its overhead. Run by bench_vs_mlflow.py as
``uvicorn --factory _floor_app:create --workers 2``.
"""

from __future__ import annotations

import orjson
from fastapi import FastAPI, Request
from starlette.responses import Response

_ANSWER = orjson.dumps({"predictions": [0]})


def create() -> FastAPI:
    """The app: ``POST /invocations`` parses the body and returns a constant."""
    app = FastAPI()

    @app.post("/invocations")
    async def invocations(request: Request) -> Response:
        orjson.loads(await request.body())
        return Response(_ANSWER, media_type="application/json")

    return app
