"""FastAPI dependencies as `Annotated` aliases: the tenant, settings, bus, read database, hub,
and the slide catalogue, open slides and job overlays.

They are `async def` even where nothing awaits: FastAPI runs a plain `def` dependency in a worker
thread, which costs more than the dependency itself on every request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated
from uuid import UUID

import asyncpg
from fastapi import Depends, Header, HTTPException, Path, Query, Request, Security, WebSocket
from fastapi.security import APIKeyHeader

from tessera.bus import Bus
from tessera.gateway.consistency import TOKEN_HEADER, TOKEN_QUERY, Projection
from tessera.gateway.deepzoom import DeepZoomSlides
from tessera.gateway.overlays import JobOverlays
from tessera.gateway.results import Succeeded, SucceededJobs
from tessera.gateway.settings import GatewaySettings
from tessera.gateway.slides import SlideCatalog
from tessera.gateway.viewhub import ViewHub

TENANT_HEADER = "X-User-ID"
TENANT_QUERY = "tenant"
TENANT_SUBPROTOCOL = "tenant."

tenant_header = APIKeyHeader(
    name=TENANT_HEADER,
    scheme_name="tenant",
    description="Your tenant's UUID. Every read and stream is scoped to it.",
    auto_error=False,
)


def parse_tenant(raw: str | None, where: str = f"the {TENANT_HEADER} header") -> UUID:
    """The tenant id of a request: 401 when missing, 400 when not a UUID."""
    if raw is None or not raw.strip():
        raise HTTPException(401, f"{where} is required (your tenant's UUID)")
    try:
        return UUID(raw.strip())
    except ValueError:
        raise HTTPException(400, f"{where} must be a UUID, got {raw[:64]!r}") from None


async def tenant(x_user_id: Annotated[str | None, Security(tenant_header)] = None) -> UUID:
    return parse_tenant(x_user_id)


def tenant_subprotocol(websocket: WebSocket) -> str | None:
    """The `tenant.<uuid>` subprotocol a browser offered, to echo when accepting."""
    for protocol in websocket.scope.get("subprotocols", []):
        if protocol.startswith(TENANT_SUBPROTOCOL):
            return str(protocol)
    return None


def websocket_tenant(websocket: WebSocket) -> UUID:
    """The tenant of a WebSocket: the X-User-ID header, a `tenant` query parameter or a
    `tenant.<uuid>` subprotocol (browsers cannot set headers); all given must agree."""
    given = {
        f"the {TENANT_HEADER} header": websocket.headers.get(TENANT_HEADER),
        f"the {TENANT_QUERY!r} query parameter": websocket.query_params.get(TENANT_QUERY),
    }
    protocol = tenant_subprotocol(websocket)
    if protocol is not None:
        given[f"the {TENANT_SUBPROTOCOL}<uuid> subprotocol"] = protocol[len(TENANT_SUBPROTOCOL) :]
    found = {parse_tenant(raw, where) for where, raw in given.items() if raw is not None}
    if not found:
        raise HTTPException(
            401,
            f"a tenant is required: {TENANT_HEADER} header, ?{TENANT_QUERY}=<uuid> "
            f"or subprotocol {TENANT_SUBPROTOCOL}<uuid>",
        )
    if len(found) > 1:
        raise HTTPException(400, "the tenant ids given in the header, query and subprotocol differ")
    return found.pop()


def stream_cursor(websocket: WebSocket) -> int | None:
    """The `cursor` query parameter: a seq to resume after, or None for `now` (no backlog)."""
    raw = websocket.query_params.get("cursor")
    if raw is None or raw == "":
        return 0
    if raw == "now":
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise HTTPException(
            400, f"cursor must be a non-negative integer (a seq) or 'now', got {raw[:32]!r}"
        )
    return int(raw)


async def settings(request: Request) -> GatewaySettings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def bus(request: Request) -> Bus:
    return request.app.state.bus  # type: ignore[no-any-return]


TOKEN_DOC = (
    "a consistency token (the `X-Tessera-Seq` a write answered): the read is served once the "
    "read models hold that write, waiting up to a couple of seconds (then 503 + Retry-After)"
)


async def consistent(
    request: Request,
    header_seq: Annotated[
        int | None, Header(alias=TOKEN_HEADER, ge=0, le=2**63 - 1, description=TOKEN_DOC)
    ] = None,
    query_seq: Annotated[
        int | None, Query(alias=TOKEN_QUERY, ge=0, le=2**63 - 1, description=TOKEN_DOC)
    ] = None,
) -> None:
    """Read-your-writes: hold a read of the read models until they reach the request's token."""
    seq = max(header_seq or 0, query_seq or 0)
    if seq:
        projection: Projection = request.app.state.projection
        await projection.require(seq, request.app.state.settings.read_wait_s)


async def read_db(
    request: Request, _: Annotated[None, Depends(consistent)]
) -> AsyncIterator[asyncpg.Connection]:
    async with request.app.state.pool.acquire() as conn:
        yield conn


async def read_pool(request: Request, _: Annotated[None, Depends(consistent)]) -> asyncpg.Pool:
    """The read model's pool, for routes that need a connection only now and then."""
    pool: asyncpg.Pool = request.app.state.pool
    return pool


async def own_pool(request: Request) -> asyncpg.Pool:
    """The database pool for the gateway's own table (idempotency keys): no token to wait for."""
    pool: asyncpg.Pool = request.app.state.pool
    return pool


async def projection(request: Request) -> Projection:
    return request.app.state.projection  # type: ignore[no-any-return]


async def hub(websocket: WebSocket) -> ViewHub:
    return websocket.app.state.hub  # type: ignore[no-any-return]


async def catalog(request: Request) -> SlideCatalog:
    return request.app.state.catalog  # type: ignore[no-any-return]


async def deepzoom(request: Request) -> DeepZoomSlides:
    return request.app.state.deepzoom  # type: ignore[no-any-return]


async def overlays(request: Request) -> JobOverlays:
    return request.app.state.overlays  # type: ignore[no-any-return]


TenantDep = Annotated[UUID, Depends(tenant)]
JobId = Annotated[
    str, Path(min_length=1, max_length=64, description="the job's id in its workflow")
]
SettingsDep = Annotated[GatewaySettings, Depends(settings)]
BusDep = Annotated[Bus, Depends(bus)]
ReadDbDep = Annotated[asyncpg.Connection, Depends(read_db)]
ReadPoolDep = Annotated[asyncpg.Pool, Depends(read_pool)]
PoolDep = Annotated[asyncpg.Pool, Depends(own_pool)]
HubDep = Annotated[ViewHub, Depends(hub)]
ProjectionDep = Annotated[Projection, Depends(projection)]
CatalogDep = Annotated[SlideCatalog, Depends(catalog)]
DeepZoomDep = Annotated[DeepZoomSlides, Depends(deepzoom)]
OverlaysDep = Annotated[JobOverlays, Depends(overlays)]


async def succeeded_job(
    request: Request, workflow_id: UUID, job_id: JobId, tenant: TenantDep, pool: ReadPoolDep
) -> Succeeded:
    """The route's job if it SUCCEEDED: 404 for other tenants' jobs, 409 until it succeeds.

    Uses the pool for the one lookup (and not even that once the job is known), so a request that
    then reads files or draws a tile holds no database connection meanwhile."""
    jobs: SucceededJobs = request.app.state.succeeded
    return await jobs.get(pool, tenant, workflow_id, job_id)


SucceededDep = Annotated[Succeeded, Depends(succeeded_job)]
