"""Live view updates for WebSocket clients, fanned out from the projector's announcements.

One core-NATS subscription (`<ns>.view.*`) serves every client of this process. An announcement
only wakes the tenant it names; each tenant with clients has one follower task that reads what
changed since its watermark (one read per wake-up, however many clients) and hands the encoded
updates to every client's bounded queue. A client that lets its queue fill is dropped (it
resumes with its cursor) so that nobody waits for the slowest.

Every update carries `seq`, the log sequence of the workflow's last applied change; updates to a
client are in increasing `seq`, so the last `seq` received is a cursor: reconnecting with
`?cursor=<seq>` first sends every workflow whose last change is later. That holds because the
projector commits whole batches in log order, so whatever one read sees is a prefix of the log.
An update carries the workflow without its jobs, plus its jobs: all of them while a client
catches up (its cursor names the workflows it has seen last, not the jobs), only those changed
after the follower's watermark once it is live (every live client holds everything up to it). A
client merges them by their own `last_seq`, so a 500-job workflow whose running job progresses
costs one job per live update, not 500.
Announcements travel on core NATS and may be lost (a reconnect, a slow consumer): followers also
re-read every `poll_s` seconds, which heals a lost one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import asyncpg
import structlog

from tessera.bus import Bus
from tessera.gateway.api.models import JobView, StreamReady, StreamUpdate, WorkflowView
from tessera.gateway.errors import SlowConsumer, TooManyStreams
from tessera.readmodel import queries

log = structlog.get_logger(__name__)

ALL_JOBS = 0  # `jobs_since` of a catch-up: every job of each workflow

_CLOSED = ""  # sentinel in a client's queue: stop sending


class Subscriber:
    """One client's place in the hub: its cursor and its queue of encoded updates."""

    def __init__(self, cursor: int, queue_size: int) -> None:
        self.cursor = cursor
        self.queue: asyncio.Queue[str] = asyncio.Queue(queue_size)
        self.error: Exception | None = None

    def offer(self, seq: int, text: str) -> None:
        if seq <= self.cursor or self.error is not None:
            return
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.close(SlowConsumer(self.queue.qsize()))
            return
        self.cursor = seq

    def close(self, error: Exception | None = None) -> None:
        """Make the client's stream end at once (raising `error` if given)."""
        self.error = error or self.error
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(_CLOSED)


class _Tenant:
    def __init__(self) -> None:
        self.members = 0  # joining or joined clients; the entry lives while > 0
        self.subscribers: set[Subscriber] = set()
        self.watermark: int | None = None  # every change up to here was offered to everyone
        self.wake = asyncio.Event()
        self.lock = asyncio.Lock()
        self.follower: asyncio.Task[None] | None = None


class ViewHub:
    """Fans the projector's view announcements out to the WebSocket clients of each tenant."""

    def __init__(
        self,
        bus: Bus,
        pool: asyncpg.Pool,
        *,
        page_size: int = 200,
        poll_s: float = 5.0,
        queue_size: int = 256,
        max_connections: int = 5000,
        max_per_tenant: int = 200,
    ) -> None:
        self._bus = bus
        self._pool = pool
        self._page = page_size
        self._poll_s = poll_s
        self._queue_size = queue_size
        self._max_connections = max_connections
        self._max_per_tenant = max_per_tenant
        self._tenants: dict[str, _Tenant] = {}
        self._connections = 0
        self._subscription: Any = None

    @property
    def connections(self) -> int:
        return self._connections

    async def start(self) -> None:
        self._subscription = await self._bus.subscribe(
            self._bus.names.view("*"), self._on_announcement
        )

    async def stop(self) -> None:
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
        for tenant in list(self._tenants.values()):
            if tenant.follower is not None:
                tenant.follower.cancel()
            for sub in tenant.subscribers:
                sub.close()

    async def _on_announcement(self, subject: str, data: bytes) -> None:
        tenant = self._tenants.get(subject.rpartition(".")[2])
        if tenant is not None:
            tenant.wake.set()

    async def stream(self, tenant_id: UUID, cursor: int | None) -> AsyncIterator[str]:
        """The encoded messages for one client: what it missed since `cursor` (nothing when it
        is None: from now on), a `ready` marker, then live updates until it disconnects or is
        dropped (`SlowConsumer`)."""
        key = str(tenant_id)
        tenant = self._tenants.get(key)
        if self._connections >= self._max_connections:
            raise TooManyStreams(self._max_connections, "on this gateway")
        if tenant is not None and tenant.members >= self._max_per_tenant:
            raise TooManyStreams(self._max_per_tenant, "for this tenant")
        if tenant is None:
            tenant = self._tenants[key] = _Tenant()
        tenant.members += 1
        self._connections += 1
        sub: Subscriber | None = None
        try:
            if cursor is None:  # a client that has just read the REST views needs no backlog
                async with self._pool.acquire() as conn:
                    cursor = await queries.latest_change(conn, tenant_id)
            # Catch up outside the tenant's lock: a long backlog to a slow client delays nobody.
            # The catch-up sends every job of each workflow: a cursor says which workflows the
            # client has seen last, not which jobs (one that changed before the cursor may sit in
            # a workflow the client was not sent yet when it dropped).
            while True:
                rows = await self._read(tenant_id, cursor, ALL_JOBS)
                for row in rows:
                    cursor = row["last_seq"]
                    yield _encode(row, ALL_JOBS)
                if len(rows) < self._page:
                    break
            sub = await self._join(tenant, tenant_id, cursor)
            while True:
                text = await sub.queue.get()
                if text == _CLOSED:
                    if sub.error is not None:
                        raise sub.error
                    return
                yield text
        finally:
            tenant.members -= 1
            self._connections -= 1
            if sub is not None:
                tenant.subscribers.discard(sub)
            if tenant.members == 0:
                self._tenants.pop(key, None)
                if tenant.follower is not None:
                    tenant.follower.cancel()

    async def _join(self, tenant: _Tenant, tenant_id: UUID, cursor: int) -> Subscriber:
        """Under the tenant's lock: send what changed during the catch-up, then go live."""
        sub = Subscriber(cursor, self._queue_size)
        async with tenant.lock:
            while True:
                rows = await self._read(tenant_id, sub.cursor, ALL_JOBS)
                for row in rows:
                    sub.offer(row["last_seq"], _encode(row, ALL_JOBS))
                if len(rows) < self._page or sub.error is not None:
                    break
            if tenant.watermark is None:
                tenant.watermark = sub.cursor
            # everything up to the watermark has been read for this client just now
            sub.cursor = max(sub.cursor, tenant.watermark)
            with contextlib.suppress(asyncio.QueueFull):
                sub.queue.put_nowait(StreamReady(seq=sub.cursor).model_dump_json())
            tenant.subscribers.add(sub)
        if tenant.follower is None:
            tenant.follower = asyncio.create_task(self._follow(tenant, tenant_id))
        return sub

    async def _follow(self, tenant: _Tenant, tenant_id: UUID) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(tenant.wake.wait(), self._poll_s)
            tenant.wake.clear()
            try:
                async with tenant.lock:
                    await self._refresh(tenant, tenant_id)
            except Exception:  # a database hiccup must not end the stream: retry soon
                log.exception("view_refresh_failed", tenant_id=str(tenant_id))
                await asyncio.sleep(min(1.0, self._poll_s))

    async def _refresh(self, tenant: _Tenant, tenant_id: UUID) -> None:
        if tenant.watermark is None:
            return
        since = tenant.watermark  # what every subscriber holds: all pages relative to it
        while True:
            rows = await self._read(tenant_id, tenant.watermark, since)
            for row in rows:
                seq = row["last_seq"]
                text = _encode(row, since)  # once, whatever the number of clients
                for sub in list(tenant.subscribers):
                    sub.offer(seq, text)
                tenant.watermark = seq
            if len(rows) < self._page:
                return

    async def _read(self, tenant_id: UUID, since: int, jobs_since: int) -> list[dict[str, Any]]:
        async with self._pool.acquire() as conn:
            return await queries.workflow_changes(
                conn, tenant_id, since=since, limit=self._page, jobs_since=jobs_since
            )


def _encode(row: dict[str, Any], since: int) -> str:
    update = StreamUpdate(
        seq=row["last_seq"],
        workflow=WorkflowView.of(row),
        jobs=[JobView.of(job) for job in row["jobs"]],
        jobs_since=since,
    )
    return update.model_dump_json()
