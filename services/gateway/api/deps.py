"""FastAPI dependencies as `Annotated` aliases: the tenant, settings, bus, read database, hub,
authentication, and the slide catalogue, open slides and job overlays.

They are `async def` even where nothing awaits: FastAPI runs a plain `def` dependency in a worker
thread, which costs more than the dependency itself on every request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated
from uuid import UUID

import asyncpg
from fastapi import Depends, Header, HTTPException, Path, Query, Request, Security, WebSocket
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from tessera.bus import Bus
from tessera.gateway.auth import Authentication, agree, bearer_token
from tessera.gateway.cells import CellIndexes
from tessera.gateway.consistency import SEQ_HEADER, SEQ_QUERY, Projection
from tessera.gateway.deepzoom import DeepZoomSlides
from tessera.gateway.errors import Unauthenticated
from tessera.gateway.overlays import JobOverlays
from tessera.gateway.results import Succeeded, SucceededJobs
from tessera.gateway.settings import GatewaySettings
from tessera.gateway.slides import SlideCatalog
from tessera.gateway.viewhub import ViewHub

TENANT_HEADER = "X-User-ID"
TENANT_QUERY = "tenant"
TENANT_SUBPROTOCOL = "tenant."
BEARER_SUBPROTOCOL = "bearer."
TOKEN_QUERY = "access_token"

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


bearer = HTTPBearer(
    scheme_name="bearer",
    description="With TESSERA_GATEWAY_AUTH=token or jwt: your API token or OIDC access token "
    "(GET /v1/auth says which). It names the tenant; X-User-ID may then be left out.",
    auto_error=False,
)


def claimed_tenant(raw: str | None) -> UUID | None:
    """The tenant an X-User-ID beside a credential names (None when there is none)."""
    return None if raw is None or not raw.strip() else parse_tenant(raw)


async def tenant(
    request: Request,
    x_user_id: Annotated[str | None, Security(tenant_header)] = None,
    _: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None,
) -> UUID:
    """The request's tenant: the authenticated one (the auth middleware checked the
    credential), or in `header` mode the X-User-ID as sent."""
    authenticated: UUID | None = getattr(request.state, "tenant", None)
    if authenticated is not None:
        return authenticated
    if request.app.state.auth.verifies:  # a route the middleware did not cover: refuse
        raise Unauthenticated("this gateway needs a credential: send `Authorization: Bearer`")
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
    found = websocket_claimed_tenant(websocket)
    if found is None:
        raise HTTPException(
            401,
            f"a tenant is required: {TENANT_HEADER} header, ?{TENANT_QUERY}=<uuid> "
            f"or subprotocol {TENANT_SUBPROTOCOL}<uuid>",
        )
    return found


def websocket_claimed_tenant(websocket: WebSocket) -> UUID | None:
    """The tenant a WebSocket names, if any, in whichever ways it does (all must agree)."""
    given = {
        f"the {TENANT_HEADER} header": websocket.headers.get(TENANT_HEADER),
        f"the {TENANT_QUERY!r} query parameter": websocket.query_params.get(TENANT_QUERY),
    }
    protocol = tenant_subprotocol(websocket)
    if protocol is not None:
        given[f"the {TENANT_SUBPROTOCOL}<uuid> subprotocol"] = protocol[len(TENANT_SUBPROTOCOL) :]
    found = {parse_tenant(raw, where) for where, raw in given.items() if raw is not None}
    if len(found) > 1:
        raise HTTPException(400, "the tenant ids given in the header, query and subprotocol differ")
    return found.pop() if found else None


def websocket_token(websocket: WebSocket) -> str | None:
    """A WebSocket's credential: the Authorization header, a `bearer.<token>` subprotocol
    (never echoed back) or an `access_token` query parameter (kept out of the logs)."""
    header = bearer_token(websocket.headers.get("authorization"))
    if header is not None:
        return header
    for protocol in websocket.scope.get("subprotocols", []):
        if protocol.startswith(BEARER_SUBPROTOCOL) and len(protocol) > len(BEARER_SUBPROTOCOL):
            return str(protocol[len(BEARER_SUBPROTOCOL) :])
    # taken out of the query string before it could be logged (middleware.auth)
    hidden: str | None = getattr(websocket.state, TOKEN_QUERY, None)
    return hidden or websocket.query_params.get(TOKEN_QUERY) or None


async def stream_tenant(websocket: WebSocket) -> UUID:
    """The tenant of a live stream, authenticated as the gateway's mode asks."""
    gate: Authentication = websocket.app.state.auth
    if not gate.verifies:
        return websocket_tenant(websocket)
    address = websocket.client.host if websocket.client else "unknown"
    tenant = await gate.authenticate(address, websocket_token(websocket))
    return agree(tenant, websocket_claimed_tenant(websocket))


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


async def authentication(request: Request) -> Authentication:
    return request.app.state.auth  # type: ignore[no-any-return]


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
        int | None, Header(alias=SEQ_HEADER, ge=0, le=2**63 - 1, description=TOKEN_DOC)
    ] = None,
    query_seq: Annotated[
        int | None, Query(alias=SEQ_QUERY, ge=0, le=2**63 - 1, description=TOKEN_DOC)
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
AuthDep = Annotated[Authentication, Depends(authentication)]
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


async def cell_indexes(request: Request) -> CellIndexes:
    return request.app.state.cells  # type: ignore[no-any-return]


CellIndexesDep = Annotated[CellIndexes, Depends(cell_indexes)]
