"""The ops endpoint every service serves: `/metrics`, `/healthz` (alive), `/readyz` (can work)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ReadyCheck = Callable[[], bool]


def ops_app(service: str, ready: ReadyCheck) -> Starlette:
    async def metrics(_: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok", "service": service})

    async def readyz(_: Request) -> Response:
        ok = ready()
        return JSONResponse(
            {"status": "ready" if ok else "not ready", "service": service},
            status_code=200 if ok else 503,
        )

    return Starlette(
        routes=[Route("/metrics", metrics), Route("/healthz", healthz), Route("/readyz", readyz)]
    )


@contextlib.asynccontextmanager
async def serve_ops(service: str, host: str, port: int, ready: ReadyCheck):  # type: ignore[no-untyped-def]
    """Serve the ops endpoint in this event loop for the duration of the block (port 0: off)."""
    if not port:
        yield None
        return
    config = uvicorn.Config(
        ops_app(service, ready), host=host, port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        yield server
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 5)
