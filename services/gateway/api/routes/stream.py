"""WS /v1/stream: the tenant's workflows, live, resumable from a cursor.

Browsers cannot set headers on a WebSocket, so the tenant may come as the X-User-ID header, a
`?tenant=<uuid>` query parameter or a `tenant.<uuid>` subprotocol (echoed back on accept). With
token or jwt authentication the credential comes as the Authorization header, a `bearer.<token>`
subprotocol (never echoed: offer `tenant.<uuid>` beside it, as browsers want one echoed) or an
`?access_token=` query parameter. The handshake is always accepted so that a refusal reaches the
client as a close code it can read (4401 no tenant or no valid credential, 4403 another tenant
than the credential's, 4400 malformed, 4429 rate limited or too many streams, 1013 fell behind).

Messages (JSON): `{"type": "workflow", "seq", "workflow": {...}, "jobs": [...], "jobs_since"}`
for each changed workflow (without its jobs; `jobs` are those that changed after `jobs_since`,
all of them during the catch-up, which the client merges by their `last_seq`) and, once the
missed ones were sent,
`{"type": "ready", "seq"}`. Reconnect with `?cursor=<last seq>`.
`?cursor=now` skips the backlog (the client loads the REST views after `ready`, so nothing
falls between the two); no cursor means 0: every workflow of the tenant first.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import APIRouter, WebSocket

from tessera.gateway.api import errors
from tessera.gateway.api.deps import (
    HubDep,
    stream_cursor,
    stream_tenant,
    tenant_subprotocol,
)
from tessera.gateway.errors import RateLimited

router = APIRouter(tags=["stream"])

GOING_AWAY = 1001


@router.websocket("/stream")
async def stream(websocket: WebSocket, hub: HubDep) -> None:
    await websocket.accept(subprotocol=tenant_subprotocol(websocket))
    async with errors.closing_on_error(websocket):
        tenant = await stream_tenant(websocket)
        cursor = stream_cursor(websocket)
        state = websocket.app.state
        if state.limiter is not None:  # the connection counts as one API call
            verdict = await state.limiter.acquire(str(tenant), (state.rate_policy.api,))
            if not verdict.allowed:
                raise RateLimited(verdict)
        if await _pump(websocket, hub.stream(tenant, cursor)):
            await websocket.close(GOING_AWAY, "the gateway is shutting down; resume with a cursor")


async def _pump(websocket: WebSocket, messages: AsyncIterator[str]) -> bool:
    """Send `messages` until they end (True) or the client leaves (False)."""

    async def send_all() -> None:
        async with contextlib.aclosing(messages):  # type: ignore[type-var]
            async for text in messages:
                await websocket.send_text(text)

    async def until_disconnect() -> None:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass  # clients have nothing to say; the protocol's pings keep the line alive

    sender = asyncio.create_task(send_all())
    receiver = asyncio.create_task(until_disconnect())
    try:
        done, _ = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sender, receiver):
            task.cancel()
        await asyncio.gather(sender, receiver, return_exceptions=True)
    if sender in done:
        sender.result()  # SlowConsumer and friends become close codes
        return True
    return False
