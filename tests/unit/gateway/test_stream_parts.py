"""The live stream's pure parts: who the tenant is, the cursor, and a client's bounded queue."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from fastapi import HTTPException, WebSocket

from tessera.gateway.api.deps import stream_cursor, tenant_subprotocol, websocket_tenant
from tessera.gateway.api.errors import close_code
from tessera.gateway.errors import SlowConsumer, TooManyStreams
from tessera.gateway.viewhub import Subscriber

T1, T2 = uuid.uuid4(), uuid.uuid4()


def socket(
    query: str = "", header: str | None = None, protocols: tuple[str, ...] = ()
) -> WebSocket:
    headers = [(b"x-user-id", header.encode())] if header is not None else []
    scope = {
        "type": "websocket",
        "path": "/v1/stream",
        "query_string": query.encode(),
        "headers": headers,
        "subprotocols": list(protocols),
    }

    async def nothing() -> dict:
        return {}

    async def ignore(_: dict) -> None:
        return None

    return WebSocket(scope, nothing, ignore)


@pytest.mark.parametrize(
    "ws",
    [
        socket(header=str(T1)),
        socket(query=f"tenant={T1}"),
        socket(protocols=("json", f"tenant.{T1}")),
        socket(query=f"tenant={T1}", header=str(T1).upper(), protocols=(f"tenant.{T1}",)),
    ],
    ids=["header", "query", "subprotocol", "all-agree"],
)
def test_the_tenant_comes_from_a_header_a_query_or_a_subprotocol(ws: WebSocket) -> None:
    assert websocket_tenant(ws) == T1


@pytest.mark.parametrize(
    ("ws", "status", "needle"),
    [
        (socket(), 401, "tenant is required"),
        (socket(query="tenant="), 401, "tenant' query parameter is required"),
        (socket(query="tenant=bob"), 400, "must be a UUID"),
        (socket(protocols=("tenant.bob",)), 400, "subprotocol must be a UUID"),
        (socket(query=f"tenant={T1}", header=str(T2)), 400, "differ"),
    ],
    ids=["none", "empty", "malformed", "malformed-protocol", "conflict"],
)
def test_a_missing_or_bad_tenant_maps_to_4401_or_4400(
    ws: WebSocket, status: int, needle: str
) -> None:
    with pytest.raises(HTTPException) as raised:
        websocket_tenant(ws)
    assert raised.value.status_code == status
    assert needle in raised.value.detail
    code, reason = close_code(raised.value)
    assert code == 4000 + status
    assert len(reason.encode()) <= 123


def test_the_offered_tenant_subprotocol_is_the_one_echoed() -> None:
    assert tenant_subprotocol(socket(protocols=("json", f"tenant.{T1}"))) == f"tenant.{T1}"
    assert tenant_subprotocol(socket(protocols=("json",))) is None


@pytest.mark.parametrize(
    ("query", "cursor"), [("", 0), ("cursor=", 0), ("cursor=0", 0), ("cursor=1234", 1234)]
)
def test_cursor(query: str, cursor: int) -> None:
    assert stream_cursor(socket(query=query)) == cursor


@pytest.mark.parametrize("query", ["cursor=-1", "cursor=abc", "cursor=1.5", "cursor=" + "9" * 19])
def test_bad_cursor(query: str) -> None:
    with pytest.raises(HTTPException) as raised:
        stream_cursor(socket(query=query))
    assert raised.value.status_code == 400


async def test_a_subscriber_skips_what_it_has_and_is_dropped_when_full() -> None:
    sub = Subscriber(cursor=10, queue_size=2)
    sub.offer(9, "old")
    sub.offer(10, "same")
    sub.offer(11, "a")
    sub.offer(12, "b")
    assert (sub.cursor, sub.queue.qsize(), sub.error) == (12, 2, None)
    sub.offer(13, "c")  # full: dropped at once, nothing more is sent
    assert isinstance(sub.error, SlowConsumer)
    assert [sub.queue.get_nowait()] == [""]
    sub.offer(14, "d")
    assert sub.queue.empty()
    assert close_code(sub.error)[0] == 1013
    assert close_code(TooManyStreams(5, "for this tenant"))[0] == 4429
    await asyncio.sleep(0)
