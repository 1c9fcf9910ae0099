"""Read-your-writes: a write's consistency token is the log sequence it produced; a read that
carries one is served once the read models hold the log up to it.

The projector announces its checkpoint on core NATS (`<ns>.projected`) after every committed
batch; `Projection` keeps the highest one this process has heard and wakes the reads waiting for
it, so a read waits for an event rather than polling. Announcements may be lost (core NATS, a
reconnect): a waiting read re-reads the checkpoint from PostgreSQL every `recheck_s`, so a lost
one costs that much time, never a wrong answer. Nothing here is needed for correctness across
gateway replicas: the token carries the position, and the checkpoint is in the database.

A read of a workflow that the read models do not hold asks the log before it answers 404: if the
tenant's `WorkflowSubmitted` for that id is there (a client that submitted and reads at once,
without the token, through any replica), the read waits for its sequence like a token's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any
from uuid import UUID

import asyncpg
import structlog
from fastapi import Response

from tessera.bus import Bus
from tessera.events import event_subject
from tessera.gateway.errors import NotProjected, UnknownToken
from tessera.readmodel import queries

log = structlog.get_logger(__name__)

SEQ_HEADER = "X-Tessera-Seq"
SEQ_QUERY = "min_seq"
RECHECK_S = 0.2


async def log_position(bus: Bus) -> int:
    """The log's last sequence: the token of a write that appends no event (BusError when the
    log does not answer, so that the write is refused before it changes anything)."""
    return await bus.last_sequence()


def give_token(response: Response, seq: int) -> int:
    """Answer a write with its consistency token in the header (the body carries it too)."""
    response.headers[SEQ_HEADER] = str(seq)
    return seq


class Projection:
    """How far the read models reach, as this process last heard, and reads waiting for more."""

    def __init__(self, bus: Bus, pool: asyncpg.Pool, *, recheck_s: float = RECHECK_S) -> None:
        self._bus = bus
        self._pool = pool
        self._recheck_s = recheck_s
        self._advanced = asyncio.Event()  # replaced on every advance: set wakes its waiters
        self._subscription: Any = None
        self.seq = 0

    async def start(self) -> None:
        self._subscription = await self._bus.subscribe(
            self._bus.names.projected, self._on_announcement
        )
        await self.refresh()

    async def stop(self) -> None:
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()

    async def refresh(self) -> None:
        async with self._pool.acquire() as conn:
            self._advance(await queries.projected_seq(conn))

    async def _on_announcement(self, subject: str, data: bytes) -> None:
        try:
            seq = int(json.loads(data)["seq"])
        except (ValueError, KeyError, TypeError):
            log.warning("bad_projection_announcement", data=data[:200])
            return
        self._advance(seq)

    def _advance(self, seq: int) -> None:
        if seq > self.seq:
            self.seq = seq
            self._advanced.set()
            self._advanced = asyncio.Event()

    async def reached(self, seq: int, timeout: float) -> bool:
        """Wait up to `timeout` seconds until the read models hold the log up to `seq`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.seq < seq:
            left = deadline - loop.time()
            if left <= 0:
                return False
            advanced = self._advanced
            try:
                async with asyncio.timeout(min(left, self._recheck_s)):
                    await advanced.wait()
            except TimeoutError:
                await self.refresh()  # an announcement may have been lost
        return True

    async def require(self, seq: int, timeout: float) -> None:
        """Return once the read models hold `seq`; UnknownToken when the log has not reached it
        (no write gave that token), NotProjected when the wait ran out."""
        if self.seq >= seq:
            return
        last = await log_position(self._bus)
        if seq > last:
            raise UnknownToken(seq, last)
        if not await self.reached(seq, timeout):
            raise NotProjected(seq, self.seq)

    async def submitted(self, tenant: UUID, workflow_id: UUID, timeout: float) -> bool:
        """After a miss in the read models: True once they hold the workflow's submission,
        False when the log has none (a real 404); NotProjected when the wait ran out."""
        subject = event_subject(self._bus.names.ns, tenant, workflow_id, "WorkflowSubmitted")
        seq = await self._bus.last_sequence_of(subject)
        if seq is None:
            return False
        if not await self.reached(seq, timeout):
            raise NotProjected(seq, self.seq)
        return True
