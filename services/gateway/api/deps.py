"""FastAPI dependencies as `Annotated` aliases: the tenant, settings, bus and read database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated
from uuid import UUID

import asyncpg
from fastapi import Depends, Header, HTTPException, Request

from tessera.bus import Bus
from tessera.gateway.settings import GatewaySettings

TENANT_HEADER = "X-User-ID"


def parse_tenant(raw: str | None) -> UUID:
    """The tenant id of a request: 401 when missing, 400 when not a UUID."""
    if raw is None or not raw.strip():
        raise HTTPException(401, f"the {TENANT_HEADER} header is required (your tenant's UUID)")
    try:
        return UUID(raw.strip())
    except ValueError:
        raise HTTPException(
            400, f"the {TENANT_HEADER} header must be a UUID, got {raw[:64]!r}"
        ) from None


def tenant(x_user_id: Annotated[str | None, Header(alias=TENANT_HEADER)] = None) -> UUID:
    return parse_tenant(x_user_id)


def settings(request: Request) -> GatewaySettings:
    return request.app.state.settings  # type: ignore[no-any-return]


def bus(request: Request) -> Bus:
    return request.app.state.bus  # type: ignore[no-any-return]


async def read_db(request: Request) -> AsyncIterator[asyncpg.Connection]:
    async with request.app.state.pool.acquire() as conn:
        yield conn


TenantDep = Annotated[UUID, Depends(tenant)]
SettingsDep = Annotated[GatewaySettings, Depends(settings)]
BusDep = Annotated[Bus, Depends(bus)]
ReadDbDep = Annotated[asyncpg.Connection, Depends(read_db)]
