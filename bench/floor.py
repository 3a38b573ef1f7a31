"""The HTTP floor: a bare Starlette endpoint answering the bytes of a cached catalog page.

`uvicorn bench.floor:create_app --factory` (started like the service: uvloop, httptools). The body
is the service's own answer, saved by the bench to the file named by BENCH_FLOOR_DATA, so both
send the same bytes; what the ratio measures is everything the service does on top of HTTP.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route


def create_app() -> Starlette:
    body = Path(os.environ["BENCH_FLOOR_DATA"]).read_bytes()

    async def graphql(request: Request) -> Response:
        await request.body()
        return Response(body, media_type="application/json")

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/graphql", graphql, methods=["GET", "POST"]), Route("/healthz", healthz)])
