"""The gateway's FastAPI application: REST under /v1, ops endpoints, error mapping."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg
from fastapi import FastAPI

from tessera import __version__
from tessera.bus import Bus
from tessera.gateway.api import errors
from tessera.gateway.api.routes import health, workflows
from tessera.gateway.settings import GatewaySettings
from tessera.readmodel.schema import migrate


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        bus = await Bus.connect(settings.nats_url, settings.namespace, name="tessera-gateway")
        await bus.ensure_streams()
        pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=10)
        async with pool.acquire() as conn:
            await migrate(conn)  # the gateway may start before the projector
        app.state.settings, app.state.bus, app.state.pool = settings, bus, pool
        try:
            yield
        finally:
            await pool.close()
            await bus.close()

    app = FastAPI(
        title="Tessera",
        version=__version__,
        summary="Branch-aware, multi-tenant workflow scheduler for whole-slide-image inference",
        description=(
            "Every request carries `X-User-ID: <uuid>` (the tenant). A tenant sees only its own "
            "workflows, jobs and streams; another tenant's ids answer 404."
        ),
        lifespan=lifespan,
    )
    errors.install(app)
    app.include_router(health.router)
    app.include_router(workflows.router)
    return app
